"""Autosave and crash recovery: the session is saved in the background, restored after a crash.

While the app runs, the lab state's session (architecture, settings, the runs' records with
their metrics, plots' data and weights, and the running run's record at its last finished
epoch) is written to ``autosave-<id>.spectral`` in the autosave folder. The autosaver
subscribes to the state (:class:`app.lab_state.LabState`): epoch ends, finished, changed and
restored runs save at once, architecture and settings edits once editing pauses. The GUI thread
only gathers the values (the weights are copies made by the training job); writing the file is
a background task (:mod:`app.tasks`), coalesced so that at most one save runs and at most one
waits. Files are written atomically (temp file + rename).

Each instance holds a :class:`QLockFile` beside its autosave. A clean exit waits for the save
in flight, writes the final state, renames it to ``last-session.spectral`` and releases the
lock. After a crash (``kill -9``, power loss) the lock is stale, so the next launch finds the
autosave, asks whether to restore it (:func:`offer_recovery`) and restores the architecture, the
runs and the weights of the last finished epoch.

The folder is ``QStandardPaths.AppDataLocation/autosave``, or ``$SPECTRAL_LAB_HOME/autosave``.
``SPECTRAL_LAB_RECOVER=restore`` (or ``discard``) answers the recovery question without asking.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from app.lab_state import LabState
from app.tasks import TaskFailed, TaskRunner, TaskState
from spectral_core.session import (
    SESSION_SUFFIX,
    Session,
    SessionError,
    load_session,
    save_session,
)

HOME_ENV = "SPECTRAL_LAB_HOME"
RECOVER_ENV = "SPECTRAL_LAB_RECOVER"
AUTOSAVE_PREFIX = "autosave-"
LAST_SESSION = f"last-session{SESSION_SUFFIX}"
RECOVERED_SESSION = f"recovered-session{SESSION_SUFFIX}"
DISCARDED_SESSION = f"discarded-session{SESSION_SUFFIX}"
EDIT_DELAY_MS = 1500  # architecture and settings edits are saved once editing pauses this long


def autosave_folder(create: bool = True) -> Path:
    """Where autosaves live (created if missing, unless ``create`` is false)."""
    home = os.environ.get(HOME_ENV)
    if home:
        base = Path(home)
    else:
        location = QStandardPaths.StandardLocation.AppDataLocation
        base = Path(QStandardPaths.writableLocation(location) or Path.home() / ".spectral-lab")
    folder = base / "autosave"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock_for(path: Path) -> QLockFile:
    lock = QLockFile(str(path.with_suffix(".lock")))
    # 0: a lock is stale only when its process is gone, however long a session lasts.
    lock.setStaleLockTime(0)
    return lock


@dataclass
class CrashedSession:
    """An autosave whose instance is gone without a clean exit."""

    path: Path
    modified: float


def find_crashed_sessions(folder: Path | None = None) -> list[CrashedSession]:
    """Autosaves of instances that did not exit cleanly, newest first.

    A running instance holds its lock, so its autosave is skipped; a clean exit renames its
    autosave away, so whatever is left with a free (stale) lock is from a crash.
    """
    folder = folder or autosave_folder()
    found = []
    for path in folder.glob(f"{AUTOSAVE_PREFIX}*{SESSION_SUFFIX}"):
        lock = _lock_for(path)
        if not lock.tryLock(0):
            continue  # its instance is alive
        lock.unlock()
        try:
            found.append(CrashedSession(path, path.stat().st_mtime))
        except OSError:
            continue
    return sorted(found, key=lambda item: item.modified, reverse=True)


@dataclass
class _Snapshot:
    """A session whose runs' weights may still be in their models (``models`` aligned with
    ``session.runs``; None where the weights are already there or there is no model)."""

    session: Session
    models: list[Any]

    def fill_weights(self) -> None:
        """Read the models' weights (the task thread does this, off the GUI thread). A record
        is filled once: during a training run the finished runs' records are reused."""
        for run, model in zip(self.session.runs, self.models, strict=True):
            if run.weights is None and model is not None:
                run.weights = [np.array(w) for w in model.get_weights()]


class Autosaver(QObject):
    """Saves the lab state of ``window`` in the background; see the module docstring.

    It subscribes to the state's events (``window.state``); ``window.show_error`` reports a
    failed write once until a write succeeds again.
    """

    saved = Signal(str)  # the autosave path, after each successful write
    failed = Signal(str)  # the error message of a failed write

    def __init__(self, window: Any, folder: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.state: LabState = window.state
        if folder is None:
            try:
                folder = autosave_folder()
            except OSError:
                # No place for autosaves (an unwritable home): the app runs on, and the first
                # save reports why it failed.
                folder = autosave_folder(create=False)
        self.folder = folder
        self.path = self.folder / f"{AUTOSAVE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}{SESSION_SUFFIX}"
        self.lock = _lock_for(self.path)
        self.lock.tryLock(0)
        # A write in flight completes; newer requests replace the waiting one (coalescing).
        self.tasks = TaskRunner("autosave", cancel_running=False, parent=self)
        self.pool = self.tasks.pool
        self.save_count = 0
        self.last_error = ""
        self._closed = False
        self._reported_failure = False
        # During a run: (the run's checkpoint function, the finished runs' snapshot).
        self._base: tuple[Any, _Snapshot] | None = None
        self.edit_timer = QTimer(self)
        self.edit_timer.setSingleShot(True)
        self.edit_timer.setInterval(EDIT_DELAY_MS)
        self.edit_timer.timeout.connect(self.save_now)
        self._unsubscribe = self.state.subscribe(self._on_state)

    def _on_state(self, event: str, _value: Any) -> None:
        if event in ("architecture", "settings"):
            self.edit_timer.start()  # saved once editing pauses
        elif event in ("epoch", "run_added", "run_changed", "runs"):
            self.save_now()

    # -- gathering (GUI thread, cheap) ----------------------------------------------------
    def _gather(self) -> _Snapshot:
        """The state's session with each run's model in place of its weights (GUI thread);
        the task thread reads the weights from the models."""
        session = self.state.to_session(with_weights=False)
        models = [run.model for run in self.state.runs]
        for record, run in zip(session.runs, self.state.runs, strict=True):
            if run.model is None:
                record.weights = run.record.weights  # restored runs not rebuilt yet
        return _Snapshot(session, models)

    def snapshot(self) -> _Snapshot:
        """The session to write now. During a run, the finished runs are gathered once per
        run (they cannot change while it trains) and only the live checkpoint is added."""
        state = self.state
        checkpoint = state.checkpoint
        if checkpoint is None or not state.is_training:
            self._base = None
            return self._gather()
        if self._base is None or self._base[0] is not checkpoint:
            self._base = (checkpoint, self._gather())
        base = self._base[1].session
        runs, models = list(base.runs), list(self._base[1].models)
        live = checkpoint()
        if live is not None and all(run.name != live.name for run in runs):
            runs.append(live)
            models.append(None)
        session = Session(state.architecture, state.regime, state.config, state.dataset, runs)
        return _Snapshot(session, models)

    def session_now(self) -> Session:
        """The session an autosave would write now, weights included (read on this thread)."""
        snapshot = self.snapshot()
        snapshot.fill_weights()
        return snapshot.session

    # -- saving -------------------------------------------------------------------------
    @Slot()
    def save_now(self) -> None:
        """Queue a save of the current state (coalesced with any save in flight)."""
        if self._closed:
            return
        self.tasks.start(
            self._write, self.snapshot(), on_done=self._on_written, on_error=self._on_failed
        )

    def _write(self, _task: TaskState, snapshot: _Snapshot) -> None:
        """Runs on the task thread."""
        try:
            snapshot.fill_weights()
            save_session(self.path, snapshot.session)
        except (SessionError, OSError) as error:
            raise TaskFailed(str(error) or type(error).__name__) from None

    def _on_written(self, _result: Any) -> None:
        self.save_count += 1
        self._reported_failure = False
        self.saved.emit(str(self.path))

    def _on_failed(self, error: str) -> None:
        self.last_error = error
        if not self._reported_failure:
            self._reported_failure = True  # once: a full disk would repeat at every epoch
            self.window.show_error(
                f"autosave failed: {error}. The previous autosave is intact; "
                "save the session yourself (Ctrl+S) to another place."
            )
        self.failed.emit(error)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait for the save in flight and any pending one (delivering their results)."""
        return self.tasks.wait(timeout_ms)

    # -- clean exit -----------------------------------------------------------------------
    @Slot()
    def shutdown(self) -> None:
        """Finish writing, keep the final state as ``last-session.spectral``, release the lock.

        Idempotent. If the final write fails, the autosave stays and the next launch offers it.
        """
        if self._closed:
            return
        self.edit_timer.stop()
        self.wait()
        self._closed = True
        self._unsubscribe()
        try:
            save_session(self.path, self.session_now())
            os.replace(self.path, self.folder / LAST_SESSION)
        except (SessionError, OSError) as error:
            self.last_error = str(error)
        finally:
            self.lock.unlock()


# -- recovery -----------------------------------------------------------------------------
def _ask(parent: QWidget | None, crashed: CrashedSession, session: Session) -> bool:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(crashed.modified))
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Restore the previous session?")
    box.setText("Spectral Lab did not exit cleanly last time.")
    box.setInformativeText(
        f"A session autosaved at {when} is available: architecture “{session.architecture.name}”, "
        f"{len(session.runs)} run(s). Restore it?"
    )
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText("Restore")
    box.button(QMessageBox.StandardButton.No).setText("Discard")
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    return box.exec() == QMessageBox.StandardButton.Yes


def _set_aside(crashed: CrashedSession, name: str) -> Path:
    """Keep a handled autosave under a fixed name (openable from File ▸ Open) and drop its lock."""
    target = crashed.path.with_name(name)
    os.replace(crashed.path, target)
    # Temporary files of writes the crash cut short (the completed autosave is the one kept).
    for partial in crashed.path.parent.glob(f".{crashed.path.stem}.*.partial{SESSION_SUFFIX}"):
        partial.unlink(missing_ok=True)
    lock = _lock_for(crashed.path)
    if lock.tryLock(0):
        lock.unlock()  # unlock removes the stale lock file
    return target


def offer_recovery(
    window: Any, folder: Path | None = None, answer: str | None = None
) -> Session | None:
    """If a crashed session's autosave exists, offer to restore it into ``window``.

    ``answer`` ("restore" or "discard", default ``$SPECTRAL_LAB_RECOVER``, else a dialog)
    replaces the question. The weights are rebuilt once TensorFlow has loaded; until then the
    restore waits. Returns the session offered (restored or not), or None.
    """
    crashed_sessions = find_crashed_sessions(folder)
    if not crashed_sessions:
        return None
    crashed, older = crashed_sessions[0], crashed_sessions[1:]
    for stale in older:  # kept, but offered no more
        _set_aside(stale, f"older-{stale.path.name}")
    try:
        session = load_session(crashed.path)
    except SessionError as error:
        kept = _set_aside(crashed, f"unreadable-{crashed.path.name}")
        window.show_error(f"an autosaved session was found but cannot be read ({error}); kept as {kept}")
        return None
    answer = answer or os.environ.get(RECOVER_ENV) or ""
    if answer not in ("restore", "discard"):
        answer = "restore" if _ask(window, crashed, session) else "discard"
    if answer == "discard":
        _set_aside(crashed, DISCARDED_SESSION)
        return session
    kept = _set_aside(crashed, RECOVERED_SESSION)
    _restore_when_ready(window, session, kept)
    return session


def _restore_when_ready(window: Any, session: Session, source: Path) -> None:
    """Restore into the window now; the runs' models are rebuilt once TensorFlow has loaded."""
    try:
        window.restore_session(session)
    except (ValueError, OSError) as error:  # e.g. weights that do not fit the rebuilt model
        window.show_error(f"could not restore the autosaved session ({error}); it is kept as {source}")
        return
    window.statusBar().showMessage(f"Restored the autosaved session (kept as {source})", 10_000)
    autosaver = getattr(window, "autosaver", None)
    if autosaver is not None:
        autosaver.save_now()  # the restored work is protected again at once


def install_autosave(window: Any, folder: Path | None = None) -> Autosaver:
    """Start autosaving ``window`` and offer to restore a crashed session (event loop turn)."""
    autosaver = Autosaver(window, folder)
    window.autosaver = autosaver
    QTimer.singleShot(0, lambda: offer_recovery(window, autosaver.folder))
    return autosaver
