"""Value rules shared by the command line, the engine, the window and the remote control.

Each rule is stated once here, so a value that the CLI refuses is refused the same way
(and in the same words, with the caller's name for it) when it arrives over OSC.
"""
from __future__ import annotations

import math
from typing import Sequence

from app.errors import UserError


COLOR_MODES: tuple[str, ...] = ("none", "luminance", "histogram")  # --preserve-color: keep the content's colours
ALPHA_RANGE = (0.0, 1.0)  # style strength: 0 (content) to 1 (full style)
PROCESSING_SIZE_RANGE = (32, 4096)  # processing short side in pixels
MODELS: tuple[str, ...] = ("full", "fast")  # full: VGG-19, best quality; fast: the distilled student, live on a CPU
MODEL_CHOICES: tuple[str, ...] = ("auto", *MODELS)  # auto: app.engine.pick_model's rule
# How far each model's picture is pulled to the painting's RGB palette unless told (Settings.palette):
# the lowest content + 10 x style on 5 x 5 training pairs at 320 px (models/MODEL_CARD.md).
PALETTE_DEFAULTS: dict[str, float] = {"full": 0.25, "fast": 0.5}


def is_alpha(value: object) -> bool:
    lo, hi = ALPHA_RANGE
    return isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi


def check_alpha(alpha: float, what: str = "alpha") -> float:
    """Style strength: 0 (content) to 1 (full style); NaN and infinities are refused too."""
    if not is_alpha(alpha):
        lo, hi = ALPHA_RANGE
        raise UserError(f"{what} must be between {lo:g} and {hi:g}, got {alpha}")
    return float(alpha)


def is_mix_weights(weights: object) -> bool:
    """Finite, non-negative and not all zero (they are normalised by their sum)."""
    try:
        values = tuple(float(w) for w in weights)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return False
    return bool(values) and all(math.isfinite(w) and w >= 0 for w in values) and sum(values) > 0


def check_mix_weights(weights: Sequence[float], what: str = "mix weights") -> tuple[float, ...]:
    """Mix weights: finite, non-negative and not all zero (they are normalised by their sum)."""
    if not is_mix_weights(weights):
        raise UserError(f"{what} must be non-negative and not all zero")
    return tuple(float(w) for w in weights)


def is_processing_size(value: object) -> bool:
    lo, hi = PROCESSING_SIZE_RANGE
    return isinstance(value, (int, float)) and lo <= value <= hi


def check_processing_size(size: int, what: str = "processing size") -> int:
    """The processing short side, in pixels."""
    if not is_processing_size(size):
        lo, hi = PROCESSING_SIZE_RANGE
        raise UserError(f"{what} must be between {lo} and {hi} pixels, got {size}")
    return size


PORT_RANGE = (1, 65535)  # UDP/TCP ports a user may name (0 means "any free port" to the system)


def check_port(port: int, what: str = "port") -> int:
    """A network port to listen on."""
    lo, hi = PORT_RANGE
    if isinstance(port, bool) or not isinstance(port, int) or not lo <= port <= hi:
        raise UserError(f"{what} must be a port number between {lo} and {hi}, got {port}")
    return port
