"""``python main.py styles``: list the styles the other commands accept by name."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--paths", action="store_true", help="also print each style's file path")


def run(args: argparse.Namespace) -> int:
    from app.styles import StyleLibrary

    library = StyleLibrary()
    styles = library.all()
    if not styles:
        print("no styles found")
        return 0
    width = max(len(s.name) for s in styles)
    for s in styles:
        kind = "built-in" if s.builtin else "user"
        line = f"{s.name:<{width}}  {kind:<8}  {s.caption}"
        print(line + (f"  [{s.path}]" if args.paths else ""))
    print(f"\nuser styles folder: {library.user_dir}")
    return 0
