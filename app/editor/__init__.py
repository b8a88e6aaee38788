"""The architecture editor: a Qt model over the library's Architecture value, undoable edits,
a layer table with delegates, a live diagram of the stack and its parameter count."""

from app.editor.commands import LockableUndoStack
from app.editor.model import ArchitectureModel
from app.editor.widget import ArchitectureEditor

__all__ = ["ArchitectureEditor", "ArchitectureModel", "LockableUndoStack"]
