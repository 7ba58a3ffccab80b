#!/usr/bin/env python3
"""Which CPU runtime runs the per-frame networks fastest, and does it still draw the same picture?

    python -m scripts.runtime_trial [--sizes 240x320,320x427] [--iterations 20] [--runtimes ...]
                                    [--models student,full] [--threads 2] [--json trial.json]

Times what every live frame costs: encoder up to relu4_1 -> AdaIN with fixed style statistics
(torch fp32, as in the engine) -> decoder, batch 1, input padded to a multiple of 8 like the
engine does, for

* models: ``student`` (the distilled encoder with its own decoder, ``--student`` and
  ``--student-decoder``) and ``full`` (the VGG-19 encoder and the shipped decoder);
* runtimes: ``torch-fp32``, ``torch-bf16`` (bf16 weights, channels_last, inference_mode: as
  app/engine.py runs it), ``ort-fp32`` (ONNX Runtime on a torch.onnx export), ``ov-fp32``,
  ``ov-bf16`` (OpenVINO with the bf16 inference-precision hint) and ``ov-int8`` (NNCF
  post-training quantisation, calibrated on photos from ../shared/media and the built-in
  styles; the first two and last convolutions stay in float, as on the ``int8`` branch).

Each row: median milliseconds per frame over ``--iterations`` after ``--warmup`` runs, frames
per second, and the PSNR of the output against torch fp32 (same model, same size), so a fast
but wrong runtime shows. A runtime whose package is missing says "not installed"; one that
fails to export or compile says why, and the trial goes on. Exports go to a temporary folder
removed at the end. OpenVINO's and NNCF's telemetry is kept off (no sockets opened).

Timings only mean something on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

from app import weights
from models.decoder import SkipDecoder

if TYPE_CHECKING:
    import openvino as ov

# OpenVINO and NNCF send usage statistics unless openvino_telemetry cannot be imported.
sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = REPO.parent / "shared" / "media" / "content"  # the shared test photos, beside the checkout
STYLES_DIR = REPO / "assets" / "styles"
RUNTIMES = ("torch-fp32", "torch-bf16", "ort-fp32", "ov-fp32", "ov-bf16", "ov-int8")
MODELS = ("student", "full")
PACKAGES = {"ort-fp32": ("onnxruntime",), "ov-fp32": ("openvino",), "ov-bf16": ("openvino",),
            "ov-int8": ("openvino", "nncf")}
PAD_MULTIPLE = 8
CALIBRATION_SIZE = (160, 216)  # (H, W): the live path's smallest 4:3 size, as on the int8 branch
CALIBRATION_PHOTOS, CALIBRATION_STYLES = 4, 4
FLOAT_HEAD, FLOAT_TAIL = 2, 1  # convolutions left in float at the encoder's start, the decoder's end

Net = Callable[[torch.Tensor], torch.Tensor]  # (1, C, H, W) fp32 in, fp32 out
Stats = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Row:
    """One line of the table."""
    runtime: str
    model: str
    size: str
    median_ms: float | None = None
    fps: float | None = None
    psnr_db: float | None = None
    note: str = ""


# ----------------------------------------------------------------------------- inputs


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' -> (240, 320), height first."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a size is HxW, e.g. 240x320") from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be at least 16")
    return h, w


def parse_list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated subset of ``allowed``."""
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
        return items
    return parse


def image_files(folder: Path, count: int) -> list[Path]:
    """The first ``count`` photos of ``folder`` (sorted, so the trial is repeatable)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"error: {folder}: no images")
    return files[:count]


def load_rgb(path: Path, max_side: int = 512) -> torch.Tensor:
    """An image file as (1, 3, H, W) float in [0, 1], longer side at most ``max_side``."""
    from app.images import load_image, resize_to_fit

    return torch.from_numpy(resize_to_fit(load_image(path), max_side)).permute(2, 0, 1)[None].float() / 255.0


def frame_at(photo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``photo`` resized to ``size`` and padded bottom/right to a multiple of 8 (reflect), as the engine does."""
    h, w = size
    x = F.interpolate(photo, size=size, mode="bilinear", align_corners=False, antialias=True)
    ph, pw = -(-h // PAD_MULTIPLE) * PAD_MULTIPLE - h, -(-w // PAD_MULTIPLE) * PAD_MULTIPLE - w
    return F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x


# ----------------------------------------------------------------------------- models


def load_model(name: str, args: argparse.Namespace) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) in fp32, eval mode."""
    if name == "student":
        encoder, _ = weights.load_student(args.student)
        decoder, _ = weights.load_decoder(args.student_decoder)
        if isinstance(decoder, SkipDecoder):
            raise SystemExit(f"{args.student_decoder}: a skip decoder; this trial exports one-input decoders only")
    else:
        encoder = weights.load_encoder(None)
        decoder, _ = weights.load_decoder(None)
    return encoder.float().eval(), decoder.float().eval()


@torch.inference_mode()
def style_stats(encoder: nn.Module, style: torch.Tensor) -> Stats:
    """relu4_1 mean and std of the style image (fp32 torch, like the engine's style cache)."""
    from models.adain import calc_mean_std

    return calc_mean_std(encoder(frame_at(style, (256, 256))))


def pipeline(encoder: Net, decoder: Net, stats: Stats) -> Net:
    """encoder -> AdaIN (fp32 torch) -> decoder, as one frame function."""
    from models.adain import adain

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return decoder(adain(encoder(x).float(), stats))
    return run


# ----------------------------------------------------------------------------- runtimes


def torch_net(module: nn.Module, dtype: torch.dtype) -> Net:
    """``module`` in ``dtype`` and channels_last, called in inference mode (app/engine.py's way)."""
    net = module.to(dtype=dtype, memory_format=torch.channels_last).eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x.to(dtype).contiguous(memory_format=torch.channels_last)).float()
    return run


def onnx_net(module: nn.Module, example: torch.Tensor, folder: Path, name: str, threads: int) -> Net:
    """``module`` exported to ONNX (dynamic H, W) and run by ONNX Runtime on ``threads`` threads."""
    import onnxruntime as ort

    path = folder / f"{name}.onnx"
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        torch.onnx.export(module.float().eval(), (example,), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}}, opset_version=17,
                          dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"x": x.contiguous().numpy()})[0])
    return run


def ov_model(module: nn.Module, example: torch.Tensor) -> ov.Model:
    """``module`` converted to an OpenVINO model with dynamic H, W."""
    import openvino as ov

    with torch.no_grad():
        return ov.convert_model(module.float().eval(), example_input=example,
                                input=[(1, int(example.shape[1]), -1, -1)])


def ov_compile(model: ov.Model, precision: str, threads: int) -> Net:
    """Compile for this CPU (latency hint, ``threads`` threads, inference precision f32 or bf16)."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
              "INFERENCE_PRECISION_HINT": precision}
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        request.infer({0: x.contiguous().numpy()})
        return torch.from_numpy(request.get_output_tensor(0).data.copy())  # the buffer is reused
    return run


def float_ends(model: ov.Model, head: int, tail: int) -> list[str]:
    """Names of the first ``head`` and last ``tail`` convolutions of an OpenVINO model."""
    convs = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    return convs[:head] + (convs[-tail:] if tail else [])


def calibration(encoder: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(encoder inputs, decoder inputs) for NNCF: photos (plain, flipped, zoomed) and AdaIN targets
    with the built-in styles at alpha 1, plus plain content features and a half-way blend."""
    from models.adain import adain, blend_alpha

    images = []
    for path in image_files(MEDIA_DIR, CALIBRATION_PHOTOS):
        photo = load_rgb(path)
        h, w = photo.shape[-2:]
        zoom = photo[..., h // 4: h - h // 4, w // 4: w - w // 4]
        images += [frame_at(photo, CALIBRATION_SIZE), frame_at(photo, CALIBRATION_SIZE).flip(-1),
                   frame_at(zoom, CALIBRATION_SIZE)]
    stats = [style_stats(encoder, load_rgb(p)) for p in image_files(STYLES_DIR, CALIBRATION_STYLES)]
    targets = []
    with torch.inference_mode():
        for i, x in enumerate(images):
            feats = encoder(x)
            targets += [adain(feats, s) for j, s in enumerate(stats) if (i + j) % 2 == 0]
            targets += [feats, blend_alpha(adain(feats, stats[i % len(stats)]), feats, 0.5)]
    return images, targets


def ov_int8(module: nn.Module, samples: list[torch.Tensor], head: int, tail: int, threads: int) -> Net:
    """``module`` quantised to int8 by NNCF (MIXED preset, float ends) and compiled by OpenVINO."""
    import nncf

    model = ov_model(module, samples[0])
    data = nncf.Dataset(samples, lambda t: t.contiguous().numpy())
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars
        quantised = nncf.quantize(model, data, preset=nncf.QuantizationPreset.MIXED, subset_size=len(samples),
                                  ignored_scope=nncf.IgnoredScope(names=float_ends(model, head, tail)))
    return ov_compile(quantised, "f32", threads)


def build(runtime: str, encoder: nn.Module, decoder: nn.Module, example: torch.Tensor,
          folder: Path, threads: int) -> tuple[Net, Net]:
    """(encoder, decoder) as frame functions of ``runtime``. ``example``: an encoder input."""
    with torch.inference_mode():
        feats = encoder(example)
    if runtime in ("torch-fp32", "torch-bf16"):
        dtype = torch.float32 if runtime == "torch-fp32" else torch.bfloat16
        return torch_net(encoder, dtype), torch_net(decoder, dtype)
    if runtime == "ort-fp32":
        tag = f"{folder.name}-{id(encoder)}"
        return (onnx_net(encoder, example, folder, f"encoder-{tag}", threads),
                onnx_net(decoder, feats.clone(), folder, f"decoder-{tag}", threads))
    if runtime in ("ov-fp32", "ov-bf16"):
        precision = "f32" if runtime == "ov-fp32" else "bf16"
        return (ov_compile(ov_model(encoder, example), precision, threads),
                ov_compile(ov_model(decoder, feats.clone()), precision, threads))
    images, targets = calibration(encoder)
    return (ov_int8(encoder, images, FLOAT_HEAD, 0, threads),
            ov_int8(decoder, targets, 0, FLOAT_TAIL, threads))


def missing_package(runtime: str) -> str | None:
    """The first package ``runtime`` needs that is not installed, else None."""
    return next((p for p in PACKAGES.get(runtime, ()) if importlib.util.find_spec(p) is None), None)


# ----------------------------------------------------------------------------- measuring


def time_frames(run: Net, x: torch.Tensor, warmup: int, iterations: int) -> tuple[float, torch.Tensor]:
    """(median seconds per call, last output) after ``warmup`` untimed calls."""
    out = run(x)
    for _ in range(max(0, warmup - 1)):
        out = run(x)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        out = run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images, clamped to [0, 1] (capped at 99 dB when identical, so JSON stays valid)."""
    mse = float(F.mse_loss(a.float().clamp(0, 1), b.float().clamp(0, 1)))
    return 99.0 if mse < 1e-10 else 10 * math.log10(1.0 / mse)


def trial_model(name: str, args: argparse.Namespace, photo: torch.Tensor, style: torch.Tensor,
                folder: Path) -> list[Row]:
    """Every runtime x size for one model."""
    rows: list[Row] = []
    frames = {size: frame_at(photo, size) for size in args.sizes}
    reference: dict[tuple[int, int], torch.Tensor] = {}
    for runtime in sorted(args.runtimes, key=lambda r: r != "torch-fp32"):  # the reference first
        missing = missing_package(runtime)
        if missing:
            rows += [Row(runtime, name, f"{h}x{w}", note=f"not installed ({missing})") for h, w in args.sizes]
            continue
        encoder, decoder = load_model(name, args)  # fresh each time: torch_net converts in place
        stats = style_stats(encoder, style)
        print(f"{name} / {runtime}: preparing", file=sys.stderr, flush=True)
        try:
            run = pipeline(*build(runtime, encoder, decoder, frames[args.sizes[0]], folder, args.threads), stats)
        except Exception as exc:  # noqa: BLE001 - an export or compile failure is a result, not a crash
            traceback.print_exc(file=sys.stderr)
            note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
            rows += [Row(runtime, name, f"{h}x{w}", note=note) for h, w in args.sizes]
            continue
        for size, x in frames.items():
            rows.append(measure(run, x, runtime, name, size, reference, args))
    return rows


def measure(run: Net, x: torch.Tensor, runtime: str, model: str, size: tuple[int, int],
            reference: dict[tuple[int, int], torch.Tensor], args: argparse.Namespace) -> Row:
    """One row: time ``run`` on ``x`` and compare its output with torch fp32's."""
    row = Row(runtime, model, f"{size[0]}x{size[1]}")
    print(f"{model} / {runtime} / {row.size}: timing", file=sys.stderr, flush=True)
    try:
        seconds, out = time_frames(run, x, args.warmup, args.iterations)
    except Exception as exc:  # noqa: BLE001 - e.g. a runtime that refuses this shape
        row.note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
        return row
    row.median_ms, row.fps = seconds * 1000, 1.0 / seconds
    if runtime == "torch-fp32":
        reference[size], row.note = out, "reference"
    elif size in reference:
        row.psnr_db = psnr(out, reference[size])
    return row


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'runtime':<11} {'model':<8} {'size':<8} {'median ms':>10} {'fps':>7} {'PSNR dB':>8}  note"]
    for r in rows:
        ms = f"{r.median_ms:10.1f}" if r.median_ms is not None else f"{'-':>10}"
        fps = f"{r.fps:7.2f}" if r.fps is not None else f"{'-':>7}"
        db = "-" if r.psnr_db is None else f"{r.psnr_db:.1f}"
        lines.append(f"{r.runtime:<11} {r.model:<8} {r.size:<8} {ms} {fps} {db:>8}  {r.note}".rstrip())
    return "\n".join(lines)


def environment(threads: int) -> dict[str, str | int]:
    """Library versions and thread count, saved with the JSON results."""
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, str | int] = {"threads": threads, "torch": torch.__version__}
    for package in ("onnxruntime", "openvino", "nncf"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.runtime_trial", description=__doc__.split("\n\n")[0],
        epilog="Runtimes: " + ", ".join(RUNTIMES) + ". The PSNR column compares each output with torch fp32's "
               "(same model and size); 99 means identical. Run it with nothing else busy on the CPU.")
    parser.add_argument("--sizes", type=lambda s: [parse_size(t) for t in s.split(",") if t.strip()],
                        default=[(240, 320), (320, 427)], help="processing sizes HxW, comma-separated "
                        "(default 240x320,320x427; padded to a multiple of 8 like the engine)")
    parser.add_argument("--iterations", type=int, default=20, help="timed frames per row (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames before timing (default 3)")
    parser.add_argument("--runtimes", type=parse_list(RUNTIMES), default=list(RUNTIMES),
                        help="comma-separated subset of: " + ", ".join(RUNTIMES) + " (default all)")
    parser.add_argument("--models", type=parse_list(MODELS), default=list(MODELS),
                        help="comma-separated subset of: student, full (default both)")
    parser.add_argument("--student", type=Path, default=weights.DEFAULT_STUDENT,
                        help="student encoder (default: the shipped fast model's; a distill run's student_fp16.pth)")
    parser.add_argument("--student-decoder", type=Path, default=weights.DEFAULT_STUDENT_DECODER,
                        help="the student's decoder (default: the shipped one; a train --student run's export)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every runtime (default 2)")
    parser.add_argument("--json", type=Path, help="also write the rows and library versions here")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 1 or args.threads < 1:
        parser.error("--iterations, --warmup and --threads must be at least 1")

    torch.set_num_threads(args.threads)
    photo = load_rgb(image_files(MEDIA_DIR, 1)[0], max_side=1024)
    style = load_rgb(image_files(STYLES_DIR, 1)[0])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="runtime_trial-") as tmp:
        for name in args.models:
            rows += trial_model(name, args, photo, style, Path(tmp))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"environment": environment(args.threads),
                                         "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
