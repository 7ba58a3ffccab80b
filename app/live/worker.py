"""The engine worker: the one thread that runs the model.

It owns the settings snapshot: :meth:`EngineWorker.update` replaces it (validated, under a
lock) from any thread, and each frame reads it once. It takes the newest captured frame,
stylizes it with the snapshot of that moment, and publishes a :class:`StylizedFrame` (with
the frame's capture timestamp) to a one-slot output and to its sinks. Everything that touches the networks runs here,
including work the UI asks for (encoding a new style's statistics), submitted as a job
that runs between two frames: the UI never waits on the model and the model is never
used from two threads at once. A failure on one frame is counted and logged; the
stream goes on. A loop stuck inside the model (a driver hang) cannot be killed, but
:meth:`EngineWorker.restart` abandons it for a fresh thread on the same feed, output and
sinks (the kiosk watchdog calls it); the stuck one, should it ever return, sees that it
is outdated and exits without publishing.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Callable, Protocol, TypeVar

import numpy as np

from app.live.capture import Frame
from app.engine import Settings, StylizerLike
from app.live.slot import LatestSlot
from app.live.adaptive import SizeGovernor
from app.live.meter import WINDOW, FrameWindow
from app.live.temporal import TemporalStabilizer

log = logging.getLogger(__name__)
T = TypeVar("T")


class FrameReader(Protocol):
    def read(self, after: int = 0, timeout: float | None = None) -> Frame | None: ...


@dataclass(frozen=True)
class StylizedFrame:
    """A result: the stylized picture, the frame it came from, and when."""

    rgb: np.ndarray  # stylized; the captured picture itself when no style is set
    source: Frame
    settings: Settings
    seq: int  # 1, 2, 3, ... in order of publication
    started: float  # time.monotonic() when the engine took the frame
    finished: float  # time.monotonic() when the result was ready
    stylized: bool = True

    @property
    def capture_ts(self) -> float:
        return self.source.timestamp

    @property
    def latency(self) -> float:
        """Seconds from capture to result (waiting for the engine plus the engine's work)."""
        return self.finished - self.source.timestamp

    @property
    def engine_time(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True)
class WorkerStats:
    processed: int  # frames published
    skipped: int  # captured frames the engine never took (it was busy): the honest "dropped"
    errors: int
    fps: float  # results per second over the last frames
    latency_ms: float  # mean capture-to-result over the last frames
    latency_p95_ms: float
    engine_ms: float  # mean stylize time over the last frames
    heartbeat: float  # time.monotonic() of the loop's last turn (a watchdog compares it with now)
    last_error: str
    restarts: int = 0  # loop threads replaced by restart()
    last_frame: int = 0  # index of the newest frame the engine has taken (frames above it are waiting)


class EngineWorker:
    """newest frame -> stylizer -> one-slot output + sinks, on its own thread."""

    def __init__(self, stylizer: StylizerLike, frames: FrameReader, *, skip_repeats: bool = False,
                 poll: float = 0.05, settings: Settings | None = None) -> None:
        self.stylizer = stylizer
        self._settings = settings if settings is not None else Settings()  # replaced whole, never mutated
        self.frames = frames
        self.skip_repeats = skip_repeats  # a still image is stylized once per settings change
        self._poll = poll
        self._out: LatestSlot[StylizedFrame] = LatestSlot()
        self._sinks: list[Callable[[StylizedFrame], None]] = []
        self._jobs: queue.SimpleQueue[tuple[Callable, Future]] = queue.SimpleQueue()
        self._settings_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recent = FrameWindow(WINDOW)  # the rate and latency figures
        self._processed = self._skipped = self._errors = 0
        self._last_error = ""
        self._heartbeat = time.monotonic()
        self._last_index = 0
        self._last_input: tuple[np.ndarray, Settings] | None = None
        self._generation = 0  # bumped by restart(): older loop threads exit at their next check
        self._restarts = 0
        self._hook_errors = 0
        self._restart_lock = threading.Lock()
        # Called on the engine thread with the settings snapshot of each frame; returns the
        # settings to use for that frame (the kiosk playlist's cross-fades). None: as they are.
        self.settings_hook: Callable[[Settings], Settings] | None = None
        # Temporal stabilisation against flicker (app.live.temporal), applied after the model on
        # this thread; None or strength 0: per-frame output. Reset when the styles change.
        self.stabilizer: TemporalStabilizer | None = None
        self.governor: SizeGovernor | None = None  # adaptive quality (set_target_fps)
        self._stabilized_styles: tuple[str, ...] = ()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "EngineWorker":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(self._generation,), name="engine", daemon=True)
            self._thread.start()
        return self

    def restart(self) -> bool:
        """Abandon the loop thread (stuck in the model or a sink) and start a fresh one.

        The new loop shares the feed, output slot, sinks, job queue and counters, so readers
        see no break in ``seq``. Returns False when the worker is not running.
        """
        with self._restart_lock:
            if self._stop.is_set() or self._thread is None:
                return False
            self._generation += 1
            self._restarts += 1
            self._heartbeat = time.monotonic()
            self._thread = threading.Thread(target=self._run, args=(self._generation,),
                                            name=f"engine-{self._generation}", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        while True:  # jobs nobody will run: fail them rather than leave callers waiting
            try:
                _, fut = self._jobs.get_nowait()
            except queue.Empty:
                break
            fut.cancel()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Started and not stopped (whether or not its thread is still alive: see ``alive``)."""
        return self._thread is not None and not self._stop.is_set()

    # ------------------------------------------------------------------ consumers

    def read(self, after: int = 0, timeout: float | None = None) -> StylizedFrame | None:
        """The newest result with ``seq`` above ``after``, waiting up to ``timeout`` seconds."""
        return self._out.get(after, timeout)[1]

    def latest(self) -> StylizedFrame | None:
        return self._out.peek()

    def clear_output(self) -> None:
        """Forget the newest result (``latest()`` is None until the next one; ``seq`` goes on)."""
        self._out.clear()

    def add_sink(self, sink: Callable[[StylizedFrame], None]) -> None:
        """Call ``sink`` on the worker thread with every result; it must return at once."""
        self._sinks = [*self._sinks, sink]

    def remove_sink(self, sink: Callable[[StylizedFrame], None]) -> None:
        self._sinks = [s for s in self._sinks if s != sink]  # ==: a bound method is a new object each time

    # ------------------------------------------------------------------ control (any thread)

    def submit(self, job: Callable[[StylizerLike], T]) -> "Future[T]":
        """Run ``job(stylizer)`` on the worker thread before the next frame."""
        fut: Future[T] = Future()
        if self._stop.is_set():
            fut.cancel()
            return fut
        self._jobs.put((job, fut))
        return fut

    def update(self, **changes: object) -> Settings:
        """Replace the settings snapshot (validated once a style is chosen); the next frame uses it.
        Safe from any thread; a rejected change leaves the old snapshot."""
        with self._settings_lock:
            new = replace(self._settings, **changes)  # type: ignore[arg-type]
            if new.styles:
                new.validate()
            self._settings = new
            return new

    @property
    def settings(self) -> Settings:
        return self._settings

    def stats(self) -> WorkerStats:
        t = self._recent.timing()
        return WorkerStats(self._processed, self._skipped, self._errors, t.fps, t.latency_ms, t.latency_p95_ms,
                           t.engine_ms,
                           self._heartbeat, self._last_error, self._restarts, self._last_index)

    # ------------------------------------------------------------------ the loop

    def _run_jobs(self, generation: int = 0) -> None:
        while generation == self._generation:
            try:
                job, fut = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(job(self.stylizer))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                fut.set_exception(exc)

    def _run(self, generation: int = 0) -> None:
        while not self._stop.is_set() and generation == self._generation:
            self._heartbeat = time.monotonic()
            self._run_jobs(generation)
            frame = self.frames.read(self._last_index, timeout=self._poll)
            if frame is None or generation != self._generation:
                continue
            if self._last_index:
                self._skipped += max(0, frame.index - self._last_index - 1)
            self._last_index = frame.index
            settings = self._frame_settings(self._settings)  # one consistent snapshot for this frame
            last = self._last_input
            if self.skip_repeats and last is not None and last[0] is frame.rgb and last[1] is settings:
                continue  # the same still picture with the same settings: the result is on screen
            self._process(frame, settings, generation)
            if generation == self._generation:
                self._last_input = (frame.rgb, settings)

    def _frame_settings(self, settings: Settings) -> Settings:
        hook = self.settings_hook
        if hook is None:
            return settings
        try:
            return hook(settings)
        except Exception:  # a broken hook must not stop the stream: use the plain settings
            self._hook_errors += 1
            if self._hook_errors == 1 or self._hook_errors % 100 == 0:
                log.exception("the settings hook failed (%d times); using the current settings", self._hook_errors)
            return settings

    def set_stabilize(self, strength: float) -> None:
        """Temporal stabilisation strength 0..1 (0: off); applies from the next frame."""
        self.stabilizer = TemporalStabilizer(strength) if strength > 0 else None

    @property
    def stabilize(self) -> float:
        stabilizer = self.stabilizer
        return stabilizer.strength if stabilizer is not None else 0.0

    def _stylize(self, content_rgb: np.ndarray, settings: Settings) -> np.ndarray:
        """One frame through the model, stabilised against the previous ones when asked."""
        stabilizer = self.stabilizer
        if stabilizer is None:
            return self.stylizer.stylize(content_rgb, settings)
        if set(settings.styles) != set(self._stabilized_styles):
            stabilizer.reset()  # another painting: a cut, not flicker
            self._stabilized_styles = settings.styles
        return stabilizer.stylize(self.stylizer, content_rgb, settings)

    def use_stylizer(self, stylizer: StylizerLike) -> None:
        """Run the following frames through ``stylizer`` (another model). Call it on the engine thread
        (a job, see :meth:`submit`), between two frames. What was learnt about the old one starts
        over: the stabiliser's features (another encoder's), the size governor's timings, the last
        input (a still picture is stylized again)."""
        self.stylizer = stylizer
        if self.stabilizer is not None:
            self.stabilizer.reset()
        self._stabilized_styles = ()
        self._last_input = None
        governor = self.governor
        if governor is not None:
            self.governor = SizeGovernor(governor.target_fps)
            self.update(size=self.governor.size)

    def set_target_fps(self, fps: float | None) -> None:
        """Adaptive quality: pick the processing size that holds ``fps`` (None: leave the size alone)."""
        if fps is None:
            self.governor = None
            return
        current = self.settings.size
        governor = SizeGovernor(fps, start=current) if current else SizeGovernor(fps)
        self.governor = governor
        self.update(size=governor.size)

    @property
    def target_fps(self) -> float | None:
        governor = self.governor
        return governor.target_fps if governor is not None else None

    def _adapt(self, frame: Frame, settings: Settings, engine_seconds: float) -> None:
        governor = self.governor
        if governor is None:
            return
        size = governor.observe(engine_seconds, limit=min(frame.rgb.shape[:2]))
        if size != settings.size and self.governor is governor:
            self.update(size=size)

    def _process(self, frame: Frame, settings: Settings, generation: int | None = None) -> None:
        started = time.monotonic()
        try:
            if settings.styles:
                rgb, stylized = self._stylize(frame.rgb, settings), True
            else:
                rgb, stylized = frame.rgb, False  # nothing chosen yet: show the camera as it is
        except Exception as exc:  # one bad frame must not end the stream
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            if self._errors == 1 or self._errors % 100 == 0:
                log.exception("stylizing frame %d failed (%d errors so far)", frame.index, self._errors)
            return
        finished = time.monotonic()
        if generation is not None and generation != self._generation:
            return  # abandoned by restart() while it worked: a newer loop owns the output now
        result = StylizedFrame(rgb, frame, settings, self._out.seq + 1, started, finished, stylized)
        self._out.put(result)
        self._processed += 1
        self._recent.add(finished, result.latency, finished - started)
        if stylized:
            self._adapt(frame, settings, finished - started)
        for sink in self._sinks:
            try:
                sink(result)
            except Exception:  # a broken sink must not stop the engine
                log.exception("a frame sink failed")
