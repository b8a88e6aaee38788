"""The eigenvalue spectrum of each spectral layer, live or at any past epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.plots import live_plot
from spectral_core.histograms import histogram

SPECTRUM_COLOR = "#009E73"
EigenvalueMap = dict[str, dict[str, np.ndarray]]


class SpectrumPanel(QWidget):
    """Sorted |λ_out| and a histogram of λ_out for the chosen layer and epoch."""

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

        self.sorted_plot = live_plot("Sorted |λ_out|", "rank", "|λ_out|")
        self.histogram_plot = live_plot("Histogram of λ_out", "λ_out", "count")
        self.sorted_curve = self.sorted_plot.plot(
            [], [], name="|λ_out|", pen=pg.mkPen(SPECTRUM_COLOR, width=2)
        )
        self.histogram_curve = self.histogram_plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, name="λ_out",
            pen=pg.mkPen(SPECTRUM_COLOR, width=1.5), brush=pg.mkBrush(0, 158, 115, 90),
        )

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
        self.layer.currentTextChanged.connect(self._redraw)
        self.epoch.valueChanged.connect(self._redraw)

    # -- data in ----------------------------------------------------------------------
    def clear(self) -> None:
        self._history, self._live = [], {}
        self.layer.clear()
        self.epoch.setRange(0, 0)
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

    def shown_values(self) -> np.ndarray:
        """λ_out of the layer and epoch on screen (empty when there is none)."""
        source = self._source()
        layer = self.layer.currentText()
        if layer not in source:
            return np.zeros(0)
        return np.asarray(source[layer]["eigvals_out"])

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

    def _redraw(self) -> None:
        position = self.epoch.value()
        self.epoch_label.setText(
            self._history[position][0] if position < len(self._history) else "latest"
        )
        values = self.shown_values()
        self.notice.setVisible(values.size == 0)
        if values.size == 0:
            self.sorted_curve.setData([], [])
            self.histogram_curve.setData([0, 1], [0])
            return
        magnitudes = np.sort(np.abs(values))[::-1]
        self.sorted_curve.setData(np.arange(1, magnitudes.size + 1), magnitudes)
        counts, edges = histogram(values, bins=min(60, max(10, values.size // 4)))
        self.histogram_curve.setData(edges, counts)
