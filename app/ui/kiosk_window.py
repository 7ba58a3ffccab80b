"""The kiosk window: fullscreen on the chosen screen, nothing but the stylized picture.

No frame, no controls, no cursor. A small caption (painting title and artist) fades in
when a painting takes over and out a few seconds later; when the source is lost the last
good frame stays, dimmed, under a calm "Reconnecting..." note; outside active hours the
screen is black. Visitors cannot do anything: every key, click and close request (Alt+F4
from the window manager) is swallowed, except the configured exit chord and, where the
config turns it on (``capture = true``), the visitor button (``capture_key``) that takes
a style from the camera. All state comes
from :class:`app.kiosk.session.KioskSession`; this module only draws it.
"""
from __future__ import annotations

import logging
import time

from PyQt6.QtCore import QRectF, Qt, QTimer
from PyQt6.QtGui import (QCloseEvent, QColor, QContextMenuEvent, QFont, QGuiApplication, QKeyEvent, QMouseEvent,
                         QPainter, QPaintEvent, QPalette, QWheelEvent)
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from app.errors import UserError
from app.kiosk.config import KeyChord
from app.kiosk.session import KioskSession
from app.ui.view import VideoView

log = logging.getLogger(__name__)
POLL_MS = 15  # newest-frame poll (as in the main window)
STATUS_MS = 50  # caption fades, notes, limits, signals: smooth enough for a one-second fade
MODIFIER_MASK = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
                 | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier)
QT_MODIFIERS = {"Ctrl": Qt.KeyboardModifier.ControlModifier, "Shift": Qt.KeyboardModifier.ShiftModifier,
                "Alt": Qt.KeyboardModifier.AltModifier, "Meta": Qt.KeyboardModifier.MetaModifier}


def qt_chord(chord: KeyChord) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    """The Qt key and modifier flags of a validated chord."""
    mods = Qt.KeyboardModifier.NoModifier
    for m in chord.modifiers:
        mods |= QT_MODIFIERS[m]
    return getattr(Qt.Key, f"Key_{chord.key}"), mods


class KioskView(VideoView):
    """The video view plus the kiosk's caption, note and dark screen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(1, 1)
        self.background = QColor(0, 0, 0)
        self.placeholder = ""
        self.caption = ""
        self.caption_opacity = 0.0
        self.note = ""
        self.dark = False

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.dark:
            p = QPainter(self)
            p.fillRect(self.rect(), QColor(0, 0, 0))
            p.end()
            return
        super().paintEvent(event)  # the letterboxed frame (its own painter, ended)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        if self.note:
            self._paint_note(p)
        if self.caption and self.caption_opacity > 0.01:
            self._paint_caption(p)
        p.end()

    def _pixel_font(self, fraction: float, *, italic: bool = False, minimum: int = 11) -> QFont:
        """A font sized relative to the screen height, so a 4K wall and a laptop look alike."""
        f = QFont(self.font())
        f.setPixelSize(max(minimum, round(self.height() * fraction)))
        f.setItalic(italic)
        return f

    def _paint_note(self, p: QPainter) -> None:
        if self.has_frame:
            p.fillRect(self.rect(), QColor(0, 0, 0, 110))  # the last good frame, quietly dimmed
        p.setFont(self._pixel_font(0.028, minimum=13))
        m = p.fontMetrics()
        pad_x, pad_y = m.height(), m.height() // 2
        w, h = m.horizontalAdvance(self.note) + 2 * pad_x, m.height() + 2 * pad_y
        box = QRectF((self.width() - w) / 2, self.height() * 0.62 - h / 2, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(box, h / 2, h / 2)
        p.setPen(QColor(225, 225, 225))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.note)

    def _paint_caption(self, p: QPainter) -> None:
        a = max(0.0, min(1.0, self.caption_opacity))
        p.setFont(self._pixel_font(0.024, italic=True))
        m = p.fontMetrics()
        margin = max(12, round(self.height() * 0.035))
        text = m.elidedText(self.caption, Qt.TextElideMode.ElideRight, self.width() - 4 * margin)
        pad_x, pad_y = m.height() * 0.6, m.height() * 0.3
        w, h = m.horizontalAdvance(text) + 2 * pad_x, m.height() + 2 * pad_y
        box = QRectF(margin, self.height() - margin - h, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, round(120 * a)))
        p.drawRoundedRect(box, h * 0.2, h * 0.2)
        p.setPen(QColor(240, 240, 236, round(235 * a)))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class KioskWindow(QWidget):
    """Frameless fullscreen window over a started :class:`KioskSession`; only the exit chord closes it."""

    def __init__(self, session: KioskSession, *, duration: float | None = None, frames: int | None = None) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
        self.session = session
        self.config = session.config
        self.duration = duration
        self.frames_limit = frames
        self.exit_reason = ""
        self.ignored_events = 0  # keys, clicks and close requests swallowed (tests, log)
        self._allow_close = False
        self._seq = 0
        self._started = time.monotonic()
        self._key, self._mods = qt_chord(self.config.exit_chord)
        self._capture_key = qt_chord(self.config.capture_key) if self.config.capture else None
        self.captures = 0  # visitor button presses that took a style from the camera

        self.setWindowTitle("AdaIN Live")
        self.setCursor(Qt.CursorShape.BlankCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(0, 0, 0))
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        self.view = KioskView(self)
        self.view.setCursor(Qt.CursorShape.BlankCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

        self._frame_timer = QTimer(self)
        self._frame_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._frame_timer.timeout.connect(self.poll_frame)
        self._frame_timer.start(POLL_MS)
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self.refresh)
        self._status_timer.start(STATUS_MS)

    # ------------------------------------------------------------------ showing

    def show_kiosk(self) -> None:
        """Fullscreen on the configured screen (the primary one if that screen is not connected)."""
        screens = QGuiApplication.screens()
        index = self.config.screen
        screen = screens[index] if index < len(screens) else QGuiApplication.primaryScreen()
        if index >= len(screens):
            log.warning("screen %d is not connected (%d screens): using the primary screen", index, len(screens))
        if screen is not None:
            self.setScreen(screen)
            self.setGeometry(screen.geometry())
        self.showFullScreen()
        self.raise_()
        self.activateWindow()
        self.setFocus()

    def poll_frame(self) -> None:
        """Show the newest result if there is one (never waits)."""
        try:
            result = self.session.pipeline.read(self._seq, timeout=0)
            if result is None or self.view.dark:
                return
            self._seq = result.seq
            self.view.set_frames(result.rgb, result.source.rgb)
        except Exception:  # a drawing hiccup must not end an installation
            log.exception("showing a frame failed")

    def refresh(self) -> None:
        """Note, caption, dark hours; and the ways a run ends (signal, duration, frames)."""
        try:
            s = self.session
            if s.stop_requested.is_set():
                self.request_exit(s.stop_reason or "stopped")
                return
            if self.duration is not None and time.monotonic() - self._started >= self.duration:
                self.request_exit("duration")
                return
            if self.frames_limit is not None and s.monitor.frames >= self.frames_limit:
                self.request_exit("frames")
                return
            st = s.status()
            v = self.view
            if not st.active and not v.dark:
                v.clear()
            v.dark = not st.active
            v.note = st.note
            v.caption, v.caption_opacity = st.caption, st.caption_opacity
            v.update()
        except Exception:  # a drawing hiccup must not end an installation
            log.exception("kiosk window refresh failed")

    # ------------------------------------------------------------------ leaving

    def request_exit(self, reason: str) -> None:
        """End the run (the exit chord, a signal, a limit): the only way this window closes."""
        if not self.exit_reason:
            self.exit_reason = reason
            log.info("kiosk exit: %s", reason)
        self._allow_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._allow_close and self.config.ignore_close:
            self.ignored_events += 1
            log.info("close request ignored (ignore_close = true; exit with %s)", self.config.exit_chord)
            event.ignore()
            return
        self.exit_reason = self.exit_reason or "window closed"
        self._frame_timer.stop()
        self._status_timer.stop()
        self.session.stop(self.exit_reason)
        event.accept()

    # ------------------------------------------------------------------ visitors

    def is_exit_chord(self, event: QKeyEvent) -> bool:
        return event.key() == self._key and (event.modifiers() & MODIFIER_MASK) == self._mods

    def is_capture_key(self, event: QKeyEvent) -> bool:
        if self._capture_key is None or event.isAutoRepeat():  # a held button takes one picture
            return False
        key, mods = self._capture_key
        return event.key() == key and (event.modifiers() & MODIFIER_MASK) == mods

    def capture_style(self) -> None:
        """The visitor button: a style from the camera (see KioskSession.capture_style); a refusal
        (no picture yet, a full disk) is logged and the show goes on."""
        try:
            self.session.capture_style()
            self.captures += 1
        except UserError as exc:
            log.warning("visitor button: %s", exc)
        except Exception:  # a visitor must not be able to stop the installation
            log.exception("visitor button failed")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.is_exit_chord(event):
            event.accept()
            self.request_exit(f"exit chord {self.config.exit_chord}")
            return
        if self.is_capture_key(event):
            event.accept()
            self.capture_style()
            return
        self.ignored_events += 1
        event.accept()  # swallowed: no key does anything else

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.ignored_events += 1
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.ignored_events += 1
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.accept()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        event.accept()


def run_kiosk_window(session: KioskSession, *, duration: float | None = None, frames: int | None = None) -> str:
    """Start the session, go fullscreen, run the Qt loop until the window is allowed to close."""
    from app.ui.app import application

    app = application()
    window = KioskWindow(session, duration=duration, frames=frames)
    try:
        session.start()
        window.show_kiosk()
        app.exec()
    finally:
        session.stop(window.exit_reason or "window closed")
    return window.exit_reason or session.stop_reason or "window closed"
