"""``spectral-lab sweep``: any grid of runs from a JSON file, on local processes or Dask.

A sweep file is the JSON object :data:`EXAMPLE` shows (``spectral-lab sweep --help`` prints it);
:data:`FIELDS` says what each field means. The grid is architectures × regimes × seeds × every
combination of ``grid`` values. The format is declared (and checked) by
:data:`spectral_core.formats.SweepFormat`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.architecture import Architecture, ArchitectureError
from spectral_core.config import TrainingConfig
from spectral_core.errors import SpectralLabError
from spectral_core.experiments import (
    DataSource,
    ExperimentError,
    GridOutcome,
    RunSpec,
    add_executor_options,
    plan_order,
    plan_rows,
    run_grid,
    runs_csv,
    settings_tuple,
)
from spectral_core.files import atomic_write_text, read_json_file
from spectral_core.formats import FormatErrors, SweepFormat, parse
from spectral_core.regimes import REGIMES

# A valid sweep file (a test loads it): the sweep --help shows it as is.
EXAMPLE = """\
{
  "dataset": "mnist",
  "limit": 10000,
  "test_limit": 2000,
  "architectures": [
    "wide_linear",
    {"input_units": 784, "layers": [
      {"units": 100, "activation": "linear", "telescopic": true},
      {"units": 10, "activation": "softmax"}]}
  ],
  "regimes": ["lambda", "direct-full"],
  "seeds": 3,
  "settings": {"epochs": 5},
  "grid": {"learning_rate": [0.01, 0.03]},
  "keep_weights": false,
  "save_models": false
}"""
FIELDS = """\
  dataset        mnist, fashion-mnist, or an .npz file / IDX folder (relative to the sweep file)
  limit          optional: use the first N training images
  test_limit     optional: use the first N test images
  architectures  preset names, architecture files (relative to the sweep file) or objects
  regimes        optional, default all four: lambda, lambda-phi, direct-subset, direct-full
  seeds          3 means seeds 0, 1, 2; or a list such as [0, 7]
  settings       fixed training settings (TrainingConfig fields, as in a --config file)
  grid           training settings mapped to lists of values: every combination is run
  keep_weights   store the compact kernels of each run (npz)
  save_models    write a run folder (models, metrics) per run
  tensorboard    write TensorBoard logs per run to OUT/tensorboard (spectrum, weights, HParams)"""
SETTING_FIELDS = tuple(sorted(set(TrainingConfig.__dataclass_fields__) - {"seed"}))
MAX_SWEEP_BYTES = 1_000_000
MAX_RUNS = 100_000


class SweepError(SpectralLabError):
    """A sweep file is invalid; ``path`` names the field (e.g. ``grid.learning_rate[1]``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


@dataclass
class Sweep:
    """A validated sweep: the runs and where their data comes from."""

    specs: list[RunSpec]
    data: DataSource
    keep_weights: bool = False
    save_models: bool = False
    tensorboard: bool = False


def _architecture(item: str | dict[str, Any], path: str, base: Path) -> Architecture:
    """A (validated) architecture entry: an object, a file next to the sweep file, or a preset."""
    from resources import PRESETS

    try:
        if isinstance(item, dict):
            return Architecture.from_dict({"name": path, **item})
        candidate = base / item
        if candidate.is_file():
            return Architecture.load(candidate)
        if (PRESETS / f"{item}.json").is_file():
            return Architecture.load(PRESETS / f"{item}.json")
    except ArchitectureError as error:
        inner = f".{error.path}" if error.path else ""
        raise SweepError(f"{path}{inner}", error.reason) from None
    presets = ", ".join(sorted(p.stem for p in PRESETS.glob("*.json")))
    raise SweepError(
        path, f"{item!r} is neither a file (relative to the sweep file) nor a preset ({presets})"
    )


def parse_sweep(data: Any, base: str | Path = ".") -> Sweep:
    """Validate a sweep's JSON value (:data:`spectral_core.formats.SweepFormat`), then resolve
    its data set and architecture files; every error names the field it is about."""
    base = Path(base)
    try:
        parse(SweepFormat, data, "sweep")
    except FormatErrors as errors:
        raise SweepError(*errors.first) from None

    dataset = data.get("dataset", "mnist")
    if dataset not in ("mnist", "fashion-mnist"):
        path = Path(dataset)
        dataset = str((path if path.is_absolute() else base / path).resolve())
        if not Path(dataset).exists():
            raise SweepError("dataset", f"{dataset} does not exist")
    architectures = [
        _architecture(item, f"architectures[{index}]", base)
        for index, item in enumerate(data["architectures"])
    ]
    regimes = data.get("regimes", list(REGIMES))
    seeds = data.get("seeds", 1)
    seeds = seeds if isinstance(seeds, list) else list(range(seeds))
    # The raw values, in the file's order: the grid's order names the runs.
    settings = data.get("settings", {})
    grid = data.get("grid", {})

    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    total = len(architectures) * len(regimes) * len(seeds) * len(combinations)
    if total > MAX_RUNS:
        raise SweepError("grid", f"makes {total} runs; at most {MAX_RUNS} are allowed")
    specs = []
    for architecture in architectures:
        for combination in combinations:
            merged = {**settings, **combination}
            label = ", ".join(f"{key}={value}" for key, value in combination.items())
            for regime in regimes:
                for seed in seeds:
                    specs.append(
                        RunSpec(architecture, regime, seed, settings_tuple(merged),
                                architecture.name, label)
                    )
    return Sweep(
        specs,
        DataSource(dataset, data.get("limit"), data.get("test_limit")),
        data.get("keep_weights", False),
        data.get("save_models", False),
        data.get("tensorboard", False),
    )


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; every error names the file and the field."""
    file = Path(path)
    try:
        data = read_json_file(file, MAX_SWEEP_BYTES)
    except ValueError as error:
        raise SweepError("", str(error)) from None
    try:
        return parse_sweep(data, file.parent)
    except SweepError as error:
        raise SweepError(error.path, f"{str(error).split(': ', 1)[-1]} (in {file})") from None


def summary_table(specs: Sequence[RunSpec], outcome: GridOutcome) -> str:
    """Mean ± std of test accuracy over seeds, per architecture, settings and regime."""
    rows = plan_rows(specs, outcome.records)
    groups: dict[tuple[str, str, str], list[float]] = {}
    trainable: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row["architecture"], row["size"], row["regime"])
        if row.get("test_accuracy") is not None:
            groups.setdefault(key, []).append(100.0 * row["test_accuracy"])
        trainable[key] = row["trainable_parameters"]
    lines = [
        "| architecture | settings | regime | trainable parameters | runs | test accuracy (%) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for key in sorted(groups):
        values = groups[key]
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        mean = float(np.mean(values))
        shown = f"{mean:.2f} ± {std:.2f}" if math.isfinite(mean) else "–"
        lines.append(
            f"| {key[0]} | {key[1] or '–'} | `{key[2]}` | {trainable[key]} | {len(values)} | {shown} |"
        )
    return "\n".join(lines)


def run_sweep(
    sweep: Sweep, out: str | Path, *, workers: int = 1, scheduler: Any = None, quiet: bool = False
) -> GridOutcome:
    """Run a validated sweep into ``out`` (resuming), then write runs.csv and summary.md."""
    folder = Path(out)
    outcome = run_grid(
        sweep.specs, folder, sweep.data, workers=workers, scheduler=scheduler,
        keep_weights=sweep.keep_weights, save_models=sweep.save_models, quiet=quiet,
        manifest={"experiment": "sweep"}, tensorboard=sweep.tensorboard,
    )
    atomic_write_text(folder / "runs.csv", runs_csv(plan_rows(sweep.specs, outcome.records)))
    summary = [
        "# Sweep summary",
        "",
        f"{len(outcome.records)} of {len(plan_order(sweep.specs))} runs finished "
        f"({outcome.ran} now, {outcome.skipped} before); data {sweep.data.describe()}.",
        "",
        summary_table(sweep.specs, outcome),
        "",
    ]
    atomic_write_text(folder / "summary.md", "\n".join(summary))
    return outcome


def add_parser(subparsers: Any) -> None:
    """Register the ``sweep`` subcommand (its help shows a valid sweep file)."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of trainings from a JSON file (local processes or a Dask cluster)",
        description=(
            "Run a grid of trainings from a JSON file, on local processes or a Dask cluster; "
            "an interrupted sweep resumes where it stopped."
        ),
        epilog=(
            f"A sweep file (JSON):\n\n{EXAMPLE}\n\nFields:\n{FIELDS}\n\nThe grid is "
            "architectures × regimes × seeds × every combination of grid values."
        ),
    )
    parser.add_argument("sweep_file", metavar="SWEEP.json", help="the grid to run")
    parser.add_argument("--out", required=True, help="sweep folder (resumed if it exists)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_executor_options(parser, default_workers=1)
    parser.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``spectral-lab sweep``: run the grid, print the summary; exit 1 if any run failed."""
    sweep = load_sweep(args.sweep_file)
    outcome = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler,
                        quiet=args.quiet)
    print(summary_table(sweep.specs, outcome))
    print(f"ran {outcome.ran} runs, kept {outcome.skipped} finished before; wrote "
          f"{Path(args.out) / 'runs.csv'} and {Path(args.out) / 'summary.md'}")
    for spec, error in outcome.failures:
        print(f"failed: {spec.architecture.name} {spec.size} {spec.regime} seed {spec.seed}: {error}",
              file=sys.stderr)
    if outcome.failures:
        print(f"{len(outcome.failures)} runs failed; run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0


__all__ = ["Sweep", "SweepError", "ExperimentError", "load_sweep", "parse_sweep", "run_sweep"]
