"""``python main.py stylize``: stylize images, folders and videos without a window."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import add_engine_arguments, add_style_arguments, checked_settings, make_stylizer, parse_mix
from app.live.temporal import DEFAULT_STRENGTH


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="images, folders of images, or videos (mp4/avi/mkv/mov)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file (one input) or folder (several inputs, or a folder)")
    add_style_arguments(p, required=True)
    p.add_argument("--mask", type=Path, metavar="M",
                   help="grayscale mask: white gets the first style, black the second (or stays unstylized)")
    add_engine_arguments(p)
    p.add_argument("--stabilize", type=float, default=DEFAULT_STRENGTH, metavar="0..1",
                   help="videos: temporal stabilisation strength against flicker (0: per-frame output)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import numpy as np

    from app.errors import UserError
    from app.images import load_image
    from app.rules import check_alpha
    from app.tools.offline import check_inputs, collect_inputs, plan_jobs, stylize_image, stylize_video
    from app.styles import StyleLibrary

    # Everything is validated before the (slow) model load and before any output exists.
    check_alpha(args.stabilize, "--stabilize")  # a strength, in alpha's range
    mix = parse_mix(args.mix, len(args.style))
    settings = checked_settings(tuple(args.style), mix, alpha=args.alpha, color=args.preserve_color, size=args.size,
                                palette=args.palette)
    library = StyleLibrary()
    styles = [library.resolve(s) for s in args.style]
    style_images = [s.load() for s in styles]
    mask = None
    if args.mask is not None:
        if mix:
            raise UserError("--mask and --mix cannot be combined: the mask already says where each style goes")
        if len(styles) > 2:
            raise UserError("--mask takes one --style (inside) or two (inside, outside)")
        mask = load_image(args.mask).astype(np.float32).mean(axis=2) / 255.0
    files = collect_inputs(args.inputs)
    check_inputs(files)
    jobs = plan_jobs(files, args.output)

    stylizer = make_stylizer(args)
    ids = tuple(stylizer.add_style(img) for img in style_images)
    settings = replace(settings, styles=ids, mask=mask)
    settings.validate()
    show = not args.quiet and sys.stderr.isatty()
    for job in _progress(jobs, show):
        if job.is_video:
            n = stylize_video(stylizer, job, settings, progress=not args.quiet, stabilize=args.stabilize)
            print(f"{job.target}  ({n} frames)")
        else:
            stylize_image(stylizer, job, settings)
            print(job.target)
    return 0


def _progress(jobs, show: bool):
    if len(jobs) < 2 or not show:
        return jobs
    from tqdm import tqdm

    return tqdm(jobs, unit="file", file=sys.stderr)
