"""``python main.py eval-temporal VIDEO --style S``: how much does stylized video flicker?

Stylizes the video frame by frame, then reports the temporal warping error of the
per-frame output and of the stabilised output (and the content video's own error as the
floor), the style loss of both (mean/std distance at relu1_1..relu4_1 to the style), and
the stabiliser's added time per frame.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.cli.common import add_engine_arguments, write_json
from app.live.temporal import DEFAULT_STRENGTH


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="a video file")
    p.add_argument("--style", action="append", required=True, metavar="S",
                   help="style name or image path; repeat to evaluate several (results are averaged)")
    p.add_argument("--stabilize", type=float, default=DEFAULT_STRENGTH, metavar="0..1",
                   help="stabiliser strength to evaluate")
    p.add_argument("--size", type=int, default=256, help="processing short side in pixels")
    p.add_argument("--frames", type=int, default=120, help="evaluate at most this many frames (0: all)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    add_engine_arguments(p)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from app.cli.common import make_stylizer
    from app.engine import Settings
    from app.errors import UserError
    from app.rules import check_alpha
    from app.styles import StyleLibrary
    from app.live.temporal import TemporalStabilizer, WarpingError
    from app.video_io import VideoReader
    from models.losses import style_loss

    check_alpha(args.stabilize, "--stabilize")  # a strength, in alpha's range
    library = StyleLibrary()
    styles = [library.resolve(s) for s in args.style]
    with VideoReader(args.video) as reader:
        frames = []
        for frame in reader:
            frames.append(frame)
            if args.frames and len(frames) >= args.frames:
                break
    if len(frames) < 2:
        raise UserError(f"{args.video}: needs at least two frames to measure flicker")
    stylizer = make_stylizer(args)

    def taps(rgb: np.ndarray) -> list[torch.Tensor]:
        prepared = stylizer.preprocess(rgb, Settings(styles=("-",), size=args.size))
        with torch.inference_mode():
            return stylizer.encoder.taps(prepared.padded)

    floor = WarpingError()
    for f in frames:
        floor.update(f, f)
    results = []
    for style in styles:
        sid = stylizer.add_style(style.load())
        settings = Settings(styles=(sid,), size=args.size)
        t0 = time.perf_counter()
        plain = [stylizer.stylize(f, settings) for f in frames]
        t_stylize = (time.perf_counter() - t0) / len(frames)
        stabilizer = TemporalStabilizer(args.stabilize)  # both stages: it runs the model itself
        t0 = time.perf_counter()
        steady = [stabilizer.stylize(stylizer, f, settings) for f in frames]
        t_stab = max(0.0, (time.perf_counter() - t0) / len(frames) - t_stylize)  # what it adds per frame
        err_plain, err_steady = WarpingError(), WarpingError()
        for f, a, b in zip(frames, plain, steady):
            err_plain.update(f, a)
            err_steady.update(f, b)
        style_taps = taps(style.load())
        sample = range(0, len(frames), max(1, len(frames) // 12))
        with torch.inference_mode():
            loss_plain = float(np.mean([float(style_loss(taps(plain[i]), style_taps)) for i in sample]))
            loss_steady = float(np.mean([float(style_loss(taps(steady[i]), style_taps)) for i in sample]))
        results.append({
            "style": style.name, "warping_error": err_plain.value, "warping_error_stabilized": err_steady.value,
            "style_loss": loss_plain, "style_loss_stabilized": loss_steady,
            "stylize_ms": t_stylize * 1000, "stabilize_ms": t_stab * 1000,
        })
        print(f"{style.name:<32} warp err {err_plain.value:.5f} -> {err_steady.value:.5f} "
              f"({100 * (1 - err_steady.value / max(err_plain.value, 1e-12)):.0f}% lower), style loss "
              f"{loss_plain:.3f} -> {loss_steady:.3f}, +{t_stab * 1000:.1f} ms/frame on {t_stylize * 1000:.0f}")
    mean = lambda key: float(np.mean([r[key] for r in results]))  # noqa: E731
    summary = {
        "video": str(args.video), "frames": len(frames), "size": args.size, "strength": args.stabilize,
        "content_floor": floor.value,
        "warping_error": mean("warping_error"), "warping_error_stabilized": mean("warping_error_stabilized"),
        "style_loss": mean("style_loss"), "style_loss_stabilized": mean("style_loss_stabilized"),
        "stylize_ms": mean("stylize_ms"), "stabilize_ms": mean("stabilize_ms"), "styles": results,
    }
    print(f"content floor {floor.value:.5f}; mean warping error {summary['warping_error']:.5f} -> "
          f"{summary['warping_error_stabilized']:.5f}; style loss {summary['style_loss']:.3f} -> "
          f"{summary['style_loss_stabilized']:.3f}; stabiliser +{summary['stabilize_ms']:.1f} ms/frame")
    if args.json:
        write_json(summary, args.json)
    return 0
