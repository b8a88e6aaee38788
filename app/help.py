"""The Help menu (About, Getting started, Keyboard shortcuts) and Run ▸ Copy as command line.

:func:`install_help` adds both to a main window; everything shown is read from the window and
the installed packages (versions, the actions' own shortcuts), so it cannot go stale.
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.view_menu import readable_name

PAPER_CITATION = (
    "L. Giambagli, L. Buffoni, T. Carletti, W. Nocentini, D. Fanelli, "
    '"Machine learning in spectral domain", Nature Communications 12, 1330 (2021), '
    "doi:10.1038/s41467-021-21481-0"
)
PAPER_BIBTEX = """@article{giambagli2021spectral,
  author  = {Giambagli, Lorenzo and Buffoni, Lorenzo and Carletti, Timoteo and
             Nocentini, Walter and Fanelli, Duccio},
  title   = {Machine learning in spectral domain},
  journal = {Nature Communications},
  volume  = {12},
  pages   = {1330},
  year    = {2021},
  doi     = {10.1038/s41467-021-21481-0}
}"""
GETTING_STARTED = (
    ("Build the network",
     "Pick one of the paper's architectures under Preset, or edit the layer table: Add puts a "
     "hidden layer before the output, double-click a cell to change units or activation, tick "
     "Telescopic for linear layers that Retract may fold."),
    ("Choose how to train",
     "Pick the regime (Train Λ trains only eigenvalues; Unconstrained NN is an ordinary dense "
     "network), the data set, epochs, batch size and the validation share. The parameter count "
     "under the diagram follows the regime."),
    ("Train and watch",
     "Press Train (Ctrl+R). Loss and accuracy, the eigenvalue spectrum and the weight "
     "distributions update live; Pause (Ctrl+P) and Stop (Ctrl+.) act after the current batch."),
    ("Compare and retract",
     "Select earlier runs in the runs list to overlay them; Retract (Ctrl+T) folds telescopic "
     "layers into a compact model and reports its test accuracy; Run ▸ Continue training "
     "(Ctrl+Shift+R) trains a run further from its weights, in its regime or another."),
    ("Keep the results",
     "Export the compact model (Ctrl+E) for plain Keras, plots and metrics from the File menu, "
     "save the session (Ctrl+S), or Run ▸ Copy as command line to repeat the run headless."),
)


def package_version(name: str) -> str:
    """The installed version of ``name`` without importing it (TensorFlow takes seconds)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(window: Any = None) -> dict[str, str]:
    """Versions of Spectral Lab and what it runs on, by name."""
    import pyqtgraph

    import spectral_core

    return {
        "Spectral Lab": spectral_core.__version__,
        "TensorFlow": getattr(window, "tensorflow_version", "") or package_version("tensorflow"),
        "Keras": package_version("keras"),
        "Qt": qVersion(),
        "PySide6": pyside_version,
        "pyqtgraph": pyqtgraph.__version__,
        "Python": platform.python_version(),
    }


def device_text(window: Any) -> str:
    """The device training uses, as the window's status bar says it."""
    label = getattr(window, "device_label", None)
    text = label.text() if label is not None else ""
    return text or "not known yet (TensorFlow is loading)"


def software_citation(version: str) -> str:
    return f"Spectral Lab {version}: a desktop laboratory for training neural networks in the spectral domain (software)."


def about_html(window: Any = None) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><b>{html.escape(value)}</b></td></tr>"
        for name, value in versions(window).items()
    )
    version = versions(window)["Spectral Lab"]
    return (
        "<h3>Spectral Lab</h3>"
        "<p>Train neural networks in the spectral domain: build a layer stack, train its "
        "eigenvalues (and eigenvectors) or its weights, retract telescopic layers and export "
        "compact models.</p>"
        f"<table>{rows}</table>"
        f"<p>Device: {html.escape(device_text(window))}</p>"
        "<p><b>How to cite.</b> If you use Spectral Lab in your work, please cite the paper it "
        f"implements:<br>{html.escape(PAPER_CITATION)}<br>and the software:<br>"
        f"{html.escape(software_citation(version))}</p>"
    )


def citation_text(window: Any = None) -> str:
    """The paper's BibTeX and the software's citation, for the clipboard."""
    return f"{PAPER_BIBTEX}\n\n{software_citation(versions(window)['Spectral Lab'])}\n"


def getting_started_html() -> str:
    steps = "".join(
        f"<li><b>{html.escape(title)}.</b> {html.escape(text)}</li>" for title, text in GETTING_STARTED
    )
    return f"<h3>Getting started</h3><ol>{steps}</ol>"


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(what it does, keys) of every action with a shortcut in ``window``, menus' order first."""
    seen: set[int] = set()
    rows: list[tuple[str, str]] = []

    def add(action: QAction) -> None:
        if id(action) in seen or action.isSeparator():
            return
        seen.add(id(action))
        keys = ", ".join(
            key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()
        )
        name = readable_name(action.text()).rstrip(".…") or action.toolTip()
        if keys and name:
            rows.append((name, keys))

    def walk(menu: QMenu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            else:
                add(action)

    if isinstance(window, QMainWindow):
        for action in window.menuBar().actions():
            if action.menu() is not None:
                walk(action.menu())
    for action in window.findChildren(QAction):
        add(action)
    return rows


class TextDialog(QDialog):
    """A dialog with rich text and a Close button (and extra buttons when given)."""

    def __init__(self, parent: QWidget | None, title: str, text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)


def about_dialog(window: QWidget) -> TextDialog:
    dialog = TextDialog(window, "About Spectral Lab", about_html(window))
    copy = QPushButton("Copy citation (BibTeX)")
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(citation_text(window)))
    dialog.buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
    return dialog


def getting_started_dialog(window: QWidget) -> TextDialog:
    return TextDialog(window, "Getting started", getting_started_html())


def shortcuts_dialog(window: QWidget) -> QDialog:
    rows = shortcut_rows(window)
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard shortcuts")
    table = QTableWidget(len(rows), 2, dialog)
    table.setObjectName("shortcuts")
    table.setHorizontalHeaderLabels(["Action", "Keys"])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (name, keys) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(name))
        table.setItem(row, 1, QTableWidgetItem(keys))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(460, 520)
    return dialog


# -- Run ▸ Copy as command line ------------------------------------------------------------
def command_line(window: Any) -> str:
    """The ``spectral-lab train`` snippet for the window's current stack and settings.

    Raises ``ConfigError`` or ``ArchitectureError`` naming the field when a setting is invalid.
    """
    from spectral_core.command_line import train_command_line

    architecture = window.editor.architecture().validate()
    panel = window.run_panel
    return train_command_line(architecture, panel.current_regime(), panel.dataset_source(), panel.config())


def copy_command_line(window: Any) -> str | None:
    """Put :func:`command_line` on the clipboard and say so; errors go to the window's banner."""
    from spectral_core.architecture import ArchitectureError
    from spectral_core.config import ConfigError

    try:
        text = command_line(window)
    except (ArchitectureError, ConfigError) as error:
        window.show_error(f"cannot write the command line: {error}")
        return None
    QGuiApplication.clipboard().setText(text)
    window.statusBar().showMessage(
        "Copied the spectral-lab train command for these settings to the clipboard", 8000
    )
    return text


def _menu_titled(window: QMainWindow, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.menu() is not None and readable_name(action.text()) == title:
            return action.menu()
    return None


def install_help(window: QMainWindow) -> dict[str, QAction]:
    """Add the Help menu and Run ▸ Copy as command line to ``window``; return the new actions."""
    actions: dict[str, QAction] = {}

    def action(key: str, text: str, slot: Any, shortcut: QKeySequence | str | None = None) -> QAction:
        item = QAction(text, window)
        if shortcut is not None:
            item.setShortcut(QKeySequence(shortcut))
        item.triggered.connect(lambda _checked=False: slot())
        actions[key] = item
        return item

    run_menu = _menu_titled(window, "Run")
    copy = action("copy_command", "Copy as &command line", lambda: copy_command_line(window), "Ctrl+Shift+C")
    copy.setStatusTip("Copy the spectral-lab train command that repeats these settings headless")
    if run_menu is not None:
        run_menu.addSeparator()
        run_menu.addAction(copy)
    else:
        window.addAction(copy)

    help_menu = window.menuBar().addMenu("&Help")
    help_menu.addAction(action("getting_started", "&Getting started", lambda: getting_started_dialog(window).exec(), "F1"))
    help_menu.addAction(action("shortcuts", "&Keyboard shortcuts", lambda: shortcuts_dialog(window).exec(), "Ctrl+/"))
    help_menu.addSeparator()
    help_menu.addAction(action("about", "&About Spectral Lab", lambda: about_dialog(window).exec()))
    window.help_actions = actions  # type: ignore[attr-defined]
    return actions
