#!/usr/bin/env python3
"""Grab screenshots of the live window, offscreen, for the README and for review.

    python -m scripts.screenshot [--source VIDEO] [--decoder PATH] [--model auto|full|fast] [--size PX|auto]

Starts the real window (same construction as ``python main.py``) at its default size on a
simulated 1920x1080 screen (unless QT_QPA_PLATFORM is set), on a video source, waits for
stylized frames, and saves:
  docs/screenshot.png               the main state (stylized video, gallery, controls, overlay)
  docs/style_capture.png            a style taken from the camera (C) in the gallery, in use
  OUT/live-*.png                    other states to look at: side by side, mixing, no camera,
                                    help dialog (OUT defaults to /tmp/adain-live-shots)
Uses the trained decoder when it exists, else a seeded random one (the picture is then
noise-like, but the layout is real). Runs in a private ADAIN_LIVE_HOME.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DESKTOP = (1920, 1080)  # the simulated screen: a common desktop (offscreen's own is 800x800)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(REPO.parent / "shared" / "media" / "video" / "cutBunny.mp4"))
    p.add_argument("--styles-dir", type=Path, default=REPO.parent / "shared" / "media" / "style",
                   help="extra style images to show in the gallery when assets/styles is empty")
    p.add_argument("--decoder", type=Path, help="decoder file (default: the shipped one, else random)")
    p.add_argument("--model", default="auto", choices=["auto", "full", "fast"],
                   help="which model runs, as the window's --model (default: auto, as a first run)")
    p.add_argument("--size", default="auto", help="processing size: pixels or auto (default: auto, as a first run)")
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "adain-live-shots")
    p.add_argument("--readme-shot", type=Path, default=REPO / "docs" / "screenshot.png")
    p.add_argument("--capture-shot", type=Path, default=REPO / "docs" / "style_capture.png")
    p.add_argument("--held-up", default=str(REPO.parent / "shared" / "media" / "style" / "brushstrokes.jpg"),
                   help="the picture the camera sees when C is pressed (a print held up to it)")
    p.add_argument("--only-capture", action="store_true", help="only the style-from-the-camera shot")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="adain-shot-"))
    os.environ["ADAIN_LIVE_HOME"] = str(home)
    if "QT_QPA_PLATFORM" not in os.environ:
        screens = home / "screens.json"
        screens.write_text(json.dumps({"screens": [{"name": "desktop", "x": 0, "y": 0, "width": DESKTOP[0],
                                                    "height": DESKTOP[1], "logicalDpi": 96}]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    import torch

    from app import weights
    from app.engine import Stylizer
    from app.live.pipeline import LiveOptions
    from app.styles import StyleLibrary
    from app.ui.app import application, build_window
    from app.ui.state import UiState
    from models.decoder import CONV_INDICES, decoder

    make_stylizer = None  # the Model choice is live only for the shipped models, as in the real window
    if args.decoder or weights.DEFAULT_DECODER.is_file():
        stylizer = Stylizer.create(decoder=args.decoder, model=args.model)
        if not args.decoder:
            def make_stylizer(model: str) -> Stylizer:
                return Stylizer.create(model=model)
    else:
        torch.manual_seed(0)
        print("the trained decoder is not in the checkout: using a random one (noise-like pictures)")
        net = decoder()
        with torch.no_grad():  # spread the random output around mid-grey so the layout is visible
            net[CONV_INDICES[-1]].weight.mul_(12.0)
            net[CONV_INDICES[-1]].bias.fill_(0.5)
        stylizer = Stylizer(weights.default_encoder(), net, "cpu", torch.float32, stats_dir=home / "stats")

    library = StyleLibrary()
    if not library.all() and args.styles_dir.is_dir():  # populate the gallery like a user would
        for img in sorted(args.styles_dir.glob("*.jpg"))[:8]:
            library.add(img)
    names = library.names()
    app = application()
    state = UiState(styles=names[:1], overlay=True, size=args.size if args.size == "auto" else int(args.size))
    window = build_window(stylizer, LiveOptions(source=args.source), library, state, save_on_close=False,
                          make_stylizer=make_stylizer)
    window.resize(window.default_size())  # the first window a user sees on a screen that holds it
    print(f"window at its default size: {window.width()}x{window.height()}")
    window.show()
    args.out.mkdir(parents=True, exist_ok=True)

    def pump(seconds: float, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            if until is not None and until():
                return
            time.sleep(0.01)

    def wait_frames(n: int, timeout: float = 120.0) -> None:
        start = window.results_seen
        pump(timeout, lambda: window.results_seen >= start + n)

    def shot(name: str, widget=None) -> Path:
        window.refresh_status()
        pump(0.1)
        path = args.out / f"live-{name}.png"
        (widget or window).grab().save(str(path))
        print(path)
        return path

    wait_frames(4)
    if args.only_capture:
        capture_shot(window, args, pump, wait_frames)
        window.close()
        shutil.rmtree(home, ignore_errors=True)
        return 0
    pump(15.0)  # let auto size settle (it starts at 160 px and steps up) and the FPS figures with it
    window.refresh_status()
    pump(0.1)
    args.readme_shot.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.readme_shot))
    print(args.readme_shot)
    shot("main")
    capture_shot(window, args, pump, wait_frames)

    window.set_view("side by side")
    wait_frames(2)
    shot("side-by-side")
    window.set_view("stylized")

    if len(names) >= 2:
        window.select_styles(names[:2])
        wait_frames(3)
        shot("mix")

    window.start_recording(home / "shot.mp4")
    wait_frames(3)
    shot("recording")
    window.stop_recording()

    window.show_help()
    pump(0.3)
    shot("help", window._help)  # noqa: SLF001 - the dialog the key opened
    window._help.close()  # noqa: SLF001

    window.set_source_spec("7")  # no such camera: the message page
    pump(3.0, lambda: window.stack.currentWidget() is window.message)
    shot("no-camera")
    window.close()
    shutil.rmtree(home, ignore_errors=True)
    return 0


def capture_shot(window, args, pump, wait_frames) -> None:
    """C with a picture in front of the camera (an image source standing in for a print held up to
    it), then back to the video: the new style is selected in the gallery and paints the video."""
    overlay = window.controls.overlay_check.isChecked()
    window.set_overlay(False)
    window.set_source_spec(args.held_up)  # stops the video's capture thread first
    seen = window.pipeline.feed.count
    pump(60.0, lambda: window.pipeline.feed.count > seen)  # the held-up picture has arrived
    style = window.capture_style()
    assert style is not None, window.statusBar().currentMessage()
    window.set_source_spec(args.source)
    pump(120.0, lambda: [s.name for s in window.pipeline.styles] == [style.name])
    wait_frames(3)
    window.say(f"New style {style.name} from the camera (kept in your styles folder)", 0)
    pump(0.5)
    args.capture_shot.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.capture_shot))
    print(args.capture_shot)
    window.set_overlay(overlay)


if __name__ == "__main__":
    sys.exit(main())
