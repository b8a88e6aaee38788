"""Undoable commands on the lab state and the one command stack: tested through the model,
without a QApplication; one window test drives Ctrl+Z and Ctrl+Shift+Z."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app.commands import Command, CommandStack, Prune, SetArchitecture, SetRetracted
from app.lab_state import LabRun, LabState, PruningTarget
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.record import RunRecord

TINY = Architecture("state", 16, (LayerSpec(8, "linear", telescopic=True), LayerSpec(4, "softmax")))
WIDER = replace(TINY, layers=(LayerSpec(8, "linear", True), LayerSpec(6, "relu"), LayerSpec(4, "softmax")))


@pytest.fixture
def lab() -> tuple[LabState, CommandStack, list[tuple[str, object]]]:
    state, stack = LabState(TINY), CommandStack()
    events: list[tuple[str, object]] = []
    state.subscribe(lambda event, value: events.append((event, value)))
    return state, stack, events


def run_with_compact(state: LabState, name: str = "run 1") -> LabRun:
    run = LabRun(RunRecord(name, TINY, "lambda", TrainingConfig(epochs=2), "synthetic"))
    run.model, run.compact = object(), object()
    state.add_run(run)
    return run


def test_importing_the_commands_imports_no_qt() -> None:
    code = "import sys, app.commands; print(any(m.startswith('PySide6') for m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_an_architecture_edit_undoes_and_redoes_exactly(lab) -> None:
    state, stack, events = lab
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    assert state.architecture == WIDER and events[-1] == ("architecture", WIDER)
    stack.undo()
    assert state.architecture == TINY and events[-1] == ("architecture", TINY)
    stack.redo()
    assert state.architecture == WIDER
    assert stack.count == 1 and stack.index == 1


def test_the_stack_names_the_next_undo_and_redo(lab) -> None:
    state, stack, _ = lab
    assert not stack.can_undo() and not stack.can_redo()
    assert stack.undo_text() == "" and stack.redo_text() == ""
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    stack.push(SetArchitecture(state, replace(WIDER, input_units=20), "Set input units to 20"))
    assert stack.undo_text() == "Set input units to 20" and not stack.can_redo()
    stack.undo()
    assert stack.undo_text() == "Insert layer 2"
    assert stack.redo_text() == "Set input units to 20" and stack.can_redo()
    # A new command drops what could be redone.
    stack.push(SetArchitecture(state, TINY, "Remove layer 2"))
    assert stack.redo_text() == "" and stack.count == 2
    stack.undo()
    stack.undo()
    assert state.architecture == TINY and not stack.can_undo()
    assert stack.command(0).text == "Insert layer 2"
    with pytest.raises(IndexError, match="position: must be from 0 to 1"):
        stack.command(2)


def test_retract_undoes_to_the_trained_model(lab) -> None:
    state, stack, events = lab
    run = run_with_compact(state)
    stack.push(SetRetracted(state, run))
    assert run.retracted and run.active_model is run.compact
    assert stack.undo_text() == "Retract run 1" and events[-1] == ("run_changed", run)
    stack.undo()
    assert not run.retracted and run.active_model is run.model
    stack.redo()
    assert run.retracted


def test_a_run_without_a_compact_model_cannot_be_retracted(lab) -> None:
    state, stack, _ = lab
    run = run_with_compact(state)
    run.compact = None
    with pytest.raises(ValueError, match="retract it first"):
        stack.push(SetRetracted(state, run))
    assert stack.count == 0 and not run.retracted


def test_steps_with_one_merge_key_are_one_undo_step(lab) -> None:
    state, stack, _ = lab
    for units in (17, 18, 19):
        text = f"Set input units to {units}"
        stack.push(SetArchitecture(state, replace(state.architecture, input_units=units), text, "input"))
    assert stack.count == 1 and stack.undo_text() == "Set input units to 19"
    stack.undo()
    assert state.architecture == TINY
    stack.redo()
    # Stepping back to where it started leaves nothing to undo.
    stack.push(SetArchitecture(state, TINY, "Set input units to 16", "input"))
    assert stack.count == 0 and not stack.can_undo()
    # Different keys (or none) never merge.
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    stack.push(SetArchitecture(state, TINY, "Remove layer 2"))
    assert stack.count == 2


def test_the_clean_state_follows_save_points(lab) -> None:
    state, stack, _ = lab
    assert stack.is_clean()
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    assert not stack.is_clean()
    stack.set_clean()
    assert stack.is_clean()
    stack.undo()
    assert not stack.is_clean()
    stack.redo()
    assert stack.is_clean()
    stack.undo()
    stack.push(SetArchitecture(state, replace(TINY, input_units=3), "Set input units to 3"))
    stack.undo()
    stack.redo()
    assert not stack.is_clean()  # the saved state is gone from the history
    stack.clear()
    assert stack.is_clean() and stack.count == 0 and not stack.can_undo()


def test_a_locked_stack_neither_undoes_nor_redoes(lab) -> None:
    state, stack, _ = lab
    changes: list[bool] = []
    stack.subscribe(lambda: changes.append(stack.can_undo()))
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    stack.set_locked(True)
    assert stack.locked and not stack.can_undo() and changes == [True, False]
    stack.undo()
    assert state.architecture == WIDER
    stack.set_locked(False)
    stack.undo()
    assert state.architecture == TINY and changes[-1] is False and stack.can_redo()


def test_listeners_hear_every_change_and_a_broken_one_breaks_nothing(lab) -> None:
    state, stack, _ = lab
    heard: list[str] = []

    def broken() -> None:
        raise RuntimeError("a deleted menu")

    stack.subscribe(broken)
    unsubscribe = stack.subscribe(lambda: heard.append(stack.undo_text()))
    stack.push(SetArchitecture(state, WIDER, "Insert layer 2"))
    stack.undo()
    stack.redo()
    assert heard == ["Insert layer 2", "", "Insert layer 2"]
    unsubscribe()
    stack.undo()
    assert len(heard) == 3 and state.architecture == TINY


def test_the_oldest_commands_go_beyond_the_limit(lab) -> None:
    state, _, _ = lab
    stack = CommandStack(limit=2)
    for units in (1, 2, 3):
        stack.push(SetArchitecture(state, replace(TINY, input_units=units), f"units {units}"))
    assert stack.count == 2 and stack.command(0).text == "units 2"
    stack.undo()
    stack.undo()
    assert state.architecture.input_units == 1 and not stack.can_undo()
    with pytest.raises(ValueError, match="limit: must be at least 1"):
        CommandStack(limit=0)


def test_a_failing_command_is_not_kept(lab) -> None:
    _, stack, _ = lab

    class Failing(Command):
        text = "fail"

        def do(self) -> None:
            raise OSError("disk gone")

        def undo(self) -> None:  # never reached: do failed
            raise AssertionError("undo of a command that was not done")

    with pytest.raises(OSError):
        stack.push(Failing())
    assert stack.count == 0
    with pytest.raises(TypeError, match="architecture: must be an Architecture"):
        SetArchitecture(LabState(TINY), "tiny", "bad")  # type: ignore[arg-type]


def test_prune_swaps_the_network_and_does_nothing_once_another_arrived(lab) -> None:
    state, stack, events = lab
    with pytest.raises(ValueError, match="pruning: there is no network"):
        Prune(state, PruningTarget(object(), TINY, None, "x"))
    original = PruningTarget(object(), WIDER, None)
    state.set_pruning(original)
    pruned = PruningTarget(object(), TINY, None, "2 nodes by eigenvalue (global)")
    stack.push(Prune(state, pruned))
    assert state.pruning is pruned and events[-1] == ("pruning", pruned)
    assert stack.undo_text() == "Prune 2 nodes by eigenvalue (global)"
    stack.undo()
    assert state.pruning is original
    stack.redo()
    newer = PruningTarget(object(), WIDER, None)
    state.set_pruning(newer)  # a new run's model
    stack.undo()
    assert state.pruning is newer


# == in the window ===============================================================================
def test_ctrl_z_in_the_window_undoes_an_editor_edit(qtbot, tmp_path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, Qt

    from app.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts go to the active window
    before = window.state.architecture
    qtbot.mouseClick(window.editor.add_button, Qt.MouseButton.LeftButton)
    after = window.state.architecture
    assert len(after.layers) == len(before.layers) + 1
    assert window.undo_action.isEnabled() and window.undo_action.text() == (
        f"&Undo Insert layer {len(before.layers)}"
    )
    window.editor.view.setFocus()
    qtbot.keyClick(window.editor.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.state.architecture == before and window.editor.architecture() == before
    assert window.redo_action.isEnabled() and not window.undo_action.isEnabled()
    qtbot.keyClick(
        window.editor.view,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.state.architecture == after
    assert window.editor.table_model.rowCount() == len(after.layers)
    # QTest's last modifier release still carries Shift, and Qt keeps it as the application's
    # modifier state: a later test's setCurrentItem would extend a selection instead of moving.
    qtbot.keyRelease(window.editor.view, Qt.Key.Key_Shift)
    # Saving marks the state clean; opening a session starts a new history.
    assert not window.commands.is_clean()
    assert window.save_session(tmp_path / "edited.spectral")
    assert window.commands.is_clean() and window.commands.can_undo()
    from spectral_core.session import Session

    window.restore_session(Session(TINY, "lambda", TrainingConfig(), "mnist", []))
    assert window.editor.architecture() == TINY and window.editor.table_model.rowCount() == 2
    assert window.commands.count == 0 and not window.undo_action.isEnabled()
    assert window.undo_action.text() == "&Undo"
