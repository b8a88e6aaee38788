"""The lab state: everything the app knows, in pure Python (no Qt), observable by callbacks.

One :class:`LabState` holds the architecture, the training settings, the runs of the session
(each a :class:`LabRun`: the run record of :mod:`spectral_core.record` plus in-memory caches),
the current run and the selection, and the training status. The window and its panels are views
of it: they subscribe with :meth:`LabState.subscribe` and change it through its methods, so
everything is testable without a QApplication (napari's evented ``LayerList`` is the model).
:meth:`LabState.to_session` and :meth:`LabState.from_session` are its only bridge to files.

Events (the callback receives the event name and a value):

``architecture`` (Architecture), ``settings`` (None), ``runs`` (None: the list was replaced
or cleared), ``run_added`` (LabRun), ``run_changed`` (LabRun: retracted, model rebuilt, test
metrics), ``current`` (LabRun or None), ``selection`` (list of LabRun), ``status`` (str),
``epoch`` (None: a training epoch ended, its checkpoint is available), ``pruning``
(PruningTarget or None: the network the pruning tab works on).

Undoable changes go through the commands of :mod:`app.commands` and its one command stack.

A run continued from another names it in its record's ``continued_from``; :meth:`lineage`
follows those names back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig
from spectral_core.record import EigenvalueMap, Histogram, RetractionReport, RunRecord
from spectral_core.regimes import REGIMES
from spectral_core.session import Session

LOG = logging.getLogger("spectral_lab.state")
STATUSES = ("idle", "training", "paused", "stopping")
Listener = Callable[[str, Any], None]


@dataclass(eq=False)  # runs are compared by identity (they hold models and arrays)
class LabRun:
    """One run of the session: its record, and what only lives in memory (the models, the
    loaded data set). Everything a session file keeps is in :attr:`record`."""

    record: RunRecord
    model: Any = None  # the trained keras model (None until rebuilt from record.weights)
    compact: Any = None  # its retracted compact model
    dataset: Any = None  # the loaded spectral_core.data.Dataset, kept for comparisons

    # -- the record's fields, read through ------------------------------------------------
    @property
    def name(self) -> str:
        return self.record.name

    @property
    def architecture(self) -> Architecture:
        return self.record.architecture

    @property
    def regime(self) -> str:
        return self.record.regime

    @property
    def config(self) -> TrainingConfig:
        return self.record.config

    @property
    def dataset_source(self) -> str:
        return self.record.dataset

    @property
    def history(self) -> list[dict[str, float]]:
        return self.record.history

    @property
    def test_accuracy(self) -> float:
        return self.record.test_accuracy

    @property
    def test_loss(self) -> float:
        return self.record.test_loss

    @property
    def ended(self) -> str:
        return self.record.ended

    @property
    def retracted(self) -> bool:
        return self.record.retracted

    @property
    def report(self) -> RetractionReport | None:
        return self.record.report

    @property
    def batch_points(self) -> np.ndarray:
        return self.record.batch_points

    @property
    def eigen_history(self) -> list[tuple[str, EigenvalueMap]]:
        return self.record.eigen_history

    @property
    def has_telescopic(self) -> bool:
        return self.record.architecture.has_telescopic()

    @property
    def active_model(self) -> Any:
        """The compact model once retracted, else the trained one."""
        return self.compact if self.retracted else self.model

    def analysis_target(self) -> dict[str, Any]:
        """What the analysis tabs (pruning) work on: the active model, the data set, and the
        architecture and regime it has (the compact model's once retracted)."""
        retracted = self.retracted
        return {
            "model": self.active_model,
            "dataset": self.dataset,
            "architecture": self.architecture.retracted() if retracted else self.architecture,
            "regime": "direct-full" if retracted else self.regime,
        }

    def histograms(self) -> dict[str, Histogram]:
        """Final effective-weight histograms of every layer, and of the compact model's."""
        return self.record.final_histograms()

    def weights(self) -> list[np.ndarray] | None:
        """Copies of the trained weights (from the model when there is one), for session files."""
        if self.model is not None:
            return [np.array(weight) for weight in self.model.get_weights()]
        return self.record.weights

    def to_record(self, with_weights: bool = True) -> RunRecord:
        """The record a session file stores (weights read from the model when asked)."""
        return replace(self.record, weights=self.weights() if with_weights else None)


@dataclass(frozen=True, eq=False)  # compared by identity: undo swaps one for another
class PruningTarget:
    """The network the pruning tab works on: a run's active model, or a pruned version of it."""

    model: Any
    architecture: Architecture
    dataset: Any  # the loaded data set whose test set measures it, or None
    label: str = "original"


class LabState:
    """The app's one state; see the module docstring for its events."""

    def __init__(
        self,
        architecture: Architecture,
        regime: str = "lambda",
        config: TrainingConfig | None = None,
        dataset: str = "mnist",
    ) -> None:
        self._listeners: list[Listener] = []
        self.architecture = architecture
        self.regime = regime
        self.config = config if config is not None else TrainingConfig()
        self.dataset = dataset
        self.runs: list[LabRun] = []
        self.current: LabRun | None = None
        self.selection: list[LabRun] = []
        self.status = "idle"
        self.pruning: PruningTarget | None = None
        # Set by the training controller while a run trains: the run so far as a record
        # (finished epochs, their analysis and the last epoch's weights), or None.
        self.checkpoint: Callable[[], RunRecord | None] | None = None

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event, value)`` on every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: str, value: Any = None) -> None:
        """Tell every listener; one listener failing neither stops the others nor the change."""
        for listener in list(self._listeners):
            try:
                listener(event, value)
            except Exception:  # a broken view must not break the state (see app.view_guard)
                LOG.exception("a listener of %r failed", event)

    # -- architecture and settings ------------------------------------------------------------
    def set_architecture(self, architecture: Architecture) -> None:
        if architecture != self.architecture:
            self.architecture = architecture
            self.emit("architecture", architecture)

    def set_settings(self, regime: str, config: TrainingConfig | None, dataset: str) -> None:
        """The regime, training settings and data set (``config`` None keeps the last valid)."""
        if regime not in REGIMES:
            raise ValueError(f"regime: must be one of {', '.join(REGIMES)}, got {regime!r}")
        config = self.config if config is None else config
        if (regime, config, dataset) != (self.regime, self.config, self.dataset):
            self.regime, self.config, self.dataset = regime, config, dataset
            self.emit("settings")

    # -- runs ---------------------------------------------------------------------------------
    @property
    def is_training(self) -> bool:
        return self.status != "idle"

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
        if status != self.status:
            self.status = status
            self.emit("status", status)

    def next_run_name(self) -> str:
        taken = {run.name for run in self.runs}
        number = len(self.runs) + 1
        while f"run {number}" in taken:
            number += 1
        return f"run {number}"

    def run_named(self, name: str) -> LabRun | None:
        """The run of this session called ``name``, or None."""
        return next((run for run in self.runs if run.name == name), None)

    def lineage(self, record: RunRecord) -> list[LabRun]:
        """The runs ``record`` continued, oldest first (run 1, run 3 for run 5 ← run 3 ← run 1);
        it stops at a parent that is not in the session (or at a loop in a hostile file)."""
        ancestors: list[LabRun] = []
        name = record.continued_from
        while name and (parent := self.run_named(name)) is not None and parent not in ancestors:
            if parent.record is record:
                break
            ancestors.append(parent)
            name = parent.record.continued_from
        return ancestors[::-1]

    def add_run(self, run: LabRun, make_current: bool = True) -> None:
        self.runs.append(run)
        self.emit("run_added", run)
        if make_current:
            self.set_current(run)

    def run_changed(self, run: LabRun) -> None:
        """Announce that ``run`` changed in place (retracted, model rebuilt, report added)."""
        self.emit("run_changed", run)

    def set_retracted(self, run: LabRun, retracted: bool) -> None:
        """Make ``run``'s compact model the active one (or the trained one again)."""
        if retracted and run.compact is None:
            raise ValueError(f"{run.name}: retract it first (there is no compact model yet)")
        run.record.retracted = retracted
        if retracted and run.report is not None and not np.isfinite(run.record.test_accuracy):
            # A run recovered mid-training has no test metrics; retraction measured them.
            run.record.test_accuracy = run.report.accuracy_before
        self.run_changed(run)

    def set_current(self, run: LabRun | None) -> None:
        if run is not None and run not in self.runs:
            raise ValueError(f"current: {run.name!r} is not a run of this session")
        if run is not self.current:
            self.current = run
            self.emit("current", run)

    def set_selection(self, runs: list[LabRun]) -> None:
        runs = [run for run in runs if run in self.runs]
        if runs != self.selection:
            self.selection = runs
            self.emit("selection", list(runs))

    def set_pruning(self, target: PruningTarget | None) -> None:
        """The network the pruning tab works on (undoable through :class:`app.commands.Prune`)."""
        if target is not self.pruning:
            self.pruning = target
            self.emit("pruning", target)

    def epoch_finished(self) -> None:
        self.emit("epoch")

    # -- files ----------------------------------------------------------------------------------
    def to_session(self, with_weights: bool = True) -> Session:
        """The architecture, settings and runs as a session value.

        ``with_weights=False`` leaves each run's weights None (reading them from the models
        takes hundreds of ms for a few large runs; the autosave reads them off the GUI thread).
        """
        return Session(
            architecture=self.architecture,
            regime=self.regime,
            config=self.config,
            dataset=self.dataset,
            runs=[run.to_record(with_weights) for run in self.runs],
        )

    def from_session(self, session: Session) -> None:
        """Replace everything by ``session``'s; the runs' models are rebuilt by the caller from
        their records' weights once TensorFlow is loaded."""
        if self.is_training:
            raise ValueError("a run is going: stop it before opening a session")
        self.architecture = session.architecture
        self.regime, self.config, self.dataset = session.regime, session.config, session.dataset
        self.runs = [LabRun(record) for record in session.runs]
        self.selection = []
        self.current = self.runs[-1] if self.runs else None
        self.emit("architecture", self.architecture)
        self.emit("settings")
        self.emit("runs")
        self.emit("current", self.current)
