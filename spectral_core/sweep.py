"""``spectral-lab sweep``: any grid of runs from a JSON file, on local processes or Dask.

A sweep file is the JSON object :data:`EXAMPLE` shows (``spectral-lab sweep --help`` prints it);
:data:`FIELDS` says what each field means. The grid is architectures × regimes × seeds × every
combination of ``grid`` values.
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
from spectral_core.config import ConfigError, TrainingConfig
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
from spectral_core.regimes import REGIMES

TOP_LEVEL = (
    "dataset", "limit", "test_limit", "architectures", "regimes", "seeds", "settings", "grid",
    "keep_weights", "save_models", "tensorboard",
)
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


def _positive_int(value: Any, path: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SweepError(path, f"must be an integer of at least {low}, got {value!r}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SweepError(path, f"must be true or false, got {value!r}")
    return value


def _architecture(item: Any, path: str, base: Path) -> Architecture:
    from resources import PRESETS

    try:
        if isinstance(item, dict):
            return Architecture.from_dict({"name": path, **item})
        if isinstance(item, str):
            candidate = base / item
            if candidate.is_file():
                return Architecture.load(candidate)
            if (PRESETS / f"{item}.json").is_file():
                return Architecture.load(PRESETS / f"{item}.json")
            presets = ", ".join(sorted(p.stem for p in PRESETS.glob("*.json")))
            raise SweepError(
                path, f"{item!r} is neither a file (relative to the sweep file) nor a preset ({presets})"
            )
    except ArchitectureError as error:
        inner = f".{error.path}" if error.path else ""
        raise SweepError(f"{path}{inner}", error.reason) from None
    raise SweepError(path, f"must be a preset name, a file name or an object, got {item!r}")


def _check_setting(name: str, value: Any, path: str) -> None:
    if name not in SETTING_FIELDS:
        raise SweepError(path, f"unknown training setting; allowed: {', '.join(SETTING_FIELDS)}")
    try:
        TrainingConfig.from_dict({name: value})
    except ConfigError as error:
        raise SweepError(path, str(error).split(": ", 1)[-1]) from None
    except TypeError:
        raise SweepError(path, f"has the wrong type: {value!r}") from None


def parse_sweep(data: Any, base: str | Path = ".") -> Sweep:
    """Validate a sweep's JSON value; every error names the field it is about."""
    base = Path(base)
    if not isinstance(data, dict):
        raise SweepError("", f"the sweep must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise SweepError(unknown[0], f"unknown field; allowed fields are {', '.join(TOP_LEVEL)}")

    dataset = data.get("dataset", "mnist")
    if not isinstance(dataset, str) or not dataset:
        raise SweepError("dataset", f"must be mnist, fashion-mnist or a path, got {dataset!r}")
    if dataset not in ("mnist", "fashion-mnist"):
        path = Path(dataset)
        dataset = str((path if path.is_absolute() else base / path).resolve())
        if not Path(dataset).exists():
            raise SweepError("dataset", f"{dataset} does not exist")
    limit = data.get("limit")
    if limit is not None:
        _positive_int(limit, "limit")
    test_limit = data.get("test_limit")
    if test_limit is not None:
        _positive_int(test_limit, "test_limit")

    raw_architectures = data.get("architectures")
    if not isinstance(raw_architectures, list) or not raw_architectures:
        raise SweepError("architectures", "must be a non-empty list of presets, files or objects")
    architectures = [
        _architecture(item, f"architectures[{index}]", base)
        for index, item in enumerate(raw_architectures)
    ]

    regimes = data.get("regimes", list(REGIMES))
    if not isinstance(regimes, list) or not regimes:
        raise SweepError("regimes", f"must be a non-empty list among {', '.join(REGIMES)}")
    for index, regime in enumerate(regimes):
        if regime not in REGIMES:
            raise SweepError(f"regimes[{index}]", f"must be one of {', '.join(REGIMES)}, got {regime!r}")

    raw_seeds = data.get("seeds", 1)
    if isinstance(raw_seeds, list):
        if not raw_seeds:
            raise SweepError("seeds", "must not be empty")
        seeds = [_positive_int(seed, f"seeds[{index}]", low=0) for index, seed in enumerate(raw_seeds)]
        if any(seed > 2**31 - 1 for seed in seeds):
            raise SweepError("seeds", "seeds must be below 2**31")
    else:
        seeds = list(range(_positive_int(raw_seeds, "seeds")))

    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise SweepError("settings", "must be an object of training settings")
    for name, value in settings.items():
        _check_setting(name, value, f"settings.{name}")

    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise SweepError("grid", "must be an object mapping a training setting to a list of values")
    for name, values in grid.items():
        if name not in SETTING_FIELDS:
            raise SweepError(f"grid.{name}", f"unknown training setting; allowed: {', '.join(SETTING_FIELDS)}")
        if name in settings:
            raise SweepError(f"grid.{name}", "is also in settings; give it in one place only")
        if not isinstance(values, list) or not values:
            raise SweepError(f"grid.{name}", "must be a non-empty list of values")
        for index, value in enumerate(values):
            _check_setting(name, value, f"grid.{name}[{index}]")

    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    total = len(architectures) * len(regimes) * len(seeds) * len(combinations)
    if total > MAX_RUNS:
        raise SweepError("grid", f"makes {total} runs; at most {MAX_RUNS} are allowed")
    specs = []
    for architecture in architectures:
        for combination in combinations:
            merged = {**settings, **combination}
            try:
                TrainingConfig.from_dict(merged)
            except ConfigError as error:
                raise SweepError("grid", f"the combination {combination} is invalid: {error}") from None
            label = ", ".join(f"{key}={value}" for key, value in combination.items())
            for regime in regimes:
                for seed in seeds:
                    specs.append(
                        RunSpec(architecture, regime, seed, settings_tuple(merged),
                                architecture.name, label)
                    )
    return Sweep(
        specs,
        DataSource(dataset, limit, test_limit),
        _bool(data.get("keep_weights", False), "keep_weights"),
        _bool(data.get("save_models", False), "save_models"),
        _bool(data.get("tensorboard", False), "tensorboard"),
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
