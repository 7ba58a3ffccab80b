"""The capture thread: the first stage of the live pipeline.

:class:`CaptureThread` reads a source (app.live.sources) on its own thread and hands over
only the newest frame through a one-slot :class:`FrameFeed`: when stylizing is slower than
capture (it always is on a CPU), old frames are overwritten and counted, never queued, so
latency cannot build up. A source that fails (camera unplugged, stream dropped) is reopened
with exponential backoff while ``status`` says what is happening.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from app.live.slot import LatestSlot
from app.live.sources import FrameSource, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured frame: RGB uint8 (H, W, 3), when it was captured (time.monotonic), its index."""

    rgb: np.ndarray
    timestamp: float
    index: int  # 1, 2, 3, ... per feed, across source switches and reconnects


# ---------------------------------------------------------------------------- handoff and thread


class FrameFeed:
    """The one-slot handoff from capture to engine; gives frames their running index."""

    def __init__(self) -> None:
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._lock = threading.Lock()

    def publish(self, rgb: np.ndarray, timestamp: float) -> Frame:
        with self._lock:
            frame = Frame(rgb, timestamp, self._slot.seq + 1)
            self._slot.put(frame)
            return frame

    def read(self, after: int = 0, timeout: float | None = None) -> Frame | None:
        """The newest frame with an index above ``after``, waiting up to ``timeout`` seconds."""
        return self._slot.get(after, timeout)[1]

    def peek(self) -> Frame | None:
        return self._slot.peek()

    @property
    def dropped(self) -> int:
        """Frames overwritten before any reader took them."""
        return self._slot.dropped

    @property
    def count(self) -> int:
        return self._slot.seq


@dataclass
class Backoff:
    """Exponential retry delays: initial, initial*factor, ... capped at maximum."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 8.0
    _next: float = 0.0

    def delay(self) -> float:
        d = self._next or self.initial
        self._next = min(self.maximum, d * self.factor)
        return d

    def reset(self) -> None:
        self._next = 0.0


@dataclass(frozen=True)
class CaptureStats:
    state: str  # "connecting", "live", "retrying", "stopped"
    status: str  # one line for people
    frames: int  # frames captured by this thread
    fps: float  # measured capture rate
    failures: int  # failed opens and lost sources
    reconnects: int  # times the source came back after a failure
    last_error: str


class CaptureThread:
    """Reads a source on its own thread into a one-slot feed; reopens it with backoff when lost."""

    def __init__(self, source: FrameSource, *, feed: FrameFeed | None = None, mirror: bool = False,
                 backoff: Backoff | None = None) -> None:
        self.source = source
        self.feed = feed or FrameFeed()
        self.mirror = mirror  # read once per frame: flip it from any thread
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._settled = threading.Event()  # set at the first frame or the first failure
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state, self._status, self._last_error = "connecting", f"{source.name}: connecting", ""
        self._frames = self._failures = self._reconnects = 0
        self._times: list[float] = []
        self._flip_in: np.ndarray | None = None
        self._flip_out: np.ndarray | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "CaptureThread":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"capture:{self.source.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set("stopped", f"{self.source.name}: stopped")

    def read(self, after: int = 0, timeout: float | None = None) -> Frame | None:
        return self.feed.read(after, timeout)

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait for the first frame or the first failure; True when frames are flowing."""
        self._settled.wait(timeout)
        return self._frames > 0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def status(self) -> str:
        return self._status

    @property
    def state(self) -> str:
        return self._state

    def stats(self) -> CaptureStats:
        with self._lock:
            times = list(self._times)
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return CaptureStats(self._state, self._status, self._frames, fps, self._failures,
                            self._reconnects, self._last_error)

    # ------------------------------------------------------------------ the loop

    def _set(self, state: str, status: str) -> None:
        self._state, self._status = state, status

    def _fail(self, reason: str) -> None:
        self._failures += 1
        self._last_error = reason
        delay = self._backoff.delay()
        self._set("retrying", f"{self.source.name}: {reason}; retrying in {delay:.1f} s")
        log.info("%s", self._status)
        self._settled.set()
        self._stop.wait(delay)

    def _mirrored(self, rgb: np.ndarray) -> np.ndarray:
        """Left-right flip; a still source's repeated array stays one (flipped) array."""
        if rgb is not self._flip_in:
            self._flip_in, self._flip_out = rgb, np.ascontiguousarray(rgb[:, ::-1])
            self._flip_out.setflags(write=rgb.flags.writeable)  # a shared still stays read-only
        return self._flip_out

    def _run(self) -> None:
        opened = False
        ever_opened = False
        period = 0.0
        due = 0.0
        try:
            while not self._stop.is_set():
                if not opened:
                    try:
                        self.source.open()
                    except SourceError as exc:
                        self._fail(str(exc))
                        continue
                    except Exception as exc:  # noqa: BLE001 - a driver bug must not end the thread
                        self._fail(f"cannot open ({type(exc).__name__}: {exc})")
                        continue
                    opened = True
                    if ever_opened:
                        self._reconnects += 1
                    ever_opened = True
                    fps = self.source.fps
                    period = 1.0 / fps if fps else 0.0
                    due = time.monotonic()
                if period:
                    wait = due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                try:
                    rgb = self.source.read()
                except Exception as exc:
                    log.exception("reading %s failed", self.source.name)
                    rgb, reason = None, f"lost ({type(exc).__name__}: {exc})"
                else:
                    reason = "lost (no frame)"
                if rgb is None:
                    opened = False
                    self.source.close()
                    self._fail(reason)
                    continue
                now = time.monotonic()
                if period:
                    due += period
                    if now - due > period:  # fell behind (slow decode, suspended): don't burst
                        due = now
                rgb = self._mirrored(rgb) if self.mirror else rgb
                self.feed.publish(rgb, now)
                self._frames += 1
                with self._lock:
                    self._times.append(now)
                    if len(self._times) > 60:
                        del self._times[0]
                if self._state != "live":
                    self._backoff.reset()
                    h, w = rgb.shape[:2]
                    self._set("live", f"{self.source.name}: {w}x{h}" + (f" at {self.source.fps:g} fps"
                                                                        if self.source.fps else ""))
                    self._settled.set()
        finally:
            self.source.close()
