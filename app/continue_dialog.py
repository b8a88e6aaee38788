"""Run ▸ Continue training…: the small dialog that asks how to continue a run.

It offers the regimes the library allows for the run's regime
(:func:`spectral_core.continuation.continuation_regimes`, the run's own first) and a number of
epochs; the training controller does the rest. Tests answer it by replacing
:func:`ask_continuation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from app.lab_state import LabRun
from spectral_core.config import LIMITS
from spectral_core.regimes import PAPER_NAMES

MAX_EPOCHS = int(LIMITS["epochs"]["le"])


class ContinueDialog(QDialog):
    """Choose the regime and the number of epochs to continue ``run`` with."""

    def __init__(
        self,
        run: LabRun,
        regimes: tuple[str, ...],
        epochs: int,
        dataset: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Continue {run.name}")
        self.regime = QComboBox()
        for regime in regimes:
            self.regime.addItem(f"{PAPER_NAMES[regime]} — {regime}", regime)
        self.regime.setToolTip(
            "Same regime, or another that starts from the same function: Train Λ → Train Λ, Φ "
            "(φ unlocked) or → Unconstrained NN (the effective dense weights)"
        )
        self.epochs = QSpinBox()
        self.epochs.setRange(1, MAX_EPOCHS)
        self.epochs.setValue(max(1, min(epochs, MAX_EPOCHS)))
        self.epochs.setToolTip("How many more epochs; they are numbered on from the run's last")
        intro = QLabel(
            f"<b>{run.name}</b> ({PAPER_NAMES[run.regime]}) ended after epoch "
            f"{run.record.last_epoch}. The new run starts from its weights and uses the run "
            f"panel's other settings, on {Path(dataset).name or dataset}."
        )
        intro.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Continue")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(intro)
        form.addRow("Regime", self.regime)
        form.addRow("More epochs", self.epochs)
        form.addRow(buttons)

    def choice(self) -> tuple[str, int]:
        """(regime, epochs) as chosen."""
        return str(self.regime.currentData()), int(self.epochs.value())


def ask_continuation(
    parent: QWidget, run: LabRun, regimes: tuple[str, ...], epochs: int, dataset: str
) -> tuple[str, int] | None:
    """Show the dialog; (regime, epochs) when the user continues, None when cancelled."""
    dialog = ContinueDialog(run, regimes, epochs, dataset, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.choice()


def continue_current_run(window: Any) -> None:
    """Run ▸ Continue training…: the current run of ``window`` (a MainWindow), more epochs
    from its weights, in its regime or another the library allows (asked in the dialog);
    refused with a message in the banner when a run is going or the run has no model."""
    from spectral_core.continuation import continuation_regimes

    run = window.state.current
    if run is None:
        return window.show_error("select a run in the runs list to continue it")
    if window.is_training:
        return window.show_error(
            f"cannot continue {run.name}: a run is going (one run at a time); stop it or wait"
        )
    if not window.tensorflow_ready:
        return window.show_error("TensorFlow is still loading; continue when it is ready")
    if run.model is None:
        return window.show_error(
            f"cannot continue {run.name}: it has no trained model "
            "(its session kept no weights, or they are still being rebuilt)"
        )
    answer = ask_continuation(
        window,
        run,
        continuation_regimes(run.regime),
        window.run_panel.epochs.value(),
        window.run_panel.dataset_source(),
    )
    if answer is None:
        return None
    window.message_bar.dismiss()
    regime, epochs = answer
    error = window.training.continue_run(run, regime, epochs, window.selected_device())
    if error is not None:
        window.show_error(error)
    return None
