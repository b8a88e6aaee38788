"""The training engine: Keras ``fit`` with observers, stop, pause and divergence handling.

Observers are plain callables that receive :class:`Snapshot` copies (numpy arrays and floats,
never live variables) on the training thread; a GUI forwards them to its own thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from spectral_core.config import ConfigError, TrainingConfig
from spectral_core.data import Dataset
from spectral_core.histograms import HistogramHistory, histogram
from spectral_core.layers import MaskedDense, SpectralDense, dense_layers, effective_weights
from spectral_core.projection import tensor_in_chunks, training_view
from spectral_core.retraction import folded_layers, has_telescopic

logger = logging.getLogger(__name__)
EPOCH_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
__all__ = ["ConfigError", "TrainingConfig", "Snapshot", "TrainingControl", "TrainingResult", "train"]


@dataclass
class Snapshot:
    """What observers see: copies only, safe to hand to another thread."""

    kind: str  # "batch", "epoch" or "end"
    epoch: int  # 0-based epoch the snapshot belongs to
    batch: int  # batches done in this epoch
    batches_per_epoch: int
    epochs: int
    elapsed: float
    metrics: dict[str, float]
    eigenvalues: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    histograms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # epoch only
    # Epoch snapshots only: per-layer (epochs × bins counts, edges) on a shared grid, and the
    # same for the retracted compact model's layers when the model has telescopic layers.
    histogram_history: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    compact_histograms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    message: str = ""

    @property
    def progress(self) -> float:
        """Share of the run's batches done, from 0 to 1."""
        done = self.epoch * self.batches_per_epoch + self.batch
        return done / max(1, self.epochs * self.batches_per_epoch)


Observer = Callable[[Snapshot], None]


class TrainingControl:
    """Stop, pause and resume a run from any thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        """Ask the run to stop after the current batch (also ends a pause)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the run after the current batch until :meth:`resume` or :meth:`stop`."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        """Whether the run is held by :meth:`pause`."""
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        """Block the training thread while paused."""
        while not self._running.wait(timeout=0.05):
            pass


@dataclass
class TrainingResult:
    """How a run ended: per-epoch metrics, whether it was stopped or diverged, test scores."""

    history: list[dict[str, float]]  # one row per finished epoch, EPOCH_COLUMNS
    epochs_completed: int
    stopped: bool = False
    diverged: bool = False
    message: str = ""
    test_loss: float = math.nan
    test_accuracy: float = math.nan
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # said once, e.g. why the cache was not used
    cached_projection: bool = False  # trained on the first layer's cached input projection
    steps_per_execution: int = 1
    jit_compile: bool = False  # the training function was compiled with XLA


def layer_eigenvalues(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    """Copies of λ_in and λ_out of every spectral layer."""
    return {
        layer.name: {
            "eigvals_in": np.array(keras.ops.convert_to_numpy(layer.eigvals_in)),
            "eigvals_out": np.array(keras.ops.convert_to_numpy(layer.eigvals_out)),
        }
        for layer in dense_layers(model)
        if isinstance(layer, SpectralDense)
    }


class _EngineCallback(keras.callbacks.Callback):
    """Snapshots for observers, stop/pause, non-finite loss detection, epoch timing."""

    def __init__(
        self,
        config: TrainingConfig,
        observers: Sequence[Observer],
        control: TrainingControl,
        batches_per_epoch: int,
        telescopic: list[bool] | None,
        network: keras.Model | None = None,
    ) -> None:
        super().__init__()
        self._network = network
        self.config = config
        self.observers = list(observers)
        self.control = control
        self.batches_per_epoch = batches_per_epoch
        self.telescopic = telescopic
        self.rows: list[dict[str, float]] = []
        self.diverged_message = ""
        self.stopped = False
        self._last_snapshot = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        self._start = time.perf_counter()
        self._good_weights: list[np.ndarray] | None = None
        self._good_epoch = 0
        self._call_first_batch = 1
        self._history: dict[str, HistogramHistory] = {}
        self._compact_history: dict[str, HistogramHistory] = {}

    @property
    def network(self) -> keras.Model:
        """The network whose weights are read and restored: the one given, else fit's model.

        ``train`` passes its model, since what fit runs may be a training view that shares the
        model's variables (spectral_core.projection).
        """
        return self._network if self._network is not None else self.model

    # -- helpers --------------------------------------------------------------------
    def _emit(
        self,
        kind: str,
        batch: int,
        metrics: dict[str, float],
        full: bool,
        kernels: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Send a snapshot; ``kernels`` are the effective kernels a full one was computed from."""
        if not self.observers:
            return
        histograms = {}
        if full:
            # Epoch snapshots only: a histogram of every effective kernel costs tens of ms for
            # 784-800-120-10, which at 10 batch snapshots a second would slow training by >10%.
            kernels = kernels if kernels is not None else self._kernels()
            bins = self.config.histogram_bins
            histograms = {name: histogram(kernel, bins) for name, kernel in kernels.items()}
        snapshot = Snapshot(
            kind=kind,
            epoch=self._epoch,
            batch=batch,
            batches_per_epoch=self.batches_per_epoch,
            epochs=self.config.epochs,
            elapsed=time.perf_counter() - self._start,
            metrics=dict(metrics),
            eigenvalues=layer_eigenvalues(self.network),
            histograms=histograms,
        )
        if full:
            snapshot.histogram_history = {
                name: (history.matrix(), history.edges) for name, history in self._history.items()
            }
            snapshot.compact_histograms = {
                name: (history.matrix(), history.edges)
                for name, history in self._compact_history.items()
            }
        for observer in self.observers:
            observer(snapshot)

    def _kernels(self) -> dict[str, np.ndarray]:
        return {layer.name: effective_weights(layer)[0] for layer in dense_layers(self.network)}

    def _record_histories(self) -> dict[str, np.ndarray]:
        """Add this epoch's kernels to the histogram histories; return the kernels."""
        kernels = self._kernels()
        for name, kernel in kernels.items():
            self._history.setdefault(name, HistogramHistory()).add(kernel)
        if has_telescopic(self.network, self.telescopic):
            for index, item in enumerate(folded_layers(self.network, self.telescopic)):
                name = f"compact_{index + 1}"
                self._compact_history.setdefault(name, HistogramHistory()).add(item.kernel)
        return kernels

    # -- Keras hooks ----------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._good_weights = [np.array(w) for w in self.network.get_weights()]
        if self.observers:
            self._emit("epoch", 0, {}, full=True, kernels=self._record_histories())

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call_first_batch = batch + 1  # a compiled call may run several batches

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = float(logs.get("loss", 0.0))
        if not math.isfinite(loss):
            self._diverge(batch + 1, first=self._call_first_batch)
            return
        now = time.perf_counter()
        if self.observers and now - self._last_snapshot >= self.config.snapshot_interval:
            self._last_snapshot = now
            metrics = {key: float(value) for key, value in logs.items()}
            self._emit("batch", batch + 1, metrics, full=False)
        if self.control.paused and not self.control.stop_requested:
            self.control.wait_while_paused()
        if self.control.stop_requested:
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.diverged_message:
            return
        logs = logs or {}
        row = {"epoch": float(epoch + 1)}
        for key in EPOCH_COLUMNS[1:-1]:
            row[key] = float(logs.get(key, math.nan))
        row["seconds"] = time.perf_counter() - self._epoch_start
        if not all(math.isfinite(row[key]) for key in ("loss",)):
            self._diverge(self.batches_per_epoch)
            return
        weights = self.network.get_weights()
        if not all(np.all(np.isfinite(w)) for w in weights):
            self._diverge(self.batches_per_epoch)
            return
        self._good_weights = weights  # get_weights already returns copies
        self._good_epoch = epoch + 1
        self.rows.append(row)
        if self.observers:
            kernels = self._record_histories()
            self._emit("epoch", self.batches_per_epoch, dict(row), full=True, kernels=kernels)

    def _diverge(self, batch: int, first: int | None = None) -> None:
        self.model.stop_training = True
        if self._good_weights is not None:
            self.network.set_weights(self._good_weights)
        if first is None or first >= batch:
            where = f"epoch {self._epoch + 1}, batch {batch}"
        else:  # seen at the end of a compiled call of several batches
            where = f"epoch {self._epoch + 1}, in batches {first}–{batch}"
        kept = (
            f"the weights from the end of epoch {self._good_epoch} were kept"
            if self._good_epoch
            else "the initial weights were kept"
        )
        self.diverged_message = (
            f"The loss became non-finite at {where}; training stopped and {kept}. "
            "Try a smaller learning rate."
        )


def split_validation(
    dataset: Dataset, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Hold out a seeded random ``fraction`` of the training set for validation."""
    if fraction <= 0:
        return dataset.x_train, dataset.y_train, None
    count = len(dataset.y_train)
    order = np.random.default_rng(seed).permutation(count)
    held = max(1, int(round(count * fraction)))
    if held >= count:
        raise ConfigError(
            f"validation_fraction: {fraction} leaves no training samples out of {count}"
        )
    val, train = order[:held], order[held:]
    return dataset.x_train[train], dataset.y_train[train], (dataset.x_train[val], dataset.y_train[val])


# A compiled call of this many floating-point operations lasts ~40–80 ms on a 2-core laptop CPU:
# long enough that Keras's per-call dispatch (~1–6 ms) stops mattering, short enough for 10 Hz
# observers and a prompt Stop. 1e9 left Train Λ at N2 = 2000 at 2 batches a call, 20 % slower.
EXECUTION_FLOPS = 4e9
MAX_STEPS_PER_EXECUTION = 50


def step_flops(model: keras.Model, batch_size: int) -> float:
    """A rough count of a training step's floating-point operations (forward and backward)."""
    total = 0.0
    for layer in model.layers:
        kernel_shape = None
        if isinstance(layer, keras.layers.Dense):
            kernel_shape = layer.kernel.shape
        elif isinstance(layer, SpectralDense):
            kernel_shape = layer.phi.shape
        elif hasattr(layer, "frozen_kernel"):
            kernel_shape = layer.frozen_kernel.shape
        if kernel_shape is not None:
            total += 6.0 * batch_size * int(kernel_shape[0]) * int(kernel_shape[1])
    return total


def choose_steps_per_execution(model: keras.Model, config: TrainingConfig, batches: int) -> int:
    """``config.steps_per_execution``, or (0) as many batches as fill one ~20 ms compiled call."""
    if config.steps_per_execution:
        return min(config.steps_per_execution, batches)
    if config.snapshot_interval == 0:
        return 1
    flops = max(step_flops(model, config.batch_size), 1.0)
    steps = int(EXECUTION_FLOPS // flops)
    return max(1, min(steps, MAX_STEPS_PER_EXECUTION, batches))


def choose_jit_compile(
    config: TrainingConfig, model_jit: bool = False, masked_view: bool = False
) -> bool:
    """Whether the training function is compiled with XLA (``config.jit_compile``, resolved).

    "auto" follows the model's own compile setting (``model_jit``; ``build_model`` compiles
    without XLA), except for the Constrained NN's cached training view (``masked_view``): XLA
    fuses its sparse correction (gather, scale, segment sum and their gradients) and halved the
    CPU time of its epochs (784→800→120→10: 2.0 → 1.0 s; 784→2000→120→10: 3.0 → 2.0 s), while
    it made every other regime's step slower (docs/BENCHMARKS.md).
    """
    if config.jit_compile == "auto":
        return model_jit or masked_view
    return bool(config.jit_compile)


def compile_for_training(
    fitted: keras.Model, network: keras.Model, steps: int, jit_compile: bool | None = None
) -> None:
    """Compile the model ``fit`` runs with ``network``'s optimizer and loss and ``steps`` per call.

    The optimizer object is shared, so its state (moments, iterations) follows the variables
    whichever of the model and its training view is fitted. ``jit_compile`` None keeps the
    network's own setting.
    """
    jit = network.jit_compile if jit_compile is None else jit_compile
    if fitted is network and network.steps_per_execution == steps and network.jit_compile == jit:
        return
    fitted.compile(
        optimizer=network.optimizer,
        loss=network.loss,
        metrics=["accuracy"],
        steps_per_execution=steps,
        jit_compile=jit,
    )


def train(
    model: keras.Model,
    dataset: Dataset,
    config: TrainingConfig | None = None,
    observers: Iterable[Observer] = (),
    control: TrainingControl | None = None,
    *,
    telescopic: list[bool] | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
) -> TrainingResult:
    """Train a compiled ``model`` on ``dataset``; return per-epoch metrics and how it ended."""
    config = (config or TrainingConfig()).validate()
    control = control or TrainingControl()
    input_units = model.inputs[0].shape[-1]
    if dataset.features != input_units:
        raise ConfigError(
            f"dataset: images have {dataset.features} values but the network's input layer has "
            f"{input_units} units"
        )
    outputs = model.outputs[0].shape[-1]
    if dataset.classes > outputs:
        raise ConfigError(
            f"dataset: labels go up to {dataset.classes - 1} but the last layer has {outputs} units"
        )
    x_train, y_train, validation = split_validation(dataset, config.validation_fraction, config.seed)
    batches = math.ceil(len(y_train) / config.batch_size)
    rows = len(y_train) + (len(validation[1]) if validation is not None else 0)
    view = training_view(model, rows, config.projection_cache_mb * 2**20)
    if view.note:
        logger.warning(view.note)
    steps = choose_steps_per_execution(view.model, config, batches)
    masked_view = view.cached and any(isinstance(layer, MaskedDense) for layer in model.layers)
    jit = choose_jit_compile(config, model.jit_compile is True, masked_view)
    compile_for_training(view.model, model, steps, jit)
    engine = _EngineCallback(config, list(observers), control, batches, telescopic, model)
    started = time.perf_counter()
    if validation is not None:
        validation = (view.inputs(validation[0]), tensor_in_chunks(validation[1]))
    fit_inputs = view.inputs(x_train)
    keras.utils.set_random_seed(config.seed)
    view.model.fit(
        fit_inputs,
        tensor_in_chunks(y_train),
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=validation,
        shuffle=True,
        verbose=0,
        callbacks=[engine, *callbacks],
    )
    seconds = time.perf_counter() - started
    result = TrainingResult(
        history=engine.rows,
        epochs_completed=len(engine.rows),
        stopped=engine.stopped,
        diverged=bool(engine.diverged_message),
        message=engine.diverged_message or ("stopped by the user" if engine.stopped else "finished"),
        seconds=seconds,
        notes=[view.note] if view.note else [],
        cached_projection=view.cached,
        steps_per_execution=steps,
        jit_compile=jit,
    )
    if len(dataset.y_test):
        loss, accuracy = evaluate(model, dataset.x_test, dataset.y_test, config.batch_size)
        result.test_loss, result.test_accuracy = loss, accuracy
    final = Snapshot(
        kind="end",
        epoch=max(0, len(engine.rows) - 1),
        batch=batches,
        batches_per_epoch=batches,
        epochs=config.epochs,
        elapsed=seconds,
        metrics={"test_loss": result.test_loss, "test_accuracy": result.test_accuracy},
        message=result.message,
    )
    for observer in engine.observers:
        observer(final)
    return result


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[float, float]:
    """(loss, accuracy) of a compiled or uncompiled classifier, computed directly."""
    probabilities = predict(model, x, batch_size)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y))
    last = dense_layers(model)[-1]
    if last.activation.__name__ != "softmax":
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(probabilities, axis=-1))
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-12, 1.0)
    return float(-np.mean(np.log(picked))), accuracy


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (or logits) of ``model`` for ``x``, as numpy.

    The model is called eagerly, ``batch_size`` rows at a time: ``model.predict`` traces a new
    function for every model (about 0.3 s), which a run paid four times for a few milliseconds
    of arithmetic on the test set.
    """
    if len(x) == 0:
        return np.zeros((0, model.outputs[0].shape[-1]), dtype=np.float32)
    chunks = [
        keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(chunks)
