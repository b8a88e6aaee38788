"""Experiments: grids of runs, a resumable run log, executors, and the paper's reproductions.

A grid is a list of :class:`RunSpec` values. :func:`run_grid` runs the ones not yet in the
folder's ``runs.jsonl`` (one JSON line per finished run, appended with fsync, so an interrupted
sweep resumes where it stopped) through any ``concurrent.futures`` executor: this process,
local worker processes, or a Dask cluster. Every run goes through
:func:`spectral_core.runs.run_training`.

TensorFlow is imported only inside the functions that train, so ``spectral-lab --help`` and the
report code stay quick.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import (
    DEFAULT_INITIALIZATION,
    LEGACY_INITIALIZATION_NAMES,
    TrainingConfig,
)
from spectral_core.errors import SpectralLabError
from spectral_core.files import atomic_path, atomic_write_text
from spectral_core.regimes import REGIMES, parameter_counts

RUN_LOG = "runs.jsonl"
# The name each scheme had in run logs written before the rename ("paper-text" was "paper").
SCHEME_ID_NAMES = {
    **{new: old for old, new in LEGACY_INITIALIZATION_NAMES.items()},
    "paper": "paper-authors-code",
}
MANIFEST = "experiment.json"

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
# Per-epoch cost that does not grow with the weights (data movement, Keras dispatch), in weight
# units: on MNIST an epoch of 784→800→10 (~640k weights) takes about twice a perceptron's.
EPOCH_OVERHEAD = 500_000


class ExperimentError(SpectralLabError):
    """An experiment cannot run as asked; the message says what to change."""


# -- run specifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One training run of a grid: what to build, how to train it, and where it belongs."""

    architecture: Architecture
    regime: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = ()  # TrainingConfig fields other than seed
    family: str = ""
    size: str = ""  # label of the size within the family, e.g. "800" or "800-600"

    def config(self) -> TrainingConfig:
        return TrainingConfig.from_dict({**dict(self.settings), "seed": self.seed})

    @property
    def initialization(self) -> str:
        return str(dict(self.settings).get("initialization", DEFAULT_INITIALIZATION))

    @property
    def run_id(self) -> str:
        """Stable id from what determines the result (not the name, family or label).

        Scheme names are hashed by what they mean: run logs written while ``paper`` named the
        article's text keep their ids as ``paper-text`` runs, and ``paper`` runs (the authors'
        code) get new ones, so a resumed folder never mixes the two.
        """
        architecture = self.architecture.to_dict()
        architecture.pop("name")
        settings = dict(self.settings)
        if "initialization" in settings:
            settings["initialization"] = SCHEME_ID_NAMES.get(
                settings["initialization"], settings["initialization"]
            )
        key = {
            "architecture": architecture,
            "regime": self.regime,
            "seed": self.seed,
            "settings": sorted(settings.items()),
        }
        text = json.dumps(key, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def hidden(self) -> int | None:
        """N2, the first hidden layer's width (None for a perceptron)."""
        return self.architecture.layers[0].units if len(self.architecture.layers) > 1 else None

    @property
    def epochs(self) -> int:
        return int(dict(self.settings).get("epochs", TrainingConfig().epochs))

    @property
    def cost(self) -> int:
        """Relative compute of the run, for the progress bar's time left."""
        widths = self.architecture.widths
        weights = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
        return self.epochs * (weights + EPOCH_OVERHEAD)

    def describe(self) -> dict[str, Any]:
        widths = self.architecture.widths
        return {
            "run_id": self.run_id,
            "family": self.family,
            "size": self.size,
            "architecture": self.architecture.name,
            "widths": "-".join(str(w) for w in widths),
            "hidden": self.hidden,
            "regime": self.regime,
            "seed": self.seed,
            "settings": dict(self.settings),
        }


def settings_tuple(settings: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(settings.items()))


@dataclass(frozen=True)
class DataSource:
    """Where workers load the data from (a path must be readable by every worker)."""

    source: str
    limit: int | None = None  # first N training images
    test_limit: int | None = None  # first N test images (None: all)

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.source, "limit": self.limit, "test_limit": self.test_limit}


_DATASETS: dict[DataSource, Any] = {}
_DATASET_LOCK = threading.Lock()


def load_source(data: DataSource) -> Any:
    """The :class:`~spectral_core.data.Dataset` of ``data``, loaded once per process."""
    from spectral_core.data import load_dataset

    with _DATASET_LOCK:
        if data not in _DATASETS:
            dataset = load_dataset(data.source)
            if data.limit or data.test_limit:
                dataset = dataset.subset(
                    data.limit or len(dataset.y_train), data.test_limit or len(dataset.y_test)
                )
            _DATASETS[data] = dataset
        return _DATASETS[data]


def worker_init(data: DataSource | None = None) -> None:
    """Process-pool initializer: import TensorFlow once and load the data once per worker."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    # Every run builds new models, so Keras's retracing warning would fire on each one.
    tf.get_logger().setLevel("ERROR")
    if data is not None:
        load_source(data)


@dataclass
class RunResult:
    """What a worker sends back: the JSON record and, when asked, the compact kernels."""

    record: dict[str, Any]
    kernels: list[np.ndarray] = field(default_factory=list)


def execute_run(
    spec: RunSpec,
    data: DataSource,
    keep_weights: bool = False,
    save_to: str | None = None,
    observers: Sequence[Callable[[Any], None]] = (),
) -> RunResult:
    """Train one run (build, train, retract through ``run_training``) and describe it."""
    from spectral_core.layers import dense_layers, effective_weights
    from spectral_core.runs import run_training

    dataset = load_source(data)
    config = spec.config()
    config.snapshot_interval = 1e9  # observers here only follow epochs: no batch snapshots
    started = time.perf_counter()
    outcome = run_training(
        spec.architecture, spec.regime, dataset, config, out=save_to, observers=observers
    )
    summary = outcome.summary
    final = outcome.result.history[-1] if outcome.result.history else {}
    record = {
        **spec.describe(),
        "dataset": dataset.name,
        "train_images": int(len(dataset.y_train)),
        "test_images": int(len(dataset.y_test)),
        "trainable_parameters": summary["trainable_parameters"],
        "total_parameters": summary["total_parameters"],
        "compact_parameters": summary["compact_parameters"],
        "test_accuracy": summary["test_accuracy"],
        "test_accuracy_compact": summary["test_accuracy_compact"],
        "test_loss": summary["test_loss"],
        "train_accuracy": final.get("accuracy", math.nan),
        "epochs_completed": summary["epochs_completed"],
        "diverged": summary["diverged"],
        "ended": summary["ended"],
        "train_seconds": summary["seconds"],
        "seconds": time.perf_counter() - started,
        "host": socket.gethostname(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    kernels = []
    if keep_weights:
        kernels = [effective_weights(layer)[0].astype(np.float32) for layer in dense_layers(outcome.compact)]
    return RunResult(_json_safe(record), kernels)


def _json_safe(value: Any) -> Any:
    """Plain JSON types; NaN becomes None so every line is strict JSON."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- the run log -----------------------------------------------------------------------------


class RunLog:
    """``runs.jsonl`` in an experiment folder: one line per finished run, appended durably."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RUN_LOG

    def repair(self) -> None:
        """Drop a last line cut short by a crash, so appends start on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            with atomic_path(self.path) as temporary:
                Path(temporary).write_bytes(keep)

    def records(self) -> dict[str, dict[str, Any]]:
        """Finished runs by run id (a later line for the same id wins)."""
        found: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return found
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if line.endswith("\n"):
                        raise ExperimentError(
                            f"{self.path}: line {number} is not valid JSON; fix or delete that line"
                        ) from None
                    continue  # a last line cut short by a crash: that run is simply redone
                if isinstance(record, dict) and "run_id" in record:
                    found[record["run_id"]] = record
        return found

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Refuse a second sweep writing into the same folder at the same time."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the log is still append-only
        yield
        return
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ExperimentError(
                f"{folder}: another sweep is writing into this folder; wait for it or use another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the folder's manifest, or check that a resumed sweep uses the same data."""
    path = folder / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ExperimentError(f"{path}: unreadable ({error}); delete it to start over") from None
        for key in ("dataset", "limit", "test_limit"):
            if old.get(key) != manifest.get(key):
                raise ExperimentError(
                    f"{folder} holds runs made with {key}={old.get(key)!r}, not "
                    f"{manifest.get(key)!r}; use the same {key} to resume, or another --out"
                )
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# -- executors -------------------------------------------------------------------------------


class InlineExecutor(cf.Executor):
    """Runs each task in this process when its result is asked for (``--workers 0``)."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        future: cf.Future = cf.Future()
        future.task = (fn, args, kwargs)  # type: ignore[attr-defined]
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


def run_inline(future: cf.Future) -> None:
    fn, args, kwargs = future.task  # type: ignore[attr-defined]
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as error:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(error)
        if isinstance(error, KeyboardInterrupt):
            raise


@contextlib.contextmanager
def make_executor(
    workers: int = 1, scheduler: str | None = None, data: DataSource | None = None
) -> Iterator[cf.Executor]:
    """An executor for runs: this process (0 workers), N spawned processes, or a Dask cluster.

    ``scheduler`` is a Dask scheduler address (``tcp://HOST:PORT``) or a ``distributed.Client``.
    """
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ExperimentError(
                "--scheduler needs Dask: pip install 'spectral-lab[cluster]'"
            ) from None
        own = not isinstance(scheduler, Client)
        try:
            client = Client(scheduler, timeout="20s") if own else scheduler
        except OSError as error:
            raise ExperimentError(f"--scheduler: cannot reach {scheduler} ({error})") from None
        try:
            # Import TensorFlow and load the data once on every worker, and fail early (with the
            # worker's own message) when a worker cannot read the dataset path.
            client.run(worker_init, data)
        except Exception as error:
            if own:
                client.close()
            raise ExperimentError(f"--scheduler: the Dask workers could not start: {error}") from None
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
            if own:
                client.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ExperimentError(f"--workers: must be 0 (this process) or more, got {workers!r}")
    if workers == 0:
        worker_init()
        yield InlineExecutor()
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(data,),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- running a grid --------------------------------------------------------------------------


@dataclass
class GridOutcome:
    """How a grid ended: the records of every planned run that has one, and what failed."""

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
) -> GridOutcome:
    """Run every spec not yet finished in ``out``; append each finished run to ``runs.jsonl``."""
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
                    observers = [progress.observer(spec)] if inline else []
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
                    records[spec.run_id] = result.record
                    ran += 1
                    progress.finish(spec)
        finally:
            progress.close()
    planned = {spec.run_id for spec in unique}
    kept = {run_id: record for run_id, record in records.items() if run_id in planned}
    return GridOutcome(kept, ran, len(unique) - len(pending), failures)


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
        target = weights / f"{result.record['run_id']}.npz"
        with atomic_path(target) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, *result.kernels)
    log.append(result.record)


def load_kernels(folder: str | os.PathLike[str], run_id: str) -> list[np.ndarray]:
    path = Path(folder) / "weights" / f"{run_id}.npz"
    with np.load(path) as archive:
        return [archive[f"arr_{index}"] for index in range(len(archive.files))]


# -- the paper's experiments -----------------------------------------------------------------


def perceptron_architecture() -> Architecture:
    return Architecture(
        "perceptron 784-10", 784, (LayerSpec(10, "softmax"),), train_input_eigenvalues=True
    )


def linear_architecture(hidden: Sequence[int], name: str) -> Architecture:
    layers = [LayerSpec(units, "linear", telescopic=True) for units in hidden]
    return Architecture(name, 784, (*layers, LayerSpec(10, "softmax")))


def nonlinear_architecture(hidden: int) -> Architecture:
    return Architecture(
        f"non-linear 784-{hidden}-120-10",
        784,
        (LayerSpec(hidden, "linear", telescopic=True), LayerSpec(120, "relu"), LayerSpec(10, "softmax")),
    )


def size_label(hidden: Sequence[int]) -> str:
    return "-".join(str(units) for units in hidden)


def perceptron_plan(
    seeds: Sequence[int], settings: dict[str, Any], regimes: Sequence[str] = REGIMES
) -> list[RunSpec]:
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


# -- statistics and reports ------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    family: str
    size: str
    regime: str
    accuracies: tuple[float, ...]
    trainable_parameters: int

    @property
    def mean(self) -> float:
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


# -- plots -----------------------------------------------------------------------------------

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


# -- the reproduce command -------------------------------------------------------------------


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
        parts += [f"- {spec.describe()['widths']} {spec.regime} seed {spec.seed}: {error}"
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
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    for regime in chosen:
        if regime not in REGIMES:
            raise ExperimentError(f"--regimes: must be among {', '.join(REGIMES)}, got {regime!r}")
    return chosen


def add_executor_options(parser: argparse.ArgumentParser, default_workers: int) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=int, default=default_workers,
        help=f"worker processes (0: run in this process; default {default_workers})",
    )
    group.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT",
        help="run on a Dask distributed cluster (the dataset path must be readable by its workers)",
    )


def add_parser(subparsers: Any) -> None:
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
    add_executor_options(parser, default_workers=0)
    parser.set_defaults(func=cmd_reproduce)


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
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
        manifest={"experiment": args.experiment},
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
