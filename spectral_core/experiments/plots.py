"""Plots of accuracies and weight distributions (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.experiments.paper import (
    FAMILY_TITLES,
    PAPER_PERCEPTRON,
    PAPER_TABLE1,
    TABLE1_REGIMES,
)
from spectral_core.experiments.tables import Group, _size_key
from spectral_core.files import atomic_path
from spectral_core.regimes import REGIMES

REGIME_COLOURS = {
    "lambda": "tab:red",
    "lambda-phi": "tab:purple",
    "direct-subset": "tab:green",
    "direct-full": "tab:blue",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")


def plot_accuracy(groups: Sequence[Group], family: str, path: Path) -> None:
    """Accuracy against N2 (or the deep configuration) for each regime, mean ± std over seeds."""
    plt = _pyplot()
    chosen = [group for group in groups if group.family == family and group.accuracies]
    sizes = sorted({group.size for group in chosen}, key=_size_key)
    numeric = family != "deep" and all(size.isdigit() for size in sizes)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for regime in TABLE1_REGIMES:
        points = sorted(
            (group for group in chosen if group.regime == regime), key=lambda g: _size_key(g.size)
        )
        if not points:
            continue
        xs = [int(g.size) if numeric else sizes.index(g.size) for g in points]
        axes.errorbar(
            xs, [g.mean for g in points], yerr=[g.std for g in points], marker="o", capsize=3,
            color=REGIME_COLOURS[regime], label=regime,
        )
        paper = PAPER_TABLE1.get(family, {}).get(regime)
        if paper is not None:
            axes.axhline(paper, color=REGIME_COLOURS[regime], linestyle=":", linewidth=1)
    if numeric:
        from matplotlib.ticker import NullFormatter

        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # label only the explored sizes
        axes.set_xticks([int(size) for size in sizes], sizes)
        axes.set_xlabel("N2 (width of the hidden layer)")
    else:
        axes.set_xticks(range(len(sizes)), sizes, rotation=30, ha="right")
        axes.set_xlabel("hidden widths")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{FAMILY_TITLES.get(family, family)} (dotted: paper's best)")
    axes.grid(alpha=0.3)
    axes.legend()
    _save(figure, path)
    plt.close(figure)


def plot_perceptron_accuracy(groups: Sequence[Group], path: Path) -> None:
    """Bar chart of the perceptron's accuracy per regime beside the paper's."""
    plt = _pyplot()
    by_regime = {group.regime: group for group in groups if group.family == "perceptron"}
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    positions = np.arange(len(REGIMES))
    ours = [by_regime[r].mean if r in by_regime else math.nan for r in REGIMES]
    ours_std = [by_regime[r].std if r in by_regime else 0.0 for r in REGIMES]
    axes.bar(positions - 0.2, ours, 0.4, yerr=ours_std, capsize=3, label="ours",
             color=[REGIME_COLOURS[r] for r in REGIMES])
    axes.bar(positions + 0.2, [PAPER_PERCEPTRON[r][0] for r in REGIMES], 0.4,
             yerr=[PAPER_PERCEPTRON[r][1] for r in REGIMES], capsize=3, label="paper",
             color="lightgrey", edgecolor="black")
    axes.set_xticks(positions, REGIMES)
    axes.set_ylim(50, 100)
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("perceptron 784→10: ours (colour) vs paper (grey)")
    axes.legend(loc="lower right")
    _save(figure, path)
    plt.close(figure)


def plot_weight_histograms(kernels: dict[str, np.ndarray], path: Path) -> None:
    """The paper's weight-distribution comparison: one panel per regime, plus an overlay."""
    plt = _pyplot()
    regimes = [regime for regime in REGIMES if regime in kernels]
    if not regimes:
        return
    everything = np.concatenate([kernels[r].ravel() for r in regimes])
    low, high = np.percentile(everything, [0.1, 99.9])
    bins = np.linspace(low, high, 80)
    figure, axes = plt.subplots(
        1, len(regimes) + 1, figsize=(3.2 * (len(regimes) + 1), 3.4), layout="constrained"
    )
    for axis, regime in zip(axes, regimes, strict=False):
        values = kernels[regime].ravel()
        axis.hist(values, bins=bins, color=REGIME_COLOURS[regime], density=True)
        axis.set_title(f"{regime}\nstd {values.std():.3f}")
        axis.set_xlabel("weight")
    overlay = axes[-1]
    for regime in regimes:
        overlay.hist(kernels[regime].ravel(), bins=bins, histtype="step", density=True,
                     color=REGIME_COLOURS[regime], label=regime, linewidth=1.5)
    overlay.set_yscale("log")
    overlay.set_title("all regimes (log density)")
    overlay.legend(fontsize=7)
    axes[0].set_ylabel("density")
    figure.suptitle("Trained perceptron weights W (784×10) after retraction, pooled over seeds")
    _save(figure, path)
    plt.close(figure)
