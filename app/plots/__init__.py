"""Live pyqtgraph views. Items are created once and updated with setData/setImage."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.plots.export import export_plot

# Okabe-Ito colours (colour-blind safe), the light ones first: the plots have a black background,
# on which Okabe-Ito's dark blue (#0072B2) is hard to see.
RUN_COLORS = ("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#FFFFFF")
LEGEND_COLUMNS = 3
LEGEND_INDENT = 8  # pixels from the plot's left edge
TITLE_HEIGHT = 22


class OutsideLegend(pg.LegendItem):
    """A legend in a strip below the plot's x axis, so it never covers the data.

    The plot item's bottom margin grows with the legend's height; the legend is anchored there
    and uses as many columns (up to ``columns``) as the plot's width holds.
    Named items added to the plot land in it (PlotItem.addItem reads ``plot_item.legend``).
    """

    def __init__(self, plot_item: pg.PlotItem, columns: int = LEGEND_COLUMNS) -> None:
        self._plot_item: pg.PlotItem | None = None
        self._max_columns = columns
        self._fitting = False
        super().__init__(colCount=columns, frame=False, verSpacing=-4)
        self._plot_item = plot_item
        self.setParentItem(plot_item)
        self.anchor(itemPos=(0, 1), parentPos=(0, 1), offset=(LEGEND_INDENT, -2))
        plot_item.legend = self
        plot_item.geometryChanged.connect(self.updateSize)
        self.updateSize()

    def updateSize(self) -> None:  # noqa: N802  (pyqtgraph's name)
        super().updateSize()
        if self._plot_item is None or self._fitting:
            return
        self._fitting = True
        try:
            available = self._plot_item.width() - LEGEND_INDENT - 4
            for columns in range(self._max_columns, 0, -1):
                self.setColumnCount(columns)
                if self.width() <= available:
                    break
        finally:
            self._fitting = False
        visible = bool(self.items) and self.isVisible()
        self._plot_item.layout.setContentsMargins(1, 1, 1, self.height() + 4 if visible else 1)

    def names(self) -> list[str]:
        """The labels shown, in order."""
        return [label.text for _, label in self.items]


def live_plot(title: str, x_label: str, y_label: str, fast: bool = True) -> pg.PlotWidget:
    """A PlotWidget for live updates: grid, plain (unprefixed) axes, the legend below the plot.

    ``fast`` clips curves to the view and peak-downsamples them (long per-batch curves).
    """
    widget = pg.PlotWidget(title=title)
    item = widget.getPlotItem()
    if fast:
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
        # Loss, accuracy, eigenvalues and weights have no unit: "(x0.001)" would only confuse.
        axis.enableAutoSIPrefix(False)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.layout.setRowFixedHeight(0, TITLE_HEIGHT)  # pyqtgraph's 30 px is a lot at 700 px tall
    OutsideLegend(item)
    return widget


def step_xy(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A histogram as the outline of its bars: x and y of equal length, starting and ending at 0.

    pyqtgraph's ``stepMode="center"`` needs len(x) == len(y) + 1, which its clip-to-view and
    downsampling break when the view is zoomed ("len(X) must be len(Y)+1"); a plain curve along
    the bars' outline draws the same picture and survives any view range.
    """
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size == 0 or edges.size != counts.size + 1:
        return np.zeros(0), np.zeros(0)
    x = np.repeat(edges, 2)
    y = np.concatenate([[0.0], np.repeat(counts, 2), [0.0]])
    return x, y


def histogram_curve(
    plot: pg.PlotWidget, name: str, color: str, fill: bool = False, width: float = 1.5
) -> pg.PlotDataItem:
    """An empty histogram outline (see :func:`step_xy`), filled below when ``fill``."""
    options: dict[str, object] = {"name": name, "pen": pg.mkPen(color, width=width)}
    if fill:
        brush = pg.mkColor(color)
        brush.setAlpha(80)
        options.update(fillLevel=0, brush=pg.mkBrush(brush))
    return plot.plot([], [], **options)


def set_legend_entry(plot: pg.PlotWidget, item: pg.PlotDataItem, name: str, visible: bool = True) -> None:
    """Show ``item`` named ``name`` in the plot's legend, or hide it and its entry."""
    legend = plot.getPlotItem().legend
    entry = next((label for sample, label in legend.items if sample.item is item), None)
    item.opts["name"] = name
    if visible and entry is None:
        legend.addItem(item, name)
    elif not visible and entry is not None:
        legend.removeItem(item)
    elif entry is not None and entry.text != name:
        entry.setText(name)
        legend.updateSize()
    item.setVisible(visible)


def set_run_name(name: str, *panels: object) -> None:
    """Tell each plot panel which run it shows, for its legends (and to skip it as an overlay)."""
    for panel in panels:
        panel.set_run_name(name)  # type: ignore[attr-defined]


__all__ = [
    "RUN_COLORS", "OutsideLegend", "export_plot", "histogram_curve", "live_plot", "set_legend_entry", "set_run_name",
    "step_xy",
]
