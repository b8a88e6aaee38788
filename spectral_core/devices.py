"""Which devices TensorFlow sees, which one training uses by default, and a context to pick one.

No Qt here: the GUI lists these in its device picker and shows the default in its status bar.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from spectral_core.errors import SpectralLabError

# Start-up lines TensorFlow's C++ side prints on every machine without a GPU: absl's notice, its
# INFO/WARNING lines, and CUDA probes that fail because there is no CUDA. Real errors still show.
_START_UP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
    r"|E\d{4} .*(failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory))"
)


class DeviceError(SpectralLabError):
    """A device name TensorFlow does not know; the message lists the devices it does."""


@dataclass(frozen=True)
class Device:
    """One device as TensorFlow reports it."""

    name: str  # TensorFlow's logical name, e.g. "/device:GPU:0"
    kind: str  # "CPU" or "GPU" (or another TensorFlow device type)
    description: str  # what a person reads: the GPU model, or "CPU"

    @property
    def label(self) -> str:
        """What the device picker shows, e.g. ``CPU (/device:CPU:0)``."""
        if self.kind == "CPU":
            return f"CPU ({self.name})"
        return f"{self.description} ({self.name})"


def import_tensorflow() -> Any:
    """Import TensorFlow without its start-up noise and return the ``tensorflow`` module.

    See :func:`quiet_tensorflow_start`; importing again is free.
    """
    quiet_tensorflow_start()
    import tensorflow as tf

    return tf


def quiet_tensorflow_start() -> None:
    """Make TensorFlow's first import in this process quiet, whenever and wherever it happens.

    On a CPU machine TensorFlow prints absl notices, oneDNN and CUDA-probe lines and
    ``failed call to cuInit`` before any log level applies. While it loads (and probes for GPUs,
    turning memory growth on), those lines are dropped; anything else it prints (a real error)
    is passed on. ``TF_CPP_MIN_LOG_LEVEL`` becomes 2 unless set, and absl's Python logging shows
    errors only. The command line calls this first, so commands still import TensorFlow only
    once their inputs are checked; the library never calls it by itself.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        _quiet_python_logging()
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def _quiet_python_logging() -> None:
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first ``import tensorflow`` with its start-up noise filtered out of stderr."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only, and the other finders find the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def execute_quietly(module: Any) -> None:
            with _stderr_filtered(_START_UP_NOISE):
                execute(module)
                enable_gpu_memory_growth()  # probes CUDA, whose failure is noise too
            _quiet_python_logging()

        spec.loader.exec_module = execute_quietly  # type: ignore[method-assign]
        return spec


@contextlib.contextmanager
def _stderr_filtered(noise: re.Pattern[str]) -> Iterator[None]:
    """Capture file descriptor 2 (C++ writes there directly), then print what is not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if line and not noise.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def enable_gpu_memory_growth() -> list[str]:
    """Let TensorFlow take GPU memory as it needs it instead of all at once, so several workers
    (a sweep's processes, the GUI beside a sweep) can share one GPU. Returns the GPUs changed.

    It must run before TensorFlow first uses a GPU; on a GPU already in use it changes nothing.
    ``SPECTRAL_LAB_GPU_MEMORY_GROWTH=0`` leaves TensorFlow's default (all memory at once).
    """
    if os.environ.get("SPECTRAL_LAB_GPU_MEMORY_GROWTH", "1") == "0":
        return []
    import tensorflow as tf

    changed = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialized: keep its setting
            continue
        changed.append(gpu.name)
    return changed


def _description(physical: object, kind: str) -> str:
    import tensorflow as tf

    if kind != "GPU":
        return kind
    try:
        details = tf.config.experimental.get_device_details(physical)
    except (ValueError, RuntimeError):
        details = {}
    return str(details.get("device_name") or "GPU")


def list_devices() -> list[Device]:
    """Every logical device TensorFlow sees, GPUs first, then CPUs."""
    import tensorflow as tf

    devices: list[Device] = []
    for kind in ("GPU", "CPU"):
        physical = tf.config.list_physical_devices(kind)
        logical = tf.config.list_logical_devices(kind)
        for index, device in enumerate(logical):
            description = _description(physical[index], kind) if index < len(physical) else kind
            devices.append(Device(_canonical(device.name), kind, description))
    return devices


def _canonical(name: str) -> str:
    """TensorFlow's short form "/device:CPU:0" of "/job:localhost/replica:0/task:0/device:CPU:0"."""
    marker = "/device:"
    return name[name.index(marker):] if marker in name else name


def default_device() -> Device:
    """The device Keras places training on when none is chosen: the first GPU, else the CPU."""
    devices = list_devices()
    return devices[0]


def tensorflow_version() -> str:
    """TensorFlow's version string (imports TensorFlow)."""
    import tensorflow as tf

    return str(tf.__version__)


@contextlib.contextmanager
def training_device(name: str | None) -> Iterator[Device]:
    """Run the enclosed building and training on device ``name`` (None: the default device).

    TensorFlow's device scope is per thread, so enter this on the thread that trains.
    """
    import tensorflow as tf

    devices = list_devices()
    if name is None:
        chosen = devices[0]
    else:
        matches = [device for device in devices if device.name == _canonical(name)]
        if not matches:
            known = ", ".join(device.name for device in devices)
            raise DeviceError(f"device: must be one of {known}, got {name!r}")
        chosen = matches[0]
    with tf.device(chosen.name):
        yield chosen
