"""Reopen = as closed: after save → open, and after autosave → crash recovery, every tab shows
for every run what it showed before — per-batch curves, the spectrum at every epoch of its
slider, the weight histograms over epochs, the compare-with list, the retracted state and its
report. Compared through every plot item's data arrays, not pixels."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QSlider

from app.autosave import Autosaver, offer_recovery
from app.lab_state import LabRun
from app.main_window import MainWindow
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.data import load_npz

STACK = Architecture(
    "reopen", 784,
    (LayerSpec(12, "linear", telescopic=True), LayerSpec(6, "relu"), LayerSpec(10, "softmax")),
    train_input_eigenvalues=True,
)


@pytest.fixture(scope="module")
def trained(tiny_npz: Path) -> list[LabRun]:
    """A Λ run (λ_in trained too) and a direct-full run, as their training jobs return them."""
    from spectral_core.record import RunRecorder
    from spectral_core.runs import run_training

    dataset = load_npz(tiny_npz)
    runs = []
    for index, regime in enumerate(("lambda", "direct-full")):
        recorder = RunRecorder()
        config = TrainingConfig(epochs=3, batch_size=30, snapshot_interval=0.0, seed=index)
        outcome = run_training(STACK, regime, dataset, config, observers=[recorder])
        record = outcome.to_record(f"run {index + 1}", str(tiny_npz), recorder)
        runs.append(LabRun(record, model=outcome.model, compact=outcome.compact, dataset=dataset))
    return runs


def new_window(qtbot, settings: Path) -> MainWindow:
    window = MainWindow(settings=QSettings(str(settings), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    return window


def item_data(widget: pg.PlotWidget) -> list[Any]:
    """The data of every item of one plot: curves' (x, y), images' arrays."""
    found = []
    for item in widget.getPlotItem().items:
        if isinstance(item, pg.PlotDataItem):
            x, y = item.getOriginalDataset()
            found.append(("curve", item.name(), item.isVisible(), x, y))
        elif isinstance(item, pg.ImageItem):
            found.append(("image", item.image))
    return found


def tab_data(tab: Any) -> list[Any]:
    """Every plot, choice list and slider range of one tab."""
    found: list[Any] = [item_data(plot) for plot in tab.findChildren(pg.PlotWidget)]
    found += [[box.itemText(i) for i in range(box.count())] for box in tab.findChildren(QComboBox)]
    found += [(slider.minimum(), slider.maximum()) for slider in tab.findChildren(QSlider)]
    return found


def everything_shown(qtbot, window: MainWindow) -> dict[str, Any]:
    """What every tab shows for every run, walking each run's layers and epochs."""
    shown: dict[str, Any] = {}
    tree = window.runs_list.tree
    for row in range(tree.topLevelItemCount()):
        tree.setCurrentItem(tree.topLevelItem(row))
        run = window.current_entry()
        qtbot.waitUntil(lambda: not window.pruning_panel.is_busy(), timeout=30_000)
        prefix = f"{run.name}/"
        shown[prefix + "model box"] = window.result_label.text()
        shown[prefix + "runs list"] = [tree.topLevelItem(row).text(c) for c in range(tree.columnCount())]
        for index in range(window.tabs.count()):
            shown[prefix + window.tabs.tabText(index)] = tab_data(window.tabs.widget(index))
        spectrum = window.spectrum_panel
        for layer in range(spectrum.layer.count()):
            spectrum.layer.setCurrentIndex(layer)
            for epoch in range(spectrum.epoch.minimum(), spectrum.epoch.maximum() + 1):
                spectrum.epoch.setValue(epoch)
                shown[f"{prefix}spectrum {layer} {epoch}"] = tab_data(spectrum)
        weights = window.weights_panel
        for layer in range(weights.layer.count()):
            weights.layer.setCurrentIndex(layer)
            for compare in range(weights.compare.count()):
                weights.compare.setCurrentIndex(compare)
                shown[f"{prefix}weights {layer} {compare}"] = tab_data(weights)
    return shown


def assert_same(before: Any, after: Any, where: str = "") -> None:
    if isinstance(before, dict):
        assert before.keys() == after.keys(), where
        for key in before:
            assert_same(before[key], after[key], f"{where}/{key}")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), where
        for index, (a, b) in enumerate(zip(before, after, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(before, np.ndarray) or isinstance(after, np.ndarray):
        np.testing.assert_array_equal(before, after, err_msg=where)
    else:
        assert before == after, where


@pytest.fixture
def closed(qtbot, tmp_path: Path, trained: list[LabRun]) -> tuple[MainWindow, dict[str, Any]]:
    """A window with both runs, the Λ run retracted, and everything it shows."""
    window = new_window(qtbot, tmp_path / "first.ini")
    window.editor.set_architecture(STACK)
    for run in trained:
        window.training._on_done(LabRun(replace(run.record), run.model, run.compact, run.dataset))
    window.runs_list.tree.setCurrentItem(window.runs_list.tree.topLevelItem(0))
    window.retract()
    assert window.current_entry().retracted
    # The Λ run's eigenvalues include the trained λ_in of its first layer.
    first = window.current_entry().record
    assert not np.array_equal(first.eigen_history[0][1]["layer_1"]["eigvals_in"],
                              first.eigen_history[-1][1]["layer_1"]["eigvals_in"])
    assert len(first.batch_points) >= 3 and len(first.eigen_history) == 4
    return window, everything_shown(qtbot, window)


def test_save_then_open_shows_what_was_closed(qtbot, tmp_path: Path, closed) -> None:
    window, before = closed
    path = tmp_path / "lab.spectral"
    assert window.save_session(path), window.message_bar.text()
    window.close()

    reopened = new_window(qtbot, tmp_path / "second.ini")
    assert reopened.open_file(path), reopened.message_bar.text()
    first, second = reopened.runs_list.entries()
    assert first.retracted and first.compact is not None and first.report is not None
    assert "became" in (after_text := everything_shown(qtbot, reopened))["run 1/model box"]
    assert_same(before, after_text)
    # The paper's comparison, redrawn after the restart: the compact Λ model in the list.
    labels = [reopened.weights_panel.compare.itemText(i) for i in range(reopened.weights_panel.compare.count())]
    assert "run 1 (lambda): compact_1 (retracted model)" in labels


def test_autosave_then_crash_recovery_shows_what_was_closed(qtbot, tmp_path: Path, closed) -> None:
    window, before = closed
    folder = tmp_path / "autosave"
    folder.mkdir()
    saver = Autosaver(window, folder)
    saver.save_now()
    assert saver.wait(30_000) and saver.save_count == 1, saver.last_error
    crashed = folder / "autosave-999999-cafe0001.spectral"  # as if its process were killed
    shutil.copy(saver.path, crashed)
    saver.shutdown()
    window.close()
    (folder / "last-session.spectral").unlink()

    recovered = new_window(qtbot, tmp_path / "third.ini")
    assert offer_recovery(recovered, folder, answer="restore") is not None
    qtbot.waitUntil(lambda: len(recovered.runs_list.entries()) == 2, timeout=10_000)
    assert_same(before, everything_shown(qtbot, recovered))


def test_a_recovered_run_retracts_in_the_background_and_gains_its_test_accuracy(
    qtbot, tmp_path: Path, trained: list[LabRun]
) -> None:
    """A run recovered mid-training has weights but no test metrics and no report: retraction
    compares on the test set off the GUI thread, then the run shows its accuracy."""
    from spectral_core.session import Session

    source = trained[0]
    record = replace(
        source.record, test_accuracy=float("nan"), test_loss=float("nan"), report=None,
        weights=source.model.get_weights(), ended="interrupted after epoch 3 of 9",
    )
    window = new_window(qtbot, tmp_path / "recovered.ini")
    window.restore_session(Session(STACK, "lambda", TrainingConfig(), record.dataset, [record]))
    (run,) = window.runs_list.entries()
    assert run.model is not None and "no test metrics" in window.result_label.text()
    window.run_panel.retract_button.click()
    assert window.retraction.runner.busy and not run.retracted  # the GUI thread is free meanwhile
    qtbot.waitUntil(lambda: run.retracted, timeout=30_000)
    assert run.report is not None and run.test_accuracy == run.report.accuracy_before
    assert "became" in window.result_label.text()
    assert window.runs_list.tree.topLevelItem(0).text(4) == f"{run.test_accuracy:.4f}"
    window.undo_action.trigger()
    assert not run.retracted and window.current_model() is run.model
