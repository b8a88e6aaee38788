"""The runs of this session, a thin view of the lab state's runs: selection drives the overlays.

The list draws :attr:`LabState.runs` and follows its events; clicking a run makes it the state's
current run, selecting several sets the state's selection. A continued run shows its lineage
("run 3 ← run 1") and the range of its epochs, numbered on from its parent's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.lab_state import LabRun, LabState
from spectral_core.regimes import PAPER_NAMES, parameter_counts

COLUMNS = ("Run", "Regime", "Data", "Epochs", "Test accuracy", "Test loss", "Trainable", "Ended")


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "—"


class RunsList(QWidget):
    """The runs of ``state`` as a table; emits ``selectionChanged`` after updating the state."""

    selectionChanged = Signal()

    def __init__(self, state: LabState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setToolTip("Select runs to overlay their curves and weight distributions")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self._syncing = False
        self.tree.itemSelectionChanged.connect(self._on_tree_selection)
        state.subscribe(self._on_state)

    # -- the state's events -----------------------------------------------------------------
    def _on_state(self, event: str, value: Any) -> None:
        if event == "run_added":
            self._add_item(value)
        elif event == "run_changed":
            self._fill(self.tree.topLevelItem(self.state.runs.index(value)), value)
        elif event == "runs":
            self._rebuild()
        elif event == "current":
            self._show_current(value)

    def _rebuild(self) -> None:
        self._syncing = True
        try:
            self.tree.clear()
            for run in self.state.runs:
                self._add_item(run)
        finally:
            self._syncing = False

    def _add_item(self, run: LabRun) -> None:
        item = QTreeWidgetItem()
        self.tree.addTopLevelItem(item)
        self._fill(item, run)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    def _show_current(self, run: LabRun | None) -> None:
        if run is None:
            return
        item = self.tree.topLevelItem(self.state.runs.index(run))
        if item is not None and item is not self.tree.currentItem():
            self.tree.setCurrentItem(item)

    def _fill(self, item: QTreeWidgetItem, run: LabRun) -> None:
        counts = parameter_counts(run.architecture, run.regime)
        ended = run.ended + (" · retracted" if run.retracted else "")
        parent = run.record.continued_from
        epochs = str(len(run.history))
        if parent and run.history:  # numbered on from the parent's: show which they are
            epochs = f"{len(run.history)} ({run.history[0]['epoch']:.0f}–{run.record.last_epoch})"
        values = (
            f"{run.name} ← {parent}" if parent else run.name,
            PAPER_NAMES[run.regime],
            Path(run.dataset_source).name or run.dataset_source,
            epochs,
            _number(run.test_accuracy),
            _number(run.test_loss),
            f"{counts.trainable:,}",
            ended,
        )
        for column, text in enumerate(values):
            item.setText(column, text)
        stack = f"{run.architecture.name}: {' → '.join(map(str, run.architecture.widths))}"
        lineage = f"\ncontinued from {parent}, from its weights" if parent else ""
        item.setToolTip(0, stack + lineage)
        item.setToolTip(2, run.dataset_source)
        item.setToolTip(7, ended)
        item.setTextAlignment(4, Qt.AlignmentFlag.AlignRight)
        item.setTextAlignment(5, Qt.AlignmentFlag.AlignRight)

    # -- the user's clicks ----------------------------------------------------------------------
    def _on_tree_selection(self) -> None:
        if self._syncing:
            return
        item = self.tree.currentItem()
        runs = self.state.runs
        if item is not None:
            self.state.set_current(runs[self.tree.indexOfTopLevelItem(item)])
        self.state.set_selection(self.selected_entries())
        self.selectionChanged.emit()

    # -- reading ------------------------------------------------------------------------------
    def entries(self) -> list[LabRun]:
        return list(self.state.runs)

    def selected_entries(self) -> list[LabRun]:
        rows = sorted(self.tree.indexOfTopLevelItem(item) for item in self.tree.selectedItems())
        return [self.state.runs[row] for row in rows]

    def current_entry(self) -> LabRun | None:
        return self.state.current
