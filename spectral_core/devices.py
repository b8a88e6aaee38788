"""Which devices TensorFlow sees, which one training uses by default, and a context to pick one.

No Qt here: the GUI lists these in its device picker and shows the default in its status bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


class DeviceError(ValueError):
    """A device name TensorFlow does not know; the message lists the devices it does."""


@dataclass(frozen=True)
class Device:
    """One device as TensorFlow reports it."""

    name: str  # TensorFlow's logical name, e.g. "/device:GPU:0"
    kind: str  # "CPU" or "GPU" (or another TensorFlow device type)
    description: str  # what a person reads: the GPU model, or "CPU"

    @property
    def label(self) -> str:
        if self.kind == "CPU":
            return f"CPU ({self.name})"
        return f"{self.description} ({self.name})"


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
