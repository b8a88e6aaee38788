"""Weight histograms (exact on a shared growing grid), the progress bar, paper defaults."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest

from resources import PRESETS
from spectral_core.architecture import Architecture
from spectral_core.build import build_model
from spectral_core.config import TrainingConfig
from spectral_core.histograms import HistogramHistory, histogram
from spectral_core.progress import TqdmProgress
from spectral_core.training import Snapshot


def test_histogram_counts_every_finite_value():
    values = np.array([0.0, 1.0, 1.0, 2.0, np.nan, np.inf])
    counts, edges = histogram(values, bins=4)
    assert counts.sum() == 4
    np.testing.assert_array_equal(counts, np.histogram(values[:4], bins=4, range=(0, 2))[0])
    np.testing.assert_allclose(edges, np.linspace(0, 2, 5))
    counts, edges = histogram(np.full(7, 3.0), bins=5)
    assert counts.sum() == 7 and edges[0] < 3.0 < edges[-1]


@pytest.mark.parametrize("max_bins", [256, 16])
def test_history_rows_stay_exact_while_the_grid_grows(max_bins):
    """Each stored row equals numpy's histogram of that epoch's values on the final grid."""
    rng = np.random.default_rng(0)
    epochs = [rng.normal(0, 0.01 * 3**k, 500) + 0.002 * k for k in range(6)]
    history = HistogramHistory(target_bins=32, max_bins=max_bins)
    for values in epochs:
        history.add(values)
    matrix, edges = history.matrix(), history.edges
    assert matrix.shape == (6, len(edges) - 1)
    assert len(edges) - 1 <= max_bins
    for row, values in zip(matrix, epochs, strict=True):
        assert row.sum() == values.size
        np.testing.assert_array_equal(row, np.histogram(values, bins=edges)[0])


def snapshot(kind: str, epoch: int, batch: int, metrics: dict | None = None) -> Snapshot:
    return Snapshot(kind, epoch, batch, 10, 3, 0.0, metrics or {})


def test_progress_bar_counts_epochs_times_batches():
    stream = io.StringIO()
    with TqdmProgress() as progress:
        progress(snapshot("epoch", 0, 0))
        progress.bar.fp = stream  # keep the test's output clean
        progress(snapshot("batch", 0, 4, {"loss": 1.5, "accuracy": 0.5}))
        progress(snapshot("epoch", 1, 10, {"loss": 1.0}))
        assert progress.bar.total == 30
        assert progress.bar.n == 20
        progress(snapshot("end", 1, 10, {"test_accuracy": 0.9}))
        assert progress.bar.n == 20
        assert "epoch 2/3" in progress.bar.desc


def test_paper_defaults_adamax_rates_batch_and_epochs():
    config = TrainingConfig()
    assert (config.epochs, config.batch_size, config.optimizer) == (20, 300, "adamax")
    linear = build_model(Architecture.load(PRESETS / "wide_linear.json"), "lambda")
    nonlinear = build_model(Architecture.load(PRESETS / "nonlinear.json"), "lambda")
    for model, rate in ((linear, 0.03), (nonlinear, 0.01)):
        assert isinstance(model.optimizer, keras.optimizers.Adamax)
        assert float(model.optimizer.learning_rate) == pytest.approx(rate)
    assert isinstance(linear.loss, keras.losses.SparseCategoricalCrossentropy)
