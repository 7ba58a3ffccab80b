"""The one exception type that reaches the user as a single clear sentence."""
from __future__ import annotations


class UserError(Exception):
    """Bad input or environment the user can fix: printed as one line, exit code 2, no traceback."""

    exit_code = 2


def reason(exc: BaseException, limit: int = 160) -> str:
    """Why ``exc`` happened, in one short line for a UserError sentence (an OSError's strerror,
    else the message's first line, else the exception's type)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:limit]
