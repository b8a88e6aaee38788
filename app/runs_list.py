"""The runs of this session: configuration and final metrics; selection drives the overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.plots.weights import compact_label
from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig
from spectral_core.regimes import PAPER_NAMES, parameter_counts

COLUMNS = ("Run", "Regime", "Data", "Epochs", "Test accuracy", "Test loss", "Trainable", "Ended")


@dataclass(eq=False)  # runs are compared by identity (they hold models and arrays)
class RunEntry:
    """One run of the session: what was asked, what came out, and (while in memory) the models."""

    name: str
    architecture: Architecture
    regime: str
    config: TrainingConfig
    dataset_source: str
    history: list[dict[str, float]]
    test_accuracy: float
    test_loss: float
    ended: str = ""
    model: Any = None  # the trained keras model (None for runs restored without weights)
    compact: Any = None  # its retracted compact model
    report: Any = None  # spectral_core.runs.RetractionReport
    dataset: Any = None  # spectral_core.data.Dataset, kept for comparisons
    retracted: bool = False
    seconds: float = float("nan")  # wall time of the training loop
    batch_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # live curve
    # Weights read from a session before TensorFlow loaded; they become ``model`` once it has.
    saved_weights: list[np.ndarray] | None = None
    last_epoch: Any = None  # the last epoch Snapshot: histograms and their history
    eigen_history: list[tuple[str, dict[str, dict[str, np.ndarray]]]] = field(default_factory=list)

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Final effective-weight histograms of every layer, and of the compact model's."""
        if self.last_epoch is None:
            return {}
        found = dict(self.last_epoch.histograms)
        for name, (matrix, edges) in self.last_epoch.compact_histograms.items():
            if len(matrix):
                found[compact_label(name)] = (matrix[-1], edges)
        return found

    def weights(self) -> list[np.ndarray] | None:
        """Copies of the trained weights, for session files."""
        if self.model is not None:
            return [np.array(weight) for weight in self.model.get_weights()]
        return self.saved_weights

    @property
    def has_telescopic(self) -> bool:
        return self.architecture.has_telescopic()


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "—"


class RunsList(QWidget):
    selectionChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setToolTip("Select runs to overlay their curves and weight distributions")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self._entries: list[RunEntry] = []
        self.tree.itemSelectionChanged.connect(self.selectionChanged)

    def add_entry(self, entry: RunEntry, select: bool = True) -> None:
        self._entries.append(entry)
        item = QTreeWidgetItem()
        self.tree.addTopLevelItem(item)
        self._fill(item, entry)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        if select:
            self.tree.setCurrentItem(item)

    def update_entry(self, entry: RunEntry) -> None:
        self._fill(self.tree.topLevelItem(self._entries.index(entry)), entry)

    def _fill(self, item: QTreeWidgetItem, entry: RunEntry) -> None:
        counts = parameter_counts(entry.architecture, entry.regime)
        ended = entry.ended + (" · retracted" if entry.retracted else "")
        values = (
            entry.name,
            PAPER_NAMES[entry.regime],
            Path(entry.dataset_source).name or entry.dataset_source,
            str(len(entry.history)),
            _number(entry.test_accuracy),
            _number(entry.test_loss),
            f"{counts.trainable:,}",
            ended,
        )
        for column, text in enumerate(values):
            item.setText(column, text)
        item.setToolTip(0, f"{entry.architecture.name}: {' → '.join(map(str, entry.architecture.widths))}")
        item.setToolTip(2, entry.dataset_source)
        item.setToolTip(7, ended)
        item.setTextAlignment(4, Qt.AlignmentFlag.AlignRight)
        item.setTextAlignment(5, Qt.AlignmentFlag.AlignRight)

    def entries(self) -> list[RunEntry]:
        return list(self._entries)

    def selected_entries(self) -> list[RunEntry]:
        rows = sorted(self.tree.indexOfTopLevelItem(item) for item in self.tree.selectedItems())
        return [self._entries[row] for row in rows]

    def current_entry(self) -> RunEntry | None:
        item = self.tree.currentItem()
        if item is None:
            return self._entries[-1] if self._entries else None
        return self._entries[self.tree.indexOfTopLevelItem(item)]

    def clear(self) -> None:
        self._entries.clear()
        self.tree.clear()

    def next_name(self) -> str:
        return f"run {len(self._entries) + 1}"
