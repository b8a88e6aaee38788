"""``python -m benchmarks``: the performance figures of issue 5, each beside its target.

Every figure is a ratio or a rate measured side by side in one run: the machine is shared, so
repetitions are interleaved (A, B, A, B …), each round gives its own ratio, and the table shows
medians. Nothing here is a test: the test suite runs ``--quick`` once so the code cannot rot.

The paper's square-operator layer lives here, and only here, as the reference the library must
beat by 10×. The GUI figures run ``python -m benchmarks.gui`` in a subprocess (Qt never enters
``spectral_core``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig

# Where ``keras.datasets.mnist.load_data()`` caches MNIST (it honours KERAS_HOME).
DEFAULT_DATASET = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
DEFAULT_DATASET_SHOWN = "$KERAS_HOME/datasets/mnist.npz (Keras's MNIST cache, ~/.keras by default)"
DEFAULT_OUT = Path("docs/BENCHMARKS.md")

# Step-time targets (spectral step ÷ same-shape Dense step), issue 5.
STEP_TARGETS: dict[str, float] = {
    "lambda": 0.55,
    "lambda+input": 0.80,
    "lambda-phi": 1.05,
    "direct-subset": 1.10,
}
VARIANTS: dict[str, tuple[str, bool]] = {  # name -> (regime, train_input_eigenvalues)
    "dense": ("direct-full", False),
    "lambda": ("lambda", False),
    "lambda+input": ("lambda", True),
    "lambda-phi": ("lambda-phi", False),
    "direct-subset": ("direct-subset", False),
}
# Whose bare matrix products are timed too: the floor under any exact formulation.
FLOOR_VARIANTS = ("dense", "lambda", "lambda+input")
SQUARE_SPEEDUP_TARGET = 10.0
EPOCH_RATIO_TOLERANCE = 0.05
MEMORY_TARGET_BYTES = 2 * 1024**3
LAUNCH_TARGET_SECONDS = 2.0
GUI_RATIO_TARGET = 1.05
GUI_GAP_TARGET_MS = 100.0


@dataclass
class Figure:
    """One row of the table: what was measured, its value, its target and whether it is met."""

    section: str
    name: str
    value: str
    target: str = "—"
    met: bool | None = None  # None: informational, or not measured
    note: str = ""
    gflops: float | None = None  # matrix-product rate, shown against the peak once known
    by: str = ""  # how far from the target, shown when missed

    @property
    def verdict(self) -> str:
        if self.met is False and self.by:
            return f"**missed** by {self.by}"
        return {True: "met", False: "**missed**", None: "—"}[self.met]


@dataclass
class Plan:
    """Sizes and repetition counts; ``quick`` shrinks everything so a test can run it."""

    quick: bool = False
    batch: int = 300
    shapes: tuple[tuple[int, ...], ...] = ((784, 800, 10), (784, 800, 120, 10))
    rounds: int = 40
    steps_per_round: int = 8
    square_rounds: int = 3
    epoch_repeats: int = 6
    gui_repeats: int = 10
    peak_size: int = 2048
    dataset: Path | None = DEFAULT_DATASET
    jit_compile: bool = field(default_factory=lambda: TrainingConfig().jit_compile)
    gui: bool = True
    baseline: str | None = None  # git ref whose `reproduce` the user's-path rows time too

    @classmethod
    def quick_plan(cls) -> Plan:
        return cls(
            quick=True,
            batch=30,
            shapes=((64, 32, 10), (64, 32, 16, 10)),
            rounds=2,
            steps_per_round=2,
            square_rounds=1,
            epoch_repeats=1,
            gui_repeats=1,
            peak_size=256,
            dataset=None,
        )


# == machine ================================================================================


def cpu_model() -> str:
    """The CPU's name with its family and model numbers (a VM may show only "AMD EPYC")."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        if "model name" in fields:
            return (
                f"{fields['model name']} (family {fields.get('cpu family', '?')}, "
                f"model {fields.get('model', '?')})"
            )
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni")
                return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process (env var or its default)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def machine_description(plan: Plan) -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "SIMD": " ".join(cpu_flags()) or "unknown",
        "TensorFlow": tf.__version__,
        "Keras": keras.__version__,
        "NumPy": np.__version__,
        "Python": platform.python_version(),
        "oneDNN": (
            f"{'on' if onednn_enabled() else 'off'} "
            f"(TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')})"
        ),
        "XLA (jit_compile)": str(plan.jit_compile),
        "intra/inter-op threads": (
            f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}/"
            f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'}"
        ),
        "batch": str(plan.batch),
        "mode": "quick (tiny sizes: code check, not figures)" if plan.quick else "full",
    }


# == models =================================================================================


def architecture_for(widths: tuple[int, ...], train_input: bool = False) -> Architecture:
    """The paper's stacks: linear telescopic hidden layers, ReLU before a 120-wide last hidden
    layer when there are two, softmax output (784→800→10 and 784→800→120→10)."""
    hidden = []
    for index, units in enumerate(widths[1:-1]):
        last_hidden = index == len(widths) - 3 and len(widths) > 3
        hidden.append(LayerSpec(units, "relu" if last_hidden else "linear", not last_hidden))
    layers = (*hidden, LayerSpec(widths[-1], "softmax"))
    return Architecture("bench " + "-".join(map(str, widths)), widths[0], layers, train_input)


def build_variant(variant: str, widths: tuple[int, ...], jit_compile: bool) -> Any:
    from spectral_core.build import build_model

    regime, train_input = VARIANTS[variant]
    return build_model(architecture_for(widths, train_input), regime, seed=0, jit_compile=jit_compile)


def matmul_flops(variant: str, widths: tuple[int, ...], batch: int) -> int:
    """Matrix-product FLOPs of one training step as the library runs it.

    Forward: one (batch × n_in × n_out) product per layer. Backward: the input gradient of every
    layer but the first, plus a weight-gradient product where weights are trained as a matrix
    (Dense, φ, and the first layer's formed kernel when λ_in is trained). Elementwise work is
    not counted.
    """
    total = 0
    for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        product = 2 * batch * n_in * n_out
        weight_gradient = variant in ("dense", "lambda-phi") or (
            variant == "lambda+input" and index == 0
        )
        total += product * (1 + (index > 0) + weight_gradient)
    return total


class SquareOperatorDense:
    """Factory of the paper's square-operator layer (arXiv:2005.14436 code), as a reference.

    It builds Φ = I + [[0, 0], [φᵀ, 0]] and Λ on all N_in + N_out nodes and applies
    Φ Λ (2I − Φ) to the zero-padded input as three dense (N_in+N_out)² products, every step.
    """

    @staticmethod
    def make(units: int, activation: str, phi_trainable: bool) -> Any:
        import keras
        from keras import ops

        class SquareOperator(keras.layers.Layer):
            def build(self, input_shape: tuple[int | None, ...]) -> None:
                self.n_in = int(input_shape[-1])
                self.size = self.n_in + units
                self.phi = self.add_weight(
                    name="phi", shape=(units, self.n_in), trainable=phi_trainable,
                    initializer=keras.initializers.RandomUniform(-0.5, 0.5),
                )
                self.eigvals_out = self.add_weight(
                    name="eigvals_out", shape=(units,),
                    initializer=keras.initializers.RandomUniform(-0.01, 0.01),
                )

            def call(self, inputs: Any) -> Any:
                eye = ops.eye(self.size)
                lower = ops.concatenate(
                    [self.phi, ops.zeros((units, units))], axis=1
                )
                base = eye + ops.concatenate([ops.zeros((self.n_in, self.size)), lower], axis=0)
                eigvals = ops.concatenate([ops.ones((self.n_in,)), self.eigvals_out])
                diagonal = ops.diag(eigvals)
                padded = ops.pad(inputs, [[0, 0], [0, units]])
                column = ops.matmul(2.0 * eye - base, ops.transpose(padded))
                column = ops.matmul(base, ops.matmul(diagonal, column))
                return keras.activations.get(activation)(ops.transpose(column[self.n_in:]))

        return SquareOperator()


def build_square_model(widths: tuple[int, ...], phi_trainable: bool, jit_compile: bool) -> Any:
    import keras

    architecture = architecture_for(widths)
    inputs = keras.Input((widths[0],))
    outputs = inputs
    for spec in architecture.layers:
        outputs = SquareOperatorDense.make(spec.units, spec.activation, phi_trainable)(outputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adamax(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


# == step timing ============================================================================


def batch_data(width: int, batch: int, classes: int, seed: int = 0) -> tuple[Any, Any]:
    import keras

    rng = np.random.default_rng(seed)
    x = keras.ops.convert_to_tensor(rng.random((batch, width), dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.integers(0, classes, batch).astype("int32"))
    return x, y


@dataclass
class StepTimes:
    """Per-round seconds per step of one model: wall clock and this process's CPU time."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


Step = Callable[[], Any]


def compiled_step(model: Any, x: Any, y: Any) -> Step:
    """One training step as ``fit`` runs it: Keras's compiled train function on a ``tf.data``
    iterator, with the loss read back, as the engine's callback reads it after every batch."""
    import tensorflow as tf

    model.make_train_function()
    function = model.train_function
    iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    return lambda: float(function(iterator)["loss"])


def batch_step(model: Any, x: Any, y: Any) -> Step:
    """One ``train_on_batch`` call: the compiled step plus Keras's per-call Python (building
    checks, metric resets, logs converted to numpy), which ``fit`` does not pay per batch."""
    return lambda: model.train_on_batch(x, y)


def interleaved_step_times(
    steps: dict[Any, Step], rounds: int, steps_per_round: int, warmup: int = 3
) -> dict[Any, StepTimes]:
    """Seconds per call of each step function, one value per round.

    Rounds interleave the steps (the order rotates every round), so a burst of load from
    another process hits every model alike and per-round ratios stay fair. CPU time (all of
    this process's threads) is kept too: it counts work done, which other processes sharing
    the cores barely change, where wall time stretches with their load.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    times = {name: StepTimes() for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            step = steps[name]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps_per_round):
                step()
            times[name].cpu.append((time.process_time() - cpu) / steps_per_round)
            times[name].wall.append((time.perf_counter() - wall) / steps_per_round)
    return times


def products_function(variant: str, widths: tuple[int, ...], batch: int) -> Any:
    """A ``tf.function`` running the matrix products ``matmul_flops`` counts for ``variant``
    and nothing else: a floor under any exact formulation of that trainable set. One dependent
    chain (forward, then the backward products from the output) on random operands."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    kernels = [
        tf.constant(rng.standard_normal((n_in, n_out), dtype=np.float32) * 0.05)
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=False)
    ]
    x = tf.constant(rng.random((batch, widths[0]), dtype=np.float32))

    @tf.function
    def products() -> Any:
        activations = [x]
        for kernel in kernels:
            activations.append(tf.matmul(activations[-1], kernel))
        upstream, total = activations[-1], tf.constant(0.0)
        for index in reversed(range(len(kernels))):
            if variant in ("dense", "lambda-phi") or (variant == "lambda+input" and index == 0):
                total += tf.reduce_sum(tf.matmul(activations[index], upstream, transpose_a=True))
            if index > 0:
                upstream = tf.matmul(upstream, kernels[index], transpose_b=True)
        return total + tf.reduce_sum(upstream)

    return products


def products_only_step(variant: str, widths: tuple[int, ...], batch: int) -> Step:
    """One call of :func:`products_function`, its sum read back."""
    products = products_function(variant, widths, batch)
    return lambda: float(products())


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def quartile_range(numerator: list[float], denominator: list[float]) -> str:
    """The middle half of the per-round ratios, "q1–q3": how far the machine's noise moves
    the median's verdict."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    if len(ratios) < 2:
        return f"{ratios[0]:.2f}" if ratios else "—"
    first, _, third = statistics.quantiles(ratios, n=4)
    return f"{first:.2f}–{third:.2f}"


def ratio_to(times: dict[Any, StepTimes], name: Any, base: Any, clock: str = "wall") -> float:
    """Median per-round ratio of ``name``'s time to ``base``'s, wall clock or CPU time."""
    return median_ratio(getattr(times[name], clock), getattr(times[base], clock))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


@dataclass
class StepResults:
    """Medians per shape and variant, kept for the figures that build on them."""

    seconds: dict[tuple[int, ...], dict[str, float]] = field(default_factory=dict)
    ratios: dict[tuple[int, ...], dict[str, float]] = field(default_factory=dict)
    # The first shape's models, reused (already traced) by the epoch figures.
    models: dict[str, Any] = field(default_factory=dict)


def step_figures(plan: Plan) -> tuple[list[Figure], StepResults]:
    import keras

    figures: list[Figure] = []
    results = StepResults()
    for widths in plan.shapes:
        shape = "→".join(map(str, widths))
        models = {name: build_variant(name, widths, plan.jit_compile) for name in VARIANTS}
        x, y = batch_data(widths[0], plan.batch, widths[-1])
        steps: dict[Any, Step] = {}
        for name, model in models.items():
            steps[name] = compiled_step(model, x, y)
            steps[(name, "train_on_batch")] = batch_step(model, x, y)
        for name in FLOOR_VARIANTS:
            steps[(name, "products")] = products_only_step(name, widths, plan.batch)
        times = interleaved_step_times(steps, plan.rounds, plan.steps_per_round)
        medians = {name: statistics.median(times[name].wall) for name in VARIANTS}
        dense = times["dense"]

        ratios = {name: ratio_to(times, name, "dense") for name in STEP_TARGETS}
        floors = {name: ratio_to(times, (name, "products"), "dense") for name in FLOOR_VARIANTS}
        results.seconds[widths] = medians
        results.ratios[widths] = ratios
        if widths == plan.shapes[0]:
            results.models = models
        dense_rate = matmul_flops("dense", widths, plan.batch) / medians["dense"] / 1e9
        figures.append(
            Figure(
                "Training step",
                f"Dense {shape}",
                ms(medians["dense"]),
                note=(
                    f"CPU time {ms(statistics.median(dense.cpu))}; its matrix products alone "
                    f"take {floors['dense']:.2f} of the step"
                ),
                gflops=dense_rate,
            )
        )
        for name, target in STEP_TARGETS.items():
            rate = matmul_flops(name, widths, plan.batch) / medians[name] / 1e9
            formulations = sorted(
                {
                    getattr(layer, "formulation", type(layer).__name__)
                    for layer in models[name].layers
                    if not isinstance(layer, keras.layers.InputLayer)
                }
            )
            floor = (
                f"; its matrix products alone: {floors[name]:.2f} of the Dense step"
                if name in floors
                else ""
            )
            figures.append(
                Figure(
                    "Training step",
                    f"{name} ÷ Dense, {shape}",
                    f"{ratios[name]:.2f} ({ms(medians[name])})",
                    f"≤ {target:.2f}",
                    ratios[name] <= target,
                    by=f"{ratios[name] - target:.2f}",
                    note=(
                        "middle half of the per-round ratios "
                        f"{quartile_range(times[name].wall, dense.wall)}; "
                        f"CPU-time ratio {ratio_to(times, name, 'dense', 'cpu'):.2f}; "
                        "train_on_batch ratio "
                        f"{ratio_to(times, (name, 'train_on_batch'), ('dense', 'train_on_batch')):.2f}"
                        f"{floor}; {', '.join(formulations)}"
                    ),
                    gflops=rate,
                )
            )
    return figures, results


def peak_gflops(size: int, repeats: int = 8) -> float:
    """Achieved float32 matmul rate: best of ``repeats`` (size × size) @ (size × size) products."""
    import tensorflow as tf

    a = tf.random.uniform((size, size))
    b = tf.random.uniform((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product().numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def peak_figures(plan: Plan, first: float) -> tuple[list[Figure], float]:
    """The peak estimate: best matmul rate at the start and at the end of the run."""
    peak = max(first, peak_gflops(plan.peak_size))
    figure = Figure(
        "Machine",
        "float32 matmul peak (estimate)",
        f"{peak:.0f} GFLOP/s",
        note=(
            f"best of 2 × 8 tf.matmul of two {plan.peak_size}² float32 matrices on all cores, "
            "at the start and the end of the run: the achievable ceiling the step rates are "
            "compared with (lower than the hardware's when other processes share the cores)"
        ),
    )
    return [figure], peak


def square_figures(plan: Plan) -> list[Figure]:

    figures = []
    widths = plan.shapes[0]
    shape = "→".join(map(str, widths))
    x, y = batch_data(widths[0], plan.batch, widths[-1])
    for variant, phi_trainable in (("lambda", False), ("lambda-phi", True)):
        models = {
            "square": build_square_model(widths, phi_trainable, plan.jit_compile),
            variant: build_variant(variant, widths, plan.jit_compile),
        }
        steps = {name: compiled_step(model, x, y) for name, model in models.items()}
        times = interleaved_step_times(steps, plan.square_rounds, 2, warmup=1)
        speedup = median_ratio(times["square"].wall, times[variant].wall)
        figures.append(
            Figure(
                "Square operator",
                f"{variant} speed-up over the paper's square-operator form, {shape}",
                f"{speedup:.0f}× ({ms(statistics.median(times['square'].wall))} vs "
                f"{ms(statistics.median(times[variant].wall))})",
                f"≥ {SQUARE_SPEEDUP_TARGET:.0f}×",
                speedup >= SQUARE_SPEEDUP_TARGET,
                by=f"{SQUARE_SPEEDUP_TARGET - speedup:.1f}×",
                note="same trainable set; three (N_in+N_out)² products per layer and step",
            )
        )
    return figures


# == one epoch through the engine ===========================================================


def load_bench_dataset(plan: Plan) -> Any:
    from spectral_core.data import Dataset, load_dataset, synthetic_digits

    if plan.quick and plan.dataset is None:
        side = int(round(plan.shapes[0][0] ** 0.5))
        data = synthetic_digits(train=20 * plan.batch, test=plan.batch, seed=0, side=side)
    elif plan.dataset is not None and Path(plan.dataset).is_file():
        data = load_dataset(plan.dataset)
    else:
        return None
    # No test split: the engine would evaluate it after the epoch, which model.fit does not.
    return Dataset(data.name, data.x_train, data.y_train, data.x_test[:0], data.y_test[:0])


def epoch_figures(plan: Plan, steps: StepResults) -> list[Figure]:

    from spectral_core.training import tensor_in_chunks, train

    widths = plan.shapes[0]
    shape = "→".join(map(str, widths))
    dataset = load_bench_dataset(plan)
    if dataset is None:
        return [
            Figure(
                "One epoch",
                f"{name} engine ÷ Dense fit, {shape}",
                "not measured",
                f"≤ step ratio + {EPOCH_RATIO_TOLERANCE}",
                None,
                f"no data set at {plan.dataset} (give --dataset)",
            )
            for name in STEP_TARGETS
        ]
    config = TrainingConfig(
        epochs=1, batch_size=plan.batch, validation_fraction=0.0, jit_compile=plan.jit_compile
    )
    snapshots: list[Any] = []
    models = steps.models or {
        name: build_variant(name, widths, plan.jit_compile) for name in VARIANTS
    }
    warm = dataset.x_train[: 2 * plan.batch], dataset.y_train[: 2 * plan.batch]
    for model in models.values():
        model.fit(*warm, batch_size=plan.batch, epochs=1, verbose=0)
    # The plain fits get the same numpy arrays as the engine, as a user calls model.fit; each
    # side converts them its own way inside its time (the engine in slices, which is cheaper
    # than Keras's array pipeline). "dense, tensors" is Dense fed tensors made once outside
    # its time: fit with no data preparation at all, the strictest baseline.
    x_tensor, y_tensor = tensor_in_chunks(dataset.x_train), tensor_in_chunks(dataset.y_train)
    # "lambda, no observers" isolates what the observers' snapshots cost the engine; each
    # model's own plain ``fit`` isolates what the engine adds around Keras.
    runs = ["dense", ("dense", "tensors"), *[(name, "fit") for name in STEP_TARGETS],
            *STEP_TARGETS, "lambda, no observers"]
    seconds: dict[Any, StepTimes] = {name: StepTimes() for name in runs}
    for repeat in range(plan.epoch_repeats):
        shift = repeat % len(runs)  # rotate the order, as the step rounds do
        for name in runs[shift:] + runs[:shift]:
            variant = name[0] if isinstance(name, tuple) else name.split(",")[0]
            model = models[variant]
            start, cpu = time.perf_counter(), time.process_time()
            if name == ("dense", "tensors"):
                model.fit(
                    x_tensor, y_tensor, batch_size=plan.batch, epochs=1, shuffle=True, verbose=0
                )
            elif name == "dense" or isinstance(name, tuple):
                model.fit(
                    dataset.x_train, dataset.y_train, batch_size=plan.batch, epochs=1,
                    shuffle=True, verbose=0,
                )
            else:
                observers = [] if name.endswith("no observers") else [snapshots.append]
                train(model, dataset, config, observers=observers)
            seconds[name].cpu.append(time.process_time() - cpu)
            seconds[name].wall.append(time.perf_counter() - start)
    figures = []
    dense = seconds["dense"]
    quiet = seconds["lambda, no observers"]
    observer_cost = median_ratio(seconds["lambda"].wall, quiet.wall)
    for name in STEP_TARGETS:
        ratio = median_ratio(seconds[name].wall, dense.wall)
        cpu_ratio = median_ratio(seconds[name].cpu, dense.cpu)
        own_fit = median_ratio(seconds[name].wall, seconds[(name, "fit")].wall)
        strict = median_ratio(seconds[name].wall, seconds[("dense", "tensors")].wall)
        step_ratio = steps.ratios[widths][name]
        limit = step_ratio + EPOCH_RATIO_TOLERANCE
        figures.append(
            Figure(
                "One epoch",
                f"{name} engine ÷ Dense fit, {shape}",
                f"{ratio:.2f} ({statistics.median(seconds[name].wall):.2f} s vs "
                f"{statistics.median(dense.wall):.2f} s)",
                f"≤ {limit:.2f} (step {step_ratio:.2f} + {EPOCH_RATIO_TOLERANCE})",
                ratio <= limit,
                by=f"{ratio - limit:.2f}",
                note=f"engine ÷ plain fit of the same model {own_fit:.2f}; ÷ Dense fit fed "
                f"ready-made tensors {strict:.2f} (its {statistics.median(seconds[('dense', 'tensors')].wall):.2f} s "
                f"has no data preparation); CPU-time ratio "
                f"{cpu_ratio:.2f}; {len(dataset.y_train)} images, observers on "
                f"({len(snapshots)} snapshots in all); test evaluation left out on both sides",
            )
        )
    figures.append(
        Figure(
            "One epoch",
            f"lambda engine, observers on ÷ off, {shape}",
            f"{observer_cost:.2f}",
            note=(
                "what the 10 Hz snapshots (eigenvalues, effective-weight histograms, computed "
                "on the training thread) add to an epoch; without observers the engine ÷ Dense "
                f"fit is {median_ratio(quiet.wall, dense.wall):.2f}"
            ),
        )
    )
    return figures


# == subprocess measurements ================================================================


def run_python(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> Any:
    """Run ``python args…`` and parse the JSON its last stdout line holds."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    completed = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environment, timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit status {completed.returncode}: {' | '.join(tail)}")
    return json.loads(lines[-1])


def memory_worker(options: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: one epoch of a full training run; peak resident memory."""
    from spectral_core.architecture import Architecture
    from spectral_core.data import load_dataset, synthetic_digits
    from spectral_core.runs import run_training

    architecture = Architecture.from_dict(options["architecture"])
    if options["dataset"]:
        dataset = load_dataset(options["dataset"])
    else:
        dataset = synthetic_digits(train=600, test=100, seed=0, side=options["side"])
    config = TrainingConfig(epochs=1, batch_size=options["batch"])
    snapshots: list[Any] = []
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run_training(architecture, options["regime"], dataset, config, out=folder,
                     observers=[snapshots.append])
        seconds = time.perf_counter() - started
    return {"peak_bytes": peak_resident_bytes(), "seconds": seconds,
            "images": len(dataset.y_train)}


def peak_resident_bytes() -> int:
    """This process's peak resident memory.

    Linux's VmHWM belongs to the process's own address space. ``getrusage``'s ru_maxrss does
    not: exec carries over the parent's high-water mark (the child is forked from it), so a
    child of a 2 GB benchmark process reported 2 GB whatever it used itself.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def memory_figure(
    plan: Plan, widths: tuple[int, ...], regime: str, target_bytes: int = MEMORY_TARGET_BYTES
) -> Figure:
    """Peak resident memory of a fresh process running one epoch of ``regime`` on ``widths``."""
    shape = "→".join(map(str, widths))
    dataset = str(plan.dataset) if plan.dataset is not None and Path(plan.dataset).is_file() else ""
    architecture = architecture_for(widths)
    options = {
        "architecture": architecture.to_dict(),
        "dataset": dataset,
        "side": int(round(widths[0] ** 0.5)),
        "batch": plan.batch,
        "regime": regime,
    }
    name = f"Peak memory of a training run, {shape} {regime}"
    target = f"< {target_bytes / 1024**3:g} GB"
    try:
        result = run_python(["-m", "benchmarks.bench", "--worker", "memory", json.dumps(options)])
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return Figure("Memory", name, "not measured", target, None, str(error))
    peak = result["peak_bytes"]
    return Figure(
        "Memory",
        name,
        f"{peak / 1024**3:.2f} GB",
        target,
        peak < target_bytes,
        by=f"{(peak - target_bytes) / 1024**3:.2f} GB",
        note=f"run_training, 1 epoch of {result['images']} images with observers, run folder "
        "written; peak resident memory (VmHWM) of a fresh process, TensorFlow included",
    )


def memory_figures(plan: Plan) -> list[Figure]:
    return [memory_figure(plan, plan.shapes[-1], "lambda-phi")]


def settings_worker(options: dict[str, Any]) -> dict[str, Any]:
    """Dense and spectral step times with XLA off and on, in this process's oneDNN setting."""

    widths = tuple(options["widths"])
    x, y = batch_data(widths[0], options["batch"], widths[-1])
    results: dict[str, Any] = {"onednn": onednn_enabled()}
    for jit in (False, True):
        models = {
            name: build_variant(name, widths, jit) for name in ("dense", "lambda", "lambda-phi")
        }
        steps = {name: compiled_step(model, x, y) for name, model in models.items()}
        times = interleaved_step_times(steps, options["rounds"], options["steps"])
        results[f"xla={jit}"] = {name: statistics.median(t.wall) for name, t in times.items()}
    return results


def settings_figures(plan: Plan) -> list[Figure]:
    """Which of oneDNN × XLA is fastest: this process's oneDNN setting here, the other one in a
    fresh process (TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, at import)."""
    widths = plan.shapes[0]
    options = {
        "widths": list(widths),
        "batch": plan.batch,
        "rounds": max(2, plan.rounds // 2),
        "steps": plan.steps_per_round,
    }
    here = onednn_enabled()
    outcomes: list[tuple[bool, dict[str, Any] | str]] = [(here, settings_worker(options))]
    if plan.quick:
        outcomes.append((not here, "not measured in --quick (it needs a second TensorFlow)"))
        return settings_rows(outcomes, here)
    try:
        outcomes.append(
            (
                not here,
                run_python(
                    ["-m", "benchmarks.bench", "--worker", "settings", json.dumps(options)],
                    env={"TF_ENABLE_ONEDNN_OPTS": "0" if here else "1"},
                ),
            )
        )
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        outcomes.append((not here, str(error)))
    return settings_rows(outcomes, here)


def settings_rows(outcomes: list[tuple[bool, dict[str, Any] | str]], here: bool) -> list[Figure]:
    figures = []
    for onednn, result in sorted(outcomes, key=lambda item: not item[0]):
        label = "oneDNN on" if onednn else "oneDNN off"
        for jit in (False, True):
            name = f"{label}, XLA {'on' if jit else 'off'}: Dense / lambda / lambda-phi"
            if isinstance(result, str):
                figures.append(Figure("Settings", name, "not measured", note=result))
                continue
            values = result[f"xla={jit}"]
            figures.append(
                Figure(
                    "Settings",
                    name,
                    " / ".join(ms(values[key]) for key in ("dense", "lambda", "lambda-phi")),
                    note=(
                        f"lambda {values['lambda'] / values['dense']:.2f}, lambda-phi "
                        f"{values['lambda-phi'] / values['dense']:.2f} of Dense"
                        + ("" if onednn == here else "; measured in a fresh process")
                    ),
                )
            )
    return figures


def gui_figures(plan: Plan) -> list[Figure]:
    """Launch time, GUI-vs-headless training and event-loop gaps, from ``benchmarks.gui``."""
    targets = {
        "launch": ("Launch to main window shown", f"< {LAUNCH_TARGET_SECONDS:.0f} s"),
        "ratio": ("Training from the GUI ÷ headless", f"≤ {GUI_RATIO_TARGET:.2f}"),
        "gap": ("Largest GUI event-loop gap during training", f"< {GUI_GAP_TARGET_MS:.0f} ms"),
    }
    if not plan.gui:
        return [
            Figure("GUI", name, "not measured", target, None, "--no-gui")
            for name, target in targets.values()
        ]
    widths = plan.shapes[0]
    options = {
        "architecture": architecture_for(widths).to_dict(),
        "dataset": str(plan.dataset) if plan.dataset and Path(plan.dataset).is_file() else "",
        "batch": plan.batch,
        "repeats": plan.gui_repeats,
        "quick": plan.quick,
    }
    try:
        result = run_python(
            ["-m", "benchmarks.gui", json.dumps(options)], env={"QT_QPA_PLATFORM": "offscreen"}
        )
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return [
            Figure("GUI", name, "not measured", target, None, f"benchmarks.gui failed: {error}")
            for name, target in targets.values()
        ]
    launch, ratio, gap = result["launch_seconds"], result["ratio"], result["max_gap_ms"]
    shape = "→".join(map(str, widths))
    return [
        Figure(
            "GUI", targets["launch"][0], f"{launch:.2f} s", targets["launch"][1],
            launch < LAUNCH_TARGET_SECONDS,
            by=f"{launch - LAUNCH_TARGET_SECONDS:.2f} s",
            note="median of fresh `spectral-lab gui` processes, offscreen Qt; "
            + (
                f"TensorFlow ready {result['tensorflow_seconds']:.1f} s after launch, "
                "loaded behind the window"
                if result["tensorflow_seconds"] == result["tensorflow_seconds"]  # not NaN
                else "TensorFlow loading not awaited in --quick"
            ),
        ),
        Figure(
            "GUI", targets["ratio"][0],
            f"{ratio:.2f} ({result.get('gui_fastest', result['gui_seconds']):.2f} s vs "
            f"{result.get('headless_fastest', result['headless_seconds']):.2f} s)",
            targets["ratio"][1],
            ratio <= GUI_RATIO_TARGET,
            by=f"{ratio - GUI_RATIO_TARGET:.2f}",
            note=f"{shape} lambda, 1 epoch of {result['images']} images, live plots on; "
            "run_training without observers as headless, in the same process; fastest of "
            f"{result.get('pairs', '?')} interleaved pairs on each side, the gap meter off "
            "(median of the pairs' "
            f"ratios {result.get('median_pair_ratio', float('nan')):.2f}; medians "
            f"{result['gui_seconds']:.2f} s vs {result['headless_seconds']:.2f} s); CPU-time ratio "
            f"{result.get('cpu_ratio', float('nan')):.2f} (GUI thread included)",
        ),
        Figure(
            "GUI", targets["gap"][0], f"{gap:.0f} ms", targets["gap"][1],
            gap < GUI_GAP_TARGET_MS,
            by=f"{gap - GUI_GAP_TARGET_MS:.0f} ms",
            note=(
                f"over {result.get('pairs', '?')} GUI runs of their own after the timed pairs, "
                "largest interval between ticks of a 10 ms QTimer from Train to the result shown: "
                f"{result.get('max_gap_fit_ms', float('nan')):.0f} ms while the fit loop ran, "
                f"{result.get('max_gap_after_fit_ms', float('nan')):.0f} ms after it "
                "(retraction, evaluation, showing the result); the largest began "
                f"{result.get('max_gap_at_seconds', float('nan')):.1f} s after Train in a "
                f"{result.get('run_seconds', float('nan')):.1f} s run; the largest of each "
                f"run: {', '.join(map(str, result.get('run_max_gaps_ms', [])))} ms; a plain "
                "Python thread "
                f"ticking beside it saw at most {result.get('max_probe_gap_ms', float('nan')):.0f}"
                " ms (about as large means the GUI thread waited for the GIL or a core, not for its own code)"
            ),
        ),
    ]


# == the table ==============================================================================


def markdown(figures: list[Figure], machine: dict[str, str], seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m benchmarks` (`make bench`); every figure of issue 5 with its target.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in machine.items()],
        "",
        "## How",
        "",
        "- The machine is shared (other processes run beside the benchmark), so models are timed "
        "in interleaved rounds (A, B, A, B …, order rotating), each round gives its own ratio, "
        "and the table shows medians; ratios come from one run, never across runs.",
        "- A step is one call of Keras's compiled train function on a `tf.data` iterator, the "
        "loss read back: what `fit` (and so the engine) runs for every batch (Adamax, the "
        "library's own `build_model`, random inputs, after warm-up). Ratios are to the "
        "same-shape Dense network (`direct-full`) built and measured beside it with the same "
        "settings. The notes also give the ratio through `train_on_batch`, which adds Keras's "
        "per-call Python (about 0.3–1.4 ms here, the same on both sides) that `fit` does not "
        "pay per batch, and the time of the step's matrix products alone (a floor for any "
        "exact formulation of that trainable set).",
        "- One epoch is `spectral_core.training.train` (observers on) against `model.fit` of "
        "the Dense network on the same numpy arrays, as a user calls it; the engine adds no "
        "overhead of its own when its ratio is at most the step ratio + 0.05 (an epoch ratio "
        "below the step ratio is not negative overhead: the engine converts the arrays to "
        "tensors in slices, which costs less than Keras's array pipeline). The notes also give "
        "the engine against each model's own plain `fit` and against a Dense `fit` fed "
        "ready-made tensors (no data preparation inside its time at all).",
        "- GFLOP/s count the matrix products each step actually runs (forward, input gradients, "
        "and weight gradients only where weights are trained as a matrix).",
        "",
        "## Figures",
        "",
        "| section | figure | value | target | verdict | notes |",
        "|---|---|---|---|---|---|",
        *[
            f"| {f.section} | {f.name} | {f.value} | {f.target} | {f.verdict} | {f.note} |"
            for f in figures
        ],
        "",
        f"Total benchmark time: {seconds:.0f} s.",
        "",
        NOTES,
    ]
    return "\n".join(lines)


NOTES = """## What the layer runs, and what was tried

`SpectralDense` picks its formulation from its trainable set (`layer.formulation`):

- **scaled-projection** (λ_in frozen: `lambda`, `lambda-phi`, every layer but a first one with
  trained input eigenvalues). With λ_in uniform (= c) the kernel is φ diag(c − λ_out), so
  y = (x φ) ⊙ (c − λ_out) and W is never formed. φ frozen: the only product is x φ; the
  gradient of λ_out is −Σ_batch ∂y ⊙ x φ, elementwise on what the forward pass computed, so the
  weight-gradient product a Dense layer pays is gone. φ trained: its gradient is
  xᵀ (∂y ⊙ (c − λ_out)), the same single product as Dense. A non-uniform frozen λ_in is
  detected inside the graph (a `cond`; XLA's optimized HLO shows the unused branch's products
  removed, and the CPU time with and without the `cond` was the same) and runs
  (x ⊙ λ_in) φ − (x φ) ⊙ λ_out, or the formed kernel when φ is trained.
- **formed-kernel** (λ_in trained): W = φ ⊙ (λ_in − λ_out) formed elementwise, one product; a
  custom gradient computes G = xᵀ ∂y once and reads ∂φ, ∂λ_in and ∂λ_out off it elementwise,
  skipping frozen factors.
- `MaskedDense` (`direct-subset`) forms K = K₀ with the k trained values scattered in and runs
  one product; a custom gradient takes ∂y Kᵀ for the input and, per trained entry (r, c),
  Σ_batch x[:, r] ∂y[:, c] (two batch × k gathers), so no weight-gradient product is paid, and
  no frozen entry can move (K₀ is not a trainable variable). On the cached projection (the first
  layer) it adds a sparse correction to x K₀ instead (gather, multiply, segment-sum). The earlier
  form, x K₀ plus the correction in every layer, let autodiff scatter-add the correction's
  gradient back into x; the scattered kernel made the XLA epoch of 784→2000→120→10 about 10 %
  faster (raw `fit`, fastest of 3 in each of two processes: 0.99 and 1.11 s against 1.18 and
  1.16 s).

`tests/core/test_formulations.py` checks every trainable-flag combination (including a
non-uniform frozen λ_in) against a float64 numpy reference for outputs and gradients.

Tried and measured on this machine (numbers in the rows above):

- **XLA** (`jit_compile`; the default `"auto"` turns it on for the Constrained NN's cached view
  only, when the run repays compiling). On the plain models: no consistent gain (steps 0–22%
  faster with the cores quiet, Dense gaining most as XLA fuses its Adamax update; 1.5–3× slower
  with other jobs on the cores; ~4 s of compiling per new model), and on Train Λ's cached view
  it was slower (784→2000→120→10: 1.36–1.41 s of CPU per epoch against 1.00–1.15). On the
  Constrained NN's cached view (below) its gathers, segment sums and transposes fuse: epochs
  took half the CPU time (784→800→120→10: 0.94–1.20 s against 1.84–2.50; 784→2000→120→10:
  2.0 s against 2.95–3.43), so `"auto"` turns XLA on there when trained entries × steps
  ≥ 2·10⁵ (`training.xla_repays`: ~5 µs saved per entry and step against ~1 s of compiling;
  a 3-epoch run at N2 = 50 stays without). An earlier run of this benchmark saw its second epoch
  recompile on 784→800→120→10 (6.0 s against 1.6 s); four-epoch runs with observers and a
  validation split, at 784→800→10, 784→800→120→10 and 784→2000→120→10, did not reproduce it
  (the second to fourth epochs took the same CPU time).
- **oneDNN**: this TensorFlow turns it on by default on this CPU (AVX-512; the log line
  "oneDNN custom operations are on" is that default). On vs off is in the Settings rows (each
  setting needs its own process): on was faster or level in most runs, and fresh processes
  alternated on/off/on/off came out within noise of each other, so the default is kept and
  nothing is forced.
- **Custom gradients**: used for the formed kernel (one xᵀ ∂y, frozen factors skipped). For the
  scaled projection plain autodiff already computes exactly the needed products.

Why some targets are hard on this machine:

- `lambda+input` ≤ 0.80: a trained λ_in needs Σ_i (xᵀ ∂y) ⊙ φ, i.e. the same two full products
  a Dense layer runs (forward and xᵀ ∂y). The "matrix products alone" figure in the notes times
  exactly those products on their own: about 0.7 of the Dense step. What `lambda+input` saves
  over Dense is Dense's Adamax update of the 784 × 800 kernel; it pays about five elementwise
  passes over the kernel instead (form W, G ⊙ φ, two reductions), and the step's fixed costs
  (loss, metrics, optimizer bookkeeping, the call itself) are the same as Dense's: `lambda`'s
  own step sits about 0.15–0.2 of a Dense step above its single product. So 0.7 + 0.15 is the
  floor, and the measured 0.81–0.89 is at it; getting under 0.80 would need a fused kernel
  (forming W inside the product), which neither TensorFlow's CPU kernels nor XLA provide here.
  Other exact formulations need three full products (e.g. (x ⊙ λ_in) φ and x φ forward, ∂y φᵀ
  backward) and are slower.
- `lambda` ≤ 0.55: one product instead of Dense's two (about 0.33 of the Dense step), plus the
  same fixed per-step costs; it lands at 0.49–0.56 depending on the machine's load.
- Step timing: a step is Keras's compiled train function, as `fit` runs it. Through
  `train_on_batch` each call adds Keras's Python (checks, metric resets, logs converted to
  numpy) to both sides, which pushes every ratio toward 1 (shown in the notes); earlier runs of
  this benchmark timed `train_on_batch` and found `lambda` at 0.55–0.63.
- Wall-clock ratios move by ±0.1 between runs while other engineers' jobs share the two cores.
  One-epoch times are bimodal here: the same epoch of the same model (`lambda-phi`, plain
  `fit` on tensors) took 1.65 s in one repeat and 2.6 s in the next three, so a one-epoch ratio
  of a few repeats can land 0.1–0.3 off the step ratio either way. What the engine itself adds
  was measured directly: its `fit` call against its whole `train` call differs by 0.06–0.1 s
  (converting the training set to tensors in slices, and the observers' epoch histograms,
  about 30 ms per epoch end for 784→800→10), i.e. under 0.05 of a Dense epoch.
- The CPU-time ratios in the notes (this process's CPU seconds per step) are the steadier
  measure of the work each formulation does.

## The user's path: what an epoch costs (issue 12)

What the engine does now, beyond the layer formulations above:

- **Cached first-layer projection** (`spectral_core/projection.py`). Where the first layer's
  product with the input never changes in training — Train Λ's x φ (φ and a uniform λ_in frozen,
  the paper's λ_in = 1 not trained) and the Constrained NN's x K₀ — the engine projects the
  whole data set once (one forward pass of the first layer, reported inside the first epoch)
  and trains a view: a Keras model whose input is the projection and whose layers are the
  model's own layer objects, so every variable is shared and nothing is copied. The first layer
  becomes elementwise, y = (x φ) ⊙ (λ_in − λ_out), or x K₀ plus the sparse correction on the
  trained entries. `tests/core/test_projection_cache.py` checks losses, validation metrics and
  weights after three shuffled epochs with a validation split against the uncached model
  (float32 tolerance), and that the view's variables are the model's. The cache takes
  N × N2 × 4 bytes (432 MB for 54,000 images at N2 = 2000); above
  `TrainingConfig.projection_cache_mb` (1024 by default) the engine trains uncached and logs why.
- **Several batches per compiled call** (Keras `steps_per_execution`), chosen so one call is about
  4 GFLOP (~40–80 ms here; 1 GFLOP left Train Λ at N2 = 2000 at 2 batches a call and 20 % slower
  by CPU time, 1.17–1.34 s against 0.97–0.98 s an epoch at 8): observers still get batch-level metrics at their 10 Hz, and stop,
  pause and divergence checks act between calls (a divergence message names the call's batches).
  `snapshot_interval = 0` (an observer that wants every batch) keeps one batch per call.

What is left in a step (profiled with CPU-time ablations, 784→800→120→10, batch 300):

- Train Λ's cached step does two products of the second layer (forward, and ∂h = (∂y ⊙ g) φᵀ
  for the first layer's eigenvalues) and none of the 784-wide first layer: 116 MFLOP against
  Dense's ~930. It measured 4–6 ms of CPU per step against Dense's 14–20 ms: about 3 ms of
  every step is fixed cost (the batch gather from the cached tensor, loss and metrics, the
  Adamax update, the compiled loop), the same for every regime. At N2 = 2000 the products alone
  are 0.125 of Dense's; with the fixed cost the epoch lands at 0.17–0.20, above the 0.15
  target (raw `fit` of the view, no engine: 0.60–0.66 s against Dense's 3.64 s, fastest of 3).
  Neither XLA (0.78 s) nor a whole epoch per compiled call (0.66 s) nor dropping the `cond`
  (no change) moved it. At 784→800→120→10 raw `fit` of the view gives 0.44 s against 1.75 s,
  0.25: the target is this machine's floor, and the engine's epochs land at 0.25–0.31.
- Train Λ, Φ trains every weight: Dense's products plus about five elementwise passes over each
  kernel (form W, ∂φ = G ⊙ (λ_in − λ_out), G ⊙ φ, two sums), so its step is 1.03–1.04 of
  Dense's (rows above) and its epoch 1.0–1.1. XLA fuses those passes (784→800→120→10: steady
  epoch 1.70 s against 1.83 s without, Dense 1.71 s; fastest of 3), but compiling costs ~1.5 s
  of CPU per model, which a 20-epoch run barely earns back, and XLA slowed the shared VM's
  other regimes, so `"auto"` leaves it off.
- The Constrained NN's correction on the cached first layer (gather k columns, multiply,
  segment-sum into the columns, two transposes) cost 3 ms of CPU per step at k = 920 in
  isolation: as much as a dense product of the layer. A sparse-dense matmul formulation took 1.8 ms in isolation but changed the step by
  less than the noise, and XLA cannot compile it; XLA fusing the correction is what pays
  (above).
- Nothing the step recomputes could usefully be kept: the gather of K₀ at the trained entries
  (k values) and the `cond` on λ_in's uniformity (N_in comparisons) are each microseconds, and
  keeping them would break exactness when a user assigns λ_in or K₀ between runs.
- Elementwise work: TensorFlow's Eigen kernels split an elementwise op over both cores above
  their cost threshold (a 300 × 800 multiply qualifies); the CPU-time ratios beside the wall
  ratios in the rows show how many cores a step kept busy.
- Per epoch, the observers' epoch snapshot (effective-weight histograms of every layer, the
  histogram history, the retracted model's kernels) costs ~120 ms at N2 = 2000 for every
  regime; it is ~10 % of a cached Train Λ epoch there. Each layer's effective kernel is now
  computed once per snapshot (it was computed for the history and again for the histograms),
  and sweeps and `reproduce` skip the snapshot altogether (`run_training(analysis=False)`: they
  keep results, not plots).
- Per run, outside the epochs: `model.predict` traced a new function for every model, and a run
  predicted the test set four times (test metrics, the retraction's comparison of both models,
  the compact model's accuracy again), ~1.4 s of a 6.6 s three-epoch Train Λ run at
  784→800→120→10. The engine now calls the model eagerly in chunks of 1,000 rows, and the
  compact accuracy comes from the comparison.

GUI responsiveness (what was found and fixed):

- pyqtgraph draws a plot's grid inside its axes, and the minor-tick grid made each axis repaint
  cost ~5 ms (14.4 ms per plot redraw); grid lines at the labelled ticks only: 3.6 ms.
- The training thread runs Python between TensorFlow calls, and every Qt call on the GUI thread
  releases and retakes the GIL: at Python's default 5 ms switch interval a repaint took up to 10×
  its own time. The app sets a 1 ms switch interval once TensorFlow has loaded.
- Full garbage-collection passes hold the GIL (43–112 ms measured mid-run, growing with the
  session's objects): the app freezes TensorFlow's objects once loaded (`gc.freeze`), and the
  training thread defers automatic collection to the end of each run, then collects only that
  run's objects (≈9,000, bounded whatever the number of epochs).
- The Train press paints the cleared plots before the worker thread starts, so that paint does
  not compete with model building for the GIL; it is now the largest gap of a run.
"""


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def run_benchmark(plan: Plan, echo: Callable[[str], None] = print) -> tuple[list[Figure], dict]:
    """Every figure, in order; ``echo`` reports progress."""
    started = time.perf_counter()
    machine = machine_description(plan)
    load_at_start = load_average()
    first_peak = peak_gflops(plan.peak_size)
    echo(f"peak {first_peak:.0f} GFLOP/s")
    figures, steps = step_figures(plan)
    echo("step ratios done")
    figures += square_figures(plan)
    echo("square operator done")
    figures += epoch_figures(plan, steps)
    echo("epochs done")
    figures += memory_figures(plan)
    echo("memory done")
    from benchmarks.user_path import user_path_figures

    figures += user_path_figures(plan, plan.baseline)
    echo("user's path done")
    figures += settings_figures(plan)
    echo("settings done")
    figures += gui_figures(plan)
    echo("GUI done")
    peak_rows, peak = peak_figures(plan, first_peak)
    for figure in figures:
        if figure.gflops is not None:
            figure.note += f"; {figure.gflops:.0f} GFLOP/s = {figure.gflops / peak:.0%} of peak"
    figures = peak_rows + figures
    machine["benchmark seconds"] = f"{time.perf_counter() - started:.0f}"
    machine["load average (1 min), start / end"] = (
        f"{load_at_start} / {load_average()} on {os.cpu_count()} cores "
        "(other engineers' jobs share them)"
    )
    return figures, machine


def print_table(figures: list[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    for f in figures:
        print(f"{f.name:<{width}}  {f.value:<32} {f.target:<14} {f.verdict}")


def cmd_bench(args: argparse.Namespace) -> int:
    if args.dataset and not Path(args.dataset).is_file():
        raise ValueError(f"--dataset: no such file: {args.dataset} (give an MNIST .npz)")
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"--rounds: must be at least 1, got {args.rounds}")
    if args.quick:
        # Tiny 8×8 synthetic digits: a 784-pixel data set would not fit the tiny networks.
        plan = Plan.quick_plan()
    else:
        plan = Plan(dataset=Path(args.dataset) if args.dataset else DEFAULT_DATASET)
    if args.rounds:
        plan.rounds = args.rounds
    plan.gui = not args.no_gui
    plan.baseline = args.baseline
    started = time.perf_counter()
    figures, machine = run_benchmark(plan, echo=lambda text: print(text, file=sys.stderr))
    print_table(figures)
    if args.out:
        from spectral_core.files import atomic_write_text

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, markdown(figures, machine, time.perf_counter() - started))
        print(f"wrote {out}")
    if args.json:
        print(json.dumps([asdict(f) for f in figures]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m benchmarks`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="measure training speed, memory and GUI responsiveness against targets",
    )
    parser.add_argument("--out", help="also write the table as Markdown (docs/BENCHMARKS.md)")
    parser.add_argument(
        "--dataset",
        help=(
            f"MNIST .npz for the epoch, memory and GUI rows (default {DEFAULT_DATASET_SHOWN} if "
            "present, else those rows say so); --quick always uses tiny synthetic digits"
        ),
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code runs")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per step comparison")
    parser.add_argument("--no-gui", action="store_true", help="skip the GUI figures")
    parser.add_argument(
        "--baseline", metavar="GIT_REF",
        help="also time the small `reproduce table1` in a checkout of this git ref (before/after)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; bad options print ``error: …`` and return 2."""
    args = build_parser().parse_args(argv)
    try:
        return cmd_bench(args)
    except (ValueError, OSError) as error:
        print(f"python -m benchmarks: error: {error}", file=sys.stderr)
        return 2


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "memory": memory_worker,
    "settings": settings_worker,
}


def worker_main(argv: list[str]) -> int:
    """``python -m benchmarks.bench --worker NAME JSON``: one isolated measurement."""
    if len(argv) != 3 or argv[0] != "--worker" or argv[1] not in WORKERS:
        print(f"usage: python -m benchmarks.bench --worker {{{','.join(WORKERS)}}} JSON",
              file=sys.stderr)
        return 2
    print(json.dumps(WORKERS[argv[1]](json.loads(argv[2]))))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
