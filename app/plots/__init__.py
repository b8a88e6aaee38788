"""Live pyqtgraph views. Items are created once and updated with setData/setImage."""

from __future__ import annotations

import pyqtgraph as pg

from app.plots.export import export_plot

# Distinct, colour-blind safe colours (Okabe-Ito) for runs overlaid on one plot.
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")


def live_plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    """A PlotWidget set up for fast live updates: clipped to view, peak downsampling, grid."""
    widget = pg.PlotWidget(title=title)
    item = widget.getPlotItem()
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    item.showGrid(x=True, y=True, alpha=0.25)
    # Grid lines at the labelled ticks only, a little denser than pyqtgraph's major ticks:
    # pyqtgraph draws the grid inside its axes, and the minor-tick grid made every redraw of a
    # plot 4× slower (measured offscreen: 14.4 ms with it, 3.6 ms without).
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setStyle(maxTickLevel=0)
        axis.setTickDensity(1.5)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.addLegend(offset=(-10, 10))
    return widget


__all__ = ["RUN_COLORS", "export_plot", "live_plot"]
