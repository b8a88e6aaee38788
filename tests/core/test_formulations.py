"""Every formulation SpectralDense and MaskedDense pick computes the same function and gradients.

The reference is float64 numpy: the kernel W[j, i] = φ[j, i] (λ_in[j] − λ_out[i]) and the chain
rule written out by hand (∂W/∂φ, ∂W/∂λ_in, ∂W/∂λ_out), itself checked against finite differences
below. The layer must match it whatever formulation its trainable set selects, including the
custom gradient of the formed kernel and the non-uniform frozen λ_in branch.
"""

from __future__ import annotations

import itertools
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from spectral_core.layers import MaskedDense, SpectralDense

N_IN, N_OUT, BATCH = 9, 6, 5
FLAGS = ("phi", "eigvals_in", "eigvals_out", "bias")
EIGVALS_IN_KINDS = ("ones", "constant", "non-uniform")
CASES = [
    (seed, flags, kind, ("linear", "tanh")[seed % 2])
    for seed, (flags, kind) in enumerate(
        itertools.product(itertools.product((False, True), repeat=4), EIGVALS_IN_KINDS)
    )
]


def activation_and_slope(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if name == "linear":
        return z, np.ones_like(z)
    value = np.tanh(z)
    return value, 1.0 - value**2


def reference(
    weights: dict[str, np.ndarray], x: np.ndarray, upstream: np.ndarray, activation: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output and the gradients of sum(upstream ⊙ output), all float64."""
    phi, eig_in, eig_out = weights["phi"], weights["eigvals_in"], weights["eigvals_out"]
    gap = eig_in[:, None] - eig_out[None, :]
    kernel = phi * gap
    z = x @ kernel + weights.get("bias", 0.0)
    y, slope = activation_and_slope(activation, z)
    dz = upstream * slope
    dkernel = x.T @ dz
    grads = {
        "inputs": dz @ kernel.T,
        "phi": dkernel * gap,
        "eigvals_in": np.sum(dkernel * phi, axis=1),
        "eigvals_out": -np.sum(dkernel * phi, axis=0),
        "bias": dz.sum(axis=0),
    }
    return y, grads


def random_weights(rng: np.random.Generator, kind: str) -> dict[str, np.ndarray]:
    eig_in = {
        "ones": np.ones(N_IN),
        "constant": np.full(N_IN, rng.uniform(0.5, 2.0)),
        "non-uniform": rng.uniform(-2.0, 2.0, N_IN),
    }[kind]
    weights = {
        "phi": rng.uniform(-1, 1, (N_IN, N_OUT)),
        "eigvals_in": eig_in,
        "eigvals_out": rng.uniform(-1, 1, N_OUT),
        "bias": rng.uniform(-1, 1, N_OUT),
    }
    # The layer holds float32: the reference starts from exactly the same numbers.
    return {name: value.astype(np.float32).astype(np.float64) for name, value in weights.items()}


def spectral_layer(flags: tuple[bool, ...], activation: str, weights: dict) -> SpectralDense:
    trainable = dict(zip(FLAGS, flags, strict=True))
    layer = SpectralDense(
        N_OUT,
        activation=activation,
        use_bias=True,
        phi_trainable=trainable["phi"],
        eigvals_in_trainable=trainable["eigvals_in"],
        eigvals_out_trainable=trainable["eigvals_out"],
        bias_trainable=trainable["bias"],
    )
    layer.build((None, N_IN))
    for name, value in weights.items():
        getattr(layer, name).assign(value.astype(np.float32))
    return layer


def relative_error(actual, expected) -> float:
    actual = np.asarray(actual, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))


def layer_gradients(layer, x: np.ndarray, upstream: np.ndarray, compiled: bool):
    inputs = tf.constant(x, tf.float32)
    weights = layer.trainable_weights

    def run(inputs):
        with tf.GradientTape() as tape:
            # Explicit watches: a variable made trainable after creation is not auto-watched.
            tape.watch([inputs, *(weight.value for weight in weights)])
            outputs = layer(inputs)
            loss = tf.reduce_sum(tf.constant(upstream, tf.float32) * outputs)
        return outputs, tape.gradient(loss, [inputs, *weights])

    outputs, grads = (tf.function(run) if compiled else run)(inputs)
    return outputs.numpy(), dict(zip(["inputs", *(w.name for w in weights)], grads, strict=True))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize(("seed", "flags", "eigvals_in_kind", "activation"), CASES)
def test_every_trainable_set_matches_the_float64_reference(
    seed, flags, eigvals_in_kind, activation, compiled
):
    rng = np.random.default_rng(seed)
    weights = random_weights(rng, eigvals_in_kind)
    layer = spectral_layer(flags, activation, weights)
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = rng.normal(size=(BATCH, N_OUT))
    expected_y, expected_grads = reference(weights, x, upstream, activation)

    y, grads = layer_gradients(layer, x, upstream, compiled)

    assert relative_error(y, expected_y) < 2e-6
    trained = {name for name, flag in zip(FLAGS, flags, strict=True) if flag}
    assert set(grads) == {"inputs", *trained}
    for name, gradient in grads.items():
        assert gradient is not None, name
        assert relative_error(gradient, expected_grads[name]) < 1e-5, name


@pytest.mark.parametrize(
    ("phi", "eigvals_in", "expected"),
    [
        (False, False, "scaled-projection"),
        (False, True, "formed-kernel"),
        (True, False, "scaled-projection"),
        (True, True, "formed-kernel"),
    ],
)
def test_the_layer_picks_the_formulation_from_its_trainable_set(phi, eigvals_in, expected):
    layer = SpectralDense(3, phi_trainable=phi, eigvals_in_trainable=eigvals_in)
    layer.build((None, 4))
    assert layer.formulation == expected


def compiled_products(flags: tuple[bool, ...]) -> list[str]:
    """Output shapes of the matrix products left in a training gradient after XLA's
    dead-code elimination: what actually runs, both cond branches included."""
    layer = spectral_layer(flags, "linear", random_weights(np.random.default_rng(0), "ones"))
    x = tf.constant(np.ones((BATCH, N_IN)), tf.float32)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, layer.trainable_weights)

    hlo = step.experimental_get_compiler_ir(x)(stage="optimized_hlo")
    return re.findall(r"= f32\[([0-9,]+)\]\S* dot\(", hlo)


WEIGHT_SHAPE = f"{N_IN},{N_OUT}"


def test_training_only_eigvals_out_needs_no_weight_gradient_matmul():
    """φ and λ_in frozen: no (N_in × N_out) product, i.e. no xᵀ ∂y, is left to run."""
    products = compiled_products((False, False, True, False))
    assert f"{BATCH},{N_OUT}" in products, "the forward product is missing"
    assert WEIGHT_SHAPE not in products


def test_training_phi_needs_the_weight_gradient_matmul():
    """The check above can fail: with φ trained the xᵀ ∂y product is there."""
    assert WEIGHT_SHAPE in compiled_products((True, False, True, False))


def test_changing_frozen_eigvals_in_after_tracing_switches_branch():
    """The uniform check runs in the graph: assigning a non-uniform λ_in later stays exact."""
    rng = np.random.default_rng(4)
    weights = random_weights(rng, "ones")
    layer = spectral_layer((False, False, True, True), "linear", weights)
    forward = tf.function(layer)
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = np.zeros((BATCH, N_OUT))
    np.testing.assert_allclose(
        forward(tf.constant(x, tf.float32)).numpy(), reference(weights, x, upstream, "linear")[0],
        rtol=1e-5, atol=1e-6,
    )
    weights["eigvals_in"] = rng.uniform(-2, 2, N_IN).astype(np.float32).astype(np.float64)
    layer.eigvals_in.assign(weights["eigvals_in"].astype(np.float32))
    np.testing.assert_allclose(
        forward(tf.constant(x, tf.float32)).numpy(), reference(weights, x, upstream, "linear")[0],
        rtol=1e-5, atol=1e-6,
    )


def test_toggling_a_variable_trainable_changes_formulation_and_gradients():
    rng = np.random.default_rng(5)
    weights = random_weights(rng, "non-uniform")
    layer = spectral_layer((False, False, True, False), "tanh", weights)
    assert layer.formulation == "scaled-projection"
    layer.eigvals_in.trainable = True
    assert layer.formulation == "formed-kernel"
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = rng.normal(size=(BATCH, N_OUT))
    _, expected = reference(weights, x, upstream, "tanh")
    _, grads = layer_gradients(layer, x, upstream, compiled=True)
    assert relative_error(grads["eigvals_in"], expected["eigvals_in"]) < 1e-5


def test_inputs_with_extra_axes_are_handled_per_row():
    rng = np.random.default_rng(6)
    weights = random_weights(rng, "non-uniform")
    for flags in ((True, True, True, True), (False, False, True, True)):
        layer = spectral_layer(flags, "linear", weights)
        x = rng.uniform(-1, 1, (2, 3, N_IN))
        y = keras.ops.convert_to_numpy(layer(x.astype(np.float32)))
        expected = reference(weights, x.reshape(-1, N_IN), np.zeros((6, N_OUT)), "linear")[0]
        assert y.shape == (2, 3, N_OUT)
        assert relative_error(y.reshape(-1, N_OUT), expected) < 2e-6


def test_reference_gradients_match_finite_differences():
    """Guard the guard: the hand-written float64 chain rule is the derivative of the function."""
    rng = np.random.default_rng(7)
    weights = random_weights(rng, "non-uniform")
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = rng.normal(size=(BATCH, N_OUT))
    _, grads = reference(weights, x, upstream, "tanh")
    values = dict(weights, inputs=x)

    def loss(values: dict[str, np.ndarray]) -> float:
        rest = {k: v for k, v in values.items() if k != "inputs"}
        return float(np.sum(upstream * reference(rest, values["inputs"], upstream, "tanh")[0]))

    step = 1e-6
    for name, gradient in grads.items():
        numeric = np.zeros_like(values[name])
        for index in np.ndindex(values[name].shape):
            plus = {k: v.copy() for k, v in values.items()}
            minus = {k: v.copy() for k, v in values.items()}
            plus[name][index] += step
            minus[name][index] -= step
            numeric[index] = (loss(plus) - loss(minus)) / (2 * step)
        assert relative_error(gradient, numeric) < 1e-7, name


# -- MaskedDense: x K₀ plus a sparse correction ----------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 7, N_IN * N_OUT])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
def test_masked_dense_matches_the_float64_reference(count, compiled):
    rng = np.random.default_rng(count)
    layer = MaskedDense(N_OUT, trainable_count=count, mask_seed=3, activation="tanh", use_bias=True)
    layer.build((None, N_IN))
    if count:
        layer.trainable_values.assign(rng.uniform(-2, 2, count).astype(np.float32))
    layer.bias.assign(rng.uniform(-1, 1, N_OUT).astype(np.float32))
    kernel = np.array(keras.ops.convert_to_numpy(layer.frozen_kernel), dtype=np.float64)
    mask = layer.trainable_mask
    kernel[mask] = np.asarray(keras.ops.convert_to_numpy(layer.trainable_values), np.float64)
    bias = np.asarray(keras.ops.convert_to_numpy(layer.bias), np.float64)
    x = rng.uniform(-1, 1, (BATCH, N_IN))
    upstream = rng.normal(size=(BATCH, N_OUT))
    y_expected = np.tanh(x @ kernel + bias)
    dz = upstream * (1 - y_expected**2)
    expected = {
        "inputs": dz @ kernel.T,
        "trainable_values": (x.T @ dz)[mask],  # row-major order, like the sorted flat indices
        "bias": dz.sum(axis=0),
    }

    y, grads = layer_gradients(layer, x, upstream, compiled)

    assert relative_error(y, y_expected) < 2e-6
    assert set(grads) == {"inputs", "trainable_values", "bias"}
    # A trained value's gradient is a batch sum of x·dz terms that can cancel: float32 rounds
    # relative to the terms' size, not to the (possibly tiny) sum.
    terms = np.linalg.norm((np.abs(x).T @ np.abs(dz))[mask])
    for name, gradient in grads.items():
        if name == "trainable_values":
            if count:
                error = np.linalg.norm(np.asarray(gradient, np.float64) - expected[name])
                assert error < 1e-5 * terms, name
            continue
        assert relative_error(gradient, expected[name]) < 1e-5, name


def test_masked_dense_training_never_moves_frozen_entries():
    rng = np.random.default_rng(8)
    model = keras.Sequential(
        [keras.Input((N_IN,)), MaskedDense(N_OUT, trainable_count=10, mask_seed=1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse", jit_compile=True)
    layer = model.layers[-1]
    before = layer.effective_weights()[0]
    model.fit(
        rng.uniform(size=(40, N_IN)), rng.uniform(size=(40, N_OUT)), epochs=3, verbose=0
    )
    after = layer.effective_weights()[0]
    mask = layer.trainable_mask
    np.testing.assert_array_equal(after[~mask], before[~mask])
    assert np.all(after[mask] != before[mask])


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("regime", ["lambda", "lambda-phi", "direct-subset"])
def test_a_compiled_training_step_uses_the_same_gradients(regime, jit_compile):
    """Keras's compiled step (graph or XLA) moves each weight by −lr × the eager gradient,
    which the tests above pin to the float64 reference."""
    from spectral_core.architecture import Architecture, LayerSpec
    from spectral_core.build import build_model

    architecture = Architecture(
        "two layers", 12, (LayerSpec(8, "linear", True), LayerSpec(4, "softmax")), True
    )
    model = build_model(architecture, regime, seed=2, compile=False)
    rate = 0.5
    model.compile(
        optimizer=keras.optimizers.SGD(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(9)
    x = rng.uniform(size=(10, 12)).astype(np.float32)
    labels = rng.integers(0, 4, 10)
    before = {w.path: np.array(w.numpy(), np.float64) for w in model.trainable_weights}

    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(labels, model(x))
    variables = model.trainable_weights
    expected = {
        w.path: before[w.path] - rate * np.asarray(g, np.float64)
        for w, g in zip(variables, tape.gradient(loss, variables), strict=True)
    }
    model.train_on_batch(x, labels)
    for weight in model.trainable_weights:
        np.testing.assert_allclose(weight.numpy(), expected[weight.path], rtol=1e-4, atol=1e-6)
