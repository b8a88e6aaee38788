"""The architecture editor: a Qt model rendering the lab state's Architecture, edits as
commands on the app's command stack, a layer table with delegates, a live diagram of the stack
and its parameter count."""

from app.editor.model import ArchitectureModel
from app.editor.widget import ArchitectureEditor

__all__ = ["ArchitectureEditor", "ArchitectureModel"]
