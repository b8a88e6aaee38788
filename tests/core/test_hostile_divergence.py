"""A learning rate that makes the loss non-finite: the run stops, keeps the last finite weights
and says what happened and what to try."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.config import TrainingConfig
from spectral_core.data import Dataset, synthetic_digits
from spectral_core.runs import run_training
from spectral_core.training import train

ARCH = Architecture("tiny", 784, (LayerSpec(16, "relu"), LayerSpec(10, "linear")))


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return synthetic_digits(train=200, test=50, seed=2)


class ExplodeAfterFirstEpoch(keras.callbacks.Callback):
    """Records the weights at the end of epoch 1, then sets an absurd learning rate.

    This is what choosing far too large a learning rate does, made deterministic: the next
    update throws the weights to ~1e38 and the logits overflow to inf, so the loss is NaN.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch_one_weights: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 0:
            self.epoch_one_weights = [np.array(w) for w in self.model.get_weights()]
            self.model.optimizer.learning_rate.assign(1e38)


@pytest.mark.parametrize("regime", ["lambda", "direct-full"])
def test_divergence_mid_run_keeps_the_last_finite_epoch(digits: Dataset, regime: str) -> None:
    model = build_model(ARCH, regime, seed=0)
    spy = ExplodeAfterFirstEpoch()
    snapshots = []
    config = TrainingConfig(epochs=4, batch_size=50, validation_fraction=0.0)
    result = train(model, digits, config, observers=[snapshots.append], callbacks=[spy])

    assert result.diverged and not result.stopped
    assert result.epochs_completed == 1 and len(result.history) == 1
    assert "non-finite at epoch 2" in result.message
    assert "weights from the end of epoch 1 were kept" in result.message
    assert "Try a smaller learning rate" in result.message
    for kept, expected in zip(model.get_weights(), spy.epoch_one_weights, strict=True):
        np.testing.assert_array_equal(kept, expected)
    assert math.isfinite(result.test_loss) and 0 <= result.test_accuracy <= 1
    # The GUI learns it through the final snapshot's message.
    assert snapshots[-1].kind == "end" and snapshots[-1].message == result.message


def test_divergence_in_the_first_batch_keeps_the_initial_weights() -> None:
    # Values near float32's limit overflow the first layer's output to inf at once.
    rng = np.random.default_rng(0)
    x = (rng.random((60, 784)) * 3e38).astype(np.float32)
    y = rng.integers(0, 10, 60)
    hostile = Dataset("overflowing", x, y, x[:10], y[:10])
    model = build_model(ARCH, "direct-full", seed=0)
    initial = [np.array(w) for w in model.get_weights()]
    for steps, where in ((1, "epoch 1, batch 1;"), (3, "epoch 1, in batches 1–3;")):
        config = TrainingConfig(
            epochs=3, batch_size=20, validation_fraction=0.0, steps_per_execution=steps
        )
        result = train(model, hostile, config)
        assert result.diverged and result.epochs_completed == 0 and result.history == []
        # Several batches per compiled call: the message names the call's batches.
        assert f"non-finite at {where}" in result.message
        assert "the initial weights were kept" in result.message
        for kept, expected in zip(model.get_weights(), initial, strict=True):
            np.testing.assert_array_equal(kept, expected)


def test_diverged_run_folder_records_what_happened(tmp_path: Path, digits: Dataset) -> None:
    spy = ExplodeAfterFirstEpoch()
    outcome = run_training(
        ARCH, "lambda", digits, TrainingConfig(epochs=3, batch_size=50, validation_fraction=0.0),
        out=tmp_path, callbacks=[spy],
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] is True and summary["epochs_completed"] == 1
    assert "Try a smaller learning rate" in summary["ended"]
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1"]
    assert all(math.isfinite(float(rows[0][key])) for key in ("loss", "accuracy"))
    # The saved model holds the kept (finite) weights.
    from spectral_core.export import load_model

    saved = load_model(tmp_path / "full.keras", compile=False)
    for kept, expected in zip(saved.get_weights(), spy.epoch_one_weights, strict=True):
        np.testing.assert_array_equal(kept, expected)
    assert all(np.all(np.isfinite(w)) for w in outcome.compact.get_weights())
