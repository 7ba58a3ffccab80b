"""A style from the camera (issue 18, part 3): in the window through C, the button and OSC
/style/capture (real UDP on loopback); in the kiosk through the visitor key and OSC. Each time the
centre of the raw camera frame is saved under the timestamped name, joins the gallery (or the
playlist) and the engine then stylizes with statistics equal to those of the captured pixels.
The kiosk keeps its captures for the day: yesterday's go, today's stay, other files are never
touched. No frame yet, a full disk and an unwritable folder are one message each, and the app
carries on."""
from __future__ import annotations

import datetime as dt
import errno
import logging
import re
import socket


import numpy as np
import pytest
import torch
from PyQt6.QtCore import Qt

from app.errors import UserError
from app.images import load_image, resize_to_fit
from app.kiosk.config import KeyChord, KioskConfig, parse_config
from app.live.capture import Frame
from app.live.pipeline import LivePipeline
from app.live.sources import ImageSource
from app.live.style_capture import (CROP_FRACTION, KIOSK_PREFIX, NO_FRAME, WINDOW_PREFIX, capture_style,
                               centre_crop, kiosk_capture_day, remove_old_captures)
from conftest import MEDIA, assert_one_line
from kiosk_fixtures import make_session, micro_stylizer
from live_fixtures import (FAKE_SETTINGS, FAST_BACKOFF, FakeStylizer, ScriptedSource, library,  # noqa: F401
                           style_dir, tiny_stylizer, wait_for)

pytestmark = pytest.mark.usefixtures("media")

TIMEOUT_MS = 60_000
CONTENT = MEDIA / "content" / "chicago.jpg"
WINDOW_NAME = re.compile(r"capture-\d{8}-\d{6}\.png")
KIOSK_NAME = re.compile(r"kiosk-capture-\d{8}-\d{6}\.png")


def send(port: int, address: str, *args) -> None:
    from pythonosc.osc_message_builder import OscMessageBuilder

    msg = OscMessageBuilder(address)
    for a in args:
        msg.add_arg(a)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(msg.build().dgram, ("127.0.0.1", port))


def expected_crop(rgb: np.ndarray) -> np.ndarray:
    """The centre square, CROP_FRACTION of the short side, computed here independently."""
    h, w = rgb.shape[:2]
    side = round(min(h, w) * CROP_FRACTION)
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top:top + side, left:left + side]


def stats_of(pipeline: LivePipeline, rgb: np.ndarray):
    """relu4_1 mean/std of ``rgb`` encoded from scratch (on the engine thread, the model's only user)."""
    def job(s):
        return s.encode_stats(s._to_tensor(resize_to_fit(rgb, s.style_size)))
    return pipeline.worker.submit(job).result(60)


def assert_same_stats(a, b) -> None:
    torch.testing.assert_close(a.mean, b.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.std, b.std, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- the window


@pytest.fixture
def make_window(qtbot, library):
    from app.ui.state import UiState
    from app.ui.window import MainWindow

    made = []

    def make(stylizer, source) -> MainWindow:
        settings = FAKE_SETTINGS if isinstance(stylizer, FakeStylizer) else None  # a fake has its style chosen
        pipeline = LivePipeline(stylizer, source, skip_repeats=True, backoff=FAST_BACKOFF, settings=settings)
        window = MainWindow(pipeline, library, UiState(styles=library.names()[:1], size=64, stabilize=0.0),
                            save_on_close=False)
        qtbot.addWidget(window)
        pipeline.start()
        window.show()
        made.append(window)
        return window

    yield make
    for w in made:
        w.close()


@pytest.mark.parametrize("how", ["key", "button", "osc"])
def test_a_style_from_the_camera_joins_the_gallery_and_the_engine_uses_it(qtbot, make_window, tiny_stylizer,
                                                                          library, how):
    pytest.importorskip("pythonosc")
    window = make_window(tiny_stylizer, ImageSource(CONTENT))
    qtbot.waitUntil(lambda: window.pipeline.latest() is not None, timeout=TIMEOUT_MS)
    camera = window.pipeline.feed.peek().rgb  # a still picture: the frame any capture sees
    if how == "key":
        qtbot.keyClick(window, Qt.Key.Key_C)
    elif how == "button":
        qtbot.mouseClick(window.controls.capture_style_button, Qt.MouseButton.LeftButton)
    else:
        send(window.start_remote(0).port, "/style/capture")
    qtbot.waitUntil(lambda: any(library.user_dir.iterdir()), timeout=TIMEOUT_MS)

    [path] = library.user_dir.iterdir()
    assert WINDOW_NAME.fullmatch(path.name)
    crop = expected_crop(camera)
    assert crop.shape[0] == crop.shape[1] == round(min(camera.shape[:2]) * CROP_FRACTION)
    assert np.array_equal(load_image(path), crop)  # the raw frame's centre, losslessly
    name = path.stem
    assert name in window.gallery.names() and window.gallery.selected_names() == [name]

    result = None

    def uses_it() -> bool:
        nonlocal result
        r = window.pipeline.latest()
        if r is not None and [s.name for s in window.pipeline.styles] == [name] \
                and r.settings.styles == window.pipeline.settings.styles:
            result = r
            return True
        return False

    qtbot.waitUntil(uses_it, timeout=TIMEOUT_MS)
    sid = result.settings.styles[0]
    assert_same_stats(tiny_stylizer.style_stats(sid), stats_of(window.pipeline, crop))
    assert (tiny_stylizer.stats_dir / f"{sid}.pt").is_file()  # cached like any style's
    assert tiny_stylizer.has_style(sid)


def test_no_frame_yet_is_one_message_and_nothing_changes(qtbot, make_window, library):
    window = make_window(FakeStylizer(), None)
    names = window.gallery.names()
    qtbot.keyClick(window, Qt.Key.Key_C)
    assert window.statusBar().currentMessage() == NO_FRAME[:1].upper() + NO_FRAME[1:]
    assert not any(library.user_dir.iterdir()) and window.gallery.names() == names


def test_a_full_disk_is_one_message_and_the_window_carries_on(qtbot, make_window, library, monkeypatch):
    import app.images

    window = make_window(FakeStylizer(), ScriptedSource(fps=30))
    qtbot.waitUntil(lambda: window.results_seen >= 1, timeout=TIMEOUT_MS)

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(app.images, "atomic_write_bytes", full_disk)
    names = window.gallery.names()
    qtbot.keyClick(window, Qt.Key.Key_C)
    message = window.statusBar().currentMessage()
    assert_one_line(message)
    assert message.startswith("Cannot save the style from the camera") and "No space left on device" in message
    assert not any(library.user_dir.iterdir()) and window.gallery.names() == names
    seen = window.results_seen
    qtbot.waitUntil(lambda: window.results_seen > seen + 2, timeout=TIMEOUT_MS)  # the video goes on


def test_an_unwritable_styles_folder_is_one_message(qtbot, make_window, library, tmp_path):
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the styles folder should be")
    library.user_dir = blocked / "styles"
    window = make_window(FakeStylizer(), ScriptedSource(fps=30))
    qtbot.waitUntil(lambda: window.pipeline.feed.peek() is not None, timeout=TIMEOUT_MS)
    assert window.capture_style() is None
    message = window.statusBar().currentMessage()
    assert_one_line(message)
    assert message.startswith(f"Cannot save the style from the camera in {blocked / 'styles'}")
    assert window.isVisible()


# ---------------------------------------------------------------------------- the module


def test_the_crop_is_the_centre_square_of_the_short_side():
    rgb = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
    crop = centre_crop(rgb)
    assert crop.shape == (36, 36, 3) and np.array_equal(crop, rgb[6:42, 14:50]) and crop.flags.writeable


def test_names_are_timestamped_and_never_overwrite(tmp_path):
    frame = Frame(np.full((48, 64, 3), 90, np.uint8), 0.0, 1)
    when = dt.datetime(2026, 12, 4, 9, 30, 5)
    first, _ = capture_style(frame, tmp_path, KIOSK_PREFIX, when)
    second, _ = capture_style(frame, tmp_path, KIOSK_PREFIX, when)
    third, _ = capture_style(frame, tmp_path, WINDOW_PREFIX, when)
    assert [p.name for p in (first, second, third)] == [
        "kiosk-capture-20261204-093005.png", "kiosk-capture-20261204-093005-2.png", "capture-20261204-093005.png"]
    assert kiosk_capture_day(second.stem) == dt.date(2026, 12, 4) and kiosk_capture_day(third.stem) is None
    with pytest.raises(UserError) as err:
        capture_style(None, tmp_path)
    assert str(err.value) == NO_FRAME


def test_the_kiosk_clean_up_removes_only_its_own_captures_from_other_days(tmp_path):
    today = dt.date(2026, 12, 4)
    names = {
        "kiosk-capture-20261203-235959.png": False,  # yesterday's: removed
        "kiosk-capture-20261203-101010-2.png": False,
        "kiosk-capture-20261204-000001.png": True,  # today's: kept for the day
        "capture-20261203-120000.png": True,  # the window's: the user keeps them
        "kiosk-capture-20261203-120000.jpg": True,  # not a name the app writes
        "kiosk-capture-20261399-120000.png": True,  # no such date
        "kiosk-capture-holiday.png": True,
        "my-kiosk-capture-20261203-120000.png": True,
        "starry_night.png": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "kiosk-capture-20261203-130000.png").mkdir()  # a folder of that name is not a file
    removed = remove_old_captures(tmp_path, today)
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    for name, keep in names.items():
        assert (tmp_path / name).exists() == keep, name
    assert (tmp_path / "kiosk-capture-20261203-130000.png").is_dir()
    assert remove_old_captures(tmp_path / "missing", today) == []


# ---------------------------------------------------------------------------- the kiosk


class Clock:
    """The kiosk's local date and time, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.value = now

    def __call__(self) -> dt.datetime:
        return self.value


def kiosk_session(tmp_path, capture: bool = True, **kw):
    stylizer = micro_stylizer(tmp_path)
    config = KioskConfig(size=32, crossfade=0.2, interval=600.0, capture=capture)
    styles = tmp_path / "styles"
    styles.mkdir(exist_ok=True)
    session = make_session(stylizer, ScriptedSource(fps=30), config, styles_dir=styles, **kw)
    return session, stylizer, styles


def test_the_kiosk_takes_a_style_over_osc_cuts_to_it_and_drops_it_the_next_day(tmp_path):
    pytest.importorskip("pythonosc")
    from app.kiosk.remote import KioskRemote
    from app.live.remote import OscServer

    clock = Clock(dt.datetime(2026, 12, 4, 14, 32, 0))
    session, stylizer, styles = kiosk_session(tmp_path, now=clock)
    (styles / "kiosk-capture-20261203-180000.png").write_bytes(b"old")  # left from yesterday
    (styles / "my_scarf.png").write_bytes(b"the user's")
    server = OscServer(KioskRemote(session), 0).start()
    session.start()
    try:
        assert wait_for(lambda: session.pipeline.feed.peek() is not None, timeout=20)
        send(server.port, "/style/capture")
        assert wait_for(lambda: any(styles.glob("kiosk-capture-20261204-*.png")), timeout=20)
        [path] = styles.glob("kiosk-capture-20261204-*.png")
        assert KIOSK_NAME.fullmatch(path.name)
        assert wait_for(lambda: session.current_style() == path.stem, timeout=20)
        entry = session.playlist.entries[-1]
        assert entry.name == path.stem and entry.caption == "A style from the camera, 14:32"
        assert wait_for(lambda: session.pipeline.latest() is not None
                        and session.pipeline.latest().settings.styles == (entry.style_id,), timeout=20)
        assert_same_stats(stylizer.style_stats(entry.style_id), stats_of(session.pipeline, load_image(path)))
        assert len(session.playlist.entries) == 4

        clock.value = dt.datetime(2026, 12, 5, 0, 0, 1)  # midnight passes
        assert wait_for(lambda: len(session.playlist.entries) == 3, timeout=20)
        assert path.stem not in [e.name for e in session.playlist.entries]
        assert wait_for(lambda: not stylizer.has_style(entry.style_id), timeout=20)  # memory stays flat
        assert not path.exists() and not (styles / "kiosk-capture-20261203-180000.png").exists()
        assert (styles / "my_scarf.png").read_bytes() == b"the user's"
        assert session.running and session.errors == 0
    finally:
        server.stop()
        session.stop()


def test_kiosk_start_up_removes_the_kiosks_captures_from_other_days_before_the_playlist_sees_them(
        tmp_path, library, capsys):
    from PIL import Image

    from app.kiosk.run import run_kiosk
    from app.paths import log_dir

    today = dt.datetime.now()
    yesterday = today - dt.timedelta(days=1)
    old = library.user_dir / f"kiosk-capture-{yesterday:%Y%m%d}-120000.png"
    old.write_bytes(b"not even an image: the playlist would refuse it")
    kept = library.user_dir / f"kiosk-capture-{today:%Y%m%d}-000000.png"
    Image.new("RGB", (64, 48), (200, 40, 90)).save(kept)
    mine = library.user_dir / f"capture-{yesterday:%Y%m%d}-120000.png"  # the window's: the user's
    Image.new("RGB", (64, 48), (20, 140, 90)).save(mine)
    config = KioskConfig(size=32, crossfade=0.2, interval=600.0, origin="test.toml")
    rc = run_kiosk(config, lambda: micro_stylizer(tmp_path), window=False, frames=5, library=library,
                   make_source=lambda: ScriptedSource(fps=100), warmup_frames=1, warmup_seconds=0.1, seed=1)
    assert rc == 0 and not old.exists() and kept.is_file() and mine.is_file()
    assert f"preparing {len(library.names())} styles" in capsys.readouterr().out
    assert kept.stem in library.names() and mine.stem in library.names()
    assert old.name in (log_dir() / "kiosk.log").read_text()


def test_kiosk_capture_is_off_unless_the_config_turns_it_on(tmp_path, caplog):
    pytest.importorskip("pythonosc")
    from app.kiosk.remote import KioskRemote
    from app.live.remote import OscServer

    session, _stylizer, styles = kiosk_session(tmp_path, capture=False)
    server = OscServer(KioskRemote(session), 0).start()
    caplog.set_level(logging.WARNING, logger="app.live.remote")
    session.start()
    try:
        assert wait_for(lambda: session.pipeline.feed.peek() is not None, timeout=20)
        send(server.port, "/style/capture")
        assert wait_for(lambda: server.ignored == 1, timeout=20)
        assert not any(styles.iterdir()) and len(session.playlist.entries) == 3
    finally:
        server.stop()
        session.stop()
    assert any("capture = true" in r.getMessage() for r in caplog.records)


def test_the_kiosk_caps_visitors_styles_in_the_playlist(tmp_path, monkeypatch):
    import app.kiosk.session as kiosk_session_module

    monkeypatch.setattr(kiosk_session_module, "CAPTURES_IN_PLAYLIST", 2)
    clock = Clock(dt.datetime(2026, 12, 4, 10, 0, 0))
    session, stylizer, styles = kiosk_session(tmp_path, now=clock)
    session.start()
    try:
        assert wait_for(lambda: session.pipeline.feed.peek() is not None, timeout=20)
        names = []
        for second in range(3):
            clock.value = dt.datetime(2026, 12, 4, 10, 0, second)
            names.append(session.capture_style().result(30))
        assert [e.name for e in session.playlist.entries][-2:] == names[1:]
        assert len(session.playlist.entries) == 5 and session.current_style() == names[-1]
        assert len(list(styles.iterdir())) == 3  # the files stay for the day
    finally:
        session.stop()


def test_the_kiosk_visitor_key_takes_a_style(qtbot, tmp_path):
    from app.ui.kiosk_window import KioskWindow

    session, _stylizer, styles = kiosk_session(tmp_path)
    window = KioskWindow(session)
    qtbot.addWidget(window)
    session.start()
    window.show_kiosk()
    try:
        qtbot.waitUntil(lambda: session.pipeline.feed.peek() is not None, timeout=TIMEOUT_MS)
        qtbot.keyClick(window, Qt.Key.Key_C)
        assert window.captures == 1 and window.ignored_events == 0
        qtbot.waitUntil(lambda: session.current_style().startswith("kiosk-capture-"), timeout=TIMEOUT_MS)
        assert len(list(styles.glob("kiosk-capture-*.png"))) == 1
        qtbot.keyClick(window, Qt.Key.Key_X)  # any other key is still swallowed
        assert window.ignored_events == 1
    finally:
        window.request_exit("test over")


def test_without_capture_the_visitor_key_is_swallowed(qtbot, tmp_path):
    from app.ui.kiosk_window import KioskWindow

    session, _stylizer, styles = kiosk_session(tmp_path, capture=False)
    window = KioskWindow(session)
    qtbot.addWidget(window)
    session.start()
    window.show_kiosk()
    try:
        qtbot.waitUntil(lambda: session.pipeline.feed.peek() is not None, timeout=TIMEOUT_MS)
        qtbot.keyClick(window, Qt.Key.Key_C)
        assert window.captures == 0 and window.ignored_events == 1 and not any(styles.iterdir())
    finally:
        window.request_exit("test over")


def test_a_kiosk_capture_with_no_frame_or_a_full_disk_is_refused_and_the_show_goes_on(tmp_path, monkeypatch):
    import app.images

    session, _stylizer, styles = kiosk_session(tmp_path)
    with pytest.raises(UserError) as err:  # not started: no frame yet
        session.capture_style()
    assert str(err.value) == NO_FRAME
    session.start()
    try:
        assert wait_for(lambda: session.pipeline.feed.peek() is not None, timeout=20)

        def full_disk(path, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(app.images, "atomic_write_bytes", full_disk)
        with pytest.raises(UserError) as err:
            session.capture_style()
        assert_one_line(str(err.value))
        assert "No space left on device" in str(err.value)
        assert not any(styles.iterdir()) and len(session.playlist.entries) == 3
        frames = session.monitor.frames
        assert wait_for(lambda: session.monitor.frames > frames + 2, timeout=20) and session.running
    finally:
        session.stop()


# ---------------------------------------------------------------------------- config and OSC


def test_the_kiosk_config_takes_capture_and_its_key():
    assert (KioskConfig().capture, str(KioskConfig().capture_key)) == (False, "C")
    config = parse_config("capture = true\ncapture_key = 'Space'\n", "kiosk.toml")
    assert config.capture and config.capture_key == KeyChord.parse("Space", require_modifier=False)
    with pytest.raises(UserError) as err:
        parse_config("capture_key = 'Ctrl+Shift+Q'\n", "kiosk.toml")
    assert str(err.value) == "kiosk.toml: capture_key: must differ from exit_chord (Ctrl+Shift+Q)"
    with pytest.raises(UserError) as err:
        parse_config("capture_key = 'C+D'\n", "kiosk.toml")
    assert str(err.value).startswith("kiosk.toml: capture_key: expected exactly one key")
    with pytest.raises(UserError):
        parse_config("capture = 'yes'\n", "kiosk.toml")


def test_osc_style_capture_takes_no_arguments():
    from app.live.remote import ADDRESSES, BadMessage, parse_command

    assert "/style/capture" in ADDRESSES
    with pytest.raises(BadMessage):
        parse_command("/style/capture", [1])
    calls = []

    class Target:
        def capture_style(self) -> None:
            calls.append("capture")

    parse_command("/style/capture", [])(Target())
    assert calls == ["capture"]
