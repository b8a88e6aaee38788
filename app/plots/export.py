"""Plot export to PNG (pyqtgraph's ImageExporter) or SVG (Qt's QSvgGenerator), written atomically.

pyqtgraph 0.14's SVGExporter rewrites path coordinates assuming "x,y" pairs and fails on the
paths current Qt versions emit (pyqtgraph issue #3485), so SVG goes through Qt's own generator,
rendering the plot's part of the scene as vector graphics.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator

from spectral_core.files import WriteError, atomic_path

PLOT_SUFFIXES = (".png", ".svg")


def _write_svg(item: pg.GraphicsItem, path: Path, title: str) -> None:
    source = item.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(source.size().toSize())
    generator.setViewBox(target)
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        item.scene().render(painter, target, source)
    finally:
        painter.end()


def export_plot(item: pg.PlotItem, path: str | os.PathLike[str], title: str = "plot") -> Path:
    """Write ``item`` to ``path``; the suffix (.png or .svg) picks the format."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise WriteError(
            f"cannot write {target}: a plot file name must end in {' or '.join(PLOT_SUFFIXES)}"
        )
    with atomic_path(target) as temp:
        if suffix == ".svg":
            _write_svg(item, temp, title)
        else:
            exporter = ImageExporter(item)
            # Twice the on-screen size: sharp enough for slides and papers.
            exporter.parameters()["width"] = max(800, int(item.sceneBoundingRect().width() * 2))
            exporter.export(str(temp))
        if not temp.stat().st_size:
            raise WriteError(f"cannot write {target}: the plot exporter wrote nothing")
    return target
