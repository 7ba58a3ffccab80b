"""The OSC remote control on the real front ends, with real UDP packets on loopback: the window
(each command does what its click or key does, on the UI thread) and the kiosk (cuts between the
playlist's paintings; strength, mixes and recording refused); the kiosk config's osc_port and the
command line's --osc checks."""
from __future__ import annotations



import argparse
import logging
import socket
from pathlib import Path

import pytest

pytest.importorskip("pythonosc")
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from app.errors import UserError
from app.kiosk.config import KioskConfig, parse_config
from app.kiosk.playlist import Playlist, PlaylistEntry
from app.kiosk.remote import KioskRemote
from app.live.pipeline import LivePipeline
from app.paths import pictures_dir
from app.live.remote import OscServer
from conftest import assert_one_line
from kiosk_fixtures import cached_entries, make_session, micro_stylizer
from live_fixtures import FAKE_SETTINGS, FakeStylizer, ScriptedSource, library, style_dir, wait_for  # noqa: F401


def build(address: str, *args) -> bytes:
    msg = OscMessageBuilder(address)
    for a in args:
        msg.add_arg(a)
    return msg.build().dgram


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(10)

    def send(self, address: str, *args) -> None:
        self.sock.sendto(build(address, *args), ("127.0.0.1", self.port))

    def status(self) -> list:
        self.send("/status")
        reply = OscMessage(self.sock.recvfrom(4096)[0])
        assert reply.address == "/status"
        return list(reply.params)


# ---------------------------------------------------------------------------- the window


@pytest.fixture
def remote_window(qtbot, library):
    from app.ui.state import UiState
    from app.ui.window import MainWindow

    pipeline = LivePipeline(FakeStylizer(), ScriptedSource(fps=30), settings=FAKE_SETTINGS)
    window = MainWindow(pipeline, library, UiState(styles=library.names()[:1], size=64, stabilize=0.0),
                        save_on_close=False)
    qtbot.addWidget(window)
    pipeline.start()
    server = window.start_remote(0)
    client = Client(server.port)
    yield window, client
    window.close()
    client.sock.close()
    assert not server._thread.is_alive()  # closing the window stops the server


def test_the_window_obeys_each_command_on_its_ui_thread(qtbot, remote_window, library):
    window, client = remote_window
    names = library.names()
    gallery = window.gallery
    assert gallery.selected_names() == names[:1]

    client.send("/style/next")
    qtbot.waitUntil(lambda: gallery.selected_names() == names[1:2], timeout=10_000)
    client.send("/style/previous")
    qtbot.waitUntil(lambda: gallery.selected_names() == names[:1], timeout=10_000)
    client.send("/style/set", names[2])
    qtbot.waitUntil(lambda: gallery.selected_names() == names[2:3], timeout=10_000)
    qtbot.waitUntil(lambda: [s.name for s in window.pipeline.styles] == names[2:3], timeout=10_000)

    client.send("/alpha", 0.3)
    qtbot.waitUntil(lambda: window.controls.alpha == pytest.approx(0.3), timeout=10_000)
    qtbot.waitUntil(lambda: window.pipeline.settings.alpha == pytest.approx(0.3), timeout=10_000)
    client.send("/palette", 0.8)
    qtbot.waitUntil(lambda: window.pipeline.settings.palette == pytest.approx(0.8), timeout=10_000)
    assert window.controls.palette_slider.value() == 80 and window.state.palette == pytest.approx(0.8)

    client.send("/mix", names[0], 0.25, names[1], 0.75)
    qtbot.waitUntil(lambda: gallery.selected_names() == names[:2], timeout=10_000)
    assert window.controls.mix_panel.weights() == pytest.approx([0.25, 0.75])
    qtbot.waitUntil(lambda: window.pipeline.settings.weights == pytest.approx((0.25, 0.75)), timeout=10_000)
    assert client.status()[0] == f"{names[0]} + {names[1]}"

    client.send("/record/start")
    qtbot.waitUntil(lambda: window.pipeline.recording, timeout=10_000)
    assert window.controls.record_button.isChecked()
    style, fps, recording = client.status()
    assert recording == 1 and fps >= 0
    client.send("/record/stop")
    qtbot.waitUntil(lambda: not window.pipeline.recording, timeout=10_000)
    assert client.status()[2] == 0

    client.send("/snapshot")
    qtbot.waitUntil(lambda: any(pictures_dir().glob("*.png")), timeout=10_000)

    client.send("/pause")
    qtbot.waitUntil(lambda: window.pipeline.capture is None, timeout=10_000)
    client.send("/resume")
    qtbot.waitUntil(lambda: window.pipeline.capture is not None, timeout=10_000)


def test_an_unknown_style_is_logged_once_and_the_window_carries_on(qtbot, remote_window, library, caplog):
    window, client = remote_window
    caplog.set_level(logging.WARNING, logger="app.live.remote")
    for _ in range(3):
        client.send("/style/set", "nonesuch")
    client.send("/style/next")
    qtbot.waitUntil(lambda: window.gallery.selected_names() == library.names()[1:2], timeout=10_000)
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.live.remote"]
    assert len(warnings) == 1 and "no style named 'nonesuch'" in warnings[0]
    assert window.osc.ignored == 3


# ---------------------------------------------------------------------------- the kiosk


def test_the_playlist_jumps_to_the_next_the_previous_and_a_named_slot():
    entries = [PlaylistEntry("a", 4.0, name="a"), PlaylistEntry("b", 3.0, name="b"), PlaylistEntry("c", 5.0, name="c")]
    p = Playlist(entries, crossfade=1.0)
    assert p.jump(1.0, 1) == pytest.approx(4.0) and p.state_at(p.jump(1.0, 1)).styles == ("b",)
    assert p.jump(5.0, 2) == pytest.approx(12.0)  # b -> c -> a of the next cycle
    assert p.jump(5.0, -1) == pytest.approx(0.0)
    assert p.jump(0.0, -1) == pytest.approx(7.0)  # back from the very first slot: the last one
    assert p.jump(4.0, 0) == pytest.approx(4.0)  # exactly on a boundary: that slot
    assert p.next_start_of(1.0, 2) == pytest.approx(7.0)
    assert p.next_start_of(8.0, 1) == pytest.approx(16.0)  # the next b is in the next cycle
    assert p.next_start_of(8.0, 2) == pytest.approx(19.0)  # c is on now: its next slot


def test_the_kiosk_obeys_its_commands_and_refuses_the_rest(tmp_path, caplog):
    stylizer = micro_stylizer(tmp_path)
    config = KioskConfig(size=32, crossfade=0.2, interval=600.0)  # nothing changes unless told
    entries = [PlaylistEntry(e.style_id, e.seconds, e.alpha, e.color, e.caption, f"painting_{i}")
               for i, e in enumerate(cached_entries(stylizer, seconds=(600.0,) * 3))]
    session = make_session(stylizer, ScriptedSource(fps=30), config, entries)
    server = OscServer(KioskRemote(session), 0).start()
    client = Client(server.port)
    caplog.set_level(logging.WARNING, logger="app.live.remote")
    session.start()
    try:
        assert client.status()[:1] == ["painting_0"] and client.status()[2] == 0
        client.send("/style/next")
        assert wait_for(lambda: session.current_style() == "painting_1", timeout=10)
        client.send("/style/set", "painting_0")
        assert wait_for(lambda: session.current_style() == "painting_0", timeout=10)
        client.send("/style/previous")
        assert wait_for(lambda: session.current_style() == "painting_2", timeout=10)
        assert wait_for(lambda: session.pipeline.latest() is not None
                        and session.pipeline.latest().settings.styles == (entries[2].style_id,), timeout=20)
        client.send("/snapshot")
        assert wait_for(lambda: any(pictures_dir().glob("*.png")), timeout=10)
        client.send("/pause")
        assert wait_for(lambda: session.pipeline.capture is None, timeout=10)
        client.send("/resume")
        assert wait_for(lambda: session.pipeline.capture is not None, timeout=10)
        for refused in (("/alpha", 0.5), ("/palette", 0.5), ("/mix", "painting_0", 1.0, "painting_1", 1.0),
                        ("/record/start",), ("/style/set", "nonesuch")):
            client.send(*refused)
        assert wait_for(lambda: server.ignored == 5, timeout=10)
        assert session.running and client.status()[0] == "painting_2"
    finally:
        server.stop()
        session.stop()
        client.sock.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.live.remote"]
    assert any("not available in kiosk mode" in w for w in warnings)
    assert any("no style named 'nonesuch'" in w for w in warnings)


@pytest.mark.parametrize("text, problem", [
    ("osc_port = 0", "osc_port: must be between 1 and 65535, got 0"),
    ("osc_port = 70000", "osc_port: must be between 1 and 65535, got 70000"),
    ("osc_port = '9000'", "osc_port: must be a whole number"),
    ("osc_host = ''", "osc_host: must not be empty"),
    ("osc_prot = 9000", "osc_prot: unknown key (did you mean 'osc_port'?)"),
])
def test_bad_osc_settings_in_the_kiosk_config_are_one_line(text, problem):
    with pytest.raises(UserError) as err:
        parse_config(text, "kiosk.toml")
    assert_one_line(str(err.value))
    assert str(err.value) == f"kiosk.toml: {problem}" or str(err.value).startswith(f"kiosk.toml: {problem}")


def test_the_kiosk_config_takes_an_osc_port_and_host():
    config = parse_config("osc_port = 9000\nosc_host = '0.0.0.0'\n", "kiosk.toml")
    assert (config.osc_port, config.osc_host) == (9000, "0.0.0.0")
    assert (KioskConfig().osc_port, KioskConfig().osc_host) == (None, "127.0.0.1")


# ---------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("argv, problem", [
    (["--osc", "0"], "--osc must be a port number between 1 and 65535, got 0"),
    (["--osc", "65536"], "--osc must be a port number between 1 and 65535, got 65536"),
    (["--osc-host", "0.0.0.0"], "--osc-host needs --osc PORT"),
    (["--osc", "9000", "--no-window"], "--osc drives the window or the kiosk"),
])
def test_bad_osc_options_are_one_line(argv, problem):
    from app.cli.live import add_arguments, options

    p = argparse.ArgumentParser()
    add_arguments(p)
    with pytest.raises(UserError) as err:
        options(p.parse_args(argv))
    assert str(err.value).startswith(problem)


def test_the_osc_options_reach_the_live_options_and_the_kiosk_config():
    from app.cli.live import add_arguments, kiosk_config, options

    p = argparse.ArgumentParser()
    add_arguments(p)
    opts = options(p.parse_args(["--osc", "9000"]))
    assert (opts.osc_port, opts.osc_host) == (9000, "127.0.0.1")
    args = p.parse_args(["--kiosk", "--osc", "9001", "--osc-host", "0.0.0.0", "--source", "demo"])
    config = kiosk_config(args, options(args))
    assert (config.osc_port, config.osc_host) == (9001, "0.0.0.0")


def test_an_exposed_server_warns_that_osc_has_no_authentication(caplog):
    caplog.set_level(logging.WARNING, logger="app.live.remote")
    server = OscServer(KioskRemote.__new__(KioskRemote), 0, "0.0.0.0").start()
    server.stop()
    assert any("no authentication" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(any(Path("/dev").glob("video*")), reason="a video device exists: it might be a real loopback")
def test_a_kiosk_run_listens_for_osc_and_survives_a_missing_virtual_camera(tmp_path, library, capsys):
    """The whole kiosk run: osc_port from the config, and --virtual-camera with the real pyvirtualcam
    on a machine without v4l2loopback: the one-line reason is logged and the show goes on."""
    from app.kiosk.config import PlaylistItem
    from app.kiosk.run import run_kiosk
    from app.paths import log_dir
    from app.live.virtual_camera import NO_DEVICE

    pytest.importorskip("pyvirtualcam")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = KioskConfig(size=32, crossfade=0.2, interval=600.0, origin="test.toml", osc_port=port,
                         playlist=tuple(PlaylistItem(n) for n in library.names()))
    answers: list = []

    def controller() -> None:  # a show controller asking for the next painting, then the status
        client = Client(port)
        client.sock.settimeout(0.5)
        try:
            for _ in range(200):
                try:
                    answers.append(client.status())
                    break
                except OSError:  # not listening yet (refused, or no answer in time)
                    continue
            client.sock.settimeout(20)
            client.send("/style/next")
            answers.append(client.status())
        finally:
            client.sock.close()

    import threading

    thread = threading.Thread(target=controller)
    thread.start()
    rc = run_kiosk(config, lambda: micro_stylizer(tmp_path), window=False, frames=200, library=library,
                   make_source=lambda: ScriptedSource(fps=100), warmup_frames=5, warmup_seconds=0.1, seed=1,
                   virtual_camera=True)
    thread.join(30)
    assert rc == 0 and f"kiosk: OSC remote control on 127.0.0.1:{port}" in capsys.readouterr().out
    assert [a[0] for a in answers] == library.names()[:2] and answers[1][2] == 0
    log = (log_dir() / "kiosk.log").read_text()
    assert NO_DEVICE in log and "kiosk stopped (frames)" in log
