"""The eigenvalue spectrum of each spectral layer, live or at any past epoch.

λ_out is always drawn; λ_in too for a layer whose input eigenvalues are trained (the first
layer with "train input eigenvalues" on), recognised by λ_in having moved from its initial
values in any snapshot of the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.plots import histogram_curve, live_plot, set_legend_entry, step_xy
from spectral_core.histograms import histogram

OUT_COLOR = "#009E73"
IN_COLOR = "#E69F00"
EigenvalueMap = dict[str, dict[str, np.ndarray]]
KINDS = (("eigvals_out", "λ_out"), ("eigvals_in", "λ_in"))


class SpectrumPanel(QWidget):
    """Sorted |λ| and a histogram of λ for the chosen layer and epoch (λ_in where trained)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer = QComboBox()
        self.layer.setToolTip("Spectral layer to show")
        self.epoch = QSlider(Qt.Orientation.Horizontal)
        self.epoch.setRange(0, 0)
        self.epoch.setToolTip("Look back at the spectrum after an earlier epoch")
        self.epoch_label = QLabel("latest")
        self.epoch_label.setMinimumWidth(110)
        self.notice = QLabel("Train a network in a spectral regime (Λ or Λ, Φ) to see its eigenvalues.")
        self.notice.setWordWrap(True)

        self.sorted_plot = live_plot("Sorted eigenvalues", "rank", "|λ|")
        self.histogram_plot = live_plot("Histogram of eigenvalues", "λ", "count", fast=False)
        self.sorted_curves: dict[str, pg.PlotDataItem] = {}
        self.histogram_curves: dict[str, pg.PlotDataItem] = {}
        for key, symbol in KINDS:
            color = OUT_COLOR if key == "eigvals_out" else IN_COLOR
            self.sorted_curves[key] = self.sorted_plot.plot(
                [], [], name=f"|{symbol}|", pen=pg.mkPen(color, width=2)
            )
            self.histogram_curves[key] = histogram_curve(
                self.histogram_plot, symbol, color, fill=key == "eigvals_out"
            )
        # Kept for callers of the λ_out-only panel.
        self.sorted_curve = self.sorted_curves["eigvals_out"]
        self.histogram_curve = self.histogram_curves["eigvals_out"]

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer)
        top.addSpacing(12)
        top.addWidget(QLabel("Epoch"))
        top.addWidget(self.epoch, 1)
        top.addWidget(self.epoch_label)
        plots = QHBoxLayout()
        plots.addWidget(self.sorted_plot, 1)
        plots.addWidget(self.histogram_plot, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addLayout(plots, 1)

        # (label, eigenvalues) per epoch snapshot, then the live one at the slider's end.
        self._history: list[tuple[str, EigenvalueMap]] = []
        self._live: EigenvalueMap = {}
        self._run_name = ""
        self.layer.currentTextChanged.connect(self._redraw)
        self.epoch.valueChanged.connect(self._redraw)

    # -- data in ----------------------------------------------------------------------
    def clear(self) -> None:
        self._history, self._live = [], {}
        self.layer.clear()
        self.epoch.setRange(0, 0)
        self._redraw()

    def set_run_name(self, name: str) -> None:
        """Name the run in the legends."""
        self._run_name = name
        self._redraw()

    def set_history(self, history: Sequence[tuple[str, EigenvalueMap]]) -> None:
        following = self.epoch.value() == self.epoch.maximum()
        self._history = list(history)
        self.epoch.setRange(0, len(self._history))
        if following:
            self.epoch.setValue(self.epoch.maximum())
        self._sync_layers(self._history[-1][1] if self._history else {})
        self._redraw()

    def set_live(self, eigenvalues: EigenvalueMap) -> None:
        self._live = eigenvalues
        self._sync_layers(eigenvalues)
        if self.epoch.value() == self.epoch.maximum():
            self._redraw()

    def shown_values(self, key: str = "eigvals_out") -> np.ndarray:
        """λ_out (or ``eigvals_in``: λ_in, when trained) of the layer and epoch on screen."""
        source = self._source()
        layer = self.layer.currentText()
        if layer not in source or key not in source[layer]:
            return np.zeros(0)
        if key == "eigvals_in" and not self.input_eigenvalues_trained(layer):
            return np.zeros(0)
        return np.asarray(source[layer][key])

    def input_eigenvalues_trained(self, layer: str) -> bool:
        """Whether ``layer``'s λ_in changed during the run (so it is trained and worth showing)."""
        snapshots = [values for _, values in self._history] + [self._live]
        arrays = [
            np.asarray(values[layer]["eigvals_in"])
            for values in snapshots
            if layer in values and "eigvals_in" in values[layer]
        ]
        if len(arrays) < 2:
            return False
        first = arrays[0]
        return any(array.shape != first.shape or not np.array_equal(array, first) for array in arrays[1:])

    # -- display ----------------------------------------------------------------------
    def _sync_layers(self, eigenvalues: EigenvalueMap) -> None:
        names = list(eigenvalues)
        current = [self.layer.itemText(index) for index in range(self.layer.count())]
        if names and names != current:
            chosen = self.layer.currentText()
            self.layer.blockSignals(True)
            self.layer.clear()
            self.layer.addItems(names)
            if chosen in names:
                self.layer.setCurrentText(chosen)
            self.layer.blockSignals(False)

    def _source(self) -> EigenvalueMap:
        position = self.epoch.value()
        if position < len(self._history):
            return self._history[position][1]
        return self._live or (self._history[-1][1] if self._history else {})

    def _legend_name(self, symbol: str) -> str:
        parts = [part for part in (self._run_name, self.layer.currentText(), symbol) if part]
        return " · ".join(parts)

    def _redraw(self) -> None:
        position = self.epoch.value()
        self.epoch_label.setText(
            self._history[position][0] if position < len(self._history) else "latest"
        )
        self.notice.setVisible(self.shown_values().size == 0)
        for key, symbol in KINDS:
            values = self.shown_values(key)
            sorted_curve, histogram_item = self.sorted_curves[key], self.histogram_curves[key]
            for plot, item, name in (
                (self.sorted_plot, sorted_curve, f"|{self._legend_name(symbol)}|"),
                (self.histogram_plot, histogram_item, self._legend_name(symbol)),
            ):
                set_legend_entry(plot, item, name, visible=values.size > 0)
            if values.size == 0:
                sorted_curve.setData([], [])
                histogram_item.setData([], [])
                continue
            magnitudes = np.sort(np.abs(values))[::-1]
            sorted_curve.setData(np.arange(1, magnitudes.size + 1), magnitudes)
            counts, edges = histogram(values, bins=min(60, max(10, values.size // 4)))
            histogram_item.setData(*step_xy(edges, counts))
