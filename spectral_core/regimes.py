"""The four training regimes of DESIGN.md and their parameter counts (no TensorFlow needed)."""

from __future__ import annotations

from dataclasses import dataclass

from spectral_core.architecture import Architecture
from spectral_core.errors import SpectralLabError

REGIMES: tuple[str, ...] = ("lambda", "lambda-phi", "direct-subset", "direct-full")

PAPER_NAMES: dict[str, str] = {
    "lambda": "Train Λ (spectral constrained)",
    "lambda-phi": "Train Λ, Φ (spectral extended)",
    "direct-subset": "Constrained NN (direct, subset)",
    "direct-full": "Unconstrained NN (direct, full)",
}

SPECTRAL_REGIMES = ("lambda", "lambda-phi")


class RegimeError(SpectralLabError):
    """A regime name that is not one of ``REGIMES``."""


def check_regime(regime: str) -> str:
    """Return ``regime`` if it is one of ``REGIMES``, else raise :class:`RegimeError`."""
    if regime not in REGIMES:
        raise RegimeError(f"regime: must be one of {', '.join(REGIMES)}, got {regime!r}")
    return regime


@dataclass(frozen=True)
class ParameterCount:
    """Trainable and total parameters of an architecture under a regime."""

    trainable: int
    total: int

    @property
    def frozen(self) -> int:
        """Parameters that stay at their initial values."""
        return self.total - self.trainable


def trained_eigenvalues_per_layer(architecture: Architecture) -> list[int]:
    """Eigenvalues trained under ``lambda`` in each layer: λ_out always, λ_in of layer 0 if asked."""
    counts = []
    for index, layer in enumerate(architecture.layers):
        extra = architecture.input_units if index == 0 and architecture.train_input_eigenvalues else 0
        counts.append(layer.units + extra)
    return counts


def parameter_counts(architecture: Architecture, regime: str) -> ParameterCount:
    """Trainable and total parameters of ``architecture`` built for ``regime``.

    ``total`` counts every number the network's function depends on: φ, λ_in, λ_out for spectral
    layers; kernel (and bias for ``direct-full``) for direct ones.
    """
    check_regime(regime)
    architecture.validate()
    eigen = trained_eigenvalues_per_layer(architecture)
    widths = architecture.widths
    trainable = total = 0
    for index in range(len(architecture.layers)):
        n_in, n_out = widths[index], widths[index + 1]
        if regime in SPECTRAL_REGIMES:
            total += n_in * n_out + n_in + n_out
            trainable += eigen[index] + (n_in * n_out if regime == "lambda-phi" else 0)
        elif regime == "direct-subset":
            total += n_in * n_out
            trainable += min(eigen[index], n_in * n_out)
        else:
            total += n_in * n_out + n_out
            trainable += n_in * n_out + n_out
    return ParameterCount(trainable, total)


def default_learning_rate(architecture: Architecture) -> float:
    """The paper's Adamax rates: 0.03 for linear networks, 0.01 for non-linear ones."""
    hidden = architecture.layers[:-1]
    linear = all(layer.activation == "linear" for layer in hidden)
    return 0.03 if linear else 0.01
