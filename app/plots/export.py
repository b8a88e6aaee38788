"""Plot export to PNG (pyqtgraph's ImageExporter) or SVG (Qt's QSvgGenerator), written atomically.

pyqtgraph 0.14's SVGExporter rewrites path coordinates assuming "x,y" pairs and fails on the
paths current Qt versions emit (pyqtgraph issue #3485), so SVG goes through Qt's own generator,
rendering the plot's part of the scene as vector graphics. :func:`install_svg_export` puts the
same fix behind the "Export…" entry of every plot's right-click menu.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import Exporter, ImageExporter, SVGExporter
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QRectF
from PySide6.QtGui import QGuiApplication, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene

from spectral_core.files import WriteError, atomic_path, atomic_write_bytes

PLOT_SUFFIXES = (".png", ".svg")


def svg_bytes(item: pg.GraphicsItem | QGraphicsScene, title: str = "plot") -> bytes:
    """``item`` (or a whole scene) as an SVG document."""
    scene = item if isinstance(item, QGraphicsScene) else item.scene()
    source = item.sceneRect() if isinstance(item, QGraphicsScene) else item.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(source.size().toSize())
    generator.setViewBox(target)
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, target, source)
    finally:
        painter.end()
        buffer.close()
    return bytes(data.data())


def export_plot(item: pg.PlotItem, path: str | os.PathLike[str], title: str = "plot") -> Path:
    """Write ``item`` to ``path``; the suffix (.png or .svg) picks the format."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise WriteError(
            f"cannot write {target}: a plot file name must end in {' or '.join(PLOT_SUFFIXES)}"
        )
    if suffix == ".svg":
        atomic_write_bytes(target, svg_bytes(item, title))
        return target
    with atomic_path(target) as temp:
        exporter = ImageExporter(item)
        # Twice the on-screen size: sharp enough for slides and papers.
        exporter.parameters()["width"] = max(800, int(item.sceneBoundingRect().width() * 2))
        exporter.export(str(temp))
        if not temp.stat().st_size:
            raise WriteError(f"cannot write {target}: the plot exporter wrote nothing")
    return target


class QtSvgExporter(SVGExporter):
    """pyqtgraph's SVG entry (same dialog and options) writing through QSvgGenerator."""

    def export(self, fileName=None, toBytes=False, copy=False):  # noqa: N803  (pyqtgraph's names)
        if fileName is None and not toBytes and not copy:
            self.fileSaveDialog(filter="Scalable Vector Graphics (*.svg)")
            return None
        data = svg_bytes(self.item)
        if toBytes:
            return data
        if copy:
            mime = QMimeData()
            mime.setData("image/svg+xml", QByteArray(data))
            QGuiApplication.clipboard().setMimeData(mime)
            return None
        atomic_write_bytes(fileName, data)
        return None


def install_svg_export() -> None:
    """Replace pyqtgraph's SVG exporter in every plot's "Export…" dialog by :class:`QtSvgExporter`."""
    Exporter.Exporters[:] = [
        QtSvgExporter if exporter is SVGExporter else exporter for exporter in Exporter.Exporters
    ]
