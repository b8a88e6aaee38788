"""The lab state without Qt: events, runs, selection, retraction, status and sessions."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from app.lab_state import LabRun, LabState
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.record import RetractionReport, RunRecord
from spectral_core.session import Session

TINY = Architecture("state", 16, (LayerSpec(8, "linear", telescopic=True), LayerSpec(4, "softmax")))


def record(name: str, **changes) -> RunRecord:
    return RunRecord(name, TINY, "lambda", TrainingConfig(epochs=2), "synthetic", **changes)


@pytest.fixture
def state() -> tuple[LabState, list[tuple[str, object]]]:
    lab = LabState(TINY)
    events: list[tuple[str, object]] = []
    lab.subscribe(lambda event, value: events.append((event, value)))
    return lab, events


def test_importing_the_state_imports_no_qt() -> None:
    code = "import sys, app.lab_state; print(any(m.startswith('PySide6') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_changes_are_announced_once_and_only_when_they_change(state) -> None:
    lab, events = state
    lab.set_architecture(TINY)
    assert events == []
    wider = Architecture("wider", 16, (LayerSpec(9, "linear"), LayerSpec(4, "softmax")))
    lab.set_architecture(wider)
    lab.set_settings("lambda-phi", TrainingConfig(epochs=3), "data.npz")
    lab.set_settings("lambda-phi", None, "data.npz")  # an invalid panel value keeps the last
    assert events == [("architecture", wider), ("settings", None)]
    assert lab.config.epochs == 3
    with pytest.raises(ValueError, match="regime: must be one of lambda, lambda-phi"):
        lab.set_settings("fast", None, "x")


def test_runs_current_and_selection(state) -> None:
    lab, events = state
    first, second = LabRun(record("run 1")), LabRun(record("run 2"))
    lab.add_run(first)
    lab.add_run(second, make_current=False)
    assert lab.current is first and lab.next_run_name() == "run 3"
    lab.set_selection([first, second, LabRun(record("stranger"))])
    assert lab.selection == [first, second]
    assert [event for event, _ in events] == ["run_added", "current", "run_added", "selection"]
    with pytest.raises(ValueError, match="current: 'stranger' is not a run"):
        lab.set_current(LabRun(record("stranger")))


def test_a_failing_listener_neither_stops_the_others_nor_the_change(state) -> None:
    lab, events = state

    def broken(_event, _value):
        raise RuntimeError("a broken view")

    lab._listeners.insert(0, broken)
    lab.add_run(LabRun(record("run 1")))
    assert [event for event, _ in events] == ["run_added", "current"] and len(lab.runs) == 1


def test_retraction_needs_a_compact_model_and_fills_missing_test_accuracy(state) -> None:
    lab, events = state
    run = LabRun(record("recovered"))  # recovered mid-training: no test metrics
    lab.add_run(run)
    with pytest.raises(ValueError, match="retract it first"):
        lab.set_retracted(run, True)
    run.compact = object()
    run.record.report = RetractionReport(10, 20, 5, 0.8, 0.8, 1e-7, 2, 1)
    lab.set_retracted(run, True)
    assert run.retracted and run.test_accuracy == 0.8 and run.active_model is run.compact
    lab.set_retracted(run, False)
    assert not run.retracted and events[-1] == ("run_changed", run)


def test_status_and_session_round_trip(state) -> None:
    lab, events = state
    lab.set_status("training")
    assert lab.is_training
    with pytest.raises(ValueError, match="a run is going"):
        lab.from_session(Session(TINY, "lambda", TrainingConfig(), "mnist"))
    with pytest.raises(ValueError, match="status: must be one of idle, training"):
        lab.set_status("sleeping")
    lab.set_status("idle")
    weights = [np.ones((16, 8), np.float32)]
    lab.add_run(LabRun(record("run 1", weights=weights, test_accuracy=0.5)))
    session = lab.to_session()
    assert session.runs[0].weights is weights and lab.to_session(with_weights=False).runs[0].weights is None

    other = LabState(Architecture("other", 4, (LayerSpec(2, "softmax"),)))
    other.from_session(session)
    assert other.architecture == TINY and other.current.name == "run 1"
    assert other.current.record.weights is weights and other.current.model is None
    assert math.isclose(other.current.test_accuracy, 0.5)
