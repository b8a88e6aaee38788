"""Loss and accuracy, train and validation overlaid, per batch and per epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.plots import RUN_COLORS, live_plot

TRAIN_COLOR = "#0072B2"
VALIDATION_COLOR = "#D55E00"


def exponential_smoothing(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's display smoothing: a debiased exponential moving average."""
    if weight <= 0 or values.size == 0:
        return values
    smoothed = np.empty_like(values, dtype=np.float64)
    average = 0.0
    for index, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        smoothed[index] = average / (1 - weight ** (index + 1))
    return smoothed


class MetricsPanel(QWidget):
    """Two plots (loss, accuracy); x is the epoch position, batches in between."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setToolTip("Smoothing of the per-batch curves (exponential moving average)")
        self.smoothing_label = QLabel()
        self.log_y = QCheckBox("Log-scale loss")
        self.show_batches = QCheckBox("Per batch")
        self.show_batches.setChecked(True)
        self.show_epochs = QCheckBox("Per epoch")
        self.show_epochs.setChecked(True)

        self.loss_plot = live_plot("Loss", "epoch", "cross-entropy")
        self.accuracy_plot = live_plot("Accuracy", "epoch", "fraction correct")
        self.accuracy_plot.setXLink(self.loss_plot)

        def curve(plot: pg.PlotWidget, name: str, color: str, **style: object) -> pg.PlotDataItem:
            return plot.plot([], [], name=name, pen=pg.mkPen(color, **style))

        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, plot in (("loss", self.loss_plot), ("accuracy", self.accuracy_plot)):
            self.curves[f"batch_{key}"] = curve(plot, "train (batch)", TRAIN_COLOR, width=1)
            self.curves[f"batch_{key}"].setOpacity(0.55)
            self.curves[f"epoch_{key}"] = plot.plot(
                [], [], name="train (epoch)", pen=pg.mkPen(TRAIN_COLOR, width=2),
                symbol="o", symbolSize=6, symbolBrush=TRAIN_COLOR,
            )
            self.curves[f"val_{key}"] = plot.plot(
                [], [], name="validation (epoch)", pen=pg.mkPen(VALIDATION_COLOR, width=2),
                symbol="s", symbolSize=6, symbolBrush=VALIDATION_COLOR,
            )
        # Runs from the runs list drawn next to the live one; one pair of items per run name.
        self._overlays: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._batch = np.zeros((0, 3))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.show_batches)
        controls.addWidget(self.show_epochs)
        controls.addWidget(self.log_y)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.accuracy_plot, 1)

        self.smoothing.valueChanged.connect(self._redraw_batches)
        self.log_y.toggled.connect(self._set_log_y)
        self.show_batches.toggled.connect(self._update_visibility)
        self.show_epochs.toggled.connect(self._update_visibility)
        self._redraw_batches()

    # -- data in ----------------------------------------------------------------------
    def clear(self) -> None:
        self._batch = np.zeros((0, 3))
        for item in self.curves.values():
            item.setData([], [])
        self.set_epoch_span(None)

    def set_epoch_span(self, epochs: int | None) -> None:
        """Fix the x axis to a live run's 0..epochs (None: follow the data again).

        A fixed x range keeps pyqtgraph from re-rendering the epoch axis on every redraw,
        which costs the GUI thread milliseconds that training on two cores feels.
        """
        view = self.loss_plot.getViewBox()  # the accuracy plot's x axis is linked to it
        if epochs is None:
            view.enableAutoRange(x=True)
        else:
            view.enableAutoRange(x=False)
            view.setXRange(0, epochs, padding=0.02)

    def set_batch_points(self, points: np.ndarray) -> None:
        """(n, 3) rows of (epoch position, loss, accuracy)."""
        self._batch = points
        self._redraw_batches()

    def set_history(self, history: Sequence[dict[str, float]]) -> None:
        """Per-epoch rows as the training engine writes them."""
        epochs = np.array([row["epoch"] for row in history], dtype=np.float64)
        for key in ("loss", "accuracy"):
            self.curves[f"epoch_{key}"].setData(epochs, self._column(history, key))
            self.curves[f"val_{key}"].setData(epochs, self._column(history, f"val_{key}"))

    def set_overlays(self, runs: Sequence[tuple[str, Sequence[dict[str, float]]]]) -> None:
        """Validation curves (training when there is no validation) of other runs."""
        wanted = {name for name, _ in runs}
        for name in list(self._overlays):
            if name not in wanted:
                loss_item, accuracy_item = self._overlays.pop(name)
                self.loss_plot.removeItem(loss_item)
                self.accuracy_plot.removeItem(accuracy_item)
        for index, (name, history) in enumerate(runs):
            if name not in self._overlays:
                color = RUN_COLORS[(index + 2) % len(RUN_COLORS)]
                pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine)
                self._overlays[name] = (
                    self.loss_plot.plot([], [], name=name, pen=pen),
                    self.accuracy_plot.plot([], [], name=name, pen=pen),
                )
            epochs = np.array([row["epoch"] for row in history], dtype=np.float64)
            for key, item in zip(("loss", "accuracy"), self._overlays[name], strict=True):
                values = self._column(history, f"val_{key}")
                if not np.any(np.isfinite(values)):
                    values = self._column(history, key)
                item.setData(epochs, values)

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    # -- display ----------------------------------------------------------------------
    @staticmethod
    def _column(history: Sequence[dict[str, float]], key: str) -> np.ndarray:
        return np.array([row.get(key, np.nan) for row in history], dtype=np.float64)

    def _redraw_batches(self) -> None:
        weight = self.smoothing.value() / 100
        self.smoothing_label.setText(f"{weight:.2f}")
        points = self._batch
        for column, key in ((1, "loss"), (2, "accuracy")):
            self.curves[f"batch_{key}"].setData(
                points[:, 0], exponential_smoothing(points[:, column], weight)
            )

    def _set_log_y(self, on: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=on)

    def _update_visibility(self) -> None:
        for key in ("loss", "accuracy"):
            self.curves[f"batch_{key}"].setVisible(self.show_batches.isChecked())
            self.curves[f"epoch_{key}"].setVisible(self.show_epochs.isChecked())
            self.curves[f"val_{key}"].setVisible(self.show_epochs.isChecked())
