"""The training controller: one run at a time, its background task, live buffers and redraws.

It starts a :class:`~app.worker.TrainingJob` on its :class:`~app.tasks.TaskRunner`, keeps the
lab state's status and checkpoint up to date, redraws the visible view from the job's latest
snapshot on a 10 Hz timer, and at the end adds the run to the lab state — before anything is
drawn, so no view can keep a finished run from being listed, reported and autosaved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget, QWidget

from app.lab_state import LabRun, LabState
from app.run_panel import RunPanel
from app.run_views import RunViews
from app.tasks import TaskRunner
from app.worker import Continuation, TrainingJob
from spectral_core.config import ConfigError
from spectral_core.files import WriteError
from spectral_core.record import RunRecord
from spectral_core.tensorboard import run_log_dir

# 10 redraws a second (DESIGN: 10–20 Hz): GUI painting competes with training for the two
# cores (measured by `spectral-lab bench`, GUI ÷ headless row).
REDRAW_INTERVAL_MS = 100


class TrainingController(QObject):
    """Trains one run at a time for ``state``; see the module docstring."""

    epochFinished = Signal()
    trainingEnded = Signal(str)  # the engine's end message, as soon as the fit loop returns
    runFinished = Signal(object)  # the LabRun, after it joined the state

    def __init__(
        self,
        state: LabState,
        views: RunViews,
        run_panel: RunPanel,
        tabs: QTabWidget,
        status_label: QLabel,
        show_message: Callable[[str, str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.views = views
        self.run_panel = run_panel
        self.tabs = tabs
        self.status_label = status_label
        self.show_message = show_message  # (text, level): the banner
        self.runner = TaskRunner("training", lambda text: show_message(text, "error"), parent=self)
        self.job: TrainingJob | None = None
        self._last_version = -1
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self.redraw_timer.timeout.connect(self.refresh)

    # -- commands ---------------------------------------------------------------------------
    def start(
        self,
        plan: RunRecord,
        device: str | None,
        tensorboard_dir: str | None = None,
        continuation: Continuation | None = None,
    ) -> None:
        """Train ``plan`` (a record holding the run's name, settings and data set); with
        ``tensorboard_dir`` the run also logs there for TensorBoard; with ``continuation`` it
        starts from the weights of an earlier run."""
        job = TrainingJob(plan, device, tensorboard_dir, continuation)
        self.job, self._last_version = job, -1
        self.state.checkpoint = job.checkpoint_record
        self.state.set_status("training")
        self.views.start_live(plan.config.epochs, plan.name, plan)
        self._show_state(f"loading {plan.dataset}…", 0)
        self.status_label.setText(f"{plan.name}: loading the data set…")
        # Paint the cleared plots and locked widgets now, before the job starts building the
        # model: painting while it runs Python would wait for the GIL at every Qt call.
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        if isinstance(window := self.parent(), QWidget):
            window.repaint()
        self.runner.start(
            job,
            on_done=self._on_done,
            on_error=self._on_failed,
            on_partial=self._on_partial,
            on_finished=self._on_finished,
        )
        self.redraw_timer.start()

    def start_from_state(self, device: str | None) -> str | None:
        """Train the lab state's architecture with the run panel's settings; an error message
        if they are invalid (nothing starts then). A TensorBoard log folder set in the run
        panel gets the run's logs in a new ``FOLDER/<run name>``."""
        architecture = self.state.architecture
        problems = architecture.problems()
        if problems:
            return "the architecture is invalid: " + "; ".join(map(str, problems))
        try:
            config = self.run_panel.config()
        except ConfigError as error:
            return str(error)
        panel = self.run_panel
        plan = RunRecord(
            self.state.next_run_name(),
            architecture,
            panel.current_regime(),
            config,
            panel.dataset_source(),
        )
        return self._start_logged(plan, device)

    def _start_logged(
        self, plan: RunRecord, device: str | None, continuation: Continuation | None = None
    ) -> str | None:
        """Start ``plan``, logging to TensorBoard when the run panel names a folder; an error
        message when that folder cannot be made (nothing starts then)."""
        tensorboard_dir = None
        if root := self.run_panel.tensorboard_folder():
            try:
                tensorboard_dir = str(run_log_dir(root, plan.name))
            except WriteError as error:
                return str(error)
        self.start(plan, device, tensorboard_dir, continuation)
        if tensorboard_dir is not None:
            self.show_message(
                f"{plan.name} also logs to TensorBoard in {tensorboard_dir} "
                f"(see them with: tensorboard --logdir {root})",
                "info",
            )
        return None

    def continue_run(
        self, run: LabRun, regime: str, epochs: int, device: str | None
    ) -> str | None:
        """Train ``run``'s model ``epochs`` more epochs as ``regime`` with the run panel's other
        settings and data set; a message saying why when it cannot (nothing starts then)."""
        from spectral_core.continuation import continuation_regimes

        if self.state.is_training:
            return f"cannot continue {run.name}: a run is going (one run at a time); stop it or wait"
        if run.model is None:
            return (
                f"cannot continue {run.name}: it has no trained model "
                "(its session kept no weights, or they are still being rebuilt)"
            )
        allowed = continuation_regimes(run.regime)
        if regime not in allowed:
            return f"regime: {run.name} ({run.regime}) can continue as {', '.join(allowed)}, got {regime!r}"
        try:
            config = replace(self.run_panel.config(), epochs=epochs).validate()
        except ConfigError as error:
            return str(error)
        plan = RunRecord(
            self.state.next_run_name(),
            run.architecture,
            regime,
            config,
            self.run_panel.dataset_source(),
            continued_from=run.name,
        )
        origin = Continuation(run.name, run.model, run.regime, run.record.last_epoch)
        return self._start_logged(plan, device, origin)

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        control = self.job.control
        if control.paused:
            control.resume()
            self.state.set_status("training")
            self._show_state("resuming…")
        else:
            control.pause()
            self.state.set_status("paused")
            self._show_state("paused after the current batch · press Resume")

    def stop(self) -> None:
        if self.job is None:
            return
        self.job.control.stop()
        self.state.set_status("stopping")
        self._show_state("stopping after the current batch…")

    def shutdown(self) -> None:
        """Stop a run after its current batch and wait for it (closing the window)."""
        if self.job is not None:
            self.job.control.stop()
        self.runner.wait()
        self.redraw_timer.stop()

    # -- redraws ------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Redraw the visible view from the job's latest snapshot (the timer calls this)."""
        job = self.job
        if job is None:
            return
        version, snapshot = job.latest()
        if snapshot is None or (version == self._last_version and not force):
            return
        self._last_version = version
        control = job.control
        if snapshot.kind != "end" and not control.paused and not control.stop_requested:
            self.views.guard.call(
                "progress",
                self.run_panel.show_progress,
                snapshot.epoch + 1,
                snapshot.epochs,
                snapshot.batch,
                snapshot.batches_per_epoch,
                snapshot.progress,
                snapshot.elapsed,
            )
        self.views.draw_latest(self.tabs.currentWidget(), snapshot, job.batch_points())

    def _show_state(self, text: str, value: int | None = None) -> None:
        self.views.guard.call("progress", self.run_panel.show_state, text, value)

    # -- the job's reports (GUI thread) -------------------------------------------------------
    def _on_partial(self, item: tuple[str, Any]) -> None:
        kind, value = item
        if kind == "dataset" and self.job is not None:
            self.status_label.setText(f"{self.job.plan.name}: training on {value}")
        elif kind == "warning":
            self.show_message(value, "warning")
        elif kind == "end":
            self.trainingEnded.emit(value)
            self._show_state(f"{value} · retracting and evaluating…")
        elif kind == "epoch" and self.job is not None:
            recorder = self.job.recorder  # its rows are numbered on for a continued run
            self.views.draw_epoch(value, recorder.history(), recorder.eigen_history())
            self.state.epoch_finished()
            self.epochFinished.emit()

    def _on_done(self, run: LabRun) -> None:
        # The run's life first (idle, listed, status, autosave via the state), then the views.
        self._on_finished()
        message = run.ended
        accuracy = (
            f"test accuracy {run.test_accuracy:.4f}" if math.isfinite(run.test_accuracy) else ""
        )
        self.status_label.setText(f"{run.name} {message}; {accuracy}")
        self._show_state(f"{run.name}: {message}", 1000)
        if run.record.diverged:
            self.show_message(message, "warning")
        self.state.add_run(run)
        self.runFinished.emit(run)

    def _on_failed(self, message: str) -> None:
        self._on_finished()
        self.show_message(message, "error")
        self.views.guard.call("loss and accuracy", self.views.metrics.set_epoch_span, None)
        self._show_state("failed", 0)
        self.views.show_run(self.state.current)  # a failed start cleared the plots
        self.status_label.setText(
            "The run failed; nothing was lost: fix the cause and train again."
        )

    def _on_finished(self) -> None:
        """Always, once per run (success, failure or cancel): back to idle."""
        if self.job is None:
            return
        self.redraw_timer.stop()
        self.job = None
        self.state.checkpoint = None
        self.state.set_status("idle")
