"""A live picture of the layer stack: input first, one box per layer, telescopic layers dashed."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from spectral_core.architecture import Architecture

MARGIN = 8.0
GAP = 22.0  # room for the arrow between two boxes
TITLE_HEIGHT = 16.0
CAPTION_HEIGHT = 30.0
MIN_BOX_WIDTH = 44.0
MAX_BOX_WIDTH = 110.0
MIN_BOX_HEIGHT = 24.0

INPUT_FILL = QColor("#cfd8dc")
HIDDEN_FILL = QColor("#90caf9")
OUTPUT_FILL = QColor("#a5d6a7")
TELESCOPIC_FILL = QColor("#e3f2fd")
BORDER = QColor("#37474f")
TELESCOPIC_BORDER = QColor("#1565c0")
PROBLEM_BORDER = QColor("#c62828")
TEXT = QColor("#212121")


@dataclass(frozen=True)
class DiagramBox:
    """What one box shows; ``row`` is the layer's row, -1 for the input."""

    title: str
    units: int
    activation: str
    telescopic: bool
    problem: str
    row: int


class StackDiagram(QWidget):
    """Boxes from input to output; box height grows with the layer's width."""

    layerClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._boxes: list[DiagramBox] = []
        self._selected_rows: frozenset[int] = frozenset()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(126)
        self.setToolTip("The stack from input to output; dashed boxes are telescopic layers")

    def set_architecture(self, architecture: Architecture, problems: list[str]) -> None:
        """Show ``architecture``; ``problems[row]`` is that layer's problem text ("" if none)."""
        last = len(architecture.layers) - 1
        boxes = [DiagramBox("input", architecture.input_units, "", False, "", -1)]
        for row, layer in enumerate(architecture.layers):
            title = "output" if row == last else f"layer {row + 1}"
            boxes.append(
                DiagramBox(title, layer.units, layer.activation, layer.telescopic, problems[row], row)
            )
        self._boxes = boxes
        count = len(boxes)
        self.setMinimumWidth(int(2 * MARGIN + count * MIN_BOX_WIDTH + (count - 1) * GAP))
        self.update()

    def set_selected_rows(self, rows: list[int]) -> None:
        """Outline the boxes of the layers selected in the table."""
        self._selected_rows = frozenset(rows)
        self.update()

    def selected_rows(self) -> list[int]:
        return sorted(self._selected_rows)

    def boxes(self) -> list[DiagramBox]:
        return list(self._boxes)

    def sizeHint(self) -> QSize:
        return QSize(420, 170)

    def box_rects(self) -> list[QRectF]:
        """Where each box is drawn, in widget coordinates (input first)."""
        count = len(self._boxes)
        if not count:
            return []
        free = self.width() - 2 * MARGIN - (count - 1) * GAP
        width = min(MAX_BOX_WIDTH, max(MIN_BOX_WIDTH, free / count))
        tallest = max(MIN_BOX_HEIGHT, self.height() - 2 * MARGIN - TITLE_HEIGHT - CAPTION_HEIGHT)
        widest = max(box.units for box in self._boxes)
        middle = MARGIN + TITLE_HEIGHT + tallest / 2
        total = count * width + (count - 1) * GAP
        left = MARGIN + max(0.0, (self.width() - 2 * MARGIN - total) / 2)
        rects = []
        for index, box in enumerate(self._boxes):
            # Square-root scale: a 10-unit output stays visible next to an 800-unit layer.
            height = MIN_BOX_HEIGHT + (tallest - MIN_BOX_HEIGHT) * (box.units / widest) ** 0.5
            x = left + index * (width + GAP)
            rects.append(QRectF(x, middle - height / 2, width, height))
        return rects

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        rects = self.box_rects()
        last = len(self._boxes) - 1
        plain = QFont(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, plain.pointSizeF() * 0.85))
        title_color = self.palette().windowText().color()
        for index, (box, rect) in enumerate(zip(self._boxes, rects, strict=True)):
            if index < last:
                self._draw_arrow(painter, rect, rects[index + 1])
            if box.row in self._selected_rows:
                painter.setPen(QPen(self.palette().highlight().color(), 3))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(rect.adjusted(-3, -3, 3, 3), 6, 6)
            painter.setPen(self._border_pen(box))
            painter.setBrush(QBrush(self._fill(box, index == last)))
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(TEXT)
            painter.setFont(bold)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(box.units))
            painter.setPen(PROBLEM_BORDER if box.problem else title_color)
            painter.setFont(small)
            title_rect = QRectF(rect.left() - GAP / 2, MARGIN, rect.width() + GAP, TITLE_HEIGHT)
            painter.drawText(title_rect, Qt.AlignmentFlag.AlignCenter, box.title)
            caption = box.activation + ("\ntelescopic" if box.telescopic else "")
            if box.problem:
                caption = box.activation + "\n⚠ invalid"
            caption_rect = QRectF(
                rect.left() - GAP / 2, rect.bottom() + 5, rect.width() + GAP, CAPTION_HEIGHT
            )
            painter.drawText(
                caption_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, caption
            )
        painter.end()

    @staticmethod
    def _fill(box: DiagramBox, is_last: bool) -> QColor:
        if box.row < 0:
            return INPUT_FILL
        if box.telescopic:
            return TELESCOPIC_FILL
        return OUTPUT_FILL if is_last else HIDDEN_FILL

    @staticmethod
    def _border_pen(box: DiagramBox) -> QPen:
        if box.problem:
            return QPen(PROBLEM_BORDER, 2.5)
        if box.telescopic:
            return QPen(TELESCOPIC_BORDER, 1.6, Qt.PenStyle.DashLine)
        return QPen(BORDER, 1.2)

    def _draw_arrow(self, painter: QPainter, start: QRectF, end: QRectF) -> None:
        y = start.center().y()
        tail = QPointF(start.right() + 3, y)
        head = QPointF(end.left() - 3, y)
        painter.setPen(QPen(BORDER, 1.2))
        painter.drawLine(tail, head)
        tip = QPainterPath(head)
        tip.lineTo(head.x() - 6, y - 4)
        tip.lineTo(head.x() - 6, y + 4)
        tip.closeSubpath()
        painter.fillPath(tip, QBrush(BORDER))

    def box_at(self, position: QPointF) -> DiagramBox | None:
        for box, rect in zip(self._boxes, self.box_rects(), strict=True):
            if rect.contains(position):
                return box
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        box = self.box_at(event.position())
        if box is not None and box.row >= 0:
            self.layerClicked.emit(box.row)
            return
        super().mousePressEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            box = self.box_at(QPointF(event.pos()))
            if box is None:
                QToolTip.showText(event.globalPos(), self.toolTip(), self)
            else:
                QToolTip.showText(event.globalPos(), self.describe(box), self)
            return True
        return super().event(event)

    @staticmethod
    def describe(box: DiagramBox) -> str:
        if box.row < 0:
            return f"input: {box.units} units"
        text = f"{box.title}: {box.units} units, {box.activation}"
        if box.telescopic:
            text += ", telescopic (folds into the next layer)"
        return f"{text}\n{box.problem}" if box.problem else text
