"""The main window: editor, run panel, live plots, runs list, retraction, export and sessions.

TensorFlow is not imported by this module: the window shows first, then a loader thread
imports it (see :mod:`app.worker`). Everything scientific is a call into ``spectral_core``.
"""

from __future__ import annotations

import gc
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QByteArray,
    QEventLoop,
    QSettings,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QGroupBox,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import MessageBar, ask_open_path, ask_save_path
from app.editor import ArchitectureEditor
from app.help import install_help
from app.layout import fit_to_screen
from app.plots import export_plot, set_run_name
from app.plots.export import install_svg_export
from app.plots.metrics import MetricsPanel
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import WeightsPanel
from app.pruning_panel import PruningPanel
from app.retract import RetractCommand, describe_report, ensure_compact, ensure_retraction
from app.run_panel import RunPanel
from app.runs_list import RunEntry, RunsList
from app.view_menu import rebuild_view_menu
from app.worker import RunResult, TensorFlowLoader, TrainingRequest, TrainingWorker
from spectral_core.architecture import Architecture, ArchitectureError
from spectral_core.config import ConfigError
from spectral_core.files import WriteError, atomic_write_text
from spectral_core.regimes import PAPER_NAMES, default_learning_rate
from spectral_core.session import SESSION_SUFFIX, RunRecord, Session, SessionError

NO_RUN_TEXT = "No run yet. Build a stack, pick a regime and press Train (Ctrl+R)."
# 10 redraws a second (DESIGN: 10–20 Hz): GUI painting competes with training for the two
# cores (measured by `spectral-lab bench`, GUI ÷ headless row).
REDRAW_INTERVAL_MS = 100
GIL_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005
MAX_RECENT_FILES = 8
SESSION_FILTER = f"Spectral Lab sessions (*{SESSION_SUFFIX})"
# Qt's settings keys; the organisation/application names are set by app.main.
GEOMETRY_KEY, STATE_KEY, RECENT_KEY = "window/geometry", "window/state", "files/recent"


class MainWindow(QMainWindow):
    """The Spectral Lab window. ``settings`` defaults to the app's QSettings."""

    epochFinished = Signal()
    runFinished = Signal()
    modelReady = Signal(object)  # {"model", "architecture", "dataset", "regime"}

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Spectral Lab")
        self.settings = settings if settings is not None else QSettings()
        install_svg_export()
        self.session_path: Path | None = None
        self.tensorflow_version = ""
        self.devices: list[Any] = []
        self._loader_thread: QThread | None = None
        self._loader: TensorFlowLoader | None = None
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._last_version = -1
        self._live_history: list[dict[str, float]] = []
        self._live_eigen: list[tuple[str, dict[str, dict[str, np.ndarray]]]] = []

        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self.run_panel.remember_in(self.settings)
        self.pruning_panel = PruningPanel(undo_stack=self.editor.undo_stack)
        self.add_analysis_tab(self.pruning_panel, "Pruning")
        self.modelReady.connect(self.pruning_panel.on_model_ready)
        install_help(self)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self.redraw_timer.timeout.connect(self.refresh_live_views)
        fit_to_screen(self)
        self._restore_settings()
        self._on_architecture_changed(self.editor.architecture())
        self._update_actions()

    # == construction ====================================================================
    def _build_widgets(self) -> None:
        self.editor = ArchitectureEditor()
        self.run_panel = RunPanel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.editor, 3)
        left_layout.addWidget(self.run_panel, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setMinimumWidth(380)

        self.message_bar = MessageBar()
        self.metrics_panel = MetricsPanel()
        self.spectrum_panel = SpectrumPanel()
        self.weights_panel = WeightsPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.metrics_panel, "Loss && accuracy")
        self.tabs.addTab(self.spectrum_panel, "Eigenvalue spectrum")
        self.tabs.addTab(self.weights_panel, "Weight distributions")

        self.runs_list = RunsList()
        self.result_label = QLabel(NO_RUN_TEXT)
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        runs_box = QGroupBox("Runs of this session")
        QVBoxLayout(runs_box).addWidget(self.runs_list)
        result_box = QGroupBox("Model")
        QVBoxLayout(result_box).addWidget(self.result_label)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(runs_box)
        bottom.addWidget(result_box)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.run_panel.controls)
        right_layout.addWidget(self.message_bar)
        self.right_splitter = QSplitter(Qt.Orientation.Vertical)
        self.right_splitter.addWidget(self.tabs)
        self.right_splitter.addWidget(bottom)
        self.right_splitter.setStretchFactor(0, 3)
        self.right_splitter.setStretchFactor(1, 1)
        self.right_splitter.setSizes([640, 200])
        right_layout.addWidget(self.right_splitter)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.addWidget(scroll)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([420, 980])
        self.setCentralWidget(self.main_splitter)

        self.status_label = QLabel("")
        # Permanent: the device training will use and the TensorFlow version.
        self.device_label = QLabel("Loading TensorFlow…")
        self.device_picker = QComboBox()
        self.device_picker.setToolTip("Device to train on (every device TensorFlow sees)")
        self.device_picker.setEnabled(False)
        self.device_picker.addItem("loading TensorFlow…")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(QLabel("Device"))
        self.statusBar().addPermanentWidget(self.device_picker)
        self.resize(1400, 900)

    def _action(self, text: str, shortcut: QKeySequence | str | None, slot: Any, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        # triggered(bool) would land in the slot's first parameter (a path, say): drop it.
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        key = QKeySequence.StandardKey
        self.open_session_action = self._action("&Open session…", key.Open, self.open_session_dialog)
        self.save_session_action = self._action("&Save session", key.Save, self.save_session_dialog)
        self.save_session_as_action = self._action(
            "Save session &as…", "Ctrl+Shift+S", lambda: self.save_session_dialog(ask=True)
        )
        self.open_architecture_action = self._action(
            "Open &architecture…", "Ctrl+Shift+O", self.open_architecture_dialog,
            "Load a layer stack from an architecture JSON file",
        )
        self.save_architecture_action = self._action(
            "Save a&rchitecture…", None, self.save_architecture_dialog,
            "Write the layer stack to an architecture JSON file",
        )
        self.export_compact_action = self._action(
            "&Export compact model…", "Ctrl+E", lambda: self.export_model(compact=True),
            "The retracted model as a .keras file that plain Keras loads",
        )
        self.export_full_action = self._action(
            "Export &full model…", "Ctrl+Shift+E", lambda: self.export_model(compact=False),
            "The trained model with its spectral layers as a .keras file",
        )
        self.export_metrics_action = self._action(
            "Export &metrics (CSV)…", "Ctrl+Shift+M", self.export_metrics,
            "Per-epoch loss and accuracy of the selected run",
        )
        self.quit_action = self._action("&Quit", key.Quit, self.close)
        self.undo_action = self.editor.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.editor.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        self.train_action = self._action("&Train", "Ctrl+R", self.start_training, "Train (Ctrl+R)")
        self.pause_action = self._action(
            "&Pause", "Ctrl+P", self.toggle_pause, "Pause or resume after the current batch (Ctrl+P)"
        )
        self.stop_action = self._action(
            "S&top", "Ctrl+.", self.stop_training,
            "Stop after the current batch, keeping the weights so far (Ctrl+.)",
        )
        self.retract_action = self._action(
            "&Retract", "Ctrl+T", self.retract,
            "Fold telescopic layers into a compact model of plain Dense layers (Ctrl+T)",
        )
        self.tab_actions: list[QAction] = []

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_session_action)
        self.recent_menu = QMenu("Open &recent", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(self.save_session_action)
        file_menu.addAction(self.save_session_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_architecture_action)
        file_menu.addAction(self.save_architecture_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_compact_action)
        file_menu.addAction(self.export_full_action)
        file_menu.addAction(self.export_metrics_action)
        self.export_plot_menu = QMenu("Export &plot", self)
        for title in self.plots():
            self.export_plot_menu.addAction(
                title + "…", lambda title=title: self.export_plot_dialog(title)
            )
        file_menu.addMenu(self.export_plot_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        run_menu = bar.addMenu("&Run")
        for action in (self.train_action, self.pause_action, self.stop_action, self.retract_action):
            run_menu.addAction(action)
        self.view_menu = bar.addMenu("&View")
        self._add_view_action(self.tabs.currentWidget())
        self._update_recent_menu()

    def _connect(self) -> None:
        panel = self.run_panel
        panel.train_button.clicked.connect(self.train_action.trigger)
        panel.pause_button.clicked.connect(self.pause_action.trigger)
        panel.stop_button.clicked.connect(self.stop_action.trigger)
        panel.retract_button.clicked.connect(self.retract_action.trigger)
        panel.regimeChanged.connect(self._on_regime_changed)
        self.editor.architectureChanged.connect(self._on_architecture_changed)
        self.runs_list.selectionChanged.connect(self._on_runs_selected)
        self.tabs.currentChanged.connect(lambda _: self.refresh_live_views(force=True))

    # == public surface (tests, autosave, pruning panel) ===================================
    def plots(self) -> dict[str, Any]:
        """Every plot of the window by title (each also exports from its right-click menu)."""
        return {
            "Loss": self.metrics_panel.loss_plot,
            "Accuracy": self.metrics_panel.accuracy_plot,
            "Sorted eigenvalues": self.spectrum_panel.sorted_plot,
            "Eigenvalue histogram": self.spectrum_panel.histogram_plot,
            "Weight distribution": self.weights_panel.histogram_plot,
            "Weight histogram over epochs": self.weights_panel.history_plot,
        }

    def add_analysis_tab(self, widget: QWidget, title: str) -> None:
        """Add a tab next to the eigenvalue spectrum (used by the pruning panel)."""
        self.tabs.insertTab(self.tabs.indexOf(self.spectrum_panel) + 1, widget, title)
        self._add_view_action(widget)

    def _add_view_action(self, widget: QWidget) -> None:
        """View menu entries (Ctrl+1, Ctrl+2, ...) in the tabs' order (see app.view_menu)."""
        rebuild_view_menu(self.tabs, self.view_menu, self.tab_actions)

    @property
    def tensorflow_ready(self) -> bool:
        return bool(self.tensorflow_version)

    @property
    def is_training(self) -> bool:
        return self._thread is not None

    @property
    def worker(self) -> TrainingWorker | None:
        return self._worker

    def current_entry(self) -> RunEntry | None:
        return self.runs_list.current_entry()

    def current_model(self) -> Any:
        """The active model of the current run: the compact one once retracted."""
        entry = self.current_entry()
        if entry is None:
            return None
        return entry.compact if entry.retracted else entry.model

    def show_error(self, text: str) -> None:
        self.message_bar.show_message(text, "error")
        self.statusBar().showMessage("Error: " + text.splitlines()[0], 10_000)

    def show_info(self, text: str) -> None:
        self.message_bar.show_message(text, "info")

    # == TensorFlow loading ================================================================
    def start_loading_tensorflow(self) -> None:
        """Import TensorFlow on a thread; the window stays usable meanwhile."""
        if self._loader_thread is not None or self.tensorflow_ready:
            return
        self.device_label.setText("Loading TensorFlow…")
        self.run_panel.show_state("loading TensorFlow…", 0)
        self._loader_thread = QThread(self)
        self._loader = TensorFlowLoader()
        self._loader.moveToThread(self._loader_thread)
        self._loader_thread.started.connect(self._loader.run)
        self._loader.loaded.connect(self._on_tensorflow_loaded)
        self._loader.failed.connect(self._on_tensorflow_failed)
        # Direct: quit() is thread-safe, and a queued call would wait for a busy GUI thread.
        self._loader.done.connect(self._loader_thread.quit, Qt.ConnectionType.DirectConnection)
        self._loader_thread.finished.connect(self._on_loader_finished)
        self._loader_thread.start()

    @Slot(object, str)
    def _on_tensorflow_loaded(self, devices: list[Any], version: str) -> None:
        # TensorFlow's ~450,000 module objects live as long as the app. Freezing them keeps the
        # garbage collector's full passes, which hold the GIL (up to 300 ms measured), from
        # rescanning them and stalling the GUI during training.
        gc.freeze()
        # The training thread runs Python between TensorFlow calls; every Qt call releases and
        # retakes the GIL, and at the default 5 ms switch interval a repaint waited up to 10×
        # its own time for it. 1 ms hands the GIL back to the GUI thread sooner.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self.devices = list(devices)
        self.tensorflow_version = version
        self.device_picker.clear()
        for device in self.devices:
            self.device_picker.addItem(device.label, device.name)
        self.device_picker.setEnabled(True)
        self.device_picker.currentIndexChanged.connect(self._show_device)
        self.run_panel.show_state("ready", 0)
        self._show_device()
        for entry in self.runs_list.entries():  # sessions opened while TensorFlow was loading
            self._rebuild_model(entry)
        self._show_entry(self.current_entry())
        self._update_actions()

    def _show_device(self) -> None:
        index = max(0, self.device_picker.currentIndex())
        if not self.devices:
            return
        device = self.devices[index]
        gpu_note = "" if any(d.kind == "GPU" for d in self.devices) else " (no GPU found)"
        self.device_label.setText(
            f"Training on {device.description}{gpu_note} · TensorFlow {self.tensorflow_version}"
        )

    @Slot(str)
    def _on_tensorflow_failed(self, message: str) -> None:
        self.device_label.setText("TensorFlow is not available: training is off")
        self.run_panel.show_state("TensorFlow unavailable", 0)
        self.show_error(message)

    @Slot()
    def _on_loader_finished(self) -> None:
        if self._loader is not None:
            self._loader.deleteLater()
        if self._loader_thread is not None:
            self._loader_thread.deleteLater()
        self._loader, self._loader_thread = None, None

    def selected_device(self) -> str | None:
        data = self.device_picker.currentData()
        return str(data) if data else None

    # == training ==========================================================================
    def start_training(self) -> None:
        if self.is_training:
            self.statusBar().showMessage("A run is already going: one run at a time.", 5000)
            return
        if not self.tensorflow_ready:
            self.show_error("TensorFlow is still loading; Train becomes available when it is ready.")
            return
        architecture = self.editor.architecture()
        problems = architecture.problems()
        if problems:
            self.show_error(
                "the architecture is invalid: " + "; ".join(str(problem) for problem in problems)
            )
            return
        try:
            config = self.run_panel.config()
        except ConfigError as error:
            self.show_error(str(error))
            return
        self.message_bar.dismiss()
        request = TrainingRequest(
            name=self.runs_list.next_name(),
            architecture=architecture,
            regime=self.run_panel.current_regime(),
            dataset_source=self.run_panel.dataset_source(),
            config=config,
            device=self.selected_device(),
        )
        self._start_worker(request)

    def _start_worker(self, request: TrainingRequest) -> None:
        self._live_history, self._live_eigen, self._last_version = [], [], -1
        self.metrics_panel.clear()
        self.spectrum_panel.clear()
        self.weights_panel.clear()
        self.metrics_panel.set_epoch_span(request.config.epochs)
        set_run_name(request.name, self.metrics_panel, self.spectrum_panel, self.weights_panel)
        self._worker = TrainingWorker(request)
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.datasetLoaded.connect(self._on_dataset_loaded)
        self._worker.epochSnapshot.connect(self._on_epoch_snapshot)
        self._worker.trainingEnded.connect(self._on_training_ended)
        self._worker.finished.connect(self._on_run_finished)
        self._worker.failed.connect(self._on_run_failed)
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self.editor.set_locked(True)
        self.run_panel.set_settings_enabled(False)
        self.run_panel.show_state(f"loading {request.dataset_source}…", 0)
        self.status_label.setText(f"{request.name}: loading the data set…")
        self._update_actions()
        # Paint the cleared plots and locked widgets now, before the worker starts building
        # the model: painting while it runs Python would wait for the GIL at every Qt call.
        # (pyqtgraph queues its scene updates, so let them run first; no user input here.)
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        self.repaint()
        self._thread.start()
        self.redraw_timer.start()

    def toggle_pause(self) -> None:
        if self._worker is None:
            return
        control = self._worker.control
        if control.paused:
            control.resume()
            self.run_panel.show_state("resuming…")
        else:
            control.pause()
            self.run_panel.show_state("paused after the current batch · press Resume")
        self._update_actions()

    def stop_training(self) -> None:
        if self._worker is None:
            return
        self._worker.control.stop()
        self.run_panel.show_state("stopping after the current batch…")
        self._update_actions()

    @Slot(str)
    def _on_dataset_loaded(self, name: str) -> None:
        if self._worker is not None:
            self.status_label.setText(f"{self._worker.request.name}: training on {name}")

    @Slot(object)
    def _on_epoch_snapshot(self, snapshot: Any) -> None:
        label = "initial" if not snapshot.metrics else f"after epoch {snapshot.epoch + 1}"
        self._live_eigen.append((label, snapshot.eigenvalues))
        if snapshot.metrics:
            self._live_history.append(dict(snapshot.metrics))
        self.metrics_panel.set_history(self._live_history)
        self.spectrum_panel.set_history(self._live_eigen)
        self.weights_panel.set_live(snapshot.histograms)
        self.weights_panel.set_histories(snapshot.histogram_history, snapshot.compact_histograms)
        self.epochFinished.emit()

    @Slot(str)
    def _on_training_ended(self, message: str) -> None:
        self.run_panel.show_state(f"{message} · retracting and evaluating…")

    def refresh_live_views(self, force: bool = False) -> None:
        """Redraw the visible view from the worker's latest snapshot (the timer calls this)."""
        worker = self._worker
        if worker is None:
            return
        version, snapshot = worker.latest()
        if snapshot is None or (version == self._last_version and not force):
            return
        self._last_version = version
        if snapshot.kind != "end" and not worker.control.paused and not worker.control.stop_requested:
            self.run_panel.show_progress(
                snapshot.epoch + 1, snapshot.epochs, snapshot.batch, snapshot.batches_per_epoch,
                snapshot.progress, snapshot.elapsed,
            )
        # Only the view on screen is redrawn; a tab switch forces a redraw of the new one.
        current = self.tabs.currentWidget()
        if current is self.metrics_panel:
            self.metrics_panel.set_batch_points(worker.batch_points())
        elif current is self.spectrum_panel and snapshot.eigenvalues:
            self.spectrum_panel.set_live(snapshot.eigenvalues)

    @Slot(object)
    def _on_run_finished(self, result: RunResult) -> None:
        outcome = result.outcome
        request = result.request
        last_epoch = result.epoch_snapshots[-1] if result.epoch_snapshots else None
        entry = RunEntry(
            name=request.name,
            architecture=request.architecture,
            regime=request.regime,
            config=request.config,
            dataset_source=request.dataset_source,
            history=list(outcome.result.history),
            test_accuracy=outcome.result.test_accuracy,
            test_loss=outcome.result.test_loss,
            ended=outcome.result.message,
            model=outcome.model,
            compact=outcome.compact,
            report=outcome.retraction,
            dataset=result.dataset,
            seconds=outcome.result.seconds,
            batch_points=self._worker.batch_points() if self._worker else np.zeros((0, 3)),
            last_epoch=last_epoch,
            eigen_history=list(self._live_eigen),
        )
        self.runs_list.add_entry(entry)
        if worker := self._worker:
            self.metrics_panel.set_batch_points(worker.batch_points())
            version, snapshot = worker.latest()
            if snapshot is not None and last_epoch is not None:
                self.weights_panel.set_live(last_epoch.histograms)
                self.spectrum_panel.set_live(last_epoch.eigenvalues)
        self.metrics_panel.set_history(entry.history)
        self.metrics_panel.set_epoch_span(None)
        self._update_comparisons()
        message = outcome.result.message
        level = "warning" if outcome.result.diverged else "info"
        accuracy = f"test accuracy {entry.test_accuracy:.4f}" if math.isfinite(entry.test_accuracy) else ""
        self.run_panel.show_state(f"{entry.name}: {message}", 1000)
        self.status_label.setText(f"{entry.name} {message}; {accuracy}")
        if outcome.result.diverged:
            self.message_bar.show_message(message, level)
        self._show_entry(entry)
        self.modelReady.emit(
            {
                "model": outcome.model,
                "architecture": request.architecture,
                "dataset": result.dataset,
                "regime": request.regime,
            }
        )
        self.runFinished.emit()

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self.metrics_panel.set_epoch_span(None)
        self.run_panel.show_state("failed", 0)
        self.show_error(message)
        self.status_label.setText("The run failed; nothing was lost: fix the cause and train again.")

    @Slot()
    def _on_thread_finished(self) -> None:
        self.redraw_timer.stop()
        if self._worker is not None:
            self._worker.deleteLater()
        if self._thread is not None:
            self._thread.deleteLater()
        self._worker, self._thread = None, None
        self.editor.set_locked(False)
        self.run_panel.set_settings_enabled(True)
        self._on_runs_selected()  # a failed start cleared the plots: show the selected run again
        self._update_actions()

    # == results, retraction ===============================================================
    def _show_entry(self, entry: RunEntry | None) -> None:
        if entry is None:
            self.result_label.setText(NO_RUN_TEXT)
        elif entry.retracted and entry.report is not None:
            self.result_label.setText(
                describe_report(entry) + "<br><i>The compact model is active (Ctrl+Z undoes).</i>"
            )
        else:
            counts = (
                f"test accuracy {entry.test_accuracy:.4f}, loss {entry.test_loss:.4f}"
                if math.isfinite(entry.test_accuracy)
                else "no test metrics"
            )
            hint = (
                "Retract (Ctrl+T) folds its telescopic layers into a compact model."
                if entry.has_telescopic
                else "No telescopic layers: nothing to retract."
            )
            model_note = "" if entry.model is not None else "<br>(restored without weights)"
            self.result_label.setText(
                f"<b>{entry.name}</b> · {PAPER_NAMES[entry.regime]} · "
                f"{' → '.join(map(str, entry.architecture.widths))}<br>{counts}<br>{hint}{model_note}"
            )
        self._update_actions()

    def retract(self) -> None:
        entry = self.current_entry()
        if entry is None or entry.retracted or not entry.has_telescopic or self.is_training:
            return
        try:
            ensure_retraction(entry)
        except (ValueError, OSError) as error:
            self.show_error(str(error))
            return
        self.editor.undo_stack.push(RetractCommand(entry, self._on_retraction_changed))

    def _on_retraction_changed(self, entry: RunEntry) -> None:
        self.runs_list.update_entry(entry)
        if entry is self.current_entry():
            self._show_entry(entry)
        if entry.model is not None:
            self.modelReady.emit(
                {
                    "model": entry.compact if entry.retracted else entry.model,
                    "architecture": entry.architecture.retracted() if entry.retracted else entry.architecture,
                    "dataset": entry.dataset,
                    "regime": "direct-full" if entry.retracted else entry.regime,
                }
            )

    # == export ============================================================================
    def export_model(self, compact: bool = True, path: str | None = None) -> Path | None:
        """Write the current run's compact (or full) model to ``path`` (asks when None)."""
        entry = self.current_entry()
        if entry is None or entry.model is None:
            self.show_error("there is no trained model to export yet: train a run first")
            return None
        kind = "compact" if compact else "full"
        if path is None:
            path = ask_save_path(
                self, f"Export the {kind} model", f"{kind}.keras", "Keras models (*.keras)"
            )
            if not path:
                return None
        from spectral_core.export import expected_input, save_model

        try:
            if compact:
                ensure_compact(entry)
            model = entry.compact if compact else entry.model
            target = save_model(model, path)
        except (WriteError, OSError, ValueError) as error:
            self.show_error(f"export failed: {error}")
            return None
        features = int(model.inputs[0].shape[-1])
        self.show_info(
            f"Wrote the {kind} model of {entry.name} to {target}. It expects "
            f"{expected_input(features)} (also in the file's metadata.json)."
        )
        self.statusBar().showMessage(f"Wrote the {kind} model of {entry.name} to {target}", 8000)
        return target

    def export_metrics(self, path: str | None = None) -> Path | None:
        entry = self.current_entry()
        if entry is None:
            self.show_error("there are no metrics to export yet: train a run first")
            return None
        if path is None:
            path = ask_save_path(self, "Export metrics", "metrics.csv", "CSV files (*.csv)")
            if not path:
                return None
        from spectral_core.runs import metrics_csv

        try:
            atomic_write_text(path, metrics_csv(entry.history))
        except (WriteError, OSError) as error:
            self.show_error(f"export failed: {error}")
            return None
        self.statusBar().showMessage(f"Wrote the metrics of {entry.name} to {path}", 8000)
        return Path(path)

    def export_plot_dialog(self, title: str, path: str | None = None) -> Path | None:
        if path is None:
            suggested = title.lower().replace(" ", "-").replace("|", "") + ".png"
            path = ask_save_path(
                self, f"Export the {title} plot", suggested, "PNG image (*.png);;SVG drawing (*.svg)"
            )
            if not path:
                return None
        try:
            target = export_plot(self.plots()[title].getPlotItem(), path, title)
        except (WriteError, OSError) as error:
            self.show_error(f"export failed: {error}")
            return None
        self.statusBar().showMessage(f"Wrote the {title} plot to {target}", 8000)
        return target

    # == architecture files ================================================================
    def open_architecture_dialog(self) -> None:
        path = ask_open_path(self, "Open an architecture", "Architecture JSON (*.json)")
        if path:
            self.open_file(path)

    def save_architecture_dialog(self) -> None:
        path = ask_save_path(self, "Save the architecture", "architecture.json", "Architecture JSON (*.json)")
        if not path:
            return
        try:
            self.editor.architecture().validate().save(path)
        except (ArchitectureError, WriteError, OSError) as error:
            self.show_error(f"cannot save the architecture: {error}")

    # == sessions ==========================================================================
    def current_session(self, with_weights: bool = True) -> Session:
        """The architecture, settings and runs as a session value.

        ``with_weights=False`` leaves each run's weights None (reading them from the models
        takes hundreds of ms for a few large runs; the autosave reads them off this thread).
        """
        try:
            config = self.run_panel.config()
        except ConfigError:
            from spectral_core.config import TrainingConfig

            config = TrainingConfig()
        runs = [
            RunRecord(
                name=entry.name,
                architecture=entry.architecture,
                regime=entry.regime,
                config=entry.config,
                dataset=entry.dataset_source,
                history=[dict(row) for row in entry.history],
                test_accuracy=entry.test_accuracy,
                test_loss=entry.test_loss,
                weights=entry.weights() if with_weights else None,
                retracted=entry.retracted,
                ended=entry.ended,
            )
            for entry in self.runs_list.entries()
        ]
        return Session(
            architecture=self.editor.architecture(),
            regime=self.run_panel.current_regime(),
            config=config,
            dataset=self.run_panel.dataset_source(),
            runs=runs,
        )

    def restore_session(self, session: Session) -> None:
        """Replace the editor's stack, the settings and the runs by ``session``'s."""
        if self.is_training:
            self.show_error("a run is going: stop it before opening a session")
            return
        self.editor.set_architecture(session.architecture)
        self.run_panel.set_regime(session.regime)
        self.run_panel.set_config(session.config)
        self.run_panel.set_dataset_source(session.dataset)
        self.runs_list.clear()
        for record in session.runs:
            entry = RunEntry(
                name=record.name,
                architecture=record.architecture,
                regime=record.regime,
                config=record.config,
                dataset_source=record.dataset,
                history=list(record.history),
                test_accuracy=record.test_accuracy,
                test_loss=record.test_loss,
                ended=record.ended,
                saved_weights=record.weights,
            )
            self.runs_list.add_entry(entry, select=False)
            self._rebuild_model(entry)
        if self.runs_list.entries():
            self.runs_list.tree.setCurrentItem(self.runs_list.tree.topLevelItem(len(session.runs) - 1))
            self.metrics_panel.set_history(self.runs_list.entries()[-1].history)
        self._show_entry(self.current_entry())
        self._update_comparisons()

    def _rebuild_model(self, entry: RunEntry) -> None:
        """Give a restored run its Keras model with the saved weights, once TensorFlow is loaded."""
        if entry.saved_weights is None or entry.model is not None or not self.tensorflow_ready:
            return
        from spectral_core.build import build_model

        try:
            model = build_model(entry.architecture, entry.regime, seed=entry.config.seed)
            model.set_weights(entry.saved_weights)
        except ValueError as error:
            self.show_error(f"{entry.name}: its saved weights do not fit its architecture ({error})")
            return
        entry.model, entry.saved_weights = model, None
        self.runs_list.update_entry(entry)

    def save_session(self, path: str | Path) -> bool:
        from spectral_core.session import save_session

        target = Path(path)
        if target.suffix != SESSION_SUFFIX:
            target = target.with_name(target.name + SESSION_SUFFIX)
        try:
            save_session(target, self.current_session())
        except (SessionError, WriteError, OSError) as error:
            self.show_error(f"cannot save the session: {error}")
            return False
        self.session_path = target
        self._add_recent(target)
        self.setWindowTitle(f"Spectral Lab — {target.name}")
        self.statusBar().showMessage(f"Saved the session to {target}", 8000)
        return True

    def save_session_dialog(self, ask: bool = False) -> None:
        path = self.session_path
        if ask or path is None:
            chosen = ask_save_path(self, "Save the session", f"session{SESSION_SUFFIX}", SESSION_FILTER)
            if not chosen:
                return
            path = Path(chosen)
        self.save_session(path)

    def open_session_dialog(self) -> None:
        path = ask_open_path(self, "Open a session", f"{SESSION_FILTER};;Architecture JSON (*.json)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Open a session (``.spectral``) or an architecture JSON file; errors show inline."""
        from spectral_core.session import load_session

        file = Path(path)
        try:
            if file.suffix == ".json":
                self.editor.set_architecture(Architecture.load(file))
            else:
                self.restore_session(load_session(file))
                self.session_path = file
                self.setWindowTitle(f"Spectral Lab — {file.name}")
        except (SessionError, ArchitectureError, OSError, ValueError) as error:
            self.show_error(f"cannot open {file.name}: {error}")
            return False
        self._add_recent(file)
        return True

    # == settings and recent files =========================================================
    def recent_files(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(item) for item in (value or [])]

    def _add_recent(self, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [text] + [item for item in self.recent_files() if item != text]
        self.settings.setValue(RECENT_KEY, recent[:MAX_RECENT_FILES])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for item in self.recent_files():
            self.recent_menu.addAction(item, lambda item=item: self.open_file(item))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _restore_settings(self) -> None:
        geometry = self.settings.value(GEOMETRY_KEY)
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value(STATE_KEY)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def _save_settings(self) -> None:
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.settings.setValue(STATE_KEY, self.saveState())
        self.settings.sync()

    # == reactions =========================================================================
    def _on_architecture_changed(self, architecture: Architecture) -> None:
        if not architecture.problems():
            self.run_panel.set_auto_learning_rate(default_learning_rate(architecture))
        self._update_actions()

    def _on_regime_changed(self, regime: str) -> None:
        self.editor.set_regime(regime)

    def _on_runs_selected(self) -> None:
        selected = self.runs_list.selected_entries()
        current = self.current_entry()
        if current is not None and not self.is_training:
            set_run_name(current.name, self.metrics_panel, self.spectrum_panel, self.weights_panel)
        overlays = [entry for entry in selected if entry is not current or self.is_training]
        self.metrics_panel.set_overlays([(entry.name, entry.history) for entry in overlays])
        self.weights_panel.set_run_overlays([(entry.name, entry.histograms()) for entry in overlays])
        if not self.is_training and current is not None:
            # The views show the current run: its batches, epochs, spectra and distributions.
            self.metrics_panel.set_history(current.history)
            self.metrics_panel.set_batch_points(current.batch_points)
            if current.last_epoch is not None:
                self.weights_panel.set_live(current.last_epoch.histograms)
                self.weights_panel.set_histories(
                    current.last_epoch.histogram_history, current.last_epoch.compact_histograms
                )
                self.spectrum_panel.set_history(current.eigen_history)
                self.spectrum_panel.set_live(current.last_epoch.eigenvalues)
            else:
                self.weights_panel.clear()
                self.spectrum_panel.clear()
            self._show_entry(current)
        self._update_actions()

    def _update_comparisons(self) -> None:
        entries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for entry in self.runs_list.entries():
            for layer, histogram in entry.histograms().items():
                entries[f"{entry.name} ({entry.regime}): {layer}"] = histogram
        self.weights_panel.set_comparisons(entries)

    def _update_actions(self) -> None:
        training = self.is_training
        paused = training and self._worker is not None and self._worker.control.paused
        entry = self.current_entry()
        self.train_action.setEnabled(self.tensorflow_ready and not training)
        self.pause_action.setEnabled(training)
        self.pause_action.setText("&Resume" if paused else "&Pause")
        self.stop_action.setEnabled(training)
        can_retract = (
            not training and entry is not None and entry.has_telescopic and not entry.retracted
            and (entry.model is not None)
        )
        self.retract_action.setEnabled(can_retract)
        has_model = entry is not None and entry.model is not None
        self.export_compact_action.setEnabled(has_model)
        self.export_full_action.setEnabled(has_model)
        self.export_metrics_action.setEnabled(entry is not None)
        self.open_session_action.setEnabled(not training)
        self.device_picker.setEnabled(self.tensorflow_ready and not training)
        panel = self.run_panel
        panel.train_button.setEnabled(self.train_action.isEnabled())
        panel.pause_button.setEnabled(self.pause_action.isEnabled())
        panel.pause_button.setText("Resume" if paused else "Pause")
        panel.stop_button.setEnabled(self.stop_action.isEnabled())
        panel.retract_button.setEnabled(can_retract)
        panel.train_button.setToolTip("Train (Ctrl+R)")
        panel.retract_button.setToolTip(
            self.retract_action.toolTip() if entry is None or entry.has_telescopic
            else "The current run has no telescopic layers"
        )

    # == closing ===========================================================================
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        """Stop a run cleanly (after the current batch) and wait for every thread."""
        if self._worker is not None:
            self._worker.control.stop()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        if self._loader_thread is not None:
            self._loader_thread.wait()
        self.redraw_timer.stop()
        self._save_settings()
        super().closeEvent(event)
