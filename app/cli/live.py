"""``python main.py [live]``: the live stylizer, in a window or headless.

Without a display server (Linux with neither DISPLAY nor WAYLAND_DISPLAY, and no
QT_QPA_PLATFORM chosen) a window cannot open, so the same pipeline runs headless on the
given source (else the camera, else the built-in demo) for a few hundred frames and
records them to the videos folder: the command does something useful instead of
failing inside Qt. With a display but without the system libraries Qt's X11 plugin needs,
it stops with one line naming the packages to install (app.display).

``--kiosk`` turns the same pipeline into an unattended installation (app/kiosk: a TOML
config, a playlist with cross-fades, self-healing, fullscreen window or headless soak run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import (add_engine_arguments, add_style_arguments, checked_settings, explicit_model_files,
                            make_stylizer, parse_mix)
from app.display import check_window_libraries, no_display
from app.live.adaptive import DEFAULT_TARGET_FPS, check_target_fps
from app.live.sources import DEFAULT_CAMERA_SIZE, parse_size
from app.live.temporal import DEFAULT_STRENGTH

def size_choice(text: str):
    """--size: 'auto' or a number of pixels (argparse turns ValueError into a clear message)."""
    return "auto" if text.strip().lower() == "auto" else int(text)


# The shared style options, for live use: their defaults come from the window's memory (None: not given).
LIVE_STYLE_OPTIONS = {
    "alpha": {"default": None, "help": "content (0) to style (1) strength (default: last used, else 1.0)"},
    "size": {"default": None, "type": size_choice,
             "help": "processing short side in pixels, or 'auto': the largest size that holds --target-fps "
                     "(default: last used, else auto)"},
    "palette": {"help": "how far the picture is pulled to the painting's colours, 0..1 (default: last used, else "
                        "the model's)"},
    "preserve_color": {"default": None,
                       "help": "keep the camera's colours: luminance or histogram (default: last used, else none)"},
    "style": {"help": "style name (see `styles`) or image path; repeat to mix several (default: last used, "
                      "else the first style)"},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("source")
    g.add_argument("--source", metavar="SRC",
                   help="camera index (0, 1...), video or image file, stream URL (rtsp://, http://), or 'demo' "
                        "(default: the window's last source, else camera 0)")
    g.add_argument("--camera-size", metavar="WxH",
                   help="size to ask the camera for (default: {}x{})".format(*DEFAULT_CAMERA_SIZE))
    g.add_argument("--mirror", action="store_true", help="flip left-right like a mirror (M toggles it)")
    add_style_arguments(p, overrides=LIVE_STYLE_OPTIONS)
    p.add_argument("--target-fps", type=float, metavar="FPS",
                   help="frame rate that --size auto holds by lowering the processing size "
                        f"(default: {DEFAULT_TARGET_FPS:g})")
    p.add_argument("--stabilize", type=float, metavar="0..1",
                   help="temporal stabilisation against flicker, 0 (off) to 1 "
                        f"(default: last used, else {DEFAULT_STRENGTH:g})")
    h = p.add_argument_group("headless")
    h.add_argument("--no-window", action="store_true",
                   help="run the pipeline without a window (kiosks without a display, tests, benchmarks) "
                        "and print the achieved FPS and latency at the end")
    h.add_argument("--frames", type=int, metavar="N", help="stop after N stylized frames (default: until Ctrl-C)")
    h.add_argument("--record", type=Path, metavar="PATH", help="record the stylized stream to PATH (.mp4 or .mkv)")
    o = p.add_argument_group("beyond the window (see README, 'Virtual camera' and 'Remote control (OSC)')")
    o.add_argument("--virtual-camera", action="store_true",
                   help="also send the stylized video to a virtual camera (needs pyvirtualcam, and v4l2loopback "
                        "on Linux or OBS on Windows/macOS) that video-call apps can pick as a webcam")
    o.add_argument("--osc", type=int, metavar="PORT",
                   help="listen for OSC remote control (/style/next, /alpha 0.5, /record/start, /status...) on "
                        "UDP port PORT (with --kiosk: overrides osc_port in the config)")
    o.add_argument("--osc-host", metavar="HOST",
                   help="address to listen for OSC on (default: 127.0.0.1, this machine only; OSC has no "
                        "authentication, so 0.0.0.0 lets anyone on the network control the app)")
    k = p.add_argument_group("kiosk (unattended installation; see README, 'Kiosk mode')")
    k.add_argument("--kiosk", action="store_true",
                   help="fullscreen installation: playlist of styles with cross-fades, no controls, self-healing; "
                        "exit with the configured key chord (default Ctrl+Shift+Q) or a signal")
    k.add_argument("--config", type=Path, metavar="PATH",
                   help="kiosk TOML config (default: kiosk.toml in the config folder if there is one); "
                        "--source, --size, --mirror, --camera-size and --style override it")
    k.add_argument("--duration", type=float, metavar="SECONDS", help="end the kiosk run after SECONDS")
    k.add_argument("--report", type=Path, metavar="PATH",
                   help="write a JSON soak report (frames, FPS, latency, memory, restarts) to PATH at the end")
    add_engine_arguments(p)


def options(args: argparse.Namespace):
    """Validate the command line (before any slow model load) into LiveOptions."""
    from app.errors import UserError
    from app.live.pipeline import LiveOptions
    from app.rules import check_alpha
    from app.live.remote import DEFAULT_HOST

    styles = list(args.style or [])
    mix = parse_mix(args.mix, len(styles)) if args.mix else ()
    checked_settings(tuple(styles), mix, alpha=1.0 if args.alpha is None else args.alpha,
                     color=args.preserve_color or "none", size=args.size if isinstance(args.size, int) else None,
                     palette=args.palette, need_styles=False)
    if args.target_fps is not None:
        check_target_fps(args.target_fps, "--target-fps")
    if args.stabilize is not None:
        check_alpha(args.stabilize, "--stabilize")  # a strength, in alpha's range
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    if args.record is not None and args.record.suffix.lower() not in (".mp4", ".mkv", ".mov", ".m4v"):
        raise UserError(f"{args.record}: --record needs a .mp4, .mkv or .mov file name")
    if args.record is not None and not (args.record.parent if str(args.record.parent) else Path(".")).is_dir():
        raise UserError(f"{args.record.parent}: no such folder for --record")
    if args.virtual_camera:
        from app.live.virtual_camera import require_pyvirtualcam

        require_pyvirtualcam()
    check_osc_arguments(args)
    check_kiosk_arguments(args)
    camera_size = parse_size(args.camera_size) if args.camera_size else DEFAULT_CAMERA_SIZE
    return LiveOptions(source=args.source, camera_size=camera_size,
                       mirror=args.mirror or None,
                       styles=styles, mix=mix, alpha=args.alpha, color=args.preserve_color, palette=args.palette,
                       size=args.size,
                       target_fps=args.target_fps or DEFAULT_TARGET_FPS, stabilize=args.stabilize,
                       frames=args.frames, record=args.record, virtual_camera=args.virtual_camera,
                       osc_port=args.osc, osc_host=args.osc_host or DEFAULT_HOST, model=args.model)


def check_osc_arguments(args: argparse.Namespace) -> None:
    from app.errors import UserError
    from app.live.remote import require_python_osc
    from app.rules import check_port

    if args.osc is not None:
        check_port(args.osc, "--osc")
        require_python_osc()
    if args.osc_host is not None and args.osc is None and not args.kiosk:
        raise UserError("--osc-host needs --osc PORT")
    if args.osc is not None and args.no_window and not args.kiosk:
        raise UserError("--osc drives the window or the kiosk: leave out --no-window, or add --kiosk")


def check_kiosk_arguments(args: argparse.Namespace) -> None:
    from app.errors import UserError

    kiosk = getattr(args, "kiosk", False)
    for name in ("config", "duration", "report"):
        if getattr(args, name, None) is not None and not kiosk:
            raise UserError(f"--{name} is a kiosk option: add --kiosk")
    if not kiosk:
        return
    if args.record is not None:
        raise UserError("--record is not available with --kiosk")
    if args.mix:
        raise UserError("--mix is not used with --kiosk: the playlist cross-fades between its --style entries")
    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration must be more than 0 seconds, got {args.duration}")
    if args.report is not None and not (args.report.parent if str(args.report.parent) else Path(".")).is_dir():
        raise UserError(f"{args.report.parent}: no such folder for --report")


def run(args: argparse.Namespace) -> int:
    opts = options(args)
    if args.kiosk:
        return run_kiosk(args, opts)
    if args.no_window:
        return run_headless(args, opts)
    if no_display():
        return run_headless(args, opts, demo=True)
    check_window_libraries()  # before Qt loads: a missing library is one line, not a Qt abort
    from app.ui.app import run_window  # Qt loads only for the window

    return run_window(lambda model: make_stylizer(args, model, live=True), opts,
                      switchable=not explicit_model_files(args))


def run_headless(args: argparse.Namespace, opts, demo: bool = False) -> int:
    from app.live.launch import run_options

    return run_options(opts, lambda: make_stylizer(args, live=True), demo=demo)


def kiosk_config(args: argparse.Namespace, opts):
    """The kiosk config file (or defaults) with the command line's values on top."""
    from app.kiosk.config import load_config, with_live_options

    return with_live_options(load_config(args.config), opts, camera_size_given=args.camera_size is not None,
                             osc_host=args.osc_host)


def run_kiosk(args: argparse.Namespace, opts) -> int:
    """``--kiosk``: every check first (one line, exit 2), then fullscreen or headless until told to stop."""
    from app.kiosk.run import run_kiosk as run

    config = kiosk_config(args, opts)
    window = not args.no_window
    if window and no_display():
        print("No display server found (DISPLAY and WAYLAND_DISPLAY are unset): running the kiosk headless.",
              flush=True)
        window = False
    runner = None
    if window:
        check_window_libraries()
        from app.ui.kiosk_window import run_kiosk_window as runner  # Qt only for the window
    return run(config, lambda: make_stylizer(args, config.model, live=True), window=runner, duration=args.duration,
               frames=args.frames, report=args.report, source_key="--source" if args.source is not None else None,
               virtual_camera=opts.virtual_camera)
