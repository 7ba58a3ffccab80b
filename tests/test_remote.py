"""The OSC remote control, with real UDP packets on loopback: every command's effect, every kind of
bad message (logged once, ignored), /status answered to the sender, and a 1,000-message burst."""
from __future__ import annotations

import logging
import os
import socket
import threading
import tracemalloc

import pytest

pythonosc = pytest.importorskip("pythonosc")
from pythonosc.osc_message import OscMessage  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

from app.errors import UserError  # noqa: E402
from app.live.remote import MAX_PACKET, OscServer, RemoteStatus  # noqa: E402
from live_fixtures import wait_for  # noqa: E402


class RecordingTarget:
    """Records every command; refuses unknown style names like the window does."""

    STYLES = ("poppies", "summertime", "wave")

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.threads: set[str] = set()
        self.recording = False

    def _note(self, *call) -> None:
        self.calls.append(call)
        self.threads.add(threading.current_thread().name)

    def next_style(self) -> None:
        self._note("next")

    def previous_style(self) -> None:
        self._note("previous")

    def set_style(self, name: str) -> None:
        if name not in self.STYLES:
            raise UserError(f"no style named {name!r}")
        self._note("style", name)

    def set_alpha(self, alpha: float) -> None:
        self._note("alpha", alpha)

    def set_palette(self, strength: float) -> None:
        self._note("palette", strength)

    def mix(self, names, weights) -> None:
        for n in names:
            if n not in self.STYLES:
                raise UserError(f"no style named {n!r}")
        self._note("mix", tuple(names), tuple(weights))

    def start_recording(self) -> None:
        self.recording = True
        self._note("record", True)

    def stop_recording(self) -> None:
        self.recording = False
        self._note("record", False)

    def snapshot(self) -> None:
        self._note("snapshot")

    def pause(self) -> None:
        self._note("pause")

    def resume(self) -> None:
        self._note("resume")

    def status(self) -> RemoteStatus:
        return RemoteStatus("poppies + wave", 12.5, self.recording)


def build(address: str, *args) -> bytes:
    msg = OscMessageBuilder(address)
    for a in args:
        msg.add_arg(a)
    return msg.build().dgram


@pytest.fixture
def osc():
    """A server on a free loopback port, its target and a client socket."""
    target = RecordingTarget()
    server = OscServer(target, 0).start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(10)

    def send(data: bytes) -> None:
        client.sendto(data, ("127.0.0.1", server.port))

    yield server, target, send, client
    client.close()
    server.stop()


def settle(server: OscServer, handled: int, ignored: int) -> None:
    assert wait_for(lambda: server.handled >= handled and server.ignored >= ignored, timeout=10)
    assert (server.handled, server.ignored) == (handled, ignored)


COMMANDS = [
    (("/style/next",), ("next",)),
    (("/style/previous",), ("previous",)),
    (("/style/set", "summertime"), ("style", "summertime")),
    (("/alpha", 0.25), ("alpha", 0.25)),
    (("/alpha", 1), ("alpha", 1.0)),  # an OSC int is a number too
    (("/palette", 0.75), ("palette", 0.75)),
    (("/mix", "poppies", 0.7, "wave", 0.3), ("mix", ("poppies", "wave"), (0.7, 0.3))),
    (("/record/start",), ("record", True)),
    (("/record/stop",), ("record", False)),
    (("/snapshot",), ("snapshot",)),
    (("/pause",), ("pause",)),
    (("/resume",), ("resume",)),
]


@pytest.mark.parametrize("message, effect", COMMANDS, ids=[c[0][0] + str(len(c[0])) for c in COMMANDS])
def test_each_command_reaches_the_target(osc, message, effect):
    server, target, send, _ = osc
    send(build(*message))
    settle(server, 1, 0)
    got = target.calls[0]
    assert got[0] == effect[0] and got[1:2] == effect[1:2]
    if effect[0] == "mix":
        assert got[2] == pytest.approx(effect[2])
    elif effect[0] in ("alpha", "palette"):
        assert got[1] == pytest.approx(effect[1])
    assert target.threads == {"osc-server"}  # no post given: run on the server's thread


def test_status_is_answered_to_the_sender(osc):
    server, target, send, client = osc
    send(build("/record/start"))
    send(build("/status"))
    data, sender = client.recvfrom(MAX_PACKET)
    assert sender == ("127.0.0.1", server.port)
    reply = OscMessage(data)
    assert reply.address == "/status"
    assert reply.params[0] == "poppies + wave" and reply.params[1] == pytest.approx(12.5) and reply.params[2] == 1


BAD = {
    "unknown address": build("/style/explode"),
    "arguments where none are taken": build("/style/next", 1),
    "a number for a name": build("/style/set", 3),
    "no alpha": build("/alpha"),
    "alpha as text": build("/alpha", "half"),
    "alpha too big": build("/alpha", 1.5),
    "alpha not a number": build("/alpha", float("nan")),
    "alpha as true": build("/alpha", True),
    "palette too big": build("/palette", 1.5),
    "mix without weights": build("/mix", "poppies", "wave"),
    "mix with an odd count": build("/mix", "poppies", 0.5, "wave"),
    "mix weights all zero": build("/mix", "poppies", 0.0, "wave", 0.0),
    "mix weight negative": build("/mix", "poppies", -1.0, "wave", 2.0),
    "an unknown style": build("/style/set", "nonesuch"),
    "an unknown style in a mix": build("/mix", "poppies", 0.5, "nonesuch", 0.5),
    "status with arguments": build("/status", 1),
    "not OSC at all": b"GET / HTTP/1.1\r\n\r\n",
    "a string cut short": b"/style/set\x00\x00,s\x00\x00wav",
    "an empty datagram": b"",
    "oversized": build("/style/set", "x" * (MAX_PACKET + 100)),
}
REFUSED_BY_TARGET = {"an unknown style", "an unknown style in a mix"}  # checked where the styles are known


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_message_is_logged_once_and_ignored(osc, case, caplog):
    server, target, send, client = osc
    caplog.set_level(logging.WARNING, logger="app.live.remote")
    for _ in range(3):
        send(BAD[case])
    send(build("/style/next"))  # the server still works after it
    handled = 1 + (3 if case in REFUSED_BY_TARGET else 0)
    settle(server, handled, 3)
    assert target.calls == [("next",)]
    warnings = [r for r in caplog.records if r.name == "app.live.remote"]
    assert len(warnings) == 1 and "ignored" in warnings[0].getMessage()  # once, not three times
    assert "\n" not in warnings[0].getMessage()
    assert server.port and server._thread.is_alive()


def test_a_bundle_of_messages_runs_each(osc):
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder

    server, target, send, _ = osc
    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, *args in (("/style/next",), ("/alpha", 0.5)):
        m = OscMessageBuilder(address)
        for a in args:
            m.add_arg(a)
        bundle.add_content(m.build())
    send(bundle.build().dgram)
    settle(server, 2, 0)
    assert target.calls == [("next",), ("alpha", 0.5)]


def test_commands_run_where_post_puts_them():
    target = RecordingTarget()
    posted: list = []
    server = OscServer(target, 0, post=posted.append).start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        client.sendto(build("/style/next"), ("127.0.0.1", server.port))
        assert wait_for(lambda: len(posted) == 1, timeout=10)
        assert target.calls == []  # nothing ran on the server's thread
        posted[0]()
        assert target.calls == [("next",)] and target.threads == {threading.current_thread().name}
    finally:
        client.close()
        server.stop()


def test_a_port_in_use_is_one_line(osc):
    server = osc[0]
    with pytest.raises(UserError, match=f"cannot listen for OSC on 127.0.0.1:{server.port}"):
        OscServer(RecordingTarget(), server.port).start()


def test_a_burst_of_1000_messages_neither_crashes_nor_grows_memory(osc):
    server, target, send, client = osc
    kinds = [build("/style/next"), build("/alpha", 0.5), build("/style/explode"), build("/alpha", 7.0),
             b"\x00garbage", build("/mix", "poppies", 1.0, "wave", 1.0), build("/status")]

    def burst(n: int) -> None:
        base = server.handled + server.ignored
        for i in range(n):
            send(kinds[i % len(kinds)])
            if i % 50 == 49:  # UDP drops what overflows a receive buffer: let the server keep up
                assert wait_for(lambda: server.handled + server.ignored >= base + i + 1 - 10, timeout=10,
                                interval=0.001)

    def ours(stat) -> bool:
        name = stat.traceback[0].filename
        return name.endswith(os.path.join("app", "live", "remote.py")) or "pythonosc" in name

    replies = [0]

    def read_replies() -> None:  # concurrently: a socket's receive buffer holds only ~250 of them
        client.settimeout(3)
        try:
            while True:
                assert OscMessage(client.recvfrom(MAX_PACKET)[0]).address == "/status"
                replies[0] += 1
        except socket.timeout:
            pass

    reader = threading.Thread(target=read_replies)
    reader.start()
    burst(1000)  # warm-up: every code path has run, the interpreter's free lists are filled
    assert wait_for(lambda: server.handled + server.ignored == 1000, timeout=30)
    target.calls.clear()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        burst(1000)
        assert wait_for(lambda: server.handled + server.ignored == 2000, timeout=30)
        calls = len(target.calls)
        target.calls.clear()  # the fake's own record holds the parsed values: not the server's memory
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename") if ours(s))
    # a leak of even one small object per message would be 32 KB or more
    assert growth < 12_000, f"the server's allocations grew by {growth} bytes over 1000 messages"
    assert server._thread.is_alive() and set(server.problems) == {"unknown-address", "/alpha:range", "malformed"}
    assert calls == 3 * (1000 // len(kinds)) + 3  # next, alpha and mix of each round of seven
    reader.join(15)
    assert replies == [2 * sum(1 for i in range(1000) if i % 7 == 6)]  # every /status answered
