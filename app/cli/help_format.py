"""The one help formatter of every command: an option's default is shown only when it says something."""
from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help, but not for flags, for options with no default
    (None: "not given"), nor where the help already states its default in its own words.

    argparse's ArgumentDefaultsHelpFormatter appends it everywhere, which printed "(default: None)"
    on most options and doubled the ones that explain their default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "(default:" in text:
            return text
        if action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text
