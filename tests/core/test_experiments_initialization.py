"""Initialization schemes: the paper's ranges, the Glorot-scaled option, and the config field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import ConfigError, TrainingConfig

ARCH = Architecture(
    "two layers", 784, (LayerSpec(300, "linear", telescopic=True), LayerSpec(10, "softmax"))
)


def first_layer_values(regime: str, initialization: str, seed: int = 0) -> np.ndarray:
    from spectral_core.build import build_model
    from spectral_core.layers import effective_weights

    model = build_model(ARCH, regime, seed=seed, compile=False, initialization=initialization)
    layer = model.layers[1]
    if regime == "direct-subset":
        return effective_weights(layer)[0]
    return np.asarray(layer.phi.numpy(), dtype=np.float64)


@pytest.mark.parametrize("regime", ["lambda", "direct-subset"])
def test_paper_and_glorot_ranges(regime):
    paper = first_layer_values(regime, "paper")
    assert paper.min() >= -0.5 and paper.max() < 0.5
    assert paper.max() > 0.49 and paper.min() < -0.49  # really uses the whole range
    bound = math.sqrt(6 / (784 + 300))
    glorot = first_layer_values(regime, "glorot")
    assert np.abs(glorot).max() <= bound + 1e-7
    assert np.abs(glorot).max() > 0.98 * bound
    # Uniform on (−a, a): variance a² / 3.
    assert glorot.var() == pytest.approx(bound**2 / 3, rel=0.02)


def test_eigenvalues_start_the_same_in_both_schemes():
    from spectral_core.build import build_model

    for initialization in ("paper", "glorot"):
        layer = build_model(ARCH, "lambda", seed=1, compile=False, initialization=initialization).layers[1]
        np.testing.assert_array_equal(layer.eigvals_in.numpy(), np.ones(784, dtype=np.float32))
        out = layer.eigvals_out.numpy()
        assert np.abs(out).max() <= 0.01 and np.abs(out).max() > 0.009


def test_same_seed_same_draws_and_bad_names_are_refused():
    np.testing.assert_array_equal(
        first_layer_values("lambda", "glorot", seed=4), first_layer_values("lambda", "glorot", seed=4)
    )
    from spectral_core.build import build_model

    with pytest.raises(ValueError, match="initialization: must be one of paper, glorot"):
        build_model(ARCH, "lambda", initialization="he")
    with pytest.raises(ConfigError, match="initialization"):
        TrainingConfig(initialization="he").validate()
    assert TrainingConfig().initialization == "glorot"
