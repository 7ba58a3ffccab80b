"""Soak figures: frames, rate, latency, memory, threads and open files, in constant memory.

A kiosk runs for days, so nothing here grows with time: latencies go into a fixed 1 ms
histogram (p95 from it, max and mean exact), RSS is sampled, not logged. RSS comes from
/proc/self/statm (current resident size, Linux); elsewhere ``resource``'s peak RSS is the
fallback (it can only go up, so growth reads as an upper bound). The memory baseline is
taken after a warm-up (allocator pools, cuDNN/oneDNN plans and caches fill during the
first frames), so growth measures leaks, not start-up.
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from array import array
from pathlib import Path
from typing import Any, Callable

from app.paths import atomic_write_bytes

HISTOGRAM_MS = 60_000  # latencies above a minute share the last bucket (the max stays exact)


def rss_mb() -> tuple[float | None, str]:
    """Resident memory in MiB now, and where the figure came from."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20, "statm"
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource  # noqa: PLC0415 - not on Windows

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10), "getrusage peak"
    except (ImportError, OSError, ValueError):
        return None, "unavailable"


def open_files() -> int | None:
    """Open file descriptors of this process (None where the OS does not say)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder)) - 1  # minus the descriptor listdir itself holds
        except OSError:
            continue
    return None


def os_threads() -> int | None:
    """Threads of this process as the OS counts them, native ones included (torch, FFmpeg);
    None where /proc/self/status is missing. ``threading.active_count`` sees Python's only."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class LatencyHistogram:
    """1 ms buckets: p95 to the millisecond in constant memory; exact count, mean and max."""

    def __init__(self) -> None:
        self._counts = array("I", bytes(4 * (HISTOGRAM_MS + 1)))
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.max_index = 0  # which sample (1, 2, ...) was the slowest

    def add(self, seconds: float) -> None:
        ms = max(0.0, seconds * 1000.0)
        self._counts[min(HISTOGRAM_MS, int(ms))] += 1
        self.count += 1
        self.total += ms
        if ms > self.max:
            self.max, self.max_index = ms, self.count

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in ms (bucket upper edge, at most the exact max)."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for ms, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return min(float(ms + 1), self.max)
        return self.max  # pragma: no cover

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class SoakMonitor:
    """Counts results (a pipeline sink) and samples memory; :meth:`report` gives the figures."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, warmup_frames: int = 30,
                 warmup_seconds: float = 60.0) -> None:
        self.clock = clock
        self.warmup_frames = warmup_frames
        self.warmup_seconds = warmup_seconds
        self.latency = LatencyHistogram()
        self.frames = 0
        self._lock = threading.Lock()
        self._t0 = self._first = self._last = 0.0
        self.rss_initial = self.rss_start = self.rss_end = self.rss_max = None
        self.rss_source = ""
        self.warmed_up_after: float | None = None
        self.threads_start = self.threads_end = 0
        self.files_start: int | None = None
        self.files_end: int | None = None
        self.started_at = self.ended_at = ""

    def begin(self) -> None:
        """Before the pipeline starts: the baseline of threads, files and memory."""
        self._t0 = self.clock()
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.threads_start = threading.active_count()
        self.files_start = open_files()
        self.rss_initial, self.rss_source = rss_mb()
        self.rss_max = self.rss_initial

    def on_frame(self, result: Any) -> None:
        """Sink on the engine thread: must be cheap."""
        now = self.clock()
        with self._lock:
            self.frames += 1
            self.latency.add(result.latency)
            if self.frames == 1:
                self._first = now
            self._last = now

    def sample(self) -> None:
        """Called periodically while running: peak memory, and the baseline once warmed up."""
        rss, _ = rss_mb()
        if rss is None:
            return
        self.rss_end = rss
        self.rss_max = max(self.rss_max or rss, rss)
        if self.rss_start is None and self.frames >= self.warmup_frames \
                and self.clock() - self._t0 >= self.warmup_seconds:
            self.rss_start = rss
            self.warmed_up_after = self.clock() - self._t0

    def finish(self) -> None:
        """After the pipeline stopped: threads and files at the end."""
        self.ended_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.threads_end = threading.active_count()
        self.files_end = open_files()

    def report(self, **extra: Any) -> dict[str, Any]:
        with self._lock:
            frames, first, last = self.frames, self._first, self._last
        span = last - first
        start = self.rss_start  # None until warmed up: growth from start-up would measure the warm-up itself
        growth = 100.0 * (self.rss_end - start) / start if start and self.rss_end is not None else None
        data: dict[str, Any] = {
            "frames": frames,
            "seconds": round(self.clock() - self._t0, 3),
            "fps": round((frames - 1) / span, 3) if frames > 1 and span > 0 else 0.0,
            "latency_mean_ms": round(self.latency.mean, 2),
            "latency_p95_ms": round(self.latency.quantile(0.95), 2),
            "latency_max_ms": round(self.latency.max, 2),
            "latency_max_frame": self.latency.max_index,  # 1 = the first frame (warm-up)
            "rss_initial_mb": _r(self.rss_initial),
            "rss_start_mb": _r(start),
            "rss_end_mb": _r(self.rss_end),
            "rss_max_mb": _r(self.rss_max),
            "rss_growth_pct": _r(growth, 3),
            "rss_source": self.rss_source,
            "warmed_up": self.rss_start is not None,
            "warmup_s": _r(self.warmed_up_after, 2),
            "threads_start": self.threads_start,
            "threads_end": self.threads_end,
            "open_files_start": self.files_start,
            "open_files_end": self.files_end,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }
        data.update(extra)
        return data


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def write_report(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader (or a crash) never sees half a report."""
    atomic_write_bytes(Path(path), (json.dumps(data, indent=2) + "\n").encode("utf-8"))
