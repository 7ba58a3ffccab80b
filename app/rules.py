"""Value rules shared by the command line, the engine, the window and the remote control.

Each rule is stated once here, so a value that the CLI refuses is refused the same way
(and in the same words, with the caller's name for it) when it arrives over OSC.
"""
from __future__ import annotations

import math
from typing import Sequence

from app.errors import UserError


def check_alpha(alpha: float, what: str = "alpha") -> float:
    """Style strength: 0 (content) to 1 (full style); NaN and infinities are refused too."""
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise UserError(f"{what} must be between 0 and 1, got {alpha}")
    return float(alpha)


def check_mix_weights(weights: Sequence[float], what: str = "mix weights") -> tuple[float, ...]:
    """Mix weights: finite, non-negative and not all zero (they are normalised by their sum)."""
    values = tuple(float(w) for w in weights)
    if not values or not all(math.isfinite(w) and w >= 0 for w in values) or sum(values) <= 0:
        raise UserError(f"{what} must be non-negative and not all zero")
    return values


PORT_RANGE = (1, 65535)  # UDP/TCP ports a user may name (0 means "any free port" to the system)


def check_port(port: int, what: str = "port") -> int:
    """A network port to listen on."""
    lo, hi = PORT_RANGE
    if isinstance(port, bool) or not isinstance(port, int) or not lo <= port <= hi:
        raise UserError(f"{what} must be a port number between {lo} and {hi}, got {port}")
    return port
