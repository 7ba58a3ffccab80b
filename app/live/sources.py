"""Frame sources: camera, video file, stream URL, still image and the synthetic demo.

Each produces RGB uint8 frames (OpenCV hands out BGR: it is converted here, at the edge);
video files loop, paced at their own frame rate. ``open_source`` turns a ``--source`` value
into one, ``probe`` makes a bad file fail before the model loads. The capture thread that
reads them is app.live.capture.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import UserError
from app.images import is_image_path, load_image
from app.paths import CALIBRATION_DIR

DEFAULT_CAMERA_SIZE = (640, 480)
DEMO_SIZE = (640, 360)
STILL_FPS = 15.0  # a still image is re-sent at this rate so that late readers always get it


class SourceError(Exception):
    """A source cannot be opened or read right now (it may come back: the thread retries)."""


class FrameSource(Protocol):
    """What the capture thread reads. ``open`` and ``read`` run on the capture thread only."""

    name: str  # for status lines: "camera 0", "cutBunny.mp4"
    fps: float | None  # pace reads at this rate (files, stills, demo); None: the device paces itself

    def open(self) -> None:
        """Open (or reopen) the source; raises :class:`SourceError` with a short reason."""

    def read(self) -> np.ndarray | None:
        """The next RGB uint8 frame, or None when the source was lost."""

    def close(self) -> None:
        """Release the device or file (idempotent)."""


# ---------------------------------------------------------------------------- OpenCV sources


def _cv2():
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines; our status says it once
    import cv2  # loaded on first use; `--help` stays fast

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no V4L2 warning spam
    except AttributeError:
        pass
    return cv2


class _OpenCVSource:
    """Common part of the OpenCV-backed sources: open, read one BGR frame, convert to RGB."""

    fps: float | None = None
    open_error = "cannot open"

    def __init__(self, name: str) -> None:
        self.name = name
        self._cap = None

    def _make_capture(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def open(self) -> None:
        self.close()
        cap = self._make_capture()
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise SourceError(self.open_error)
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, frame_bgr = self._cap.read()
        if not ok or frame_bgr is None or frame_bgr.size == 0:
            return None
        return _bgr_to_rgb(frame_bgr)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _bgr_to_rgb(frame_bgr: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    if frame_bgr.ndim == 2:
        return cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2RGB)
    if frame_bgr.shape[2] == 4:
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


class CameraSource(_OpenCVSource):
    """A local camera by index, asked for ``size`` and a one-frame driver buffer."""

    def __init__(self, index: int = 0, size: tuple[int, int] | None = DEFAULT_CAMERA_SIZE) -> None:
        super().__init__(f"camera {index}")
        self.open_error = f"no camera at index {index}"
        self.index = index
        self.size = size

    def _make_capture(self):
        cv2 = _cv2()
        cap = cv2.VideoCapture(self.index)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a driver-side backlog
            if self.size:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        return cap


class StreamSource(_OpenCVSource):
    """A network stream (rtsp://, http://...): not paced, so a live stream is drained promptly."""

    def __init__(self, url: str) -> None:
        super().__init__(url if len(url) <= 60 else url[:57] + "...")
        self.open_error = "cannot connect"
        self.url = url

    def _make_capture(self):
        cv2 = _cv2()
        cap = cv2.VideoCapture(self.url)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap


class FileSource(_OpenCVSource):
    """A video file, looped forever and paced at its own frame rate by the capture thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(self.path.name)
        self.open_error = "not a readable video"
        self.fps = 25.0
        self.loops = 0
        self._frames_since_open = 0

    def _make_capture(self):
        cv2 = _cv2()
        if not self.path.is_file():
            raise SourceError("the file is gone")
        cap = cv2.VideoCapture(str(self.path))
        if cap.isOpened():
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and math.isfinite(fps) and 1.0 <= fps <= 240.0 else 25.0
        return cap

    def open(self) -> None:
        super().open()
        self._frames_since_open = 0
        if super().read() is None:  # opens but decodes nothing: not a video
            self.close()
            raise SourceError("not a readable video")
        self._cap.set(_cv2().CAP_PROP_POS_FRAMES, 0)

    def read(self) -> np.ndarray | None:
        frame = super().read()
        if frame is None and self._frames_since_open > 0:
            self.loops += 1  # end of file: start again (a seek is cheap; reopen if it fails)
            self._frames_since_open = 0
            if self._cap is not None and self._cap.set(_cv2().CAP_PROP_POS_FRAMES, 0):
                frame = super().read()
            if frame is None:
                try:
                    super().open()
                except SourceError:
                    return None
                frame = super().read()
        if frame is not None:
            self._frames_since_open += 1
        return frame


class ResizedSource:
    """Another source's frames scaled to cover ``size`` and centre-cropped to it (a video file
    standing in for a camera of that size: benchmarks, --camera-size on files)."""

    def __init__(self, inner: FrameSource, size: tuple[int, int]) -> None:
        self.inner = inner
        self.size = size
        self.name = f"{inner.name} at {size[0]}x{size[1]}"
        self.fps = inner.fps

    def open(self) -> None:
        self.inner.open()
        self.fps = self.inner.fps

    def read(self) -> np.ndarray | None:
        frame = self.inner.read()
        if frame is None:
            return None
        cv2 = _cv2()
        (w, h), (fh, fw) = self.size, frame.shape[:2]
        scale = max(w / fw, h / fh)
        sw, sh = max(w, round(fw * scale)), max(h, round(fh * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        big = cv2.resize(frame, (sw, sh), interpolation=interp)
        y, x = (sh - h) // 2, (sw - w) // 2
        return np.ascontiguousarray(big[y:y + h, x:x + w])

    def close(self) -> None:
        self.inner.close()


# ---------------------------------------------------------------------------- other sources


class ImageSource:
    """A still image, re-sent at a low rate (the same array each time, so repeats are cheap to spot)."""

    fps: float | None = STILL_FPS

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._rgb: np.ndarray | None = None

    def open(self) -> None:
        try:
            rgb = load_image(self.path)
        except UserError as exc:
            raise SourceError(str(exc).split(": ", 1)[-1]) from None
        rgb.setflags(write=False)  # shared by every frame: nobody may draw on it
        self._rgb = rgb

    def read(self) -> np.ndarray | None:
        return self._rgb

    def close(self) -> None:
        self._rgb = None


class DemoSource:
    """Synthetic camera: slow pans and zooms over the calibration photos, cross-faded.

    Works with no camera and no media, so the app always has something to show. The
    picture depends only on the frame number: deterministic for tests.
    """

    name = "demo"

    def __init__(self, size: tuple[int, int] = DEMO_SIZE, fps: float = 30.0,
                 seconds_per_image: float = 6.0, folder: Path = CALIBRATION_DIR) -> None:
        self.size = size
        self.fps = fps
        self.seconds_per_image = seconds_per_image
        self.folder = Path(folder)
        self._images: list[np.ndarray] = []
        self._n = 0

    def open(self) -> None:
        paths = sorted(p for p in self.folder.glob("*.png"))
        if not paths:
            raise SourceError(f"no demo images in {self.folder}")
        self._images = [load_image(p) for p in paths]
        self._n = 0

    def frame_at(self, n: int) -> np.ndarray:
        """The demo picture at frame ``n``."""
        t = n / self.fps
        k, phase = divmod(t / self.seconds_per_image, 1.0)
        current = self._view(self._images[int(k) % len(self._images)], phase)
        fade = 0.15  # the last 15 % of each shot cross-fades into the next
        if phase > 1.0 - fade:
            nxt = self._view(self._images[(int(k) + 1) % len(self._images)], phase - 1.0)
            w = (phase - (1.0 - fade)) / fade
            current = (current * (1.0 - w) + nxt * w + 0.5).astype(np.uint8)
        return current

    def _view(self, img: np.ndarray, phase: float) -> np.ndarray:
        """A 16:9 window that zooms in and pans across ``img`` as ``phase`` goes 0 -> 1."""
        cv2 = _cv2()
        out_w, out_h = self.size
        h, w = img.shape[:2]
        zoom = 1.0 + 0.35 * (0.5 - 0.5 * math.cos(math.pi * phase))  # eased 1.0 -> 1.35
        crop_w = min(w, h * out_w / out_h) / zoom
        crop_h = crop_w * out_h / out_w
        x = (w - crop_w) * (0.5 + 0.5 * math.sin(2 * math.pi * phase) * 0.9) if w > crop_w else 0.0
        y = (h - crop_h) * phase
        scale = out_w / crop_w
        m = np.array([[scale, 0.0, -x * scale], [0.0, scale, -y * scale]], dtype=np.float64)
        return cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def read(self) -> np.ndarray | None:
        if not self._images:
            return None
        frame = self.frame_at(self._n)
        self._n += 1
        return frame

    def close(self) -> None:
        pass


def open_source(spec: str | int | Path | None,
                camera_size: tuple[int, int] | None = DEFAULT_CAMERA_SIZE) -> FrameSource:
    """Turn a ``--source`` value into a source: camera index, file (video or image), URL or 'demo'.

    Only checks what can be checked without opening (a missing file is a :class:`UserError`).
    """
    text = "0" if spec is None or str(spec).strip() == "" else str(spec).strip()
    if text.isdigit():
        return CameraSource(int(text), camera_size)
    if text.lower() == "demo":
        return DemoSource()
    if "://" in text:
        return StreamSource(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such file (--source takes a camera index, a video or image file, "
                        "a stream URL, or 'demo')")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; --source takes a video or image file")
    if is_image_path(path):
        return ImageSource(path)
    return FileSource(path)


def probe(source: FrameSource, *, streams: bool = True) -> None:
    """Open and close a file (and a stream, unless ``streams`` is False) once, so a bad one fails
    before the model loads: UserError "NAME: why". Cameras are not probed (opening one twice is
    slow, and the run reports a missing one anyway)."""
    if isinstance(source, CameraSource) or (isinstance(source, StreamSource) and not streams):
        return
    try:
        source.open()
    except SourceError as exc:
        raise UserError(f"{source.name}: {exc}") from None
    finally:
        source.close()


def camera_or_demo(spec: str | int | Path | None, camera_size: tuple[int, int] | None = DEFAULT_CAMERA_SIZE
                   ) -> FrameSource:
    """The given source, else camera 0 if it opens, else the synthetic demo."""
    if spec is not None:
        return open_source(spec, camera_size)
    camera = CameraSource(0, camera_size)
    try:
        camera.open()
    except SourceError:
        return DemoSource()
    finally:
        camera.close()
    return camera


def describe_spec(source: FrameSource) -> str | None:
    """The ``--source`` text that reopens ``source`` next time (None for synthetic sources)."""
    if isinstance(source, CameraSource):
        return str(source.index)
    if isinstance(source, StreamSource):
        return source.url
    if isinstance(source, (FileSource, ImageSource)):
        return str(source.path.resolve())
    return "demo" if isinstance(source, DemoSource) else None


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise UserError(f"--camera-size {text!r}: expected WIDTHxHEIGHT such as 640x480") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UserError(f"--camera-size {text!r}: each side must be between 16 and 8192")
    return w, h
