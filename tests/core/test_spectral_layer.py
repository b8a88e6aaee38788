"""SpectralDense and MaskedDense against an independent float64 reference.

The reference builds the paper's square operator A = Φ Λ (2I − Φ) on the N_in + N_out nodes,
with Φ = [[I, 0], [φᵀ, I]], applies it to the zero-padded input [x; 0] and keeps the lower
block: the layer must agree without ever forming that operator itself.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from spectral_core.layers import MaskedDense, SpectralDense, effective_weights

N_IN, N_OUT, BATCH = 7, 5, 6
FLAG_NAMES = ("phi", "eigvals_in", "eigvals_out", "bias")
FLAG_SETS = list(itertools.product((False, True), repeat=4))
EIGVALS_IN_KINDS = ("ones", "constant", "random")
ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid", "softmax")


def numpy_activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def square_operator(phi: np.ndarray, eigvals_in: np.ndarray, eigvals_out: np.ndarray) -> np.ndarray:
    """A = Φ Λ (2I − Φ), built explicitly in float64 ((N_in+N_out)² entries)."""
    n_in, n_out = phi.shape
    size = n_in + n_out
    big_phi = np.eye(size)
    big_phi[n_in:, :n_in] = phi.T
    big_lambda = np.diag(np.concatenate([eigvals_in, eigvals_out]))
    return big_phi @ big_lambda @ (2.0 * np.eye(size) - big_phi)


def reference_output(weights: dict[str, np.ndarray], x: np.ndarray, activation: str) -> np.ndarray:
    phi = weights["phi"]
    n_in = phi.shape[0]
    operator = square_operator(phi, weights["eigvals_in"], weights["eigvals_out"])
    padded = np.concatenate([x, np.zeros((x.shape[0], phi.shape[1]))], axis=1)
    lower = (padded @ operator.T)[:, n_in:]
    if "bias" in weights:
        lower = lower + weights["bias"]
    return numpy_activation(activation, lower)


def random_weights(
    rng: np.random.Generator, eigvals_in_kind: str, use_bias: bool
) -> dict[str, np.ndarray]:
    if eigvals_in_kind == "ones":
        eigvals_in = np.ones(N_IN)
    elif eigvals_in_kind == "constant":
        eigvals_in = np.full(N_IN, rng.uniform(-2, 2))
    else:
        eigvals_in = rng.uniform(-2, 2, N_IN)
    weights = {
        "phi": rng.uniform(-1, 1, (N_IN, N_OUT)),
        "eigvals_in": eigvals_in,
        "eigvals_out": rng.uniform(-2, 2, N_OUT),
    }
    if use_bias:
        weights["bias"] = rng.uniform(-1, 1, N_OUT)
    return weights


def make_layer(
    flags: tuple[bool, ...], activation: str, weights: dict[str, np.ndarray]
) -> SpectralDense:
    trainable = dict(zip(FLAG_NAMES, flags, strict=True))
    layer = SpectralDense(
        N_OUT,
        activation=activation,
        use_bias="bias" in weights,
        phi_trainable=trainable["phi"],
        eigvals_in_trainable=trainable["eigvals_in"],
        eigvals_out_trainable=trainable["eigvals_out"],
        bias_trainable=trainable["bias"],
    )
    layer.build((None, N_IN))
    for name, value in weights.items():
        getattr(layer, name).assign(value.astype("float32"))
    return layer


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


CASES = [
    (index, flags, kind, use_bias, ACTIVATIONS[index % len(ACTIVATIONS)])
    for index, (flags, kind, use_bias) in enumerate(
        itertools.product(FLAG_SETS, EIGVALS_IN_KINDS, (False, True))
    )
]


@pytest.mark.parametrize(("seed", "flags", "eigvals_in_kind", "use_bias", "activation"), CASES)
def test_output_equals_square_operator_reference(
    seed, flags, eigvals_in_kind, use_bias, activation
):
    rng = np.random.default_rng(seed)
    weights = random_weights(rng, eigvals_in_kind, use_bias)
    layer = make_layer(flags, activation, weights)
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    expected = reference_output(
        {k: v.astype("float32").astype(np.float64) for k, v in weights.items()}, x, activation
    )

    eager = keras.ops.convert_to_numpy(layer(x.astype("float32")))
    graph = tf.function(layer)(tf.constant(x, tf.float32)).numpy()

    assert relative_error(eager, expected) < 1e-5
    assert relative_error(graph, expected) < 1e-5
    # The float64 numpy view used by plots and retraction is the same linear map.
    kernel, bias = layer.effective_weights()
    assert relative_error(numpy_activation(activation, x @ kernel + bias), expected) < 1e-6


def test_the_reference_itself_is_the_papers_operator():
    """Guard the guard: the operator equals Φ Λ Φ⁻¹ and its lower block is φᵀ-weighted."""
    rng = np.random.default_rng(5)
    phi, eig_in, eig_out = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=2)
    operator = square_operator(phi, eig_in, eig_out)
    big_phi = np.eye(5)
    big_phi[3:, :3] = phi.T
    np.testing.assert_allclose(
        operator, big_phi @ np.diag(np.r_[eig_in, eig_out]) @ np.linalg.inv(big_phi), atol=1e-12
    )
    # W[j, i] = φ[j, i] (λ_in[j] − λ_out[i]) is what the lower-left block says, transposed.
    np.testing.assert_allclose(
        operator[3:, :3].T, phi * (eig_in[:, None] - eig_out[None, :]), atol=1e-12
    )


def finite_difference_gradient(
    loss, weights: dict[str, np.ndarray], name: str, step: float = 1e-6
) -> np.ndarray:
    gradient = np.zeros_like(weights[name])
    for index in np.ndindex(weights[name].shape):
        plus = {k: v.copy() for k, v in weights.items()}
        minus = {k: v.copy() for k, v in weights.items()}
        plus[name][index] += step
        minus[name][index] -= step
        gradient[index] = (loss(plus) - loss(minus)) / (2 * step)
    return gradient


GRADIENT_CASES = [
    (flags, kind, activation)
    for flags in FLAG_SETS
    if any(flags)
    for kind, activation in (("ones", "tanh"), ("random", "linear"))
]


@pytest.mark.parametrize(("flags", "eigvals_in_kind", "activation"), GRADIENT_CASES)
def test_gradients_match_float64_finite_differences(flags, eigvals_in_kind, activation):
    rng = np.random.default_rng(11)
    weights = {
        k: v.astype("float32").astype(np.float64)
        for k, v in random_weights(rng, eigvals_in_kind, use_bias=True).items()
    }
    layer = make_layer(flags, activation, weights)
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = rng.normal(size=(BATCH, N_OUT))

    def reference_loss(values: dict[str, np.ndarray]) -> float:
        return float(np.sum(upstream * reference_output(values, x, activation)))

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.constant(upstream, tf.float32) * layer(tf.constant(x, tf.float32)))
    trained = layer.trainable_weights
    expected_names = {name for name, flag in zip(FLAG_NAMES, flags, strict=True) if flag}
    assert {weight.name for weight in trained} == expected_names
    gradients = tape.gradient(loss, trained)
    for weight, gradient in zip(trained, gradients, strict=True):
        reference = finite_difference_gradient(reference_loss, weights, weight.name)
        assert gradient is not None, weight.name
        assert relative_error(np.asarray(gradient, dtype=np.float64), reference) < 1e-4, weight.name


def test_config_round_trip_rebuilds_the_same_layer():
    rng = np.random.default_rng(3)
    weights = random_weights(rng, "random", use_bias=True)
    layer = make_layer((True, False, True, False), "tanh", weights)
    clone = SpectralDense.from_config(layer.get_config())
    clone.build((None, N_IN))
    clone.set_weights(layer.get_weights())
    x = rng.uniform(size=(3, N_IN)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(layer(x))
    )
    assert [w.trainable for w in clone.weights] == [w.trainable for w in layer.weights]


def test_masked_dense_kernel_and_mask():
    layer = MaskedDense(4, trainable_count=6, mask_seed=9, use_bias=True)
    layer.build((None, 5))
    kernel, bias = effective_weights(layer)
    mask = layer.trainable_mask
    assert mask.sum() == 6 and mask.shape == (5, 4)
    frozen = keras.ops.convert_to_numpy(layer.frozen_kernel)
    # Trainable entries start where the full random kernel had them: no visible seam.
    np.testing.assert_array_equal(kernel, frozen.astype(np.float64))
    layer.trainable_values.assign(np.arange(6, dtype="float32") + 10)
    kernel, _ = effective_weights(layer)
    np.testing.assert_array_equal(kernel[mask], np.arange(6) + 10)
    np.testing.assert_array_equal(kernel[~mask], frozen[~mask])
    x = np.random.default_rng(0).uniform(size=(3, 5))
    expected = x @ kernel + bias
    assert relative_error(keras.ops.convert_to_numpy(layer(x.astype("float32"))), expected) < 1e-6


@pytest.mark.parametrize("count", [-1, 21])
def test_masked_dense_refuses_impossible_counts(count):
    layer = MaskedDense(4, trainable_count=count)
    with pytest.raises(ValueError, match="trainable_count"):
        layer.build((None, 5))
