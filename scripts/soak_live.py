#!/usr/bin/env python3
"""Soak test of the live pipeline (no window, no kiosk): does it hold its speed, and does it leak?

    python -m scripts.soak_live --source clip.mp4 --minutes 10 [--style NAME] [--size 256] [--report soak.json]

Runs capture -> engine on a looping source (a video file loops forever; default: the built-in
demo) for ``--minutes`` (or ``--seconds``). Every ``--sample-every`` seconds it samples resident
memory (RSS), threads (Python's and the OS's, native ones included) and open file descriptors.
At the end it prints FPS, latency p50/p95/p99/max, engine restarts, source reconnects and
errors, RSS growth after the warm-up, and thread and descriptor growth, and exits with

* 0 when nothing grew: RSS growth after warm-up below ``--max-rss-growth`` (5 %), the same
  threads and descriptors at the end of the run as after the warm-up, and every thread joined
  and every descriptor closed once the pipeline stopped;
* 1 when something grew (each reason is printed);
* 2 on bad input (one ``error:`` line, like main.py).

The baseline is taken after a warm-up (allocator pools, oneDNN/cuDNN plans and torch's thread
pool fill during the first frames), so growth measures leaks, not start-up. Frame, latency and
memory figures come from the kiosk soak's :class:`app.kiosk.report.SoakMonitor`.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]

DEFAULT_SIZE = 256  # fixed (not adaptive): a soak compares like with like from start to end
FIRST_FRAME_TIMEOUT = 60.0  # seconds for the source's first frame (a camera can be slow to open)


@dataclass(frozen=True)
class Counts:
    """What can leak besides memory, counted at one moment."""

    threads: int  # Python threads
    os_threads: int | None  # every thread of the process (None where the OS does not say)
    files: int | None  # open file descriptors

    @staticmethod
    def now() -> "Counts":
        from app.kiosk.report import open_files, os_threads

        return Counts(threading.active_count(), os_threads(), open_files())


def build_parser() -> argparse.ArgumentParser:
    from app.cli.common import add_engine_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="demo",
                   help="video file (looped), image, camera index, stream URL, or 'demo' (default: demo)")
    p.add_argument("--style", action="append", metavar="S",
                   help="style name or image path; repeat to mix (default: the first style)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help=f"processing short side in pixels (default: {DEFAULT_SIZE})")
    how_long = p.add_mutually_exclusive_group()
    how_long.add_argument("--minutes", type=float, default=10.0, help="how long to run (default: 10)")
    how_long.add_argument("--seconds", type=float, help="how long to run, in seconds (short checks)")
    p.add_argument("--sample-every", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between samples of memory, threads and open files (default: 5)")
    p.add_argument("--warmup", type=float, metavar="SECONDS",
                   help="seconds before the baseline is taken (default: 10%% of the run, at most 60)")
    p.add_argument("--max-rss-growth", type=float, default=5.0, metavar="PERCENT",
                   help="fail when resident memory grows this much or more after the warm-up (default: 5)")
    p.add_argument("--report", type=Path, metavar="PATH", help="also write every figure to PATH as JSON")
    add_engine_arguments(p)
    return p


def check_args(args: argparse.Namespace) -> float:
    """Validate; returns the run's length in seconds."""
    from app.errors import UserError
    from app.rules import check_processing_size

    seconds = args.seconds if args.seconds is not None else 60.0 * args.minutes
    if not seconds > 0:
        raise UserError(f"the run must last more than 0 seconds, got {seconds:g}")
    check_processing_size(args.size, "--size")
    if not args.sample_every > 0:
        raise UserError(f"--sample-every must be more than 0 seconds, got {args.sample_every:g}")
    if args.warmup is not None and not 0 <= args.warmup < seconds:
        raise UserError(f"--warmup must be at least 0 and shorter than the run ({seconds:g} s), got {args.warmup:g}")
    if args.report is not None and not args.report.resolve().parent.is_dir():
        raise UserError(f"{args.report.parent}: no such folder for --report")
    return seconds


def soak(args: argparse.Namespace, seconds: float, out: TextIO) -> dict[str, Any]:
    """Run the pipeline for ``seconds``; every figure, as the report's dictionary."""
    from app.live.sources import open_source
    from app.cli.common import make_stylizer
    from app.errors import UserError
    from app.kiosk.report import SoakMonitor
    from app.live.pipeline import LivePipeline
    from app.styles import StyleLibrary
    from app.live.temporal import DEFAULT_STRENGTH

    library = StyleLibrary()
    styles = [library.resolve(s) for s in args.style or []] or library.all()[:1]
    if not styles:
        raise UserError("no styles found: pass --style IMAGE")
    for style in styles:
        style.load()  # a broken image fails now, before the model loads
    source = open_source(args.source)
    warmup = args.warmup if args.warmup is not None else min(60.0, 0.1 * seconds)
    monitor = SoakMonitor(warmup_frames=5, warmup_seconds=warmup)
    pipeline = LivePipeline(make_stylizer(args, live=True), source)
    pipeline.stabilize = DEFAULT_STRENGTH
    monitor.begin()  # threads and open files before any pipeline thread: all must be gone at the end
    future = pipeline.select_styles(styles, (), alpha=1.0, color="none", size=args.size)
    pipeline.worker.start()
    try:
        future.result()  # the styles are encoded before the first frame is captured
    except BaseException:
        pipeline.stop()
        raise
    print(f"soak: {seconds:g} s of {source.name} at {args.size} px with {', '.join(s.name for s in styles)} "
          f"on {getattr(pipeline.stylizer, 'description', '?')}; warm-up {warmup:g} s", file=out, flush=True)
    warm = last = None
    pipeline.worker.add_sink(monitor.on_frame)
    stopped_by = "time"
    try:
        pipeline.start()
        cap = pipeline.capture
        if cap is not None and not cap.wait_started(FIRST_FRAME_TIMEOUT):
            raise UserError(f"{cap.source.name}: {cap.stats().last_error or 'no frame'}")
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(args.sample_every, left))
            monitor.sample()
            last = Counts.now()
            if warm is None and monitor.rss_start is not None:
                warm = last  # the baseline: counted with the memory's, once warmed up
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        pipeline.worker.remove_sink(monitor.on_frame)
        pipeline.stop()
    monitor.finish()  # ... and after it stopped
    stats = pipeline.stats()
    lat = monitor.latency
    return monitor.report(
        latency_p50_ms=round(lat.quantile(0.50), 2), latency_p99_ms=round(lat.quantile(0.99), 2),
        restarts=stats.engine.restarts, reconnects=stats.capture.reconnects if stats.capture else 0,
        errors=stats.engine.errors, captured=stats.captured, skipped=stats.engine.skipped,
        threads_warm=warm.threads if warm else None, threads_last=last.threads if last else None,
        os_threads_warm=warm.os_threads if warm else None, os_threads_last=last.os_threads if last else None,
        open_files_warm=warm.files if warm else None, open_files_last=last.files if last else None,
        source=source.name, size=args.size, stopped_by=stopped_by, max_rss_growth_pct=args.max_rss_growth)


def problems(d: dict[str, Any]) -> list[str]:
    """Why the soak failed (empty: it passed)."""
    found = []
    if not d["frames"]:
        found.append("no stylized frame at all")
    if not d["warmed_up"]:
        found.append("the run ended before the warm-up did: run longer or shorten --warmup")
    growth = d["rss_growth_pct"]
    if growth is not None and growth >= d["max_rss_growth_pct"]:
        found.append(f"resident memory grew {growth:+.1f}% after the warm-up (limit {d['max_rss_growth_pct']:g}%)")
    for what, key in (("Python threads", "threads"), ("OS threads", "os_threads"), ("open files", "open_files")):
        warm, last = d[f"{key}_warm"], d[f"{key}_last"]
        if warm is not None and last is not None and last > warm:
            found.append(f"{what} grew while running: {warm} after the warm-up, {last} at the end")
    for what, key in (("threads", "threads"), ("open files", "open_files")):
        before, after = d[f"{key}_start"], d[f"{key}_end"]
        if before is not None and after is not None and after > before:
            found.append(f"{after - before} {what} left over after stopping ({before} before, {after} after)")
    return found


def summary(d: dict[str, Any]) -> list[str]:
    growth = d["rss_growth_pct"]
    memory = "memory n/a" if growth is None else (
        f"memory {d['rss_start_mb']} -> {d['rss_end_mb']} MiB after the warm-up ({growth:+.2f}%, "
        f"limit {d['max_rss_growth_pct']:g}%), peak {d['rss_max_mb']} MiB")
    return [
        f"{d['frames']} frames in {d['seconds']:.1f} s: {d['fps']:.1f} fps; latency p50 {d['latency_p50_ms']:.0f} ms, "
        f"p95 {d['latency_p95_ms']:.0f} ms, p99 {d['latency_p99_ms']:.0f} ms, max {d['latency_max_ms']:.0f} ms",
        f"{d['restarts']} engine restarts, {d['reconnects']} source reconnects, {d['errors']} engine errors; "
        f"{d['captured']} frames captured, {d['skipped']} skipped while the engine was busy",
        memory if d["warmed_up"] else "memory: the warm-up was not reached, so there is no growth figure",
        f"threads {d['threads_warm']} -> {d['threads_last']} (OS {d['os_threads_warm']} -> {d['os_threads_last']}), "
        f"open files {d['open_files_warm']} -> {d['open_files_last']} from the warm-up to the end; before the start "
        f"-> after the stop: threads {d['threads_start']} -> {d['threads_end']}, "
        f"open files {d['open_files_start']} -> {d['open_files_end']}",
    ]


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    from app.errors import UserError
    from app.kiosk.report import write_report

    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        data = soak(args, check_args(args), out)
        failed = problems(data)
        data["passed"], data["problems"] = not failed, failed
        if args.report is not None:
            try:
                write_report(args.report, data)
            except OSError as exc:
                raise UserError(f"{args.report}: cannot write the report ({exc.strerror or exc})") from None
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # before the run (model load, style encoding); during it, Ctrl-C ends it early
        print("interrupted", file=sys.stderr)
        return 130
    for line in summary(data):
        print(line, file=out)
    print("PASS: nothing grew" if not failed else "FAIL: " + "; ".join(failed), file=out, flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
