"""TensorBoard logs of a run: the spectrum per layer, effective-weight histograms and HParams.

:class:`TensorBoardObserver` is an observer (``spectral_core.train``, ``run_training``,
:class:`~spectral_core.callbacks.SnapshotCallback`): it writes, per epoch, the epoch's metrics,
quantiles of every spectral layer's λ_out (``spectrum/<layer>/lambda_out_q50`` …), histograms of
every layer's effective direct-space weights (and of the retracted compact model's layers), and
at the end the test scores with the run's hyperparameters for TensorBoard's HParams dashboard
(a sweep's runs side by side: regime, sizes, initialization, learning rate, seed → accuracy).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def hparam_value(value: Any) -> bool | int | float | str:
    """A value TensorBoard's HParams accept (bool, number or string)."""
    if isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if value is None:
        return "default"
    return str(value)


def run_hparams(architecture: Any, regime: str, config: Any) -> dict[str, bool | int | float | str]:
    """The hyperparameters of one run, as the HParams dashboard shows them."""
    from spectral_core.regimes import default_learning_rate

    learning_rate = config.learning_rate
    if learning_rate is None:
        learning_rate = default_learning_rate(architecture)
    values = {
        "regime": regime,
        "architecture": architecture.name,
        "widths": "-".join(str(width) for width in architecture.widths),
        "initialization": config.initialization,
        "learning_rate": learning_rate,
        "optimizer": config.optimizer,
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "seed": config.seed,
        "train_input_eigenvalues": architecture.train_input_eigenvalues,
    }
    return {key: hparam_value(value) for key, value in values.items()}


def run_log_dir(root: str | os.PathLike[str], run_name: str) -> Path:
    """A new folder ``root/<run name>`` for one run's logs (``-2``, ``-3``… if taken), created.

    Raises :class:`~spectral_core.files.WriteError` naming the TensorBoard log folder when it
    cannot hold logs (a file, or not writable).
    """
    from spectral_core.files import WriteError

    folder = Path(root).expanduser()
    if folder.exists() and not folder.is_dir():
        raise WriteError(f"TensorBoard log folder: {folder} is a file, not a folder")
    stem = re.sub(r"[^\w.-]+", "-", run_name).strip("-.") or "run"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        number = 1
        while True:
            target = folder / (stem if number == 1 else f"{stem}-{number}")
            try:
                target.mkdir()
                return target
            except FileExistsError:
                number += 1
    except OSError as error:
        raise WriteError(
            f"TensorBoard log folder: cannot write to {folder}: {error.strerror or error}"
        ) from None


class TensorBoardObserver:
    """Writes a run's spectrum, weight histograms and (at the end) HParams to ``log_dir``.

    Batch snapshots are ignored (one point per epoch). Picklable before use, so it can travel
    to a sweep's worker process; the writer opens on the first snapshot.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str], hparams: dict[str, Any] | None = None
    ) -> None:
        self.log_dir = str(log_dir)
        self.hparams = {key: hparam_value(value) for key, value in (hparams or {}).items()}
        self._writer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writer": None}

    def __call__(self, snapshot: Any) -> None:
        """Log one snapshot (``epoch`` and ``end`` kinds)."""
        if snapshot.kind not in ("epoch", "end"):
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        if snapshot.kind == "epoch":
            step = snapshot.epoch + 1 if snapshot.metrics else 0  # 0: before training
            with self._writer.as_default(step=step):
                self._write_epoch(snapshot)
            self._writer.flush()
        else:
            with self._writer.as_default(step=snapshot.epoch + 1):
                self._write_end(snapshot)
            self.close()  # the run is over (a long-lived process such as the app goes on)

    def close(self) -> None:
        """Flush and close the event file (a later snapshot opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _write_epoch(self, snapshot: Any) -> None:
        import tensorflow as tf

        for name in EPOCH_METRICS:
            value = snapshot.metrics.get(name)
            if value is not None and math.isfinite(value):
                tf.summary.scalar(f"epoch/{name}", value)
        for layer, values in snapshot.eigenvalues.items():
            eigenvalues = np.asarray(values["eigvals_out"], dtype=np.float64)
            for quantile, value in zip(QUANTILES, np.quantile(eigenvalues, QUANTILES), strict=True):
                tf.summary.scalar(f"spectrum/{layer}/lambda_out_q{round(quantile * 100):03d}", value)
            tf.summary.scalar(f"spectrum/{layer}/abs_lambda_out_mean", np.mean(np.abs(eigenvalues)))
        for layer, (counts, edges) in snapshot.histograms.items():
            _write_histogram(f"weights/{layer}", counts, edges)
        # The compact model's layers come as a history (epochs × bins): this epoch is the last row.
        for layer, (history, edges) in snapshot.compact_histograms.items():
            if len(history):
                _write_histogram(f"compact_weights/{layer}", np.asarray(history)[-1], edges)

    def _write_end(self, snapshot: Any) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hparams_api

        if self.hparams:
            hparams_api.hparams(self.hparams)
        for name in ("test_accuracy", "test_loss"):
            value = snapshot.metrics.get(name)
            if value is not None and math.isfinite(value):
                tf.summary.scalar(f"test/{name.removeprefix('test_')}", value)


def _write_histogram(tag: str, counts: np.ndarray, edges: np.ndarray) -> None:
    """A histogram from precomputed counts (TensorBoard's [left, right, count] rows)."""
    import tensorflow as tf
    from tensorboard.plugins.histogram import metadata

    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    buckets = np.stack([edges[:-1], edges[1:], counts], axis=1)
    tf.summary.write(
        tag=tag,
        tensor=tf.constant(buckets, dtype=tf.float64),
        metadata=metadata.create_summary_metadata(display_name=tag, description=""),
    )
