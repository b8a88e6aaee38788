"""One complete run: build, train, retract, compare and write the run folder.

A run folder holds ``metrics.csv``, ``full.keras``, ``compact.keras`` and ``summary.json``.
The CLI, the experiments and the GUI all go through :func:`run_training`;
:meth:`RunOutcome.to_record` turns its outcome into the one run record
(:class:`spectral_core.record.RunRecord`) that sessions store and the app draws.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from spectral_core.architecture import Architecture
from spectral_core.build import build_model
from spectral_core.data import Dataset
from spectral_core.export import save_model
from spectral_core.files import atomic_write_text
from spectral_core.record import RetractionReport, RunRecord, RunRecorder
from spectral_core.regimes import PAPER_NAMES, parameter_counts
from spectral_core.retraction import retract
from spectral_core.training import (
    EPOCH_COLUMNS,
    Observer,
    TrainingConfig,
    TrainingControl,
    TrainingResult,
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
    """Everything one run produced: settings, training result, both models and the summary."""

    architecture: Architecture
    regime: str
    config: TrainingConfig
    dataset_name: str
    result: TrainingResult
    model: keras.Model
    compact: keras.Model
    retraction: RetractionReport
    summary: dict[str, Any] = field(default_factory=dict)

    def to_record(
        self, name: str, dataset_source: str, recorder: RunRecorder | None = None
    ) -> RunRecord:
        """This run as a :class:`RunRecord` (the analysis from ``recorder``, when it observed
        the run); the weights stay in :attr:`model`."""
        record = RunRecord(
            name=name,
            architecture=self.architecture,
            regime=self.regime,
            config=self.config,
            dataset=dataset_source,
            history=[dict(row) for row in self.result.history],
            test_accuracy=self.result.test_accuracy,
            test_loss=self.result.test_loss,
            ended=self.result.message,
            stopped=self.result.stopped,
            diverged=self.result.diverged,
            report=self.retraction,
            seconds=self.result.seconds,
            continued_from=_origin_name(self.summary.get("continued_from")),
        )
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
) -> RunOutcome:
    """Build, train, retract and (when ``out`` is given) write the run folder.

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
    flags = telescopic_flags(architecture)
    result = train(
        model, dataset, config, observers, control, telescopic=flags, callbacks=callbacks
    )
    if continued_from:
        offset = int(continued_from.get("epochs_completed", 0))
        for row in result.history:
            row["epoch"] += offset
    compact = retract(model, flags)
    report = compare_retraction(model, compact, dataset.x_test, dataset.y_test)
    counts = parameter_counts(architecture, regime)
    compact_accuracy = report.accuracy_after  # the compact model's test accuracy, computed once
    summary = {
        "regime": regime,
        "regime_paper_name": PAPER_NAMES[regime],
        "architecture": architecture.to_dict(),
        "trainable_parameters": counts.trainable,
        "total_parameters": counts.total,
        "compact_parameters": report.total_after,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "test_accuracy_compact": compact_accuracy,
        "max_abs_output_difference": report.max_abs_difference,
        "epochs_completed": result.epochs_completed,
        "ended": result.message,
        "diverged": result.diverged,
        "stopped": result.stopped,
        "seconds": result.seconds,
        "seed": config.seed,
        "dataset": dataset.name,
        "config": config.to_dict(),
        "versions": library_versions(),
        "continued_from": continued_from,
    }
    outcome = RunOutcome(
        architecture, regime, config, dataset.name, result, model, compact, report, summary
    )
    if folder is not None:
        write_run_folder(outcome, folder)
    return outcome


def write_run_folder(outcome: RunOutcome, folder: Path) -> None:
    """Write metrics.csv, full.keras, compact.keras and summary.json into ``folder``."""
    atomic_write_text(folder / "metrics.csv", metrics_csv(outcome.result.history))
    save_model(outcome.model, folder / "full.keras")
    save_model(outcome.compact, folder / "compact.keras")
    atomic_write_text(folder / "summary.json", json.dumps(outcome.summary, indent=2) + "\n")
