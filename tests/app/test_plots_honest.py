"""What a scientist reads off the plots: per-batch values, plain axes, legends that name run,
layer and metric and stay off the data, colour bars, readable colours, and zooming that never
raises (issue 14 item 1, issue 13's stepMode crash). λ_in is shown where it is trained (item 5)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.plots import RUN_COLORS, live_plot, step_xy
from app.plots.metrics import TRAIN_COLOR, VALIDATION_COLOR, MetricsPanel
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import CURRENT_COLOR, WeightsPanel
from spectral_core.histograms import HistogramHistory, histogram

HISTORY = [
    {"epoch": 1.0, "loss": 0.9, "accuracy": 0.71, "val_loss": 1.0, "val_accuracy": 0.69},
    {"epoch": 2.0, "loss": 0.5, "accuracy": 0.86, "val_loss": 0.6, "val_accuracy": 0.82},
]


def spectra(rng: np.random.Generator, train_inputs: bool, epochs: int = 3) -> list:
    """Epoch snapshots of a 784→10 spectral layer; λ_in moves only when it is trained."""
    snapshots = []
    for epoch in range(epochs):
        eigvals_in = np.ones(784) + (0.01 * epoch * rng.normal(size=784) if train_inputs else 0)
        snapshots.append(
            (f"after epoch {epoch}", {"layer_1": {"eigvals_in": eigvals_in, "eigvals_out": rng.normal(size=10)}})
        )
    return snapshots


def contrast_on_black(color: str) -> float:
    """WCAG contrast ratio of ``color`` against black (the dark blue #0072B2 scores 4.0)."""
    rgb = QColor(color).getRgbF()[:3]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return (luminance + 0.05) / 0.05


def panels(qtbot):
    shown = []
    for panel in (MetricsPanel(), SpectrumPanel(), WeightsPanel()):
        qtbot.addWidget(panel)
        panel.resize(700, 600)
        panel.show()
        shown.append(panel)
    return shown


def all_plots(metrics: MetricsPanel, spectrum: SpectrumPanel, weights: WeightsPanel) -> list:
    return [
        metrics.loss_plot, metrics.accuracy_plot, spectrum.sorted_plot, spectrum.histogram_plot,
        weights.histogram_plot, weights.history_plot,
    ]


def test_no_si_prefix_on_any_axis_accuracy_in_percent(qtbot) -> None:
    metrics, spectrum, weights = panels(qtbot)
    metrics.set_history([{**row, "accuracy": row["accuracy"] / 1000} for row in HISTORY])
    for plot in all_plots(metrics, spectrum, weights):
        for name in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(name)
            assert not axis.autoSIPrefix
            assert "x0." not in axis.labelString() and "(m" not in axis.labelString()
    assert "%" in metrics.accuracy_plot.getPlotItem().getAxis("left").labelString()
    metrics.set_history(HISTORY)
    _, accuracy = metrics.curves["epoch_accuracy"].getOriginalDataset()
    np.testing.assert_allclose(accuracy, [71, 86])


def test_legends_name_run_layer_and_metric_and_sit_below_the_data(qtbot) -> None:
    metrics, spectrum, weights = panels(qtbot)
    metrics.set_run_name("run 3")
    metrics.set_history(HISTORY)
    assert metrics.legend_names("loss") == [
        "run 3 · train loss (batches)", "run 3 · train loss (epochs)", "run 3 · validation loss",
    ]
    assert "run 3 · validation accuracy" in metrics.legend_names("accuracy")
    # The finished run itself is selected in the runs list: it gets no second, dashed curve.
    metrics.set_overlays([("run 3", HISTORY), ("run 1", HISTORY)])
    assert metrics.overlay_names() == ["run 1"]
    assert "run 1 · validation loss" in metrics.legend_names("loss")

    spectrum.set_run_name("run 3")
    spectrum.set_history(spectra(np.random.default_rng(0), train_inputs=False))
    assert spectrum.histogram_plot.getPlotItem().legend.names() == ["run 3 · layer_1 · λ_out"]

    weights.set_run_name("run 3")
    weights.set_live({"layer_1": histogram(np.linspace(-1, 1, 100), 10)})
    weights.set_run_overlays([("run 3", {}), ("run 1", {"layer_1": histogram(np.zeros(5), 4)})])
    assert weights.legend_names() == ["run 3 · layer_1 weights", "run 1 · layer_1 weights"]

    qtbot.wait(10)
    for plot in (metrics.loss_plot, metrics.accuracy_plot, weights.histogram_plot):
        item = plot.getPlotItem()
        legend = item.legend
        assert legend.items
        legend_box = legend.sceneBoundingRect()
        data_box = item.getViewBox().sceneBoundingRect()
        assert legend_box.top() >= data_box.bottom(), "the legend covers the data"
        assert item.sceneBoundingRect().contains(legend_box), "the legend is cut off"


def test_every_image_has_a_colour_bar_and_colours_are_readable_on_black(qtbot) -> None:
    _, _, weights = panels(qtbot)
    history = HistogramHistory()
    for scale in (0.2, 0.5):
        history.add(np.random.default_rng(1).uniform(-scale, scale, 400))
    weights.set_histories({"layer_1": (history.matrix(), history.edges)}, {})
    weights.layer.setCurrentText("layer_1")
    assert [ref() for ref in weights.color_bar.img_list] == [weights.history_image]
    assert weights.color_bar.levels() == pytest.approx((0.0, float(history.matrix().max())))
    assert weights.color_bar.scene() is weights.history_plot.scene()
    for color in (*RUN_COLORS, TRAIN_COLOR, VALIDATION_COLOR, CURRENT_COLOR):
        assert contrast_on_black(color) >= 5, f"{color} is hard to see on black"


def test_lambda_in_is_drawn_where_it_is_trained(qtbot) -> None:
    _, spectrum, _ = panels(qtbot)
    rng = np.random.default_rng(2)
    spectrum.set_history(spectra(rng, train_inputs=False))
    assert spectrum.shown_values("eigvals_in").size == 0
    assert not spectrum.histogram_curves["eigvals_in"].isVisible()

    trained = spectra(rng, train_inputs=True)
    spectrum.set_history(trained)
    assert spectrum.input_eigenvalues_trained("layer_1")
    np.testing.assert_array_equal(spectrum.shown_values("eigvals_in"), trained[-1][1]["layer_1"]["eigvals_in"])
    assert spectrum.histogram_curves["eigvals_in"].isVisible()
    assert "layer_1 · λ_in" in spectrum.histogram_plot.getPlotItem().legend.names()
    spectrum.epoch.setValue(0)  # the initial λ_in (all ones) is shown too, once known trained
    np.testing.assert_array_equal(spectrum.shown_values("eigvals_in"), np.ones(784))


def test_step_outline_of_a_histogram() -> None:
    x, y = step_xy(np.array([0.0, 1.0, 3.0]), np.array([2.0, 5.0]))
    np.testing.assert_array_equal(x, [0, 0, 1, 1, 3, 3])
    np.testing.assert_array_equal(y, [0, 2, 2, 5, 5, 0])
    assert step_xy(np.array([0.0]), np.zeros(0))[0].size == 0


def wheel(plot, delta: int) -> None:
    """Send ``plot`` a mouse-wheel event at its centre (zoom in for positive ``delta``)."""
    viewport = plot.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 3)
    event = QWheelEvent(
        centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, delta),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(viewport, event)


def test_zooming_histograms_and_redrawing_raises_nothing(qtbot) -> None:
    """Wheel-zoom, pan and set ranges on every plot, redrawing in between (issue 13's crash)."""
    metrics, spectrum, weights = panels(qtbot)
    rng = np.random.default_rng(3)
    history = HistogramHistory()
    for _ in range(3):
        history.add(rng.normal(size=500))
    positions = np.arange(1, 301) / 100
    metrics.set_batch_points(np.column_stack([positions, rng.uniform(0.2, 2, 300), rng.uniform(0, 1, 300)]))
    metrics.set_history(HISTORY)
    for plot in all_plots(metrics, spectrum, weights):
        view = plot.getViewBox()
        for step in range(6):
            spectrum.set_live({"layer_1": {"eigvals_in": rng.normal(size=784), "eigvals_out": rng.normal(size=300)}})
            weights.set_live({"layer_1": histogram(rng.normal(size=1000), 60)})
            weights.set_histories({"layer_1": (history.matrix(), history.edges)}, {})
            if step % 2:
                wheel(plot, 120 * step)  # a real mouse-wheel event on the plot
            else:
                view.setXRange(step - 3.0, step - 2.9, padding=0)  # a narrow window, empty bins
            plot.grab()  # paints: clip-to-view and downsampling run here
            qtbot.wait(1)
        view.autoRange()
        plot.grab()
    x_range = spectrum.histogram_plot.getViewBox().viewRange()[0]
    wheel(spectrum.histogram_plot, 480)
    assert spectrum.histogram_plot.getViewBox().viewRange()[0] != x_range, "the wheel zoomed"
    assert spectrum.histogram_curve.getOriginalDataset()[0].size > 0


def test_live_plot_legend_is_empty_until_named_items(qtbot) -> None:
    plot = live_plot("T", "x", "y")
    qtbot.addWidget(plot)
    assert plot.getPlotItem().legend.names() == []
    plot.plot([0, 1], [1, 2], name="a · b")
    assert plot.getPlotItem().legend.names() == ["a · b"]
