"""Plot panels on their own: smoothing, log-y, overlays, the epoch look-back and the epoch × bin
image, with data made in the test (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import pytest

from app.plots import step_xy
from app.plots.metrics import MetricsPanel, exponential_smoothing
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import WeightsPanel, compact_label
from app.run_panel import RunPanel, format_duration
from spectral_core.config import ConfigError
from spectral_core.histograms import HistogramHistory, histogram


def bar_heights(item) -> np.ndarray:
    """The bar heights of a histogram drawn as its outline (see app.plots.step_xy)."""
    _, y = item.getOriginalDataset()
    return np.asarray(y)[1:-1:2]


def reference_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's formula written out: debiased EMA, in float64 Python arithmetic."""
    out, last = [], 0.0
    for step, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**step))
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9, 0.99])
def test_smoothing_matches_the_reference(weight: float) -> None:
    values = np.random.default_rng(4).normal(size=200).cumsum()
    expected = reference_smoothing(list(values), weight) if weight else list(values)
    np.testing.assert_allclose(exponential_smoothing(values, weight), expected, rtol=1e-12)


def test_metrics_panel_batches_epochs_overlays_and_log_y(qtbot) -> None:
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    # Running means within one epoch of 20 batches (as Keras logs them), one point per batch.
    own_loss, own_accuracy = np.linspace(2, 0.5, 20), np.linspace(0.1, 0.9, 20)
    running = np.arange(1, 21)
    points = np.column_stack(
        [running / 20, np.cumsum(own_loss) / running, np.cumsum(own_accuracy) / running]
    )
    panel.smoothing.setValue(0)
    panel.set_batch_points(points)
    x, y = panel.curves["batch_loss"].getOriginalDataset()
    np.testing.assert_allclose(x, points[:, 0])
    np.testing.assert_allclose(y, own_loss, rtol=1e-9)  # each batch's own loss
    panel.smoothing.setValue(50)  # redraws from the same points
    _, smoothed = panel.curves["batch_accuracy"].getOriginalDataset()
    np.testing.assert_allclose(smoothed, 100 * np.array(reference_smoothing(list(own_accuracy), 0.5)))

    history = [
        {"epoch": 1.0, "loss": 1.5, "accuracy": 0.6, "val_loss": 1.6, "val_accuracy": 0.55},
        {"epoch": 2.0, "loss": 0.9, "accuracy": 0.8, "val_loss": 1.0, "val_accuracy": 0.75},
    ]
    panel.set_history(history)
    np.testing.assert_allclose(panel.curves["val_accuracy"].getOriginalDataset()[1], [55, 75])

    panel.set_overlays([("run 1", history), ("run 2", history[:1])])
    assert panel.overlay_names() == ["run 1", "run 2"]
    panel.set_overlays([("run 2", history[:1])])
    assert panel.overlay_names() == ["run 2"]
    legend_names = panel.legend_names("loss")
    assert "run 2 · validation loss" in legend_names
    assert not any(name.startswith("run 1") for name in legend_names)

    panel.log_y.setChecked(True)
    assert panel.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    panel.show_batches.setChecked(False)
    assert not panel.curves["batch_loss"].isVisible() and panel.curves["epoch_loss"].isVisible()


def test_spectrum_panel_looks_back_over_epochs(qtbot) -> None:
    panel = SpectrumPanel()
    qtbot.addWidget(panel)
    rng = np.random.default_rng(0)
    epochs = [
        (label, {"layer_1": {"eigvals_in": np.ones(5), "eigvals_out": rng.normal(size=30)}})
        for label in ("initial", "after epoch 1", "after epoch 2")
    ]
    panel.set_history(epochs)
    assert panel.epoch.maximum() == 3 and panel.epoch.value() == 3  # follows the live end
    live = {"layer_1": {"eigvals_in": np.ones(5), "eigvals_out": rng.normal(size=30)}}
    panel.set_live(live)
    np.testing.assert_array_equal(panel.shown_values(), live["layer_1"]["eigvals_out"])
    assert panel.epoch_label.text() == "latest"

    panel.epoch.setValue(1)
    assert panel.epoch_label.text() == "after epoch 1"
    values = epochs[1][1]["layer_1"]["eigvals_out"]
    np.testing.assert_array_equal(panel.shown_values(), values)
    x, y = panel.sorted_curve.getOriginalDataset()
    np.testing.assert_array_equal(y, np.sort(np.abs(values))[::-1])
    np.testing.assert_array_equal(x, np.arange(1, 31))
    counts, edges = histogram(values, bins=10)
    hx, hy = panel.histogram_curve.getOriginalDataset()
    np.testing.assert_allclose((hx, hy), step_xy(edges, counts))
    assert not panel.notice.isVisible()

    panel.set_history(epochs + [("after epoch 3", epochs[0][1])])
    assert panel.epoch.value() == 1, "looking back is not interrupted by new epochs"


def test_weights_panel_history_image_compact_layers_and_comparison(qtbot) -> None:
    panel = WeightsPanel()
    qtbot.addWidget(panel)
    rng = np.random.default_rng(1)
    history = HistogramHistory()
    for scale in (0.5, 0.7, 1.0):
        history.add(rng.uniform(-scale, scale, 500))
    compact = HistogramHistory()
    compact.add(rng.normal(size=300))
    live = {"layer_1": histogram(rng.uniform(-1, 1, 500), 20)}
    panel.set_live(live)
    panel.set_histories({"layer_1": (history.matrix(), history.edges)},
                        {"compact_1": (compact.matrix(), compact.edges)})
    assert panel.layer_names() == ["layer_1", compact_label("compact_1")]

    image = panel.history_image.image
    assert image.shape == (history.bins, 3)  # weights along x, epochs along y
    np.testing.assert_array_equal(image.T, history.matrix())
    rect = panel.history_image.mapRectToParent(panel.history_image.boundingRect())
    assert rect.left() == pytest.approx(history.edges[0])
    assert rect.width() == pytest.approx(history.edges[-1] - history.edges[0])

    counts, edges = live["layer_1"]
    density = bar_heights(panel.current_curve)
    np.testing.assert_allclose(density, counts / (counts.sum() * np.diff(edges)))
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)
    panel.density.setChecked(False)
    np.testing.assert_array_equal(bar_heights(panel.current_curve), counts)

    panel.layer.setCurrentText(compact_label("compact_1"))
    last_row = compact.matrix()[-1]
    np.testing.assert_array_equal(bar_heights(panel.current_curve), last_row)

    other = histogram(rng.normal(size=100), 15)
    panel.set_comparisons({"run 2 (direct-full): layer_1": other})
    panel.compare.setCurrentText("run 2 (direct-full): layer_1")
    assert panel.compare_curve.isVisible()
    assert "run 2 (direct-full): layer_1 weights" in panel.legend_names()
    np.testing.assert_array_equal(bar_heights(panel.compare_curve), other[0])
    panel.compare.setCurrentText("nothing")
    assert not panel.compare_curve.isVisible()
    assert not any(name.startswith("run 2") for name in panel.legend_names())


def test_run_panel_builds_a_validated_config(qtbot) -> None:
    panel = RunPanel()
    qtbot.addWidget(panel)
    assert [panel.regime.itemData(i) for i in range(panel.regime.count())] == [
        "lambda", "lambda-phi", "direct-subset", "direct-full",
    ]
    assert panel.regime.itemText(0) == "Train Λ (spectral constrained)"
    panel.set_regime("direct-full")
    panel.epochs.setValue(3)
    panel.batch_size.setValue(64)
    panel.optimizer.setCurrentText("sgd")
    panel.seed.setValue(42)
    config = panel.config()
    assert (config.epochs, config.batch_size, config.optimizer, config.seed) == (3, 64, "sgd", 42)
    assert config.learning_rate is None and panel.learning_rate.text() == "auto"
    panel.set_auto_learning_rate(0.03)
    assert panel.learning_rate.text() == "auto (0.03)"
    panel.learning_rate.setValue(0.002)
    assert panel.config().learning_rate == pytest.approx(0.002)
    panel.set_dataset_source("/data/digits.npz")
    assert panel.dataset_source() == "/data/digits.npz" and panel.dataset.currentText() == "digits.npz"
    panel.set_dataset_source("mnist")
    assert panel.dataset.count() == 3
    panel.optimizer.addItem("nadam")  # not a choice the library offers
    panel.optimizer.setCurrentText("nadam")
    with pytest.raises(ConfigError, match="optimizer: must be one of"):
        panel.config()


def test_progress_text_has_epoch_batch_and_time_left(qtbot) -> None:
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show_progress(2, 4, 30, 120, fraction=0.25, elapsed=60.0)
    assert panel.progress.value() == 250
    assert panel.progress.format() == "epoch 2/4 · batch 30/120 · 3:00 left"
    assert format_duration(3725) == "1:02:05"


def test_right_click_svg_export_writes_through_qt(qtbot, tmp_path) -> None:
    """The plots' own "Export…" dialog offers SVG that works (pyqtgraph's own one fails)."""
    from pyqtgraph.exporters import Exporter

    from app.plots.export import QtSvgExporter, install_svg_export
    from app.plots.metrics import MetricsPanel

    install_svg_export()
    assert QtSvgExporter in Exporter.Exporters
    assert not any(e.__name__ == "SVGExporter" for e in Exporter.Exporters)
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    panel.set_history([{"epoch": 1.0, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1,
                        "val_accuracy": 0.4}, {"epoch": 2.0, "loss": 0.5, "accuracy": 0.8,
                                               "val_loss": 0.6, "val_accuracy": 0.7}])
    exporter = QtSvgExporter(panel.loss_plot.getPlotItem())
    path = tmp_path / "loss.svg"
    exporter.export(str(path))
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text and "</svg>" in text
    assert "<path" in text or "<polyline" in text
    assert exporter.export(toBytes=True).startswith(b"<?xml")


def test_run_panel_round_trips_initialization_penalty_and_hidden_settings(qtbot) -> None:
    from app.run_panel import RunPanel
    from spectral_core.config import TrainingConfig

    panel = RunPanel()
    qtbot.addWidget(panel)
    assert panel.config().initialization == TrainingConfig().initialization
    wanted = TrainingConfig(
        epochs=3, seed=7, initialization="paper", eigenvalue_penalty="l1",
        eigenvalue_penalty_weight=0.001, validation_fraction=0.25,
    )
    panel.set_config(wanted)
    assert panel.config() == wanted
    panel.penalty.setCurrentText("l2")
    assert panel.config().eigenvalue_penalty == "l2"
    assert panel.config().validation_fraction == 0.25


def test_metrics_x_axis_is_fixed_to_a_live_runs_epochs_and_follows_data_after(qtbot) -> None:
    from app.plots.metrics import MetricsPanel

    panel = MetricsPanel()
    qtbot.addWidget(panel)
    view = panel.loss_plot.getViewBox()
    panel.set_epoch_span(5)
    low, high = view.viewRange()[0]
    assert low <= 0 < 5 <= high < 5.5
    assert not view.autoRangeEnabled()[0]
    panel.set_epoch_span(None)
    assert view.autoRangeEnabled()[0]
