"""Every ``python main.py ...`` command line in the README parses with the real argument parser,
and every built-in style it names exists: the examples run as written."""
from __future__ import annotations

import re
import shlex

import pytest

import app.cli.live as live_cli
from app.cli import COMMANDS, _route, build_parser
from app.display import QT_XCB_LIBRARIES
from app.styles import StyleLibrary
from conftest import REPO

README = (REPO / "README.md").read_text()


def readme_commands() -> list[str]:
    """The README's ``python main.py`` lines (code blocks and inline code), continuations joined,
    comments cut; lines with placeholders ("...", "[--option]", COMMAND) are left out."""
    text = README.replace("\\\n", " ")
    found = []
    for match in re.finditer(r"(?:^ {4,}|`)(python main\.py[^`\n]*)", text, re.MULTILINE):
        line = match.group(1).split("  #")[0].strip()
        if " ... " not in f"{line} " and "[" not in line and "COMMAND" not in line:  # placeholders
            found.append(line)
    return found


COMMAND_LINES = readme_commands()


def test_the_readme_has_the_command_lines_this_test_checks():
    assert len(COMMAND_LINES) >= 15
    assert any(c.startswith("python main.py stylize") for c in COMMAND_LINES)


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_a_readme_command_line_parses(line):
    argv = _route(shlex.split(line)[2:])
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only=command).parse_args(argv)  # SystemExit(2) on a wrong option
    if args.command == "live":
        live_cli.options(args)  # its own checks, made before any model loads (ranges, kiosk-only options)


@pytest.mark.parametrize("line", [c for c in COMMAND_LINES if "--style" in c])
def test_every_style_name_in_the_readme_is_a_built_in_style_or_a_path(line):
    library = StyleLibrary()
    words = shlex.split(line)
    for name in (words[i + 1] for i, w in enumerate(words) if w == "--style"):
        if "/" not in name:
            assert library.resolve(name).builtin, f"{line}: --style {name} is not a built-in style"


def test_the_readme_apt_line_installs_every_package_the_window_checks_for():
    line = next(x for x in README.splitlines() if "apt-get install" in x and "libxcb" in x)
    assert set(line.split("install", 1)[1].split()) == set(QT_XCB_LIBRARIES.values())
