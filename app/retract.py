"""Retraction as an undoable command, and how its comparison reads in the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from app.runs_list import RunEntry


def ensure_compact(entry: RunEntry) -> None:
    """Give ``entry`` its compact model (runs restored from a session lack it)."""
    if entry.compact is not None:
        return
    from spectral_core.retraction import retract
    from spectral_core.runs import telescopic_flags

    if entry.model is None:
        raise ValueError(f"{entry.name}: no trained weights to retract (the session file has none)")
    entry.compact = retract(entry.model, telescopic_flags(entry.architecture))


def ensure_retraction(entry: RunEntry) -> None:
    """Give ``entry`` its compact model and the comparison on its test set."""
    ensure_compact(entry)
    if entry.report is not None:
        return
    from spectral_core.runs import compare_retraction

    if entry.dataset is None:
        from app.worker import DATASETS

        entry.dataset = DATASETS.load(entry.dataset_source)  # DataError names the file
    entry.report = compare_retraction(
        entry.model, entry.compact, entry.dataset.x_test, entry.dataset.y_test
    )


def describe_report(entry: RunEntry) -> str:
    """What the window shows after retraction: counts, accuracies, largest output difference."""
    report = entry.report
    widths = " → ".join(map(str, entry.architecture.widths))
    compact = " → ".join(map(str, entry.architecture.retracted().widths))
    return (
        f"<b>{entry.name}</b> retracted: {widths} became {compact}<br>"
        f"parameters: {report.total_before:,} total ({report.trainable_before:,} trainable) "
        f"→ {report.total_after:,}<br>"
        f"test accuracy: {report.accuracy_before:.4f} → {report.accuracy_after:.4f}<br>"
        f"largest output difference: {report.max_abs_difference:.2e}"
    )


class RetractCommand(QUndoCommand):
    """Swap a run's active model for its compact one; undo swaps back."""

    def __init__(self, entry: RunEntry, changed: Callable[[RunEntry], None]) -> None:
        super().__init__(f"Retract {entry.name}")
        self.entry = entry
        self.changed = changed

    def redo(self) -> None:
        self.entry.retracted = True
        self.changed(self.entry)

    def undo(self) -> None:
        self.entry.retracted = False
        self.changed(self.entry)
