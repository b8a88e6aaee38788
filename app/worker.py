"""Background work: loading TensorFlow after the window shows, and one training run.

Both are task functions for :class:`app.tasks.TaskRunner`; neither touches widgets.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.lab_state import LabRun
from app.tasks import TaskFailed, TaskState
from spectral_core.record import RunRecord, RunRecorder


@contextmanager
def collection_deferred() -> Iterator[None]:
    """Python's automatic garbage collection off while a run trains, then one young collection.

    A full collection holds the GIL for its whole pass (43–112 ms measured mid-run, longer as
    runs accumulate), freezing the GUI thread. A run's cyclic garbage is bounded (≈9,000 objects
    from tracing, the same for 1 or 4 epochs), and with automatic collection off everything the
    run allocated is still in generation 0, so ``gc.collect(0)`` finds it without rescanning the
    session's older objects.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


def load_tensorflow(_state: TaskState | None = None) -> tuple[list[Any], str]:
    """Import TensorFlow and the training modules; return the devices it sees and its version.

    A task function (see :mod:`app.tasks`): the window starts it once it shows.
    """
    try:
        import spectral_core.runs  # noqa: F401  (imports TensorFlow and Keras)
        from spectral_core.devices import list_devices, tensorflow_version

        return list_devices(), tensorflow_version()
    except Exception as error:  # an unusable TensorFlow install must not take the window down
        raise TaskFailed(f"TensorFlow could not be loaded: {type(error).__name__}: {error}") from None


class _DatasetCache:
    """Data sets stay loaded between runs; a file is reloaded when it changes on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[tuple[float, int] | None, Any]] = {}

    @staticmethod
    def _stamp(source: str) -> tuple[float, int] | None:
        path = Path(source)
        if not path.exists():
            return None
        stat = path.stat()
        return (stat.st_mtime, stat.st_size)

    def load(self, source: str) -> Any:
        from spectral_core.data import load_dataset

        stamp = self._stamp(source)
        with self._lock:
            cached = self._items.get(source)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        dataset = load_dataset(source)
        with self._lock:
            self._items[source] = (stamp, dataset)
        return dataset


DATASETS = _DatasetCache()


@dataclass(frozen=True)
class Continuation:
    """Where a continued run starts: the earlier run's name, trained model, regime and last
    epoch (the new run's epochs are numbered on from it)."""

    name: str
    model: Any
    regime: str
    epochs_completed: int


class _OptionalObserver:
    """An optional observer (TensorBoard logs) whose failure must not end the run: the first
    error is reported once through ``warn`` and the observer is dropped for the rest."""

    def __init__(self, observer: Any, warn: Callable[[str], None]) -> None:
        self.observer = observer
        self.warn = warn
        self.failed = False

    def __call__(self, snapshot: Any) -> None:
        if self.failed:
            return
        try:
            self.observer(snapshot)
        except Exception as error:  # a full disk or a removed folder: the training goes on
            self.failed = True
            self.warn(
                f"TensorBoard logs stopped ({type(error).__name__}: {error}); the run goes on"
            )

    def close(self) -> None:
        with suppress(Exception):  # a failure was already reported
            self.observer.close()


class TrainingJob:
    """One training run as a task function (``TaskRunner.start(job)``), returning a LabRun.

    With a :class:`Continuation` the run starts from the earlier run's weights (the library's
    :func:`spectral_core.continuation.continue_model_with_config`) and numbers its epochs on.

    It never touches widgets: its :class:`RunRecorder` keeps the latest snapshot and the live
    buffers (numpy copies made by the library) behind a lock for the GUI's redraw timer, and the
    epoch snapshots, the data set's name and the engine's end message go to the GUI thread as
    partial results ``(kind, value)`` with kind "dataset", "epoch", "end" or "warning".
    With ``tensorboard_dir`` the run also logs to TensorBoard through the library's
    :class:`~spectral_core.tensorboard.TensorBoardObserver`, as ``train --tensorboard`` does.
    """

    def __init__(
        self,
        plan: RunRecord,
        device: str | None = None,
        tensorboard_dir: str | None = None,
        continuation: Continuation | None = None,
    ) -> None:
        from spectral_core.training import TrainingControl

        self.plan = plan  # the run's record before training: name, settings, data set
        self.device = device
        # Where the run also logs for TensorBoard (spectral_core.tensorboard), or None.
        self.tensorboard_dir = tensorboard_dir
        self.continuation = continuation
        self.control = TrainingControl()
        self.recorder = RunRecorder(continuation.epochs_completed if continuation else 0)
        self._lock = threading.Lock()
        self._state: TaskState | None = None
        # Crash-recovery checkpoint (app.autosave): the finished epochs' rows and the weights
        # of the last one, copied on the training thread before the epoch is announced.
        self._model: Any = None
        self._checkpoint_rows: list[dict[str, float]] = []
        self._checkpoint_weights: list[np.ndarray] | None = None

    # -- read from the GUI thread ----------------------------------------------------
    def latest(self) -> tuple[int, Any]:
        """(version, latest snapshot); the version grows with every snapshot."""
        return self.recorder.latest()

    def batch_points(self) -> np.ndarray:
        """(n, 3) array of (epoch position, loss, accuracy) of the batch snapshots so far."""
        return self.recorder.batch_points()

    def checkpoint(self) -> tuple[list[dict[str, float]], list[np.ndarray] | None]:
        """(finished epochs' metric rows, weights at the end of the last one) of this run."""
        with self._lock:
            return [dict(row) for row in self._checkpoint_rows], self._checkpoint_weights

    def checkpoint_record(self) -> RunRecord | None:
        """The run so far as a record (for autosave), or None before its first epoch ends."""
        rows, weights = self.checkpoint()
        if weights is None:
            return None
        record = replace(
            self.plan,
            history=rows,
            weights=weights,
            ended=(
                f"interrupted after epoch {len(rows)} of {self.plan.config.epochs}: "
                "restored with the weights of that epoch"
            ),
        )
        return self.recorder.fill(record)

    # -- the training thread --------------------------------------------------------
    def _observe(self, snapshot: Any) -> None:
        self.recorder(snapshot)
        if snapshot.kind == "epoch" and snapshot.metrics and self._model is not None:
            weights = [np.array(w) for w in self._model.get_weights()]
            with self._lock:
                self._checkpoint_rows.append(self.recorder.numbered(snapshot.metrics))
                self._checkpoint_weights = weights
        if self._state is not None and snapshot.kind in ("epoch", "end"):
            value = snapshot.message if snapshot.kind == "end" else snapshot
            self._state.partial((snapshot.kind, value))

    def _continued_model(self) -> Any:
        """The compiled model that starts where the earlier run ended (None: a fresh run)."""
        continuation, plan = self.continuation, self.plan
        if continuation is None:
            return None
        from spectral_core.continuation import continue_model_with_config

        try:
            return continue_model_with_config(
                continuation.model, plan.architecture, continuation.regime, plan.regime, plan.config
            )
        except ValueError as error:  # the message names the field (to_regime, model)
            raise TaskFailed(f"{plan.name} cannot continue {continuation.name}: {error}") from None

    def _tensorboard_observer(self) -> _OptionalObserver | None:
        if self.tensorboard_dir is None:
            return None
        from spectral_core.tensorboard import TensorBoardObserver, run_hparams

        plan = self.plan
        hparams = {
            **run_hparams(plan.architecture, plan.regime, plan.config),
            "run": plan.name,
            "dataset": plan.dataset,
        }
        return _OptionalObserver(
            TensorBoardObserver(self.tensorboard_dir, hparams),
            lambda text: self._state.partial(("warning", text)) if self._state else None,
        )

    def __call__(self, state: TaskState | None = None) -> LabRun:
        """Load the data, train, retract and compare; raises :class:`TaskFailed` with a message
        for the banner."""
        import keras

        from spectral_core.architecture import ArchitectureError
        from spectral_core.config import ConfigError
        from spectral_core.data import DataError
        from spectral_core.devices import DeviceError, training_device
        from spectral_core.files import WriteError
        from spectral_core.regimes import RegimeError
        from spectral_core.runs import run_training

        job = self
        self._state = state

        class KeepModel(keras.callbacks.Callback):
            """Hands the job the model being trained, for the epoch-end checkpoint."""

            def set_model(self, model: Any) -> None:
                super().set_model(model)
                job._model = model

        plan, continuation = self.plan, self.continuation
        observers: list[Any] = [self._observe]
        tensorboard = self._tensorboard_observer()
        if tensorboard is not None:
            observers.append(tensorboard)
        try:
            dataset = DATASETS.load(plan.dataset)
            if state is not None:
                state.partial(("dataset", dataset.name))
            with training_device(self.device), collection_deferred():
                model, origin = self._continued_model(), None
                if continuation is not None:
                    origin = {
                        "run": continuation.name,
                        "regime": continuation.regime,
                        "epochs_completed": continuation.epochs_completed,
                    }
                outcome = run_training(
                    plan.architecture,
                    plan.regime,
                    dataset,
                    plan.config,
                    observers=observers,
                    control=self.control,
                    callbacks=[KeepModel()],
                    model=model,
                    continued_from=origin,
                    analysis=False,  # self.recorder observes the run (the live plots read it)
                )
        except (ArchitectureError, ConfigError, DataError, DeviceError, RegimeError, WriteError) as error:
            raise TaskFailed(str(error)) from None
        except TaskFailed:
            raise
        except Exception as error:  # every failure is reported, or the GUI waits forever
            raise TaskFailed(f"training failed: {type(error).__name__}: {error}") from None
        finally:
            if tensorboard is not None:
                tensorboard.close()
        record = outcome.to_record(plan.name, plan.dataset, self.recorder)
        record.continued_from = plan.continued_from
        return LabRun(record, model=outcome.model, compact=outcome.compact, dataset=dataset)
