"""Running the kiosk: everything that can be wrong is found before anything shows, then it runs.

Order matters for an installation: the config (already parsed), the styles (names and
images), and the source are checked first, so a mistake is one line and exit code 2
before the screen goes fullscreen; then the model loads and every style's statistics
are computed once (cached on disk for the next start); only then does the window (or
the headless loop) start. From that point no error ends the run: exceptions anywhere
are logged to the rotating log file, and only the exit chord, SIGINT/SIGTERM, or the
``duration``/``frames`` limits stop it. The soak report is written at the end (and
every minute while a long headless run goes on).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import sys
import threading
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

import numpy as np

from app.live.capture import Backoff
from app.live.sources import FrameSource, open_source, probe
from app.live.remote import OscServer
from app.errors import UserError
from app.kiosk.config import KioskConfig, PlaylistItem
from app.kiosk.playlist import PlaylistEntry
from app.kiosk.remote import KioskRemote
from app.kiosk.report import SoakMonitor, write_report
from app.kiosk.session import KioskSession
from app.paths import log_dir
from app.live.style_capture import remove_old_captures
from app.styles import Style, StyleLibrary

log = logging.getLogger(__name__)
LOG_FILE = "kiosk.log"
LOG_BYTES = 1 << 20  # rotate at 1 MiB ...
LOG_BACKUPS = 5  # ... keeping five old files: a few MiB at most, whatever the uptime
REPORT_EVERY = 60.0  # seconds between report rewrites during a headless run


# ---------------------------------------------------------------------------- before anything shows


def resolve_playlist(config: KioskConfig, library: StyleLibrary) -> list[tuple[PlaylistItem, Style, np.ndarray]]:
    """The playlist's styles and their images; UserError naming ``playlist[N].style`` for a bad one.
    An empty playlist means every style in the library, in name order."""
    items: Sequence[PlaylistItem] = config.playlist or tuple(PlaylistItem(s.name) for s in library.all())
    if not items:
        raise UserError(f"{config.origin}: playlist: no styles found (add [[playlist]] entries with image "
                        "paths, or add styles with the window)")
    out = []
    for i, item in enumerate(items, 1):
        key = f"{config.origin}: playlist[{i}].style" if config.playlist else f"style {item.style!r}"
        try:
            style = library.resolve(item.style)
            image = style.load()
        except UserError as exc:
            raise UserError(f"{key}: {exc}") from None
        out.append((item, style, image))
    return out


def source_factory(config: KioskConfig, key: str | None = None) -> Callable[[], FrameSource]:
    """A function that makes a fresh source object each call (a stuck one is replaced, never reused).
    A file that is missing or not a video is a config error now; a camera or stream that is not
    there yet is not (the kiosk waits for it)."""
    key = key or f"{config.origin}: source"

    def make() -> FrameSource:
        return open_source(config.source, config.camera_size)

    try:
        probe(make(), streams=False)  # a camera or stream that is not there yet is waited for
    except UserError as exc:
        raise UserError(f"{key}: {exc}") from None
    return make


def prepare_entries(stylizer, resolved: Sequence[tuple[PlaylistItem, Style, np.ndarray]],
                    config: KioskConfig) -> list[PlaylistEntry]:
    """Compute every style's statistics once, now (the playlist then only mixes cached ones)."""
    ids: dict[Path, str] = {}
    entries = []
    for item, style, image in resolved:
        sid = ids.get(style.path)
        if sid is None:
            t0 = time.monotonic()
            sid = ids[style.path] = stylizer.add_style(image)
            log.info("style %s ready (%.2f s)", style.name, time.monotonic() - t0)
        palette = stylizer.palette_default if item.palette is None else item.palette
        entries.append(PlaylistEntry(sid, config.seconds_of(item), item.alpha, item.color, style.caption,
                                     style.name, palette))
    return entries


# ---------------------------------------------------------------------------- process-wide guards


@contextlib.contextmanager
def kiosk_logging(level: str) -> Iterator[Path]:
    """Log the ``app`` loggers to a rotating file in the user log folder (removed again on exit)."""
    path = log_dir() / LOG_FILE
    try:
        handler = RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write the kiosk log ({exc.strerror or exc})") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"))
    logger = logging.getLogger("app")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper(), logging.INFO))
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


@contextlib.contextmanager
def stop_on_signals(session: KioskSession) -> Iterator[None]:
    """SIGINT and SIGTERM end the run cleanly (report written, camera released); restored afterwards.
    Signal handlers can only be installed from the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        session.request_stop(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def errors_are_logged() -> Iterator[None]:
    """Uncaught exceptions (a Qt slot, a thread) are logged instead of ending the process.
    PyQt aborts on an exception in a slot unless sys.excepthook is replaced; this replaces it."""
    old_sys, old_thread = sys.excepthook, threading.excepthook

    def sys_hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            return
        log.error("uncaught error (the kiosk carries on)", exc_info=(kind, value, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        log.error("uncaught error in thread %s (the kiosk carries on)", getattr(args.thread, "name", "?"),
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook, threading.excepthook = sys_hook, thread_hook
    try:
        yield
    finally:
        sys.excepthook, threading.excepthook = old_sys, old_thread


@contextlib.contextmanager
def remote_control(session: KioskSession, config: KioskConfig, out: TextIO) -> Iterator[None]:
    """OSC remote control on ``config.osc_port`` for the length of the run (nothing when it is not set)."""
    if config.osc_port is None:
        yield
        return
    server = OscServer(KioskRemote(session), config.osc_port, config.osc_host).start()
    print(f"kiosk: OSC remote control on {config.osc_host}:{server.port}", file=out, flush=True)
    try:
        yield
    finally:
        server.stop()


# ---------------------------------------------------------------------------- running


def run_headless(session: KioskSession, *, duration: float | None = None, frames: int | None = None,
                 report: Path | None = None, poll: float = 0.1) -> str:
    """Run until a limit, a signal or :meth:`KioskSession.request_stop`; returns why it stopped."""
    clock = time.monotonic
    session.start()
    end = clock() + duration if duration else None
    next_report = clock() + REPORT_EVERY
    reason = "stopped"
    try:
        while True:
            if session.stop_requested.wait(poll):
                reason = session.stop_reason or "stopped"
                break
            try:
                now = clock()
                if end is not None and now >= end:
                    reason = "duration"
                    break
                if frames is not None and session.monitor.frames >= frames:
                    reason = "frames"
                    break
                if report is not None and now >= next_report:
                    next_report = now + REPORT_EVERY
                    write_report(report, session.report("running"))
            except Exception:  # e.g. a full disk for the interim report: keep running
                log.exception("kiosk loop")
    except KeyboardInterrupt:  # only where no handler could be installed (not the main thread)
        reason = "SIGINT"
    finally:
        session.stop(reason)
    return reason


WindowRunner = Callable[..., str]
"""Runs a started-or-not session in a window until it may close: ``runner(session, duration=, frames=)``
returns why it stopped. The CLI passes app.ui.kiosk_window.run_kiosk_window; the kiosk itself never
imports the UI."""


def run_kiosk(config: KioskConfig, make_stylizer: Callable[[], object], *, window: WindowRunner | None,
              duration: float | None = None, frames: int | None = None, report: Path | None = None,
              library: StyleLibrary | None = None, source_key: str | None = None, out: TextIO | None = None,
              warmup_frames: int = 30, warmup_seconds: float | None = None, backoff: Backoff | None = None,
              seed: int | None = None, make_source: Callable[[], FrameSource] | None = None,
              virtual_camera: bool = False) -> int:
    """Check, prepare, run (fullscreen ``window`` runner, or headless when it is None), report.
    Returns the exit code.
    ``make_source`` replaces the config's source (tests, embedding); ``virtual_camera`` also sends
    the picture to a virtual camera (see app.live.virtual_camera)."""
    out = out or sys.stdout
    library = library or StyleLibrary()
    today = dt.date.today()
    old_captures = remove_old_captures(library.user_dir, today)  # before the playlist sees them
    resolved = resolve_playlist(config, library)
    make_source = make_source or source_factory(config, source_key)
    if report is not None and not Path(report).resolve().parent.is_dir():
        raise UserError(f"{Path(report).parent}: no such folder for --report")
    with kiosk_logging(config.log_level) as log_path:
        log.info("kiosk config %s: %d styles, every %g s, crossfade %g s, shuffle %s, size %s, source %s",
                 config.origin, len(resolved), config.interval, config.crossfade, config.shuffle, config.size,
                 config.source)
        if old_captures:
            log.info("%d styles from the camera taken before today removed: %s", len(old_captures),
                     ", ".join(p.name for p in old_captures))
        print(f"kiosk: preparing {len(resolved)} styles (their statistics are cached for the next start)...",
              file=out, flush=True)
        stylizer = make_stylizer()
        log.info("model: %s (asked for: %s)", getattr(stylizer, "model", "?"), config.model)
        entries = prepare_entries(stylizer, resolved, config)
        del resolved
        if warmup_seconds is None:
            warmup_seconds = min(60.0, 0.1 * duration) if duration else 60.0
        monitor = SoakMonitor(warmup_frames=warmup_frames, warmup_seconds=warmup_seconds)
        session = KioskSession(config, stylizer, make_source, entries, monitor=monitor, backoff=backoff, seed=seed,
                               styles_dir=library.user_dir)
        if virtual_camera:
            session.pipeline.start_virtual_camera()  # closed with the pipeline when the session stops
        print(f"kiosk: {len(entries)} styles on {session.pipeline.source.name}; exit with "
              f"{config.exit_chord} or Ctrl-C; log: {log_path}", file=out, flush=True)
        with stop_on_signals(session), errors_are_logged(), remote_control(session, config, out):
            if window:
                stopped_by = window(session, duration=duration, frames=frames)
            else:
                stopped_by = run_headless(session, duration=duration, frames=frames, report=report)
        data = session.report(stopped_by)
        log.info("kiosk report: %s", data)
        print(summary_line(data), file=out, flush=True)
        if report is not None:
            try:
                write_report(report, data)
            except OSError as exc:
                raise UserError(f"{report}: cannot write the report ({exc.strerror or exc})") from None
            print(f"report written to {report}", file=out, flush=True)
    return 0


def summary_line(d: dict) -> str:
    growth = d.get("rss_growth_pct")
    if not d.get("warmed_up"):
        mem = (f"memory {d['rss_initial_mb']} -> {d['rss_end_mb']} MiB, warm-up not reached "
               f"(no growth figure: run longer)")
    elif growth is not None:
        mem = f"memory {d['rss_start_mb']} -> {d['rss_end_mb']} MiB ({growth:+.1f}% after warm-up)"
    else:
        mem = "memory n/a"
    return (f"kiosk stopped ({d['stopped_by']}): {d['frames']} frames in {d['seconds']:.1f} s ({d['fps']:.1f} fps), "
            f"latency p95 {d['latency_p95_ms']:.0f} ms / max {d['latency_max_ms']:.0f} ms, "
            f"{d['restarts']} engine restarts, {d['reconnects']} reconnects, {mem}")
