"""The window's actions and menus (with their shortcuts), and when each is enabled.

Adding a command: one row in :func:`build_actions`'s table (and a rule in
:func:`update_actions` if it is not always available). Edit ▸ Undo/Redo follow the one
:class:`app.commands.CommandStack` (:func:`command_action`); an undoable action pushes a
command there (see app/commands.py).
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.commands import CommandStack
from app.view_menu import rebuild_view_menu


def make_action(parent: Any, text: str, shortcut: Any, slot: Any, tip: str = "") -> QAction:
    """A QAction calling ``slot()`` (triggered's bool dropped: it would land in a parameter)."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setStatusTip(tip)
    action.setToolTip(tip or text.replace("&", ""))
    action.triggered.connect(lambda _checked=False: slot())
    return action


def build_actions(window: Any) -> None:
    """Create ``window.<name>_action`` for every command and the File/Edit/Run/View menus."""
    key, files = QKeySequence.StandardKey, window.files
    file, run = "&File", "&Run"
    table = [  # name, text, shortcut, slot, tip, menu
        ("open_session", "&Open session…", key.Open, files.open_session_dialog, "", file),
        ("save_session", "&Save session", key.Save, files.save_session_dialog, "", file),
        (
            "save_session_as",
            "Save session &as…",
            "Ctrl+Shift+S",
            lambda: files.save_session_dialog(ask=True),
            "",
            file,
        ),
        (
            "open_architecture",
            "Open &architecture…",
            "Ctrl+Shift+O",
            files.open_architecture_dialog,
            "Load a layer stack from an architecture JSON file",
            file,
        ),
        (
            "open_study",
            "Open st&udy folder…",
            None,
            files.open_study_dialog,
            "The best trial of a `spectral-lab search` folder (its best.json) as the "
            "architecture, regime and training settings",
            file,
        ),
        (
            "save_architecture",
            "Save a&rchitecture…",
            None,
            files.save_architecture_dialog,
            "Write the layer stack to an architecture JSON file",
            file,
        ),
        (
            "export_compact",
            "&Export compact model…",
            "Ctrl+E",
            lambda: files.export_model(True),
            "The retracted model as a .keras file that plain Keras loads",
            file,
        ),
        (
            "export_full",
            "Export &full model…",
            "Ctrl+Shift+E",
            lambda: files.export_model(False),
            "The trained model with its spectral layers as a .keras file",
            file,
        ),
        (
            "export_metrics",
            "Export &metrics (CSV)…",
            "Ctrl+Shift+M",
            files.export_metrics,
            "Per-epoch loss and accuracy of the selected run",
            file,
        ),
        ("quit", "&Quit", key.Quit, window.close, "", file),
        ("train", "&Train", "Ctrl+R", window.start_training, "Train (Ctrl+R)", run),
        (
            "pause",
            "&Pause",
            "Ctrl+P",
            window.toggle_pause,
            "Pause or resume after the current batch (Ctrl+P)",
            run,
        ),
        (
            "stop",
            "S&top",
            "Ctrl+.",
            window.stop_training,
            "Stop after the current batch, keeping the weights so far (Ctrl+.)",
            run,
        ),
        (
            "continue_training",
            "&Continue training…",
            "Ctrl+Shift+R",
            window.continue_training,
            "Train the selected run more epochs from its weights, in its regime or another "
            "(Ctrl+Shift+R)",
            run,
        ),
        (
            "retract",
            "&Retract",
            "Ctrl+T",
            window.retract,
            "Fold telescopic layers into a compact model of plain Dense layers (Ctrl+T)",
            run,
        ),
        (
            "tensorboard",
            "Log to &TensorBoard…",
            None,
            lambda: toggle_tensorboard(window),
            "",  # set by update_actions: the folder, or how to turn the logs on
            run,
        ),
    ]
    menus = {title: window.menuBar().addMenu(title) for title in (file, "&Edit", run, "&View")}
    for name, text, shortcut, slot, tip, menu in table:
        action = make_action(window, text, shortcut, slot, tip)
        setattr(window, f"{name}_action", action)
        menus[menu].addAction(action)
        if name == "open_session":
            menus[menu].addMenu(files.recent_menu)
        elif name == "export_metrics":
            plot_menu = menus[menu].addMenu("Export &plot")
            for title in window.plots():
                plot_menu.addAction(
                    title + "…", lambda title=title: files.export_plot_dialog(title)
                )
        if name in ("save_session_as", "save_architecture", "export_metrics"):
            menus[menu].addSeparator()
    window.tensorboard_action.setCheckable(True)
    window.undo_action = command_action(window.commands, "undo", window)
    window.redo_action = command_action(window.commands, "redo", window)
    menus["&Edit"].addActions([window.undo_action, window.redo_action])
    window.view_menu, window.tab_actions = menus["&View"], []
    rebuild_view_menu(window.tabs, window.view_menu, window.tab_actions)
    files.update_recent_menu()


def command_action(commands: CommandStack, kind: str, parent: Any) -> QAction:
    """Edit ▸ Undo (Ctrl+Z) or Edit ▸ Redo (Ctrl+Shift+Z) on ``commands``: enabled when there
    is something to undo/redo and no run is training, named after the command ("Undo Add
    layer 3"). It follows the stack's events until the action is deleted."""
    if kind not in ("undo", "redo"):
        raise ValueError(f"kind: must be one of undo, redo, got {kind!r}")
    label, shortcut = ("&Undo", "Ctrl+Z") if kind == "undo" else ("&Redo", "Ctrl+Shift+Z")
    action = make_action(parent, label, shortcut, getattr(commands, kind))
    available, text = (
        (commands.can_undo, commands.undo_text)
        if kind == "undo"
        else (commands.can_redo, commands.redo_text)
    )

    def refresh() -> None:
        if not shiboken6.isValid(action):
            unsubscribe()
            return
        action.setEnabled(available())
        action.setText(f"{label} {text()}".strip())
        action.setToolTip(action.text().replace("&", ""))

    unsubscribe = commands.subscribe(refresh)
    refresh()
    return action


def start_training(window: Any) -> None:
    """Run ▸ Train: the lab state's architecture with the run panel's settings (one run at a
    time; refused with a message while TensorFlow loads)."""
    if window.is_training:
        window.statusBar().showMessage("A run is already going: one run at a time.", 5000)
        return
    if not window.tensorflow_ready:
        window.show_error("TensorFlow is still loading; Train becomes available when ready.")
        return
    window.message_bar.dismiss()
    if (error := window.training.start_from_state(window.selected_device())) is not None:
        window.show_error(error)


def retract_current(window: Any) -> None:
    """Run ▸ Retract: the current run, when it has telescopic layers and no run is training."""
    run = window.state.current
    if run is not None and not run.retracted and run.has_telescopic and not window.is_training:
        window.retraction.retract(run)


def toggle_tensorboard(window: Any) -> None:
    """Run ▸ Log to TensorBoard: on asks for the log folder, off forgets it."""
    panel = window.run_panel
    if panel.tensorboard_folder():
        panel.set_tensorboard_folder("")
    else:
        panel.choose_tensorboard_folder()
    update_actions(window)


def add_view_action(window: Any, _widget: QWidget) -> None:
    """View menu entries (Ctrl+1, Ctrl+2, ...) in the tabs' order (see app.view_menu)."""
    rebuild_view_menu(window.tabs, window.view_menu, window.tab_actions)


def update_actions(window: Any) -> None:
    """Enable each command (and its run-panel button) for the lab state as it is now."""
    state, run, panel = window.state, window.state.current, window.run_panel
    training, paused = state.is_training, state.status == "paused"
    has_model = run is not None and run.model is not None
    can_retract = not training and has_model and run.has_telescopic and not run.retracted
    rules = (
        (window.train_action, window.tensorflow_ready and not training),
        (window.pause_action, training),
        (window.stop_action, training),
        (window.retract_action, can_retract),
        (window.continue_training_action, window.tensorflow_ready and not training and has_model),
        (window.export_compact_action, has_model),
        (window.export_full_action, has_model),
        (window.export_metrics_action, run is not None),
        (window.open_session_action, not training),
        (window.open_study_action, not training),
        (window.tensorboard_action, not training),
    )
    for action, enabled in rules:
        action.setEnabled(enabled)
    window.pause_action.setText("&Resume" if paused else "&Pause")
    folder = panel.tensorboard_folder()
    window.tensorboard_action.setChecked(bool(folder))
    window.tensorboard_action.setStatusTip(
        f"Each run also logs its metrics, spectrum, weight histograms and hyperparameters to "
        f"{folder}/<run name> (tensorboard --logdir {folder}); click to turn off"
        if folder
        else "Each run also logs its metrics, spectrum, weight histograms and hyperparameters "
        "to a folder you choose, for TensorBoard"
    )
    window.tensorboard_action.setToolTip(window.tensorboard_action.statusTip())
    window.device_bar.picker.setEnabled(window.tensorflow_ready and not training)
    buttons = (
        (panel.train_button, window.train_action),
        (panel.pause_button, window.pause_action),
        (panel.stop_button, window.stop_action),
        (panel.retract_button, window.retract_action),
    )
    for button, action in buttons:
        button.setEnabled(action.isEnabled())
    panel.pause_button.setText("Resume" if paused else "Pause")
    panel.retract_button.setToolTip(
        window.retract_action.toolTip()
        if run is None or run.has_telescopic
        else "The current run has no telescopic layers"
    )
