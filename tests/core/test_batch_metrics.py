"""Per-batch values recovered from Keras's running means: by the formula, and against a real fit."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_core.batch_metrics import batch_means_from_running_means


def running_means(values: np.ndarray, batches_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and running means as Keras logs them, from per-batch values over epochs."""
    positions, means = [], []
    for epoch, chunk in enumerate(values.reshape(-1, batches_per_epoch)):
        for k in range(1, batches_per_epoch + 1):
            positions.append(epoch + k / batches_per_epoch)
            means.append(chunk[:k].mean())
    return np.array(positions), np.array(means)


def test_every_batch_known_gives_each_batchs_own_value() -> None:
    values = np.random.default_rng(0).uniform(0.1, 2.5, size=3 * 7)
    positions, means = running_means(values, 7)
    np.testing.assert_allclose(batch_means_from_running_means(positions, means), values, rtol=1e-12)


def test_sampled_points_give_the_mean_of_the_batches_since_the_previous_point() -> None:
    values = np.random.default_rng(1).uniform(0, 1, size=2 * 10)
    positions, means = running_means(values, 10)
    kept = np.array([1, 4, 9, 11, 12, 19])  # batches 2, 5, 10 of epoch 1; 2, 3, 10 of epoch 2
    recovered = batch_means_from_running_means(positions[kept], means[kept])
    expected = [
        values[0:2].mean(), values[2:5].mean(), values[5:10].mean(),
        values[10:12].mean(), values[12], values[13:20].mean(),
    ]
    np.testing.assert_allclose(recovered, expected, rtol=1e-12)


def test_nan_and_repeated_points_and_bad_shapes() -> None:
    recovered = batch_means_from_running_means(np.array([0.5, 0.5, 1.0]), np.array([1.0, 1.0, np.nan]))
    assert recovered[0] == 1.0 and recovered[1] == 1.0 and np.isnan(recovered[2])
    assert batch_means_from_running_means(np.zeros(0), np.zeros(0)).size == 0
    with pytest.raises(ValueError, match="positions and running_means"):
        batch_means_from_running_means(np.zeros(3), np.zeros(2))


def test_matches_the_losses_of_a_real_keras_fit() -> None:
    """With a zero learning rate the weights stay put, so each batch's loss can be evaluated."""
    import keras

    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 5)).astype("float32")
    y = rng.integers(0, 3, size=60)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    logged: list[tuple[float, float, float]] = []

    class Log(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            logged.append((self.epoch + (batch + 1) / 6, logs["loss"], logs["accuracy"]))

    model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, callbacks=[Log()])
    points = np.array(logged)
    losses = [
        float(model.evaluate(x[i : i + 10], y[i : i + 10], verbose=0)[0]) for i in range(0, 60, 10)
    ] * 2
    recovered = batch_means_from_running_means(points[:, 0], points[:, 1])
    np.testing.assert_allclose(recovered, losses, rtol=1e-4, atol=1e-5)
