"""The user's path (issue 12): epochs through the engine, `spectral-lab train`, a small reproduce.

Every ratio here is to ``direct-full`` of the same shape trained the same way, interleaved in one
run: the engine with observers on (10 Hz batch snapshots, epoch histograms), a 10 % validation
split, batch 300, as the app and `spectral-lab train` run it. The first epoch (which also builds
the cached projection and traces the training function) is reported on its own; a run's steady
epoch is the faster of its second and third.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench import (
    Figure,
    Plan,
    architecture_for,
    load_bench_dataset,
    median_ratio,
    memory_figure,
    quartile_range,
)

# Targets of issue 12: epoch time ÷ direct-full's, per shape and regime.
USER_TARGETS: dict[tuple[int, ...], dict[str, float]] = {
    (784, 800, 10): {"lambda": 0.25, "direct-subset": 0.40, "lambda-phi": 1.00},
    (784, 800, 120, 10): {"lambda": 0.25, "direct-subset": 0.40, "lambda-phi": 1.00},
    (784, 2000, 120, 10): {"lambda": 0.15, "direct-subset": 0.30},
}
QUICK_TARGETS: dict[tuple[int, ...], dict[str, float]] = {
    (64, 32, 10): {"lambda": 0.25, "direct-subset": 0.40, "lambda-phi": 1.00},
}
# The small fixed Table 1 of the issue: 1 seed, 3 epochs, three sizes, every regime.
REPRODUCE_ARGS = [
    "reproduce", "table1", "--seeds", "1", "--epochs", "3", "--sizes", "50,800,2000",
    "--families", "wide,nonlinear", "-q",
]
REPRODUCE_SPEEDUP_TARGET = 2.0
REPO = Path(__file__).resolve().parent.parent


def engine_epochs(widths: tuple[int, ...], regime: str, dataset: Any, batch: int) -> dict[str, Any]:
    """Three epochs of ``regime`` through the engine, observers on: the first epoch's seconds
    and the fastest of the other two ("steady")."""
    from spectral_core.build import build_model
    from spectral_core.training import TrainingConfig, train

    snapshots: list[Any] = []
    config = TrainingConfig(epochs=3, batch_size=batch, validation_fraction=0.1)
    model = build_model(architecture_for(widths), regime, seed=0)
    cpu = time.process_time()
    result = train(model, dataset, config, observers=[snapshots.append])
    return {
        "first": result.history[0]["seconds"],
        "steady": min(row["seconds"] for row in result.history[1:]),
        "cpu": time.process_time() - cpu,
        "cached": result.cached_projection,
        "steps_per_execution": result.steps_per_execution,
        "snapshots": len(snapshots),
    }


def user_epoch_figures(plan: Plan) -> list[Figure]:
    """Steady and first epochs of each regime ÷ direct-full's, per shape, interleaved."""
    targets = QUICK_TARGETS if plan.quick else USER_TARGETS
    dataset = load_bench_dataset(plan)
    if dataset is None:
        return [Figure("User's path", "epochs through the engine", "not measured", "—", None,
                       f"no data set at {plan.dataset} (give --dataset)")]
    repeats = 1 if plan.quick else 3
    figures = []
    for widths, regimes in targets.items():
        shape = "→".join(map(str, widths))
        names = ["direct-full", *regimes]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for repeat in range(repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(engine_epochs(widths, name, dataset, plan.batch))
        dense = runs["direct-full"]
        for regime, target in regimes.items():
            mine = runs[regime]
            steady = [run["steady"] for run in mine]
            base = [run["steady"] for run in dense]
            # Fastest of the repeats on each side: the shared VM stalls whole epochs at random
            # (wall time up, CPU time not), which a median of three does not absorb.
            ratio = min(steady) / min(base)
            first = median_ratio([r["first"] for r in mine], [r["first"] for r in dense])
            cpu = median_ratio([r["cpu"] for r in mine], [r["cpu"] for r in dense])
            figures.append(
                Figure(
                    "User's path",
                    f"{regime} epoch ÷ direct-full epoch, {shape}",
                    f"{ratio:.2f} ({min(steady):.2f} s vs {min(base):.2f} s)",
                    f"≤ {target:.2f}",
                    ratio <= target,
                    by=f"{ratio - target:.2f}",
                    note=(
                        f"fastest of epochs 2–3 of each run, then of {repeats} interleaved runs "
                        f"(per-run ratios {quartile_range(steady, base)}); first epoch "
                        f"{first:.2f} ({statistics.median(r['first'] for r in mine):.2f} s: "
                        f"projection cache, tracing); CPU-time ratio of the whole runs {cpu:.2f}; "
                        f"cached projection {'on' if mine[0]['cached'] else 'off'}, "
                        f"{mine[0]['steps_per_execution']} batches per compiled call "
                        f"(direct-full {dense[0]['steps_per_execution']}); {len(dataset.y_train)} "
                        f"images, 10 % held out, observers on ({mine[0]['snapshots']} snapshots)"
                    ),
                )
            )
    return figures


def timed_command(args: list[str], cwd: Path, timeout: float = 3600) -> float:
    """Wall seconds of ``python args…`` run in ``cwd`` (whose packages it imports)."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=environment,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(args[:4])}…: exit status {completed.returncode}: "
                           + " | ".join(tail))
    return seconds


def train_command_figures(plan: Plan) -> list[Figure]:
    """`spectral-lab train` end to end (start-up, data, training, retraction, run folder)."""
    if plan.dataset is None or not Path(plan.dataset).is_file():
        return [Figure("User's path", "spectral-lab train end to end", "not measured", "—", None,
                       f"no data set at {plan.dataset} (give --dataset)")]
    widths = (784, 800, 120, 10)
    seconds: dict[str, list[float]] = {"lambda": [], "direct-subset": [], "direct-full": []}
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "architecture.json"
        spec.write_text(json.dumps(architecture_for(widths).to_dict()), encoding="utf-8")
        for repeat in range(2):
            for regime in seconds:
                args = ["-m", "spectral_core", "train", str(spec), "--regime", regime,
                        "--dataset", str(plan.dataset), "--epochs", "3",
                        "--out", str(Path(folder) / f"{regime}-{repeat}")]
                seconds[regime].append(timed_command(args, REPO))
    base = seconds["direct-full"]
    return [
        Figure(
            "User's path",
            f"spectral-lab train, {regime} ÷ direct-full, 784→800→120→10, 3 epochs",
            f"{median_ratio(times, base):.2f} ({min(times):.1f} s vs {min(base):.1f} s)",
            note="whole command in a fresh process (TensorFlow start-up, data loading, 3 epochs, "
            "test evaluation, retraction, run folder written); fastest of 2 interleaved runs shown",
        )
        for regime, times in seconds.items()
        if regime != "direct-full"
    ]


def reproduce_figures(plan: Plan, baseline: str | None) -> list[Figure]:
    """Wall time of a small fixed `reproduce table1`, here and (``baseline``) at a git ref."""
    name = "reproduce table1, 1 seed, 3 epochs, sizes 50/800/2000, wide + non-linear"
    if plan.quick or plan.dataset is None or not Path(plan.dataset).is_file():
        return [Figure("User's path", name, "not measured", "—", None,
                       "needs MNIST (give --dataset); skipped by --quick")]
    args = ["-m", "spectral_core.cli", *REPRODUCE_ARGS, "--dataset", str(plan.dataset)]
    with tempfile.TemporaryDirectory() as folder:
        now = timed_command([*args, "--out", str(Path(folder) / "now")], REPO)
        if not baseline:
            return [Figure("User's path", name, f"{now:.0f} s", note="no --baseline given")]
        tree = Path(folder) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), baseline],
                       check=True, capture_output=True)
        try:
            before = timed_command([*args, "--out", str(Path(folder) / "before")], tree)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
        split_now, split_before = (
            regime_seconds(Path(folder) / side / "runs.csv") for side in ("now", "before")
        )
    speedup = before / now
    return [
        Figure(
            "User's path",
            f"{name}: speed-up over {baseline}",
            f"{speedup:.1f}× ({now:.0f} s vs {before:.0f} s)",
            f"≥ {REPRODUCE_SPEEDUP_TARGET:.0f}×",
            speedup >= REPRODUCE_SPEEDUP_TARGET,
            by=f"{REPRODUCE_SPEEDUP_TARGET - speedup:.1f}×",
            note=f"`spectral-lab {' '.join(REPRODUCE_ARGS)}` run in a fresh process, first here, "
            f"then in a checkout of {baseline} (its own code, same interpreter and packages); "
            + regime_split_note(split_now, split_before, before),
        )
    ]


def regime_seconds(runs_csv: Path) -> dict[str, float]:
    """Seconds per regime (build, train, retract, compare) summed over a reproduce's runs.csv."""
    totals: dict[str, float] = {}
    if runs_csv.is_file():
        with open(runs_csv, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                totals[row["regime"]] = totals.get(row["regime"], 0.0) + float(row["seconds"])
    return totals


def regime_split_note(now: dict[str, float], before: dict[str, float], before_total: float) -> str:
    """Where the small reproduce's time goes, and the speed-up bound the unchanged regimes set."""
    if not now or not before:
        return "no per-run times to split"
    parts = ", ".join(
        f"{regime} {now.get(regime, 0):.0f} s vs {before.get(regime, 0):.0f} s" for regime in before
    )
    fixed = before.get("direct-full", 0.0) + before.get("lambda-phi", 0.0)
    bound = before_total / fixed if fixed else float("inf")
    return (
        f"per regime, summed over its runs: {parts}; the rest is start-up and data loading. "
        f"`direct-full` and `lambda-phi` train every weight and gain nothing from a cached "
        f"projection: their {fixed:.0f} s of the baseline's {before_total:.0f} s cap the "
        f"speed-up at {bound:.1f}× even if the other two regimes took no time at all"
    )


def user_path_figures(plan: Plan, baseline: str | None = None) -> list[Figure]:
    """Every figure of the user's path, in order."""
    figures = user_epoch_figures(plan)
    if not plan.quick:
        figures += train_command_figures(plan)
        figures.append(
            memory_figure(plan, (784, 2000, 120, 10), "lambda", target_bytes=int(2.5 * 1024**3))
        )
    figures += reproduce_figures(plan, baseline)
    return figures
