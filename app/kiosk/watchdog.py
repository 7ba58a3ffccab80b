"""The engine watchdog: an installation must not freeze because one model call hung.

A stall is "frames are waiting that the engine has not taken, and its loop has neither
produced a result nor turned round for more than ``timeout`` seconds" (the heartbeat
tells a loop that waits for frames, or skips a repeated still picture, from one stuck
inside the model). An engine that is merely slow is not stalled: the limit is at least
``slow_factor`` times its recent time per frame (three times the timeout before the
first result, which includes warm-up). A stalled worker is restarted (``EngineWorker.restart``),
the reason is logged, and the restarts are counted; if restarting does not help, the
next attempt waits twice as long (up to ``max_wait``) so a hung driver cannot make the
watchdog pile up abandoned threads. ``check`` never raises.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from app.live.worker import EngineWorker

log = logging.getLogger(__name__)


class Watchdog:
    """Call :meth:`check` periodically (a few times per ``timeout``) from any thread."""

    def __init__(self, worker: EngineWorker, frames: Callable[[], int], timeout: float = 5.0, *,
                 clock: Callable[[], float] = time.monotonic, slow_factor: float = 4.0,
                 max_wait: float = 300.0, on_restart: Callable[[str], None] | None = None) -> None:
        self.worker = worker
        self.frames = frames  # frames captured so far (e.g. ``FrameFeed.count``)
        self.timeout = float(timeout)
        self.clock = clock
        self.slow_factor = slow_factor
        self.max_wait = max_wait
        self.on_restart = on_restart
        self.restarts = 0
        self.last_reason = ""
        self._marker: tuple[int, int] | None = None  # (processed, errors) at the last progress
        self._progress_at = 0.0
        self._strikes = 0  # restarts since the engine last made progress

    def limit(self, engine_ms: float) -> float:
        """Seconds without a result (while frames wait) that count as a stall."""
        base = max(self.timeout, self.slow_factor * engine_ms / 1000.0) if engine_ms > 0 else 3.0 * self.timeout
        return max(base, min(self.max_wait, base * 2.0 ** self._strikes))

    def check(self) -> str | None:
        """Restart the worker if it is stalled; returns the reason when it did. Never raises."""
        try:
            return self._check()
        except Exception:  # the watchdog itself must never take the app down
            log.exception("watchdog check failed")
            return None

    def _check(self) -> str | None:
        worker = self.worker
        if not worker.running:
            return None
        now = self.clock()
        st = worker.stats()
        captured = self.frames()
        marker = (st.processed, st.errors)
        if marker != self._marker:
            first = self._marker is None
            self._marker, self._progress_at = marker, now
            if not first:
                self._strikes = 0
            return None
        reason = None
        if not worker.alive:
            reason = "the engine thread ended"
        else:
            waiting = captured - st.last_frame
            idle = now - max(self._progress_at, st.heartbeat)
            limit = self.limit(st.engine_ms)
            if waiting > 0 and idle > limit:
                reason = (f"no result for {idle:.1f} s while {waiting} new frame{'s' if waiting != 1 else ''} "
                          f"waited (limit {limit:.1f} s)")
                if st.last_error:
                    reason += f"; last error: {st.last_error}"
        if reason is None:
            return None
        self.restarts += 1
        self._strikes += 1
        self.last_reason = reason
        log.warning("engine stalled: %s; restarting the engine worker (restart %d)", reason, self.restarts)
        worker.restart()
        self._progress_at = self.clock()
        if self.on_restart is not None:
            self.on_restart(reason)
        return reason
