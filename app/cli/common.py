"""Options and helpers shared by several commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from app import rules
from app.errors import UserError
from app.rules import check_mix_weights


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine")
    g.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (auto: CUDA when present)")
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="network precision (auto: fp16 on CUDA, bf16 on CPUs with native bf16, AVX512-BF16 or AMX, else fp32)")
    g.add_argument("--vgg", type=Path, metavar="PATH",
                   help="a published vgg_normalised.pth (default: the built-in normalised Keras VGG-19)")
    g.add_argument("--decoder", type=Path, metavar="PATH",
                   help="a decoder file such as the published decoder.pth (default: the project's trained decoder)")


def add_style_arguments(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("style")
    g.add_argument("--style", action="append", metavar="S", required=required,
                   help="style name (see `styles`) or image path; repeat to mix several")
    g.add_argument("--mix", metavar="W1,W2,...", help="mix weights, one per --style (default: equal)")
    g.add_argument("--alpha", type=float, default=1.0, help="content (0) to style (1) strength")
    g.add_argument("--preserve-color", choices=["none", "luminance", "histogram"], default="none",
                   help="keep the content's colours: luminance (after) or histogram (match the style first)")
    g.add_argument("--size", type=int, metavar="N",
                   help="processing short side in pixels (default: the input's own size)")


def parse_mix(text: str | None, n_styles: int) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"--mix {text!r}: expected comma-separated numbers such as 0.7,0.3") from None
    if len(values) != n_styles:
        raise UserError(f"--mix has {len(values)} weights but {n_styles} --style given")
    return check_mix_weights(values, "--mix weights")


def check_alpha(alpha: float) -> float:
    return rules.check_alpha(alpha, "--alpha")


def make_stylizer(args: argparse.Namespace):
    from app.engine import Stylizer  # noqa: PLC0415

    return Stylizer.create(device=args.device, precision=args.precision, vgg=args.vgg, decoder=args.decoder)


def write_json(data: object, dest: str) -> None:
    """``--json PATH``: indented JSON to PATH, or to standard output for '-'."""
    import json  # noqa: PLC0415
    import sys  # noqa: PLC0415

    text = json.dumps(data, indent=2) + "\n"
    if dest == "-":
        sys.stdout.write(text)
    else:
        Path(dest).write_text(text)
