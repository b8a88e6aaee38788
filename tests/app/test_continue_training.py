"""Run ▸ Continue training…: a finished, stopped or recovered run trains more epochs from its
weights, in its regime or another; the runs list shows the lineage, the epochs are numbered on
and the metrics plot draws the parent's epochs before the child's; sessions keep the lineage;
refusals say why. (That the continued model starts from the parent's function is covered by
tests/core/test_continuation.py.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from app import continue_dialog
from app.continue_dialog import ContinueDialog
from app.lab_state import LabRun, LabState
from app.main_window import MainWindow
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.data import load_npz
from spectral_core.record import RunRecord, RunRecorder
from spectral_core.session import Session

STACK = Architecture(
    "continue", 784, (LayerSpec(12, "linear", telescopic=True), LayerSpec(10, "softmax"))
)
PARENT_EPOCHS = 3


@pytest.fixture(scope="module")
def parent(tiny_npz: Path) -> LabRun:
    """A finished Train Λ run of 3 epochs, as its training job returns it."""
    from spectral_core.runs import run_training

    dataset = load_npz(tiny_npz)
    recorder = RunRecorder()
    config = TrainingConfig(epochs=PARENT_EPOCHS, batch_size=30, snapshot_interval=0.0, seed=0)
    outcome = run_training(STACK, "lambda", dataset, config, observers=[recorder])
    record = outcome.to_record("run 1", str(tiny_npz), recorder)
    return LabRun(record, model=outcome.model, compact=outcome.compact, dataset=dataset)


def new_window(qtbot, settings: Path, data: Path) -> MainWindow:
    window = MainWindow(settings=QSettings(str(settings), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.editor.set_architecture(STACK)
    window.run_panel.set_dataset_source(str(data))
    window.run_panel.batch_size.setValue(30)
    return window


def with_parent(qtbot, tmp_path: Path, parent: LabRun, data: Path, monkeypatch) -> MainWindow:
    """A window holding a copy of the finished parent run, one snapshot per batch."""
    window = new_window(qtbot, tmp_path / "settings.ini", data)
    original = window.run_panel.config
    monkeypatch.setattr(
        window.run_panel, "config", lambda: replace(original(), snapshot_interval=0.0)
    )
    window.training._on_done(LabRun(replace(parent.record), parent.model, parent.compact, parent.dataset))
    return window


def answer(monkeypatch, regime: str, epochs: int) -> list[dict[str, Any]]:
    """Answer the Continue dialog with (regime, epochs); returns what it was asked."""
    asked: list[dict[str, Any]] = []

    def fake(_parent, run, regimes, default_epochs, dataset):
        asked.append({"run": run.name, "regimes": regimes, "epochs": default_epochs, "dataset": dataset})
        return regime, epochs

    monkeypatch.setattr(continue_dialog, "ask_continuation", fake)
    return asked


def never_asked(monkeypatch) -> None:
    def fake(*_args):
        raise AssertionError("a refused continuation must not open the dialog")

    monkeypatch.setattr(continue_dialog, "ask_continuation", fake)


def continue_from_menu(qtbot, window: MainWindow) -> LabRun:
    assert window.continue_training_action.isEnabled()
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.continue_training_action.trigger()
        assert window.is_training, window.message_bar.text()
        # Live, the parent's epochs are drawn at once and the x axis spans them and the new ones.
        parent = window.state.run_named(window.worker.plan.continued_from)
        lineage = window.metrics_panel.lineage_curves["epoch_loss"]
        assert curve_x(lineage)[-1] == parent.record.last_epoch
        x_range = window.metrics_panel.loss_plot.getViewBox().viewRange()[0]
        assert x_range[1] >= parent.record.last_epoch + window.worker.plan.config.epochs
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    return window.current_entry()


def curve_x(item) -> list[float]:
    x, _ = item.getOriginalDataset()
    return [] if x is None else [float(value) for value in x]


@pytest.mark.parametrize("regime", ["lambda-phi", "direct-full"])
def test_a_finished_run_continues_in_another_regime_with_joined_epochs(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch, regime: str
) -> None:
    window = with_parent(qtbot, tmp_path, parent, tiny_npz, monkeypatch)
    asked = answer(monkeypatch, regime, 2)
    child = continue_from_menu(qtbot, window)

    assert asked[0]["run"] == "run 1"
    assert asked[0]["regimes"] == ("lambda", "lambda-phi", "direct-full")
    assert asked[0]["dataset"] == str(tiny_npz)
    first, second = window.runs_list.entries()
    assert second is child and first.record.continued_from == ""
    assert child.regime == regime and child.record.continued_from == "run 1"
    assert child.model is not None and child.model is not first.model
    tree = window.runs_list.tree
    assert tree.topLevelItem(1).text(0) == "run 2 ← run 1"
    assert tree.topLevelItem(1).text(3) == "2 (4–5)"
    assert tree.topLevelItem(0).text(0) == "run 1"
    # Epochs numbered on from the parent's, live batches and the spectrum's labels too.
    assert [row["epoch"] for row in child.history] == [4.0, 5.0]
    assert child.record.last_epoch == PARENT_EPOCHS + 2
    assert len(child.batch_points) >= 2
    assert child.batch_points[:, 0].min() >= PARENT_EPOCHS
    assert child.batch_points[:, 0].max() <= PARENT_EPOCHS + 2
    if regime == "lambda-phi":
        assert child.record.eigen_history[0][0] == "start (after epoch 3)"
        assert child.record.eigen_history[-1][0] == "after epoch 5"
    # The metrics plot draws the parent's epochs, then the child's.
    metrics = window.metrics_panel
    assert curve_x(metrics.curves["epoch_loss"]) == [4.0, 5.0]
    assert curve_x(metrics.lineage_curves["epoch_loss"]) == [1.0, 2.0, 3.0]
    _, parent_losses = metrics.lineage_curves["epoch_loss"].getOriginalDataset()
    np.testing.assert_array_equal(parent_losses, [row["loss"] for row in parent.history])
    assert "run 1 (continued) · train loss" in metrics.legend_names("loss")
    assert "run 1 (continued) · validation accuracy" in metrics.legend_names("accuracy")
    assert "Continued from run 1: epochs 4–5" in window.result_label.text()
    # The parent, made current again, has no lineage curves.
    tree.setCurrentItem(tree.topLevelItem(0))
    assert metrics.lineage_curves == {}
    assert curve_x(metrics.curves["epoch_loss"]) == [1.0, 2.0, 3.0]


def test_lineage_survives_save_and_open(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch
) -> None:
    window = with_parent(qtbot, tmp_path, parent, tiny_npz, monkeypatch)
    answer(monkeypatch, "lambda", 1)
    child = continue_from_menu(qtbot, window)
    assert child.record.continued_from == "run 1"
    shown_before = window.runs_list.tree.topLevelItem(1).text(0)
    path = tmp_path / "lab.spectral"
    assert window.save_session(path), window.message_bar.text()
    window.close()

    reopened = new_window(qtbot, tmp_path / "second.ini", tiny_npz)
    assert reopened.open_file(path), reopened.message_bar.text()
    first, second = reopened.runs_list.entries()
    assert second.record.continued_from == "run 1" and first.record.continued_from == ""
    assert reopened.runs_list.tree.topLevelItem(1).text(0) == shown_before == "run 2 ← run 1"
    assert [row["epoch"] for row in second.history] == [4.0]
    assert reopened.current_entry() is second
    assert curve_x(reopened.metrics_panel.lineage_curves["epoch_loss"]) == [1.0, 2.0, 3.0]
    assert curve_x(reopened.metrics_panel.curves["epoch_loss"]) == [4.0]
    # The reopened child (its model rebuilt from the session's weights) continues again.
    answer(monkeypatch, "direct-full", 1)
    grandchild = continue_from_menu(qtbot, reopened)
    assert reopened.runs_list.tree.topLevelItem(2).text(0) == "run 3 ← run 2"
    assert [row["epoch"] for row in grandchild.history] == [5.0]
    assert curve_x(reopened.metrics_panel.lineage_curves["epoch_loss"]) == [1.0, 2.0, 3.0, 4.0]
    assert "run 2 ← run 1 (continued) · train loss" in reopened.metrics_panel.legend_names("loss")


def test_a_recovered_run_continues_once_its_model_is_rebuilt(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch
) -> None:
    record = replace(
        parent.record, test_accuracy=float("nan"), test_loss=float("nan"), report=None,
        weights=parent.model.get_weights(), ended="interrupted after epoch 3 of 9",
    )
    window = new_window(qtbot, tmp_path / "recovered.ini", tiny_npz)
    window.restore_session(Session(STACK, "lambda", TrainingConfig(), record.dataset, [record]))
    (run,) = window.runs_list.entries()
    assert run.model is not None
    answer(monkeypatch, "lambda", 1)
    child = continue_from_menu(qtbot, window)
    assert child.regime == "lambda" and child.record.continued_from == "run 1"
    assert [row["epoch"] for row in child.history] == [4.0]


def test_a_run_without_a_model_is_refused_with_a_reason(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch
) -> None:
    window = new_window(qtbot, tmp_path / "no-model.ini", tiny_npz)
    record = replace(parent.record, weights=None)  # a session saved without weights
    window.restore_session(Session(STACK, "lambda", TrainingConfig(), record.dataset, [record]))
    (run,) = window.runs_list.entries()
    assert run.model is None and window.current_entry() is run
    assert not window.continue_training_action.isEnabled()
    never_asked(monkeypatch)
    window.continue_training()
    assert "cannot continue run 1: it has no trained model" in window.message_bar.text()
    assert not window.is_training and len(window.runs_list.entries()) == 1


def test_continuing_while_a_run_trains_is_refused_with_a_reason(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch
) -> None:
    window = with_parent(qtbot, tmp_path, parent, tiny_npz, monkeypatch)
    window.run_panel.epochs.setValue(500)
    window.train_action.trigger()
    assert window.is_training
    assert not window.continue_training_action.isEnabled()
    never_asked(monkeypatch)
    window.continue_training()
    assert "cannot continue run 1: a run is going" in window.message_bar.text()
    # The controller refuses too (e.g. a script calling it directly).
    message = window.training.continue_run(parent, "lambda", 1, None)
    assert message is not None and "a run is going" in message
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.stop_action.trigger()
    assert [run.name for run in window.runs_list.entries()] == ["run 1", "run 2"]
    assert window.runs_list.entries()[1].record.continued_from == ""


def test_a_regime_the_run_cannot_continue_in_is_refused_by_name(
    qtbot, tmp_path: Path, parent: LabRun, tiny_npz: Path, monkeypatch
) -> None:
    window = with_parent(qtbot, tmp_path, parent, tiny_npz, monkeypatch)
    message = window.training.continue_run(window.current_entry(), "direct-subset", 1, None)
    assert message == (
        "regime: run 1 (lambda) can continue as lambda, lambda-phi, direct-full, got 'direct-subset'"
    )
    assert not window.is_training
    # Cancelling the dialog starts nothing.
    monkeypatch.setattr(continue_dialog, "ask_continuation", lambda *_args: None)
    assert window.continue_training_action.isEnabled()
    window.continue_training_action.trigger()
    assert not window.is_training and len(window.runs_list.entries()) == 1


def test_the_dialog_offers_the_allowed_regimes_own_first(qtbot, parent: LabRun) -> None:
    dialog = ContinueDialog(parent, ("lambda", "lambda-phi", "direct-full"), 7, "/data/digits.npz")
    qtbot.addWidget(dialog)
    assert [dialog.regime.itemData(i) for i in range(dialog.regime.count())] == [
        "lambda", "lambda-phi", "direct-full",
    ]
    assert dialog.regime.itemText(1) == "Train Λ, Φ (spectral extended) — lambda-phi"
    assert dialog.choice() == ("lambda", 7)
    dialog.regime.setCurrentIndex(2)
    dialog.epochs.setValue(4)
    assert dialog.choice() == ("direct-full", 4)
    assert dialog.windowTitle() == "Continue run 1"
    intro = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "ended after epoch 3" in intro and "digits.npz" in intro


def test_lineage_follows_parent_names_oldest_first_and_stops_at_loops() -> None:
    def record(name: str, parent: str = "") -> RunRecord:
        return RunRecord(name, STACK, "lambda", TrainingConfig(), "mnist", continued_from=parent)

    state = LabState(STACK)
    for run in (record("run 1"), record("run 2", "run 1"), record("run 3", "run 2"),
                record("run 4", "gone"), record("run 5", "run 6"), record("run 6", "run 5")):
        state.add_run(LabRun(run))
    names = lambda rec: [run.name for run in state.lineage(rec)]  # noqa: E731
    assert names(state.runs[2].record) == ["run 1", "run 2"]
    assert names(state.runs[0].record) == []
    assert names(state.runs[3].record) == []  # its parent is not in this session
    assert names(state.runs[4].record) == ["run 6"]  # a hostile loop ends


def test_recorder_numbers_epochs_on_from_the_earlier_run() -> None:
    recorder = RunRecorder(epoch_offset=3)

    def snapshot(kind: str, epoch: int, batch: int = 0, metrics: dict | None = None) -> Any:
        return SimpleNamespace(kind=kind, epoch=epoch, batch=batch, batches_per_epoch=4,
                               metrics=metrics or {}, eigenvalues={})

    recorder(snapshot("epoch", 0))
    recorder(snapshot("batch", 0, 2, {"loss": 1.0, "accuracy": 0.5}))
    recorder(snapshot("epoch", 0, 4, {"epoch": 1.0, "loss": 1.0}))
    assert recorder.batch_points()[:, 0].tolist() == [3.5]
    assert recorder.history() == [{"epoch": 4.0, "loss": 1.0}]
    assert [label for label, _ in recorder.eigen_history()] == ["start (after epoch 3)", "after epoch 4"]
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="epoch_offset"):
            RunRecorder(epoch_offset=bad)


def test_worker_continues_and_its_checkpoint_is_numbered_on(parent: LabRun, tiny_npz: Path) -> None:
    """A continued run's autosave checkpoint (crash recovery) keeps the numbering and lineage."""
    from app.worker import Continuation, TrainingJob

    plan = RunRecord("run 2", STACK, "lambda-phi", TrainingConfig(epochs=2, batch_size=30),
                     str(tiny_npz), continued_from="run 1")
    trained = [np.array(weight) for weight in parent.model.get_weights()]
    job = TrainingJob(plan, continuation=Continuation("run 1", parent.model, "lambda", PARENT_EPOCHS))
    run = job()  # synchronously, on this thread
    assert [row["epoch"] for row in run.history] == [4.0, 5.0]
    assert run.record.continued_from == "run 1" and run.regime == "lambda-phi"
    checkpoint = job.checkpoint_record()
    assert [row["epoch"] for row in checkpoint.history] == [4.0, 5.0]
    assert checkpoint.continued_from == "run 1"
    # The parent's model is left as it was trained.
    for before, after in zip(trained, parent.model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
