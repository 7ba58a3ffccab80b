"""Remote control over Open Sound Control (OSC, UDP), for show controllers such as QLab or TouchDesigner.

The server only translates: a datagram becomes one of the commands the window or the
kiosk already offer (:class:`RemoteTarget`), checked with the same rules as the command
line (app.rules). It runs on its own thread and never lets a message stop the app: an
unknown address, wrong argument types, an out-of-range value, an unknown style, a
malformed or oversized packet are each logged once per kind (then only counted, so a
flood cannot fill the log) and ignored. ``/status`` is answered with a ``/status``
message (style, engine FPS, recording 1/0) sent back to the address and port it came from.

OSC has no authentication: the server binds to 127.0.0.1 unless told otherwise, and
anyone who can reach the port can drive the app.
"""
from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from app.errors import UserError
from app.rules import check_alpha, check_mix_weights

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"  # reachable from this machine only
MAX_PACKET = 4096  # bytes: every command fits in a few hundred; a bigger datagram is not ours
LOGGED_KINDS = 256  # distinct problems logged before further new ones are only counted
MISSING_PACKAGE = "remote control needs the python-osc package: pip install python-osc"


@dataclass(frozen=True)
class RemoteStatus:
    """What ``/status`` answers."""

    style: str  # the style's name, "a + b" for a mix
    fps: float  # frames per second the engine achieves
    recording: bool


class RemoteTarget(Protocol):
    """The commands a front end offers to the remote control. Called on the front end's own
    thread (see ``post`` in :class:`OscServer`), except :meth:`status`, which any thread may call.
    A command that cannot be done raises UserError (one line, logged and ignored)."""

    def next_style(self) -> None: ...

    def previous_style(self) -> None: ...

    def set_style(self, name: str) -> None: ...

    def set_alpha(self, alpha: float) -> None: ...

    def set_palette(self, strength: float) -> None: ...

    def mix(self, names: Sequence[str], weights: Sequence[float]) -> None: ...

    def start_recording(self) -> None: ...

    def stop_recording(self) -> None: ...

    def snapshot(self) -> None: ...

    def capture_style(self) -> None:
        """Take the middle of the current camera frame as a new style and use it (app.live.style_capture)."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def status(self) -> RemoteStatus: ...


Command = Callable[[RemoteTarget], None]


class BadMessage(Exception):
    """A message to ignore; ``kind`` groups it for logging once."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _no_args(address: str, args: Sequence[Any]) -> None:
    if args:
        raise BadMessage(f"{address}:args", f"{address} takes no arguments, got {len(args)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one(address: str, args: Sequence[Any], kind: type, what: str) -> Any:
    ok = len(args) == 1 and (_is_number(args[0]) if kind is float else isinstance(args[0], kind))
    if not ok:
        raise BadMessage(f"{address}:args", f"{address} takes one {what}, got {_describe(args)}")
    return float(args[0]) if kind is float else args[0]


def _describe(args: Sequence[Any]) -> str:
    return ", ".join(type(a).__name__ for a in args) or "no arguments"


def _checked(address: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except UserError as exc:
        raise BadMessage(f"{address}:range", str(exc)) from None


def _mix(args: Sequence[Any]) -> Command:
    pairs = len(args) // 2
    if len(args) < 2 or len(args) % 2 or not all(isinstance(args[2 * i], str) and _is_number(args[2 * i + 1])
                                                  for i in range(pairs)):
        raise BadMessage("/mix:args", f"/mix takes pairs of a style name and a weight, got {_describe(args)}")
    names = [args[2 * i] for i in range(pairs)]
    weights = _checked("/mix", lambda: check_mix_weights([args[2 * i + 1] for i in range(pairs)], "/mix weights"))
    return lambda t: t.mix(names, weights)


def parse_command(address: str, args: Sequence[Any]) -> Command:
    """The command an OSC message asks for (checked, not run); BadMessage when it is not one."""
    simple: dict[str, Command] = {
        "/style/next": lambda t: t.next_style(), "/style/previous": lambda t: t.previous_style(),
        "/record/start": lambda t: t.start_recording(), "/record/stop": lambda t: t.stop_recording(),
        "/snapshot": lambda t: t.snapshot(), "/style/capture": lambda t: t.capture_style(),
        "/pause": lambda t: t.pause(), "/resume": lambda t: t.resume(),
    }
    if address in simple:
        _no_args(address, args)
        return simple[address]
    if address == "/style/set":
        name = _one(address, args, str, "style name (a string)")
        return lambda t: t.set_style(name)
    if address == "/alpha":
        value = _one(address, args, float, "number between 0 and 1")
        alpha = _checked(address, lambda: check_alpha(value, "/alpha"))
        return lambda t: t.set_alpha(alpha)
    if address == "/palette":
        value = _one(address, args, float, "number between 0 and 1")
        strength = _checked(address, lambda: check_alpha(value, "/palette"))
        return lambda t: t.set_palette(strength)
    if address == "/mix":
        return _mix(args)
    raise BadMessage("unknown-address", f"unknown OSC address {address[:80]!r}")


ADDRESSES = ("/style/next", "/style/previous", "/style/set", "/style/capture", "/alpha", "/palette", "/mix",
             "/record/start", "/record/stop", "/snapshot", "/pause", "/resume", "/status")


def require_python_osc() -> None:
    """UserError naming the install command when python-osc is missing."""
    try:
        import pythonosc  # noqa: F401 - optional dependency
    except ImportError:
        raise UserError(MISSING_PACKAGE) from None


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class OscServer:
    """Listens on ``host:port`` (UDP) and turns messages into commands on ``target``.

    ``post`` runs a command on the target's thread (the window passes one that queues it to
    the Qt thread); by default commands run on the server's own thread.
    """

    def __init__(self, target: RemoteTarget, port: int, host: str = DEFAULT_HOST, *,
                 post: Callable[[Callable[[], None]], None] | None = None, max_packet: int = MAX_PACKET) -> None:
        require_python_osc()
        self.target = target
        self.host = host
        self._port = port  # 0: any free port (tests)
        self._post = post or (lambda run: run())
        self.max_packet = max_packet
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.handled = 0  # commands run (or handed to ``post``)
        self.ignored = 0  # messages and packets ignored as bad
        self.problems: dict[str, int] = {}  # kind -> how many times (bounded: LOGGED_KINDS)

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system picked for port 0)."""
        return self._sock.getsockname()[1] if self._sock is not None else self._port

    def start(self) -> "OscServer":
        """Bind now (a port in use is a UserError here, not later) and serve on a thread."""
        if self._thread is not None:
            return self
        try:
            family = socket.getaddrinfo(self.host, self._port, type=socket.SOCK_DGRAM)[0][0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            why = getattr(exc, "strerror", 0) or exc
            raise UserError(f"cannot listen for OSC on {self.host}:{self._port}: {why}") from None
        try:
            sock.bind((self.host, self._port))
        except OSError as exc:
            sock.close()
            raise UserError(f"cannot listen for OSC on {self.host}:{self._port}: {exc.strerror or exc}") from None
        sock.settimeout(0.2)  # how quickly stop() is noticed
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="osc-server", daemon=True)
        self._thread.start()
        log.info("listening for OSC on %s:%d", self.host, self.port)
        if not is_loopback(self.host):
            log.warning("OSC on %s:%d has no authentication: anyone who can reach this port can control the app",
                        self.host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()

    # ------------------------------------------------------------------ the server thread

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(self.max_packet + 1)
            except socket.timeout:
                continue
            except OSError as exc:  # e.g. ICMP "port unreachable" after a reply: not fatal
                self._problem("socket", f"OSC socket: {exc}")
                continue
            try:
                self.handle_packet(data, sender)
            except Exception:  # noqa: BLE001 - a bug must not end the remote control
                self._problem("internal", "OSC message handling failed", exc_info=True)

    def handle_packet(self, data: bytes, sender: tuple[Any, ...]) -> None:
        """Check and run one datagram from ``sender`` (a message or a bundle of them)."""
        from pythonosc.osc_packet import OscPacket  # optional dependency

        if len(data) > self.max_packet:
            self._problem("oversized", f"OSC packet from {sender[0]} over {self.max_packet} bytes ignored")
            return
        try:
            messages = [m.message for m in OscPacket(data).messages]
        except Exception:  # noqa: BLE001 - python-osc raises several kinds on malformed input
            self._problem("malformed", f"malformed OSC packet from {sender[0]} ({len(data)} bytes) ignored")
            return
        for message in messages:
            self._handle_message(str(message.address), list(message.params), sender)

    def _handle_message(self, address: str, args: list[Any], sender: tuple[Any, ...]) -> None:
        try:
            if address == "/status":
                _no_args(address, args)
                self._reply_status(sender)
                return
            command = parse_command(address, args)
        except BadMessage as bad:
            self._problem(bad.kind, f"OSC {bad} (from {sender[0]}): ignored")
            return
        self.handled += 1
        self._post(lambda: self._run(address, command))

    def _run(self, address: str, command: Command) -> None:
        try:
            command(self.target)
        except UserError as exc:
            self._problem(f"{address}:refused", f"OSC {address}: {exc}: ignored")
        except Exception:  # noqa: BLE001
            self._problem(f"{address}:failed", f"OSC {address} failed", exc_info=True)

    def _reply_status(self, sender: tuple[Any, ...]) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        st = self.target.status()
        msg = OscMessageBuilder("/status")
        msg.add_arg(st.style, "s")
        msg.add_arg(float(st.fps), "f")
        msg.add_arg(1 if st.recording else 0, "i")
        if self._sock is not None:
            self._sock.sendto(msg.build().dgram, sender[:2])
        self.handled += 1

    def _problem(self, kind: str, message: str, exc_info: bool = False) -> None:
        """Count it; log it the first time this kind is seen (a flood stays one line)."""
        with self._lock:
            self.ignored += 1
            if kind in self.problems:
                self.problems[kind] += 1
                return
            if len(self.problems) >= LOGGED_KINDS:
                return
            self.problems[kind] = 1
        log.warning("%s (further ones of this kind are counted, not logged)", message, exc_info=exc_info)
