"""The video view: paints the newest frame scaled to fit, plus overlay and banners.

Painting only draws what it is given (no model work, no conversions beyond wrapping the
array). A QImage made from a numpy array borrows that array's memory, so the view keeps
the array alongside its QImage until both are replaced together.
"""
from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRect, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

STYLIZED, SIDE_BY_SIDE, ORIGINAL = "stylized", "side by side", "original"


def qimage_view(rgb: np.ndarray) -> tuple[QImage, np.ndarray]:
    """A QImage over ``rgb``'s memory and the (contiguous) array it borrows: keep both."""
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888), arr


def fit_rect(image: QSize, area: QRect) -> QRect:
    """The largest rectangle with ``image``'s aspect centred in ``area``."""
    if image.width() <= 0 or image.height() <= 0:
        return QRect()
    scale = min(area.width() / image.width(), area.height() / image.height())
    w, h = max(1, round(image.width() * scale)), max(1, round(image.height() * scale))
    return QRect(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2, w, h)


class VideoView(QWidget):
    """Letterboxed video; stylized, original, or both side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode = STYLIZED
        self._stylized: tuple[QImage, np.ndarray] | None = None
        self._original: tuple[QImage, np.ndarray] | None = None
        self.overlay_lines: list[str] = []
        self.banner = ""  # e.g. "camera 0 lost; retrying in 2 s"
        self.recording_text = ""  # e.g. "REC 00:12"
        self.placeholder = "Starting..."
        self.background = QColor(16, 16, 18)  # letterbox colour (the kiosk uses black)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def set_frames(self, stylized_rgb: np.ndarray, original_rgb: np.ndarray) -> None:
        """Show a new result (arrays are only read; they must not be written afterwards)."""
        self._stylized = qimage_view(stylized_rgb)
        self._original = qimage_view(original_rgb) if original_rgb is not stylized_rgb else self._stylized
        self.update()

    def clear(self) -> None:
        self._stylized = self._original = None
        self.update()

    @property
    def has_frame(self) -> bool:
        return self._stylized is not None

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.update()

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.background)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect()
        if self._stylized is None:
            self._text_center(p, self.placeholder)
        elif self.mode == SIDE_BY_SIDE and self._original is not None:
            half = area.width() // 2
            left = QRect(area.x(), area.y(), half - 2, area.height())
            right = QRect(area.x() + half + 2, area.y(), area.width() - half - 2, area.height())
            for img, rect, label in ((self._original[0], left, "original"), (self._stylized[0], right, "stylized")):
                target = fit_rect(img.size(), rect)
                p.drawImage(QRectF(target), img)
                self._tag(p, target, label)
        else:
            img = (self._original if self.mode == ORIGINAL and self._original else self._stylized)[0]
            p.drawImage(QRectF(fit_rect(img.size(), area)), img)
        if self.overlay_lines:
            self._box(p, self.overlay_lines, top_left=True)
        if self.recording_text:
            self._rec(p)
        if self.banner:
            self._banner(p)
        p.end()

    def _font(self, scale: float = 1.0, bold: bool = False) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(max(8.0, f.pointSizeF() * scale))
        f.setBold(bold)
        return f

    def _text_center(self, p: QPainter, text: str) -> None:
        p.setPen(QColor(200, 200, 205))
        p.setFont(self._font(1.3))
        p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

    def _tag(self, p: QPainter, target: QRect, label: str) -> None:
        p.setFont(self._font(0.9))
        m = p.fontMetrics()
        r = QRect(target.x() + 8, target.bottom() - m.height() - 12, m.horizontalAdvance(label) + 12, m.height() + 4)
        p.fillRect(r, QColor(0, 0, 0, 150))
        p.setPen(QColor(235, 235, 235))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)

    def _box(self, p: QPainter, lines: list[str], top_left: bool) -> None:
        p.setFont(self._font(0.95))
        m = p.fontMetrics()
        w = max(m.horizontalAdvance(s) for s in lines) + 20
        h = m.height() * len(lines) + 14
        r = QRect(10, 10, w, h)
        p.fillRect(r, QColor(0, 0, 0, 165))
        p.setPen(QColor(140, 255, 170))
        for i, line in enumerate(lines):
            p.drawText(r.x() + 10, r.y() + 7 + m.ascent() + i * m.height(), line)

    def _rec(self, p: QPainter) -> None:
        p.setFont(self._font(1.0, bold=True))
        m = p.fontMetrics()
        text = self.recording_text
        w = m.horizontalAdvance(text) + 38
        r = QRect(self.width() - w - 10, 10, w, m.height() + 12)
        p.fillRect(r, QColor(0, 0, 0, 165))
        p.setBrush(QColor(230, 40, 40))
        p.setPen(Qt.PenStyle.NoPen)
        d = m.height() * 0.6
        p.drawEllipse(QRectF(r.x() + 10, r.center().y() - d / 2 + 1, d, d))
        p.setPen(QColor(255, 255, 255))
        p.drawText(r.adjusted(int(d) + 16, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def _banner(self, p: QPainter) -> None:
        p.setFont(self._font(1.05))
        m = p.fontMetrics()
        r = QRect(0, self.height() - m.height() - 20, self.width(), m.height() + 20)
        p.fillRect(r, QColor(120, 20, 20, 200))
        p.setPen(QColor(255, 255, 255))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.banner)
