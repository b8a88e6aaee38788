"""The main window: layout and wiring of the lab state, its views and its controllers.

State lives in :class:`app.lab_state.LabState`, its undo history in the one
:class:`app.commands.CommandStack` (``window.commands``); training in
:class:`app.training_controller.TrainingController`; drawing runs in
:class:`app.run_views.RunViews`; files in :class:`app.file_actions.FileActions`; background
jobs in :class:`app.tasks.TaskRunner`. TensorFlow is not imported by this module: the window
shows first, then a task imports it. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.commands import CommandStack
from app.continue_dialog import continue_current_run
from app.device_bar import DeviceBar
from app.dialogs import MessageBar
from app.editor import ArchitectureEditor
from app.editor.widget import start_architecture
from app.file_actions import FileActions
from app.help import install_help
from app.lab_state import LabRun, LabState
from app.layout import fit_to_screen
from app.plots.export import install_svg_export
from app.plots.metrics import MetricsPanel
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import WeightsPanel
from app.pruning_panel import PruningPanel
from app.retract import Retraction
from app.run_panel import RunPanel
from app.run_views import NO_RUN_TEXT, RunViews
from app.runs_list import RunsList
from app.settings_binding import SettingsBinding
from app.training_controller import TrainingController
from app.view_guard import ViewGuard
from app.window_actions import (
    add_view_action,
    build_actions,
    retract_current,
    start_training,
    update_actions,
)

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
        self.run_panel, self.commands = RunPanel(), CommandStack()
        panel = self.run_panel
        self.state = LabState(
            start_architecture(), panel.current_regime(), None, panel.dataset_source()
        )
        self.editor = ArchitectureEditor(self.state, self.commands)
        self._build_widgets()
        self.views = ViewGuard(lambda text: self.message_bar.show_message(text, "warning"))
        self.run_views = RunViews(
            self.views,
            self.metrics_panel,
            self.spectrum_panel,
            self.weights_panel,
            self.result_label,
            self.state.lineage,
        )
        self.run_views.follow(self.state)
        self.training = TrainingController(
            self.state,
            self.run_views,
            self.run_panel,
            self.tabs,
            self.status_label,
            self.show_message,
            self,
        )
        self.files = FileActions(self, self.state, self.settings)
        self.retraction = Retraction(
            self.state, self.commands, self.run_panel.show_state, self.show_error, self
        )
        build_actions(self)
        self.pruning_panel = PruningPanel(self.state, self.commands)
        self.add_analysis_tab(self.pruning_panel, "Pruning")
        self.modelReady.connect(self.views.wrap("pruning", self.pruning_panel.on_model_ready))
        self.binding = SettingsBinding(self.state, self.run_panel)
        self._connect()
        self.run_panel.remember_in(self.settings)
        update_actions(self)  # Run ▸ Log to TensorBoard shows the remembered folder
        install_help(self)
        fit_to_screen(self)
        for key, restore in ((GEOMETRY_KEY, self.restoreGeometry), (STATE_KEY, self.restoreState)):
            if isinstance(value := self.settings.value(key), QByteArray):
                restore(value)
        self.binding.sync()

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
        for title, widget, stretch in (
            ("Runs of this session", self.runs_list, 3),
            ("Model", self.result_label, 2),
        ):
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
        self.statusBar().addWidget(self.status_label, 1)
        self.device_bar = DeviceBar(self.statusBar(), self.show_error)
        self.resize(1400, 900)

    def _connect(self) -> None:
        panel = self.run_panel
        for button, action in (
            (panel.train_button, self.train_action),
            (panel.pause_button, self.pause_action),
            (panel.stop_button, self.stop_action),
            (panel.retract_button, self.retract_action),
        ):
            button.clicked.connect(action.trigger)
        panel.regimeChanged.connect(self.editor.set_regime)
        self.tabs.currentChanged.connect(lambda _: self.training.refresh(force=True))
        self.training.epochFinished.connect(self.epochFinished)
        self.training.runFinished.connect(lambda _run: self.runFinished.emit())
        self.state.subscribe(self._on_state)
        self.device_bar.loaded.connect(self._on_tensorflow_loaded)
        self.device_bar.failed.connect(
            lambda _: self.run_panel.show_state("TensorFlow unavailable", 0)
        )

    # == public surface ====================================================================
    def plots(self) -> dict[str, Any]:
        """Every plot of the window by title (each also exports from its right-click menu)."""
        return self.run_views.plots()

    def add_analysis_tab(self, widget: QWidget, title: str) -> None:
        """Add a tab next to the eigenvalue spectrum (used by the pruning panel)."""
        self.tabs.insertTab(self.tabs.indexOf(self.spectrum_panel) + 1, widget, title)
        add_view_action(self, widget)

    tensorflow_ready = property(lambda self: bool(self.device_bar.version))
    tensorflow_version = property(lambda self: self.device_bar.version)
    devices = property(lambda self: self.device_bar.devices)
    device_label = property(lambda self: self.device_bar.label)
    device_picker = property(lambda self: self.device_bar.picker)
    selected_device = property(lambda self: self.device_bar.selected_device)
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
        if not self.device_bar.loader.busy and not self.tensorflow_ready:
            self.run_panel.show_state("loading TensorFlow…", 0)
            self.device_bar.start_loading()

    def _on_tensorflow_loaded(self) -> None:
        self.run_panel.show_state("ready", 0)
        self.files.rebuild_models()  # sessions opened while TensorFlow was loading
        update_actions(self)

    # == commands ==========================================================================
    def start_training(self) -> None:
        """Train the lab state's architecture with the run panel's settings."""
        start_training(self)

    def continue_training(self) -> None:
        """Run ▸ Continue training… (see :func:`app.continue_dialog.continue_current_run`)."""
        continue_current_run(self)

    def toggle_pause(self) -> None:
        self.training.toggle_pause()
        update_actions(self)

    def stop_training(self) -> None:
        self.training.stop()

    def retract(self) -> None:
        """Retract the current run (its comparison on the test set runs in the background)."""
        retract_current(self)

    # Sessions and files (app.file_actions), also called by app.main, autosave and the tests.
    current_session = property(lambda self: self.files.current_session)
    restore_session = property(lambda self: self.files.restore_session)
    open_file = property(lambda self: self.files.open_file)
    save_session = property(lambda self: self.files.save_session)
    recent_files = property(lambda self: self.files.recent_files)
    export_model = property(lambda self: self.files.export_model)
    export_metrics = property(lambda self: self.files.export_metrics)
    export_plot_dialog = property(lambda self: self.files.export_plot_dialog)

    # == reactions to the state ============================================================
    def _on_state(self, event: str, value: Any) -> None:
        # The views follow the state themselves (RunViews.follow); here: locks and the model.
        state, run = self.state, self.state.current
        shown = event in ("current", "runs") and not state.is_training
        if (shown or (event == "run_changed" and value is run)) and run is not None:
            if run.active_model is not None:
                self.modelReady.emit(run.analysis_target())
        elif event == "status":
            self.editor.set_locked(state.is_training)  # locks undo/redo too
            self.run_panel.set_settings_enabled(not state.is_training)
        update_actions(self)

    # == closing ===========================================================================
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        """Stop a run cleanly (after the current batch) and wait for every background job."""
        self.training.shutdown()
        for runner in (self.device_bar.loader, self.retraction.runner):
            runner.wait()
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.settings.setValue(STATE_KEY, self.saveState())
        self.settings.sync()
        super().closeEvent(event)
