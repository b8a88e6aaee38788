"""Fitting the main window to small screens (1280×800, 1024×700): nothing cut off.

:func:`fit_to_screen` is called once by the main window after it has built its widgets: it
trims margins, keeps the Model box readable (its text scrolls instead of being clipped), gives
the runs list and the Model box room, and sizes the window to the screen it opens on.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHeaderView,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

DEFAULT_SIZE = QSize(1400, 900)
MODEL_BOX_MIN_WIDTH = 230
RUNS_MIN_VISIBLE_ROWS = 3
LEFT_PANEL_MIN_WIDTH = 360
COMBO_MIN_CHARACTERS = 10


def window_icon() -> QIcon:
    """Spectral Lab's icon (SVG, with PNG sizes for launchers that want them)."""
    from resources import ROOT

    icons = ROOT / "icons"
    icon = QIcon()
    for path in sorted(icons.glob("spectral-lab-*.png")):
        icon.addFile(str(path))
    svg = icons / "spectral-lab.svg"
    if svg.exists():
        icon.addFile(str(svg))
    return icon


def initial_size(available: QSize) -> QSize:
    """The default size, shrunk to ``available`` (a screen's free area) when that is smaller."""
    return QSize(min(DEFAULT_SIZE.width(), available.width()), min(DEFAULT_SIZE.height(), available.height()))


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area


def fit_to_screen(window: QMainWindow) -> None:
    """Tune ``window`` (a :class:`app.main_window.MainWindow`) for small screens."""
    window.setWindowIcon(window_icon())
    left = window.main_splitter.widget(0)
    if isinstance(left, QScrollArea):
        left.setMinimumWidth(LEFT_PANEL_MIN_WIDTH)
        inner = left.widget().layout()
        if inner is not None:
            inner.setContentsMargins(6, 4, 6, 4)
            inner.setSpacing(4)

    # The Model box: long reports scroll inside it instead of being clipped.
    label = window.result_label
    box = label.parentWidget()
    if box is not None and box.layout() is not None and not isinstance(box, QScrollArea):
        box.layout().removeWidget(label)
        box.layout().addWidget(_scroll(label))
        box.layout().setContentsMargins(4, 4, 4, 4)
        box.setMinimumWidth(MODEL_BOX_MIN_WIDTH)

    # Runs: columns as wide as their text, the last one taking what is left; the list is never
    # squeezed below a few rows.
    tree = window.runs_list.tree
    header = tree.header()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setMinimumSectionSize(36)
    tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    row = tree.fontMetrics().height() + 6
    tree.setMinimumHeight(header.sizeHint().height() + RUNS_MIN_VISIBLE_ROWS * row + 4)
    window.right_splitter.setCollapsible(1, False)

    # Texts that arrive with a run (pruning accuracy, comparison labels) wrap or elide instead
    # of widening the analysis tabs, and with them the window.
    pruning = getattr(window, "pruning_panel", None)
    for name in ("accuracy_label", "summary_label"):
        label = getattr(pruning, name, None)
        if isinstance(label, QLabel):
            label.setWordWrap(True)
            label.setMinimumWidth(0)
    for combo in window.tabs.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(max(combo.minimumContentsLength(), COMBO_MIN_CHARACTERS))

    # The status text changes during a run; it must never make the window wider than the screen
    # (the device label beside it keeps its full width).
    window.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        size = initial_size(screen.availableGeometry().size())
        window.resize(size)
        bottom = max(tree.minimumHeight() + 40, size.height() * 28 // 100)
        window.right_splitter.setSizes([size.height() - bottom, bottom])
