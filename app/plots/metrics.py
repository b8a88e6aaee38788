"""Loss and accuracy, train and validation overlaid, per batch and per epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.plots import RUN_COLORS, live_plot
from spectral_core.batch_metrics import batch_means_from_running_means

TRAIN_COLOR = "#56B4E9"  # sky blue: readable on the plots' black background
VALIDATION_COLOR = "#E69F00"
# Other runs' curves: never the current run's train or validation colour.
OVERLAY_COLORS = tuple(color for color in RUN_COLORS if color not in (TRAIN_COLOR, VALIDATION_COLOR))
# Accuracy is drawn in percent, loss as it is.
METRIC_SCALE = {"loss": 1.0, "accuracy": 100.0}
BATCH_NOTE = (
    "Batch curves: each point is the mean of the batches since the previous point (a batch's own "
    "value when every batch is sampled), recovered from Keras's running epoch means, then smoothed."
)
BATCH_NOTE_SHORT = "Batch curves: mean of the batches since the previous point (not Keras's running mean)"


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


def curve_names(run: str, metric: str) -> dict[str, str]:
    """Legend names of the run's three curves for ``metric`` (loss or accuracy)."""
    prefix = f"{run} · " if run else ""
    return {
        "batch": f"{prefix}train {metric} (batches)",
        "epoch": f"{prefix}train {metric} (epochs)",
        "val": f"{prefix}validation {metric}",
    }


class MetricsPanel(QWidget):
    """Two plots (loss, accuracy in %); x is the epoch position, batches in between."""

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
        self.show_batches.setToolTip(BATCH_NOTE)
        self.show_epochs = QCheckBox("Per epoch")
        self.show_epochs.setChecked(True)

        self.loss_plot = live_plot("Loss", "epoch", "cross-entropy loss")
        self.accuracy_plot = live_plot("Accuracy", "epoch", "accuracy (%)")
        self.accuracy_plot.setXLink(self.loss_plot)
        self._plots = {"loss": self.loss_plot, "accuracy": self.accuracy_plot}

        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, plot in self._plots.items():
            names = curve_names("", key)
            self.curves[f"batch_{key}"] = plot.plot(
                [], [], name=names["batch"], pen=pg.mkPen(TRAIN_COLOR, width=1)
            )
            self.curves[f"batch_{key}"].setOpacity(0.6)
            self.curves[f"epoch_{key}"] = plot.plot(
                [], [], name=names["epoch"], pen=pg.mkPen(TRAIN_COLOR, width=2),
                symbol="o", symbolSize=6, symbolBrush=TRAIN_COLOR,
            )
            self.curves[f"val_{key}"] = plot.plot(
                [], [], name=names["val"], pen=pg.mkPen(VALIDATION_COLOR, width=2),
                symbol="s", symbolSize=6, symbolBrush=VALIDATION_COLOR,
            )
        # Runs from the runs list drawn next to the current one; one pair of items per run name.
        self._overlays: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        # The epochs of the runs the current one continued, drawn before its own (dotted).
        self.lineage_curves: dict[str, pg.PlotDataItem] = {}
        self._batch = np.zeros((0, 3))
        self._run_name = ""

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing, 1)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.show_batches)
        controls.addWidget(self.show_epochs)
        controls.addWidget(self.log_y)
        self.batch_note = QLabel(BATCH_NOTE_SHORT)
        self.batch_note.setToolTip(BATCH_NOTE)
        self.batch_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.batch_note.setStyleSheet("color: gray; font-size: small;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.batch_note)
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
        self.set_lineage([])
        self.set_epoch_span(None)

    def set_lineage(self, runs: Sequence[tuple[str, Sequence[dict[str, float]]]]) -> None:
        """The per-epoch curves of the runs the current run continued (oldest first), so its
        own curves (numbered on from theirs) carry on where theirs ended."""
        for key, plot in self._plots.items():
            for kind in ("epoch", "val"):
                item = self.lineage_curves.pop(f"{kind}_{key}", None)
                if item is not None:
                    plot.removeItem(item)
        rows = [row for _, history in runs for row in history]
        if not rows:
            return
        earlier = " ← ".join(name for name, _ in reversed(runs))
        epochs = np.array([row["epoch"] for row in rows], dtype=np.float64)
        for key, plot in self._plots.items():
            for kind, column, color, split in (
                ("epoch", key, TRAIN_COLOR, "train"),
                ("val", f"val_{key}", VALIDATION_COLOR, "validation"),
            ):
                item = plot.plot(
                    epochs, self._column(rows, column) * METRIC_SCALE[key],
                    name=f"{earlier} (continued) · {split} {key}",
                    pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DotLine),
                )
                item.setOpacity(0.7)
                item.setVisible(self.show_epochs.isChecked())
                self.lineage_curves[f"{kind}_{key}"] = item

    def set_run_name(self, name: str) -> None:
        """Name the current run's curves in the legends (and leave it out of the overlays)."""
        self._run_name = name
        for key, plot in self._plots.items():
            names = curve_names(name, key)
            for kind in ("batch", "epoch", "val"):
                self._rename(plot, self.curves[f"{kind}_{key}"], names[kind])
        if name in self._overlays:
            self._remove_overlay(name)

    def run_name(self) -> str:
        return self._run_name

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
        """(n, 3) rows of (epoch position, loss, accuracy) as Keras logs them (running means)."""
        self._batch = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self._redraw_batches()

    def batch_values(self) -> np.ndarray:
        """(n, 3) rows of (epoch position, loss, accuracy) of the batches, before smoothing."""
        points = self._batch
        values = points.copy()
        for column in (1, 2):
            values[:, column] = batch_means_from_running_means(points[:, 0], points[:, column])
        return values

    def set_history(self, history: Sequence[dict[str, float]]) -> None:
        """Per-epoch rows as the training engine writes them."""
        epochs = np.array([row["epoch"] for row in history], dtype=np.float64)
        for key in ("loss", "accuracy"):
            scale = METRIC_SCALE[key]
            self.curves[f"epoch_{key}"].setData(epochs, self._column(history, key) * scale)
            self.curves[f"val_{key}"].setData(epochs, self._column(history, f"val_{key}") * scale)

    def set_overlays(self, runs: Sequence[tuple[str, Sequence[dict[str, float]]]]) -> None:
        """Validation curves (training when there is no validation) of other runs.

        The current run (see :meth:`set_run_name`) is already drawn: it gets no second curve.
        """
        runs = [(name, history) for name, history in runs if name != self._run_name]
        wanted = {name for name, _ in runs}
        for name in list(self._overlays):
            if name not in wanted:
                self._remove_overlay(name)
        for index, (name, history) in enumerate(runs):
            has_validation = np.any(np.isfinite(self._column(history, "val_loss")))
            split = "validation" if has_validation else "train"
            if name not in self._overlays:
                color = OVERLAY_COLORS[index % len(OVERLAY_COLORS)]
                pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine)
                self._overlays[name] = (
                    self.loss_plot.plot([], [], name=f"{name} · {split} loss", pen=pen),
                    self.accuracy_plot.plot([], [], name=f"{name} · {split} accuracy", pen=pen),
                )
            epochs = np.array([row["epoch"] for row in history], dtype=np.float64)
            for key, item in zip(("loss", "accuracy"), self._overlays[name], strict=True):
                column = f"val_{key}" if has_validation else key
                item.setData(epochs, self._column(history, column) * METRIC_SCALE[key])

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    def legend_names(self, metric: str) -> list[str]:
        """What the legend of the loss or accuracy plot says, in order."""
        return self._plots[metric].getPlotItem().legend.names()

    # -- display ----------------------------------------------------------------------
    @staticmethod
    def _rename(plot: pg.PlotWidget, item: pg.PlotDataItem, name: str) -> None:
        legend = plot.getPlotItem().legend
        item.opts["name"] = name
        for sample, label in legend.items:
            if sample.item is item:
                label.setText(name)
        legend.updateSize()

    def _remove_overlay(self, name: str) -> None:
        loss_item, accuracy_item = self._overlays.pop(name)
        self.loss_plot.removeItem(loss_item)
        self.accuracy_plot.removeItem(accuracy_item)

    @staticmethod
    def _column(history: Sequence[dict[str, float]], key: str) -> np.ndarray:
        return np.array([row.get(key, np.nan) for row in history], dtype=np.float64)

    def _redraw_batches(self) -> None:
        weight = self.smoothing.value() / 100
        self.smoothing_label.setText(f"{weight:.2f}")
        values = self.batch_values()
        for column, key in ((1, "loss"), (2, "accuracy")):
            self.curves[f"batch_{key}"].setData(
                values[:, 0], exponential_smoothing(values[:, column], weight) * METRIC_SCALE[key]
            )

    def _set_log_y(self, on: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=on)

    def _update_visibility(self) -> None:
        for key in ("loss", "accuracy"):
            self.curves[f"batch_{key}"].setVisible(self.show_batches.isChecked())
            self.curves[f"epoch_{key}"].setVisible(self.show_epochs.isChecked())
            self.curves[f"val_{key}"].setVisible(self.show_epochs.isChecked())
        for item in self.lineage_curves.values():
            item.setVisible(self.show_epochs.isChecked())
