"""Continue a trained network in the same regime or another, starting from its weights.

The paper suggests spectral training as pre-training: train Λ, then unlock Φ (Train Λ, Φ), or
hand the effective weights to an ordinary dense network (Unconstrained NN). The model this
module builds computes the same function as the trained one at step 0 (float32 round-off only):

- same regime: the same variables, copied;
- ``lambda`` ↔ ``lambda-phi``: the same φ, λ_in, λ_out (and bias); only which of them train
  changes (φ is unlocked, or frozen again);
- any regime → ``direct-full``: plain Dense layers holding each layer's effective kernel
  W = φ ⊙ (λ_in − λ_out) (or the masked kernel) and bias, every weight trainable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from spectral_core.architecture import Architecture
from spectral_core.build import build_model, loss_for, make_optimizer
from spectral_core.errors import SpectralLabError
from spectral_core.layers import MaskedDense, SpectralDense, dense_layers, effective_weights
from spectral_core.record import RunRecord
from spectral_core.regimes import check_regime, default_learning_rate

# Which regimes a run of each regime can continue in.
CONTINUATIONS: dict[str, tuple[str, ...]] = {
    "lambda": ("lambda", "lambda-phi", "direct-full"),
    "lambda-phi": ("lambda-phi", "lambda", "direct-full"),
    "direct-subset": ("direct-subset", "direct-full"),
    "direct-full": ("direct-full",),
}


def continuation_regimes(regime: str) -> tuple[str, ...]:
    """The regimes a run trained in ``regime`` can continue in (its own first)."""
    return CONTINUATIONS[check_regime(regime)]


def _check_matches(model: keras.Model, architecture: Architecture) -> list[keras.layers.Layer]:
    layers = dense_layers(model)
    widths = [int(model.inputs[0].shape[-1])] + [int(layer.units) for layer in layers]
    if widths != architecture.widths:
        raise ValueError(
            f"model: its layers are {' → '.join(map(str, widths))} but the architecture is "
            f"{' → '.join(map(str, architecture.widths))}"
        )
    return layers


def _copy_variables(source: keras.layers.Layer, target: keras.layers.Layer) -> None:
    """Assign every variable of ``target`` from ``source``'s variable of the same name."""
    values = {variable.name: variable for variable in source.weights}
    for variable in target.weights:
        if variable.name not in values:
            raise ValueError(
                f"model: layer {source.name} has no {variable.name!r} to continue {target.name} from"
            )
        variable.assign(keras.ops.convert_to_numpy(values[variable.name]))


def _compile(model: keras.Model, architecture: Architecture, optimizer: str, rate: float | None, jit: bool | str) -> None:
    model.compile(
        optimizer=make_optimizer(optimizer, rate if rate is not None else default_learning_rate(architecture)),
        loss=loss_for(architecture),
        metrics=["accuracy"],
        jit_compile=jit,
    )


def continue_model(
    model: keras.Model,
    architecture: Architecture,
    from_regime: str,
    to_regime: str,
    *,
    seed: int = 0,
    compile: bool = True,
    optimizer: str = "adamax",
    learning_rate: float | None = None,
    jit_compile: bool | str = False,
    eigenvalue_regularization: Any = None,
) -> keras.Model:
    """A new model for ``to_regime`` that starts where ``model`` (trained in ``from_regime``) is.

    ``model`` is left untouched. ``seed`` only seeds what the copied weights do not fix.
    Raises ``RegimeError`` for an unknown regime and ``ValueError`` naming the field when the
    continuation is not possible or ``model`` does not match ``architecture``.
    """
    allowed = continuation_regimes(from_regime)
    check_regime(to_regime)
    if to_regime not in allowed:
        raise ValueError(
            f"to_regime: a {from_regime} run can continue as {', '.join(allowed)}, got {to_regime!r}"
        )
    source_layers = _check_matches(model, architecture)

    if to_regime == "direct-full":
        continued = build_model(architecture, "direct-full", seed, compile=False)
        for source, target in zip(source_layers, dense_layers(continued), strict=True):
            kernel, bias = effective_weights(source)  # float64
            target.kernel.assign(kernel.astype(np.float32))
            target.bias.assign(bias.astype(np.float32))
    elif to_regime == "direct-subset":
        # Same regime: the clone keeps each layer's mask (its seed travels in the config).
        if not all(isinstance(layer, MaskedDense) for layer in source_layers):
            raise ValueError("model: a direct-subset run must be made of MaskedDense layers")
        continued = keras.models.clone_model(model)
        for source, target in zip(source_layers, dense_layers(continued), strict=True):
            _copy_variables(source, target)
    else:
        if not all(isinstance(layer, SpectralDense) for layer in source_layers):
            raise ValueError(f"model: a {from_regime} run must be made of SpectralDense layers")
        continued = build_model(
            architecture, to_regime, seed, compile=False,
            eigenvalue_regularization=eigenvalue_regularization,
        )
        for source, target in zip(source_layers, dense_layers(continued), strict=True):
            if source.use_bias != target.use_bias:
                raise ValueError(f"model: layer {source.name} has a bias the {to_regime} model lacks")
            _copy_variables(source, target)
    if compile:
        _compile(continued, architecture, optimizer, learning_rate, jit_compile)
    return continued


def continue_model_with_config(
    model: keras.Model, architecture: Architecture, from_regime: str, to_regime: str, config: Any
) -> keras.Model:
    """:func:`continue_model` with the optimizer, learning rate, seed, XLA choice and
    eigenvalue regularization of ``config`` (a :class:`spectral_core.config.TrainingConfig`)."""
    config = config.validate()
    spectral = to_regime in ("lambda", "lambda-phi")
    return continue_model(
        model, architecture, from_regime, to_regime, seed=config.seed,
        optimizer=config.optimizer, learning_rate=config.learning_rate,
        jit_compile=config.jit_compile is True,
        eigenvalue_regularization=config.regularizer() if spectral else None,
    )


class ContinuationError(SpectralLabError):
    """A run folder cannot be continued; the message names the file or field."""


def read_run_folder(folder: str | os.PathLike[str]) -> tuple[RunRecord, keras.Model]:
    """The record (:func:`spectral_core.runs.read_run_record`) and the trained ``full.keras``
    (safe mode) of a run folder."""
    from spectral_core.export import load_model
    from spectral_core.runs import RunFolderError, read_run_record

    path = Path(folder)
    try:
        record = read_run_record(path)
    except RunFolderError as error:
        raise ContinuationError(f"--from: {error}") from None
    return record, load_model(path / "full.keras")


def continue_run(
    folder: str | os.PathLike[str],
    to_regime: str,
    dataset: Any,
    config: Any,
    out: str | os.PathLike[str] | None = None,
    observers: Iterable[Any] = (),
    control: Any = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    *,
    dataset_source: str | None = None,
) -> Any:
    """Train the run in ``folder`` for ``config.epochs`` more epochs as ``to_regime``.

    The new run starts from the folder's trained weights (:func:`continue_model`), numbers its
    epochs on from the earlier run's last one, and its record names the folder it continued
    (``continued_from``). Returns the :class:`spectral_core.runs.RunOutcome`.
    """
    from spectral_core.runs import run_training

    record, model = read_run_folder(folder)
    allowed = continuation_regimes(record.regime)
    if to_regime not in allowed:
        raise ContinuationError(
            f"--regime: a {record.regime} run continues as {', '.join(allowed)}, got {to_regime!r}"
        )
    config = config.validate()
    continued = continue_model_with_config(
        model, record.architecture, record.regime, to_regime, config
    )
    origin = {"folder": str(Path(folder).resolve()), "epochs_completed": record.last_epoch}
    return run_training(
        record.architecture, to_regime, dataset, config, out, observers, control, callbacks,
        model=continued, continued_from=origin, dataset_source=dataset_source,
    )
