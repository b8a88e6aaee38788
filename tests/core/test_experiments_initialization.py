"""Initialization schemes: `paper` (the authors' code), `paper-text`, `glorot`, and the config field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import (
    DEFAULT_INITIALIZATION,
    INITIALIZATION_NAMES,
    INITIALIZATION_SOURCES,
    ConfigError,
    TrainingConfig,
)

ARCH = Architecture(
    "two layers", 784, (LayerSpec(300, "linear", telescopic=True), LayerSpec(10, "softmax"))
)
GLOROT_BOUND = math.sqrt(6 / (784 + 300))


def first_layer(regime: str, initialization: str, seed: int = 0):
    from spectral_core.build import build_model

    model = build_model(ARCH, regime, seed=seed, compile=False, initialization=initialization)
    return model.layers[1]


def first_layer_values(regime: str, initialization: str, seed: int = 0) -> np.ndarray:
    from spectral_core.layers import effective_weights

    layer = first_layer(regime, initialization, seed)
    if regime == "direct-subset":
        return effective_weights(layer)[0]
    return np.asarray(layer.phi.numpy(), dtype=np.float64)


def assert_uniform(values: np.ndarray, low: float, high: float) -> None:
    """Within [low, high), and really spread over it (a narrower or shifted draw fails)."""
    assert values.min() >= low and values.max() < high
    span = high - low
    assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span
    # The mean of n uniform draws has standard deviation span / sqrt(12 n): allow 4 of them.
    assert values.mean() == pytest.approx((low + high) / 2, abs=4 * span / math.sqrt(12 * values.size))


@pytest.mark.parametrize("regime", ["lambda", "lambda-phi"])
def test_paper_is_the_authors_code(regime):
    layer = first_layer(regime, "paper")
    assert_uniform(layer.phi.numpy(), -0.2, 0.2)
    np.testing.assert_array_equal(layer.eigvals_in.numpy(), np.ones(784, dtype=np.float32))
    assert not layer.eigvals_in.trainable  # λ_in = 1, fixed (no input eigenvalues asked)
    assert_uniform(layer.eigvals_out.numpy(), 0.5, 1.5)
    assert layer.bias is None
    # The node factor λ_in − λ_out starts ~ U(−0.5, 0.5), centred on 0.
    assert_uniform(1 - layer.eigvals_out.numpy(), -0.5, 0.5)


def test_paper_constrained_nn_is_glorot_frozen_and_free():
    layer = first_layer("direct-subset", "paper")
    kernel = first_layer_values("direct-subset", "paper")
    assert np.abs(kernel).max() <= GLOROT_BOUND + 1e-7
    assert np.abs(kernel).max() > 0.98 * GLOROT_BOUND
    free = layer.trainable_values.numpy()
    assert len(free) == 300 and np.abs(free).max() <= GLOROT_BOUND + 1e-7
    assert free.std() > 0.4 * GLOROT_BOUND  # drawn, not zeros
    assert layer.bias is None


@pytest.mark.parametrize("regime", ["lambda", "direct-subset"])
def test_paper_text_and_glorot_ranges(regime):
    assert_uniform(first_layer_values(regime, "paper-text"), -0.5, 0.5)
    glorot = first_layer_values(regime, "glorot")
    assert np.abs(glorot).max() <= GLOROT_BOUND + 1e-7
    assert np.abs(glorot).max() > 0.98 * GLOROT_BOUND
    # Uniform on (−a, a): variance a² / 3.
    assert glorot.var() == pytest.approx(GLOROT_BOUND**2 / 3, rel=0.02)


@pytest.mark.parametrize("initialization", ["paper-text", "glorot"])
def test_text_and_glorot_start_eigenvalues_near_zero(initialization):
    layer = first_layer("lambda", initialization, seed=1)
    np.testing.assert_array_equal(layer.eigvals_in.numpy(), np.ones(784, dtype=np.float32))
    assert_uniform(layer.eigvals_out.numpy(), -0.01, 0.01)


def test_every_scheme_names_its_source_and_one_default_everywhere():
    import inspect

    from spectral_core.build import build_model

    assert INITIALIZATION_NAMES == ("paper", "paper-text", "glorot")
    assert "39a4c47" in INITIALIZATION_SOURCES["paper"]
    assert "text" in INITIALIZATION_SOURCES["paper-text"]
    default = inspect.signature(build_model).parameters["initialization"].default
    assert TrainingConfig().initialization == default == DEFAULT_INITIALIZATION


def test_same_seed_same_draws_and_bad_names_are_refused():
    np.testing.assert_array_equal(
        first_layer_values("lambda", "paper", seed=4), first_layer_values("lambda", "paper", seed=4)
    )
    from spectral_core.build import build_model

    with pytest.raises(ValueError, match="initialization: must be one of paper, paper-text, glorot"):
        build_model(ARCH, "lambda", initialization="he")
    with pytest.raises(ConfigError, match="initialization: must be one of paper, paper-text, glorot"):
        TrainingConfig(initialization="he").validate()
