"""Every command's --help: defaults printed once, only where they mean something, and true."""
from __future__ import annotations

import re

import pytest

from app.cli import COMMANDS, main
from app.live.temporal import DEFAULT_STRENGTH


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare as one line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_never_prints_an_empty_or_doubled_default(capsys, command):
    text = help_text(capsys, command)
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    assert not re.search(r"\(default: [^()]*\) \(default:", text)  # was "(default: equal) (default: None)"


def test_help_of_weights_download_still_shows_its_real_default(capsys):
    assert "(default: https://" in help_text(capsys, "weights", "download")


def test_stylize_help_shows_the_defaults_that_matter(capsys):
    text = help_text(capsys, "stylize")
    assert f"(default: {DEFAULT_STRENGTH:g})" in text
    assert "(default: 1.0)" in text  # --alpha
    assert "(default: equal)" in text  # --mix, in its own words, once


def test_live_help_states_the_real_stabiliser_default(capsys):
    text = help_text(capsys, "live")
    assert f"(default: last used, else {DEFAULT_STRENGTH:g})" in text
