"""Recording the stylized stream, and snapshots.

:class:`Recorder` encodes on its own thread behind a small bounded queue: the engine
hands a frame over without ever waiting, and when the disk or encoder falls behind,
frames are dropped and counted instead of piling up in memory.

Frame rate: each frame is written with its real capture time as its timestamp (variable
frame rate, millisecond time base). The live stream's rate is whatever the engine
achieves, and it changes (a new style's first frame is slower, the CPU is shared), so
any fixed rate would play the recording too fast or too slow; real timestamps replay
motion at the speed it happened, and the file's average rate is the achieved one. The
file is H.264 in fragmented MP4 (or MKV): if the app is killed, everything up to the
last fragment (about a second) still plays; Stop or close finalises it cleanly.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from app.errors import UserError
from app.images import save_image
from app.paths import pictures_dir, videos_dir
from app.video_io import VideoWriter

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 1000)  # timestamps in milliseconds
DEFAULT_QUEUE = 8  # frames: about a second of a CPU stream, ~7 MB at 640x480
FILE_PREFIX = "adain-live"
STAMP = "%Y%m%d-%H%M%S"  # the local time in every timestamped file name


def timestamped_path(folder: Path, suffix: str, prefix: str = FILE_PREFIX, when: datetime | None = None) -> Path:
    """``folder/adain-live-20250131-142501.mp4`` (``-2``, ``-3``... if taken); ``when``: now."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}-{(when or datetime.now()).strftime(STAMP)}"
    path, k = folder / f"{stem}{suffix}", 2
    while path.exists():
        path, k = folder / f"{stem}-{k}{suffix}", k + 1
    return path


def save_snapshot(rgb: np.ndarray, folder: Path | None = None) -> Path:
    """Save a frame as a timestamped PNG in the pictures folder (atomic write)."""
    path = timestamped_path(folder or pictures_dir(), ".png")
    save_image(rgb, path)
    return path


def fit_into(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``rgb`` to fit ``width`` x ``height`` keeping its aspect, centred on black."""
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    import cv2  # noqa: PLC0415

    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return out


@dataclass(frozen=True)
class RecordingStats:
    path: Path
    frames_written: int
    frames_dropped: int  # the queue was full: the encoder or disk could not keep up
    duration: float  # seconds between the first and the last frame's capture time
    fps: float  # achieved: frames over duration
    error: str  # non-empty when writing failed (disk full...); the file holds what was written
    finished: bool


class Recorder:
    """Encodes submitted frames to ``path`` on its own thread; the file opens at the first frame."""

    def __init__(self, path: Path | None = None, *, nominal_fps: float = 10.0, max_queue: int = DEFAULT_QUEUE,
                 writer_factory: Callable[..., VideoWriter] = VideoWriter) -> None:
        self.path = Path(path) if path else timestamped_path(videos_dir(), ".mp4")
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov", ".m4v"):
            raise UserError(f"{self.path}: recordings must be .mp4, .mkv or .mov")
        self.nominal_fps = max(1.0, min(120.0, float(nominal_fps)))  # sets the keyframe interval only
        self._factory = writer_factory
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._writer: VideoWriter | None = None
        self._written = self._dropped = 0
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._error = ""
        self._stopping = False
        self._finished = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "Recorder":
        if self._thread is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._thread.start()
        return self

    def submit(self, rgb: np.ndarray, timestamp: float | None = None) -> bool:
        """Queue a frame (never blocks). False when it was dropped: queue full, stopped or failed."""
        if self._stopping or self._error:
            return False
        try:
            self._queue.put_nowait((rgb, time.monotonic() if timestamp is None else timestamp))
            return True
        except queue.Full:
            self._dropped += 1
            return False

    def on_frame(self, frame) -> None:
        """An :class:`app.live.worker.EngineWorker` sink: record a StylizedFrame at its capture time."""
        self.submit(frame.rgb, frame.capture_ts)

    def stop(self, timeout: float | None = 30.0) -> RecordingStats:
        """Write what is queued, finalise the file, and return the totals."""
        if not self._stopping:
            self._stopping = True
            if self._thread is not None:
                self._queue.put(None)  # the writer drains the queue, so this cannot block for long
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def active(self) -> bool:
        return self._thread is not None and not self._stopping and not self._error

    def stats(self) -> RecordingStats:
        duration = (self._last_ts - self._first_ts) if self._first_ts is not None and self._last_ts is not None else 0.0
        fps = (self._written - 1) / duration if self._written > 1 and duration > 0 else 0.0
        return RecordingStats(self.path, self._written, self._dropped, duration, fps, self._error,
                              self._finished.is_set())

    # ------------------------------------------------------------------ the writer thread

    def _open(self, rgb: np.ndarray) -> VideoWriter:
        h, w = rgb.shape[:2]
        return self._factory(self.path, self.nominal_fps, w, h, time_base=TIME_BASE)

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if self._error:
                    continue  # keep draining so submitters never block
                rgb, ts = item
                try:
                    self._write(rgb, ts)
                except Exception as exc:  # noqa: BLE001 - reported in stats and by the UI
                    self._error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                    log.error("recording to %s failed: %s", self.path, self._error)
        finally:
            try:
                if self._writer is not None:
                    self._writer.close()
            except Exception as exc:  # noqa: BLE001
                # a UserError already names the file and the problem (disk full...)
                self._error = self._error or (str(exc) if isinstance(exc, UserError)
                                              else f"cannot finish {self.path}: {exc}")
            self._finished.set()

    def _write(self, rgb: np.ndarray, ts: float) -> None:
        if self._writer is None:
            self._writer = self._open(rgb)
            self._first_ts = ts
        w, h = self._writer.size
        if rgb.shape[1::-1] != (w, h):  # the source changed size mid-recording: letterbox
            rgb = fit_into(rgb, w, h)
        pts = int(round((ts - self._first_ts) / TIME_BASE))
        self._writer.write(rgb, pts=pts)
        self._written += 1
        self._last_ts = ts
