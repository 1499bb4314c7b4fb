"""The drawing pad: dark ink on a light square, strokes kept for undo, a debounced ``changed`` signal.

The pad hands the whole drawing (a grayscale array) to the core's one image path, which crops,
scales and centres it like MNIST, so nothing here imitates that. The pen is about as wide,
relative to the digit, as MNIST's strokes. Pen and touch input reach the pad as mouse events,
which Qt synthesises for tablets and touch screens.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

CANVAS = 280
PEN_FRACTION = 0.065  # of the canvas side: about MNIST's stroke width for a digit filling the pad
DEBOUNCE_MS = 120


def qimage_to_gray(image: QImage) -> np.ndarray:
    """A QImage as a float32 ``[H, W]`` array in [0, 1] (copied: the QImage may change later)."""
    g = image.convertToFormat(QImage.Format.Format_Grayscale8)
    h, w, stride = g.height(), g.width(), g.bytesPerLine()
    buf = np.frombuffer(g.constBits().asstring(h * stride), np.uint8).reshape(h, stride)
    return buf[:, :w].astype(np.float32) / 255.0


class DrawingPad(QWidget):
    """Draw with the mouse, a pen or a finger; ``changed`` carries the drawing, ``cleared`` its absence."""

    changed = pyqtSignal(object)  # np.ndarray [CANVAS, CANVAS] float32, ink dark on light
    cleared = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(CANVAS, CANVAS)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, False)  # touch arrives as mouse events
        self._strokes: list[list[QPointF]] = []
        self._image = QImage(CANVAS, CANVAS, QImage.Format.Format_RGB32)
        self._pen = QPen(QColor(0, 0, 0), CANVAS * PEN_FRACTION, Qt.PenStyle.SolidLine,
                         Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self._render()

    def sizeHint(self) -> QSize:
        return QSize(CANVAS, CANVAS)

    # ------------------------------------------------------------------ public
    @property
    def empty(self) -> bool:
        return not self._strokes

    @property
    def stroke_count(self) -> int:
        return len(self._strokes)

    def array(self) -> np.ndarray:
        """The drawing as float32 ``[CANVAS, CANVAS]``, 0 = ink, 1 = paper."""
        return qimage_to_gray(self._image)

    def clear(self) -> None:
        self._strokes.clear()
        self._render()
        self._debounce.stop()
        self.cleared.emit()

    def undo(self) -> None:
        """Remove the last stroke."""
        if self._strokes:
            self._strokes.pop()
            self._render()
            self._emit()

    # ------------------------------------------------------------------ drawing
    def _to_canvas(self, pos: QPointF) -> QPointF:
        return QPointF(pos.x() * CANVAS / max(1, self.width()), pos.y() * CANVAS / max(1, self.height()))

    def _paint_stroke(self, painter: QPainter, pts: list[QPointF]) -> None:
        if len(pts) == 1:
            painter.drawPoint(pts[0])
            return
        path = QPainterPath(pts[0])
        for p in pts[1:]:
            path.lineTo(p)
        painter.drawPath(path)

    def _render(self) -> None:
        self._image.fill(QColor(255, 255, 255))
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen)
        for pts in self._strokes:
            self._paint_stroke(painter, pts)
        painter.end()
        self.update()

    def _extend(self, pos: QPointF) -> None:
        pts = self._strokes[-1]
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen)
        self._paint_stroke(painter, [pts[-1], pos])
        painter.end()
        pts.append(pos)
        self.update()

    def _emit(self) -> None:
        if self._strokes:
            self.changed.emit(self.array())
        else:
            self.cleared.emit()

    # ------------------------------------------------------------------ events
    # (PyQt6's stubs allow None for every event; Qt passes one: the overrides take the event as it comes)
    def mousePressEvent(self, e: QMouseEvent) -> None:  # type: ignore[override]
        if e.button() == Qt.MouseButton.LeftButton:
            self._strokes.append([self._to_canvas(e.position())])
            self._render()
        elif e.button() == Qt.MouseButton.RightButton:
            self.undo()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # type: ignore[override]
        if e.buttons() & Qt.MouseButton.LeftButton and self._strokes:
            self._extend(self._to_canvas(e.position()))
            self._debounce.start()  # restart: the prediction follows the hand, not every event

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # type: ignore[override]
        if e.button() == Qt.MouseButton.LeftButton and self._strokes:
            self._debounce.stop()
            self._emit()

    def paintEvent(self, e: QPaintEvent) -> None:  # type: ignore[override]
        painter = QPainter(self)
        painter.drawImage(self.rect(), self._image)
        painter.setPen(QColor(150, 150, 150))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()
