"""Adaptive quality: the processing size that holds a target frame rate.

The network's cost grows with the area it works at; the display does not have to wait
for it. The governor watches the engine's time per frame and steps the processing size
down a preset when frames take longer than the budget, and up when the next preset is
predicted (by area) to fit with room to spare. Fixed presets, so each size is tuned once
(oneDNN primitives, cuDNN benchmark) and the picture does not "breathe" frame by frame.
"""
from __future__ import annotations

from app.errors import UserError

# The floor: the smallest size whose output still reads as a picture. Chosen by eye on the shipped
# decoder (cutBunny frames and a portrait, 96/128/160/192 px): at 96 px faces and shapes melt into
# the style's texture; at 128 px eyes, mouth and outlines hold. Below it the governor does not go,
# even when the target frame rate is then missed (the window shows the rate achieved).
MIN_SIZE = 128
PRESETS: tuple[int, ...] = (MIN_SIZE, 144, 160, 192, 224, 256, 320, 384, 448, 512, 576, 720, 1080)
AUTO = "auto"  # the size choice that hands the processing size to the governor
DEFAULT_SIZE = AUTO  # the window's and the kiosk's default: the largest preset that holds the target FPS
DEFAULT_TARGET_FPS = 20.0  # fluid enough to feel live; what the small path is measured against
TARGET_FPS_RANGE = (1.0, 240.0)  # what --target-fps accepts
START_SIZE = 160


def check_target_fps(fps: float, what: str = "target fps") -> float:
    lo, hi = TARGET_FPS_RANGE
    if not lo <= fps <= hi:
        raise UserError(f"{what} must be between {lo:g} and {hi:g}, got {fps}")
    return float(fps)


class SizeGovernor:
    """Feed it each frame's engine seconds; it answers the processing size for the next frame."""

    def __init__(self, target_fps: float = DEFAULT_TARGET_FPS, presets: tuple[int, ...] = PRESETS,
                 start: int = START_SIZE, patience: int = 6, smoothing: float = 0.3) -> None:
        if target_fps <= 0:
            raise ValueError(f"target fps must be positive, got {target_fps}")
        self.target_fps = float(target_fps)
        self.presets = tuple(sorted(presets))
        self._i = min(range(len(self.presets)), key=lambda i: abs(self.presets[i] - start))
        self.patience = patience  # frames measured at a size before it may change again
        self.smoothing = smoothing
        self._ema: float | None = None
        self._seen = 0

    @property
    def size(self) -> int:
        return self.presets[self._i]

    @property
    def budget(self) -> float:
        return 1.0 / self.target_fps

    def observe(self, engine_seconds: float, limit: int | None = None) -> int:
        """Record one frame at the current size; ``limit`` caps the size (the frame's short side)."""
        self._seen += 1
        if self._seen > 1:  # the first frame at a new size pays one-off set-up: not representative
            e = self._ema
            self._ema = engine_seconds if e is None else e + self.smoothing * (engine_seconds - e)
        if limit is not None:
            while self._i > 0 and self.presets[self._i] > limit:
                self._move(-1)
        if self._ema is None or self._seen < self.patience:
            return self.size
        if self._ema > self.budget * 1.05 and self._i > 0:
            self._move(-1)
        elif self._i + 1 < len(self.presets) and (limit is None or self.presets[self._i + 1] <= limit):
            grow = (self.presets[self._i + 1] / self.size) ** 2
            if self._ema * grow < self.budget * 0.9:
                self._move(+1)
        return self.size

    def _move(self, step: int) -> None:
        self._i += step
        self._ema = None
        self._seen = 0
