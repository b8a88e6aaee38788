"""Keeps the lab state's training settings in step with the run panel: widget edits go into the
state, settings from a file go into the widgets. (The architecture editor renders the state's
architecture itself and edits it through commands, see app.commands.)"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.lab_state import LabState
from app.run_panel import RunPanel
from spectral_core.config import ConfigError
from spectral_core.regimes import default_learning_rate
from spectral_core.session import Session

# Every kind of setting widget the run panel shows, with its change signal.
WATCHED = (
    (QSpinBox, "valueChanged"),
    (QDoubleSpinBox, "valueChanged"),
    (QComboBox, "currentIndexChanged"),
    (QLineEdit, "textChanged"),
    (QAbstractButton, "toggled"),
)


class SettingsBinding:
    """The run panel's settings mirrored into ``state``; the architecture's default learning
    rate shown in the run panel."""

    def __init__(self, state: LabState, run_panel: RunPanel) -> None:
        self.state = state
        self.run_panel = run_panel
        self._pushing = False  # True while the state is written into the widgets
        for kind, signal in WATCHED:
            for widget in run_panel.findChildren(kind):
                getattr(widget, signal).connect(self.sync)
        state.subscribe(self._on_state)
        self._on_state("architecture", state.architecture)

    def sync(self, *_args: Any) -> None:
        """The run panel's settings into the state (an invalid setting keeps the last valid)."""
        if self._pushing:
            return
        try:
            config = self.run_panel.config()
        except ConfigError:
            config = None
        panel = self.run_panel
        self.state.set_settings(panel.current_regime(), config, panel.dataset_source())

    def push(self, session: Session) -> None:
        """Show ``session``'s settings in the widgets (the editor follows the state)."""
        self._pushing = True
        try:
            self.run_panel.set_regime(session.regime)
            self.run_panel.set_config(session.config)
            self.run_panel.set_dataset_source(session.dataset)
        finally:
            self._pushing = False

    def _on_state(self, event: str, value: Any) -> None:
        if event == "architecture":
            if not value.problems():
                self.run_panel.set_auto_learning_rate(default_learning_rate(value))
