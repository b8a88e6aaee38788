"""Spectral pruning: rankings, keep masks, exact node removal against a float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spectral_core.architecture import Architecture, LayerSpec  # noqa: E402
from spectral_core.build import build_model  # noqa: E402
from spectral_core.export import load_model, save_model  # noqa: E402
from spectral_core.layers import MaskedDense, SpectralDense, dense_layers  # noqa: E402
from spectral_core.pruning import (  # noqa: E402
    PruningError,
    architecture_of,
    available_rankings,
    connectivity_scores,
    eigenvalue_gain_scores,
    eigenvalue_scores,
    keep_masks,
    masked_model,
    model_outputs,
    node_scores,
    plot_curve,
    prune,
    prune_curve,
    score_thresholds,
    spectrum_view,
)

PLAIN = Architecture("plain", 64, (LayerSpec(12, "tanh"), LayerSpec(9, "relu"), LayerSpec(5, "softmax")))
TELESCOPIC = Architecture(
    "telescopic",
    64,
    (
        LayerSpec(12, "linear", telescopic=True),
        LayerSpec(9, "tanh"),
        LayerSpec(7, "linear", telescopic=True),
        LayerSpec(5, "softmax"),
    ),
)
REGIMES = ("lambda", "lambda-phi", "direct-subset", "direct-full")


# -- independent float64 reference ------------------------------------------------------------
def _kernel_and_bias(layer: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray]:
    """Direct-space kernel from the raw variables, in float64 (not via the library's helper)."""
    def read(variable) -> np.ndarray:
        return np.asarray(variable.numpy(), dtype=np.float64)

    bias = read(layer.bias) if layer.bias is not None else np.zeros(layer.units)
    if isinstance(layer, SpectralDense):
        phi, eig_in, eig_out = read(layer.phi), read(layer.eigvals_in), read(layer.eigvals_out)
        return phi * (eig_in[:, None] - eig_out[None, :]), bias
    if isinstance(layer, MaskedDense):
        kernel = read(layer.frozen_kernel).reshape(-1)
        kernel[np.flatnonzero(layer.trainable_mask.reshape(-1))] = read(layer.trainable_values)
        return kernel.reshape(layer.frozen_kernel.shape), bias
    return read(layer.kernel), bias


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise AssertionError(name)


def reference_forward(model: keras.Model, x: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """The masked original in float64: each masked node's output (after activation) is zero."""
    h = x.astype(np.float64)
    for index, layer in enumerate(dense_layers(model)):
        kernel, bias = _kernel_and_bias(layer)
        h = _activate(layer.activation.__name__, h @ kernel + bias)
        if index < len(masks):
            h = h * masks[index]
    return h


def randomized(architecture: Architecture, regime: str, seed: int = 0) -> keras.Model:
    """A model whose eigenvalues are all non-trivial, λ_in included (as after training them)."""
    model = build_model(architecture, regime, seed=seed, compile=True)
    rng = np.random.default_rng(seed + 100)
    for layer in dense_layers(model):
        if isinstance(layer, SpectralDense):
            layer.eigvals_in.assign(rng.uniform(-1.5, 1.5, layer.eigvals_in.shape).astype("float32"))
            layer.eigvals_out.assign(rng.uniform(-1.5, 1.5, layer.eigvals_out.shape).astype("float32"))
        elif layer.bias is not None:  # Dense starts with zero biases: make cutting them matter
            layer.bias.assign(rng.uniform(-1, 1, layer.bias.shape).astype("float32"))
    return model


def random_masks(model: keras.Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for layer in dense_layers(model)[:-1]:
        mask = rng.random(layer.units) < 0.55
        mask[rng.integers(layer.units)] = True
        mask[rng.integers(layer.units)] = False if mask.sum() > 1 else True
        masks.append(mask)
    return masks


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(7).random((64, 64)).astype("float32")


# -- pruned == masked original ------------------------------------------------------------------
@pytest.mark.parametrize("architecture", [PLAIN, TELESCOPIC], ids=["plain", "telescopic"])
@pytest.mark.parametrize("regime", REGIMES)
def test_pruned_network_computes_the_masked_original(architecture, regime, inputs):
    model = randomized(architecture, regime)
    masks = random_masks(model, seed=3)
    pruned, smaller = prune(model, architecture, masks)
    reference = reference_forward(model, inputs, masks)

    pruned_out = model_outputs(pruned, inputs)
    masked_out = model_outputs(masked_model(model, masks), inputs)
    np.testing.assert_allclose(pruned_out, reference, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(masked_out, reference, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(pruned_out, masked_out, rtol=1e-4, atol=2e-5)
    # The masks matter: the unmasked original computes something else.
    original = model_outputs(model, inputs)
    assert np.max(np.abs(original - reference)) > 1e-3
    assert smaller.widths == [64, *(int(m.sum()) for m in masks), architecture.output_units]
    if architecture.has_telescopic():
        from spectral_core.retraction import retract
        from spectral_core.runs import telescopic_flags

        compact = retract(pruned, telescopic_flags(smaller))
        np.testing.assert_allclose(model_outputs(compact, inputs), reference, rtol=1e-4, atol=2e-5)
    assert [layer.telescopic for layer in smaller.layers] == [
        layer.telescopic for layer in architecture.layers
    ]


def test_spectral_layer_with_bias_and_trained_input_eigenvalues(inputs):
    """Bias, λ_in and φ of both the layer and the next one are cut consistently."""
    rng = np.random.default_rng(5)
    x_in = keras.Input(shape=(64,))
    layers = [
        SpectralDense(10, activation="sigmoid", use_bias=True, eigvals_in_trainable=True),
        SpectralDense(8, activation="tanh", use_bias=True, phi_trainable=False),
        SpectralDense(4, activation="linear", use_bias=True),
    ]
    h = x_in
    for layer in layers:
        h = layer(h)
    model = keras.Model(x_in, h)
    for layer in layers:
        for variable in layer.weights:
            variable.assign(rng.uniform(-1, 1, variable.shape).astype("float32"))
    architecture = architecture_of(model)
    assert architecture.train_input_eigenvalues
    masks = [np.array([1, 0, 1, 1, 0, 0, 1, 1, 0, 1], bool), np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)]
    pruned, _ = prune(model, architecture, masks)
    np.testing.assert_allclose(
        model_outputs(pruned, inputs), reference_forward(model, inputs, masks), rtol=1e-4, atol=2e-5
    )
    cut = dense_layers(pruned)
    np.testing.assert_array_equal(cut[1].eigvals_in.numpy(), layers[1].eigvals_in.numpy()[masks[0]])
    np.testing.assert_array_equal(cut[0].bias.numpy(), layers[0].bias.numpy()[masks[0]])
    np.testing.assert_array_equal(
        cut[1].phi.numpy(), layers[1].phi.numpy()[np.ix_(masks[0], masks[1])]
    )


@pytest.mark.parametrize("regime", REGIMES)
def test_pruned_model_keeps_layer_kinds_flags_and_round_trips(regime, inputs, tmp_path):
    architecture = Architecture("flags", 64, PLAIN.layers, train_input_eigenvalues=True)
    model = randomized(architecture, regime)
    masks = random_masks(model, seed=11)
    pruned, smaller = prune(model, architecture, masks)
    for before, after in zip(dense_layers(model), dense_layers(pruned), strict=True):
        if isinstance(before, SpectralDense):
            assert isinstance(after, SpectralDense)
            for name in ("phi", "eigvals_in", "eigvals_out"):
                assert getattr(after, name).trainable == getattr(before, name).trainable
            assert after.telescopic == before.telescopic
        else:
            # MaskedDense cannot carry its seeded subset through a cut: it becomes a Dense.
            assert type(after) is keras.layers.Dense
    assert pruned.compiled and type(pruned.optimizer) is type(model.optimizer)
    assert pruned.optimizer is not model.optimizer
    assert pruned.count_params() < model.count_params()

    path = save_model(pruned, tmp_path / "pruned.keras")
    loaded = load_model(path, compile=False)
    np.testing.assert_array_equal(model_outputs(loaded, inputs), model_outputs(pruned, inputs))
    assert architecture_of(loaded).widths == smaller.widths


def test_pruned_spectral_model_still_trains(small_digits):
    architecture = Architecture("train", 64, (LayerSpec(16, "tanh"), LayerSpec(10, "softmax")))
    model = build_model(architecture, "lambda", seed=0)
    masks = [np.arange(16) % 2 == 0]
    pruned, _ = prune(model, architecture, masks)
    phi_before = dense_layers(pruned)[0].phi.numpy().copy()
    eig_before = dense_layers(pruned)[0].eigvals_out.numpy().copy()
    pruned.fit(small_digits.x_train, small_digits.y_train, epochs=1, batch_size=100, verbose=0)
    np.testing.assert_array_equal(dense_layers(pruned)[0].phi.numpy(), phi_before)
    assert not np.allclose(dense_layers(pruned)[0].eigvals_out.numpy(), eig_before)


# -- scores ----------------------------------------------------------------------------------------
def test_scores_match_their_definitions():
    model = randomized(TELESCOPIC, "lambda-phi", seed=4)
    hidden = dense_layers(model)[:-1]
    for layer, eig, gain, conn in zip(
        hidden,
        eigenvalue_scores(model),
        eigenvalue_gain_scores(model),
        connectivity_scores(model),
        strict=True,
    ):
        phi, eig_in, eig_out = (
            np.asarray(v.numpy(), np.float64) for v in (layer.phi, layer.eigvals_in, layer.eigvals_out)
        )
        np.testing.assert_allclose(eig, np.abs(eig_out), rtol=1e-12)
        differences = eig_in[:, None] - eig_out[None, :]
        np.testing.assert_allclose(gain, np.sqrt(np.mean(differences**2, axis=0)), rtol=1e-9)
        total = np.array(
            [sum(abs(phi[j, i] * differences[j, i]) for j in range(phi.shape[0])) for i in range(phi.shape[1])]
        )
        np.testing.assert_allclose(conn, total, rtol=1e-9)


def test_gain_is_distance_from_uniform_input_eigenvalue():
    model = build_model(PLAIN, "lambda", seed=2)
    for layer, gain in zip(dense_layers(model)[:-1], eigenvalue_gain_scores(model), strict=True):
        np.testing.assert_allclose(gain, np.abs(1 - layer.eigvals_out.numpy().astype(np.float64)), rtol=1e-6)


def test_eigenvalue_rankings_refuse_direct_models():
    model = build_model(PLAIN, "direct-full", seed=0)
    assert available_rankings(model) == ("connectivity",)
    for ranking in ("eigenvalue", "eigenvalue-gain"):
        with pytest.raises(PruningError, match="connectivity"):
            node_scores(model, ranking)
    with pytest.raises(PruningError, match="ranking: must be one of"):
        node_scores(model, "random")


# -- keep masks ---------------------------------------------------------------------------------
def test_per_layer_prunes_the_lowest_of_each_layer():
    rng = np.random.default_rng(0)
    scores = [rng.random(10), rng.random(7)]
    masks = keep_masks(scores, 50, "per-layer")
    assert [int((~m).sum()) for m in masks] == [5, 3]
    for score, mask in zip(scores, masks, strict=True):
        assert score[~mask].max() < score[mask].min()


def test_global_prunes_the_lowest_overall():
    rng = np.random.default_rng(1)
    scores = [rng.random(20), rng.random(13) * 0.5]
    masks = keep_masks(scores, 30, "global")
    removed = np.concatenate([s[~m] for s, m in zip(scores, masks, strict=True)])
    kept = np.concatenate([s[m] for s, m in zip(scores, masks, strict=True)])
    assert removed.size == 9  # ⌊0.3 · 33⌋
    assert removed.max() < kept.min()
    thresholds = score_thresholds(scores, masks)
    assert max(thresholds) == pytest.approx(removed.max())


def test_a_layer_always_keeps_its_best_node():
    scores = [np.array([0.1, 0.2, 0.3]), np.array([5.0, 6.0, 7.0, 8.0])]
    masks = keep_masks(scores, 100, "global")
    assert [m.tolist() for m in masks] == [[False, False, True], [False, False, False, True]]
    # 5 of 7 requested at 80 %: layer 0 cannot give its third node, so the next-lowest goes.
    masks = keep_masks(scores, 80, "global")
    assert [m.tolist() for m in masks] == [[False, False, True], [False, False, False, True]]
    masks = keep_masks(scores, 100, "per-layer")
    assert [int(m.sum()) for m in masks] == [1, 1]
    assert [m.all() for m in keep_masks(scores, 0, "global")] == [True, True]


def test_ties_are_broken_by_position_so_counts_are_exact():
    scores = [np.zeros(10), np.zeros(10)]
    masks = keep_masks(scores, 25, "global")
    assert sum(int((~m).sum()) for m in masks) == 5
    assert masks[0][:5].tolist() == [False] * 5


@pytest.mark.parametrize("percentile", [-1, 100.5, "50", True, float("nan")])
def test_bad_percentile_is_refused(percentile):
    with pytest.raises(PruningError, match="percentile: must be a number from 0 to 100"):
        keep_masks([np.ones(4)], percentile)


def test_bad_scope_scores_and_masks_are_refused():
    with pytest.raises(PruningError, match="scope: must be one of global, per-layer"):
        keep_masks([np.ones(4)], 10, "layer")
    with pytest.raises(PruningError, match="NaN"):
        keep_masks([np.array([1.0, np.nan])], 10)
    model = build_model(PLAIN, "lambda", seed=0)
    with pytest.raises(PruningError, match="expected 2 masks"):
        prune(model, PLAIN, [np.ones(12, bool)])
    with pytest.raises(PruningError, match=r"keep_masks\[1\]: must be a boolean array of 9"):
        prune(model, PLAIN, [np.ones(12, bool), np.ones(8, bool)])
    with pytest.raises(PruningError, match=r"keep_masks\[0\]: keeps no node"):
        prune(model, PLAIN, [np.zeros(12, bool), np.ones(9, bool)])
    with pytest.raises(PruningError, match="architecture: widths"):
        prune(model, TELESCOPIC, [np.ones(12, bool), np.ones(9, bool)])


def test_architecture_of_reads_widths_activations_and_telescopic_flags():
    model = build_model(TELESCOPIC, "lambda", seed=0)
    read = architecture_of(model)
    assert read.layers == TELESCOPIC.layers and read.input_units == 64


# -- curves -----------------------------------------------------------------------------------------
def test_curve_uses_the_same_node_counts_for_every_ranking(tmp_path):
    model = randomized(PLAIN, "lambda", seed=9)
    rng = np.random.default_rng(9)
    x = rng.random((50, 64)).astype("float32")
    y = rng.integers(0, 5, 50)
    curve = prune_curve(model, PLAIN, x, y, [0, 50, 90], scope="per-layer")
    assert list(curve.accuracies) == ["eigenvalue", "eigenvalue-gain", "connectivity"]
    assert curve.nodes_removed == [0, 6 + 4, 10 + 8]
    assert curve.fractions == pytest.approx([0, 10 / 21, 18 / 21])
    full = float(np.mean(np.argmax(model_outputs(model, x), 1) == y))
    assert all(values[0] == pytest.approx(full) for values in curve.accuracies.values())
    lines = curve.to_csv().splitlines()
    assert lines[0] == (
        "percentile,fraction_removed,nodes_removed,accuracy_eigenvalue,"
        "accuracy_eigenvalue-gain,accuracy_connectivity"
    )
    assert len(lines) == 4 and lines[2].startswith("50,0.476190,10,")
    plot_curve(curve, tmp_path / "curve.png", title="test")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_lambda():
    """A small spectral network that really learned (about 0.85 test accuracy)."""
    from spectral_core.config import TrainingConfig
    from spectral_core.data import synthetic_digits
    from spectral_core.runs import run_training

    data = synthetic_digits(1000, 400, seed=3)
    architecture = Architecture("mono", 784, (LayerSpec(128, "tanh"), LayerSpec(10, "softmax")))
    config = TrainingConfig(epochs=8, batch_size=50, learning_rate=0.1, validation_fraction=0)
    outcome = run_training(architecture, "lambda", data, config)
    return outcome.model, architecture, data


def test_accuracy_falls_as_more_nodes_are_removed(trained_lambda):
    model, architecture, data = trained_lambda
    points = [0, 20, 40, 60, 80, 95]
    curve = prune_curve(
        model, architecture, data.x_test, data.y_test, points, rankings=["eigenvalue-gain"]
    )
    values = curve.accuracies["eigenvalue-gain"]
    assert values[0] > 0.7, "the fixture network did not learn"
    # Never better than an earlier, smaller pruning beyond sampling noise (400 test images).
    for earlier in range(len(values)):
        for later in range(earlier + 1, len(values)):
            assert values[later] <= values[earlier] + 0.03, (points[later], values)
    assert values[-1] < values[0] - 0.3


def test_ranking_carries_information(trained_lambda):
    """Removing the lowest-ranked nodes hurts far less than removing the highest-ranked ones."""
    model, architecture, data = trained_lambda
    from spectral_core.pruning import accuracy

    for ranking in ("eigenvalue-gain", "connectivity"):
        scores = node_scores(model, ranking)
        for percentile in (40, 60):
            low_first, _ = prune(model, architecture, keep_masks(scores, percentile))
            high_first, _ = prune(model, architecture, keep_masks([-s for s in scores], percentile))
            kept_low = accuracy(low_first, data.x_test, data.y_test)
            kept_high = accuracy(high_first, data.x_test, data.y_test)
            assert kept_low > kept_high + 0.2, (ranking, percentile, kept_low, kept_high)


def test_gain_ranking_is_the_eigenvalue_ranking_of_the_same_network_with_zero_input_eigenvalues(inputs):
    """λ_in = 1 with λ_out equals λ_in = 0 with λ_out − 1 (same W); |λ_out| there is our gain."""
    model = build_model(PLAIN, "lambda", seed=6)
    rng = np.random.default_rng(6)
    for layer in dense_layers(model):
        layer.eigvals_out.assign(rng.uniform(-1, 2, layer.eigvals_out.shape).astype("float32"))
    shifted = build_model(PLAIN, "lambda", seed=6)
    for source, target in zip(dense_layers(model), dense_layers(shifted), strict=True):
        target.phi.assign(source.phi)
        target.eigvals_in.assign(np.zeros(source.eigvals_in.shape, "float32"))
        target.eigvals_out.assign(source.eigvals_out.numpy().astype(np.float64) - 1)
    np.testing.assert_allclose(model_outputs(shifted, inputs), model_outputs(model, inputs), atol=1e-5)
    gain = eigenvalue_gain_scores(model)
    for mine, theirs in zip(gain, eigenvalue_scores(shifted), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    for percentile in (20, 50, 80):
        assert [m.tolist() for m in keep_masks(gain, percentile)] == [
            m.tolist() for m in keep_masks(eigenvalue_scores(shifted), percentile)
        ]


def test_spectrum_view_sorts_and_places_the_threshold():
    scores = [np.array([0.5, 0.1, 0.9]), np.array([0.3, 0.7])]
    masks = keep_masks(scores, 40, "global")  # the two lowest: 0.1 and 0.3
    pooled = spectrum_view(scores, masks, None, "global")
    assert pooled.values.tolist() == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert pooled.kept.tolist() == [False, False, True, True, True]
    assert pooled.threshold == 0.3 and pooled.ranks.tolist() == [0, 1, 2, 3, 4]
    second = spectrum_view(scores, masks, 1, "global")
    assert second.values.tolist() == [0.3, 0.7] and second.threshold == 0.3
    per_layer = keep_masks(scores, 50, "per-layer")
    assert spectrum_view(scores, per_layer, None, "per-layer").threshold == -np.inf
    assert spectrum_view(scores, per_layer, 0, "per-layer").threshold == 0.1
