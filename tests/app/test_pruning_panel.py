"""The pruning panel with a tiny trained network: threshold, plot colours, background accuracy
(latest request wins), Prune with undo/redo, export, and its tab in the main window."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")
keras = pytest.importorskip("keras")

from PySide6.QtCore import Qt  # noqa: E402

from app.commands import CommandStack  # noqa: E402
from app.lab_state import LabState  # noqa: E402
from app.pruning_panel import PruningPanel  # noqa: E402
from spectral_core import pruning  # noqa: E402
from spectral_core.architecture import Architecture, LayerSpec  # noqa: E402

ARCH = Architecture("panel", 64, (LayerSpec(24, "tanh"), LayerSpec(16, "tanh"), LayerSpec(10, "softmax")))


@pytest.fixture(scope="module")
def trained(small_digits):
    from spectral_core.config import TrainingConfig
    from spectral_core.runs import run_training

    config = TrainingConfig(epochs=4, batch_size=50, learning_rate=0.1, validation_fraction=0)
    outcome = run_training(ARCH, "lambda", small_digits, config)
    return outcome.model, small_digits


@pytest.fixture
def panel(qtbot, trained):
    model, data = trained
    widget = PruningPanel(LabState(ARCH), CommandStack())
    qtbot.addWidget(widget)
    widget.set_model(model, ARCH, data)
    yield widget
    widget.shutdown()


def settle(qtbot, panel: PruningPanel) -> None:
    qtbot.waitUntil(lambda: not panel.is_busy() and math.isfinite(panel.last_accuracy), timeout=60_000)
    qtbot.wait(20)  # let the last queued result reach the panel


def expected_masks(model, ranking: str, percentile: int, scope: str) -> list[np.ndarray]:
    return pruning.keep_masks(pruning.node_scores(model, ranking), percentile, scope)


def point_count(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def test_new_model_offers_every_ranking_and_measures_the_unpruned_network(qtbot, panel, trained):
    model, data = trained
    rankings = [panel.ranking.itemData(i) for i in range(panel.ranking.count())]
    assert rankings == ["eigenvalue", "eigenvalue-gain", "connectivity"]
    assert panel.current_ranking() == "eigenvalue"
    assert panel.view.count() == 3 and panel.percentile() == 0
    settle(qtbot, panel)
    assert panel.last_accuracy == pruning.accuracy(model, data.x_test, data.y_test)
    assert point_count(panel.kept_item) == 40 and point_count(panel.pruned_item) == 0
    assert not panel.prune_button.isEnabled()


@pytest.mark.parametrize(("ranking", "scope"), [("eigenvalue", "global"), ("connectivity", "per-layer")])
def test_threshold_colours_nodes_and_measures_the_pruned_network(qtbot, panel, trained, ranking, scope):
    model, data = trained
    panel.set_ranking(ranking)
    panel.set_scope(scope)
    panel.set_percentile(40)
    masks = expected_masks(model, ranking, 40, scope)
    assert [m.tolist() for m in panel.masks] == [m.tolist() for m in masks]
    removed = 40 - sum(int(m.sum()) for m in masks)
    assert point_count(panel.pruned_item) == removed and point_count(panel.kept_item) == 40 - removed
    # The pruned points are exactly the lowest scores on the sorted plot.
    _, kept_scores = panel.kept_item.getData()
    _, pruned_scores = panel.pruned_item.getData()
    if scope == "global":
        assert pruned_scores.max() <= kept_scores.min()
        assert panel.threshold_line.isVisible()
        assert panel.threshold_line.value() == pytest.approx(pruned_scores.max())
    panel.view.setCurrentIndex(2)  # second hidden layer alone
    assert point_count(panel.pruned_item) == 16 - int(masks[1].sum())
    settle(qtbot, panel)
    direct = pruning.pruned_accuracy(model, ARCH, masks, data.x_test, data.y_test)
    assert panel.last_accuracy == direct
    assert panel.prune_button.isEnabled()


def test_latest_threshold_wins(qtbot, panel, trained):
    model, data = trained
    settle(qtbot, panel)
    shown: list[float] = []
    panel.accuracyChanged.connect(shown.append)
    for value in range(5, 95, 5):  # faster than the jobs finish
        panel.set_percentile(value)
    assert panel.is_busy()
    settle(qtbot, panel)
    expected = pruning.pruned_accuracy(
        model, ARCH, expected_masks(model, "eigenvalue", 90, "global"), data.x_test, data.y_test
    )
    assert panel.last_accuracy == expected and shown[-1] == expected
    assert "measuring" not in panel.accuracy_label.text()
    # Only the first (already running) request and the latest one were measured.
    assert len(shown) <= 2


def test_prune_is_undoable_and_computes_the_masked_original(qtbot, panel, trained):
    model, data = trained
    panel.set_ranking("eigenvalue-gain")
    panel.set_percentile(50)
    masks = [m.copy() for m in panel.masks]
    qtbot.mouseClick(panel.prune_button, Qt.MouseButton.LeftButton)
    smaller = panel.model()
    assert smaller is not model
    assert panel.architecture().widths == [64, *(int(m.sum()) for m in masks), 10]
    assert panel.percentile() == 0 and panel.commands.count == 1
    x = data.x_test[:50]
    np.testing.assert_allclose(
        pruning.model_outputs(smaller, x),
        pruning.model_outputs(pruning.masked_model(model, masks), x),
        rtol=1e-5, atol=1e-6,
    )
    panel.commands.undo()
    assert panel.model() is model and panel.architecture() == ARCH
    panel.commands.redo()
    assert panel.model() is smaller
    settle(qtbot, panel)


def test_export_writes_a_loadable_keras_file(qtbot, panel, trained, tmp_path):
    from spectral_core.export import load_model

    _, data = trained
    panel.set_percentile(30)
    panel.prune()
    path = panel.export_model(str(tmp_path / "pruned.keras"))
    loaded = load_model(path, compile=False)
    np.testing.assert_array_equal(
        pruning.model_outputs(loaded, data.x_test[:20]), pruning.model_outputs(panel.model(), data.x_test[:20])
    )
    settle(qtbot, panel)


def test_direct_model_gets_connectivity_only_and_old_undo_becomes_a_no_op(qtbot, panel, small_digits):
    from spectral_core.build import build_model

    panel.set_percentile(25)
    panel.prune()
    direct = build_model(ARCH, "direct-full", seed=0)
    panel.set_model(direct, ARCH, small_digits)
    assert [panel.ranking.itemData(i) for i in range(panel.ranking.count())] == ["connectivity"]
    panel.commands.undo()  # the prune of the previous network no longer applies
    assert panel.model() is direct
    with pytest.raises(ValueError, match="ranking: must be one of connectivity"):
        panel.set_ranking("eigenvalue")
    settle(qtbot, panel)


def test_without_test_data_the_panel_says_so(qtbot, trained):
    model, _ = trained
    widget = PruningPanel(LabState(ARCH), CommandStack())
    qtbot.addWidget(widget)
    widget.set_model(model, ARCH, None)
    widget.set_percentile(20)
    assert "No test set" in widget.accuracy_label.text()
    assert not widget.is_busy()


def test_panel_is_a_tab_of_the_main_window_fed_by_model_ready(qtbot, tmp_path, trained):
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    model, data = trained
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    panel = window.pruning_panel
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles.index("Pruning") == titles.index("Eigenvalue spectrum") + 1
    window.modelReady.emit({"model": model, "architecture": ARCH, "dataset": data, "regime": "lambda"})
    assert panel.model() is model
    panel.set_percentile(50)
    panel.prune()
    assert window.commands.can_undo() and window.commands.undo_text().startswith("Prune")
    settle(qtbot, panel)
    panel.shutdown()
