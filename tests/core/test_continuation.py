"""Continuing a trained model in the same regime or another: at step 0 it computes the same
function (checked against a float64 forward pass), and the right weights train afterwards."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.continuation import continuation_regimes, continue_model
from spectral_core.layers import SpectralDense, dense_layers, effective_weights
from spectral_core.regimes import RegimeError

STACK = Architecture(
    "small", 20,
    (LayerSpec(12, "linear", telescopic=True), LayerSpec(8, "relu"), LayerSpec(5, "softmax")),
    train_input_eigenvalues=True,
)
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "softmax": lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
}


def reference_function(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's function in float64 numpy, from its layers' effective weights."""
    h = x.astype(np.float64)
    for layer, spec in zip(dense_layers(model), STACK.layers, strict=True):
        kernel, bias = effective_weights(layer)
        h = ACTIVATIONS[spec.activation](h @ kernel + bias)
    return h


def trained_like(regime: str) -> keras.Model:
    """A model of ``regime`` whose every weight moved away from its initial value."""
    model = build_model(STACK, regime, seed=3)
    rng = np.random.default_rng(7)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.name == "eigvals_in":
            variable.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            variable.assign((np.asarray(variable) + rng.normal(0, 0.1, shape)).astype("float32"))
    return model


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, size=(64, 20)).astype("float32")


@pytest.mark.parametrize(
    ("source_regime", "target_regime"),
    [
        ("lambda", "lambda"), ("lambda", "lambda-phi"), ("lambda", "direct-full"),
        ("lambda-phi", "lambda"), ("lambda-phi", "direct-full"),
        ("direct-subset", "direct-subset"), ("direct-subset", "direct-full"),
        ("direct-full", "direct-full"),
    ],
)
def test_the_continued_model_computes_the_same_function_at_step_0(source_regime, target_regime, x) -> None:
    source = trained_like(source_regime)
    before = [np.array(w) for w in source.get_weights()]
    expected = reference_function(source, x)
    continued = continue_model(source, STACK, source_regime, target_regime)
    # Float64 effective weights agree to float32 precision, and so do the outputs.
    for old, new in zip(dense_layers(source), dense_layers(continued), strict=True):
        for a, b in zip(effective_weights(old), effective_weights(new), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(reference_function(continued, x), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(continued.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    for old, new in zip(before, source.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the trained model is left as it was
    assert continued is not source


def test_which_weights_train_after_the_switch(x) -> None:
    source = trained_like("lambda")
    unlocked = continue_model(source, STACK, "lambda", "lambda-phi")
    layers = dense_layers(unlocked)
    assert all(isinstance(layer, SpectralDense) and layer.phi.trainable for layer in layers)
    assert layers[0].eigvals_in.trainable and not layers[1].eigvals_in.trainable
    same = continue_model(source, STACK, "lambda", "lambda")
    assert not any(layer.phi.trainable for layer in dense_layers(same))
    direct = continue_model(source, STACK, "lambda", "direct-full")
    assert all(type(layer) is keras.layers.Dense for layer in dense_layers(direct))
    assert direct.count_params() == sum(w.size for w in direct.get_weights())
    assert len(direct.trainable_weights) == 2 * len(STACK.layers)

    # One step: φ moves in the unlocked model, not in the Λ-only one.
    y = np.arange(len(x)) % 5
    phi_before = np.array(dense_layers(unlocked)[1].phi)
    unlocked.train_on_batch(x, y)
    assert not np.array_equal(np.array(dense_layers(unlocked)[1].phi), phi_before)
    phi_before = np.array(dense_layers(same)[1].phi)
    same.train_on_batch(x, y)
    np.testing.assert_array_equal(np.array(dense_layers(same)[1].phi), phi_before)


def test_impossible_continuations_are_refused_by_name() -> None:
    assert continuation_regimes("direct-full") == ("direct-full",)
    source = trained_like("direct-full")
    with pytest.raises(ValueError, match="to_regime: a direct-full run can continue as direct-full"):
        continue_model(source, STACK, "direct-full", "lambda")
    with pytest.raises(RegimeError, match="regime"):
        continue_model(source, STACK, "direct-full", "spectral")
    other = Architecture("other", 20, (LayerSpec(6, "relu"), LayerSpec(5, "softmax")))
    with pytest.raises(ValueError, match="model: its layers are 20 → 12 → 8 → 5"):
        continue_model(source, other, "direct-full", "direct-full")
    with pytest.raises(ValueError, match="SpectralDense"):
        continue_model(source, STACK, "lambda", "lambda-phi")
