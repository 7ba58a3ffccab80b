#!/usr/bin/env python3
"""Grab screenshots of the kiosk window, offscreen, to look at its states.

    python -m scripts.kiosk_screenshot [--source VIDEO] [--decoder PATH] [--size PX|auto] [--screen N] [--out DIR]

Runs the real kiosk window (fullscreen on a simulated screen) and saves, in OUT
(default /tmp/adain-kiosk-shots):
  kiosk-caption.png       the stylized video with the painting's caption faded in
  kiosk-crossfade.png     half-way through a cross-fade
  kiosk-reconnecting.png  the source lost: last good frame, dimmed, with the calm note
  kiosk-dark.png          outside active hours
Two simulated screens (1280x720 and 1920x1080) are configured unless QT_QPA_PLATFORM is
already set, so --screen 1 shows the kiosk filling the second one. Uses the trained decoder
when it exists, else a seeded random one (the picture is then noise-like, but the layout
is real). Runs in a private ADAIN_LIVE_HOME.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class LosableSource:
    """Wraps a source; while ``lost`` is set it delivers nothing and cannot be reopened."""

    def __init__(self, inner) -> None:
        self.inner, self.lost = inner, False
        self.name, self.fps = inner.name, inner.fps

    def open(self) -> None:
        from app.live.sources import SourceError

        if self.lost:
            raise SourceError("unplugged")
        self.inner.open()

    def read(self):
        return None if self.lost else self.inner.read()

    def close(self) -> None:
        self.inner.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(REPO.parent / "shared" / "media" / "video" / "cutBunny.mp4"))
    p.add_argument("--decoder", type=Path, help="decoder file (default: the shipped one, else random)")
    p.add_argument("--size", default="auto",
                   help="processing size: pixels or auto (default: auto, the kiosk's default)")
    p.add_argument("--screen", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "adain-kiosk-shots")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="adain-kiosk-shot-"))
    if "QT_QPA_PLATFORM" not in os.environ:
        screens = home / "screens.json"
        screens.write_text(json.dumps({"screens": [
            {"name": "wall-1", "x": 0, "y": 0, "width": 1280, "height": 720, "logicalDpi": 96},
            {"name": "wall-2", "x": 1280, "y": 0, "width": 1920, "height": 1080, "logicalDpi": 96}]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    cache = os.environ.get("ADAIN_LIVE_HOME")
    os.environ["ADAIN_LIVE_HOME"] = str(home)
    if cache:  # reuse the converted encoder of the caller's home (converting takes a while)
        for f in (Path(cache) / "cache").glob("v*-vgg_normalised_keras.pth"):
            (home / "cache").mkdir(parents=True, exist_ok=True)
            (home / "cache" / f.name).symlink_to(f)
    import torch

    from app import weights
    from app.live.sources import FileSource
    from app.engine import Stylizer
    from app.kiosk.config import ActiveHours, KioskConfig
    from app.kiosk.run import prepare_entries, resolve_playlist
    from app.kiosk.session import KioskSession
    from app.styles import StyleLibrary
    from app.ui.app import application
    from app.ui.kiosk_window import KioskWindow
    from models.decoder import CONV_INDICES, decoder

    if args.decoder or weights.DEFAULT_DECODER.is_file():
        stylizer = Stylizer.create(decoder=args.decoder)
    else:
        torch.manual_seed(0)
        print("the trained decoder is not in the checkout: using a random one (noise-like pictures)")
        net = decoder()
        with torch.no_grad():
            net[CONV_INDICES[-1]].weight.mul_(12.0)
            net[CONV_INDICES[-1]].bias.fill_(0.5)
        stylizer = Stylizer(weights.default_encoder(), net, "cpu", torch.float32, stats_dir=home / "stats")

    size = args.size if args.size == "auto" else int(args.size)
    config = KioskConfig(source=args.source, size=size, interval=12.0, crossfade=2.0, screen=args.screen,
                         active_hours=ActiveHours.parse("08:00-22:00"))
    resolved = resolve_playlist(config, StyleLibrary())[:3]
    entries = prepare_entries(stylizer, resolved, config)
    source = LosableSource(FileSource(args.source))
    frozen: list[float | None] = [None]  # the playlist clock, held still for the cross-fade shot
    local = [dt.time(12, 0)]
    session = KioskSession(config, stylizer, lambda: source, entries, seed=0,
                           clock=lambda: time.monotonic() if frozen[0] is None else frozen[0],
                           local_time=lambda: local[0])
    app = application()
    window = KioskWindow(session)
    session.start()
    window.show_kiosk()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"kiosk window on screen {args.screen}: {window.geometry().getRect()}, fullscreen {window.isFullScreen()}")

    def pump(seconds: float, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        pump(0.3)
        path = args.out / name
        window.grab().save(str(path))
        print(f"saved {path}")

    pump(120, until=lambda: window.view.has_frame and window.view.caption_opacity > 0.99)
    shot("kiosk-caption.png")
    frozen[0] = time.monotonic() - session.elapsed() + 12.0 - 1.0  # half-way through the first fade
    seq = window._seq  # noqa: SLF001
    pump(60, until=lambda: window._seq > seq + 1)  # noqa: SLF001
    shot("kiosk-crossfade.png")
    frozen[0] = None
    source.lost = True
    pump(60, until=lambda: window.view.note.startswith("Reconnecting"))
    shot("kiosk-reconnecting.png")
    local[0] = dt.time(23, 30)
    pump(10, until=lambda: window.view.dark)
    shot("kiosk-dark.png")
    window.request_exit("screenshots taken")
    return 0


if __name__ == "__main__":
    sys.exit(main())
