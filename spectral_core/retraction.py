"""Telescopic retraction: fold linear telescopic layers into the next one (DESIGN.md §1).

(x W1 + b1) W2 + b2 = x (W1 W2) + (b1 W2 + b2). Folding runs in float64; the compact model is
made of plain ``keras.layers.Dense`` only, so plain Keras loads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from spectral_core.layers import MaskedDense, SpectralDense, dense_layers, effective_weights


@dataclass
class FoldedLayer:
    """One layer of the compact model: direct-space kernel, bias and activation."""

    kernel: np.ndarray
    bias: np.ndarray
    activation: str


def _activation_name(layer: keras.layers.Layer) -> str:
    return layer.activation.__name__


def _is_telescopic(layer: keras.layers.Layer, flags: list[bool] | None, index: int) -> bool:
    if flags is not None:
        return flags[index]
    if isinstance(layer, (SpectralDense, MaskedDense)):
        return layer.telescopic
    return False


def folded_layers(model: keras.Model, telescopic: list[bool] | None = None) -> list[FoldedLayer]:
    """The compact stack as float64 arrays.

    ``telescopic`` gives the flag per dense layer (needed for plain Dense models, whose layers do
    not carry it); by default each layer's own ``telescopic`` attribute is used.
    """
    layers = dense_layers(model)
    if telescopic is not None and len(telescopic) != len(layers):
        raise ValueError(
            f"telescopic: expected {len(layers)} flags, one per dense layer, got {len(telescopic)}"
        )
    folded: list[FoldedLayer] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None
    for index, layer in enumerate(layers):
        kernel, bias = effective_weights(layer)
        if pending is not None:
            kernel_before, bias_before = pending
            kernel, bias = kernel_before @ kernel, bias_before @ kernel + bias
            pending = None
        activation = _activation_name(layer)
        if _is_telescopic(layer, telescopic, index):
            if activation != "linear":
                raise ValueError(
                    f"layer {layer.name} is marked telescopic but its activation is {activation}"
                )
            if index == len(layers) - 1:
                raise ValueError(f"layer {layer.name} is telescopic but has no next layer")
            pending = (kernel, bias)
            continue
        folded.append(FoldedLayer(kernel, bias, activation))
    return folded


def retract(model: keras.Model, telescopic: list[bool] | None = None) -> keras.Model:
    """A compact model of plain Dense layers computing the same function as ``model``."""
    stack = folded_layers(model, telescopic)
    input_units = stack[0].kernel.shape[0]
    inputs = keras.Input(shape=(input_units,), name="pixels")
    outputs = inputs
    built = []
    for index, item in enumerate(stack):
        dense = keras.layers.Dense(
            item.kernel.shape[1], activation=item.activation, name=f"dense_{index + 1}"
        )
        outputs = dense(outputs)
        built.append((dense, item))
    compact = keras.Model(inputs, outputs, name=f"{model.name}_compact")
    for dense, item in built:
        dense.set_weights([item.kernel.astype("float32"), item.bias.astype("float32")])
    return compact


def has_telescopic(model: keras.Model, telescopic: list[bool] | None = None) -> bool:
    """Whether retraction would fold any layer of ``model``."""
    layers = dense_layers(model)
    return any(_is_telescopic(layer, telescopic, i) for i, layer in enumerate(layers))
