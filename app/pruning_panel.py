"""Spectral pruning in the window (issue 7): threshold, kept/pruned spectrum, live accuracy, Prune.

Everything numerical is a call into :mod:`spectral_core.pruning`; this module only shows it.
The accuracy of the pruned network is measured by a background task (:mod:`app.tasks`) while
the slider moves: one job runs at a time (its result is cached), a newer request replaces a
waiting one, and only the latest request's result is shown, so the latest threshold wins.
The network the panel works on is the lab state's ``pruning``; Prune is an undoable command
(:class:`app.commands.Prune`) that swaps it for the pruned one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.commands import CommandStack, Prune
from app.lab_state import LabState, PruningTarget
from app.plots import live_plot
from app.tasks import TaskRunner, TaskState

KEPT_COLOR = "#009E73"
PRUNED_COLOR = "#D55E00"
ALL_LAYERS = "all hidden layers"
DEFAULT_RANKING = "eigenvalue"  # the issue's |λ_out|


@dataclass(frozen=True)
class AccuracyRequest:
    number: int
    key: tuple
    state: PruningTarget
    masks: list[np.ndarray]


def _measure(_task: TaskState, request: AccuracyRequest) -> tuple[int, float]:
    """Task function: prune and measure on the task's thread."""
    from spectral_core.pruning import pruned_accuracy

    state = request.state
    value = pruned_accuracy(
        state.model, state.architecture, request.masks, state.dataset.x_test, state.dataset.y_test
    )
    return request.number, value


class PruningPanel(QWidget):
    """Percentile threshold on node scores, kept/pruned spectrum, pruned accuracy, Prune, Export."""

    modelChanged = Signal(object)  # {"model", "architecture", "dataset", "label"} after Prune/undo
    accuracyChanged = Signal(float)  # accuracy for the current threshold, once measured

    def __init__(
        self, state: LabState, commands: CommandStack, parent: QWidget | None = None
    ) -> None:
        """The network is ``state.pruning``; Prune is a :class:`app.commands.Prune` on
        ``commands``."""
        super().__init__(parent)
        self.lab_state, self.commands = state, commands
        # One measurement at a time; it runs to the end (its result is cached) and a newer
        # request replaces an older waiting one: the latest threshold wins.
        self.tasks = TaskRunner("pruning", self._show_error, cancel_running=False, parent=self)
        self.pool = self.tasks.pool
        self.state: PruningTarget | None = None  # the network shown (the lab state's pruning)
        self.masks: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self._score_cache: dict[str, list[np.ndarray]] = {}
        self._accuracy_cache: dict[tuple, float] = {}
        self._request_number = 0
        self._latest: AccuracyRequest | None = None
        self.last_accuracy = math.nan
        self.last_error = ""

        self.ranking = QComboBox()
        self.ranking.setToolTip(
            "How nodes are ranked; the lowest-ranked are pruned first.\n"
            "|λ_out|: the node's eigenvalue (Buffoni et al., whose λ_in is 0).\n"
            "|λ_in − λ_out|: the factor the eigenvalues put on the node's incoming weights\n"
            "(the same as |λ_out| when λ_in = 0; this app's λ_in is 1).\n"
            "Σ|W_in|: summed absolute incoming weights (the direct-space baseline)."
        )
        self.global_button = QRadioButton("Global")
        self.global_button.setToolTip("One percentile across all hidden layers")
        self.per_layer_button = QRadioButton("Per layer")
        self.per_layer_button.setToolTip("The same percentile within each hidden layer")
        self.global_button.setChecked(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(5)
        self.slider.setToolTip("Percentile threshold: prune this percentage of the lowest-ranked nodes")
        self.percent_label = QLabel("0 %")
        self.percent_label.setMinimumWidth(48)
        self.view = QComboBox()
        self.view.setToolTip("Layer shown in the sorted-score plot")
        self.summary_label = QLabel("Train a network to prune its hidden nodes.")
        self.summary_label.setWordWrap(True)
        self.accuracy_label = QLabel("")
        self.prune_button = QPushButton("&Prune")
        self.prune_button.setToolTip("Remove the pruned nodes: a smaller network (undo with Ctrl+Z)")
        self.export_button = QPushButton("Export .keras…")
        self.export_button.setToolTip("Save the current (pruned) network as a .keras file")

        self.plot = live_plot("Sorted node scores", "rank (lowest first)", "score")
        self.kept_item = self.plot.plot(
            [], [], name="kept", pen=None, symbol="o", symbolSize=5,
            symbolBrush=pg.mkBrush(KEPT_COLOR), symbolPen=None,
        )
        self.pruned_item = self.plot.plot(
            [], [], name="pruned", pen=None, symbol="o", symbolSize=5,
            symbolBrush=pg.mkBrush(PRUNED_COLOR), symbolPen=None,
        )
        self.threshold_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen(PRUNED_COLOR, style=Qt.PenStyle.DashLine)
        )
        self.plot.addItem(self.threshold_line)
        self.threshold_line.setVisible(False)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Ranking"))
        controls.addWidget(self.ranking)
        controls.addSpacing(8)
        controls.addWidget(self.global_button)
        controls.addWidget(self.per_layer_button)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Prune"))
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.percent_label)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Show"))
        actions.addWidget(self.view)
        actions.addWidget(self.accuracy_label, 1)
        actions.addWidget(self.prune_button)
        actions.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.plot, 1)
        layout.addLayout(actions)

        self.ranking.currentIndexChanged.connect(self._on_ranking_changed)
        self.global_button.toggled.connect(self._update_threshold)
        self.slider.valueChanged.connect(self._update_threshold)
        self.view.currentIndexChanged.connect(self._redraw)
        self.prune_button.clicked.connect(self.prune)
        self.export_button.clicked.connect(self.export_dialog)
        self._set_enabled(False)
        unsubscribe = state.subscribe(self._on_lab_state)
        self.destroyed.connect(lambda *_: unsubscribe())
        if state.pruning is not None:
            self._apply_state(state.pruning)

    # == public surface ====================================================================
    def set_model(self, model: Any, architecture: Any, dataset: Any) -> None:
        """Work on a new trained network (``dataset`` gives the test set; None: no accuracy)."""
        self.lab_state.set_pruning(PruningTarget(model, architecture, dataset, "original"))

    @Slot(object)
    def on_model_ready(self, payload: dict[str, Any]) -> None:
        """Slot for MainWindow.modelReady: {"model", "architecture", "dataset", "regime"}."""
        self.set_model(payload["model"], payload["architecture"], payload.get("dataset"))

    def percentile(self) -> int:
        return self.slider.value()

    def set_percentile(self, value: int) -> None:
        self.slider.setValue(int(value))

    def scope(self) -> str:
        return "global" if self.global_button.isChecked() else "per-layer"

    def set_scope(self, scope: str) -> None:
        from spectral_core.pruning import check_scope

        (self.global_button if check_scope(scope) == "global" else self.per_layer_button).setChecked(True)

    def current_ranking(self) -> str:
        return str(self.ranking.currentData() or "")

    def set_ranking(self, ranking: str) -> None:
        index = self.ranking.findData(ranking)
        if index < 0:
            available = [self.ranking.itemData(i) for i in range(self.ranking.count())]
            raise ValueError(f"ranking: must be one of {', '.join(available)}, got {ranking!r}")
        self.ranking.setCurrentIndex(index)

    def model(self) -> Any:
        return self.state.model if self.state else None

    def architecture(self) -> Any:
        return self.state.architecture if self.state else None

    def kept_counts(self) -> list[int]:
        return [int(mask.sum()) for mask in self.masks]

    def is_busy(self) -> bool:
        return self.tasks.busy

    def prune(self) -> bool:
        """Replace the network by the pruned one (an undoable command); False if nothing to do."""
        from spectral_core.pruning import PruningError, prune

        state = self.state
        if state is None or not self.masks or all(mask.all() for mask in self.masks):
            return False
        try:
            model, architecture = prune(state.model, state.architecture, self.masks)
        except PruningError as error:
            self._show_error(str(error))
            return False
        removed = sum(mask.size for mask in self.masks) - sum(self.kept_counts())
        label = f"{removed} nodes by {self.current_ranking()} ({self.scope()})"
        self.commands.push(Prune(self.lab_state, PruningTarget(model, architecture, state.dataset, label)))
        return True

    def export_model(self, path: str) -> str:
        """Write the current network to ``path`` (.keras, atomic); returns the path written."""
        from spectral_core.export import save_model

        if self.state is None:
            raise ValueError("there is no network to export yet: train one first")
        return str(save_model(self.state.model, path))

    def export_dialog(self) -> None:
        from app.dialogs import ask_save_path
        from spectral_core.files import WriteError

        if self.state is None:
            return
        path = ask_save_path(self, "Export the pruned network", "pruned.keras", "Keras models (*.keras)")
        if not path:
            return
        if not path.endswith(".keras"):
            path += ".keras"
        try:
            self.export_model(path)
        except (WriteError, OSError, ValueError) as error:
            self._show_error(str(error))
            return
        self.summary_label.setText(self.summary_label.text() + f"<br>Exported to {path}")

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Drop waiting work and wait for the running job (call before the panel goes away)."""
        self.tasks.drop_waiting()
        return self.pool.waitForDone(timeout_ms)

    # == state ============================================================================
    def _on_lab_state(self, event: str, value: Any) -> None:
        if event == "pruning" and value is not None:
            self._apply_state(value)

    def _apply_state(self, state: PruningTarget) -> None:
        from spectral_core.pruning import RANKING_LABELS, PruningError, available_rankings

        self.state = state
        self._score_cache.clear()
        self._accuracy_cache.clear()
        self.tasks.drop_waiting()
        self._latest = None
        self.last_accuracy = math.nan
        self.last_error = ""
        previous = self.current_ranking()
        self.ranking.blockSignals(True)
        self.ranking.clear()
        try:
            rankings = available_rankings(state.model)
        except PruningError as error:
            rankings = ()
            self._show_error(str(error))
        for name in rankings:
            self.ranking.addItem(RANKING_LABELS[name], name)
        index = self.ranking.findData(previous or DEFAULT_RANKING)
        self.ranking.setCurrentIndex(max(index, 0))
        self.ranking.blockSignals(False)
        self.view.blockSignals(True)
        self.view.clear()
        self.view.addItem(ALL_LAYERS)
        for index, units in enumerate(state.architecture.widths[1:-1]):
            self.view.addItem(f"hidden layer {index + 1} ({units} nodes)")
        self.view.blockSignals(False)
        self._set_enabled(bool(rankings))
        self.slider.blockSignals(True)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._on_ranking_changed()
        self.modelChanged.emit(
            {"model": state.model, "architecture": state.architecture,
             "dataset": state.dataset, "label": state.label}
        )

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.ranking, self.global_button, self.per_layer_button, self.slider,
                       self.view, self.prune_button):
            widget.setEnabled(enabled)
        self.export_button.setEnabled(self.state is not None)

    def _show_error(self, text: str) -> None:
        self.last_error = text
        self.accuracy_label.setText(f"<span style='color:{PRUNED_COLOR}'>{text}</span>")

    @Slot()
    def _on_ranking_changed(self) -> None:
        from spectral_core.pruning import PruningError, node_scores

        ranking = self.current_ranking()
        if self.state is None or not ranking:
            self.scores = []
            self.masks = []
            self._redraw()
            return
        if ranking not in self._score_cache:
            try:
                self._score_cache[ranking] = node_scores(self.state.model, ranking)
            except PruningError as error:
                self._show_error(str(error))
                return
        self.scores = self._score_cache[ranking]
        self.plot.getPlotItem().setLabel("left", ranking)
        self._update_threshold()

    @Slot()
    def _update_threshold(self) -> None:
        from spectral_core.pruning import keep_masks

        if self.state is None or not self.scores:
            return
        self.masks = keep_masks(self.scores, self.percentile(), self.scope())
        total = sum(mask.size for mask in self.masks)
        removed = total - sum(self.kept_counts())
        self.percent_label.setText(f"{self.percentile()} %")
        widths = " → ".join(map(str, self.state.architecture.widths))
        kept = " → ".join(
            map(str, [self.state.architecture.input_units, *self.kept_counts(),
                      self.state.architecture.output_units])
        )
        self.summary_label.setText(
            f"<b>{self.state.label}</b>: {widths}<br>"
            f"pruning {removed} of {total} hidden nodes ({removed / total:.1%}) leaves {kept}"
        )
        self.prune_button.setEnabled(removed > 0)
        self._redraw()
        self._request_accuracy()

    @Slot()
    def _redraw(self) -> None:
        from spectral_core.pruning import spectrum_view

        if not self.scores or not self.masks:
            self.kept_item.setData([], [])
            self.pruned_item.setData([], [])
            self.threshold_line.setVisible(False)
            return
        shown = self.view.currentIndex()
        view = spectrum_view(self.scores, self.masks, shown - 1 if shown > 0 else None, self.scope())
        self.kept_item.setData(view.ranks[view.kept], view.values[view.kept])
        self.pruned_item.setData(view.ranks[~view.kept], view.values[~view.kept])
        self.threshold_line.setVisible(math.isfinite(view.threshold))
        if math.isfinite(view.threshold):
            self.threshold_line.setValue(view.threshold)

    # == background accuracy ==============================================================
    def _request_accuracy(self) -> None:
        state = self.state
        if state is None or state.dataset is None:
            self.accuracy_label.setText("No test set: accuracy not measured.")
            return
        key = (self.current_ranking(), self.scope(), self.percentile())
        if key in self._accuracy_cache:
            self._latest = None
            self.tasks.drop_waiting()
            self._show_accuracy(self._accuracy_cache[key])
            return
        self._request_number += 1
        request = AccuracyRequest(
            self._request_number, key, state, [m.copy() for m in self.masks]
        )
        self._latest = request
        self.accuracy_label.setText("Test accuracy of the pruned network: measuring…")
        self.tasks.start(
            _measure, request,
            on_done=lambda result, request=request: self._on_measured(request, result[1]),
            on_error=lambda message, request=request: self._on_measure_failed(request, message),
        )

    def _on_measured(self, request: AccuracyRequest, value: float) -> None:
        if request.state is not self.state:
            return
        self._accuracy_cache[request.key] = value
        if self._latest is not None and request.number == self._latest.number:
            self._show_accuracy(value)

    def _on_measure_failed(self, request: AccuracyRequest, message: str) -> None:
        if self._latest is not None and request.number == self._latest.number:
            self._show_error(f"could not measure the pruned network: {message}")

    def _show_accuracy(self, value: float) -> None:
        self.last_accuracy = value
        base = self._accuracy_cache.get((self.current_ranking(), self.scope(), 0))
        if base is None:
            base = next(
                (v for (_, _, p), v in self._accuracy_cache.items() if p == 0), None
            )
        reference = f" (unpruned {base:.4f})" if base is not None else ""
        self.accuracy_label.setText(f"Test accuracy of the pruned network: <b>{value:.4f}</b>{reference}")
        self.accuracyChanged.emit(value)
