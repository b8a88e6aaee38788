"""Undoable edits of an :class:`~app.editor.model.ArchitectureModel`.

Each command stores exactly what it needs to restore the previous value, and applies itself
through the model's ``_apply_*`` methods, which change the value and emit the Qt signals but
never touch the undo stack (so undo/redo cannot re-enter it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QUndoCommand, QUndoStack

from spectral_core.architecture import Architecture, LayerSpec

if TYPE_CHECKING:
    from app.editor.model import ArchitectureModel

# Ids let consecutive steps of the input-units spin box merge into one undo step.
INPUT_UNITS_COMMAND_ID = 1


class LockableUndoStack(QUndoStack):
    """A QUndoStack that can be locked: while locked, undo and redo do nothing.

    Training must not see its architecture change underneath it, and undo is an edit too. The
    actions from :meth:`createUndoAction` / :meth:`createRedoAction` are disabled while locked.
    """

    lockedChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._locked = False

    def is_locked(self) -> bool:
        return self._locked

    def set_locked(self, locked: bool) -> None:
        if locked != self._locked:
            self._locked = locked
            self.lockedChanged.emit(locked)

    def undo(self) -> None:
        if not self._locked:
            super().undo()

    def redo(self) -> None:
        if not self._locked:
            super().redo()

    def setIndex(self, index: int) -> None:
        if not self._locked:
            super().setIndex(index)

    def createUndoAction(self, parent: QObject | None, prefix: str = "") -> QAction:
        action = _StackAction(prefix or "Undo", parent, self.canUndo(), self.undoText(), self._locked)
        self.canUndoChanged.connect(action.set_available)
        self.undoTextChanged.connect(action.set_command_text)
        self.lockedChanged.connect(action.set_locked)
        action.triggered.connect(self.undo)
        return action

    def createRedoAction(self, parent: QObject | None, prefix: str = "") -> QAction:
        action = _StackAction(prefix or "Redo", parent, self.canRedo(), self.redoText(), self._locked)
        self.canRedoChanged.connect(action.set_available)
        self.redoTextChanged.connect(action.set_command_text)
        self.lockedChanged.connect(action.set_locked)
        action.triggered.connect(self.redo)
        return action


class _StackAction(QAction):
    """Undo or redo action that also goes grey while the stack is locked.

    It keeps what the signals told it instead of asking the stack, which may be mid-destruction.
    """

    def __init__(
        self, label: str, parent: QObject | None, available: bool, command_text: str, locked: bool
    ) -> None:
        super().__init__(label, parent)
        self._label, self._available, self._locked = label, available, locked
        self._command_text = command_text
        self._refresh()

    def set_available(self, available: bool) -> None:
        self._available = available
        self._refresh()

    def set_command_text(self, text: str) -> None:
        self._command_text = text
        self._refresh()

    def set_locked(self, locked: bool) -> None:
        self._locked = locked
        self._refresh()

    def _refresh(self) -> None:
        self.setEnabled(self._available and not self._locked)
        self.setText(f"{self._label} {self._command_text}".strip())


class InsertLayerCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, row: int, layer: LayerSpec, text: str) -> None:
        super().__init__(text)
        self._model, self._row, self._layer = model, row, layer

    def redo(self) -> None:
        self._model._apply_insert(self._row, self._layer)

    def undo(self) -> None:
        self._model._apply_remove(self._row)


class RemoveLayerCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, row: int, text: str) -> None:
        super().__init__(text)
        self._model, self._row = model, row
        self._layer = model.layer(row)

    def redo(self) -> None:
        self._model._apply_remove(self._row)

    def undo(self) -> None:
        self._model._apply_insert(self._row, self._layer)


class MoveLayerCommand(QUndoCommand):
    """Move one layer from ``source`` so that it ends up at index ``target``."""

    def __init__(self, model: ArchitectureModel, source: int, target: int, text: str) -> None:
        super().__init__(text)
        self._model, self._source, self._target = model, source, target

    def redo(self) -> None:
        self._model._apply_move(self._source, self._target)

    def undo(self) -> None:
        self._model._apply_move(self._target, self._source)


class SetLayerCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, row: int, layer: LayerSpec, text: str) -> None:
        super().__init__(text)
        self._model, self._row = model, row
        self._old, self._new = model.layer(row), layer

    def redo(self) -> None:
        self._model._apply_set_layer(self._row, self._new)

    def undo(self) -> None:
        self._model._apply_set_layer(self._row, self._old)


class SetTrainInputEigenvaluesCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, value: bool) -> None:
        super().__init__(("Train" if value else "Freeze") + " input eigenvalues")
        self._model, self._value = model, value

    def redo(self) -> None:
        self._model._apply_fields(train_input_eigenvalues=self._value)

    def undo(self) -> None:
        self._model._apply_fields(train_input_eigenvalues=not self._value)


class SetInputUnitsCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, units: int) -> None:
        super().__init__()
        self._model = model
        self._old, self._new = model.architecture().input_units, units
        self._update_text()

    def _update_text(self) -> None:
        self.setText(f"Set input units to {self._new}")

    def id(self) -> int:
        return INPUT_UNITS_COMMAND_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetInputUnitsCommand) or other._model is not self._model:
            return False
        self._new = other._new
        self._update_text()
        # Stepping back to the start value leaves nothing to undo.
        self.setObsolete(self._new == self._old)
        return True

    def redo(self) -> None:
        self._model._apply_fields(input_units=self._new)

    def undo(self) -> None:
        self._model._apply_fields(input_units=self._old)


class SetArchitectureCommand(QUndoCommand):
    def __init__(self, model: ArchitectureModel, architecture: Architecture, text: str) -> None:
        super().__init__(text)
        self._model = model
        self._old, self._new = model.architecture(), architecture

    def redo(self) -> None:
        self._model._apply_architecture(self._new)

    def undo(self) -> None:
        self._model._apply_architecture(self._old)
