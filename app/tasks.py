"""One small helper for every background job: start, progress and partial results, cooperative
cancel, the latest request wins, errors to the banner (Orange3's ``widgets/utils/concurrent.py``
is the model).

A :class:`TaskRunner` runs one job at a time on its own pool thread. ``start`` hands the job
function a :class:`TaskState` (to report progress and partial results and to check
``cancelled``); its result, progress, partial results and errors come back on the GUI thread
through the callbacks given to ``start``. Starting while a job runs asks the running job to
cancel (unless the runner is made with ``cancel_running=False``, as autosave is: a write in
flight completes) and queues the new request, replacing any older waiting one. A cancelled
job's results are dropped. Errors go to ``on_error`` or, by default, to the runner's
``report_error`` (the window's banner) — never to the terminal only.

The app uses it for loading TensorFlow, training, autosave, the pruning panel's accuracy and
retraction's comparison on the test set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThreadPool, Signal, Slot

LOG = logging.getLogger("spectral_lab.tasks")


class TaskFailed(Exception):
    """Raised by a job to fail with exactly this message (for the banner); any other exception
    is reported as ``TypeName: message``."""


class TaskState:
    """What a job sees on its thread: report progress and partial results, check for cancel."""

    def __init__(self, relay: _Relay, number: int) -> None:
        self._relay = relay
        self._number = number
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once a newer request or :meth:`TaskRunner.cancel` asked this job to stop."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self, value: float) -> None:
        """Report progress (any scale the caller agrees on, e.g. 0–1)."""
        self._relay.progressed.emit(self._number, float(value))

    def partial(self, value: Any) -> None:
        """Hand a partial result to the GUI thread (``on_partial``)."""
        self._relay.partial.emit(self._number, value)


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from the pool thread arrive there queued."""

    progressed = Signal(int, float)
    partial = Signal(int, object)
    done = Signal(int, object)
    failed = Signal(int, str)


@dataclass
class _Request:
    number: int
    function: Callable[..., Any]
    args: tuple[Any, ...]
    state: TaskState
    callbacks: dict[str, Callable[..., Any] | None] = field(default_factory=dict)


class TaskRunner(QObject):
    """Runs the jobs of one kind (``name``) one at a time; see the module docstring."""

    def __init__(
        self,
        name: str,
        report_error: Callable[[str], None] | None = None,
        cancel_running: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.report_error = report_error
        self.cancel_running = cancel_running
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)
        self._relay.partial.connect(self._on_partial)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._numbers = 0
        self._running: _Request | None = None
        self._pending: _Request | None = None

    # -- starting and stopping ----------------------------------------------------------------
    def start(
        self,
        function: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> TaskState:
        """Run ``function(state, *args)`` on the pool thread; the callbacks run on this one.

        ``on_finished`` runs after ``on_done`` or ``on_error`` (also for a cancelled job).
        """
        self._numbers += 1
        state = TaskState(self._relay, self._numbers)
        request = _Request(
            self._numbers,
            function,
            args,
            state,
            {
                "done": on_done,
                "error": on_error,
                "progress": on_progress,
                "partial": on_partial,
                "finished": on_finished,
            },
        )
        if self._running is None:
            self._launch(request)
            return state
        if self._pending is not None:
            self._pending.state.cancel()  # superseded before it ran
            self._call(self._pending, "finished")
        self._pending = request
        if self.cancel_running:
            self._running.state.cancel()
        return state

    def cancel(self) -> None:
        """Ask the running job to stop and drop the waiting one."""
        if self._running is not None:
            self._running.state.cancel()
        self.drop_waiting()

    def drop_waiting(self) -> None:
        """Drop the request waiting for the running job (which goes on)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.state.cancel()
            self._call(pending, "finished")

    @property
    def busy(self) -> bool:
        return self._running is not None or self._pending is not None

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait for the running and waiting jobs, delivering their results; False on timeout."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while self.busy:
            remaining = (
                -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            )
            if not self.pool.waitForDone(remaining):
                return False
            QCoreApplication.sendPostedEvents(self)  # deliver done (queued to this object's slots)
            if deadline is not None and time.monotonic() > deadline:
                return not self.busy
        return True

    # -- the pool thread ----------------------------------------------------------------------
    def _launch(self, request: _Request) -> None:
        self._running = request
        self.pool.start(lambda: self._run(request))

    def _run(self, request: _Request) -> None:
        try:
            result = request.function(request.state, *request.args)
        except TaskFailed as error:
            self._relay.failed.emit(request.number, str(error))
        except Exception as error:  # every failure must reach the GUI thread, or it waits forever
            LOG.exception("background job %s failed", self.name)
            self._relay.failed.emit(request.number, f"{type(error).__name__}: {error}")
        else:
            self._relay.done.emit(request.number, result)

    # -- back on the GUI thread ----------------------------------------------------------------
    def _current(self, number: int) -> _Request | None:
        request = self._running
        if request is None or request.number != number or request.state.cancelled:
            return None
        return request

    def _call(self, request: _Request, kind: str, *args: Any) -> None:
        callback = request.callbacks.get(kind)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as error:  # a callback bug is reported, and the runner keeps going
            LOG.exception("the %s callback of %s failed", kind, self.name)
            self._report(f"{self.name}: {type(error).__name__}: {error}")

    def _report(self, message: str) -> None:
        if self.report_error is not None:
            self.report_error(message)

    @Slot(int, float)
    def _on_progress(self, number: int, value: float) -> None:
        if (request := self._current(number)) is not None:
            self._call(request, "progress", value)

    @Slot(int, object)
    def _on_partial(self, number: int, value: Any) -> None:
        if (request := self._current(number)) is not None:
            self._call(request, "partial", value)

    def _finish(self, number: int) -> _Request | None:
        """The job ``number`` has ended: free the runner, start the waiting request."""
        request = self._running
        if request is None or request.number != number:
            return None
        self._running = None
        return request

    def _next(self) -> None:
        if self._running is None and self._pending is not None:
            pending, self._pending = self._pending, None
            self._launch(pending)

    @Slot(int, object)
    def _on_done(self, number: int, result: Any) -> None:
        request = self._finish(number)
        if request is not None:
            if not request.state.cancelled:
                self._call(request, "done", result)
            self._call(request, "finished")
        self._next()

    @Slot(int, str)
    def _on_failed(self, number: int, message: str) -> None:
        request = self._finish(number)
        if request is not None:
            if not request.state.cancelled:
                if request.callbacks.get("error") is not None:
                    self._call(request, "error", message)
                else:
                    self._report(f"{self.name} failed: {message}")
            self._call(request, "finished")
        self._next()
