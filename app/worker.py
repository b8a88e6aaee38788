"""Background work: loading TensorFlow after the window shows, and one training run at a time.

Both are QObjects moved to a QThread. They never touch widgets: the trainer keeps the latest
snapshot (numpy copies made by the library) behind a lock and signals that it changed; the GUI
redraws from it on its own timer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig


@contextmanager
def collection_deferred() -> Iterator[None]:
    """Python's automatic garbage collection off while a run trains, then one young collection.

    A full collection holds the GIL for its whole pass (43–112 ms measured mid-run, longer as
    runs accumulate), freezing the GUI thread. A run's cyclic garbage is bounded (≈9,000 objects
    from tracing, the same for 1 or 4 epochs), and with automatic collection off everything the
    run allocated is still in generation 0, so ``gc.collect(0)`` finds it without rescanning the
    session's older objects.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


class TensorFlowLoader(QObject):
    """Imports TensorFlow and the training modules, then reports the devices it sees."""

    loaded = Signal(object, str)  # list[spectral_core.devices.Device], TensorFlow version
    failed = Signal(str)
    done = Signal()

    @Slot()
    def run(self) -> None:
        try:
            import spectral_core.runs  # noqa: F401  (imports TensorFlow and Keras)
            from spectral_core.devices import list_devices, tensorflow_version

            devices = list_devices()
            version = tensorflow_version()
        except Exception as error:  # an unusable TensorFlow install must not take the window down
            self.failed.emit(f"TensorFlow could not be loaded: {type(error).__name__}: {error}")
        else:
            self.loaded.emit(devices, version)
        self.done.emit()


@dataclass
class TrainingRequest:
    """Everything one run needs, as plain values made on the GUI thread."""

    name: str
    architecture: Architecture
    regime: str
    dataset_source: str  # "mnist", "fashion-mnist", an .npz file or an IDX folder
    config: TrainingConfig
    device: str | None = None


@dataclass
class RunResult:
    """What a finished run hands back to the GUI thread."""

    request: TrainingRequest
    outcome: Any  # spectral_core.runs.RunOutcome
    dataset: Any  # spectral_core.data.Dataset
    epoch_snapshots: list[Any] = field(default_factory=list)


class _DatasetCache:
    """Data sets stay loaded between runs; a file is reloaded when it changes on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[tuple[float, int] | None, Any]] = {}

    @staticmethod
    def _stamp(source: str) -> tuple[float, int] | None:
        path = Path(source)
        if not path.exists():
            return None
        stat = path.stat()
        return (stat.st_mtime, stat.st_size)

    def load(self, source: str) -> Any:
        from spectral_core.data import load_dataset

        stamp = self._stamp(source)
        with self._lock:
            cached = self._items.get(source)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        dataset = load_dataset(source)
        with self._lock:
            self._items[source] = (stamp, dataset)
        return dataset


DATASETS = _DatasetCache()


class TrainingWorker(QObject):
    """Runs :func:`spectral_core.runs.run_training` for one request on its own thread."""

    datasetLoaded = Signal(str)
    snapshotReady = Signal()
    epochSnapshot = Signal(object)  # an epoch Snapshot (copies), for the look-back views
    trainingEnded = Signal(str)  # the engine's end message, as soon as the fit loop returns
    finished = Signal(object)  # RunResult
    failed = Signal(str)
    done = Signal()  # always last, success or not

    def __init__(self, request: TrainingRequest) -> None:
        super().__init__()
        from spectral_core.training import TrainingControl

        self.request = request
        self.control = TrainingControl()
        self._lock = threading.Lock()
        self._latest: Any = None
        self._version = 0
        self._batch_points: list[tuple[float, float, float]] = []
        self._epoch_snapshots: list[Any] = []
        # Crash-recovery checkpoint (app.autosave): the finished epochs' rows and the weights
        # of the last one, copied on the training thread before epochSnapshot is emitted.
        self._model: Any = None
        self._checkpoint_rows: list[dict[str, float]] = []
        self._checkpoint_weights: list[np.ndarray] | None = None

    # -- read from the GUI thread ----------------------------------------------------
    def latest(self) -> tuple[int, Any]:
        """(version, latest snapshot); the version grows with every snapshot."""
        with self._lock:
            return self._version, self._latest

    def checkpoint(self) -> tuple[list[dict[str, float]], list[np.ndarray] | None]:
        """(finished epochs' metric rows, weights at the end of the last one) of this run."""
        with self._lock:
            return [dict(row) for row in self._checkpoint_rows], self._checkpoint_weights

    def batch_points(self) -> np.ndarray:
        """(n, 3) array of (epoch position, loss, accuracy) of the batch snapshots so far."""
        with self._lock:
            if not self._batch_points:
                return np.zeros((0, 3))
            return np.array(self._batch_points, dtype=np.float64)

    # -- the training thread --------------------------------------------------------
    def _observe(self, snapshot: Any) -> None:
        with self._lock:
            self._latest = snapshot
            self._version += 1
            if snapshot.kind == "batch":
                position = snapshot.epoch + snapshot.batch / max(1, snapshot.batches_per_epoch)
                self._batch_points.append(
                    (
                        position,
                        snapshot.metrics.get("loss", float("nan")),
                        snapshot.metrics.get("accuracy", float("nan")),
                    )
                )
            elif snapshot.kind == "epoch":
                self._epoch_snapshots.append(snapshot)
        if snapshot.kind == "epoch" and snapshot.metrics and self._model is not None:
            weights = [np.array(w) for w in self._model.get_weights()]
            with self._lock:
                self._checkpoint_rows.append(dict(snapshot.metrics))
                self._checkpoint_weights = weights
        if snapshot.kind == "epoch":
            self.epochSnapshot.emit(snapshot)
        elif snapshot.kind == "end":
            self.trainingEnded.emit(snapshot.message)
        self.snapshotReady.emit()

    @Slot()
    def run(self) -> None:
        import keras

        from spectral_core.architecture import ArchitectureError
        from spectral_core.config import ConfigError
        from spectral_core.data import DataError
        from spectral_core.devices import DeviceError, training_device
        from spectral_core.files import WriteError
        from spectral_core.regimes import RegimeError
        from spectral_core.runs import run_training

        worker = self

        class KeepModel(keras.callbacks.Callback):
            """Hands the worker the model being trained, for the epoch-end checkpoint."""

            def set_model(self, model: Any) -> None:
                super().set_model(model)
                worker._model = model

        request = self.request
        try:
            dataset = DATASETS.load(request.dataset_source)
            self.datasetLoaded.emit(dataset.name)
            with training_device(request.device), collection_deferred():
                outcome = run_training(
                    request.architecture,
                    request.regime,
                    dataset,
                    request.config,
                    observers=[self._observe],
                    control=self.control,
                    callbacks=[KeepModel()],
                )
        except (ArchitectureError, ConfigError, DataError, DeviceError, RegimeError, WriteError) as error:
            self.failed.emit(str(error))
        except Exception as error:  # the thread must report every failure, or the GUI waits forever
            self.failed.emit(f"training failed: {type(error).__name__}: {error}")
        else:
            with self._lock:
                snapshots = list(self._epoch_snapshots)
            self.finished.emit(RunResult(request, outcome, dataset, snapshots))
        self.done.emit()
