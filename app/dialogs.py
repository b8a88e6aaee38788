"""Inline messages (errors, warnings, notes) and the file dialogs of the main window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "error": "background: #fdecea; color: #611a15; border: 1px solid #f5c6cb;",
    "warning": "background: #fff4e5; color: #663c00; border: 1px solid #ffd599;",
    "info": "background: #e8f4fd; color: #0d3c61; border: 1px solid #b6dcfb;",
}


class MessageBar(QFrame):
    """A dismissable banner above the plots: errors show here instead of modal boxes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setStyleSheet(f"MessageBar {{ {STYLES[level]} border-radius: 4px; }}")
        self.label.setStyleSheet(STYLES[level].split(" border")[0])
        prefix = {"error": "Error: ", "warning": "Warning: ", "info": ""}[level]
        self.label.setText(prefix + text)
        self.show()

    def dismiss(self) -> None:
        self.level = ""
        self.label.clear()
        self.hide()

    def text(self) -> str:
        return self.label.text()


def ask_save_path(parent: QWidget, title: str, suggested: str, filters: str) -> str:
    """A save-file dialog; '' when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filters)
    return path


def ask_open_path(parent: QWidget, title: str, filters: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, "", filters)
    return path


def ask_open_folder(parent: QWidget, title: str) -> str:
    """A choose-a-folder dialog; '' when cancelled."""
    return QFileDialog.getExistingDirectory(parent, title)
