"""Options and helpers shared by several commands."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from app.errors import UserError
from app.rules import MODEL_CHOICES, PALETTE_DEFAULTS, check_mix_weights

# The command line's names for the settings' fields, in Settings.validate()'s messages.
OPTION_NAMES = {"alpha": "--alpha", "weights": "--mix weights", "size": "--size", "palette": "--palette"}


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine")
    g.add_argument("--model", choices=MODEL_CHOICES, metavar="{auto,full,fast}",
                   help="full: VGG-19, best quality; fast: the distilled student, live speed on a CPU; auto: "
                        "fast on a CPU (when its files are in models/weights), full on CUDA. Default: auto in "
                        "the live window and kiosk, full for files. --student, "
                        "--vgg and --decoder files win over it")
    g.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (auto: CUDA when present)")
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="network precision (auto: fp16 on CUDA, bf16 on CPUs with native bf16, AVX512-BF16 or AMX, "
                        "else fp32)")
    g.add_argument("--vgg", type=Path, metavar="PATH",
                   help="a published vgg_normalised.pth (default: the built-in normalised Keras VGG-19)")
    g.add_argument("--decoder", type=Path, metavar="PATH",
                   help="a decoder file such as the published decoder.pth (default: the project's trained decoder)")
    g.add_argument("--student", type=Path, metavar="PATH",
                   help="the fast student's encoder (python main.py distill) in place of VGG-19; --decoder "
                        "then names its decoder (train --student)")


def add_style_arguments(p: argparse.ArgumentParser, required: bool = False,
                        overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """--style, --mix, --alpha, --preserve-color, --palette, --size. ``overrides`` replaces an option's keyword
    arguments by its dest (the live command's defaults come from the window's memory, for example:
    ``{"alpha": {"default": None, "help": ...}}``)."""
    overrides = overrides or {}

    def add(*flags: str, dest: str, **kwargs: Any) -> None:
        g.add_argument(*flags, **{**kwargs, **overrides.get(dest, {})})

    g = p.add_argument_group("style")
    add("--style", dest="style", action="append", metavar="S", required=required,
        help="style name (see `styles`) or image path; repeat to mix several")
    add("--mix", dest="mix", metavar="W1,W2,...", help="mix weights, one per --style (default: equal)")
    add("--alpha", dest="alpha", type=float, default=1.0, help="content (0) to style (1) strength")
    add("--preserve-color", dest="preserve_color", choices=["none", "luminance", "histogram"], default="none",
        help="keep the content's colours: luminance (after) or histogram (match the style first)")
    defaults = ", ".join(f"{model} {value:g}" for model, value in PALETTE_DEFAULTS.items())
    add("--palette", dest="palette", type=float, metavar="0..1",
        help="how far the picture is pulled to the painting's colours (RGB mean and covariance): 0 keeps the "
             "network's, 1 takes the painting's; not with --preserve-color or a mask "
             f"(default: the model's: {defaults})")
    add("--size", dest="size", type=int, metavar="N",
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


def checked_settings(styles: tuple[str, ...], mix: tuple[float, ...], *, alpha: float, color: str,
                     size: int | None, palette: float | None = None, need_styles: bool = True):
    """The command line's settings as an app.engine.Settings, validated (messages name the options).
    ``styles`` are names here; the engine's style ids replace them once the model has loaded."""
    from app.engine import Settings

    settings = Settings(styles=tuple(styles), weights=tuple(mix), alpha=alpha, color=color, size=size, palette=palette)
    settings.validate(OPTION_NAMES, need_styles=need_styles)
    return settings


def explicit_model_files(args: argparse.Namespace) -> bool:
    """--student, --vgg or --decoder given: those files decide the model, not --model (or the window)."""
    return any(getattr(args, name, None) is not None for name in ("student", "vgg", "decoder"))


def make_stylizer(args: argparse.Namespace, model: str | None = None, live: bool = False):
    """The engine the command line asks for; ``model`` (a remembered or configured choice) stands in
    where --model was not given. Where neither was: 'auto' for live use (speed matters), 'full' for
    files (stylize, eval: quality matters, time does not)."""
    from app.engine import Stylizer

    return Stylizer.create(device=args.device, precision=args.precision, vgg=args.vgg, decoder=args.decoder,
                           student=args.student, model=args.model or model or ("auto" if live else "full"))


def write_json(data: object, dest: str) -> None:
    """``--json PATH``: indented JSON to PATH, or to standard output for '-'."""
    import json
    import sys

    text = json.dumps(data, indent=2) + "\n"
    if dest == "-":
        sys.stdout.write(text)
    else:
        Path(dest).write_text(text)
