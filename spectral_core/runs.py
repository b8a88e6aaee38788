"""One complete run: build, train, retract, compare and write the run folder.

The CLI, the experiments and the GUI all go through :func:`run_training`, which produces the one
run record (:class:`spectral_core.record.RunRecord`) that sessions store, the app draws and
sweeps log. A run folder holds that record as ``run.spectral`` (a session file of this one run,
written and read by :mod:`spectral_core.session`, weights included), the two models as
``full.keras`` and ``compact.keras`` (loadable without this project), and, derived from the
record for reading, ``metrics.csv`` and ``summary.json``. :func:`read_run_record` reads the
record back (``train --from RUN_DIR``, ``prune-curve RUN_DIR``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from spectral_core.architecture import Architecture
from spectral_core.build import build_model
from spectral_core.data import Dataset
from spectral_core.errors import SpectralLabError
from spectral_core.export import save_model
from spectral_core.files import atomic_write_text
from spectral_core.record import RetractionReport, RunRecord, RunRecorder, record_results
from spectral_core.regimes import PAPER_NAMES, check_regime
from spectral_core.retraction import retract
from spectral_core.training import (
    EPOCH_COLUMNS,
    Observer,
    TrainingConfig,
    TrainingControl,
    predict,
    train,
)


def telescopic_flags(architecture: Architecture) -> list[bool]:
    """Per layer of ``architecture``, whether it folds into the next one."""
    return [layer.telescopic for layer in architecture.layers]


def library_versions() -> dict[str, str]:
    """Versions of Python, numpy, TensorFlow and Keras (recorded in each run's summary)."""
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def compare_retraction(
    model: keras.Model, compact: keras.Model, x: np.ndarray, y: np.ndarray
) -> RetractionReport:
    """Compare the full ``model`` with its ``compact`` retraction on (``x``, ``y``):
    parameter and layer counts, accuracy of each, and the largest output difference."""
    full_out = predict(model, x)
    compact_out = predict(compact, x)
    return RetractionReport(
        trainable_before=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        total_before=int(model.count_params()),
        total_after=int(compact.count_params()),
        accuracy_before=float(np.mean(np.argmax(full_out, 1) == y)),
        accuracy_after=float(np.mean(np.argmax(compact_out, 1) == y)),
        max_abs_difference=float(np.max(np.abs(full_out - compact_out))) if len(y) else 0.0,
        layers_before=len(model.layers) - 1,
        layers_after=len(compact.layers) - 1,
    )


@dataclass
class RunOutcome:
    """A finished run: its :class:`RunRecord` and the two Keras models it made.

    The record is the run — what sessions store, the run folder stores (``run.spectral``) and
    sweeps log rows from. The models only live in memory (a run folder saves them as
    ``full.keras`` and ``compact.keras``); the record's ``weights`` stay None here.
    """

    record: RunRecord
    model: keras.Model
    compact: keras.Model

    def to_record(
        self, name: str, dataset_source: str, recorder: RunRecorder | None = None
    ) -> RunRecord:
        """The record renamed ``name``, with its data set's source (what the app reloads), and
        the analysis of ``recorder`` when one observed the run (numbered as the caller asked)."""
        record = replace(self.record, name=name, dataset=dataset_source)
        return recorder.fill(record) if recorder is not None else record


def _origin_name(origin: dict[str, Any] | None) -> str:
    """The run a continued run came from: its name in a session ("run"), else its folder."""
    origin = origin or {}
    return str(origin.get("run") or origin.get("folder") or "")


def metrics_csv(history: Iterable[dict[str, float]]) -> str:
    """The per-epoch metrics rows as CSV text (``EPOCH_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EPOCH_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: (int(row[key]) if key == "epoch" else row.get(key)) for key in EPOCH_COLUMNS})
    return buffer.getvalue()


def run_training(
    architecture: Architecture,
    regime: str,
    dataset: Dataset,
    config: TrainingConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    observers: Iterable[Observer] = (),
    control: TrainingControl | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    *,
    model: keras.Model | None = None,
    continued_from: dict[str, Any] | None = None,
    name: str = "",
    dataset_source: str | None = None,
    analysis: bool = True,
) -> RunOutcome:
    """Build, train, retract and (when ``out`` is given) write the run folder.

    The outcome's record holds everything the plots draw (a :class:`RunRecorder` observes the
    run; ``analysis`` False leaves the plot data out, for callers that keep only the results,
    such as sweeps, or that observe the run with their own recorder, such as the app: it is a
    histogram pass and a retraction per epoch). ``name`` names the record (default: the run
    folder's name); ``dataset_source`` is where its data set is loaded from (default: the data
    set's name).
    ``model`` (compiled, built for ``regime``) replaces the freshly built one, e.g. a model that
    continues an earlier run (:mod:`spectral_core.continuation`); ``continued_from`` then says
    which run (``run``: its name in a session, or ``folder``: its run folder;
    ``epochs_completed``: its last epoch), and the epochs are numbered on from its last one.
    """
    config = (config or TrainingConfig()).validate()
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = build_model(
            architecture,
            regime,
            seed=config.seed,
            optimizer=config.optimizer,
            learning_rate=config.learning_rate,
            jit_compile=config.jit_compile is True,
            eigenvalue_regularization=config.regularizer(),
            initialization=config.initialization,
        )
    offset = int((continued_from or {}).get("epochs_completed", 0))
    recorder = RunRecorder(offset) if analysis else None
    flags = telescopic_flags(architecture)
    result = train(
        model, dataset, config, [*([recorder] if recorder else []), *observers], control,
        telescopic=flags, callbacks=callbacks,
    )
    for row in result.history:
        row["epoch"] += offset
    compact = retract(model, flags)
    record = RunRecord(
        name=name or (folder.name if folder is not None else ""),
        architecture=architecture,
        regime=regime,
        config=config,
        dataset=dataset_source if dataset_source is not None else dataset.name,
        history=result.history,
        test_accuracy=result.test_accuracy,
        test_loss=result.test_loss,
        ended=result.message,
        stopped=result.stopped,
        diverged=result.diverged,
        report=compare_retraction(model, compact, dataset.x_test, dataset.y_test),
        continued_from=_origin_name(continued_from),
        seconds=result.seconds,
    )
    outcome = RunOutcome(recorder.fill(record) if recorder else record, model, compact)
    if folder is not None:
        write_run_folder(outcome, folder, dataset.name)
    return outcome


# -- the run folder ---------------------------------------------------------------------------
RUN_RECORD_FILE = "run.spectral"  # the record, as a session file holding this one run
SUMMARY_FILE = "summary.json"


def run_summary(record: RunRecord, dataset_name: str, versions: dict[str, str]) -> dict[str, Any]:
    """``summary.json``: the record's settings and results for reading (derived, not read back).

    ``dataset_name`` is the data set's name as trained (with ``[:N]`` when ``--limit`` cut it).
    """
    report = record.report
    return {
        "name": record.name,
        "regime": record.regime,
        "regime_paper_name": PAPER_NAMES[record.regime],
        "architecture": record.architecture.to_dict(),
        **record_results(record),
        "max_abs_output_difference": report.max_abs_difference if report else math.nan,
        "stopped": record.stopped,
        "seconds": record.seconds,
        "seed": record.config.seed,
        "dataset": dataset_name,
        "config": record.config.to_dict(),
        "versions": versions,
        "continued_from": record.continued_from,
    }


def write_run_folder(outcome: RunOutcome, folder: Path, dataset_name: str = "") -> None:
    """Write ``run.spectral`` (the record with its weights), ``full.keras``, ``compact.keras``,
    and, derived from the record for reading, ``metrics.csv`` and ``summary.json``."""
    from spectral_core.session import Session, save_session

    record = replace(outcome.record, weights=[np.array(w) for w in outcome.model.get_weights()])
    save_model(outcome.model, folder / "full.keras")
    save_model(outcome.compact, folder / "compact.keras")
    save_session(
        folder / RUN_RECORD_FILE,
        Session(record.architecture, record.regime, record.config, record.dataset, [record]),
    )
    atomic_write_text(folder / "metrics.csv", metrics_csv(record.history))
    summary = run_summary(record, dataset_name or record.dataset, library_versions())
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


class RunFolderError(SpectralLabError):
    """A folder is not a readable run folder; the message names the file and the field."""


def read_run_record(folder: str | os.PathLike[str]) -> RunRecord:
    """The record of a run folder: its ``run.spectral`` (weights included), or, in a folder
    written before run folders kept one, a record rebuilt from ``summary.json`` and
    ``metrics.csv`` (no weights, no analysis, no retraction report: those files had none)."""
    from spectral_core.session import SessionError, load_session

    path = Path(folder)
    if (path / RUN_RECORD_FILE).is_file():
        try:
            session = load_session(path / RUN_RECORD_FILE)
        except SessionError as error:
            raise RunFolderError(str(error)) from None
        if len(session.runs) != 1:
            raise RunFolderError(
                f"{path / RUN_RECORD_FILE}: runs: a run folder's record holds one run, "
                f"got {len(session.runs)}"
            )
        return session.runs[0]
    if (path / SUMMARY_FILE).is_file():
        return _record_from_summary(path)
    raise RunFolderError(
        f"{path} is not a run folder (no {RUN_RECORD_FILE} or {SUMMARY_FILE}); give a folder "
        "that `spectral-lab train --out` wrote"
    )


def _record_from_summary(folder: Path) -> RunRecord:
    """The record of a run folder written before ``run.spectral`` existed."""
    summary_path = folder / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{summary_path}: unreadable ({error})") from None
    if not isinstance(summary, dict):
        raise RunFolderError(f"{summary_path}: must hold a JSON object")
    for key in ("regime", "architecture", "epochs_completed"):
        if key not in summary:
            raise RunFolderError(f"{summary_path}: {key}: missing")
    origin = summary.get("continued_from")
    try:
        architecture = Architecture.from_dict(summary["architecture"])
        config = TrainingConfig.from_dict(summary.get("config") or {"seed": summary.get("seed", 0)})
        regime = check_regime(summary["regime"])
    except SpectralLabError as error:
        raise RunFolderError(f"{summary_path}: {error}") from None
    return RunRecord(
        name=folder.name,
        architecture=architecture,
        regime=regime,
        config=config,
        dataset=str(summary.get("dataset", "")),
        history=_read_metrics_csv(folder / "metrics.csv"),
        test_accuracy=_number(summary.get("test_accuracy")),
        test_loss=_number(summary.get("test_loss")),
        ended=str(summary.get("ended", "")),
        stopped=bool(summary.get("stopped", False)),
        diverged=bool(summary.get("diverged", False)),
        continued_from=_origin_name(origin) if isinstance(origin, dict) else str(origin or ""),
        seconds=_number(summary.get("seconds")),
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _read_metrics_csv(path: Path) -> list[dict[str, float]]:
    """The per-epoch rows of ``metrics.csv`` (empty when the file is missing)."""
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return [
                {key: _number_or_nan(value) for key, value in row.items() if key}
                for row in csv.DictReader(handle)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RunFolderError(f"{path}: unreadable ({error})") from None


def _number_or_nan(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan
