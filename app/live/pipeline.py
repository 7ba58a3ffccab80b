"""The live pipeline, shared by the window, the headless runner, the kiosk and the benchmark.

Data flows one way: source -> :class:`CaptureThread` -> one-slot :class:`FrameFeed` ->
:class:`EngineWorker` -> sinks (the newest-result slot the display polls, a
:class:`Recorder`, counters). :class:`LivePipeline` owns and wires those threads and is
the only object the front ends talk to; it holds no Qt and no argparse.
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence, TextIO, Union

from app.live.adaptive import AUTO, DEFAULT_TARGET_FPS
from app.live.capture import Backoff, CaptureStats, CaptureThread, FrameFeed
from app.live.sources import DEFAULT_CAMERA_SIZE, FrameSource
from app.engine import Settings
from app.errors import UserError
from app.images import load_image
from app.live.meter import FrameWindow
from app.live.recorder import Recorder, RecordingStats, save_snapshot
from app.live.remote import DEFAULT_HOST
from app.styles import Style
from app.live.virtual_camera import (DEFAULT_FPS as CAMERA_FPS, BackendFactory, PyVirtualCamBackend, VirtualCamera,
                                VirtualCameraStats)
from app.live.worker import EngineWorker, StylizedFrame, StylizerLike, WorkerStats


SizeChoice = Union[int, None, Literal["auto"]]  # a processing short side, None (the frame's own), or auto


@dataclass
class LiveOptions:
    """What the user asked for on the command line; None means "not given" (use memory or default)."""

    source: str | None = None  # --source: camera index, file, URL, 'demo'
    camera_size: tuple[int, int] = DEFAULT_CAMERA_SIZE
    mirror: bool | None = None
    styles: list[str] = field(default_factory=list)  # names or image paths
    mix: tuple[float, ...] = ()
    alpha: float | None = None
    stabilize: float | None = None  # temporal stabilisation 0..1
    color: str | None = None
    palette: float | None = None  # --palette; None: remembered, else the model's
    size: SizeChoice = None  # None here: not given
    target_fps: float = DEFAULT_TARGET_FPS  # what --size auto holds
    frames: int | None = None  # stop after this many results
    record: Path | None = None
    virtual_camera: bool = False  # --virtual-camera: also send the results to a virtual webcam
    osc_port: int | None = None  # --osc: listen for OSC remote control on this UDP port
    osc_host: str = DEFAULT_HOST  # --osc-host
    model: str | None = None  # --model: full, fast or auto (the window: else the one it remembers)


@dataclass(frozen=True)
class LiveStats:
    """One observation of the whole pipeline (for overlays, logs, soak reports, benchmarks)."""

    capture: CaptureStats | None
    engine: WorkerStats
    captured: int  # frames into the feed, all sources together
    recording: RecordingStats | None
    virtual_camera: VirtualCameraStats | None = None


class LivePipeline:
    """capture -> engine -> sinks. Every method may be called from any thread."""

    def __init__(self, stylizer: StylizerLike, source: FrameSource | None = None, *, mirror: bool = False,
                 skip_repeats: bool = False, backoff: Backoff | None = None,
                 camera_backend: BackendFactory = PyVirtualCamBackend, settings: Settings | None = None) -> None:
        self.stylizer = stylizer
        self.camera_backend = camera_backend  # the virtual camera's device (tests: a recording fake)
        self.feed = FrameFeed()
        self.worker = EngineWorker(stylizer, self.feed, skip_repeats=skip_repeats, settings=settings)
        self._backoff = backoff
        self._mirror = mirror
        self._lock = threading.RLock()
        self.capture: CaptureThread | None = None
        self._source = source
        self._recorder: Recorder | None = None
        self._last_recording: RecordingStats | None = None
        self._camera: VirtualCamera | None = None
        self._camera_sink: Callable[[StylizedFrame], None] | None = None
        self.last_virtual_camera: VirtualCameraStats | None = None
        self._style_ids: dict[tuple[str, float], str] = {}  # (path, mtime) -> style id
        self.styles: tuple[Style, ...] = ()  # what the engine is using now
        self._started = False
        self.auto_target_fps = DEFAULT_TARGET_FPS  # what size 'auto' holds

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "LivePipeline":
        with self._lock:
            if not self._started:
                self._started = True
                self.worker.start()
                if self._source is not None:
                    self._start_capture(self._source)
        return self

    def stop(self) -> RecordingStats | None:
        """Stop every thread; a recording in progress is finalised and its totals returned."""
        with self._lock:
            rec = self.stop_recording()
            self.stop_virtual_camera()
            if self.capture is not None:
                self.capture.stop()
            self.worker.stop()
            self._started = False
            return rec

    def __enter__(self) -> "LivePipeline":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ source

    @property
    def source(self) -> FrameSource | None:
        return self._source

    def set_source(self, source: FrameSource) -> None:
        """Switch to another source; the engine carries on with the new frames."""
        with self._lock:
            if self.capture is not None:
                self.capture.stop()
                self.capture = None
            self._source = source
            if self._started:
                self._start_capture(source)

    def pause_capture(self) -> None:
        """Stop reading the source (releases a camera) but keep the engine and the last result."""
        with self._lock:
            if self.capture is not None:
                self.capture.stop()
                self.capture = None

    def resume_capture(self) -> None:
        """Read the source again after :meth:`pause_capture` (a no-op while capturing)."""
        with self._lock:
            if self._started and self.capture is None and self._source is not None:
                self._start_capture(self._source)

    @property
    def stabilize(self) -> float:
        """Temporal stabilisation strength 0..1 (see app.live.temporal)."""
        return self.worker.stabilize

    @stabilize.setter
    def stabilize(self, strength: float) -> None:
        self.worker.set_stabilize(float(strength))

    @property
    def size_choice(self) -> SizeChoice:
        """'auto' while adaptive quality picks the size, else the fixed size (None: the frame's own)."""
        return AUTO if self.worker.governor is not None else self.settings.size

    @property
    def target_fps(self) -> float | None:
        """The frame rate adaptive quality holds; None when the size is fixed."""
        return self.worker.target_fps

    def set_size(self, choice: SizeChoice, target_fps: float | None = None) -> Settings:
        """A fixed processing size, the frame's own (None), or 'auto' to hold ``target_fps``
        (default: :attr:`auto_target_fps`)."""
        if choice == AUTO:
            if target_fps is not None:
                self.auto_target_fps = float(target_fps)
            self.worker.set_target_fps(self.auto_target_fps)
            return self.settings
        self.worker.set_target_fps(None)
        return self.update(size=choice)

    def _start_capture(self, source: FrameSource) -> None:
        backoff = Backoff(self._backoff.initial, self._backoff.factor, self._backoff.maximum) if self._backoff else None
        self.capture = CaptureThread(source, feed=self.feed, mirror=self._mirror, backoff=backoff).start()

    @property
    def mirror(self) -> bool:
        return self._mirror

    @mirror.setter
    def mirror(self, value: bool) -> None:
        self._mirror = bool(value)
        if self.capture is not None:
            self.capture.mirror = self._mirror

    # ------------------------------------------------------------------ results

    def read(self, after: int = 0, timeout: float | None = None) -> StylizedFrame | None:
        """The newest result with ``seq`` above ``after`` (see :meth:`EngineWorker.read`)."""
        return self.worker.read(after, timeout)

    def latest(self) -> StylizedFrame | None:
        return self.worker.latest()

    def stats(self) -> LiveStats:
        rec = self._recorder.stats() if self._recorder is not None else None
        cap = self.capture.stats() if self.capture is not None else None
        cam = self._camera.stats() if self._camera is not None else None
        return LiveStats(cap, self.worker.stats(), self.feed.count, rec, cam)

    # ------------------------------------------------------------------ settings and styles

    @property
    def settings(self) -> Settings:
        return self.worker.settings

    def update(self, **changes: object) -> Settings:
        """Alpha, colour mode, processing size, mix weights...: applies on the next frame."""
        return self.worker.update(**changes)

    def select_styles(self, styles: Sequence[Style], weights: Sequence[float] = (),
                      **changes: object) -> "Future[Settings]":
        """Make ``styles`` (mixed by ``weights``) current. Runs on the engine thread: a style
        seen before costs a dictionary lookup; a new one is encoded once (then cached on disk)."""
        styles = tuple(styles)
        weights = tuple(float(w) for w in weights)

        def job(stylizer) -> Settings:
            ids = tuple(self._style_id(stylizer, s) for s in styles)
            settings = self.worker.update(styles=ids, weights=weights if len(styles) > 1 else (), **changes)
            self.styles = styles
            return settings

        return self.worker.submit(job)

    def switch_stylizer(self, make: Callable[[], StylizerLike]) -> "Future[StylizerLike]":
        """Run another model from now on, without stopping the video. ``make`` builds it on a thread
        of its own (loading weights takes seconds; the old model keeps stylizing meanwhile); then,
        between two frames on the engine thread, the current styles are added to it (style statistics
        are per encoder) and it replaces the old one (see :meth:`EngineWorker.use_stylizer`). The
        future gives the new stylizer, or the reason it could not be built (the old one stays).
        The current styles are encoded for it on the building thread too, so the hand-over between
        two frames costs only the styles chosen meanwhile."""
        done: Future[StylizerLike] = Future()

        def swap(stylizer: StylizerLike) -> StylizerLike:
            ids = tuple(self._style_id(stylizer, s) for s in self.styles)  # raises: the old model stays
            self.worker.use_stylizer(stylizer)
            if ids:
                self.worker.update(styles=ids)
            self.stylizer = stylizer
            return stylizer

        def build() -> None:
            try:
                stylizer = make()
                for style in self.styles:  # encoded here, off the engine thread; the swap only checks
                    self._style_id(stylizer, style)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                done.set_exception(exc)
                return
            self.worker.submit(lambda _old: swap(stylizer)).add_done_callback(lambda f: _forward(f, done))

        threading.Thread(target=build, name="model-loader", daemon=True).start()
        return done

    def _style_id(self, stylizer, style: Style) -> str:
        try:
            key = (str(style.path), style.path.stat().st_mtime)
        except OSError:
            raise UserError(f"{style.path}: the style image is gone") from None
        sid = self._style_ids.get(key)
        if sid is None or not stylizer.has_style(sid):
            sid = stylizer.add_style(load_image(style.path))
            self._style_ids[key] = sid
        return sid

    # ------------------------------------------------------------------ recording and snapshots

    @property
    def recorder(self) -> Recorder | None:
        return self._recorder

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def start_recording(self, path: Path | None = None, max_queue: int | None = None) -> Path:
        """Record every result from now on (timestamped file in the videos folder by default)."""
        with self._lock:
            if self._recorder is not None:
                return self._recorder.path
            fps = self.worker.stats().fps or 10.0
            kwargs = {"max_queue": max_queue} if max_queue else {}
            rec = Recorder(path, nominal_fps=fps, **kwargs).start()
            self._recorder = rec
            self.worker.add_sink(rec.on_frame)
            return rec.path

    def stop_recording(self) -> RecordingStats | None:
        """Finalise the recording (if any) and return its totals."""
        with self._lock:
            rec, self._recorder = self._recorder, None
            if rec is None:
                return None
            self.worker.remove_sink(rec.on_frame)
            self._last_recording = rec.stop()
            return self._last_recording

    # ------------------------------------------------------------------ virtual camera

    @property
    def virtual_camera(self) -> VirtualCamera | None:
        return self._camera

    def start_virtual_camera(self, fps: float = CAMERA_FPS) -> VirtualCamera:
        """Send every result from now on to a virtual camera (its own thread; see app.live.virtual_camera).
        A device that is missing or vanishes shows up in :meth:`stats`, never as an exception here."""
        with self._lock:
            if self._camera is not None:
                return self._camera
            camera = VirtualCamera(fps, self.camera_backend)
            self._camera, self._camera_sink = camera.start(), camera.on_frame
            self.worker.add_sink(self._camera_sink)
            return camera

    def stop_virtual_camera(self) -> VirtualCameraStats | None:
        """Close the virtual camera (if any) and return its totals."""
        with self._lock:
            camera, sink, self._camera, self._camera_sink = self._camera, self._camera_sink, None, None
            if camera is None:
                return None
            if sink is not None:
                self.worker.remove_sink(sink)
            self.last_virtual_camera = camera.stop()
            return self.last_virtual_camera

    def snapshot(self, folder: Path | None = None) -> Path:
        """Save the newest stylized frame as a PNG (atomic); UserError when there is none yet."""
        frame = self.latest()
        if frame is None:
            raise UserError("no stylized frame yet to save")
        return save_snapshot(frame.rgb, folder)


def _forward(source: Future, target: Future) -> None:
    """Hand ``source``'s outcome to ``target``; a job cancelled because the pipeline stopped is a UserError."""
    if source.cancelled():
        target.set_exception(UserError("the video stopped before the new model could take over"))
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


# ---------------------------------------------------------------------------- headless


@dataclass(frozen=True)
class HeadlessSummary:
    frames: int
    seconds: float
    fps: float
    latency_ms: float
    latency_p95_ms: float
    engine_ms: float
    captured: int
    skipped: int
    errors: int
    recording: RecordingStats | None
    virtual_camera: VirtualCameraStats | None = None

    def lines(self) -> list[str]:
        out = [f"{self.frames} frames in {self.seconds:.1f} s: {self.fps:.1f} fps achieved, "
               f"latency {self.latency_ms:.0f} ms mean / {self.latency_p95_ms:.0f} ms p95 "
               f"(engine {self.engine_ms:.0f} ms per frame)",
               f"captured {self.captured} frames, {self.skipped} skipped while the engine was busy"
               + (f", {self.errors} failed" if self.errors else "")]
        rec = self.recording
        if rec is not None:
            out.append(f"recorded {rec.frames_written} frames at {rec.fps:.1f} fps to {rec.path}"
                       + (f" ({rec.frames_dropped} dropped: the disk was too slow)" if rec.frames_dropped else "")
                       + (f"; error: {rec.error}" if rec.error else ""))
        if self.virtual_camera is not None:
            out.append(self.virtual_camera.line())
        return out


def run_headless(pipeline: LivePipeline, frames: int | None, record: Path | None = None, *,
                 first_frame_timeout: float = 30.0, stall_timeout: float = 30.0,
                 on_frame: Callable[[StylizedFrame], None] | None = None,
                 out: TextIO | None = None, warmup: int = 0) -> HeadlessSummary:
    """Run the pipeline without a window for ``frames`` results (None: until Ctrl-C).

    Counting and recording happen in a sink on the engine thread, so exactly the first
    ``frames`` results are measured and recorded. The source must deliver a first frame
    within ``first_frame_timeout`` (else UserError naming the problem); a later stall
    longer than ``stall_timeout`` also ends the run with a UserError. The first ``warmup``
    results are neither measured nor recorded (benchmarks: cold starts, the size search).
    """
    out = out or sys.stdout
    done = threading.Event()
    results = FrameWindow(maxlen=None)  # every measured result: the same figures as the overlay's window
    recorder: Recorder | None = None
    warm = [warmup]

    def sink(result: StylizedFrame) -> None:
        if warm[0] > 0:
            warm[0] -= 1
            return
        if frames is not None and len(results) >= frames:
            return
        results.add(result.finished, result.latency, result.engine_time)
        if recorder is not None:
            recorder.on_frame(result)
        if on_frame is not None:
            on_frame(result)
        if frames is not None and len(results) >= frames:
            done.set()

    rec_stats: RecordingStats | None = None
    t0 = time.monotonic()
    try:
        if record is not None:
            recorder = Recorder(record, nominal_fps=(pipeline.source.fps if pipeline.source else None) or 10.0)
            recorder.start()
        pipeline.worker.add_sink(sink)
        pipeline.start()
        cap = pipeline.capture
        if cap is not None and not cap.wait_started(first_frame_timeout):
            raise UserError(f"{cap.source.name}: {cap.stats().last_error or 'no frame'}")
        seen, last_progress = 0, time.monotonic()
        try:
            while not done.wait(0.25):
                now = time.monotonic()
                if len(results) != seen:
                    seen, last_progress = len(results), now
                elif now - last_progress > stall_timeout:
                    status = cap.status if cap is not None else "no source"
                    raise UserError(f"no stylized frame for {stall_timeout:.0f} s ({status})")
        except KeyboardInterrupt:
            print("interrupted: finishing", file=out)
    finally:
        pipeline.worker.remove_sink(sink)
        pipeline.stop()
        if recorder is not None:
            rec_stats = recorder.stop()
    st = pipeline.worker.stats()
    t = results.timing()
    summary = HeadlessSummary(
        frames=t.frames, seconds=time.monotonic() - t0, fps=t.fps, latency_ms=t.latency_ms,
        latency_p95_ms=t.latency_p95_ms, engine_ms=t.engine_ms,
        captured=pipeline.feed.count, skipped=st.skipped, errors=st.errors, recording=rec_stats,
        virtual_camera=pipeline.last_virtual_camera)
    for line in summary.lines():
        print(line, file=out)
    return summary
