"""The window under hostile conditions (pytest-qt, offscreen): the disk fills while recording,
and style images that are missing, empty, truncated, of the wrong type, 1x1 or decompression
bombs are dropped on the window or picked in the "Add style..." dialog. Each time the window
says what happened in one line, keeps showing frames, and leaves nothing half-written behind.

A fake engine (it inverts the frame) stands in for the network: these tests are about the
window's behaviour, and the real engine's is covered by test_ui.py.
"""
from __future__ import annotations

import errno
import io
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads

import pytest
from PIL import Image
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent
from PyQt6.QtWidgets import QFileDialog

import app.styles
from app.live.pipeline import LivePipeline
from app.ui.state import UiState
from app.ui.window import MainWindow
from app.video_io import probe_frames
from conftest import assert_one_line, craft_png_header
from live_fixtures import FAST_BACKOFF, STYLE_FILES, VIDEO, FAKE_SETTINGS, FakeStylizer, NoiseSource, fill_disk_after
from live_fixtures import library, style_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

TIMEOUT_MS = 30_000


@pytest.fixture
def window(qtbot, library):
    """The window on a started pipeline: 64x48 noise at 50 fps through the fake engine."""
    pipeline = LivePipeline(FakeStylizer(), NoiseSource(fps=50), settings=FAKE_SETTINGS, backoff=FAST_BACKOFF)
    win = MainWindow(pipeline, library, UiState(styles=library.names()[:1], size=64, stabilize=0.0),
                     save_on_close=False)
    qtbot.addWidget(win)
    pipeline.start()
    win.show()
    qtbot.waitUntil(lambda: win.results_seen >= 1, timeout=TIMEOUT_MS)
    yield win
    win.close()  # stops the pipeline threads


def status(window: MainWindow) -> str:
    return window.statusBar().currentMessage()


def assert_still_live(qtbot, window: MainWindow, frames: int = 5) -> None:
    seen = window.results_seen
    qtbot.waitUntil(lambda: window.results_seen >= seen + frames, timeout=TIMEOUT_MS)
    assert window.isVisible() and window.pipeline.worker.alive and window.pipeline.capture.alive


# ---------------------------------------------------------------------------- the disk fills up


def test_a_full_disk_while_recording_stops_it_with_a_message_and_the_window_goes_on(qtbot, window, tmp_path,
                                                                                   monkeypatch):
    room = 150_000
    fill_disk_after(monkeypatch, room)
    path = window.start_recording(tmp_path / "full.mp4")
    assert path is not None and window.controls.record_button.isChecked()
    qtbot.waitUntil(lambda: status(window).startswith("Recording stopped:"), timeout=60_000)
    assert status(window) == f"Recording stopped: {path}: cannot write (No space left on device)"
    assert_one_line(status(window))
    assert not window.pipeline.recording
    assert not window.controls.record_button.isChecked() and window.controls.record_button.text() == "Record"
    assert window.view.recording_text == ""
    assert_still_live(qtbot, window, 20)
    assert path.stat().st_size <= room
    frames, w, h = probe_frames(path)  # the part written before the disk filled plays
    assert frames >= 10 and (w, h) == (64, 48)


# ---------------------------------------------------------------------------- hostile style images


def _jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    with Image.open(STYLE_FILES[0]) as im:
        im.convert("RGB").resize(size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


# file name -> (makes its bytes, or None for a file that does not exist; words the message must contain).
# The bytes are made when a test runs, not at import: a missing media folder then fails in the fixture.
HOSTILE = {
    "missing.jpg": (None, "no such file"),
    "empty.jpg": (lambda: b"", "the file is empty"),
    "truncated.jpg": (lambda: _jpeg()[:600], "damaged or truncated"),
    "video_renamed.jpg": (lambda: VIDEO.read_bytes()[:200_000], "not a readable image"),
    "text_renamed.jpg": (lambda: b"not a picture at all\n" * 40, "not a readable image"),
    "one_pixel.png": (lambda: _png((1, 1)), "1x1 pixels is too small"),
    "bomb.png": (lambda: craft_png_header(20_000, 20_000), "above the limit of 64 megapixels"),  # refused unread
}


def _drop(window: MainWindow, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def _pick_in_dialog(window: MainWindow, path, monkeypatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(path)], "")))
    window.controls.add_style_button.click()


def _add(how: str, window: MainWindow, path, monkeypatch) -> None:
    if how == "drop":
        _drop(window, path)
    else:
        _pick_in_dialog(window, path, monkeypatch)


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("how", ["drop", "dialog"])
def test_a_hostile_style_image_is_refused_with_a_message(qtbot, window, library, tmp_path, monkeypatch, how, name):
    make, words = HOSTILE[name]
    path = tmp_path / name
    if make is not None:
        path.write_bytes(make())
    names, selected = window.gallery.names(), window.gallery.selected_names()
    _add(how, window, path, monkeypatch)
    message = status(window)
    assert_one_line(message)
    assert message.startswith(f"{path}: ") and words in message, message
    assert list(library.user_dir.iterdir()) == []  # nothing copied, nothing half-written
    assert window.gallery.names() == names and window.gallery.selected_names() == selected
    assert_still_live(qtbot, window)


@pytest.mark.parametrize("how", ["drop", "dialog"])
def test_a_style_copy_cut_short_by_a_full_disk_leaves_nothing_behind(qtbot, window, library, tmp_path, monkeypatch,
                                                                      how):
    good = tmp_path / "good.jpg"
    good.write_bytes(_jpeg())

    def copy_half_then_fill(src, dst, **kwargs):
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fout.write(fin.read()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(app.styles.shutil, "copyfile", copy_half_then_fill)
    names = window.gallery.names()
    _add(how, window, good, monkeypatch)
    assert status(window) == f"cannot add {good} as a style (No space left on device)"
    assert list(library.user_dir.iterdir()) == []
    assert window.gallery.names() == names
    assert_still_live(qtbot, window)
