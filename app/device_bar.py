"""The status bar's device picker and TensorFlow status; loading TensorFlow in the background.

Importing TensorFlow takes seconds, so the window shows first and :meth:`DeviceBar.start_loading`
imports it as a background task (:mod:`app.tasks`); ``loaded`` is emitted when it is ready.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QStatusBar

from app.tasks import TaskRunner
from app.worker import load_tensorflow

GIL_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005


class DeviceBar(QObject):
    """The device label and picker in ``status_bar``, and the TensorFlow loading task."""

    loaded = Signal()
    failed = Signal(str)

    def __init__(self, status_bar: QStatusBar, show_error: Callable[[str], None]) -> None:
        super().__init__(status_bar)
        self.version = ""
        self.devices: list[Any] = []
        self.label = QLabel("Loading TensorFlow…")  # the device and TensorFlow's version
        self.picker = QComboBox()
        self.picker.setToolTip("Device to train on (every device TensorFlow sees)")
        self.picker.setEnabled(False)
        self.picker.addItem("loading TensorFlow…")
        for widget in (self.label, QLabel("Device"), self.picker):
            status_bar.addPermanentWidget(widget)
        self.loader = TaskRunner("loading TensorFlow", show_error, parent=self)
        self.show_error = show_error

    def start_loading(self) -> None:
        if not self.loader.busy and not self.version:
            self.loader.start(load_tensorflow, on_done=self._on_loaded, on_error=self._on_failed)

    def _on_loaded(self, result: tuple[list[Any], str]) -> None:
        # TensorFlow's ~450,000 module objects live as long as the app: frozen, the collector's
        # full passes (which hold the GIL up to 300 ms) skip them. A 1 ms GIL switch interval
        # hands the GIL back to the GUI thread sooner during training.
        gc.freeze()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self.devices, self.version = list(result[0]), result[1]
        self.picker.clear()
        for device in self.devices:
            self.picker.addItem(device.label, device.name)
        self.picker.currentIndexChanged.connect(self._show_device)
        self._show_device()
        self.loaded.emit()

    def _on_failed(self, message: str) -> None:
        self.label.setText("TensorFlow is not available: training is off")
        self.show_error(message)
        self.failed.emit(message)

    def _show_device(self) -> None:
        if self.devices:
            device = self.devices[max(0, self.picker.currentIndex())]
            gpu_note = "" if any(d.kind == "GPU" for d in self.devices) else " (no GPU found)"
            self.label.setText(
                f"Training on {device.description}{gpu_note} · TensorFlow {self.version}"
            )

    def selected_device(self) -> str | None:
        data = self.picker.currentData()
        return str(data) if data else None
