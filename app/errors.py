"""The one exception type that reaches the user as a single clear sentence."""
from __future__ import annotations


class UserError(Exception):
    """Bad input or environment the user can fix: printed as one line, exit code 2, no traceback."""

    exit_code = 2
