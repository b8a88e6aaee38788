"""Running one spec in a worker: the per-process dataset cache and the run itself."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from spectral_core.experiments.specs import DataSource, RunSpec
from spectral_core.record import RunRecord, record_results

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
    """What a worker sends back: the run's record, its ``runs.jsonl`` row (:func:`run_row` of
    that record) and, when asked, the compact model's kernels."""

    record: RunRecord
    row: dict[str, Any]
    kernels: list[np.ndarray] = field(default_factory=list)


def run_row(
    spec: RunSpec,
    record: RunRecord,
    dataset: Any,
    seconds: float,
    host: str | None = None,
    finished_at: str | None = None,
) -> dict[str, Any]:
    """A finished run's line in ``runs.jsonl`` (``runs.csv`` flattens it): derived from its
    ``record``, with the plan's id and labels (``spec``), the size of the data it ran on
    (``dataset``, a :class:`~spectral_core.data.Dataset`) and where and how long it ran
    (``seconds``: build, train, retract and compare; ``host`` and ``finished_at`` default to
    this machine and now). Strict JSON: NaN becomes null.
    """
    architecture = record.architecture
    layers = architecture.layers
    row = {
        "run_id": spec.run_id,
        "family": spec.family,
        "size": spec.size,
        "settings": dict(spec.settings),
        "architecture": architecture.name,
        "widths": "-".join(str(width) for width in architecture.widths),
        "hidden": layers[0].units if len(layers) > 1 else None,  # N2
        "regime": record.regime,
        "seed": record.config.seed,
        "dataset": dataset.name,
        "train_images": int(len(dataset.y_train)),
        "test_images": int(len(dataset.y_test)),
        **record_results(record),
        "train_seconds": record.seconds,
        "seconds": seconds,
        "host": host if host is not None else socket.gethostname(),
        "finished_at": finished_at
        if finished_at is not None
        else datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return _json_safe(row)


def execute_run(
    spec: RunSpec,
    data: DataSource,
    keep_weights: bool = False,
    save_to: str | None = None,
    observers: Sequence[Callable[[Any], None]] = (),
) -> RunResult:
    """Train one run (build, train, retract through ``run_training``) into its record."""
    from spectral_core.layers import dense_layers, effective_weights
    from spectral_core.runs import run_training

    dataset = load_source(data)
    plan = spec.plan(data.source)
    plan.config.snapshot_interval = 1e9  # observers here only follow epochs: no batch snapshots
    started = time.perf_counter()
    outcome = run_training(
        plan.architecture, plan.regime, dataset, plan.config, out=save_to, observers=observers,
        name=plan.name, dataset_source=plan.dataset, analysis=save_to is not None,
    )
    row = run_row(spec, outcome.record, dataset, time.perf_counter() - started)
    kernels = []
    if keep_weights:
        kernels = [effective_weights(layer)[0].astype(np.float32) for layer in dense_layers(outcome.compact)]
    return RunResult(outcome.record, row, kernels)


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
