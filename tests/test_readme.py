"""Every ``python main.py ...`` command line in the README parses with the real argument parser,
and every built-in style it names exists; the cheap ones (``stylize``, ``styles``) run as written
on tiny files of the names they use, with the shipped decoder and ``--size 64`` added."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app.cli.live as live_cli
from app.cli import COMMANDS, _route, build_parser, main
from app.display import QT_XCB_LIBRARIES
from app.styles import StyleLibrary
from app.video_io import VideoWriter, probe_frames
from conftest import CONTENT_DIR, MASK, REPO, load_rgb

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


RUNNABLE = [c for c in COMMAND_LINES if c.startswith(("python main.py stylize ", "python main.py styles"))]
CLIP_FRAMES = 4


@pytest.fixture
def readme_files(tmp_path: Path, media: Path, primed_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README examples' own file names, tiny, in the working directory: photo.jpg, photos/,
    clip.mp4 and mask.png."""
    photo = load_rgb(CONTENT_DIR / "lenna.jpg", (64, 48))
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    (tmp_path / "photos").mkdir()
    Image.fromarray(photo[:, ::-1]).save(tmp_path / "photos" / "mirrored.jpg")
    with VideoWriter(tmp_path / "clip.mp4", 24, 64, 48) as w:
        for i in range(CLIP_FRAMES):
            w.write(np.roll(photo, 4 * i, axis=1))
    Image.open(MASK).resize((64, 48)).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_has_runnable_lines():
    assert len(RUNNABLE) >= 5 and "python main.py styles" in RUNNABLE


@pytest.mark.parametrize("line", RUNNABLE)
def test_a_readme_stylize_or_styles_line_runs_as_written_on_tiny_files(line, readme_files, capsys):
    argv = shlex.split(line)[2:]
    code = main(argv + (["--size", "64", "--quiet"] if argv[0] == "stylize" else []))
    out, err = capsys.readouterr()
    assert code == 0, err
    if argv[0] == "styles":
        named = {w[i + 1] for w in map(shlex.split, COMMAND_LINES) for i, x in enumerate(w) if x == "--style"}
        assert named and all(name in out for name in named if "/" not in name)
        return
    target = readme_files / argv[argv.index("-o") + 1]
    if target.suffix:
        with Image.open(target) as im:
            assert im.size == (64, 48)
        return
    assert sorted(p.name for p in target.iterdir()) == ["clip.mp4", "mirrored.jpg"]
    assert probe_frames(target / "clip.mp4") == (CLIP_FRAMES, 64, 48)
