"""Keeps the lab state's architecture and training settings in step with the editor and the run
panel: widget edits go into the state, a state set from a file goes into the widgets."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.editor import ArchitectureEditor
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
    """The editor's architecture and the run panel's settings, mirrored into ``state``."""

    def __init__(self, state: LabState, editor: ArchitectureEditor, run_panel: RunPanel) -> None:
        self.state = state
        self.editor = editor
        self.run_panel = run_panel
        self._pushing = False  # True while the state is written into the widgets
        editor.architectureChanged.connect(state.set_architecture)
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
        """Show ``session``'s architecture and settings in the widgets."""
        self._pushing = True
        try:
            self.editor.set_architecture(session.architecture)
            self.run_panel.set_regime(session.regime)
            self.run_panel.set_config(session.config)
            self.run_panel.set_dataset_source(session.dataset)
        finally:
            self._pushing = False

    def _on_state(self, event: str, value: Any) -> None:
        if event == "architecture":
            if self.editor.architecture() != value:
                self.editor.set_architecture(value)  # e.g. opened from an architecture file
            if not value.problems():
                self.run_panel.set_auto_learning_rate(default_learning_rate(value))
