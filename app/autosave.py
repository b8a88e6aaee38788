"""Autosave and crash recovery: the session is saved in the background, restored after a crash.

While the app runs, the current session (architecture, settings, the runs with their metrics
and weights, and the running run's weights at its last finished epoch) is written to
``autosave-<id>.spectral`` in the autosave folder at every epoch end, run end and architecture
edit. The GUI thread only gathers the values (the weights are copies made by the training
worker); writing the file happens on a one-thread :class:`QThreadPool`, coalesced so that at
most one save runs and at most one waits. Files are written atomically (temp file + rename).

Each instance holds a :class:`QLockFile` beside its autosave. A clean exit waits for the save
in flight, writes the final state, renames it to ``last-session.spectral`` and releases the
lock. After a crash (``kill -9``, power loss) the lock is stale, so the next launch finds the
autosave, asks whether to restore it (:func:`offer_recovery`) and restores the architecture, the
runs and the weights of the last finished epoch.

The folder is ``QStandardPaths.AppDataLocation/autosave``, or ``$SPECTRAL_LAB_HOME/autosave``.
``SPECTRAL_LAB_RECOVER=restore`` (or ``discard``) answers the recovery question without asking.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from spectral_core.session import (
    SESSION_SUFFIX,
    RunRecord,
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
EDIT_DELAY_MS = 1500  # architecture edits are saved once editing pauses this long
IDLE_CHECK_MS = 30_000  # settings edits (no signal) are picked up this often
TENSORFLOW_POLL_MS = 100


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
        """Read the models' weights (the pool thread does this, off the GUI thread). A record
        is filled once: during a training run the finished runs' records are reused."""
        for run, model in zip(self.session.runs, self.models, strict=True):
            if run.weights is None and model is not None:
                run.weights = [np.array(w) for w in model.get_weights()]


def in_progress_record(window: Any) -> RunRecord | None:
    """The running run as a record: finished epochs' metrics and the last one's weights."""
    worker = getattr(window, "worker", None)
    if worker is None or not hasattr(worker, "checkpoint"):
        return None
    rows, weights = worker.checkpoint()
    if weights is None:
        return None
    request = worker.request
    return RunRecord(
        name=request.name,
        architecture=request.architecture,
        regime=request.regime,
        config=request.config,
        dataset=request.dataset_source,
        history=rows,
        test_accuracy=math.nan,
        test_loss=math.nan,
        weights=weights,
        retracted=False,
        ended=(
            f"interrupted after epoch {len(rows)} of {request.config.epochs}: "
            "restored with the weights of that epoch"
        ),
    )


class Autosaver(QObject):
    """Saves ``window``'s session in the background; see the module docstring."""

    saved = Signal(str)  # the autosave path, after each successful write
    failed = Signal(str)  # the error message of a failed write
    _written = Signal(str)  # from the pool thread: "" or an error message

    def __init__(self, window: Any, folder: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
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
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.save_count = 0
        self.last_error = ""
        self._busy = False
        self._pending: _Snapshot | None = None
        self._closed = False
        self._reported_failure = False
        self._base: tuple[Any, _Snapshot] | None = None  # (worker, finished runs' snapshot)
        self._fingerprint: Any = None
        self._written.connect(self._on_written)

        self.edit_timer = QTimer(self)
        self.edit_timer.setSingleShot(True)
        self.edit_timer.setInterval(EDIT_DELAY_MS)
        self.edit_timer.timeout.connect(self.save_if_changed)
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(IDLE_CHECK_MS)
        self.idle_timer.timeout.connect(self.save_if_changed)
        self.idle_timer.start()
        window.epochFinished.connect(self.save_now)
        window.runFinished.connect(self.save_now)
        window.editor.architectureChanged.connect(lambda _architecture: self.edit_timer.start())

    # -- gathering (GUI thread, cheap) ----------------------------------------------------
    def _gather(self) -> _Snapshot:
        """The window's session with each run's model in place of its weights (GUI thread);
        the pool thread reads the weights from the models."""
        window = self.window
        session = window.current_session(with_weights=False)
        runs_list = getattr(window, "runs_list", None)
        models = [entry.model for entry in runs_list.entries()] if runs_list else []
        return _Snapshot(session, models or [None] * len(session.runs))

    def snapshot(self) -> _Snapshot:
        """The session to write now. During a run, the finished runs are gathered once per
        run (they cannot change while it trains) and only the live checkpoint is added."""
        window = self.window
        worker = getattr(window, "worker", None)
        if worker is None or not getattr(window, "is_training", False):
            self._base = None
            return self._gather()
        if self._base is None or self._base[0] is not worker:
            self._base = (worker, self._gather())
        base = self._base[1].session
        runs, models = list(base.runs), list(self._base[1].models)
        live = in_progress_record(window)
        if live is not None and all(run.name != live.name for run in runs):
            runs.append(live)
            models.append(None)
        session = Session(base.architecture, base.regime, base.config, base.dataset, runs)
        return _Snapshot(session, models)

    def session_now(self) -> Session:
        """The session an autosave would write now, weights included (read on this thread)."""
        snapshot = self.snapshot()
        snapshot.fill_weights()
        return snapshot.session

    def _current_fingerprint(self) -> Any:
        window = self.window
        try:
            config = window.run_panel.config()
        except ValueError:
            config = None
        return (
            window.editor.architecture(),
            window.run_panel.current_regime(),
            config,
            window.run_panel.dataset_source(),
            tuple(
                (entry.name, entry.retracted, len(entry.history))
                for entry in window.runs_list.entries()
            ),
        )

    # -- saving -------------------------------------------------------------------------
    @Slot()
    def save_now(self) -> None:
        """Queue a save of the current state (coalesced with any save in flight)."""
        if self._closed:
            return
        snapshot = self.snapshot()
        self._fingerprint = self._current_fingerprint()
        if self._busy:
            self._pending = snapshot  # only the newest state is worth writing
            return
        self._start(snapshot)

    @Slot()
    def save_if_changed(self) -> None:
        if self._closed or getattr(self.window, "is_training", False):
            return  # during a run, the epoch ends drive the saves
        if self._current_fingerprint() != self._fingerprint:
            self.save_now()

    def _start(self, snapshot: _Snapshot) -> None:
        self._busy = True
        self.pool.start(lambda: self._write(snapshot))

    def _write(self, snapshot: _Snapshot) -> None:
        """Runs on the pool thread."""
        try:
            snapshot.fill_weights()
            save_session(self.path, snapshot.session)
        except (SessionError, OSError) as error:
            self._written.emit(str(error) or type(error).__name__)
        except Exception as error:  # the GUI must always hear back, or saving stops for good
            self._written.emit(f"{type(error).__name__}: {error}")
        else:
            self._written.emit("")

    @Slot(str)
    def _on_written(self, error: str) -> None:
        self._busy = False
        if error:
            self.last_error = error
            if not self._reported_failure:
                self._reported_failure = True  # once: a full disk would repeat at every epoch
                show_error = getattr(self.window, "show_error", None)
                if show_error is not None:
                    show_error(
                        f"autosave failed: {error}. The previous autosave is intact; "
                        "save the session yourself (Ctrl+S) to another place."
                    )
            self.failed.emit(error)
        else:
            self.save_count += 1
            self._reported_failure = False
            self.saved.emit(str(self.path))
        if self._pending is not None and not self._closed:
            snapshot, self._pending = self._pending, None
            self._start(snapshot)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait for the save in flight and any pending one (delivering their results)."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while self._busy or self._pending is not None:
            remaining = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not self.pool.waitForDone(remaining):
                return False
            from PySide6.QtCore import QCoreApplication

            QCoreApplication.sendPostedEvents(self)  # deliver _written, which starts the pending
            if deadline is not None and time.monotonic() > deadline:
                return not (self._busy or self._pending is not None)
        return True

    # -- clean exit -----------------------------------------------------------------------
    @Slot()
    def shutdown(self) -> None:
        """Finish writing, keep the final state as ``last-session.spectral``, release the lock.

        Idempotent. If the final write fails, the autosave stays and the next launch offers it.
        """
        if self._closed:
            return
        self.edit_timer.stop()
        self.idle_timer.stop()
        self.wait()
        self._closed = True
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
    """Restore at once if TensorFlow is loaded (weights need it), else when it has loaded."""

    def loader_gone() -> bool:
        # The window drops its loader thread when loading ends (or failed); with no loader
        # running, waiting is pointless and the runs are restored without their models.
        return getattr(window, "_loader_thread", None) is None

    def attempt() -> None:
        if not window.tensorflow_ready and not loader_gone():
            QTimer.singleShot(TENSORFLOW_POLL_MS, attempt)
            return
        try:
            window.restore_session(session)
        except (ValueError, OSError) as error:  # e.g. weights that do not fit the rebuilt model
            window.show_error(f"could not restore the autosaved session ({error}); it is kept as {source}")
            return
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(f"Restored the autosaved session (kept as {source})", 10_000)
        autosaver = getattr(window, "autosaver", None)
        if autosaver is not None:
            autosaver.save_now()  # the restored work is protected again at once

    if window.tensorflow_ready:
        attempt()
    else:
        QTimer.singleShot(TENSORFLOW_POLL_MS, attempt)


def install_autosave(window: Any, folder: Path | None = None) -> Autosaver:
    """Start autosaving ``window`` and offer to restore a crashed session (event loop turn)."""
    autosaver = Autosaver(window, folder)
    window.autosaver = autosaver
    QTimer.singleShot(0, lambda: offer_recovery(window, autosaver.folder))
    return autosaver
