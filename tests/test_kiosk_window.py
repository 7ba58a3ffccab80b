"""The kiosk window (pytest-qt, offscreen): fullscreen, frameless, no cursor, caption; only the exit
chord closes it (keys, clicks and close requests are swallowed); a lost source leaves the last good
frame under a calm note and recovers by itself; dark outside active hours; signals close it; and
`main.py --kiosk` runs it end to end."""
from __future__ import annotations

import datetime as dt
import json


import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

import app.cli.live as live_cli
from app.cli import main
from app.kiosk.config import ActiveHours, KeyChord, KioskConfig
from app.paths import log_dir
from app.ui.kiosk_window import KioskWindow, run_kiosk_window
from kiosk_fixtures import make_session, micro_stylizer
from live_fixtures import STYLE_FILES, VIDEO, ScriptedSource

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

TIMEOUT_MS = 20_000
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def make_kiosk(qtbot, tmp_path):
    made: list[KioskWindow] = []

    def make(source=None, config: KioskConfig | None = None, **kw) -> KioskWindow:
        config = config or KioskConfig(size=32, crossfade=0.5, interval=3.0)
        session = make_session(micro_stylizer(tmp_path), source or ScriptedSource(fps=60), config, **kw)
        window = KioskWindow(session)
        qtbot.addWidget(window)
        session.start()
        window.show_kiosk()
        made.append(window)
        return window

    yield make
    for w in made:
        w.request_exit("test over")  # the only way out; stops the session's threads


def image_array(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3] \
        .reshape(img.height(), img.width(), 3).copy()


def shows_new_frames(qtbot, window: KioskWindow) -> None:
    seq = window._seq
    qtbot.waitUntil(lambda: window._seq > seq + 2, timeout=TIMEOUT_MS)


def test_fullscreen_frameless_no_cursor_just_the_picture_and_a_caption(qtbot, make_kiosk):
    w = make_kiosk(config=KioskConfig(size=32, crossfade=0.5, interval=30.0))  # the caption stays 1 s .. 12 s
    assert w.isFullScreen() and w.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert w.cursor().shape() == Qt.CursorShape.BlankCursor and w.view.cursor().shape() == Qt.CursorShape.BlankCursor
    assert w.findChildren(type(w.view)) == [w.view] and len(w.findChildren(object)) < 10  # no controls
    qtbot.waitUntil(lambda: w.view.has_frame, timeout=TIMEOUT_MS)
    # Fully faded in: at 0.9 its text is ~200 grey over a dark picture, right at the threshold below.
    qtbot.waitUntil(lambda: w.view.caption_opacity > 0.99, timeout=TIMEOUT_MS)
    assert w.view.caption == "Painting 0, Artist 0 (1900)"
    # Going fullscreen is a request the platform answers later: grab once the window has the screen.
    qtbot.waitUntil(lambda: w.size() == w.screen().size(), timeout=TIMEOUT_MS)
    shot = image_array(w.grab().toImage())
    h, wd = shot.shape[:2]
    assert shot[h // 3: 2 * h // 3, wd // 3: 2 * wd // 3].std() > 5  # the picture is there
    corner = shot[int(h * 0.85):, : wd // 3]
    assert (corner > 200).sum() > 50  # light caption text in the bottom-left corner


def test_the_exit_chord_closes_the_window_and_stops_everything(qtbot, make_kiosk):
    w = make_kiosk()
    qtbot.waitUntil(lambda: w.view.has_frame, timeout=TIMEOUT_MS)
    qtbot.keyClick(w, Qt.Key.Key_Q, CTRL_SHIFT)
    assert not w.isVisible()
    assert w.exit_reason == "exit chord Ctrl+Shift+Q"
    pipeline = w.session.pipeline
    assert not pipeline.worker.alive and not pipeline.capture.alive and not w.session.running


def test_ordinary_keys_clicks_and_close_requests_are_ignored(qtbot, make_kiosk):
    w = make_kiosk()
    qtbot.waitUntil(lambda: w.view.has_frame, timeout=TIMEOUT_MS)
    keys = [(Qt.Key.Key_Q, Qt.KeyboardModifier.NoModifier), (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
            (Qt.Key.Key_F4, Qt.KeyboardModifier.AltModifier), (Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier),
            (Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier), (Qt.Key.Key_W, CTRL_SHIFT),
            (Qt.Key.Key_Q, CTRL_SHIFT | Qt.KeyboardModifier.AltModifier),
            (Qt.Key.Key_F11, Qt.KeyboardModifier.NoModifier),
            (Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier), (Qt.Key.Key_F, Qt.KeyboardModifier.NoModifier)]
    for key, mods in keys:
        qtbot.keyClick(w, key, mods)
    for button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton):
        qtbot.mouseClick(w.view, button)
    qtbot.mouseDClick(w.view, Qt.MouseButton.LeftButton)
    assert w.close() is False  # Alt+F4 from a window manager arrives as this close request
    assert w.isVisible() and w.isFullScreen() and w.exit_reason == ""
    assert w.ignored_events >= len(keys) + 3 + 1 + 1  # keys (+ the modifiers' own presses), clicks, close
    shows_new_frames(qtbot, w)  # and the show goes on
    assert w.session.running


def test_the_chord_and_close_handling_are_configurable(qtbot, make_kiosk):
    config = KioskConfig(size=32, crossfade=0.5, interval=3.0, exit_chord=KeyChord.parse("Alt+F12"), ignore_close=False)
    w = make_kiosk(config=config)
    qtbot.keyClick(w, Qt.Key.Key_Q, CTRL_SHIFT)  # the default chord does nothing now
    assert w.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_F12, Qt.KeyboardModifier.AltModifier)
    assert not w.isVisible() and w.exit_reason == "exit chord Alt+F12"
    w2 = make_kiosk(config=config)
    assert w2.close() is True and w2.exit_reason == "window closed" and not w2.session.running


def test_a_lost_source_keeps_the_last_frame_under_a_calm_note_and_recovers(qtbot, make_kiosk):
    source = ScriptedSource(frames_per_life=30, failed_opens=15, fps=60)
    w = make_kiosk(source=source)
    qtbot.waitUntil(lambda: w.view.note.startswith("Reconnecting"), timeout=TIMEOUT_MS)
    assert w.view.note == "Reconnecting to the video\u2026" and w.view.has_frame
    shot = image_array(w.grab().toImage())
    h, wd = shot.shape[:2]
    assert shot[: h // 3, wd // 4: 3 * wd // 4].std() > 2  # the last good frame is still there (dimmed)
    assert shot[: h // 3].mean() > 5
    qtbot.waitUntil(lambda: w.view.note == "", timeout=TIMEOUT_MS)  # it came back by itself
    shows_new_frames(qtbot, w)
    assert w.session.reconnects == 1 and source.lives == 2


def test_a_source_missing_from_the_start_waits_calmly(qtbot, make_kiosk):
    w = make_kiosk(source=ScriptedSource(first_open_fails=10**6, fps=60))
    qtbot.waitUntil(lambda: w.view.note == "Waiting for the video\u2026", timeout=TIMEOUT_MS)
    assert not w.view.has_frame and w.isVisible()


def test_dark_outside_active_hours(qtbot, make_kiosk):
    now = [dt.time(23, 0)]
    config = KioskConfig(size=32, crossfade=0.5, interval=3.0, active_hours=ActiveHours.parse("08:00-22:00"))
    w = make_kiosk(config=config, local_time=lambda: now[0])
    qtbot.waitUntil(lambda: w.view.dark, timeout=TIMEOUT_MS)
    assert w.session.pipeline.capture is None  # the camera is released
    qtbot.wait(200)
    assert not w.view.has_frame and image_array(w.grab().toImage()).max() == 0  # black
    now[0] = dt.time(8, 0)
    qtbot.waitUntil(lambda: not w.view.dark and w.view.has_frame, timeout=TIMEOUT_MS)
    assert w.session.pipeline.capture is not None


def test_a_signal_closes_the_window_cleanly(qtbot, make_kiosk):
    w = make_kiosk()
    w.session.request_stop("SIGTERM")  # what the SIGTERM handler does
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=TIMEOUT_MS)
    assert w.exit_reason == "SIGTERM" and not w.session.running


def test_run_kiosk_window_returns_when_the_duration_is_over(qtbot, tmp_path):
    session = make_session(micro_stylizer(tmp_path), ScriptedSource(fps=60),
                           KioskConfig(size=32, crossfade=0.5, interval=3.0))
    assert run_kiosk_window(session, duration=1.0) == "duration"
    assert not session.running and session.monitor.frames > 0


def test_main_kiosk_runs_fullscreen_end_to_end(qtbot, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(live_cli, "make_stylizer", lambda args, model=None, live=False: micro_stylizer(tmp_path))
    report = tmp_path / "soak.json"
    rc = main(["--kiosk", "--source", str(VIDEO), "--style", str(STYLE_FILES[0]), "--style", str(STYLE_FILES[1]),
               "--size", "32", "--duration", "1.5", "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "kiosk stopped (duration)" in out
    data = json.loads(report.read_text())
    assert data["frames"] > 0 and data["stopped_by"] == "duration" and data["styles"] == 2
    assert "kiosk started" in (log_dir() / "kiosk.log").read_text()
