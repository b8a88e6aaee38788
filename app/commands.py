"""Undoable commands on the lab state, and the one command stack (pure Python, no Qt).

Every undoable change of the app is a :class:`Command` acting on
:class:`app.lab_state.LabState`: ``do()`` makes the change, ``undo()`` takes it back, ``text``
names it for Edit ▸ Undo/Redo. Commands go through :class:`CommandStack.push`, which does them
and keeps them for undo/redo (glue's ``glue/core/command.py`` is the model). The views only
render the state and turn user gestures into commands; the stack's listeners (Edit ▸ Undo and
Redo in :mod:`app.window_actions`) re-read :meth:`CommandStack.can_undo`, :meth:`undo_text` …
on every change.

Adding an undoable action: a :class:`Command` subclass here that changes the state only through
:class:`LabState`'s methods (so every view hears of it), and a ``commands.push(...)`` where the
gesture is handled.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from app.lab_state import LabRun, LabState, PruningTarget
from spectral_core.architecture import Architecture

LOG = logging.getLogger("spectral_lab.commands")
DEFAULT_LIMIT = 500  # commands kept for undo; the oldest go first


class Command(ABC):
    """One undoable change. Subclasses set :attr:`text` and implement :meth:`do` / :meth:`undo`.

    ``do`` is called once by :meth:`CommandStack.push` and again on every redo.
    """

    text = ""

    @abstractmethod
    def do(self) -> None:
        """Make the change (the first time, and again on every redo)."""

    @abstractmethod
    def undo(self) -> None:
        """Take the change back."""

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (already done, pushed right after this one) into this command;
        True if merged. A merged command that changes nothing is :attr:`obsolete`."""
        return False

    @property
    def obsolete(self) -> bool:
        """True when undoing this command would change nothing (it is then dropped)."""
        return False


class SetArchitecture(Command):
    """Replace the state's architecture (every architecture editor edit, presets, files).

    ``merge_key``: consecutive commands with the same key merge into one undo step (the
    input-units spin box stepping 785, 786, 787 is one step).
    """

    def __init__(
        self, state: LabState, architecture: Architecture, text: str, merge_key: str = ""
    ) -> None:
        if not isinstance(architecture, Architecture):
            raise TypeError(
                f"architecture: must be an Architecture, got {type(architecture).__name__}"
            )
        self.state = state
        self.before, self.after = state.architecture, architecture
        self.text = text
        self.merge_key = merge_key

    def do(self) -> None:
        self.state.set_architecture(self.after)

    def undo(self) -> None:
        self.state.set_architecture(self.before)

    def merge_with(self, other: Command) -> bool:
        if (
            not self.merge_key
            or not isinstance(other, SetArchitecture)
            or other.merge_key != self.merge_key
            or other.state is not self.state
            or other.before != self.after
        ):
            return False
        self.after, self.text = other.after, other.text
        return True

    @property
    def obsolete(self) -> bool:
        return self.before == self.after


class SetRetracted(Command):
    """Make a run's compact model the active one (``retracted``) or its trained one again."""

    def __init__(self, state: LabState, run: LabRun, retracted: bool = True) -> None:
        self.state, self.run, self.retracted = state, run, retracted
        self.text = f"{'Retract' if retracted else 'Unretract'} {run.name}"

    def do(self) -> None:
        self.state.set_retracted(self.run, self.retracted)

    def undo(self) -> None:
        self.state.set_retracted(self.run, not self.retracted)


class Prune(Command):
    """Replace the network of the pruning tab by its pruned version; undo brings the previous
    one back. Once the tab works on another network (a new run), the command does nothing."""

    def __init__(self, state: LabState, after: PruningTarget) -> None:
        if state.pruning is None:
            raise ValueError("pruning: there is no network to prune yet")
        self.state, self.before, self.after = state, state.pruning, after
        self.text = f"Prune {after.label}"

    def _swap(self, expected: PruningTarget, target: PruningTarget) -> None:
        if self.state.pruning is expected:
            self.state.set_pruning(target)

    def do(self) -> None:
        self._swap(self.before, self.after)

    def undo(self) -> None:
        self._swap(self.after, self.before)


Listener = Callable[[], None]


class CommandStack:
    """The undo/redo history of the lab state.

    Listeners (``subscribe``) are called after every change of what Edit ▸ Undo/Redo show:
    a push, undo, redo, clear, lock or clean mark. While :attr:`locked` (a run is training
    and must not see its architecture change) undo and redo do nothing.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit: must be at least 1, got {limit}")
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done; commands[index:] can be redone
        self._clean: int | None = 0
        self._locked = False
        self._limit = limit
        self._listeners: list[Listener] = []

    # -- events ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` after every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a broken menu must not break the history
                LOG.exception("a listener of the command stack failed")

    # -- history --------------------------------------------------------------------------
    def push(self, command: Command) -> None:
        """Do ``command`` and keep it for undo (the redo history is dropped)."""
        command.do()
        del self._commands[self._index :]
        if self._clean is not None and self._clean > self._index:
            self._clean = None  # the saved state can no longer be reached
        top = self._commands[-1] if self._commands else None
        if top is not None and self._clean != self._index and top.merge_with(command):
            if top.obsolete:
                self._commands.pop()
                self._index -= 1
        else:
            self._commands.append(command)
            self._index += 1
            if len(self._commands) > self._limit:
                del self._commands[0]
                self._index -= 1
                self._clean = None if not self._clean else self._clean - 1
        self._changed()

    def undo(self) -> None:
        """Undo the last done command (nothing when there is none or the stack is locked)."""
        if self.can_undo():
            self._index -= 1
            self._commands[self._index].undo()
            self._changed()

    def redo(self) -> None:
        """Redo the last undone command (nothing when there is none or the stack is locked)."""
        if self.can_redo():
            self._commands[self._index].do()
            self._index += 1
            self._changed()

    def clear(self) -> None:
        """Forget every command (a session was opened: the old history no longer applies)."""
        self._commands.clear()
        self._index, self._clean = 0, 0
        self._changed()

    # -- reading --------------------------------------------------------------------------
    def can_undo(self) -> bool:
        return not self._locked and self._index > 0

    def can_redo(self) -> bool:
        return not self._locked and self._index < len(self._commands)

    def undo_text(self) -> str:
        """The text of the command undo would take back ("" when none)."""
        return self._commands[self._index - 1].text if self._index > 0 else ""

    def redo_text(self) -> str:
        """The text of the command redo would do again ("" when none)."""
        return self._commands[self._index].text if self._index < len(self._commands) else ""

    @property
    def count(self) -> int:
        """Commands kept (done and undone)."""
        return len(self._commands)

    @property
    def index(self) -> int:
        """Commands done: ``count - index`` can be redone."""
        return self._index

    def command(self, position: int) -> Command:
        """The command at ``position`` (0 is the oldest kept)."""
        if not 0 <= position < len(self._commands):
            raise IndexError(f"position: must be from 0 to {len(self._commands) - 1}, got {position}")
        return self._commands[position]

    # -- clean state and lock ---------------------------------------------------------------
    def is_clean(self) -> bool:
        """True when the state is as it was at the last :meth:`set_clean` (e.g. when saved)."""
        return self._clean == self._index

    def set_clean(self) -> None:
        """Mark the state as it is now as clean (the session was saved)."""
        if self._clean != self._index:
            self._clean = self._index
            self._changed()

    @property
    def locked(self) -> bool:
        return self._locked

    def set_locked(self, locked: bool) -> None:
        """While locked, undo and redo do nothing (:meth:`can_undo` is False); pushing works."""
        if bool(locked) != self._locked:
            self._locked = bool(locked)
            self._changed()
