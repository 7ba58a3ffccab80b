"""One kiosk run without any UI: the live pipeline driven by the playlist, kept alive by a supervisor.

The supervisor thread (a few turns per second) does everything that keeps an unattended
installation going: the engine watchdog, reopening a source that claims to be live but
has stopped delivering, dark hours (camera released outside ``active_hours``), memory
sampling for the soak report, and logging every state change once. Nothing in a turn
may raise: a failure is logged and counted, and the next turn runs. The fullscreen
window and the headless runner only read :meth:`KioskSession.status` and the newest
result; both stop the session the same way.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from app.live.capture import Backoff
from app.live.sources import CameraSource, FrameSource, StreamSource
from app.engine import Settings
from app.errors import UserError
from app.kiosk.config import KioskConfig
from app.kiosk.playlist import Playlist, PlaylistEntry, caption_opacity
from app.kiosk.report import SoakMonitor
from app.kiosk.watchdog import Watchdog
from app.live.pipeline import LivePipeline
from app.paths import user_styles_dir
from app.live.style_capture import KIOSK_PREFIX, capture_style, kiosk_capture_day, remove_old_captures
from app.live.temporal import DEFAULT_STRENGTH
from app.live.worker import StylizerLike

log = logging.getLogger(__name__)
CAPTURES_IN_PLAYLIST = 10  # visitors' styles in the rotation at once; older ones leave it (files stay for the day)
CAPTURE_OFF = "taking a style from the camera is off in this kiosk (capture = true in the kiosk config turns it on)"


@dataclass(frozen=True)
class KioskStatus:
    """What the screen should show besides the newest frame."""

    active: bool  # inside active hours (False: dark screen)
    note: str  # "" or a calm line such as "Reconnecting to the camera..."
    caption: str  # the dominant painting's "Title, Artist (year)", "" when captions are off
    caption_opacity: float  # 0..1, fades in and out


class KioskSession:
    """Pipeline + playlist + watchdog + active hours. Start once, stop once; any thread may ask status."""

    def __init__(self, config: KioskConfig, stylizer: StylizerLike, make_source: Callable[[], FrameSource],
                 entries: Sequence[PlaylistEntry], *, clock: Callable[[], float] = time.monotonic,
                 local_time: Callable[[], dt.time] = lambda: dt.datetime.now().time(),
                 backoff: Backoff | None = None, seed: int | None = None, monitor: SoakMonitor | None = None,
                 tick_seconds: float = 0.25, styles_dir: Path | None = None,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        self.config = config
        self.clock = clock  # the playlist's clock (tests and screenshots move it); supervision uses time.monotonic
        self.local_time = local_time
        self.now = now  # local date and time: visitors' captures are named by it and kept for its day
        self._styles_dir = styles_dir  # where visitors' captures go (None: the user's styles folder)
        self._day = now().date()
        self.tick_seconds = tick_seconds
        self._make_source = make_source
        self.seed = int(time.time()) if seed is None else seed
        self.playlist = Playlist(entries, config.crossfade, config.shuffle, self.seed)
        self.pipeline = LivePipeline(stylizer, make_source(), mirror=config.mirror, skip_repeats=True,
                                     backoff=backoff)
        first = entries[0]
        self.pipeline.update(styles=(first.style_id,), weights=(), alpha=first.alpha, color=first.color)
        self.pipeline.set_size(config.size)
        self.pipeline.worker.settings_hook = self._frame_settings
        self.pipeline.stabilize = DEFAULT_STRENGTH  # steady textures; reset at each painting change
        self.watchdog = Watchdog(self.pipeline.worker, lambda: self.pipeline.feed.count, config.watchdog)
        self.monitor = monitor or SoakMonitor()
        self.stop_requested = threading.Event()  # set by request_stop: signals, the exit chord
        self.stop_reason = ""
        self.active = True
        self.errors = 0  # supervisor turns that failed (logged)
        self.capture_restarts = 0  # sources reopened because they went silent while "live"
        self._reconnects_before = 0  # reconnects of capture threads since replaced
        self._t0 = clock()
        self._jump_lock = threading.Lock()
        self._memo: Settings | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: tuple[object, int, int, str] = (None, 0, 0, "")  # capture thread, failures, reconnects, state
        self._last_count = -1
        self._count_at = time.monotonic()
        self._started = self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "KioskSession":
        if self._started:
            return self
        self._started = True
        self.monitor.begin()
        self._t0, self._count_at = self.clock(), time.monotonic()
        self.pipeline.worker.add_sink(self.monitor.on_frame)
        self.pipeline.start()
        log.info("kiosk started: %d styles, source %s, seed %d", len(self.playlist.entries),
                 self.pipeline.source.name if self.pipeline.source else "none", self.seed)
        self.tick()  # dark hours apply from the first moment
        self._thread = threading.Thread(target=self._supervise, name="kiosk-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self, reason: str = "stopped") -> None:
        """Stop every thread (idempotent); the final memory sample is taken while still running."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        try:
            self.monitor.sample()
        except Exception:  # an installation never stops for a bug in its caretaker
            log.exception("final memory sample failed")
        self.pipeline.worker.remove_sink(self.monitor.on_frame)
        self.pipeline.stop()
        self.monitor.finish()
        log.info("kiosk stopped (%s): %d frames, %d engine restarts, %d reconnects", reason, self.monitor.frames,
                 self.watchdog.restarts, self.reconnects)

    def request_stop(self, reason: str) -> None:
        """Ask the front end (window or headless loop) to end the run; safe from signal handlers."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested.set()

    @property
    def running(self) -> bool:
        return self._started and not self._stopped

    def elapsed(self) -> float:
        """Seconds on the playlist's clock."""
        return self.clock() - self._t0

    # ------------------------------------------------------------------ the playlist, per frame

    def _frame_settings(self, base: Settings) -> Settings:
        """Engine-thread hook: the playlist's styles for this moment. Returns the same object while
        nothing changes, so a still picture is not re-stylized between cross-fades."""
        with self._jump_lock:  # the playlist and its clock change together (captures, day roll-over)
            s = self.playlist.settings_at(self.elapsed(), base)
        memo = self._memo
        if memo is not None and memo == s and memo.mask is s.mask:
            return memo
        self._memo = s
        return s

    # ------------------------------------------------------------------ remote control

    def skip(self, steps: int) -> None:
        """Cut to the painting ``steps`` places later (negative: earlier) in the playlist's order."""
        self._jump_to(lambda now: self.playlist.jump(now, steps))

    def show(self, name: str) -> None:
        """Cut to the next slot of the style ``name``; UserError when the playlist has none."""
        indices = [i for i, e in enumerate(self.playlist.entries) if e.name == name]
        if not indices:
            raise UserError(f"the kiosk playlist has no style named {name!r}")
        self._jump_to(lambda now: self.playlist.next_start_of(now, indices[0]))

    def _jump_to(self, target: Callable[[float], float]) -> None:
        with self._jump_lock:  # two remote commands at once must not both move the clock
            now = self.elapsed()
            self._t0 += now - target(now)

    def current_style(self) -> str:
        """The dominant painting's name (its caption when it has no name)."""
        with self._jump_lock:
            playlist, t = self.playlist, self.elapsed()
        entry = playlist.entries[playlist.state_at(t).index]
        return entry.name or entry.caption

    # ------------------------------------------------------------------ a style from the camera

    @property
    def styles_dir(self) -> Path:
        return self._styles_dir or user_styles_dir()

    def capture_style(self) -> "Future[str]":
        """The visitor button (the capture key, OSC /style/capture): the middle of the newest camera
        frame is saved as a kiosk capture (kept for the day), joins the playlist and is cut to at
        once. Its statistics are computed on the engine thread between two frames; the future gives
        the new style's name. UserError when capturing is off, the camera is dark, there is no frame
        yet or the file cannot be written (the show goes on in every case)."""
        if not self.config.capture:
            raise UserError(CAPTURE_OFF)
        if not self.active:
            raise UserError("the camera is off outside active hours")
        when = self.now()
        path, rgb = capture_style(self.pipeline.feed.peek(), self.styles_dir, KIOSK_PREFIX, when)
        entry_caption = f"A style from the camera, {when:%H:%M}"

        def job(stylizer) -> str:
            sid = stylizer.add_style(rgb)
            entry = PlaylistEntry(sid, self.config.interval, 1.0, "none", entry_caption, path.stem,
                                  stylizer.palette_default)
            with self._jump_lock:
                entries = list(self.playlist.entries)
                captured = [e for e in entries if kiosk_capture_day(e.name)]
                gone = {id(e) for e in captured[:max(0, len(captured) - CAPTURES_IN_PLAYLIST + 1)]}
                kept = [e for e in entries if id(e) not in gone] + [entry]
                self._set_playlist(kept, cut_to=len(kept) - 1)
            self._forget(stylizer, [e for e in entries if id(e) in gone])
            return path.stem

        log.info("a visitor took a style from the camera: %s", path)
        future = self.pipeline.worker.submit(job)
        future.add_done_callback(_log_failure(f"the style from the camera ({path.name})"))
        return future

    def _set_playlist(self, entries: Sequence[PlaylistEntry], cut_to: int | None = None) -> None:
        """Replace the playlist (caller holds _jump_lock); ``cut_to``: jump to that entry's next turn."""
        now = self.elapsed()
        playlist = Playlist(entries, self.config.crossfade, self.config.shuffle, self.seed)
        target = playlist.next_start_of(now, cut_to) if cut_to is not None else now
        self.playlist, self._t0 = playlist, self._t0 + now - target

    def _forget(self, stylizer, entries: Sequence[PlaylistEntry]) -> None:
        """Engine thread: drop the statistics of styles no longer in the playlist (memory stays flat)."""
        used = {e.style_id for e in self.playlist.entries}
        for e in entries:
            if e.style_id not in used:
                stylizer.forget_style(e.style_id)

    def _check_day(self) -> None:
        """At the day's roll-over, visitors' captures from other days leave the playlist and the disk."""
        today = self.now().date()
        if today == self._day:
            return
        self._day = today
        removed = remove_old_captures(self.styles_dir, today)
        log.info("a new day (%s): %d old styles from the camera removed", today, len(removed))

        def job(stylizer) -> None:
            with self._jump_lock:
                entries = list(self.playlist.entries)
                old = [e for e in entries if (d := kiosk_capture_day(e.name)) is not None and d != today]
                if not old or len(old) == len(entries):  # a playlist never empties
                    return
                self._set_playlist([e for e in entries if e not in old])
            self._forget(stylizer, old)

        self.pipeline.worker.submit(job).add_done_callback(_log_failure("the day's roll-over"))

    # ------------------------------------------------------------------ supervision

    def _supervise(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()

    def tick(self) -> None:
        """One supervision turn. Never raises."""
        try:
            self._check_hours()
            self._check_day()
            if self.active:
                self.watchdog.check()
                self._check_capture()
            self.monitor.sample()
        except Exception:
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.exception("kiosk supervision failed (%d times)", self.errors)

    def _check_hours(self) -> None:
        hours = self.config.active_hours
        active = hours is None or hours.contains(self.local_time())
        if active == self.active:
            return
        self.active = active
        if active:
            log.info("active hours (%s) begin: capturing again", hours)
            self._count_at = time.monotonic()
            self.pipeline.resume_capture()
        else:
            log.info("outside active hours (%s): dark screen, source released", hours)
            self._retire_capture()
            self.pipeline.pause_capture()
            self.pipeline.worker.clear_output()  # no stale picture when the morning comes

    def _retire_capture(self) -> None:
        cap = self.pipeline.capture
        if cap is not None:
            self._reconnects_before += cap.stats().reconnects

    def _check_capture(self) -> None:
        cap = self.pipeline.capture
        if cap is None:
            return
        st = cap.stats()
        seen = self._seen if self._seen[0] is cap else (cap, 0, 0, "")
        _, failures, reconnects, state = seen
        if st.failures > failures:  # counted, so an outage shorter than a turn is logged too
            log.warning("source lost or not there (failures so far: %d): %s", st.failures, st.last_error)
        if st.reconnects > reconnects:
            log.info("source back (reconnects so far: %d): %s", st.reconnects, st.status)
        elif st.state == "live" and state != "live" and not st.reconnects:
            log.info("source live: %s", st.status)
        self._seen = (cap, st.failures, st.reconnects, st.state)
        now = time.monotonic()
        count = self.pipeline.feed.count
        if count != self._last_count:
            self._last_count, self._count_at = count, now
        elif st.state == "live" and now - self._count_at > max(self.config.watchdog, 2.0):
            log.warning("no frame from %s for %.1f s although it reports live: reopening it", cap.source.name,
                        now - self._count_at)
            self._retire_capture()
            self.capture_restarts += 1
            self._count_at = now
            self.pipeline.set_source(self._make_source())  # a fresh object: the old one may be stuck in read()

    # ------------------------------------------------------------------ what to show

    @property
    def reconnects(self) -> int:
        cap = self.pipeline.capture
        return self._reconnects_before + (cap.stats().reconnects if cap is not None else 0)

    def status(self) -> KioskStatus:
        if not self.active:
            return KioskStatus(False, "", "", 0.0)
        note = ""
        cap = self.pipeline.capture
        if cap is not None:
            state = cap.state
            has_frame = self.pipeline.latest() is not None
            what = "the camera" if isinstance(cap.source, CameraSource) else \
                "the stream" if isinstance(cap.source, StreamSource) else "the video"
            if state == "retrying" or (state == "connecting" and has_frame):
                note = f"Reconnecting to {what}\u2026" if has_frame else f"Waiting for {what}\u2026"
        caption, opacity = "", 0.0
        if self.config.caption:
            with self._jump_lock:
                ps = self.playlist.state_at(self.elapsed())
            caption, opacity = ps.caption, caption_opacity(ps, self.config.caption_seconds)
        return KioskStatus(True, note, caption, opacity)

    def report(self, stopped_by: str, **extra: Any) -> dict[str, Any]:
        """The soak report's figures (see app.kiosk.report.SoakMonitor.report)."""
        eng = self.pipeline.worker.stats()
        return self.monitor.report(
            captured=self.pipeline.feed.count, skipped=eng.skipped, restarts=self.watchdog.restarts,
            last_restart_reason=self.watchdog.last_reason, reconnects=self.reconnects,
            capture_restarts=self.capture_restarts, errors=eng.errors + self.errors,
            source=self.pipeline.source.name if self.pipeline.source else None,
            styles=len(self.playlist.entries), processing_size=self.config.size, stopped_by=stopped_by,
            config=self.config.origin, **extra)


def _log_failure(what: str) -> Callable[[Future], None]:
    """A done-callback that logs a job's failure in one line (the kiosk carries on)."""

    def done(future: Future) -> None:
        exc = None if future.cancelled() else future.exception()  # cancelled: the kiosk is stopping
        if isinstance(exc, UserError):
            log.warning("%s: %s", what, exc)
        elif exc is not None:
            log.error("%s failed", what, exc_info=exc)

    return done
