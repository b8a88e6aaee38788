"""A run's models: rebuilt from a session's weights, retracted (an undoable command on the lab
state) and compared with the compact model on the test set (a background task)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from app.commands import CommandStack, SetRetracted
from app.lab_state import LabRun, LabState
from app.tasks import TaskRunner, TaskState


def rebuild_model(run: LabRun) -> str | None:
    """Give a restored run its Keras model from its record's weights (TensorFlow must be loaded).

    Its compact model is rebuilt too when the run was closed retracted. Returns an error
    message when the weights do not fit the architecture, else None.
    """
    if run.record.weights is None or run.model is not None:
        return None
    from spectral_core.build import build_model

    try:
        model = build_model(run.architecture, run.regime, seed=run.config.seed)
        model.set_weights(run.record.weights)
    except ValueError as error:
        return f"{run.name}: its saved weights do not fit its architecture ({error})"
    run.model, run.record.weights = model, None
    if run.retracted:
        ensure_compact(run)
    return None


def rebuild_models(state: LabState) -> list[str]:
    """Rebuild every run of ``state`` that has weights but no model yet; returns the errors."""
    errors = []
    for run in state.runs:
        if run.model is None and run.record.weights is not None:
            error = rebuild_model(run)
            if error:
                errors.append(error)
            else:
                state.run_changed(run)
    return errors


def ensure_compact(run: LabRun) -> None:
    """Give ``run`` its compact model (runs restored from a session lack it)."""
    if run.compact is not None:
        return
    from spectral_core.retraction import retract
    from spectral_core.runs import telescopic_flags

    if run.model is None:
        raise ValueError(f"{run.name}: no trained weights to retract (the session file has none)")
    run.compact = retract(run.model, telescopic_flags(run.architecture))


def compare_on_test_set(
    _state: TaskState, model: Any, architecture: Any, dataset: Any, source: str
) -> tuple[Any, Any, Any]:
    """Task function: the compact model of ``model`` and its comparison on the test set.

    Returns (compact, report, dataset); the data set is loaded when ``dataset`` is None.
    """
    from spectral_core.retraction import retract
    from spectral_core.runs import compare_retraction, telescopic_flags

    if dataset is None:
        from app.worker import DATASETS

        dataset = DATASETS.load(source)  # DataError names the file
    compact = retract(model, telescopic_flags(architecture))
    report = compare_retraction(model, compact, dataset.x_test, dataset.y_test)
    return compact, report, dataset


def describe_report(run: LabRun) -> str:
    """What the window shows after retraction: counts, accuracies, largest output difference."""
    report = run.report
    widths = " → ".join(map(str, run.architecture.widths))
    compact = " → ".join(map(str, run.architecture.retracted().widths))
    return (
        f"<b>{run.name}</b> retracted: {widths} became {compact}<br>"
        f"parameters: {report.total_before:,} total ({report.trainable_before:,} trainable) "
        f"→ {report.total_after:,}<br>"
        f"test accuracy: {report.accuracy_before:.4f} → {report.accuracy_after:.4f}<br>"
        f"largest output difference: {report.max_abs_difference:.2e}"
    )


class Retraction:
    """Retracts runs of ``state``: the comparison runs as a background task, then an undoable
    :class:`app.commands.SetRetracted` on ``commands`` makes the compact model active."""

    def __init__(
        self,
        state: LabState,
        commands: CommandStack,
        show_state: Callable[..., None],
        show_error: Callable[[str], None],
        parent: QObject,
    ) -> None:
        self.state = state
        self.commands = commands
        self.show_state = show_state
        self.show_error = show_error
        self.runner = TaskRunner("retraction", show_error, parent=parent)

    def retract(self, run: LabRun) -> None:
        if run.model is None:
            self.show_error(
                f"{run.name}: no trained weights to retract (the session file has none)"
            )
            return
        if run.compact is not None and run.report is not None:
            self.commands.push(SetRetracted(self.state, run))
            return
        self.show_state(f"retracting {run.name} and comparing on the test set…")

        def done(result: tuple[Any, Any, Any]) -> None:
            run.compact, run.record.report, run.dataset = result
            self.show_state(f"{run.name} retracted", 1000)
            self.commands.push(SetRetracted(self.state, run))

        self.runner.start(
            compare_on_test_set,
            run.model,
            run.architecture,
            run.dataset,
            run.dataset_source,
            on_done=done,
        )
