"""Reading and writing video files with PyAV (FFmpeg). Frames are RGB uint8 (H, W, 3).

The writer produces H.264 in fragmented MP4 (or Matroska), so a file whose writer was
killed mid-way still plays up to the last fragment (about one second of frames).
"""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from app.errors import UserError, reason
from app.images import MIN_SIDE

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm")
FRAGMENTED_MP4 = "frag_keyframe+empty_moov+default_base_moof"


def is_video_path(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


class VideoReader:
    """Decodes a video file frame by frame; a damaged tail ends the stream early, counted."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: no such video file")
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"{self.path}: not a readable video ({reason(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise UserError(f"{self.path}: contains no video stream")
        self._stream = self._container.streams.video[0]
        # Slice threads only: frame threading drops decode errors, and good frames near them.
        self._stream.thread_type = "SLICE"
        ctx = self._stream.codec_context
        self.width, self.height = int(ctx.width or 0), int(ctx.height or 0)
        if 0 < min(self.width, self.height) < MIN_SIDE:  # the networks need a few pixels (as for images)
            self._container.close()
            raise UserError(f"{self.path}: {self.width}x{self.height} pixels is too small "
                            f"(each side needs at least {MIN_SIDE})")
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25, 1)
        self.fps = Fraction(rate)
        self.time_base: Fraction | None = Fraction(self._stream.time_base) if self._stream.time_base else None
        self.damaged_tail = False

    @property
    def frame_count(self) -> int:
        """Declared or estimated frame count (0 when unknown)."""
        if self._stream.frames:
            return int(self._stream.frames)
        if self._stream.duration and self._stream.time_base:
            return int(round(float(self._stream.duration * self._stream.time_base) * float(self.fps)))
        return 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for rgb, _ in self.timed():
            yield rgb

    def timed(self) -> Iterator[tuple[np.ndarray, int | None]]:
        """(rgb, pts in ``time_base`` units) per frame. A frame without a timestamp gets the
        previous one plus one nominal frame (``fps``); pts is None when there is no time base."""
        step = max(1, round(1 / (self.fps * self.time_base))) if self.time_base else 1
        pts: int | None = None
        for frame in self._frames():
            if self.time_base is not None:
                pts = frame.pts if frame.pts is not None else (0 if pts is None else pts + step)
            yield frame.to_ndarray(format="rgb24"), pts

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames. A partial packet (cut file) or a packet that fails to decode sets
        ``damaged_tail`` and decoding goes on: what decodes is kept, the caller reports it."""
        try:
            for packet in self._container.demux(self._stream):
                if packet.is_corrupt:
                    self.damaged_tail = True
                try:
                    yield from packet.decode()
                except (av.FFmpegError, ValueError):
                    self.damaged_tail = True
        except (av.FFmpegError, EOFError, ValueError):
            self.damaged_tail = True

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoWriter:
    """H.264 (libx264) in fragmented MP4 / MKV / MOV, at a fixed frame rate or explicit timestamps."""

    def __init__(self, path: str | Path, fps: float | Fraction, width: int, height: int,
                 crf: int = 20, keyframe_seconds: float = 1.0, preset: str = "veryfast",
                 time_base: Fraction | None = None) -> None:
        """``time_base`` switches to explicit timestamps: ``write(rgb, pts)`` in that unit
        (variable frame rate, e.g. the real capture times of a live stream); ``fps`` then
        only sets the nominal rate and the keyframe interval."""
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov", ".m4v"):
            raise UserError(f"{self.path}: video output must be .mp4, .mkv or .mov")
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(25, 1)
        if rate <= 0:
            rate = Fraction(25, 1)
        options = {"movflags": FRAGMENTED_MP4} if self.path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
        options["flush_packets"] = "1"  # hand each finished fragment to the OS at once, not when 32 KB pile up
        try:
            self._container = av.open(str(self.path), mode="w", options=options)
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"{self.path}: cannot write ({reason(exc)})") from None
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        # 4:2:0 needs even sides; odd-sized frames keep their exact size in 4:4:4.
        self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        gop = max(1, int(math.ceil(float(rate) * keyframe_seconds)))
        self._stream.options = {"crf": str(crf), "preset": preset, "g": str(gop), "keyint_min": str(gop)}
        self._time_base = Fraction(time_base) if time_base is not None else None
        self._stream.codec_context.time_base = self._time_base or Fraction(1, 1) / rate
        self.size = (width, height)
        self.frames_written = 0
        self._last_pts: int | None = None
        self._closed = False
        self._failed = ""  # why the muxer failed (disk full...): FFmpeg must not be called to write again

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Append a frame. ``pts`` (in ``time_base`` units) only with an explicit time base;
        a timestamp not after the previous one is moved just after it."""
        if self._failed:
            raise UserError(f"{self.path}: cannot write ({self._failed})")
        if rgb.shape[1::-1] != self.size:
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the video is {self.size[0]}x{self.size[1]}")
        if pts is not None and self._time_base is None:
            raise ValueError("explicit pts need a VideoWriter created with a time_base")
        if pts is None:
            pts = self.frames_written if self._time_base is None or self._last_pts is None else self._last_pts + 1
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts
        if self._time_base is not None:
            frame.time_base = self._time_base
        self._mux(self._stream.encode(frame))
        self._last_pts = pts
        self.frames_written += 1

    def _mux(self, packets) -> None:
        """Hand packets to the muxer. After one failure it is never called again: muxing into
        a container whose write failed (e.g. its header, on a full disk) crashes FFmpeg."""
        try:
            self._container.mux(packets)
        except (OSError, av.FFmpegError) as exc:
            self._failed = reason(exc)
            raise UserError(f"{self.path}: cannot write ({self._failed})") from None

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent). After a write failure only the
        container is closed: the fragments already on disk stay playable."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._failed:
                self._mux(self._stream.encode(None))
        finally:
            self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe_frames(path: str | Path) -> tuple[int, int, int]:
    """(decoded frame count, width, height) by decoding the whole file: the ground truth for tests."""
    with VideoReader(path) as reader:
        count = 0
        w = h = 0
        for frame in reader:
            count += 1
            h, w = frame.shape[:2]
        return count, w, h
