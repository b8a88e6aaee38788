"""Weight distributions: each layer's effective weights, the compact model's, over epochs, and
another run's distribution overlaid (the paper's compact-after-Λ versus direct-full comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.plots import RUN_COLORS, histogram_curve, live_plot, set_legend_entry, step_xy

Histogram = tuple[np.ndarray, np.ndarray]  # (counts, edges)
HistoryMatrix = tuple[np.ndarray, np.ndarray]  # (epochs × bins counts, edges)
CURRENT_COLOR = "#56B4E9"  # sky blue: readable on black
COMPARE_COLOR = "#E69F00"
OVERLAY_COLORS = tuple(color for color in RUN_COLORS if color not in (CURRENT_COLOR, COMPARE_COLOR))


def compact_label(name: str) -> str:
    return f"{name} (retracted model)"


class WeightsPanel(QWidget):
    """A histogram of the chosen layer (live), an epoch × bin image, and overlays."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer = QComboBox()
        self.layer.setToolTip("Layer of the current run; 'retracted model' layers are the compact model's")
        self.compare = QComboBox()
        self.compare.setToolTip("Overlay a layer of another run of this session")
        self.compare.addItem("nothing")
        self.density = QCheckBox("Density")
        self.density.setChecked(True)
        self.density.setToolTip("Normalise so that layers of different sizes compare")

        self.histogram_plot = live_plot("Effective weights", "weight", "density", fast=False)
        self.current_curve = histogram_curve(self.histogram_plot, "current run", CURRENT_COLOR, fill=True)
        self.compare_curve = histogram_curve(self.histogram_plot, "compared", COMPARE_COLOR, width=2)
        self.history_plot = live_plot(
            "Histogram over epochs", "weight", "epoch (0 = initial)", fast=False
        )
        self.history_image = pg.ImageItem()
        self.history_plot.addItem(self.history_image)
        self.history_plot.getPlotItem().legend.setVisible(False)
        self.history_plot.getPlotItem().legend.updateSize()
        # The colour scale of the epoch × bin image: weights per bin.
        self.color_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"), label="weights per bin", interactive=False,
            values=(0, 1),
        )
        self.color_bar.setImageItem(self.history_image, insert_in=self.history_plot.getPlotItem())
        self._run_name = ""

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer, 1)
        top.addSpacing(12)
        top.addWidget(QLabel("Compare with"))
        top.addWidget(self.compare, 2)
        top.addWidget(self.density)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.histogram_plot, 3)
        layout.addWidget(self.history_plot, 2)

        self._live: dict[str, Histogram] = {}
        self._histories: dict[str, HistoryMatrix] = {}
        self._comparisons: dict[str, Histogram] = {}
        self._run_overlays: dict[str, pg.PlotDataItem] = {}
        self._run_overlay_data: list[tuple[str, dict[str, Histogram]]] = []
        self.layer.currentIndexChanged.connect(self._redraw)
        self.compare.currentIndexChanged.connect(self._redraw)
        self.density.toggled.connect(self._redraw)

    # -- data in ----------------------------------------------------------------------
    def clear(self) -> None:
        self._live, self._histories = {}, {}
        self.layer.clear()
        self._redraw()

    def set_run_name(self, name: str) -> None:
        """Name the current run in the legend (and leave it out of the run overlays)."""
        self._run_name = name
        self.set_run_overlays(self._run_overlay_data)

    def legend_names(self) -> list[str]:
        return self.histogram_plot.getPlotItem().legend.names()

    def set_live(self, histograms: dict[str, Histogram]) -> None:
        self._live = histograms
        self._sync_layers()
        self._redraw()

    def set_histories(
        self, layers: dict[str, HistoryMatrix], compact: dict[str, HistoryMatrix]
    ) -> None:
        """Per-layer epoch × bin counts of the run, and of its retracted compact model."""
        self._histories = dict(layers)
        self._histories.update({compact_label(name): value for name, value in compact.items()})
        self._sync_layers()
        self._redraw()

    def set_comparisons(self, entries: dict[str, Histogram]) -> None:
        """Choices for "Compare with": label -> histogram (other runs' layers)."""
        chosen = self.compare.currentText()
        self._comparisons = dict(entries)
        self.compare.blockSignals(True)
        self.compare.clear()
        self.compare.addItem("nothing")
        self.compare.addItems(list(entries))
        if chosen in entries:
            self.compare.setCurrentText(chosen)
        self.compare.blockSignals(False)
        self._redraw()

    def set_run_overlays(self, runs: Sequence[tuple[str, dict[str, Histogram]]]) -> None:
        """Runs selected in the runs list: their histogram of the layer shown is overlaid."""
        runs = [(name, data) for name, data in runs if name != self._run_name]
        self._run_overlay_data = list(runs)
        wanted = {name for name, _ in runs}
        for name in list(self._run_overlays):
            if name not in wanted:
                self.histogram_plot.removeItem(self._run_overlays.pop(name))
        for index, (name, _) in enumerate(runs):
            if name not in self._run_overlays:
                color = OVERLAY_COLORS[index % len(OVERLAY_COLORS)]
                self._run_overlays[name] = histogram_curve(self.histogram_plot, name, color)
        self._redraw()

    def layer_names(self) -> list[str]:
        return [self.layer.itemText(index) for index in range(self.layer.count())]

    def shown_histogram(self) -> Histogram | None:
        return self._current()

    # -- display ----------------------------------------------------------------------
    def _sync_layers(self) -> None:
        names = list(self._live) + [name for name in self._histories if name not in self._live]
        if names == self.layer_names():
            return
        chosen = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(names)
        if chosen in names:
            self.layer.setCurrentText(chosen)
        self.layer.blockSignals(False)

    def _current(self) -> Histogram | None:
        name = self.layer.currentText()
        if name in self._live:
            return self._live[name]
        if name in self._histories:
            matrix, edges = self._histories[name]
            if len(matrix):
                return matrix[-1], edges
        return None

    def _scaled(self, histogram: Histogram) -> np.ndarray:
        counts, edges = histogram
        counts = np.asarray(counts, dtype=np.float64)
        if not self.density.isChecked():
            return counts
        total = counts.sum()
        return counts / (total * np.diff(edges)) if total else counts

    def _draw(self, item: pg.PlotDataItem, histogram: Histogram | None, name: str) -> None:
        """Draw ``histogram`` in ``item``; no histogram hides the item and its legend entry."""
        if histogram is None:
            item.setData([], [])
        else:
            item.setData(*step_xy(histogram[1], self._scaled(histogram)))
        set_legend_entry(self.histogram_plot, item, name, visible=histogram is not None)

    def _redraw(self) -> None:
        self.histogram_plot.getPlotItem().setLabel(
            "left", "density" if self.density.isChecked() else "count"
        )
        name = self.layer.currentText()
        current = " · ".join(part for part in (self._run_name, name) if part) or "current run"
        self._draw(self.current_curve, self._current(), f"{current} weights")
        compared_label = self.compare.currentText()
        compared = self._comparisons.get(compared_label)
        self._draw(self.compare_curve, compared, f"{compared_label} weights")
        for run_name, histograms in self._run_overlay_data:
            self._draw(self._run_overlays[run_name], histograms.get(name), f"{run_name} · {name} weights")
        history = self._histories.get(name)
        if history is None or not len(history[0]):
            self.history_image.clear()
            return
        matrix, edges = history
        matrix = np.asarray(matrix, dtype=np.float64)
        # ImageItem's first axis is x: weights along x, epochs up the y axis.
        self.history_image.setImage(matrix.T, autoLevels=False)
        self.color_bar.setLevels((0.0, max(1.0, float(matrix.max()))))
        self.history_image.setRect(QRectF(edges[0], -0.5, edges[-1] - edges[0], len(matrix)))
