"""Device listing matches what TensorFlow itself reports."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from spectral_core.devices import DeviceError, default_device, list_devices, training_device  # noqa: E402


def test_list_devices_matches_tensorflow() -> None:
    reported = tf.config.list_logical_devices()
    listed = list_devices()
    assert sorted(device.name for device in listed) == sorted(
        device.name[device.name.index("/device:") :] for device in reported
    )
    assert {device.kind for device in listed} == {device.device_type for device in reported}
    kinds = [device.kind for device in listed]
    assert kinds == sorted(kinds, key=lambda kind: kind != "GPU"), "GPUs are listed first"


def test_default_device_is_first_gpu_else_cpu() -> None:
    gpus = tf.config.list_logical_devices("GPU")
    device = default_device()
    if gpus:
        assert device.kind == "GPU" and device.name.endswith(gpus[0].name.split("/device:")[-1])
    else:
        assert device.kind == "CPU" and device.description == "CPU"
        assert device.label.startswith("CPU")


def test_training_device_places_tensors_on_the_chosen_device() -> None:
    cpu = next(device for device in list_devices() if device.kind == "CPU")
    with training_device(cpu.name) as chosen:
        value = tf.constant([1.0, 2.0]) * 2.0
    assert chosen == cpu
    assert value.device.endswith(cpu.name)


def test_training_device_rejects_unknown_names() -> None:
    with pytest.raises(DeviceError, match="device: must be one of .*CPU:0.*got '/device:TPU:7'"):
        with training_device("/device:TPU:7"):
            pass


def test_memory_growth_is_turned_on_for_every_gpu(monkeypatch) -> None:
    from spectral_core import devices

    gpus = [tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU"),
            tf.config.PhysicalDevice("/physical_device:GPU:1", "GPU")]
    grown = []

    def set_memory_growth(device, enable):
        if device.name.endswith("1"):
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        grown.append((device.name, enable))

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", set_memory_growth)
    monkeypatch.delenv("SPECTRAL_LAB_GPU_MEMORY_GROWTH", raising=False)
    # A GPU already in use keeps its setting; the others grow.
    assert devices.enable_gpu_memory_growth() == ["/physical_device:GPU:0"]
    assert grown == [("/physical_device:GPU:0", True)]
    monkeypatch.setenv("SPECTRAL_LAB_GPU_MEMORY_GROWTH", "0")
    assert devices.enable_gpu_memory_growth() == []
