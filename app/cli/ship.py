"""``python main.py ship RUN``: land a training run's decoder (see app.tools.ship)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="training run folder (holds decoder_fp16.pth and config.json)")
    p.add_argument("--holdout-content-dir", type=Path, help="held-out contents (default: the run's)")
    p.add_argument("--holdout-style-dir", type=Path, help="held-out styles (default: the run's)")
    p.add_argument("--no-peer", action="store_true", help="skip the peer's figures even when it is installed")


def run(args: argparse.Namespace) -> int:
    from app.tools.ship import ship

    ship(args.run, args.holdout_content_dir, args.holdout_style_dir, with_peer=not args.no_peer)
    return 0
