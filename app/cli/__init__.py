"""Command-line entry point: ``python main.py [COMMAND] ...``; with no command, the live app."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from app.cli.help_format import DefaultsHelpFormatter
from app.errors import UserError

# command name -> (module under app.cli, one-line help). Modules load lazily: `--help` stays instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "live": ("live", "the live stylizer window (the default command)"),
    "stylize": ("stylize", "stylize images, folders of images, or video files"),
    "styles": ("styles", "list the built-in and user styles"),
    "weights": ("weights", "download or check network weights"),
    "train": ("train", "train an AdaIN decoder on folders of content and style images"),
    "distill": ("distill", "distil the fast student's encoder from VGG-19 (the first half of training it)"),
    "ship": ("ship", "land a training run's decoder: shipped when it measures better, else the resume point"),
    "bench": ("bench", "measure speed of each inference path on this machine"),
    "eval-temporal": ("eval_temporal", "measure flicker (temporal warping error) on a video"),
    "eval-quality": ("eval_quality", "measure style and content loss on image pairs, optionally against the peer"),
}
DEFAULT_COMMAND = "live"

DESCRIPTION = """\
Real-time neural style transfer (AdaIN, Huang & Belongie 2017): repaints a webcam,
video or image in the style of any painting.

With no command, opens the live window on the default camera (or a demo when there
is no camera). Examples:
  python main.py --source ../shared/media/video/cutBunny.mp4
  python main.py stylize photo.jpg --style great_wave -o out.jpg
  python main.py styles
Run `python main.py COMMAND --help` for each command's options."""


def _load(name: str):
    import importlib

    return importlib.import_module(f"app.cli.{COMMANDS[name][0]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand ``only`` gets its options (the others stay unimported)."""
    parser = argparse.ArgumentParser(prog="main.py", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        if name != only:
            sub.add_parser(name, help=help_text)
            continue
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                           formatter_class=DefaultsHelpFormatter)
        _load(name).add_arguments(p)
    return parser


def _route(argv: list[str]) -> list[str]:
    """No command, or options only: the live app."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        return [DEFAULT_COMMAND, *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _route(list(sys.argv[1:] if argv is None else argv))
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    runner: Callable[[argparse.Namespace], int] = _load(args.command).run
    try:
        return int(runner(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
