"""Helpers for the kiosk tests: a real Stylizer on micro networks, and sessions built from it.

The kiosk tests exercise the real engine code (style statistics cached by ``add_style``,
mixing in ``transfer``, the worker, the capture thread) but need hundreds of frames in a
few seconds on a busy CPU, so the networks are a single 3x3 convolution each way instead
of VGG-19 and the trained decoder (the real networks are covered by the other suites).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from torch import nn

from app.live.capture import Backoff
from app.engine import Stylizer
from app.images import load_image
from app.kiosk.config import KioskConfig
from app.kiosk.playlist import PlaylistEntry
from app.kiosk.session import KioskSession
from live_fixtures import STYLE_FILES

FAST_BACKOFF = Backoff(initial=0.02, factor=2.0, maximum=0.1)


def micro_stylizer(tmp_path=None, seed: int = 0) -> Stylizer:
    """The real Stylizer with a 3->8 channel conv 'encoder' and an 8->3 conv + sigmoid 'decoder'."""
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    dec = nn.Sequential(nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid())
    with torch.no_grad():
        dec[0].weight.mul_(6.0)  # spread the output over the range: styles must show in the picture
    return Stylizer(enc, dec, "cpu", torch.float32, stats_dir=(tmp_path / "stats") if tmp_path else None,
                    style_size=64)


def cached_entries(stylizer, seconds=(4.0, 3.0, 5.0), alphas=(1.0, 0.6, 0.8), colors=("none",) * 3):
    """Playlist entries for the shared style images, their statistics cached in ``stylizer`` now."""
    entries = []
    for i, (sec, alpha, color) in enumerate(zip(seconds, alphas, colors)):
        sid = stylizer.add_style(load_image(STYLE_FILES[i % len(STYLE_FILES)]))
        entries.append(PlaylistEntry(sid, sec, alpha, color, f"Painting {i}, Artist {i} (190{i})"))
    return entries


class HangOnce:
    """Wraps a stylizer: call number ``on_call`` blocks until ``release`` is set (or ``hang`` s pass)."""

    def __init__(self, inner, on_call: int, hang: float = 30.0) -> None:
        self.inner = inner
        self.on_call = on_call
        self.hang = hang
        self.calls = 0
        self.release = threading.Event()
        self.hung = threading.Event()
        self.returned = threading.Event()
        self.hung_at = 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def stylize(self, frame: np.ndarray, settings=None, **options) -> np.ndarray:
        self.calls += 1
        if self.calls == self.on_call:
            self.hung_at = time.monotonic()
            self.hung.set()
            self.release.wait(self.hang)
            self.returned.set()
        return self.inner.stylize(frame, settings, **options)


def make_session(stylizer, source, config: KioskConfig | None = None, entries=None, **kw) -> KioskSession:
    config = config or KioskConfig(size=32, crossfade=0.2, interval=0.6)
    entries = entries or cached_entries(stylizer, seconds=(config.interval,) * 3)
    return KioskSession(config, stylizer, lambda: source, entries, backoff=FAST_BACKOFF, seed=1, **kw)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
