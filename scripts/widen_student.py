#!/usr/bin/env python3
"""Give the fast student's relu4_1 more channels, keeping the pictures it paints.

    python -m scripts.widen_student --channels 256 --out DIR [--student S] [--decoder D]

Writes ``DIR/student_fp16.pth`` and ``DIR/student_decoder_fp16.pth``: the pair (default: the
shipped one) with ``--channels`` at relu4_1 (``models.student.widen_deepest``: new random filters
read through zero weights), checked to paint the same picture, and the decoder naming its new
encoder. Continue it with ``train --student DIR/student_fp16.pth --resume DIR/student_decoder_fp16.pth
--tune-student 1 ...``: tuning teaches the new channels what to carry, end to end.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from app import weights
from app.errors import UserError
from app.tools.train import EXPORT, STUDENT_EXPORT
from models.adain import adain, calc_mean_std
from models.decoder import SkipDecoder
from models.student import widen_deepest


def widen(student_file: Path, decoder_file: Path, channels: int, out: Path, seed: int = 0) -> float:
    """Write the widened pair into ``out``; returns the largest pixel change it makes (0..1 scale)."""
    student, student_meta = weights.load_student(student_file)
    decoder, decoder_meta = weights.load_decoder(decoder_file)
    if isinstance(decoder, SkipDecoder):
        raise UserError(f"{decoder_file}: a skip decoder; widening handles plain decoders")
    narrow_id = weights.student_id(student_file)
    if decoder_meta.get("student") != narrow_id:
        raise UserError(f"{decoder_file}: trained against student {decoder_meta.get('student')}, not {student_file}")
    try:
        wide_student, wide_decoder = widen_deepest(student, decoder, channels, torch.Generator().manual_seed(seed))
    except ValueError as exc:
        raise UserError(f"--channels {channels}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    weights.save_student(wide_student, out / STUDENT_EXPORT, **{**student_meta, "widened_from": narrow_id})
    meta = {k: v for k, v in decoder_meta.items() if k not in ("format", "source")}
    weights.save_decoder(wide_decoder, out / EXPORT,
                         **{**meta, "in_channels": channels, "student": weights.student_id(out / STUDENT_EXPORT)})
    # the files as the engine loads them (fp16 weights) paint what the narrow pair painted
    gen = torch.Generator().manual_seed(seed + 1)
    content, style = torch.rand(1, 3, 64, 64, generator=gen), torch.rand(1, 3, 64, 64, generator=gen)
    before = _paint(student, decoder, content, style)
    after = _paint(weights.load_student(out / STUDENT_EXPORT)[0], weights.load_decoder(out / EXPORT)[0], content, style)
    return float((before - after).abs().max())


@torch.no_grad()
def _paint(student: torch.nn.Module, decoder: torch.nn.Module, content: torch.Tensor,
           style: torch.Tensor) -> torch.Tensor:
    return decoder(adain(student(content), calc_mean_std(student(style)))).clamp(0, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--channels", type=int, required=True, help="relu4_1 channels of the widened student")
    p.add_argument("--out", type=Path, required=True, help="folder for the widened pair")
    p.add_argument("--student", type=Path, default=weights.DEFAULT_STUDENT, help="the student encoder file")
    p.add_argument("--decoder", type=Path, default=weights.DEFAULT_STUDENT_DECODER, help="its decoder file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        change = widen(args.student, args.decoder, args.channels, args.out, args.seed)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out / STUDENT_EXPORT} and {args.out / EXPORT}: relu4_1 {args.channels} channels; "
          f"largest pixel change {change:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
