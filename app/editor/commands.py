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

    def createUndoAction(self, parent: QObject, prefix: str = "") -> QAction:
        return self._make_action(parent, prefix or "Undo", self.undo, self.canUndo,
                                 self.undoText, self.canUndoChanged, self.undoTextChanged)

    def createRedoAction(self, parent: QObject, prefix: str = "") -> QAction:
        return self._make_action(parent, prefix or "Redo", self.redo, self.canRedo,
                                 self.redoText, self.canRedoChanged, self.redoTextChanged)

    def _make_action(self, parent, label, trigger, can, text, can_changed, text_changed) -> QAction:
        action = QAction(label, parent)

        def refresh(*_: object) -> None:
            action.setEnabled(can() and not self._locked)
            action.setText(f"{label} {text()}".strip())

        for signal in (can_changed, text_changed, self.lockedChanged):
            signal.connect(refresh)
        action.triggered.connect(trigger)
        refresh()
        return action


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
