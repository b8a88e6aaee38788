"""Training views that reuse the first layer's frozen input projection (DESIGN.md section 5).

When the first layer's product with its input never changes during training — Train Λ's x φ
(φ and a uniform λ_in frozen) or the Constrained NN's x K₀ — the engine computes it once for the
whole data set and trains a *view*: a Keras model whose input is that projection and whose
layers are the model's own layer objects, so it shares every variable with the model (no copy of
any weight). The view's first step is elementwise, y = (x φ) ⊙ (λ_in − λ_out), or x K₀ plus the
sparse correction of the trained entries; the rest of the network runs unchanged. The function
and its gradients are the model's, up to float32 round-off in how the matmul is blocked.

The cache holds N_train × N2 float32 values (432 MB for 54,000 images at N2 = 2000); above the
budget the engine trains the model itself and says so once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from spectral_core.layers import MaskedDense, SpectralDense

# Rows converted or projected per call: small enough that no single call holds Python's GIL
# long enough to freeze a GUI thread (see training.tensor_in_chunks).
CHUNK_ROWS = 2048


@dataclass
class TrainingView:
    """What ``fit`` runs: ``model`` (the network itself or a view sharing its variables) and
    ``inputs``, which turns an (N, features) array into that model's inputs."""

    model: keras.Model
    inputs: Callable[[np.ndarray], Any]
    cached: bool
    note: str = ""


def tensor_in_chunks(array: np.ndarray, rows: int = CHUNK_ROWS) -> Any:
    """``array`` as a backend tensor, converted a slice at a time.

    Converting a large numpy array in one call holds Python's GIL for its whole copy (≈150 ms
    for MNIST's training set), which freezes a GUI thread; slices hold it briefly each.
    """
    if array.nbytes <= 8 * 1024 * 1024:
        return keras.ops.convert_to_tensor(array)
    parts = [keras.ops.convert_to_tensor(array[i : i + rows]) for i in range(0, len(array), rows)]
    return keras.ops.concatenate(parts, axis=0)


def projection_in_chunks(layer: SpectralDense | MaskedDense, array: np.ndarray) -> Any:
    """``layer.frozen_projection`` of every row of ``array``, computed a slice at a time."""
    parts = [
        layer.frozen_projection(keras.ops.convert_to_tensor(array[i : i + CHUNK_ROWS]))
        for i in range(0, len(array), CHUNK_ROWS)
    ]
    return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=0)


class _FromProjection(keras.layers.Layer):
    """Applies a shared first layer to its cached projection (and, for MaskedDense, the input)."""

    def __init__(self, layer: SpectralDense | MaskedDense, **kwargs: Any) -> None:
        kwargs.setdefault("name", f"{layer.name}_from_projection")
        super().__init__(**kwargs)
        self.shared = layer

    # Keras's TensorBoard callback writes the fitted model's JSON, and fit runs this view.
    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.shared)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _FromProjection:
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)

    def call(self, projection: Any, inputs: Any = None) -> Any:
        if isinstance(self.shared, MaskedDense):
            return self.shared.call_on_projection(projection, inputs)
        return self.shared.call_on_projection(projection)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return (None, self.shared.units)


def chain_layers(model: keras.Model) -> list[keras.layers.Layer] | None:
    """The model's layers after its input when it is a plain chain of one-input layers."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    tensor = model.inputs[0]
    for layer in layers:
        node_inputs = [node.input_tensors for node in layer._inbound_nodes]
        if not any(len(inputs) == 1 and inputs[0] is tensor for inputs in node_inputs):
            return None
        tensor = layer.output
    return layers if layers and tensor is model.outputs[0] else None


def cache_bytes(model: keras.Model, rows: int) -> int:
    """Memory the cached projection of ``rows`` samples takes (0 if nothing can be cached)."""
    layers = chain_layers(model)
    if not layers or not isinstance(layers[0], (SpectralDense, MaskedDense)):
        return 0
    if not layers[0].projection_is_frozen:
        return 0
    return rows * layers[0].units * 4


def training_view(model: keras.Model, rows: int, budget_bytes: int) -> TrainingView:
    """A view of ``model`` that trains on the first layer's cached projection, where it can.

    ``rows`` is how many samples will be projected (training plus validation); the cache is used
    only if it fits in ``budget_bytes``. Otherwise the view is the model itself.
    """
    plain = TrainingView(model, tensor_in_chunks, cached=False)
    needed = cache_bytes(model, rows)
    if needed == 0 or budget_bytes == 0:  # nothing to cache, or the cache is turned off
        return plain
    if needed > budget_bytes:
        plain.note = (
            f"The first layer's input projection of {rows:,} images would take "
            f"{needed / 2**20:,.0f} MB, above the cache budget of {budget_bytes / 2**20:,.0f} MB "
            "(projection_cache_mb); training without it, at the uncached speed."
        )
        return plain
    layers = chain_layers(model)
    assert layers is not None
    first, rest = layers[0], layers[1:]
    projection = keras.Input(shape=(first.units,), name="projection")
    head = _FromProjection(first)
    if isinstance(first, MaskedDense):
        pixels = keras.Input(shape=(model.inputs[0].shape[-1],), name="pixels")
        inputs: list[Any] = [projection, pixels]
        outputs = head(projection, pixels)
    else:
        inputs = [projection]
        outputs = head(projection)
    for layer in rest:
        outputs = layer(outputs)
    view = keras.Model(inputs, outputs, name=f"{model.name}_projected")

    def view_inputs(array: np.ndarray) -> Any:
        projected = projection_in_chunks(first, array)
        if isinstance(first, MaskedDense):
            return (projected, tensor_in_chunks(array))
        return projected

    return TrainingView(view, view_inputs, cached=True)
