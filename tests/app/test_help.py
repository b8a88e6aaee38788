"""Help menu (About, Getting started, Keyboard shortcuts) and Run ▸ Copy as command line."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QTableWidget

from app.help import (
    GETTING_STARTED,
    about_dialog,
    about_html,
    citation_text,
    getting_started_dialog,
    shortcut_rows,
    shortcuts_dialog,
)
from app.main_window import MainWindow
from app.view_menu import readable_name
from spectral_core.architecture import ArchitectureError, LayerSpec
from spectral_core.cli import build_parser, config_from_args, load_architecture


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    return window


def menu_entries(window: MainWindow, title: str) -> list[str]:
    for action in window.menuBar().actions():
        if readable_name(action.text()) == title:
            return [readable_name(item.text()) for item in action.menu().actions() if not item.isSeparator()]
    raise AssertionError(f"no {title} menu")


def test_help_menu_has_about_getting_started_and_shortcuts(window: MainWindow) -> None:
    assert menu_entries(window, "Help") == ["Getting started", "Keyboard shortcuts", "About Spectral Lab"]
    assert "Copy as command line" in menu_entries(window, "Run")


def test_about_names_versions_device_and_how_to_cite(window: MainWindow, qtbot) -> None:
    text = about_html(window)
    for name in ("Spectral Lab", "TensorFlow", "Keras", "Qt", "Device"):
        assert name in text
    import spectral_core

    assert spectral_core.__version__ in text
    for part in ("Giambagli", "Buffoni", "Carletti", "Nocentini", "Fanelli",
                 "Machine learning in spectral domain", "Nature Communications 12, 1330 (2021)"):
        assert part in text
    assert "cite" in text and "software" in text
    window.device_label.setText("Training on CPU · TensorFlow 9.9")
    assert "Training on CPU · TensorFlow 9.9" in about_html(window)
    dialog = about_dialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    copy = next(button for button in dialog.buttons.buttons() if "citation" in button.text())
    copy.click()
    assert QGuiApplication.clipboard().text() == citation_text(window)
    assert "@article{giambagli2021spectral" in citation_text(window)


def test_getting_started_is_the_flow_in_five_steps(window: MainWindow, qtbot) -> None:
    assert len(GETTING_STARTED) == 5
    dialog = getting_started_dialog(window)
    qtbot.addWidget(dialog)
    assert dialog.label.text().count("<li>") == 5
    assert "Ctrl+R" in dialog.label.text()


def test_shortcuts_come_from_the_actions_themselves(window: MainWindow, qtbot) -> None:
    rows = shortcut_rows(window)
    names = dict(rows)
    native = QKeySequence.SequenceFormat.NativeText
    assert names["Train"] == QKeySequence("Ctrl+R").toString(native)
    assert names["Loss & accuracy"] == QKeySequence("Ctrl+1").toString(native)
    assert "Copy as command line" in names and "Keyboard shortcuts" in names
    # Every action of the window that has a shortcut is listed, with its shortcut.
    listed = set(rows)
    for action in window.findChildren(QAction):
        if not action.shortcut().isEmpty() and readable_name(action.text()):
            keys = ", ".join(key.toString(native) for key in action.shortcuts())
            assert (readable_name(action.text()).rstrip(".…"), keys) in listed, action.text()
    # A shortcut changed on an action shows up as changed.
    window.retract_action.setShortcut(QKeySequence("Ctrl+Alt+T"))
    assert dict(shortcut_rows(window))["Retract"] == QKeySequence("Ctrl+Alt+T").toString(native)
    dialog = shortcuts_dialog(window)
    qtbot.addWidget(dialog)
    table = dialog.findChild(QTableWidget, "shortcuts")
    assert table.rowCount() == len(shortcut_rows(window))


def test_copy_as_command_line_reproduces_the_settings(window: MainWindow) -> None:
    window.editor.load_preset("perceptron")
    panel = window.run_panel
    panel.set_regime("lambda-phi")
    panel.epochs.setValue(4)
    panel.validation.setValue(20)
    panel.seed.setValue(11)
    window.help_actions["copy_command"].trigger()
    text = QGuiApplication.clipboard().text()
    args = build_parser().parse_args(shlex.split(text)[1:])
    assert load_architecture(args.architecture) == window.editor.architecture()
    assert args.regime == "lambda-phi" and args.dataset == panel.dataset_source()
    assert config_from_args(args) == panel.config()


def test_copy_as_command_line_refuses_an_invalid_stack_by_name(window: MainWindow) -> None:
    QGuiApplication.clipboard().setText("before")
    architecture = window.editor.architecture()
    window.editor.model.add_layer(LayerSpec(5, "relu"))  # after the softmax output: invalid
    assert window.editor.architecture() != architecture
    window.help_actions["copy_command"].trigger()
    assert QGuiApplication.clipboard().text() == "before"
    assert window.message_bar.level == "error"
    assert "command line" in window.message_bar.text()
    with pytest.raises(ArchitectureError):
        window.editor.architecture().validate()
