"""The run record: everything one run is, in one value the engine, sessions and the app share.

A :class:`RunRecord` holds what was trained (architecture, regime, settings, data set), how it
went (per-epoch metric rows, per-batch points, test metrics, how it ended, wall time) and
everything the plots draw (eigenvalues per epoch and layer, the effective-weight histograms,
their history over epochs and the compact model's), the retraction state and report, and
which run it continued from. Session files store it whole (:mod:`spectral_core.session`), so
a reopened session shows what was closed.

:class:`RunRecorder` is the training observer that fills a record's analysis from the engine's
snapshots; it is thread-safe, so a GUI reads its live buffers while the run trains.

This module imports neither Keras nor Qt: sessions load before TensorFlow does.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig

# layer name -> {"eigvals_in": array, "eigvals_out": array}
EigenvalueMap = dict[str, dict[str, np.ndarray]]
# (counts, edges): counts has one entry fewer than edges (or rows × bins for a history)
Histogram = tuple[np.ndarray, np.ndarray]
BATCH_POINT_COLUMNS = ("position", "loss", "accuracy")  # position = epoch + batch fraction
COMPACT_SUFFIX = " (retracted model)"


def compact_label(name: str) -> str:
    """How a compact model's layer is named beside the trained model's layers."""
    return f"{name}{COMPACT_SUFFIX}"


@dataclass
class RetractionReport:
    """How the compact model compares with the full one on the test set."""

    trainable_before: int
    total_before: int
    total_after: int
    accuracy_before: float
    accuracy_after: float
    max_abs_difference: float
    layers_before: int
    layers_after: int


def _empty_points() -> np.ndarray:
    return np.zeros((0, len(BATCH_POINT_COLUMNS)))


@dataclass(eq=False)  # holds arrays: compared field by field where needed, not with ==
class RunRecord:
    """One run: settings, metrics, the plots' data, retraction and (optionally) weights."""

    name: str
    architecture: Architecture
    regime: str
    config: TrainingConfig
    dataset: str  # the data set's source: "mnist", "fashion-mnist", an .npz file or IDX folder
    history: list[dict[str, float]] = field(default_factory=list)  # one row per finished epoch
    test_accuracy: float = math.nan
    test_loss: float = math.nan
    weights: list[np.ndarray] | None = None  # model.get_weights() order; None if not kept
    retracted: bool = False  # the compact model is the active one
    ended: str = ""  # how the run ended, in words
    stopped: bool = False  # the user stopped it before its last epoch
    diverged: bool = False  # the loss became non-finite; the last finite weights were kept
    # -- what the plots draw --------------------------------------------------------------
    batch_points: np.ndarray = field(default_factory=_empty_points)  # (n, 3) BATCH_POINT_COLUMNS
    eigen_history: list[tuple[str, EigenvalueMap]] = field(default_factory=list)  # per epoch
    histograms: dict[str, Histogram] = field(default_factory=dict)  # final, per layer
    histogram_history: dict[str, Histogram] = field(default_factory=dict)  # epochs × bins
    compact_histograms: dict[str, Histogram] = field(default_factory=dict)  # epochs × bins
    report: RetractionReport | None = None  # the retraction's comparison on the test set
    continued_from: str = ""  # the name of the run this one continued, if any
    seconds: float = math.nan  # wall time of the training loop

    @property
    def last_epoch(self) -> int:
        """The number of the run's last finished epoch (numbered on from the run it continued;
        0 before its first)."""
        return int(self.history[-1].get("epoch", len(self.history))) if self.history else 0

    @property
    def eigenvalues(self) -> EigenvalueMap:
        """The eigenvalues at the end of the run (empty for direct regimes)."""
        return self.eigen_history[-1][1] if self.eigen_history else {}

    def final_histograms(self) -> dict[str, Histogram]:
        """Final histograms of every layer, and of the compact model's layers (labelled)."""
        found = dict(self.histograms)
        for name, (matrix, edges) in self.compact_histograms.items():
            if len(matrix):
                found[compact_label(name)] = (matrix[-1], edges)
        return found


class RunRecorder:
    """A training observer that keeps what the plots draw; read it from any thread.

    Pass it in ``observers`` of :func:`spectral_core.runs.run_training` (or
    :func:`spectral_core.training.train`); :meth:`fill` then copies its analysis into a record.
    ``epoch_offset`` numbers the epochs on from an earlier run's (a continued run): batch
    positions, epoch rows and eigenvalue labels then join that run's.
    """

    def __init__(self, epoch_offset: int = 0) -> None:
        if isinstance(epoch_offset, bool) or not isinstance(epoch_offset, int) or epoch_offset < 0:
            raise ValueError(f"epoch_offset: must be a whole number ≥ 0, got {epoch_offset!r}")
        self.epoch_offset = epoch_offset
        self._lock = threading.Lock()
        self._latest: Any = None
        self._version = 0
        self._points: list[tuple[float, float, float]] = []
        self._rows: list[dict[str, float]] = []
        self._eigen: list[tuple[str, EigenvalueMap]] = []
        self._last_epoch: Any = None

    def __call__(self, snapshot: Any) -> None:
        """The observer: called on the training thread with each snapshot (copies)."""
        with self._lock:
            self._latest = snapshot
            self._version += 1
            epoch = snapshot.epoch + self.epoch_offset
            if snapshot.kind == "batch":
                position = epoch + snapshot.batch / max(1, snapshot.batches_per_epoch)
                self._points.append(
                    (
                        position,
                        snapshot.metrics.get("loss", math.nan),
                        snapshot.metrics.get("accuracy", math.nan),
                    )
                )
            elif snapshot.kind == "epoch":
                if snapshot.metrics:
                    label = f"after epoch {epoch + 1}"
                elif self.epoch_offset:
                    label = f"start (after epoch {self.epoch_offset})"
                else:
                    label = "initial"
                self._eigen.append((label, snapshot.eigenvalues))
                if snapshot.metrics:
                    self._rows.append(self.numbered(snapshot.metrics))
                self._last_epoch = snapshot

    def numbered(self, metrics: dict[str, float]) -> dict[str, float]:
        """A copy of an epoch's metric row with its epoch numbered on by ``epoch_offset``."""
        row = dict(metrics)
        if "epoch" in row:
            row["epoch"] = row["epoch"] + self.epoch_offset
        return row

    def latest(self) -> tuple[int, Any]:
        """(version, latest snapshot); the version grows with every snapshot."""
        with self._lock:
            return self._version, self._latest

    def batch_points(self) -> np.ndarray:
        """(n, 3) array of (epoch position, loss, accuracy) of the batch snapshots so far."""
        with self._lock:
            if not self._points:
                return _empty_points()
            return np.array(self._points, dtype=np.float64)

    def history(self) -> list[dict[str, float]]:
        """The finished epochs' metric rows so far."""
        with self._lock:
            return [dict(row) for row in self._rows]

    def eigen_history(self) -> list[tuple[str, EigenvalueMap]]:
        """(label, eigenvalues of every spectral layer) at the start and after each epoch."""
        with self._lock:
            return list(self._eigen)

    def fill(self, record: RunRecord) -> RunRecord:
        """Copy the analysis gathered so far into ``record`` (returned for chaining)."""
        with self._lock:
            last = self._last_epoch
            record.eigen_history = list(self._eigen)
        record.batch_points = self.batch_points()
        if last is not None:
            record.histograms = dict(last.histograms)
            record.histogram_history = dict(last.histogram_history)
            record.compact_histograms = dict(last.compact_histograms)
        return record


def record_results(record: RunRecord) -> dict[str, Any]:
    """What a run achieved, as flat JSON values: the columns a run folder's ``summary.json``
    and a sweep's ``runs.jsonl`` share (NaN where the run has no value; the compact model's
    numbers come from the retraction report)."""
    from spectral_core.regimes import parameter_counts

    counts = parameter_counts(record.architecture, record.regime)
    report = record.report
    final = record.history[-1] if record.history else {}
    return {
        "trainable_parameters": counts.trainable,
        "total_parameters": counts.total,
        "compact_parameters": report.total_after if report else None,
        "test_accuracy": record.test_accuracy,
        "test_accuracy_compact": report.accuracy_after if report else math.nan,
        "test_loss": record.test_loss,
        "train_accuracy": final.get("accuracy", math.nan),
        "epochs_completed": len(record.history),
        "diverged": record.diverged,
        "ended": record.ended,
    }
