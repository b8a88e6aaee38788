"""The paper's experiments: its architectures, run plans and reported values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.experiments.specs import ExperimentError, RunSpec, settings_tuple
from spectral_core.regimes import REGIMES

# The paper's numbers (test accuracy in %, MNIST). Perceptron: mean and std over 5 runs.
PAPER_PERCEPTRON: dict[str, tuple[float, float]] = {
    "lambda": (82.0, 2.0),
    "direct-subset": (79.0, 3.0),
    "direct-full": (92.7, 0.1),
    "lambda-phi": (92.5, 0.2),
}


# Table 1: best mean accuracy over the explored sizes, per family and regime.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "wide": {"direct-subset": 87.8, "lambda": 90.9, "direct-full": 91.0, "lambda-phi": 92.2},
    "deep": {"direct-subset": 90.8, "lambda": 91.5, "direct-full": 91.2, "lambda-phi": 91.8},
    "nonlinear": {"direct-subset": 88.9, "lambda": 93.5, "direct-full": 96.4, "lambda-phi": 97.3},
}


FAMILY_TITLES = {
    "perceptron": "perceptron 784→10",
    "wide": "linear wide 784→N2→10",
    "deep": "linear deep (l = 3, 4, 5)",
    "nonlinear": "non-linear 784→N2→120 (relu)→10",
}


# Column order of the paper's Table 1.
TABLE1_REGIMES = ("direct-subset", "lambda", "direct-full", "lambda-phi")


TABLE1_FAMILIES = ("wide", "deep", "nonlinear")


# The paper's best values lie at large N2, so the grid reaches 2000.
DEFAULT_SIZES = (20, 50, 100, 200, 400, 600, 800, 1000, 1500, 2000)


# Deep linear configurations of the paper: hidden widths between 784 and 10.
DEFAULT_DEEP = (
    (20,), (80,), (100,), (500,), (800,),
    (800, 100), (800, 200), (800, 400), (800, 600),
    (800, 600, 500),
)


def perceptron_architecture() -> Architecture:
    """The paper's perceptron 784→10, input eigenvalues trained."""
    return Architecture(
        "perceptron 784-10", 784, (LayerSpec(10, "softmax"),), train_input_eigenvalues=True
    )


def linear_architecture(hidden: Sequence[int], name: str) -> Architecture:
    """784 → the ``hidden`` telescopic linear layers → 10 softmax."""
    layers = [LayerSpec(units, "linear", telescopic=True) for units in hidden]
    return Architecture(name, 784, (*layers, LayerSpec(10, "softmax")))


def nonlinear_architecture(hidden: int) -> Architecture:
    """The paper's non-linear network 784 → N2 (linear) → 120 (relu) → 10."""
    return Architecture(
        f"non-linear 784-{hidden}-120-10",
        784,
        (LayerSpec(hidden, "linear", telescopic=True), LayerSpec(120, "relu"), LayerSpec(10, "softmax")),
    )


def size_label(hidden: Sequence[int]) -> str:
    """``800-600`` for hidden widths (800, 600)."""
    return "-".join(str(units) for units in hidden)


def perceptron_plan(
    seeds: Sequence[int], settings: dict[str, Any], regimes: Sequence[str] = REGIMES
) -> list[RunSpec]:
    """The perceptron experiment: every regime × seed."""
    architecture = perceptron_architecture()
    return [
        RunSpec(architecture, regime, seed, settings_tuple(settings), "perceptron", "")
        for regime in regimes
        for seed in seeds
    ]


def table1_plan(
    seeds: Sequence[int],
    settings: dict[str, Any],
    *,
    families: Sequence[str] = TABLE1_FAMILIES,
    sizes: Sequence[int] = DEFAULT_SIZES,
    deep: Sequence[Sequence[int]] = DEFAULT_DEEP,
    regimes: Sequence[str] = REGIMES,
) -> list[RunSpec]:
    """The runs of Table 1, smallest networks first so early results come quickly."""
    fixed = settings_tuple(settings)
    entries: list[tuple[str, str, Architecture]] = []
    for family in families:
        if family == "wide":
            for n2 in sizes:
                entries.append(("wide", str(n2), linear_architecture([n2], f"wide linear 784-{n2}-10")))
        elif family == "deep":
            for hidden in deep:
                label = size_label(hidden)
                name = f"deep linear l={len(hidden) + 2} 784-{label}-10"
                entries.append(("deep", label, linear_architecture(hidden, name)))
        elif family == "nonlinear":
            for n2 in sizes:
                entries.append(("nonlinear", str(n2), nonlinear_architecture(n2)))
        else:
            raise ExperimentError(
                f"families: must be among {', '.join(TABLE1_FAMILIES)}, got {family!r}"
            )
    specs = [
        RunSpec(architecture, regime, seed, fixed, family, label)
        for family, label, architecture in entries
        for regime in regimes
        for seed in seeds
    ]
    return sorted(specs, key=lambda spec: spec.cost)
