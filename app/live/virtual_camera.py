"""The virtual camera sink: stylized frames as a webcam that Zoom, Teams, OBS or a browser can pick.

A virtual camera wants frames at its own steady rate and size, whatever the engine
achieves. So :class:`VirtualCamera` sits behind a one-slot handoff (the engine only
replaces the newest frame, never waits) and its own thread sends at the camera's frame
rate, repeating the newest result when the engine is slower and letterboxing a result
whose size changed to the size the device was opened with (the size of the first
result). The device itself is reached through a :class:`CameraBackend`; the real one
wraps ``pyvirtualcam`` (v4l2loopback on Linux, OBS's virtual camera on Windows and
macOS), tests use a recording fake. A missing package, a missing device or a device
that vanishes mid-stream is one clear sentence; the rest of the app keeps running.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from app.errors import UserError
from app.live.recorder import fit_into
from app.live.slot import LatestSlot

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0  # what video-call apps expect from a webcam
MISSING_PACKAGE = "the virtual camera needs the pyvirtualcam package: pip install pyvirtualcam"
NO_DEVICE = ("no virtual camera device found: on Linux install v4l2loopback and run "
             "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1`; on Windows or macOS install OBS Studio "
             "and start its virtual camera once")


class CameraBackend(Protocol):
    """An open virtual camera device that takes RGB frames of the size it was opened with."""

    device: str

    def send(self, rgb: np.ndarray) -> None: ...

    def close(self) -> None: ...


BackendFactory = Callable[[int, int, float], CameraBackend]  # (width, height, fps) -> an open device


def require_pyvirtualcam() -> None:
    """UserError naming the install command when pyvirtualcam is not there (checked before anything starts)."""
    if importlib.util.find_spec("pyvirtualcam") is None:
        raise UserError(MISSING_PACKAGE)


class PyVirtualCamBackend:
    """The real device through pyvirtualcam, asked for RGB (its default, and the engine's order)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        require_pyvirtualcam()
        import pyvirtualcam  # optional dependency

        try:
            self._camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as exc:  # pyvirtualcam's way of saying "no backend found a device"
            log.debug("pyvirtualcam: %s", exc)
            raise UserError(NO_DEVICE) from None
        self.device = str(self._camera.device)

    def send(self, rgb: np.ndarray) -> None:
        self._camera.send(rgb)

    def close(self) -> None:
        self._camera.close()


@dataclass(frozen=True)
class VirtualCameraStats:
    device: str  # "" until the device is open
    size: tuple[int, int] | None  # (width, height) the device was opened with
    fps: float  # the camera's frame rate (what it sends at, not what the engine achieves)
    sent: int  # frames sent to the device
    repeats: int  # of those, the newest result sent again because the engine had nothing newer
    error: str  # non-empty once the device could not be opened or stopped taking frames

    def line(self) -> str:
        if self.error:
            return f"virtual camera: {self.error}"
        return (f"virtual camera {self.device or '(not opened)'}: sent {self.sent} frames at {self.fps:g} fps "
                f"({self.repeats} repeats of the newest result while the engine was slower)")


class VirtualCamera:
    """Sends the newest stylized frame to a virtual camera at a steady rate, on its own thread."""

    def __init__(self, fps: float = DEFAULT_FPS, backend: BackendFactory = PyVirtualCamBackend) -> None:
        if not 1.0 <= fps <= 120.0:
            raise UserError(f"virtual camera frame rate must be between 1 and 120, got {fps:g}")
        self.fps = float(fps)
        self._factory = backend
        self._slot: LatestSlot[np.ndarray] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: CameraBackend | None = None
        self._size: tuple[int, int] | None = None
        self._sent = self._repeats = 0
        self._error = ""

    # ------------------------------------------------------------------ any thread

    def start(self) -> "VirtualCamera":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="virtual-camera", daemon=True)
            self._thread.start()
        return self

    def submit(self, rgb: np.ndarray) -> None:
        """Hand over a frame (never blocks; a frame not yet sent is replaced)."""
        if not self._error and not self._stop.is_set():
            self._slot.put(rgb)

    def on_frame(self, frame) -> None:
        """An :class:`app.live.worker.EngineWorker` sink: pass on a StylizedFrame's picture."""
        self.submit(frame.rgb)

    def stop(self, timeout: float = 5.0) -> VirtualCameraStats:
        self._stop.set()
        self._slot.put(np.zeros((1, 1, 3), np.uint8))  # wakes a thread waiting for its first frame
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    @property
    def active(self) -> bool:
        return self._thread is not None and not self._stop.is_set() and not self._error

    @property
    def error(self) -> str:
        return self._error

    def stats(self) -> VirtualCameraStats:
        return VirtualCameraStats(self._device.device if self._device is not None else "", self._size, self.fps,
                                  self._sent, self._repeats, self._error)

    # ------------------------------------------------------------------ the sending thread

    def _run(self) -> None:
        try:
            seq, rgb = self._slot.get(0, timeout=None)  # the device opens at the first frame's size
            if self._stop.is_set() or rgb is None:
                return
            h, w = rgb.shape[:2]
            self._device = self._factory(w, h, self.fps)
            self._size = (w, h)
            log.info("virtual camera %s: %dx%d at %g fps", self._device.device, w, h, self.fps)
            self._send_loop(seq, rgb)
        except UserError as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - the device vanished (unplugged, module removed...)
            what = self._device.device if self._device is not None else "the virtual camera"
            self._fail(f"{what} stopped taking frames ({type(exc).__name__}: {exc}); the app carries on without it")
        finally:
            if self._device is not None:
                try:
                    self._device.close()
                except Exception:  # already gone
                    log.debug("closing the virtual camera failed", exc_info=True)

    def _fail(self, message: str) -> None:
        self._error = message
        log.error("%s", message)  # once: the thread ends here

    def _send_loop(self, seq: int, rgb: np.ndarray) -> None:
        period = 1.0 / self.fps
        w, h = self._size or rgb.shape[1::-1]
        due = time.monotonic()
        while not self._stop.is_set():
            self._device.send(fit_into(rgb, w, h))
            self._sent += 1
            due += period
            now = time.monotonic()
            if now > due + period:  # fell behind (a busy machine): restart the beat, never send a burst
                due = now
            if self._stop.wait(max(0.0, due - now)):
                break
            newer_seq, newer = self._slot.get(seq, timeout=0)
            if newer is None:
                self._repeats += 1
            else:
                seq, rgb = newer_seq, newer
