"""``python main.py distill``: distil the fast student's encoder from VGG-19 (see app.tools.distill)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.paths import cache_dir

    p.add_argument("--content-dir", required=True, type=Path, help="folder of content photos")
    p.add_argument("--style-dir", required=True, type=Path,
                   help="folder of style images (the student encodes them too)")
    p.add_argument("--out", type=Path, default=cache_dir() / "train" / "student",
                   help="run folder for checkpoints, logs and the exported student_fp16.pth")
    p.add_argument("--resume", type=Path, metavar="CKPT",
                   help="a student_checkpoint.pt to continue exactly, or a student_fp16.pth to warm-start from "
                        "(its step count kept; a fresh optimizer, and maps fitted to it by least squares)")
    p.add_argument("--iterations", type=int, default=4_000, help="total distillation steps")
    p.add_argument("--size", type=int, default=128, help="crop size")
    p.add_argument("--batch", type=int, default=8, help="crops per step, half photos half paintings")
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (decays to 1e-4)")
    p.add_argument("--width", type=float, default=0.25, help="the student's share of VGG's channels")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints (and exports)")
    p.add_argument("--holdout-content-dir", type=Path, help="held-out photos: their distillation loss is logged")
    p.add_argument("--holdout-style-dir", type=Path, help="held-out paintings, likewise")
    p.add_argument("--device", default="auto",
                   help="cpu or cuda[:N] (auto: CUDA when present); on CUDA bf16 autocast, channels_last, "
                        "cuDNN autotuning, batches cropped on the GPU")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="bf16 autocast or fp32; auto: bf16 on CUDA and where the CPU has native bf16, else fp32")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much wall time, through the final checkpoint and export (exit 0)")
    p.add_argument("--seed", type=int, default=0)


def config(args: argparse.Namespace):
    """The checked DistillConfig for parsed arguments (also used by scripts/gpu_burst.py)."""
    from app.device import cpu_supports_bf16, select_device
    from app.errors import UserError
    from app.tools.distill import DistillConfig

    if args.iterations <= 0 or args.batch < 2 or args.size < 16:
        raise UserError("--iterations must be positive, --batch at least 2 and --size at least 16")
    if not 0.0 < args.width <= 1.0:
        raise UserError(f"--width must be in (0, 1], got {args.width}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError(f"--max-minutes must be positive, got {args.max_minutes}")
    device = select_device(args.device)
    native_bf16 = device.type == "cuda" or cpu_supports_bf16()
    bf16 = native_bf16 if args.precision == "auto" else args.precision == "bf16"
    return DistillConfig(
        content_dir=str(args.content_dir), style_dir=str(args.style_dir), out_dir=str(args.out),
        iterations=args.iterations, size=args.size, batch=args.batch, lr=args.lr, width=args.width,
        checkpoint_minutes=args.checkpoint_minutes, seed=args.seed, bf16=bf16, device=str(device),
        holdout_content_dir=str(args.holdout_content_dir) if args.holdout_content_dir else None,
        holdout_style_dir=str(args.holdout_style_dir) if args.holdout_style_dir else None)


def run(args: argparse.Namespace) -> int:
    from app.tools.distill import EXPORT, run as distill

    distiller = distill(config(args), resume=args.resume, max_minutes=args.max_minutes)
    print(f"stopped at step {distiller.step_count}; student encoder: {args.out / EXPORT}")
    return 0
