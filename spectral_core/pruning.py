"""Spectral pruning (issue 7; Buffoni et al., "Spectral pruning of fully connected layers", 2022).

Every hidden node gets a score; the lowest-scoring nodes are removed.

* ``eigenvalue`` ranking (spectral models only): |λ_out[i]| of the layer that produces node i,
  as the issue and Buffoni et al. state it. Their weights read W[j, i] = −φ[j, i] λ_out[i]
  (λ_in = 0), so there |λ_out[i]| is the gain on node i's incoming connections.
* ``eigenvalue-gain`` ranking (spectral models only): the same idea in this project's convention,
  where λ_in defaults to 1: W[j, i] = φ[j, i](λ_in[j] − λ_out[i]), so the eigenvalues scale node i's
  incoming φ column by λ_in − λ_out[i]; the score is its root mean square over j, i.e.
  |1 − λ_out[i]| when λ_in = 1 and |λ_out[i]| when λ_in = 0. With λ_in = 1 a node with λ_out = 1 is
  silent and one with λ_out = 0 passes its input at full strength, which |λ_out| alone cannot see.
  Which ranking holds up depends on the regime (measured on MNIST in docs/REPRODUCTION.md).
  A network with λ_in = 1 and eigenvalues λ_out is the same function as one with λ_in = 0 and
  λ_out − 1, so this ranking is exactly Buffoni et al.'s |λ| ranking of the same trained network.
* ``connectivity`` ranking (the direct-space baseline, any model): Σ_j |W[j, i]|, the summed
  absolute incoming weights of node i, taken from the effective direct-space kernel.

A percentile threshold p prunes the ⌊p/100 · N⌋ lowest-scoring nodes, either among all N hidden
nodes at once (``global``) or within each hidden layer separately (``per-layer``). Ties are
broken by layer order then node index, so the count removed is exact and the same for every
ranking. A layer always keeps at least one node (a layer of width 0 is not a network).

What "pruned" means. The *masked original* is the unchanged network in which the pruned nodes'
outputs (after the activation) are forced to zero. Zeroing a node's outgoing weights is not
enough in the spectral parametrisation: the next layer's kernel W[j, i] = φ[j, i](λ_in[j] − λ_out[i])
keeps a contribution from node j as long as φ[j, :] and λ_in[j] are there. :func:`prune` therefore
removes node j for real: its column of the producing layer (φ, λ_out, bias) and its row of the next
layer (φ, λ_in). The smaller network computes exactly what the masked original computes, which the
tests check against a float64 reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.errors import SpectralLabError
from spectral_core.layers import (
    PACKAGE,
    MaskedDense,
    SpectralDense,
    dense_layers,
    effective_weights,
)

RANKINGS: tuple[str, ...] = ("eigenvalue", "eigenvalue-gain", "connectivity")
SPECTRAL_RANKINGS: tuple[str, ...] = ("eigenvalue", "eigenvalue-gain")
SCOPES: tuple[str, ...] = ("global", "per-layer")
RANKING_LABELS: dict[str, str] = {
    "eigenvalue": "eigenvalue |λ_out|",
    "eigenvalue-gain": "eigenvalue gain |λ_in − λ_out|",
    "connectivity": "connectivity Σ|W_in|",
    "direct-full-connectivity": "direct-full model, connectivity Σ|W_in|",
}


class PruningError(SpectralLabError):
    """Pruning cannot be done as asked; the message names the argument and the allowed values."""


def check_ranking(ranking: str) -> str:
    """Return ``ranking`` if it is one of ``RANKINGS``, else raise :class:`PruningError`."""
    if ranking not in RANKINGS:
        raise PruningError(f"ranking: must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    return ranking


def check_scope(scope: str) -> str:
    """Return ``scope`` if it is one of ``SCOPES``, else raise :class:`PruningError`."""
    if scope not in SCOPES:
        raise PruningError(f"scope: must be one of {', '.join(SCOPES)}, got {scope!r}")
    return scope


def check_percentile(percentile: float) -> float:
    """``percentile`` as a float if it is a number from 0 to 100, else raise :class:`PruningError`."""
    if (
        isinstance(percentile, bool)
        or not isinstance(percentile, (int, float, np.integer, np.floating))
        or not 0 <= float(percentile) <= 100
    ):
        raise PruningError(f"percentile: must be a number from 0 to 100, got {percentile!r}")
    return float(percentile)


# -- scores -----------------------------------------------------------------------------
def hidden_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The dense-like layers whose outputs are hidden nodes (every one but the last)."""
    layers = dense_layers(model)
    if len(layers) < 2:
        raise PruningError(
            f"model: {model.name} has no hidden layer to prune (it has {len(layers)} dense layer)"
        )
    return layers[:-1]


def is_spectral(model: keras.Model) -> bool:
    """True when every hidden layer is a SpectralDense (so eigenvalue ranking applies)."""
    layers = dense_layers(model)[:-1]
    return bool(layers) and all(isinstance(layer, SpectralDense) for layer in layers)


def _spectral_hidden(model: keras.Model, ranking: str) -> list[SpectralDense]:
    layers = hidden_layers(model)
    for layer in layers:
        if not isinstance(layer, SpectralDense):
            raise PruningError(
                f"ranking: {ranking} ranking needs spectral layers, but {layer.name} is a "
                f"{type(layer).__name__}; use ranking connectivity for direct models"
            )
    return layers


def _numpy(variable: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


def eigenvalue_scores(model: keras.Model) -> list[np.ndarray]:
    """|λ_out| of every hidden layer, float64."""
    return [np.abs(_numpy(layer.eigvals_out)) for layer in _spectral_hidden(model, "eigenvalue")]


def eigenvalue_gain_scores(model: keras.Model) -> list[np.ndarray]:
    """RMS over inputs j of (λ_in[j] − λ_out[i]) for every hidden node i, float64."""
    scores = []
    for layer in _spectral_hidden(model, "eigenvalue-gain"):
        eigvals_in, eigvals_out = _numpy(layer.eigvals_in), _numpy(layer.eigvals_out)
        # mean_j (a_j − b)² = mean(a²) − 2 b mean(a) + b², without an (N_in, N_out) temporary.
        squared = np.mean(eigvals_in**2) - 2 * eigvals_out * np.mean(eigvals_in) + eigvals_out**2
        scores.append(np.sqrt(np.maximum(squared, 0.0)))
    return scores


def connectivity_scores(model: keras.Model) -> list[np.ndarray]:
    """Σ_j |W[j, i]| (effective direct-space kernel) of every hidden layer, float64."""
    return [np.abs(effective_weights(layer)[0]).sum(axis=0) for layer in hidden_layers(model)]


def node_scores(model: keras.Model, ranking: str) -> list[np.ndarray]:
    """One score array per hidden layer: a low score means the node goes first."""
    check_ranking(ranking)
    if ranking == "eigenvalue":
        return eigenvalue_scores(model)
    if ranking == "eigenvalue-gain":
        return eigenvalue_gain_scores(model)
    return connectivity_scores(model)


def available_rankings(model: keras.Model) -> tuple[str, ...]:
    """The rankings that apply to ``model``: all for spectral models, connectivity otherwise."""
    return RANKINGS if is_spectral(model) else ("connectivity",)


# -- which nodes to keep ------------------------------------------------------------------
def removal_count(widths: Sequence[int], percentile: float, scope: str) -> list[int]:
    """Nodes removed per hidden layer for ``percentile`` (each layer keeps at least one).

    For ``global`` the per-layer split depends on the scores; this returns the per-layer counts for
    ``per-layer`` and, for ``global``, one total in a single-item list.
    """
    check_scope(scope)
    fraction = check_percentile(percentile) / 100
    if scope == "per-layer":
        return [min(math.floor(fraction * width + 1e-9), width - 1) for width in widths]
    total = sum(widths)
    return [min(math.floor(fraction * total + 1e-9), total - len(widths))]


def keep_masks(scores: Sequence[np.ndarray], percentile: float, scope: str = "global") -> list[np.ndarray]:
    """Boolean keep-mask per hidden layer: the lowest-scoring ``percentile`` % of nodes pruned."""
    arrays = [np.asarray(score, dtype=np.float64).reshape(-1) for score in scores]
    if not arrays or any(array.size == 0 for array in arrays):
        raise PruningError("scores: need one non-empty score array per hidden layer")
    if not all(np.all(np.isfinite(array)) for array in arrays):
        raise PruningError("scores: contain NaN or infinite values (was training diverged?)")
    widths = [array.size for array in arrays]
    counts = removal_count(widths, percentile, scope)
    masks = [np.ones(width, dtype=bool) for width in widths]
    if scope == "per-layer":
        for mask, array, count in zip(masks, arrays, counts, strict=True):
            mask[np.argsort(array, kind="stable")[:count]] = False
        return masks
    # Global: walk every node from the lowest score up, skipping a node that would empty its layer.
    layer_of = np.concatenate([np.full(width, index) for index, width in enumerate(widths)])
    node_of = np.concatenate([np.arange(width) for width in widths])
    order = np.argsort(np.concatenate(arrays), kind="stable")
    left = list(widths)
    to_remove = counts[0]
    for flat in order:
        if to_remove == 0:
            break
        layer, node = int(layer_of[flat]), int(node_of[flat])
        if left[layer] > 1:
            masks[layer][node] = False
            left[layer] -= 1
            to_remove -= 1
    return masks


def score_thresholds(scores: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[float]:
    """Per layer: the highest pruned score (−inf when that layer loses nothing)."""
    values = []
    for score, mask in zip(scores, masks, strict=True):
        pruned = np.asarray(score)[~np.asarray(mask)]
        values.append(float(pruned.max()) if pruned.size else -math.inf)
    return values


@dataclass(frozen=True)
class SpectrumView:
    """Scores sorted ascending for a plot, which of them are kept, and the threshold to draw."""

    values: np.ndarray
    kept: np.ndarray
    threshold: float  # highest pruned score shown; −inf when there is no single threshold

    @property
    def ranks(self) -> np.ndarray:
        """0, 1, … for the x axis of the sorted scores."""
        return np.arange(self.values.size)


def spectrum_view(
    scores: Sequence[np.ndarray], masks: Sequence[np.ndarray], layer: int | None, scope: str
) -> SpectrumView:
    """The sorted scores of hidden layer ``layer`` (None: all hidden layers pooled)."""
    check_scope(scope)
    if layer is None:
        values = np.concatenate([np.asarray(s, dtype=np.float64) for s in scores])
        kept = np.concatenate([np.asarray(m, dtype=bool) for m in masks])
    else:
        values = np.asarray(scores[layer], dtype=np.float64)
        kept = np.asarray(masks[layer], dtype=bool)
    order = np.argsort(values, kind="stable")
    thresholds = score_thresholds(scores, masks)
    if layer is not None:
        threshold = thresholds[layer]
    elif scope == "global":
        threshold = max(thresholds)
    else:
        threshold = -math.inf  # one line cannot stand for several layers' thresholds
    return SpectrumView(values[order], kept[order], threshold)


# -- masked original ------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class NodeMask(keras.layers.Layer):
    """Multiplies its input by a fixed 0/1 vector: forces the masked nodes' outputs to zero."""

    def __init__(self, mask: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_values = np.asarray(mask, dtype="float32").reshape(-1)

    def call(self, inputs: Any) -> Any:
        return inputs * keras.ops.convert_to_tensor(self.mask_values)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mask"] = [float(value) for value in self.mask_values]
        return config


def _check_masks(layers: list[keras.layers.Layer], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    hidden = layers[:-1]
    if len(masks) != len(hidden):
        raise PruningError(
            f"keep_masks: expected {len(hidden)} masks, one per hidden layer, got {len(masks)}"
        )
    checked = []
    for index, (layer, mask) in enumerate(zip(hidden, masks, strict=True)):
        array = np.asarray(mask)
        if array.dtype != bool or array.shape != (layer.units,):
            raise PruningError(
                f"keep_masks[{index}]: must be a boolean array of {layer.units} values "
                f"(the width of {layer.name}), got {array.dtype} of shape {array.shape}"
            )
        if not array.any():
            raise PruningError(f"keep_masks[{index}]: keeps no node of {layer.name}; keep at least one")
        checked.append(array)
    return checked


def masked_model(model: keras.Model, masks: Sequence[np.ndarray]) -> keras.Model:
    """The original network (sharing its layers) with the masked nodes' outputs forced to zero."""
    layers = dense_layers(model)
    checked = _check_masks(layers, masks)
    inputs = keras.Input(shape=(model.inputs[0].shape[-1],), name="pixels")
    outputs = inputs
    for index, layer in enumerate(layers):
        outputs = layer(outputs)
        if index < len(checked):
            outputs = NodeMask(checked[index].astype("float32"), name=f"mask_{index + 1}")(outputs)
    return keras.Model(inputs, outputs, name=f"{model.name}_masked")


# -- removal ----------------------------------------------------------------------------------
def _sliced_layer(
    layer: keras.layers.Layer, keep_in: np.ndarray, keep_out: np.ndarray
) -> tuple[keras.layers.Layer, list[tuple[str, np.ndarray]]]:
    """A new layer of the same kind with ``keep_out`` units, and its cut weights by name."""
    units = int(keep_out.sum())
    rows, columns = np.flatnonzero(keep_in), np.flatnonzero(keep_out)
    if isinstance(layer, SpectralDense):
        config = {**layer.get_config(), "units": units}
        new = SpectralDense.from_config(config)

        def cut(variable: Any) -> np.ndarray:
            return np.asarray(keras.ops.convert_to_numpy(variable))

        weights = [
            ("phi", cut(layer.phi)[np.ix_(rows, columns)]),
            ("eigvals_in", cut(layer.eigvals_in)[rows]),
            ("eigvals_out", cut(layer.eigvals_out)[columns]),
        ]
        if layer.bias is not None:
            weights.append(("bias", cut(layer.bias)[columns]))
        return new, weights
    if isinstance(layer, MaskedDense):
        # The trainable subset is drawn from a seed inside MaskedDense and cannot follow a cut;
        # the pruned layer becomes a plain Dense holding the same effective kernel.
        kernel, bias = effective_weights(layer)
        new = keras.layers.Dense(
            units, activation=layer.activation, use_bias=layer.use_bias, name=layer.name
        )
        weights = [("kernel", kernel[np.ix_(rows, columns)].astype("float32"))]
        if layer.use_bias:
            weights.append(("bias", bias[columns].astype("float32")))
        return new, weights
    if isinstance(layer, keras.layers.Dense):
        config = {**layer.get_config(), "units": units}
        new = keras.layers.Dense.from_config(config)
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
        weights = [("kernel", kernel[np.ix_(rows, columns)])]
        if layer.bias is not None:
            bias = np.asarray(keras.ops.convert_to_numpy(layer.bias))
            weights.append(("bias", bias[columns]))
        return new, weights
    raise PruningError(f"model: cannot prune layer {layer.name} of type {type(layer).__name__}")


def check_architecture(model: keras.Model, architecture: Architecture) -> None:
    """Raise :class:`PruningError` unless ``architecture`` describes ``model``'s widths."""
    layers = dense_layers(model)
    widths = [int(model.inputs[0].shape[-1])] + [int(layer.units) for layer in layers]
    if widths != architecture.widths:
        raise PruningError(
            f"architecture: widths {architecture.widths} do not match the model's {widths}"
        )


def pruned_architecture(architecture: Architecture, masks: Sequence[np.ndarray]) -> Architecture:
    """``architecture`` with every hidden layer narrowed to its kept node count."""
    layers = list(architecture.layers)
    for index, mask in enumerate(masks):
        layers[index] = replace(layers[index], units=int(np.count_nonzero(mask)))
    suffix = " (pruned)"
    name = architecture.name if architecture.name.endswith(suffix) else architecture.name + suffix
    return Architecture(name[-200:], architecture.input_units, tuple(layers),
                        architecture.train_input_eigenvalues).validate()


def prune(
    model: keras.Model, architecture: Architecture, keep: Sequence[np.ndarray]
) -> tuple[keras.Model, Architecture]:
    """A smaller model without the pruned nodes, and its architecture.

    Layers keep their kind and settings (SpectralDense with the same trainable flags, Dense);
    a MaskedDense becomes a Dense with the same effective kernel. When ``model`` is compiled, the
    pruned model is compiled with a fresh optimizer of the same kind and settings.
    """
    check_architecture(model, architecture)
    layers = dense_layers(model)
    masks = _check_masks(layers, keep)
    input_units = int(model.inputs[0].shape[-1])
    full = [np.ones(input_units, dtype=bool), *masks, np.ones(layers[-1].units, dtype=bool)]
    inputs = keras.Input(shape=(input_units,), name="pixels")
    outputs = inputs
    built = []
    for index, layer in enumerate(layers):
        new, weights = _sliced_layer(layer, full[index], full[index + 1])
        outputs = new(outputs)
        built.append((new, weights))
    pruned = keras.Model(inputs, outputs, name=f"{model.name}_pruned"[:200])
    for new, weights in built:
        for name, value in weights:
            getattr(new, name).assign(value.astype("float32"))
    smaller = pruned_architecture(architecture, masks)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(model, "compiled", False):
        from spectral_core.build import loss_for

        pruned.compile(
            optimizer=type(optimizer).from_config(optimizer.get_config()),
            loss=loss_for(smaller),
            metrics=["accuracy"],
        )
    return pruned, smaller


def architecture_of(model: keras.Model, name: str | None = None) -> Architecture:
    """The :class:`Architecture` of a model of our layers (or plain Dense), read from the model."""
    layers = dense_layers(model)
    specs = tuple(
        LayerSpec(
            units=int(layer.units),
            activation=layer.activation.__name__,
            telescopic=bool(getattr(layer, "telescopic", False)),
        )
        for layer in layers
    )
    first = layers[0] if layers else None
    train_input = bool(isinstance(first, SpectralDense) and first.eigvals_in_trainable)
    return Architecture(
        name or model.name, int(model.inputs[0].shape[-1]), specs, train_input
    ).validate()


# -- accuracy of pruned networks -----------------------------------------------------------------
def model_outputs(model: keras.Model, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """Outputs of ``model`` on ``x``, called eagerly in batches (no per-model tracing cost)."""
    parts = [
        np.asarray(keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False)))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]))


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` that ``model`` classifies as ``y`` (refuses an empty test set)."""
    if len(y) == 0:
        raise PruningError("dataset: the test set is empty, there is nothing to measure")
    return float(np.mean(np.argmax(model_outputs(model, x), axis=1) == np.asarray(y)))


def pruned_accuracy(
    model: keras.Model,
    architecture: Architecture,
    masks: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
) -> float:
    """Test accuracy of the network pruned to ``masks`` (builds the smaller network, then runs it)."""
    if all(np.asarray(mask).all() for mask in masks):
        return accuracy(model, x, y)
    pruned, _ = prune(model, architecture, masks)
    return accuracy(pruned, x, y)


@dataclass(frozen=True)
class PruningResult:
    """One pruning of a model: which nodes were kept and how the smaller network scores."""

    ranking: str
    scope: str
    percentile: float
    masks: list[np.ndarray]
    thresholds: list[float]
    nodes_total: int
    nodes_removed: int
    accuracy: float

    @property
    def fraction_removed(self) -> float:
        """Share of the hidden nodes removed."""
        return self.nodes_removed / self.nodes_total if self.nodes_total else 0.0

    @property
    def kept_per_layer(self) -> list[int]:
        """Hidden nodes kept in each hidden layer."""
        return [int(mask.sum()) for mask in self.masks]


def plan(model: keras.Model, ranking: str, percentile: float, scope: str = "global") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(scores, keep masks) for ``ranking`` at ``percentile``."""
    scores = node_scores(model, ranking)
    return scores, keep_masks(scores, percentile, scope)


def evaluate_pruning(
    model: keras.Model,
    architecture: Architecture,
    x: np.ndarray,
    y: np.ndarray,
    ranking: str,
    percentile: float,
    scope: str = "global",
) -> PruningResult:
    """Prune at ``percentile`` by ``ranking`` and measure the smaller network's accuracy."""
    check_scope(scope)
    scores, masks = plan(model, ranking, percentile, scope)
    pruned, _ = prune(model, architecture, masks)
    total = sum(mask.size for mask in masks)
    return PruningResult(
        ranking=ranking,
        scope=scope,
        percentile=float(percentile),
        masks=masks,
        thresholds=score_thresholds(scores, masks),
        nodes_total=total,
        nodes_removed=total - sum(int(mask.sum()) for mask in masks),
        accuracy=accuracy(pruned, x, y),
    )


@dataclass
class PruneCurve:
    """Accuracy against the fraction of hidden nodes removed, one column per ranking."""

    percentiles: list[float]
    fractions: list[float]
    nodes_removed: list[int]
    accuracies: dict[str, list[float]]
    scope: str
    nodes_total: int

    def to_csv(self) -> str:
        """The curve as CSV: one row per percentile, one accuracy column per ranking."""
        names = list(self.accuracies)
        lines = [",".join(["percentile", "fraction_removed", "nodes_removed",
                           *(f"accuracy_{name}" for name in names)])]
        for row, percentile in enumerate(self.percentiles):
            values = [f"{percentile:g}", f"{self.fractions[row]:.6f}", str(self.nodes_removed[row])]
            values += [f"{self.accuracies[name][row]:.6f}" for name in names]
            lines.append(",".join(values))
        return "\n".join(lines) + "\n"


DEFAULT_PERCENTILES: tuple[float, ...] = tuple(float(p) for p in range(0, 100, 5)) + (97.5, 99.0)


def prune_curve(
    model: keras.Model,
    architecture: Architecture,
    x: np.ndarray,
    y: np.ndarray,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    rankings: Sequence[str] | None = None,
    scope: str = "global",
    baselines: dict[str, tuple[keras.Model, Architecture, str]] | None = None,
) -> PruneCurve:
    """Accuracy at each percentile for every ranking, all at the same node counts.

    ``baselines`` adds curves of other models (e.g. the same architecture trained in direct space),
    as {column name: (model, architecture, ranking)}.
    """
    check_scope(scope)
    chosen = tuple(rankings) if rankings is not None else available_rankings(model)
    for ranking in chosen:
        check_ranking(ranking)
    points = sorted({check_percentile(p) for p in percentiles})
    if not points:
        raise PruningError("percentiles: give at least one percentile from 0 to 100")
    jobs: dict[str, tuple[keras.Model, Architecture, str]] = {
        ranking: (model, architecture, ranking) for ranking in chosen
    }
    for name, job in (baselines or {}).items():
        if name in jobs:
            raise PruningError(f"baselines: name {name!r} clashes with a ranking column")
        check_architecture(job[0], job[1])
        if job[1].widths != architecture.widths:
            raise PruningError(
                f"baselines: {name} has widths {job[1].widths}, the model has {architecture.widths}"
            )
        jobs[name] = job
    accuracies: dict[str, list[float]] = {name: [] for name in jobs}
    fractions: list[float] = []
    removed: list[int] = []
    total = 0
    for percentile in points:
        counts = set()
        for name, (job_model, job_architecture, ranking) in jobs.items():
            result = evaluate_pruning(job_model, job_architecture, x, y, ranking, percentile, scope)
            accuracies[name].append(result.accuracy)
            counts.add(result.nodes_removed)
            total = result.nodes_total
        if len(counts) != 1:  # same widths and percentile give the same count by construction
            raise PruningError(f"percentile {percentile:g}: rankings removed {sorted(counts)} nodes")
        removed.append(counts.pop())
        fractions.append(removed[-1] / total)
    return PruneCurve(points, fractions, removed, accuracies, scope, total)


def plot_curve(curve: PruneCurve, path: Any, title: str = "") -> None:
    """Write a PNG with one accuracy curve per column (matplotlib, Agg backend), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from spectral_core.files import atomic_path

    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    axes = figure.add_subplot()
    markers = ["o", "s", "^", "D", "v"]
    for index, (name, values) in enumerate(curve.accuracies.items()):
        label = RANKING_LABELS.get(name, name)
        axes.plot(curve.fractions, values, marker=markers[index % len(markers)], markersize=4,
                  label=label)
    axes.set_xlabel(f"fraction of hidden nodes removed ({curve.scope}, of {curve.nodes_total})")
    axes.set_ylabel("test accuracy")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png")
