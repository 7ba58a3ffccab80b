"""``python main.py weights``: fetch the published pytorch-AdaIN weights, or check a file."""
from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.help_format import DefaultsHelpFormatter


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.weights import PUBLISHED_BASE_URL

    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    d = sub.add_parser("download", help="download vgg_normalised.pth and decoder.pth (pytorch-AdaIN v0.0.0)",
                       formatter_class=DefaultsHelpFormatter)
    d.add_argument("--base-url", default=PUBLISHED_BASE_URL, help="where the two files are served")
    c = sub.add_parser("check", help="check that weight files load (every key and shape)")
    c.add_argument("--vgg", type=Path, help="an encoder file in the published vgg_normalised.pth layout")
    c.add_argument("--decoder", type=Path, help="a decoder file (published layout or this project's)")
    sub.add_parser("where", help="print where weights and caches are kept")


def run(args: argparse.Namespace) -> int:
    from app import weights
    from app.errors import UserError

    if args.action == "download":
        paths = weights.download_published(args.base_url)
        for path in paths:
            print(path)
        vgg, dec = paths
        print(f"use them with: python main.py --vgg {vgg} --decoder {dec}")
        return 0
    if args.action == "check":
        if not args.vgg and not args.decoder:
            raise UserError("give --vgg PATH and/or --decoder PATH to check")
        if args.vgg:
            weights.load_published_vgg(args.vgg)
            print(f"{args.vgg}: a valid VGG encoder")
        if args.decoder:
            _, meta = weights.load_decoder(args.decoder)
            print(f"{args.decoder}: a valid decoder (width {meta.get('width', 1.0)})")
        return 0
    print(f"shipped decoder:   {weights.DEFAULT_DECODER}")
    print(f"published weights: {weights.published_dir()}")
    return 0
