"""Turn an :class:`Architecture` and a regime into a compiled Keras model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from spectral_core.architecture import Architecture
from spectral_core.config import DEFAULT_INITIALIZATION, INITIALIZATION_NAMES, OPTIMIZER_NAMES
from spectral_core.layers import MaskedDense, SpectralDense, dense_layers
from spectral_core.regimes import check_regime, default_learning_rate, trained_eigenvalues_per_layer

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adamax": keras.optimizers.Adamax,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
assert tuple(OPTIMIZERS) == OPTIMIZER_NAMES

INITIALIZATIONS = INITIALIZATION_NAMES


@dataclass(frozen=True)
class Initializers:
    """Fresh Keras initializers of one layer under a named scheme (see INITIALIZATION_SOURCES).

    Make one per layer after seeding: an initializer draws its own seed when it is created.
    """

    phi: keras.initializers.Initializer
    eigvals_out: keras.initializers.Initializer
    subset_kernel: keras.initializers.Initializer


def scheme_initializers(name: str) -> Initializers:
    """The initializers of φ, λ_out and the Constrained NN kernel for scheme ``name``."""
    uniform = keras.initializers.RandomUniform
    if name == "paper":
        return Initializers(uniform(-0.2, 0.2), uniform(0.5, 1.5), keras.initializers.GlorotUniform())
    if name == "paper-text":
        return Initializers(uniform(-0.5, 0.5), uniform(-0.01, 0.01), uniform(-0.5, 0.5))
    if name == "glorot":
        return Initializers(
            keras.initializers.GlorotUniform(),
            uniform(-0.01, 0.01),
            keras.initializers.GlorotUniform(),
        )
    raise ValueError(f"initialization: must be one of {', '.join(INITIALIZATIONS)}, got {name!r}")


def loss_for(architecture: Architecture) -> keras.losses.Loss:
    """Sparse categorical cross-entropy, from logits unless the last layer is softmax."""
    logits = architecture.layers[-1].activation != "softmax"
    return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer by name (see ``OPTIMIZER_NAMES``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if not learning_rate > 0 or learning_rate > 10:
        raise ValueError(f"learning_rate: must be above 0 and at most 10, got {learning_rate!r}")
    return OPTIMIZERS[name](learning_rate=learning_rate)


def build_model(
    architecture: Architecture,
    regime: str,
    seed: int = 0,
    *,
    compile: bool = True,
    optimizer: str = "adamax",
    learning_rate: float | None = None,
    jit_compile: bool | str = False,
    eigenvalue_regularization: Any = None,
    initialization: str = DEFAULT_INITIALIZATION,
) -> keras.Model:
    """Build ``architecture`` for ``regime``; weights are drawn from ``seed``.

    ``initialization`` names a scheme of :data:`INITIALIZATIONS`; its source and ranges are in
    ``spectral_core.config.INITIALIZATION_SOURCES``. ``direct-full`` is a plain Keras Dense
    stack (Glorot-uniform kernel, zero bias) under every scheme.

    ``eigenvalue_regularization`` (a Keras regularizer or None) applies to the trained λ_out.
    """
    check_regime(regime)
    architecture.validate()
    scheme_initializers(initialization)  # a bad name fails before anything is built
    keras.utils.set_random_seed(seed)
    eigen_counts = trained_eigenvalues_per_layer(architecture)
    inputs = keras.Input(shape=(architecture.input_units,), name="pixels")
    outputs = inputs
    for index, spec in enumerate(architecture.layers):
        name = f"layer_{index + 1}"
        initializers = scheme_initializers(initialization)
        if regime in ("lambda", "lambda-phi"):
            layer: keras.layers.Layer = SpectralDense(
                spec.units,
                activation=spec.activation,
                phi_trainable=regime == "lambda-phi",
                eigvals_in_trainable=index == 0 and architecture.train_input_eigenvalues,
                eigvals_out_trainable=True,
                phi_initializer=initializers.phi,
                eigvals_out_initializer=initializers.eigvals_out,
                telescopic=spec.telescopic,
                name=name,
            )
        elif regime == "direct-subset":
            n_in = architecture.widths[index]
            layer = MaskedDense(
                spec.units,
                trainable_count=min(eigen_counts[index], n_in * spec.units),
                mask_seed=seed * 1000 + index,
                activation=spec.activation,
                kernel_initializer=initializers.subset_kernel,
                telescopic=spec.telescopic,
                name=name,
            )
        else:
            layer = keras.layers.Dense(spec.units, activation=spec.activation, name=name)
        outputs = layer(outputs)
    model = keras.Model(inputs, outputs, name=_model_name(architecture, regime))
    if eigenvalue_regularization is not None:
        # Functional models refuse add_loss; Keras adds each variable's regularizer to the loss.
        for layer in dense_layers(model):
            if isinstance(layer, SpectralDense):
                layer.eigvals_out.regularizer = eigenvalue_regularization
    if compile:
        rate = learning_rate if learning_rate is not None else default_learning_rate(architecture)
        model.compile(
            optimizer=make_optimizer(optimizer, rate),
            loss=loss_for(architecture),
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
    return model


def _model_name(architecture: Architecture, regime: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in architecture.name).strip("_") or "model"
    return f"{safe}_{regime.replace('-', '_')}"


def count_trainable(model: keras.Model) -> int:
    """Number of trainable scalars in ``model``."""
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))
