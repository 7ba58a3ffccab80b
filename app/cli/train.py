"""``python main.py train``: train a decoder (see app.tools.train)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.paths import cache_dir

    p.add_argument("--content-dir", required=True, type=Path, help="folder of content photos")
    p.add_argument("--style-dir", required=True, type=Path, help="folder of style images")
    p.add_argument("--out", type=Path,
                   default=cache_dir() / "train" / "decoder", help="run folder for checkpoints, samples and logs")
    p.add_argument("--resume", type=Path, metavar="CKPT",
                   help="a checkpoint.pt to continue exactly, or a decoder_fp16.pth to warm-start from")
    p.add_argument("--iterations", type=int, default=40_000, help="total training steps")
    p.add_argument("--size", type=int, default=128, choices=[128, 192, 256], help="crop size")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4, help="initial learning rate (decays to --lr-min)")
    p.add_argument("--lr-min", type=float, default=1e-4)
    p.add_argument("--style-weight", type=float, default=10.0, help="lambda, the style loss weight")
    p.add_argument("--warmup", type=int, default=300, help="first steps as a plain autoencoder")
    p.add_argument("--ema-decay", type=float, default=0.998,
                   help="evaluate and export a running average of the weights (0: the raw weights)")
    p.add_argument("--warm-start-ramp", type=int, default=200, metavar="STEPS",
                   help="after a warm start from a decoder file (a fresh optimizer), ramp the learning rate "
                        "up over this many steps; the weight average starts from the file at full decay")
    p.add_argument("--decoder-width", type=float, default=None,
                   help="channel width factor (slim decoders < 1; default: 1, or the student's width)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints (and exports)")
    p.add_argument("--holdout-content-dir", type=Path, help="held-out contents for evaluation and sample sheets")
    p.add_argument("--holdout-style-dir", type=Path, help="held-out styles for evaluation and sample sheets")
    p.add_argument("--device", default="auto",
                   help="cpu or cuda[:N] (auto: CUDA when present); on CUDA bf16 autocast, channels_last, "
                        "cuDNN autotuning, batches cropped on the GPU")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="bf16 autocast (statistics in fp32) or fp32; auto: bf16 on CUDA and where the CPU has "
                        "native bf16 (AVX512-BF16/AMX), else fp32, which is then several times faster")
    p.add_argument("--no-bf16", action="store_true", help="the same as --precision fp32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much wall time, through the final checkpoint, export, held-out "
                        "evaluation and sample sheet (exit 0)")
    p.add_argument("--ship", action="store_true",
                   help="at the end, measure the averaged decoder against the shipped one and land it "
                        "(see the `ship` command)")
    p.add_argument("--recon-until", type=int, default=0, metavar="STEP",
                   help="every batch before this step is a reconstruction (image in = image out, "
                        "pixel + feature loss at every tap): teaches the decoder to invert the encoder fast")
    p.add_argument("--recon-every", type=int, default=0, metavar="K",
                   help="after --recon-until, every K-th batch is a reconstruction (0: none)")
    p.add_argument("--style-bank", type=int, default=8, metavar="N",
                   help="precompute each style image's feature statistics for N random crops and sample "
                        "them, saving an encoder pass per step (0: encode every style batch)")
    p.add_argument("--content-bank", type=int, default=0, metavar="N",
                   help="precompute each content image's relu4_1 for N random crops and sample them on "
                        "AdaIN batches, saving the content encoder pass (16 per image: ~2.5 GB of memory "
                        "for 600 images at 128 px; 0: encode every content batch)")
    p.add_argument("--student", type=Path, metavar="FILE",
                   help="train the fast student's decoder: AdaIN in this distilled encoder's relu4_1 "
                        "(`python main.py distill` makes it), VGG-19 still measuring the losses; the "
                        "decoder width follows the student's unless --decoder-width is given")
    p.add_argument("--teacher-content", action="store_true",
                   help="with --student: measure the content loss in VGG-19's relu4_1 against the full model's "
                        "AdaIN target (what eval-quality measures) instead of in the student's own relu4_1")
    p.add_argument("--teacher-output", type=float, default=0.0, metavar="WEIGHT",
                   help="with --student: also train its decoder to paint the full model's picture of each pair "
                        "(pixels and VGG-19's features, weighted so; implies --teacher-content)")
    p.add_argument("--teacher-decoder", type=Path, metavar="FILE",
                   help="the full decoder --teacher-output imitates (default: the shipped one)")
    p.add_argument("--skips", action="store_true",
                   help="a skip decoder: the content's relu3_1 and relu2_1 (instance-normalised) added back "
                        "inside the decoder through 1x1 convs (~0.15 GFLOP at 320x427 for the student), so it "
                        "redraws the photo from more than relu4_1; started from a plain decoder file "
                        "(--resume FILE.pth), the skips start at zero; resuming a skip decoder implies it")
    p.add_argument("--skip-modulation", action="store_true",
                   help="with the skips: scale and shift each skip's channels by a learned map of the style's "
                        "relu4_1 mean and std (read off the AdaIN target), so how much of the photo's "
                        "structure shows can follow the painting; implies --skips; started from a skip decoder "
                        "file, the map starts at zero; resuming a modulated decoder implies it")
    p.add_argument("--palette-pull", type=float, nargs="?", const=None, default=0.0, metavar="K",
                   help="measure every loss on the picture pulled K (0..1) of the way to the painting's RGB "
                        "palette, as the engine shows it (bare flag: the engine's default for the model trained, "
                        "fast 0.5, full 0.25), so the decoder learns what the pull leaves undone; 0: off")
    p.add_argument("--tune-student", type=float, nargs="?", const=0.1, default=0.0, metavar="FACTOR",
                   help="with --student: train the student encoder too, end to end with its decoder on the "
                        "objective VGG-19 measures, at FACTOR x the learning rate (bare flag: 0.1; implies "
                        "--teacher-content; needs --style-bank 0 and --content-bank 0, as its features move). "
                        "The run folder then holds the pair: student_fp16.pth beside decoder_fp16.pth; "
                        "a warm start takes --student RUN/student_fp16.pth --resume RUN/decoder_fp16.pth")
    p.add_argument("--recon-weight", type=float, default=1.0,
                   help="scale of the reconstruction loss against the AdaIN objective's")
    p.add_argument("--style-augment", type=float, nargs="?", const=0.5, default=0.0, metavar="STRENGTH",
                   help="augment the style crops (AdaIN batches and the style bank; never contents, held-out "
                        "images or evaluation) at a strength in [0, 1] (bare flag: 0.5): new palettes (hue, "
                        "saturation, contrast), finer and coarser strokes (a wider zoom range) and texture "
                        "(blur, sharpening, grain), so the decoder sees more kinds of style than the paintings "
                        "hold. Off by default: at 0.5 it scored worse on the held-out styles than the same run "
                        "without it (model card), and a run resumed with its old command line keeps its data "
                        "and style bank")


def config(args: argparse.Namespace):
    """The checked TrainConfig for parsed arguments (also used by scripts/gpu_burst.py)."""
    from app.device import cpu_supports_bf16, select_device
    from app.errors import UserError
    from app.rules import PALETTE_DEFAULTS
    from app.tools.train import TrainConfig, skip_kind

    if args.iterations <= 0 or args.batch <= 0:
        raise UserError("--iterations and --batch must be positive")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError(f"--max-minutes must be positive, got {args.max_minutes}")
    if args.style_bank < 0 or args.content_bank < 0:
        raise UserError(f"--style-bank and --content-bank must be >= 0, got {args.style_bank}, {args.content_bank}")
    if args.recon_until < 0 or args.recon_every < 0 or args.recon_weight <= 0:
        raise UserError("--recon-until and --recon-every must be >= 0 and --recon-weight positive")
    if args.warm_start_ramp < 0:
        raise UserError(f"--warm-start-ramp must be >= 0, got {args.warm_start_ramp}")
    if (args.teacher_content or args.teacher_output or args.teacher_decoder) and not args.student:
        raise UserError("--teacher-content, --teacher-output and --teacher-decoder are for a student's decoder: "
                        "give --student FILE too")
    if args.tune_student and not args.student:
        raise UserError("--tune-student trains a student encoder: give --student FILE too")
    if args.tune_student < 0:
        raise UserError(f"--tune-student must be >= 0, got {args.tune_student}")
    if args.tune_student and (args.style_bank or args.content_bank):
        raise UserError("--tune-student changes the student's features every step, so banked ones would be stale: "
                        "give --style-bank 0 --content-bank 0")
    if args.teacher_output < 0:
        raise UserError(f"--teacher-output must be >= 0, got {args.teacher_output}")
    if not 0.0 <= args.style_augment <= 1.0:
        raise UserError(f"--style-augment must be in [0, 1], got {args.style_augment}")
    if not 0.0 <= args.ema_decay < 1.0:
        raise UserError(f"--ema-decay must be in [0, 1), got {args.ema_decay}")
    decoder_width = args.decoder_width
    if args.student:
        from app.weights import load_student

        student_width = float(load_student(args.student)[1]["width"])
        decoder_width = student_width if decoder_width is None else decoder_width
    decoder_width = 1.0 if decoder_width is None else decoder_width
    palette_pull = args.palette_pull
    if palette_pull is None:
        palette_pull = PALETTE_DEFAULTS["fast" if args.student else "full"]
    if not 0.0 <= palette_pull <= 1.0:
        raise UserError(f"--palette-pull must be in [0, 1], got {palette_pull}")
    resumed_skips = skip_kind(args.resume) if args.resume is not None and args.resume.is_file() else (False, False)
    device = select_device(args.device)
    native_bf16 = device.type == "cuda" or cpu_supports_bf16()
    bf16 = False if args.no_bf16 else (native_bf16 if args.precision == "auto" else args.precision == "bf16")
    return TrainConfig(
        content_dir=str(args.content_dir), style_dir=str(args.style_dir), out_dir=str(args.out),
        iterations=args.iterations, size=args.size, batch=args.batch, lr=args.lr, lr_min=args.lr_min,
        style_weight=args.style_weight, warmup=args.warmup, ema_decay=args.ema_decay,
        warm_start_ramp=args.warm_start_ramp,
        checkpoint_minutes=args.checkpoint_minutes, decoder_width=decoder_width, seed=args.seed, bf16=bf16,
        recon_until=args.recon_until, recon_every=args.recon_every, recon_weight=args.recon_weight,
        style_bank=args.style_bank, content_bank=args.content_bank, device=str(device),
        student=str(args.student) if args.student else None, style_augment=args.style_augment,
        teacher_content=args.teacher_content, teacher_output=args.teacher_output,
        teacher_decoder=str(args.teacher_decoder) if args.teacher_decoder else None,
        skips=args.skips or args.skip_modulation or resumed_skips[0],
        skip_modulation=args.skip_modulation or resumed_skips[1],
        palette_pull=palette_pull, tune_student=args.tune_student,
        holdout_content_dir=str(args.holdout_content_dir) if args.holdout_content_dir else None,
        holdout_style_dir=str(args.holdout_style_dir) if args.holdout_style_dir else None,
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from app.tools.train import run as train

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config(args)
    trainer = train(cfg, resume=args.resume, max_minutes=args.max_minutes)
    print(f"stopped at step {trainer.step_count}; decoder: {args.out / 'decoder_fp16.pth'}")
    if args.ship:
        from app.tools.ship import ship

        ship(args.out)
    return 0
