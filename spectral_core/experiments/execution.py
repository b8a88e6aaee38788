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
