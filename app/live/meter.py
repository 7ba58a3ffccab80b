"""One latency/FPS window, read by the overlay (the worker's stats) and the headless summary alike,
in the spirit of torchvision's ``SmoothedValue``: results go in as (finished, latency, engine
time); the figures come out computed one way, so two readers of the same frames agree."""
from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

WINDOW = 60  # frames the live figures (overlay, watchdog, OSC /status) are measured over


@dataclass(frozen=True)
class Timing:
    """Figures over the frames in a window."""

    frames: int
    fps: float  # (frames - 1) over the time from the first result to the last
    latency_ms: float  # mean capture-to-result
    latency_p95_ms: float  # nearest-rank 95th percentile
    engine_ms: float  # mean stylize time


class FrameWindow:
    """The last ``maxlen`` results' timings (None: all of them). Safe to add and read from any thread."""

    def __init__(self, maxlen: int | None = WINDOW) -> None:
        self._items: deque[tuple[float, float, float]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, finished: float, latency: float, engine_time: float) -> None:
        """One result: when it was ready (time.monotonic), seconds since capture, seconds in the engine."""
        with self._lock:
            self._items.append((finished, latency, engine_time))

    def __len__(self) -> int:
        return len(self._items)

    def timing(self) -> Timing:
        with self._lock:
            items = list(self._items)
        n = len(items)
        if not n:
            return Timing(0, 0.0, 0.0, 0.0, 0.0)
        latencies = sorted(r[1] for r in items)
        span = items[-1][0] - items[0][0]
        return Timing(frames=n, fps=(n - 1) / span if n > 1 and span > 0 else 0.0,
                      latency_ms=1000.0 * sum(latencies) / n,
                      latency_p95_ms=1000.0 * percentile(latencies, 0.95),
                      engine_ms=1000.0 * sum(r[2] for r in items) / n)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
