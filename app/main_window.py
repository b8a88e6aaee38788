"""The main window: layout and wiring of the lab state, its views and its controllers.

State lives in :class:`app.lab_state.LabState`; training in
:class:`app.training_controller.TrainingController`; drawing runs in
:class:`app.run_views.RunViews`; files in :class:`app.file_actions.FileActions`; background
jobs in :class:`app.tasks.TaskRunner`. TensorFlow is not imported by this module: the window
shows first, then a task imports it. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import MessageBar
from app.editor import ArchitectureEditor
from app.file_actions import FileActions
from app.lab_state import LabRun, LabState
from app.plots.export import install_svg_export
from app.plots.metrics import MetricsPanel
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import WeightsPanel
from app.pruning_panel import PruningPanel
from app.retract import RetractCommand, compare_on_test_set, rebuild_model
from app.run_panel import RunPanel
from app.run_views import NO_RUN_TEXT, RunViews
from app.runs_list import RunsList
from app.tasks import TaskRunner
from app.training_controller import TrainingController
from app.view_guard import ViewGuard
from app.worker import load_tensorflow
from spectral_core.config import ConfigError
from spectral_core.record import RunRecord
from spectral_core.regimes import default_learning_rate
from spectral_core.session import Session

GIL_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005
GEOMETRY_KEY, STATE_KEY = "window/geometry", "window/state"  # app.main sets the org/app names


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
        self.tensorflow_version, self.devices = "", []
        self.editor, self.run_panel = ArchitectureEditor(), RunPanel()
        self.state = LabState(
            self.editor.architecture(), self.run_panel.current_regime(), None, self.run_panel.dataset_source()
        )
        self._pushing = False  # True while the state is written into the widgets
        self._build_widgets()
        self.views = ViewGuard(lambda text: self.message_bar.show_message(text, "warning"))
        self.run_views = RunViews(
            self.views, self.metrics_panel, self.spectrum_panel, self.weights_panel, self.result_label
        )
        self.training = TrainingController(
            self.state, self.run_views, self.run_panel, self.tabs, self.status_label, self.show_message, self
        )
        self.files = FileActions(self, self.state, self.settings)
        self.loader = TaskRunner("loading TensorFlow", self.show_error, parent=self)
        self.retraction = TaskRunner("retraction", self.show_error, parent=self)
        self._build_actions()
        self.pruning_panel = PruningPanel(undo_stack=self.editor.undo_stack)
        self.add_analysis_tab(self.pruning_panel, "Pruning")
        self.modelReady.connect(self.views.wrap("pruning", self.pruning_panel.on_model_ready))
        self._connect()
        for key, restore in ((GEOMETRY_KEY, self.restoreGeometry), (STATE_KEY, self.restoreState)):
            if isinstance(value := self.settings.value(key), QByteArray):
                restore(value)
        self._sync_settings()
        self._on_state("architecture", self.state.architecture)

    # == layout ============================================================================
    def _build_widgets(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.editor, 3)
        left_layout.addWidget(self.run_panel, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setMinimumWidth(380)
        self.message_bar = MessageBar()
        self.metrics_panel, self.spectrum_panel = MetricsPanel(), SpectrumPanel()
        self.weights_panel = WeightsPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.metrics_panel, "Loss && accuracy")
        self.tabs.addTab(self.spectrum_panel, "Eigenvalue spectrum")
        self.tabs.addTab(self.weights_panel, "Weight distributions")
        self.runs_list = RunsList(self.state)
        self.result_label = QLabel(NO_RUN_TEXT)
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        for title, widget, stretch in (("Runs of this session", self.runs_list, 3), ("Model", self.result_label, 2)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            bottom.addWidget(box)
            bottom.setStretchFactor(bottom.count() - 1, stretch)
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
        self.device_label = QLabel("Loading TensorFlow…")  # the device and TensorFlow's version
        self.device_picker = QComboBox()
        self.device_picker.setToolTip("Device to train on (every device TensorFlow sees)")
        self.device_picker.setEnabled(False)
        self.device_picker.addItem("loading TensorFlow…")
        self.statusBar().addWidget(self.status_label, 1)
        for widget in (self.device_label, QLabel("Device"), self.device_picker):
            self.statusBar().addPermanentWidget(widget)
        self.resize(1400, 900)

    def _action(self, text: str, shortcut: Any, slot: Any, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip or text.replace("&", ""))
        action.triggered.connect(lambda _checked=False: slot())  # drop triggered's bool
        return action

    def _build_actions(self) -> None:
        key, files = QKeySequence.StandardKey, self.files
        table = [  # attribute, text, shortcut, slot, tip, menu
            ("open_session", "&Open session…", key.Open, files.open_session_dialog, "", "&File"),
            ("save_session", "&Save session", key.Save, files.save_session_dialog, "", "&File"),
            ("save_session_as", "Save session &as…", "Ctrl+Shift+S", lambda: files.save_session_dialog(ask=True), "", "&File"),
            ("open_architecture", "Open &architecture…", "Ctrl+Shift+O", files.open_architecture_dialog, "Load a layer stack from an architecture JSON file", "&File"),
            ("save_architecture", "Save a&rchitecture…", None, files.save_architecture_dialog, "Write the layer stack to an architecture JSON file", "&File"),
            ("export_compact", "&Export compact model…", "Ctrl+E", lambda: files.export_model(compact=True), "The retracted model as a .keras file that plain Keras loads", "&File"),
            ("export_full", "Export &full model…", "Ctrl+Shift+E", lambda: files.export_model(compact=False), "The trained model with its spectral layers as a .keras file", "&File"),
            ("export_metrics", "Export &metrics (CSV)…", "Ctrl+Shift+M", files.export_metrics, "Per-epoch loss and accuracy of the selected run", "&File"),
            ("quit", "&Quit", key.Quit, self.close, "", "&File"),
            ("train", "&Train", "Ctrl+R", self.start_training, "Train (Ctrl+R)", "&Run"),
            ("pause", "&Pause", "Ctrl+P", self.toggle_pause, "Pause or resume after the current batch (Ctrl+P)", "&Run"),
            ("stop", "S&top", "Ctrl+.", self.stop_training, "Stop after the current batch, keeping the weights so far (Ctrl+.)", "&Run"),
            ("retract", "&Retract", "Ctrl+T", self.retract, "Fold telescopic layers into a compact model of plain Dense layers (Ctrl+T)", "&Run"),
        ]
        menus = {title: self.menuBar().addMenu(title) for title in ("&File", "&Edit", "&Run", "&View")}
        for name, text, shortcut, slot, tip, menu in table:
            setattr(self, f"{name}_action", action := self._action(text, shortcut, slot, tip))
            menus[menu].addAction(action)
            if name == "open_session":
                menus[menu].addMenu(files.recent_menu)
            if name in ("save_session_as", "save_architecture", "export_metrics"):
                if name == "export_metrics":
                    plot_menu = menus[menu].addMenu("Export &plot")
                    for title in self.plots():
                        plot_menu.addAction(title + "…", lambda title=title: files.export_plot_dialog(title))
                menus[menu].addSeparator()
        self.undo_action = self.editor.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.editor.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        menus["&Edit"].addActions([self.undo_action, self.redo_action])
        self.view_menu, self.tab_actions = menus["&View"], []
        for index in range(self.tabs.count()):
            self._add_view_action(self.tabs.widget(index))
        files.update_recent_menu()

    def _connect(self) -> None:
        panel = self.run_panel
        for button, action in ((panel.train_button, self.train_action), (panel.pause_button, self.pause_action),
                               (panel.stop_button, self.stop_action), (panel.retract_button, self.retract_action)):
            button.clicked.connect(action.trigger)
        panel.regimeChanged.connect(self.editor.set_regime)
        for kind, signal in ((QSpinBox, "valueChanged"), (QDoubleSpinBox, "valueChanged"), (QComboBox, "currentIndexChanged"),
                             (QLineEdit, "textChanged"), (QAbstractButton, "toggled")):
            for widget in panel.findChildren(kind):  # every setting the panel shows
                getattr(widget, signal).connect(self._sync_settings)
        self.editor.architectureChanged.connect(self.state.set_architecture)
        self.tabs.currentChanged.connect(lambda _: self.training.refresh(force=True))
        self.training.epochFinished.connect(self.epochFinished)
        self.training.runFinished.connect(lambda _run: self.runFinished.emit())
        self.state.subscribe(self._on_state)

    # == public surface ====================================================================
    def plots(self) -> dict[str, Any]:
        """Every plot of the window by title (each also exports from its right-click menu)."""
        return {
            "Loss": self.metrics_panel.loss_plot, "Accuracy": self.metrics_panel.accuracy_plot,
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
        """View menu entry (Ctrl+1, Ctrl+2, ...) that brings ``widget``'s tab to the front."""
        title, number = self.tabs.tabText(self.tabs.indexOf(widget)).replace("&&", "&"), len(self.tab_actions) + 1
        action = self._action(title, f"Ctrl+{number}" if number < 10 else None, lambda: self.tabs.setCurrentWidget(widget))
        self.tab_actions.append(action)
        self.view_menu.addAction(action)

    tensorflow_ready = property(lambda self: bool(self.tensorflow_version))
    tensorflow_loading = property(lambda self: self.loader.busy)
    is_training = property(lambda self: self.state.is_training)
    worker = property(lambda self: self.training.job, doc="The running TrainingJob, or None.")
    session_path = property(lambda self: self.files.session_path)
    recent_menu = property(lambda self: self.files.recent_menu)

    def current_entry(self) -> LabRun | None:
        return self.state.current

    def current_model(self) -> Any:
        """The active model of the current run: the compact one once retracted."""
        return None if self.state.current is None else self.state.current.active_model

    def show_message(self, text: str, level: str = "error") -> None:
        self.message_bar.show_message(text, level)
        if level == "error":
            self.statusBar().showMessage("Error: " + text.splitlines()[0], 10_000)

    def show_error(self, text: str) -> None:
        self.show_message(text, "error")

    def show_info(self, text: str) -> None:
        self.show_message(text, "info")

    # == TensorFlow ========================================================================
    def start_loading_tensorflow(self) -> None:
        """Import TensorFlow in the background; the window stays usable meanwhile."""
        if self.loader.busy or self.tensorflow_ready:
            return
        self.run_panel.show_state("loading TensorFlow…", 0)
        self.loader.start(load_tensorflow, on_done=self._on_tensorflow_loaded, on_error=self._on_tensorflow_failed)

    def _on_tensorflow_loaded(self, result: tuple[list[Any], str]) -> None:
        # TensorFlow's ~450,000 module objects live as long as the app: frozen, the collector's
        # full passes (which hold the GIL up to 300 ms) skip them. A 1 ms GIL switch interval
        # hands the GIL back to the GUI thread sooner during training.
        gc.freeze()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self.devices, self.tensorflow_version = list(result[0]), result[1]
        self.device_picker.clear()
        for device in self.devices:
            self.device_picker.addItem(device.label, device.name)
        self.device_picker.currentIndexChanged.connect(self._show_device)
        self.run_panel.show_state("ready", 0)
        self._show_device()
        self._rebuild_models()  # sessions opened while TensorFlow was loading
        self._update_actions()

    def _on_tensorflow_failed(self, message: str) -> None:
        self.device_label.setText("TensorFlow is not available: training is off")
        self.run_panel.show_state("TensorFlow unavailable", 0)
        self.show_error(message)

    def _show_device(self) -> None:
        if self.devices:
            device = self.devices[max(0, self.device_picker.currentIndex())]
            gpu_note = "" if any(d.kind == "GPU" for d in self.devices) else " (no GPU found)"
            self.device_label.setText(f"Training on {device.description}{gpu_note} · TensorFlow {self.tensorflow_version}")

    def selected_device(self) -> str | None:
        data = self.device_picker.currentData()
        return str(data) if data else None

    # == commands ==========================================================================
    def start_training(self) -> None:
        if self.is_training:
            self.statusBar().showMessage("A run is already going: one run at a time.", 5000)
            return
        if not self.tensorflow_ready:
            return self.show_error("TensorFlow is still loading; Train becomes available when it is ready.")
        problems = self.editor.architecture().problems()
        if problems:
            return self.show_error("the architecture is invalid: " + "; ".join(map(str, problems)))
        try:
            config = self.run_panel.config()
        except ConfigError as error:
            return self.show_error(str(error))
        self.message_bar.dismiss()
        state = self.state
        plan = RunRecord(state.next_run_name(), self.editor.architecture(), self.run_panel.current_regime(),
                         config, self.run_panel.dataset_source())
        self.training.start(plan, self.selected_device())

    def toggle_pause(self) -> None:
        self.training.toggle_pause()
        self._update_actions()

    def stop_training(self) -> None:
        self.training.stop()

    def retract(self) -> None:
        """Retract the current run: the comparison on the test set runs in the background."""
        run = self.state.current
        if run is None or run.retracted or not run.has_telescopic or self.is_training:
            return
        if run.model is None:
            return self.show_error(f"{run.name}: no trained weights to retract (the session file has none)")
        if run.compact is not None and run.report is not None:
            return self.editor.undo_stack.push(RetractCommand(self.state, run))
        self.run_panel.show_state(f"retracting {run.name} and comparing on the test set…")

        def done(result: tuple[Any, Any, Any]) -> None:
            run.compact, run.record.report, run.dataset = result
            self.run_panel.show_state(f"{run.name} retracted", 1000)
            self.editor.undo_stack.push(RetractCommand(self.state, run))

        self.retraction.start(compare_on_test_set, run.model, run.architecture, run.dataset, run.dataset_source, on_done=done)

    # == sessions ==========================================================================
    def current_session(self, with_weights: bool = True) -> Session:
        """The lab state as a session value (see :meth:`LabState.to_session`)."""
        self._sync_settings()
        return self.state.to_session(with_weights)

    def restore_session(self, session: Session) -> None:
        """Replace the architecture, the settings and the runs by ``session``'s."""
        if self.is_training:
            return self.show_error("a run is going: stop it before opening a session")
        self._pushing = True
        try:
            self.editor.set_architecture(session.architecture)
            self.run_panel.set_regime(session.regime)
            self.run_panel.set_config(session.config)
            self.run_panel.set_dataset_source(session.dataset)
        finally:
            self._pushing = False
        self.state.from_session(session)
        self._rebuild_models()

    def _rebuild_models(self) -> None:
        if self.tensorflow_ready:
            for run in self.state.runs:
                if run.model is None and run.record.weights is not None:
                    error = rebuild_model(run)
                    self.show_error(error) if error else self.state.run_changed(run)

    def open_file(self, path: Any) -> bool:
        return self.files.open_file(path)

    def save_session(self, path: Any) -> bool:
        return self.files.save_session(path)

    def recent_files(self) -> list[str]:
        return self.files.recent_files()

    def export_model(self, compact: bool = True, path: str | None = None) -> Any:
        return self.files.export_model(compact, path)

    def export_metrics(self, path: str | None = None) -> Any:
        return self.files.export_metrics(path)

    def export_plot_dialog(self, title: str, path: str | None = None) -> Any:
        return self.files.export_plot_dialog(title, path)

    # == reactions to the state ============================================================
    def _sync_settings(self, *_args: Any) -> None:
        """The run panel's settings into the state (an invalid setting keeps the last valid)."""
        if self._pushing:
            return
        try:
            config = self.run_panel.config()
        except ConfigError:
            config = None
        self.state.set_settings(self.run_panel.current_regime(), config, self.run_panel.dataset_source())

    def _on_state(self, event: str, value: Any) -> None:
        state, views = self.state, self.run_views
        if event == "architecture":
            if self.editor.architecture() != value:
                self.editor.set_architecture(value)
            if not value.problems():
                self.run_panel.set_auto_learning_rate(default_learning_rate(value))
        elif event in ("current", "runs") and not state.is_training:
            views.show_run(state.current)
            self._emit_model(state.current)
        elif event == "run_changed" and value is state.current:
            self.views.call("model", views.show_summary, value)
            self._emit_model(value)
        elif event == "status":
            self.editor.set_locked(state.is_training)
            self.run_panel.set_settings_enabled(not state.is_training)
        if event in ("run_added", "runs", "run_changed"):
            views.show_comparisons(state.runs)
        if event in ("current", "selection", "runs", "status"):
            views.show_overlays([run for run in state.selection if run is not state.current or state.is_training])
        self._update_actions()

    def _emit_model(self, run: LabRun | None) -> None:
        if run is not None and run.active_model is not None:
            retracted = run.retracted
            self.modelReady.emit({
                "model": run.active_model, "dataset": run.dataset,
                "architecture": run.architecture.retracted() if retracted else run.architecture,
                "regime": "direct-full" if retracted else run.regime,
            })

    def _update_actions(self) -> None:
        state, run, panel = self.state, self.state.current, self.run_panel
        training = state.is_training
        paused = state.status == "paused"
        can_retract = not training and run is not None and run.has_telescopic and not run.retracted and run.model is not None
        has_model = run is not None and run.model is not None
        for action, enabled in ((self.train_action, self.tensorflow_ready and not training), (self.pause_action, training),
                                (self.stop_action, training), (self.retract_action, can_retract),
                                (self.export_compact_action, has_model), (self.export_full_action, has_model),
                                (self.export_metrics_action, run is not None), (self.open_session_action, not training)):
            action.setEnabled(enabled)
        self.pause_action.setText("&Resume" if paused else "&Pause")
        self.device_picker.setEnabled(self.tensorflow_ready and not training)
        for button, action in ((panel.train_button, self.train_action), (panel.pause_button, self.pause_action),
                               (panel.stop_button, self.stop_action), (panel.retract_button, self.retract_action)):
            button.setEnabled(action.isEnabled())
        panel.pause_button.setText("Resume" if paused else "Pause")
        panel.retract_button.setToolTip(
            self.retract_action.toolTip() if run is None or run.has_telescopic else "The current run has no telescopic layers"
        )

    # == closing ===========================================================================
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        """Stop a run cleanly (after the current batch) and wait for every background job."""
        self.training.shutdown()
        for runner in (self.loader, self.retraction):
            runner.wait()
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.settings.setValue(STATE_KEY, self.saveState())
        self.settings.sync()
        super().closeEvent(event)
