"""Statistics and reports: per-configuration means, the paper's tables, the runs CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spectral_core.config import (
    TrainingConfig,
)
from spectral_core.experiments.grid import plan_order
from spectral_core.experiments.paper import (
    FAMILY_TITLES,
    PAPER_PERCEPTRON,
    PAPER_TABLE1,
    TABLE1_FAMILIES,
    TABLE1_REGIMES,
    perceptron_architecture,
)
from spectral_core.experiments.specs import DataSource, RunSpec
from spectral_core.regimes import REGIMES, parameter_counts


@dataclass(frozen=True)
class Group:
    """The finished runs of one family, size and regime: their accuracies."""

    family: str
    size: str
    regime: str
    accuracies: tuple[float, ...]
    trainable_parameters: int

    @property
    def mean(self) -> float:
        """Mean test accuracy (NaN without runs)."""
        return float(np.mean(self.accuracies)) if self.accuracies else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof = 1); 0 for a single run."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0


def plan_rows(specs: Sequence[RunSpec], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per planned run that finished, labelled with the plan's family and size."""
    rows = []
    for spec in specs:
        record = records.get(spec.run_id)
        if record is not None:
            rows.append(
                {
                    **record,
                    "family": spec.family,
                    "size": spec.size,
                    "initialization": spec.initialization,
                }
            )
    return rows


def group_rows(rows: Iterable[dict[str, Any]]) -> list[Group]:
    """Rows grouped by family, size and regime."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["family"], row["size"], row["regime"]), []).append(row)
    groups = []
    for (family, size, regime), members in grouped.items():
        accuracies = tuple(
            100.0 * float(row["test_accuracy"])
            for row in members
            if row.get("test_accuracy") is not None
        )
        groups.append(Group(family, size, regime, accuracies, int(members[0]["trainable_parameters"])))
    return groups


def best_groups(groups: Iterable[Group]) -> dict[tuple[str, str], Group]:
    """Per (family, regime), the size with the best mean accuracy (as the paper's Table 1)."""
    best: dict[tuple[str, str], Group] = {}
    for group in groups:
        key = (group.family, group.regime)
        if group.accuracies and (key not in best or group.mean > best[key].mean):
            best[key] = group
    return best


CSV_COLUMNS = (
    "run_id", "family", "size", "architecture", "widths", "hidden", "regime", "seed",
    "epochs", "learning_rate", "batch_size", "optimizer", "initialization", "settings",
    "trainable_parameters", "total_parameters", "compact_parameters",
    "test_accuracy", "test_accuracy_compact", "test_loss", "train_accuracy",
    "epochs_completed", "diverged", "train_seconds", "seconds", "dataset", "train_images",
    "test_images", "host", "finished_at",
)


def runs_csv(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as CSV text (:data:`CSV_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    defaults = TrainingConfig()
    for row in rows:
        settings = row.get("settings") or {}
        flat = {**row, "settings": json.dumps(settings, sort_keys=True)}
        for key in ("epochs", "learning_rate", "batch_size", "optimizer"):
            flat[key] = settings.get(key, getattr(defaults, key))
        writer.writerow(flat)
    return buffer.getvalue()


def _signed(value: float) -> str:
    return f"{value:+.1f}" if math.isfinite(value) else "–"


def _mean_std(group: Group | None) -> str:
    if group is None or not group.accuracies:
        return "–"
    return f"{group.mean:.1f} ± {group.std:.1f}"


def perceptron_table(groups: Iterable[Group]) -> str:
    """The perceptron table (Markdown): ours beside the paper's, per regime."""
    by_regime = {group.regime: group for group in groups if group.family == "perceptron"}
    lines = [
        "| regime | paper name | trainable parameters | runs | ours (%) | paper (%) | ours − paper |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    from spectral_core.regimes import PAPER_NAMES

    for regime in REGIMES:
        group = by_regime.get(regime)
        paper_mean, paper_std = PAPER_PERCEPTRON[regime]
        difference = group.mean - paper_mean if group and group.accuracies else math.nan
        lines.append(
            f"| `{regime}` | {PAPER_NAMES[regime]} | "
            f"{parameter_counts(perceptron_architecture(), regime).trainable} | "
            f"{len(group.accuracies) if group else 0} | {_mean_std(group)} | "
            f"{paper_mean:.1f} ± {paper_std:.1f} | {_signed(difference)} |"
        )
    return "\n".join(lines)


def table1_table(groups: Iterable[Group], families: Sequence[str] = TABLE1_FAMILIES) -> str:
    """The paper's Table 1 (Markdown): best mean accuracy over sizes, ours and the paper's."""
    best = best_groups(groups)
    from spectral_core.regimes import PAPER_NAMES

    header = "| family | " + " | ".join(PAPER_NAMES[r].split(" (")[0] + f" (`{r}`)" for r in TABLE1_REGIMES) + " |"
    lines = [header, "|---|" + "---:|" * len(TABLE1_REGIMES)]
    for family in families:
        cells = []
        for regime in TABLE1_REGIMES:
            group = best.get((family, regime))
            paper = PAPER_TABLE1[family][regime]
            if group is None:
                cells.append(f"– / {paper:.1f}")
                continue
            cells.append(
                f"**{group.mean:.1f} ± {group.std:.1f}** / {paper:.1f} "
                f"({_signed(group.mean - paper)}; best at {group.size}, n={len(group.accuracies)})"
            )
        lines.append(f"| {FAMILY_TITLES[family]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sizes_table(groups: Iterable[Group], family: str) -> str:
    """Mean ± std per size and regime of one family."""
    chosen = [group for group in groups if group.family == family]
    sizes = sorted({group.size for group in chosen}, key=_size_key)
    cell = {(group.size, group.regime): group for group in chosen}
    lines = ["| size | " + " | ".join(f"`{r}`" for r in TABLE1_REGIMES) + " |",
             "|---|" + "---:|" * len(TABLE1_REGIMES)]
    for size in sizes:
        lines.append(
            f"| {size} | " + " | ".join(_mean_std(cell.get((size, r))) for r in TABLE1_REGIMES) + " |"
        )
    return "\n".join(lines)


def _size_key(label: str) -> tuple[int, ...]:
    return tuple(int(part) for part in label.split("-") if part.isdigit()) or (0,)


def budget_text(specs: Sequence[RunSpec], data: DataSource, rows: Sequence[dict[str, Any]]) -> str:
    """What the experiment cost and on what data, for the report."""
    settings = dict(specs[0].settings) if specs else {}
    config = TrainingConfig.from_dict(settings)
    seeds = sorted({spec.seed for spec in specs})
    train_images = rows[0]["train_images"] if rows else "?"
    test_images = rows[0]["test_images"] if rows else "?"
    unique = {row["run_id"]: row for row in rows}  # a run shared by two families counts once
    hours = sum(float(row.get("seconds") or 0) for row in unique.values()) / 3600
    rate = "the paper's (0.03 linear, 0.01 non-linear)" if config.learning_rate is None else str(config.learning_rate)
    extra = {
        key: value for key, value in settings.items()
        if key not in ("epochs", "batch_size", "optimizer", "learning_rate", "validation_fraction")
    }
    lines = [
        f"- data: `{data.source}`, {train_images} training images, {test_images} test images",
        f"- {config.epochs} epochs, batch {config.batch_size}, {config.optimizer}, learning rate {rate}, "
        f"validation fraction {config.validation_fraction}",
        f"- seeds: {', '.join(str(s) for s in seeds)} ({len(seeds)} per configuration)",
        f"- runs: {len(unique)} finished of {len(plan_order(specs))} planned; "
        f"{hours:.2f} hours of training time in total (runs one after another, shared CPU)",
    ]
    if extra:
        lines.append(f"- other settings: {json.dumps(extra, sort_keys=True)}")
    return "\n".join(lines)
