"""The ``spectral-lab reproduce`` command: plans, runs and writes the report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.config import (
    TrainingConfig,
)
from spectral_core.experiments.executors import add_executor_options
from spectral_core.experiments.grid import GridOutcome, load_kernels, run_grid
from spectral_core.experiments.paper import (
    DEFAULT_DEEP,
    DEFAULT_SIZES,
    FAMILY_TITLES,
    TABLE1_FAMILIES,
    perceptron_plan,
    size_label,
    table1_plan,
)
from spectral_core.experiments.plots import (
    plot_accuracy,
    plot_perceptron_accuracy,
    plot_weight_histograms,
)
from spectral_core.experiments.specs import DataSource, ExperimentError, RunSpec
from spectral_core.experiments.tables import (
    budget_text,
    group_rows,
    perceptron_table,
    plan_rows,
    runs_csv,
    sizes_table,
    table1_table,
)
from spectral_core.files import atomic_write_text
from spectral_core.regimes import REGIMES


@dataclass
class Report:
    """What ``reproduce`` wrote."""

    markdown: str
    files: list[Path]
    failures: list[tuple[RunSpec, str]]


def write_report(
    experiment: str,
    specs: Sequence[RunSpec],
    outcome: GridOutcome,
    data: DataSource,
    folder: Path,
    command: str,
    families: Sequence[str] = TABLE1_FAMILIES,
) -> Report:
    """Write the experiment's runs CSV, tables, plots and REPORT.md into its folder."""
    rows = plan_rows(specs, outcome.records)
    groups = group_rows(rows)
    files = [folder / "runs.csv", folder / "report.md"]
    atomic_write_text(folder / "runs.csv", runs_csv(rows))
    parts = [
        f"# Reproduction: {experiment}",
        "",
        f"Command: `{command}`",
        "",
        "Budget:",
        "",
        budget_text(specs, data, rows),
        "",
        "Accuracies are test accuracies in %, mean ± sample standard deviation over seeds.",
        "",
    ]
    if experiment == "perceptron":
        parts += ["## Perceptron 784→10", "", perceptron_table(groups), ""]
        kernels = pooled_kernels(folder, specs, outcome.records)
        if kernels:
            plot_weight_histograms(kernels, folder / "weights_perceptron.png")
            files.append(folder / "weights_perceptron.png")
            parts += ["![weights](weights_perceptron.png)", ""]
        plot_perceptron_accuracy(groups, folder / "accuracy_perceptron.png")
        files.append(folder / "accuracy_perceptron.png")
        parts += ["![accuracy](accuracy_perceptron.png)", ""]
    else:
        parts += [
            "## Table 1: best mean accuracy over the explored sizes (ours / paper)",
            "",
            table1_table(groups, families),
            "",
        ]
        for family in families:
            if not any(group.family == family for group in groups):
                continue
            name = f"accuracy_{family}.png"
            plot_accuracy(groups, family, folder / name)
            files.append(folder / name)
            parts += [f"### {FAMILY_TITLES[family]}", "", sizes_table(groups, family), "",
                      f"![{family}]({name})", ""]
    if outcome.failures:
        parts += ["## Failed runs (rerun the same command to retry them)", ""]
        parts += [f"- {'-'.join(map(str, spec.architecture.widths))} {spec.regime} seed {spec.seed}: {error}"
                  for spec, error in outcome.failures]
        parts.append("")
    markdown = "\n".join(parts)
    atomic_write_text(folder / "report.md", markdown)
    return Report(markdown, files, outcome.failures)


def pooled_kernels(
    folder: Path, specs: Sequence[RunSpec], records: dict[str, dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Per regime, the single-layer compact kernels of every finished seed, stacked."""
    pooled: dict[str, list[np.ndarray]] = {}
    for spec in specs:
        if spec.run_id in records and (folder / "weights" / f"{spec.run_id}.npz").exists():
            pooled.setdefault(spec.regime, []).append(load_kernels(folder, spec.run_id)[0])
    return {regime: np.stack(values) for regime, values in pooled.items()}


def parse_int_list(text: str, option: str, low: int = 1) -> list[int]:
    """``20,50,100`` → integers of at least ``low``; errors name ``option``."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise ExperimentError(f"{option}: {part!r} is not an integer") from None
        if value < low:
            raise ExperimentError(f"{option}: values must be at least {low}, got {value}")
        values.append(value)
    if not values:
        raise ExperimentError(f"{option}: give at least one value")
    return values


def parse_deep(text: str) -> list[tuple[int, ...]]:
    """``800,800-600,800-600-500`` → hidden widths of each deep configuration."""
    configs = []
    for item in text.split(","):
        item = item.strip()
        if item:
            configs.append(tuple(parse_int_list(item.replace("-", ","), "--deep")))
    if not configs:
        raise ExperimentError("--deep: give at least one configuration, e.g. 800-600")
    return configs


def parse_regimes(text: str) -> list[str]:
    """A comma-separated list of regimes, each checked."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    for regime in chosen:
        if regime not in REGIMES:
            raise ExperimentError(f"--regimes: must be among {', '.join(REGIMES)}, got {regime!r}")
    return chosen


def add_parser(subparsers: Any) -> None:
    """Register the ``reproduce`` subcommand."""
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper's perceptron experiment or Table 1",
        description="Reproduce Giambagli et al. 2021 on MNIST; interrupted runs resume.",
    )
    parser.add_argument("experiment", choices=("perceptron", "table1"))
    parser.add_argument("--dataset", default="mnist", help="mnist, an .npz file or an IDX folder")
    parser.add_argument("--out", required=True, help="experiment folder (resumed if it exists)")
    parser.add_argument("--seeds", type=int, default=5, help="runs per configuration (seeds 0..N-1)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: the paper's 0.03 (linear) or 0.01 (non-linear)")
    parser.add_argument("--validation-fraction", type=float, default=0.0,
                        help="held out of training (default 0: train on every image, as the paper)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--regimes", default=",".join(REGIMES), help="comma-separated regimes")
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="table1: N2 values of the wide and non-linear families")
    parser.add_argument("--families", default=",".join(TABLE1_FAMILIES),
                        help="table1: comma-separated families among wide, deep, nonlinear")
    parser.add_argument("--deep", default=",".join(size_label(h) for h in DEFAULT_DEEP),
                        help="table1: deep configurations as hidden widths, e.g. 800,800-600")
    parser.add_argument("--setting", action="append", default=[], metavar="FIELD=JSON",
                        help="any other training setting, e.g. --setting optimizer='\"adam\"'")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--tensorboard", action="store_true",
        help="also write TensorBoard logs per run to OUT/tensorboard (spectrum, weights, HParams)",
    )
    add_executor_options(parser, default_workers=0)
    parser.set_defaults(func=cmd_reproduce)


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """``--setting FIELD=JSON`` items → a dict of training settings."""
    settings: dict[str, Any] = {}
    fields = set(TrainingConfig.__dataclass_fields__) - {"seed"}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise ExperimentError(
                f"--setting: expected FIELD=VALUE with FIELD among {', '.join(sorted(fields))}, got {item!r}"
            )
        try:
            settings[name] = json.loads(raw)
        except json.JSONDecodeError:
            settings[name] = raw
    return settings


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``spectral-lab reproduce``: plan, run (resuming) and report an experiment."""
    if args.seeds < 1:
        raise ExperimentError(f"--seeds: must be at least 1, got {args.seeds}")
    settings: dict[str, Any] = {
        "initialization": "paper",  # reproduce is the paper's experiment unless --setting says
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "validation_fraction": args.validation_fraction,
        **parse_settings(args.setting),
    }
    if args.learning_rate is not None:
        settings["learning_rate"] = args.learning_rate
    TrainingConfig.from_dict(settings)  # the first bad field, before anything runs
    seeds = list(range(args.seeds))
    regimes = parse_regimes(args.regimes)
    families: Sequence[str] = ()
    if args.experiment == "perceptron":
        specs = perceptron_plan(seeds, settings, regimes)
    else:
        families = [part.strip() for part in args.families.split(",") if part.strip()]
        specs = table1_plan(
            seeds, settings, families=families, sizes=parse_int_list(args.sizes, "--sizes"),
            deep=parse_deep(args.deep), regimes=regimes,
        )
    for option, value in (("--limit", args.limit), ("--test-limit", args.test_limit)):
        if value is not None and value < 1:
            raise ExperimentError(f"{option}: must be at least 1, got {value}")
    data = DataSource(str(_resolve(args.dataset)), args.limit, args.test_limit)
    folder = Path(args.out)
    outcome = run_grid(
        specs, folder, data, workers=args.workers, scheduler=args.scheduler,
        keep_weights=args.experiment == "perceptron", quiet=args.quiet,
        manifest={"experiment": args.experiment}, tensorboard=args.tensorboard,
    )
    report = write_report(args.experiment, specs, outcome, data, folder,
                          reproduce_command(args), families or TABLE1_FAMILIES)
    print(report.markdown)
    print(f"ran {outcome.ran} runs, kept {outcome.skipped} finished before; wrote "
          + ", ".join(str(path) for path in report.files))
    if outcome.failures:
        print(f"{len(outcome.failures)} runs failed; run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line that gives this report (every option that shapes the budget)."""
    parts = ["spectral-lab", "reproduce", args.experiment, "--dataset", args.dataset,
             "--out", args.out, "--seeds", str(args.seeds), "--epochs", str(args.epochs)]
    optional = {
        "--batch-size": (args.batch_size, 300),
        "--learning-rate": (args.learning_rate, None),
        "--validation-fraction": (args.validation_fraction, 0.0),
        "--limit": (args.limit, None),
        "--test-limit": (args.test_limit, None),
        "--regimes": (args.regimes, ",".join(REGIMES)),
    }
    if args.experiment == "table1":
        optional.update({
            "--sizes": (args.sizes, ",".join(str(s) for s in DEFAULT_SIZES)),
            "--families": (args.families, ",".join(TABLE1_FAMILIES)),
            "--deep": (args.deep, ",".join(size_label(h) for h in DEFAULT_DEEP)),
        })
    for option, (value, default) in optional.items():
        if value != default:
            parts += [option, str(value)]
    for item in args.setting:
        parts += ["--setting", item]
    if args.workers:
        parts += ["--workers", str(args.workers)]
    return " ".join(_quote(part) for part in parts)


def _resolve(source: str) -> str:
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def _quote(part: str) -> str:
    return part if part and all(ch.isalnum() or ch in "-_./=:," for ch in part) else repr(part)
