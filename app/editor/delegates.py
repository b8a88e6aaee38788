"""Editors for the layer table: units from a spin box that says in place why a value is refused,
activation only from a list."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QComboBox,
    QLabel,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from spectral_core.architecture import ACTIVATIONS, MAX_UNITS

Index = QModelIndex | QPersistentModelIndex
# The spin box takes any number a user may type, so a wrong one can be explained, not swallowed.
TYPED_RANGE = (-999_999_999, 999_999_999)
COMMIT_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
MESSAGE_STYLE = (
    "QLabel { background: #c62828; color: white; padding: 2px 6px; border-radius: 3px; }"
)
INVALID_EDITOR_STYLE = "QSpinBox { border: 2px solid #c62828; }"


def units_problem(value: int) -> str:
    """Why ``value`` cannot be a layer's units ("" when it can)."""
    if 1 <= value <= MAX_UNITS:
        return ""
    return f"units: must be from 1 to {MAX_UNITS:,}, got {value:,}"


class UnitsSpinBox(QSpinBox):
    """The units editor; ``message`` is the label under it that says why a value is refused."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.message = QLabel(parent)
        self.message.setStyleSheet(MESSAGE_STYLE)
        self.message.hide()
        self.destroyed.connect(self.message.deleteLater)

    def problem(self) -> str:
        """Why the typed value is refused ("" when it is a valid size)."""
        return units_problem(self.value())

    def show_problem(self) -> None:
        problem = self.problem()
        self.setStyleSheet(INVALID_EDITOR_STYLE if problem else "")
        self.message.setText(problem)
        self.message.adjustSize()
        geometry = self.geometry()
        self.message.move(geometry.left(), geometry.bottom() + 2)
        self.message.setVisible(bool(problem))
        self.message.raise_()

    def hideEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        self.message.hide()
        super().hideEvent(event)


class UnitsDelegate(QStyledItemDelegate):
    """A spin box for a layer's units. An out-of-range value is refused with its reason shown
    under the cell while typing; Enter keeps the editor open until the value is valid."""

    refused = Signal(str)  # the reason, when an invalid value is abandoned (focus left the cell)

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        editor = UnitsSpinBox(parent)
        editor.setRange(*TYPED_RANGE)
        editor.setAccelerated(True)
        editor.setFrame(False)
        editor.setToolTip(f"Nodes in this layer, 1 to {MAX_UNITS:,}")
        editor.valueChanged.connect(lambda _value: editor.show_problem())
        editor.installEventFilter(self)
        return editor

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: Index
    ) -> None:
        super().updateEditorGeometry(editor, option, index)
        if isinstance(editor, UnitsSpinBox):
            editor.show_problem()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            isinstance(watched, UnitsSpinBox)
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in COMMIT_KEYS
        ):
            watched.interpretText()
            if watched.problem():
                return True  # stay in the cell: the message under it says why
        return super().eventFilter(watched, event)

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        assert isinstance(editor, QSpinBox)
        editor.setValue(int(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:
        assert isinstance(editor, QSpinBox)
        editor.interpretText()
        problem = units_problem(editor.value())
        if problem:
            kept = index.data(Qt.ItemDataRole.EditRole)
            self.refused.emit(f"Layer {index.row() + 1} {problem}; kept {kept}.")
            return
        model.setData(index, editor.value(), Qt.ItemDataRole.EditRole)


class ActivationDelegate(QStyledItemDelegate):
    """A combo box of the library's activations; choosing one commits it at once."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        editor = QComboBox(parent)
        editor.addItems(list(ACTIVATIONS))
        editor.setToolTip("Activation function; softmax only on the last layer")
        editor.activated.connect(lambda _row: self._commit(editor))
        return editor

    def _commit(self, editor: QComboBox) -> None:
        self.commitData.emit(editor)
        self.closeEditor.emit(editor, QAbstractItemDelegate.EndEditHint.NoHint)

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
