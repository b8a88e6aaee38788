"""The training engine: learning, reproducibility, divergence, stop/pause, frozen weights."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.config import ConfigError
from spectral_core.data import synthetic_digits
from spectral_core.layers import MaskedDense, SpectralDense, dense_layers, effective_weights
from spectral_core.training import Snapshot, TrainingConfig, TrainingControl, train

SMALL = Architecture(
    "small", 64, (LayerSpec(24, "linear", True), LayerSpec(16, "relu"), LayerSpec(10, "softmax"))
)


def weights_by_name(model: keras.Model) -> dict[str, np.ndarray]:
    return {w.path: np.array(keras.ops.convert_to_numpy(w)) for w in model.weights}


@pytest.mark.parametrize("regime", ["lambda", "direct-full"])
def test_short_training_lowers_the_loss(regime, small_digits):
    # The paper's initialization starts every output near 0 (λ_in − λ_out centred on 0): a
    # 3-epoch run on 600 tiny images needs a larger step to leave chance.
    model = build_model(SMALL, regime, seed=0, learning_rate=0.1)
    result = train(model, small_digits, TrainingConfig(epochs=3, batch_size=50, seed=0))
    losses = [row["loss"] for row in result.history]
    assert result.epochs_completed == 3 and not result.diverged and not result.stopped
    assert losses[2] < losses[1] < losses[0]
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.test_accuracy > 0.25  # 10 classes: chance is 0.1
    assert set(result.history[0]) == {
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    }


def run(regime: str, seed: int, digits) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    model = build_model(SMALL, regime, seed=seed)
    result = train(model, digits, TrainingConfig(epochs=2, batch_size=60, seed=seed))
    metrics = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
    return weights_by_name(model), metrics + [{"test": result.test_accuracy}]


@pytest.mark.parametrize("regime", ["lambda-phi", "direct-subset"])
def test_same_seed_gives_identical_weights_and_metrics(regime, small_digits):
    first_weights, first_metrics = run(regime, 7, small_digits)
    second_weights, second_metrics = run(regime, 7, small_digits)
    assert first_metrics == second_metrics
    assert first_weights.keys() == second_weights.keys()
    for name, value in first_weights.items():
        np.testing.assert_array_equal(value, second_weights[name], err_msg=name)
    other = weights_by_name(build_model(SMALL, regime, seed=8, compile=False))
    random_draws = [k for k in first_weights if k.endswith(("/phi", "/frozen_kernel"))]
    assert random_draws and all(
        not np.array_equal(first_weights[k], other[k]) for k in random_draws
    )


def test_non_finite_loss_stops_and_keeps_the_last_finite_weights(small_digits):
    model = build_model(SMALL, "lambda-phi", seed=3, compile=False)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e6),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    initial = weights_by_name(model)
    seen: list[Snapshot] = []
    result = train(model, small_digits, TrainingConfig(epochs=3, batch_size=30), [seen.append])
    assert result.diverged and not result.stopped
    assert result.epochs_completed == 0
    assert "non-finite" in result.message and "initial weights were kept" in result.message
    for name, value in weights_by_name(model).items():
        np.testing.assert_array_equal(value, initial[name], err_msg=name)
    assert seen[-1].kind == "end" and seen[-1].message == result.message


def test_divergence_after_a_good_epoch_keeps_that_epoch(small_digits):
    model = build_model(SMALL, "lambda", seed=3, compile=False)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    after_first_epoch: dict[str, np.ndarray] = {}

    class BlowUpInEpochTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                after_first_epoch.update(weights_by_name(self.model))

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate.assign(1e6)

    result = train(
        model, small_digits, TrainingConfig(epochs=3, batch_size=30), callbacks=[BlowUpInEpochTwo()]
    )
    assert result.diverged and result.epochs_completed == 1
    assert "weights from the end of epoch 1 were kept" in result.message
    for name, value in weights_by_name(model).items():
        np.testing.assert_array_equal(value, after_first_epoch[name], err_msg=name)


class BatchCounter:
    """An observer (snapshot_interval=0: called after every batch) that can trigger an event."""

    def __init__(self, trigger_at: int) -> None:
        self.batches = 0
        self.trigger_at = trigger_at
        self.reached = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, snapshot: Snapshot) -> None:
        if snapshot.kind == "batch":
            with self.lock:
                self.batches += 1
            if self.batches == self.trigger_at:
                self.reached.set()

    def count(self) -> int:
        with self.lock:
            return self.batches


def test_stop_from_another_thread_ends_within_one_batch(small_digits):
    model = build_model(SMALL, "lambda", seed=0)
    control = TrainingControl()
    counter = BatchCounter(trigger_at=3)
    at_stop: list[int] = []

    def stopper() -> None:
        counter.reached.wait(timeout=60)
        control.stop()
        at_stop.append(counter.count())

    thread = threading.Thread(target=stopper)
    thread.start()
    config = TrainingConfig(epochs=20, batch_size=10, snapshot_interval=0.0)
    result = train(model, small_digits, config, [counter], control)
    thread.join()
    assert result.stopped and result.message == "stopped by the user"
    assert counter.count() <= at_stop[0] + 1
    assert result.epochs_completed <= 1


def test_pause_holds_training_and_resume_finishes_it(small_digits):
    model = build_model(SMALL, "lambda", seed=0)
    control = TrainingControl()
    counter = BatchCounter(trigger_at=2)
    during_pause: list[int] = []

    def pauser() -> None:
        counter.reached.wait(timeout=60)
        control.pause()
        first = counter.count()
        time.sleep(0.5)
        during_pause.extend([first, counter.count()])
        assert control.paused
        control.resume()

    thread = threading.Thread(target=pauser)
    thread.start()
    config = TrainingConfig(epochs=2, batch_size=100, snapshot_interval=0.0)
    result = train(model, small_digits, config, [counter], control)
    thread.join()
    first, later = during_pause
    assert later <= first + 1  # at most the batch already running finished while paused
    assert result.epochs_completed == 2 and not result.stopped
    assert counter.count() == 2 * 6  # 540 training images / 100 per batch, both epochs


def test_stop_while_paused_ends_the_run(small_digits):
    model = build_model(SMALL, "lambda", seed=0)
    control = TrainingControl()
    counter = BatchCounter(trigger_at=1)

    def pause_then_stop() -> None:
        counter.reached.wait(timeout=60)
        control.pause()
        time.sleep(0.2)
        control.stop()

    thread = threading.Thread(target=pause_then_stop)
    thread.start()
    config = TrainingConfig(epochs=5, batch_size=20, snapshot_interval=0.0)
    result = train(model, small_digits, config, [counter], control)
    thread.join()
    assert result.stopped and counter.count() <= 3


@pytest.mark.parametrize(
    ("regime", "train_input", "moving"),
    [
        ("lambda", False, {"eigvals_out"}),
        ("lambda", True, {"eigvals_out", "layer_1/eigvals_in"}),
        ("lambda-phi", False, {"eigvals_out", "phi"}),
    ],
)
def test_frozen_spectral_weights_stay_bit_identical(regime, train_input, moving, small_digits):
    """Weights named in ``moving`` (by name, or layer/name) train; every other one is frozen."""
    architecture = Architecture(SMALL.name, SMALL.input_units, SMALL.layers, train_input)
    model = build_model(architecture, regime, seed=1)
    assert all(isinstance(layer, SpectralDense) for layer in dense_layers(model))
    before = weights_by_name(model)
    train(model, small_digits, TrainingConfig(epochs=2, batch_size=50))
    after = weights_by_name(model)
    trainable = {weight.path for weight in model.trainable_weights}
    frozen_count = 0
    for path, value in before.items():
        should_move = path in moving or path.split("/")[-1] in moving
        assert (path in trainable) == should_move, path
        if should_move:
            assert not np.array_equal(after[path], value), f"{path} did not train"
        else:
            np.testing.assert_array_equal(after[path], value, err_msg=path)
            frozen_count += 1
    assert frozen_count >= 3


def test_direct_subset_moves_only_its_masked_entries(small_digits):
    model = build_model(SMALL, "direct-subset", seed=2)
    layers = dense_layers(model)
    assert all(isinstance(layer, MaskedDense) for layer in layers)
    before = [effective_weights(layer)[0] for layer in layers]
    frozen_before = [np.array(keras.ops.convert_to_numpy(layer.frozen_kernel)) for layer in layers]
    train(model, small_digits, TrainingConfig(epochs=2, batch_size=50))
    for layer, kernel, frozen in zip(layers, before, frozen_before, strict=True):
        mask = layer.trainable_mask
        after = effective_weights(layer)[0]
        assert mask.sum() == layer.units  # as many as the layer's trained eigenvalues
        np.testing.assert_array_equal(after[~mask], kernel[~mask])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.frozen_kernel), frozen)
        assert np.count_nonzero(after[mask] != kernel[mask]) > mask.sum() // 2


def test_observers_get_copies_of_eigenvalues_and_histograms(small_digits):
    model = build_model(SMALL, "lambda", seed=0)
    seen: list[Snapshot] = []
    config = TrainingConfig(epochs=2, batch_size=100, snapshot_interval=0.0, histogram_bins=12)
    train(model, small_digits, config, [seen.append], telescopic=[True, False, False])
    kinds = [snapshot.kind for snapshot in seen]
    assert kinds[0] == "epoch" and kinds[-1] == "end" and kinds.count("batch") == 12
    epoch = [s for s in seen if s.kind == "epoch"][-1]
    assert set(epoch.eigenvalues) == {"layer_1", "layer_2", "layer_3"}
    assert epoch.eigenvalues["layer_1"]["eigvals_out"].shape == (24,)
    counts, edges = epoch.histograms["layer_2"]
    assert counts.sum() == 24 * 16 and len(edges) == 13
    matrix, _ = epoch.histogram_history["layer_1"]
    assert matrix.shape[0] == 3  # before training and after each epoch
    assert set(epoch.compact_histograms) == {"compact_1", "compact_2"}
    live = keras.ops.convert_to_numpy(dense_layers(model)[0].eigvals_out).copy()
    epoch.eigenvalues["layer_1"]["eigvals_out"][:] = 99.0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(dense_layers(model)[0].eigvals_out), live
    )
    assert 0.0 < seen[3].progress <= 1.0


def test_mismatched_dataset_is_refused_with_both_sizes():
    model = build_model(SMALL, "lambda", seed=0)
    with pytest.raises(ConfigError, match="784 values but the network's input layer has 64"):
        train(model, synthetic_digits(20, 5), TrainingConfig(epochs=1))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs: must be an integer from 1 to 10000, got 0"),
        ("batch_size", 2.5, "batch_size: must be an integer"),
        ("learning_rate", -1.0, "learning_rate: must be above 0"),
        ("optimizer", "lbfgs", "optimizer: must be one of adamax, adam, sgd, rmsprop"),
        ("validation_fraction", 1.0, "validation_fraction: must be from 0 to below 1"),
    ],
)
def test_bad_training_settings_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**{field: value}).validate()
