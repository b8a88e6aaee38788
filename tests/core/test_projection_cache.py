"""The engine's cached first-layer projection: the same training as the model itself, no copies."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.projection import cache_bytes, training_view
from spectral_core.training import TrainingConfig, train

CHAIN = Architecture(
    "chain", 64, (LayerSpec(24, "linear", True), LayerSpec(16, "relu"), LayerSpec(10, "softmax"))
)
PERCEPTRON = Architecture("perceptron", 64, (LayerSpec(10, "softmax"),), train_input_eigenvalues=True)


def weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def run(regime: str, digits, cache_mb: int, steps: int = 0, architecture=CHAIN, jit=False):
    model = build_model(architecture, regime, seed=3, learning_rate=0.05)
    config = TrainingConfig(
        epochs=3, batch_size=40, seed=5, validation_fraction=0.2,
        projection_cache_mb=cache_mb, steps_per_execution=steps, jit_compile=jit,
    )
    return model, train(model, digits, config)


@pytest.mark.parametrize(
    ("regime", "jit"),
    [("lambda", False), ("direct-subset", False), ("lambda", True), ("direct-subset", True)],
    ids=["lambda", "direct-subset", "lambda-xla", "direct-subset-xla"],
)
def test_cached_training_matches_the_model_itself(regime, jit, small_digits):
    """Shuffled batches, a validation split, several epochs: losses and weights agree."""
    plain_model, plain = run(regime, small_digits, cache_mb=0, steps=1)
    cached_model, cached = run(regime, small_digits, cache_mb=64, steps=7, jit=jit)
    assert cached.cached_projection and not plain.cached_projection
    assert cached.steps_per_execution == 7 and plain.steps_per_execution == 1
    assert cached.jit_compile is jit and plain.jit_compile is False
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(
            [row[key] for row in cached.history], [row[key] for row in plain.history],
            rtol=1e-4, atol=1e-5, err_msg=key,
        )
    moved = False
    for mine, theirs, initial in zip(
        weights(cached_model), weights(plain_model),
        weights(build_model(CHAIN, regime, seed=3, compile=False)), strict=True,
    ):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
        moved |= not np.array_equal(mine, initial)
    assert moved  # the comparison above is of trained weights, not of two untouched models
    assert cached.test_accuracy == pytest.approx(plain.test_accuracy, abs=0.011)


def test_the_view_shares_the_models_variables(small_digits):
    model = build_model(CHAIN, "lambda", seed=0)
    view = training_view(model, rows=100, budget_bytes=2**20)
    assert view.cached and view.model is not model
    ids = {id(variable) for variable in model.variables}
    assert {id(v) for v in view.model.trainable_variables} == {
        id(v) for v in model.trainable_variables
    }
    assert all(id(variable) in ids for variable in view.model.variables)
    x = small_digits.x_test[:30]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(view.model(view.inputs(x))),
        keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("regime", ["lambda", "direct-subset"])
def test_the_view_describes_itself_for_tensorboard(regime, small_digits, tmp_path, recwarn):
    """Keras's TensorBoard callback writes the fitted model's JSON, and fit runs the view."""
    model = build_model(CHAIN, regime, seed=0)
    view = training_view(model, rows=100, budget_bytes=2**20)
    assert view.cached
    json_text = view.model.to_json()
    assert '"class_name": "_FromProjection"' in json_text and model.layers[1].name in json_text
    head = view.model.layers[1 if regime == "lambda" else 2]
    rebuilt = type(head).from_config(head.get_config())
    assert rebuilt.name == head.name and rebuilt.shared.units == head.shared.units
    train(
        model, small_digits, TrainingConfig(epochs=1, batch_size=50),
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1)],
    )
    assert not [w for w in recwarn if "serialize" in str(w.message)]
    assert any(tmp_path.rglob("*.v2"))


@pytest.mark.parametrize(
    ("regime", "architecture"),
    [("lambda-phi", CHAIN), ("direct-full", CHAIN), ("lambda", PERCEPTRON)],
    ids=["phi trained", "dense", "input eigenvalues trained"],
)
def test_nothing_is_cached_where_the_first_product_trains(regime, architecture):
    model = build_model(architecture, regime, seed=0, compile=False)
    assert cache_bytes(model, 1000) == 0
    assert training_view(model, 1000, 2**30).model is model


def test_non_uniform_frozen_input_eigenvalues_are_not_cached():
    model = build_model(CHAIN, "lambda", seed=0, compile=False)
    layer = model.layers[1]
    layer.eigvals_in.assign(np.linspace(0.5, 1.5, 64).astype("float32"))
    assert not layer.projection_is_frozen and cache_bytes(model, 10) == 0


def test_over_budget_trains_uncached_and_says_so_once(small_digits, caplog):
    model = build_model(CHAIN, "lambda", seed=0)
    rows = int(len(small_digits.y_train))
    assert cache_bytes(model, rows) == rows * 24 * 4
    config = TrainingConfig(epochs=2, batch_size=100, projection_cache_mb=0, validation_fraction=0)
    with caplog.at_level(logging.WARNING):
        quiet = train(model, small_digits, config)
    assert not quiet.cached_projection and quiet.notes == []  # 0 turns the cache off, silently
    view = training_view(model, rows=10**7, budget_bytes=2**20)
    assert view.model is model and "above the cache budget of 1 MB" in view.note
    assert "projection_cache_mb" in view.note


def test_one_batch_per_call_when_observers_ask_for_every_batch(small_digits):
    model = build_model(CHAIN, "lambda", seed=0)
    seen = []
    config = TrainingConfig(epochs=1, batch_size=50, snapshot_interval=0.0, validation_fraction=0)
    result = train(model, small_digits, config, observers=[seen.append])
    assert result.steps_per_execution == 1
    assert [s.batch for s in seen if s.kind == "batch"] == list(range(1, 13))


def test_auto_xla_follows_the_model_and_the_setting_forces_it():
    from spectral_core.config import ConfigError
    from spectral_core.training import choose_jit_compile

    auto = TrainingConfig()
    assert auto.jit_compile == "auto"
    assert not choose_jit_compile(auto) and choose_jit_compile(auto, model_jit=True)
    assert choose_jit_compile(auto, masked_view=True)
    assert not choose_jit_compile(TrainingConfig(jit_compile=False), masked_view=True)
    assert choose_jit_compile(TrainingConfig(jit_compile=True))
    assert not choose_jit_compile(TrainingConfig(jit_compile=False), model_jit=True)
    for bad in ("yes", 1, None):
        with pytest.raises(ConfigError, match='jit_compile: must be true, false or "auto"'):
            TrainingConfig(jit_compile=bad).validate()


def test_xla_repays_only_long_enough_constrained_nn_runs():
    from spectral_core.training import XLA_MIN_ENTRY_STEPS, xla_repays

    subset = build_model(CHAIN, "direct-subset", seed=0, compile=False)
    entries = 24 + 16 + 10  # the spectral count of CHAIN: λ_out of every layer
    steps = int(XLA_MIN_ENTRY_STEPS // entries) + 1
    assert xla_repays(subset, steps) and not xla_repays(subset, steps - 2)
    assert not xla_repays(build_model(CHAIN, "lambda", seed=0, compile=False), 10**9)


def test_auto_xla_is_on_only_for_the_cached_constrained_nn(small_digits, monkeypatch):
    """The engine resolves "auto" per run: XLA for direct-subset's cached view, not otherwise."""
    monkeypatch.setattr("spectral_core.training.XLA_MIN_ENTRY_STEPS", 1)  # tiny runs repay it here
    config = TrainingConfig(epochs=1, batch_size=100, validation_fraction=0)
    resolved = {}
    for regime, cache_mb in (("direct-subset", 64), ("direct-subset", 0), ("lambda", 64)):
        model = build_model(CHAIN, regime, seed=0)
        config.projection_cache_mb = cache_mb
        result = train(model, small_digits, config)
        resolved[regime, cache_mb] = (result.cached_projection, result.jit_compile)
    assert resolved == {
        ("direct-subset", 64): (True, True),
        ("direct-subset", 0): (False, False),
        ("lambda", 64): (True, False),
    }


@pytest.mark.parametrize(("flag", "value"), [([], "auto"), (["--jit-compile"], True),
                                             (["--jit-compile", "off"], False)])
def test_the_command_line_maps_jit_compile(flag, value):
    from spectral_core.cli import build_parser, config_from_args

    args = build_parser().parse_args(["train", "nonlinear", "--out", "x", *flag])
    assert config_from_args(args).jit_compile == value
