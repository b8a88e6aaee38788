"""Running a grid: the runs not yet in the folder's log, through an executor, resumably."""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.experiments.execution import RunResult, execute_run
from spectral_core.experiments.executors import InlineExecutor, make_executor, run_inline
from spectral_core.experiments.runlog import RunLog, check_manifest, folder_lock
from spectral_core.experiments.specs import DataSource, RunSpec
from spectral_core.files import atomic_path


@dataclass
class GridOutcome:
    """How a grid ended: the log rows (``runs.jsonl``) of every planned run that has one, by
    run id, and what failed."""

    records: dict[str, dict[str, Any]]
    ran: int
    skipped: int
    failures: list[tuple[RunSpec, str]]


class _Progress:
    """One tqdm bar over the whole grid, weighted by each run's cost, with time left."""

    def __init__(self, specs: Sequence[RunSpec], done: set[str], quiet: bool) -> None:
        from tqdm.auto import tqdm

        total = sum(spec.cost for spec in specs)
        initial = sum(spec.cost for spec in specs if spec.run_id in done)
        self.runs_total = len(specs)
        self.runs_done = sum(1 for spec in specs if spec.run_id in done)
        self.bar = tqdm(
            total=total,
            initial=initial,
            disable=quiet,
            dynamic_ncols=True,
            desc="sweep",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
        )
        self._credited: dict[str, int] = {}
        self._show()

    def _show(self, extra: str = "") -> None:
        text = f"runs {self.runs_done}/{self.runs_total}"
        self.bar.set_postfix_str(f"{text} {extra}".strip(), refresh=True)

    def observer(self, spec: RunSpec) -> Callable[[Any], None]:
        """A training observer that advances the bar per epoch (runs in this process only)."""
        per_epoch = spec.cost // max(1, spec.epochs)

        def observe(snapshot: Any) -> None:
            if snapshot.kind == "epoch" and snapshot.batch > 0:
                credited = self._credited.get(spec.run_id, 0)
                step = min(per_epoch, spec.cost - credited)
                self._credited[spec.run_id] = credited + step
                self.bar.update(step)
                where = " ".join(part for part in (spec.family or spec.architecture.name, spec.size) if part)
                self._show(f"{where} {spec.regime} seed {spec.seed} "
                           f"epoch {snapshot.epoch + 1}/{snapshot.epochs}")

        return observe

    def finish(self, spec: RunSpec) -> None:
        self.bar.update(spec.cost - self._credited.pop(spec.run_id, 0))
        self.runs_done += 1
        self._show()

    def close(self) -> None:
        self.bar.close()


def plan_order(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """Unique runs (by id) in the given order."""
    seen: set[str] = set()
    unique = []
    for spec in specs:
        if spec.run_id not in seen:
            seen.add(spec.run_id)
            unique.append(spec)
    return unique


def run_grid(
    specs: Sequence[RunSpec],
    out: str | os.PathLike[str],
    data: DataSource,
    *,
    workers: int = 1,
    scheduler: Any = None,
    keep_weights: bool = False,
    save_models: bool = False,
    quiet: bool = False,
    manifest: dict[str, Any] | None = None,
    tensorboard: bool = False,
) -> GridOutcome:
    """Run every spec not yet finished in ``out``; append each finished run to ``runs.jsonl``.

    ``tensorboard``: each run also writes TensorBoard logs (spectrum, weight histograms, HParams)
    to ``out/tensorboard/<run id>``, so the grid is browsable in the HParams dashboard.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    unique = plan_order(specs)
    with folder_lock(folder):
        check_manifest(folder, {**(manifest or {}), **data.describe()})
        log = RunLog(folder)
        log.repair()
        records = log.records()
        pending = [spec for spec in unique if spec.run_id not in records]
        progress = _Progress(unique, set(records), quiet)
        failures: list[tuple[RunSpec, str]] = []
        ran = 0
        try:
            with make_executor(workers, scheduler, data) as executor:
                inline = isinstance(executor, InlineExecutor)
                futures: dict[cf.Future, RunSpec] = {}
                for spec in pending:
                    save_to = str(folder / "runs" / spec.run_id) if save_models else None
                    observers: list[Any] = [progress.observer(spec)] if inline else []
                    if tensorboard:
                        observers.append(_tensorboard_observer(folder, spec))
                    future = executor.submit(
                        execute_run, spec, data, keep_weights, save_to, observers
                    )
                    futures[future] = spec
                for future in _completed(futures, inline):
                    spec = futures[future]
                    try:
                        result: RunResult = future.result()
                    except Exception as error:  # one bad run must not end the sweep
                        failures.append((spec, f"{type(error).__name__}: {error}"))
                        progress.finish(spec)
                        continue
                    _store(folder, log, result)
                    records[spec.run_id] = result.row
                    ran += 1
                    progress.finish(spec)
        finally:
            progress.close()
    planned = {spec.run_id for spec in unique}
    kept = {run_id: record for run_id, record in records.items() if run_id in planned}
    return GridOutcome(kept, ran, len(unique) - len(pending), failures)


def _tensorboard_observer(folder: Path, spec: RunSpec) -> Any:
    from spectral_core.tensorboard import TensorBoardObserver, run_hparams

    hparams = {
        **run_hparams(spec.architecture, spec.regime, spec.config()),
        "family": spec.family, "size": spec.size,
    }
    return TensorBoardObserver(folder / "tensorboard" / spec.run_id, hparams)


def _completed(futures: dict[cf.Future, RunSpec], inline: bool) -> Iterator[cf.Future]:
    if inline:
        for future in futures:
            run_inline(future)
            yield future
    else:
        yield from cf.as_completed(futures)


def _store(folder: Path, log: RunLog, result: RunResult) -> None:
    """Weights first, then the log line: a logged run always has its files."""
    if result.kernels:
        weights = folder / "weights"
        weights.mkdir(exist_ok=True)
        target = weights / f"{result.row['run_id']}.npz"
        with atomic_path(target) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, *result.kernels)
    log.append(result.row)


def load_kernels(folder: str | os.PathLike[str], run_id: str) -> list[np.ndarray]:
    """The compact model's kernels stored for run ``run_id`` (``keep_weights``)."""
    path = Path(folder) / "weights" / f"{run_id}.npz"
    with np.load(path) as archive:
        return [archive[f"arr_{index}"] for index in range(len(archive.files))]
