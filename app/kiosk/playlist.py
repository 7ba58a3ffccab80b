"""The kiosk's style timeline: which cached style(s), mixed how, at time t. Pure and clock-free.

A cross-fade between two paintings is a walk along the straight line between their
cached relu4_1 statistics (``models.adain.mix_stats`` with weights (1 - w, w)): every
frame of the fade is a real AdaIN image of an intermediate style, so there is no black
frame and nothing is encoded while it runs (only style ids already in the engine's cache
are used). ``w`` follows a smoothstep so the change starts and ends gently; its steepest
slope is 1.5 / crossfade per second, which bounds the change between two frames.

Timing: entry k is on screen for its ``seconds``; the fade into the next entry takes the
last ``crossfade`` seconds of that time. The schedule is a pure function of t (the
shuffled order of cycle c depends only on the seed and c), so any t can be asked for in
any order, and tests need no threads and no sleeping.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Sequence

from app.engine import Settings


@dataclass(frozen=True)
class PlaylistEntry:
    """One style on the timeline, by its engine style id (statistics already cached)."""

    style_id: str
    seconds: float
    alpha: float = 1.0
    color: str = "none"
    caption: str = ""
    name: str = ""  # the style's name (what a remote control asks for)
    palette: float | None = None  # pull to the painting's colours (None: the model's default)


@dataclass(frozen=True)
class PlaylistState:
    """What to show at one moment."""

    styles: tuple[str, ...]  # one style, or (outgoing, incoming) during a fade
    weights: tuple[float, ...]  # () for one style, (1 - w, w) during a fade
    alpha: float
    color: str
    palette: float | None
    index: int  # the dominant entry (the incoming one once the fade is half-way)
    fade: float  # eased weight w of the incoming style; 0 outside fades
    caption: str  # the dominant entry's caption
    caption_age: float  # seconds since the dominant entry became dominant
    caption_left: float  # seconds until it stops being dominant (inf: never)


def ease(x: float) -> float:
    """Smoothstep: 0 -> 1 with zero slope at both ends, steepest (1.5) in the middle."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


class Playlist:
    """Styles cycled every few seconds with smooth cross-fades; optionally shuffled per cycle."""

    def __init__(self, entries: Sequence[PlaylistEntry], crossfade: float = 1.5, shuffle: bool = False,
                 seed: int = 0) -> None:
        if not entries:
            raise ValueError("a playlist needs at least one entry")
        if crossfade < 0:
            raise ValueError(f"crossfade must be >= 0, got {crossfade}")
        if len(entries) > 1 and any(e.seconds <= crossfade for e in entries):
            raise ValueError("every entry must last longer than the cross-fade")
        self.entries = tuple(entries)
        self.crossfade = float(crossfade)
        self.shuffle = shuffle and len(self.entries) > 2  # two entries alternate whatever the order
        self.seed = seed
        self.cycle_seconds = sum(e.seconds for e in self.entries)

    # ------------------------------------------------------------------ schedule

    def _raw_order(self, cycle: int) -> list[int]:
        order = list(range(len(self.entries)))
        if self.shuffle:
            random.Random(f"{self.seed}:{cycle}").shuffle(order)
        return order

    def order(self, cycle: int) -> list[int]:
        """The entry order of cycle ``cycle``; shuffled cycles never repeat the last style of the previous one."""
        order = self._raw_order(cycle)
        if self.shuffle and cycle > 0 and order[0] == self._raw_order(cycle - 1)[-1]:
            order[0], order[1] = order[1], order[0]  # touches neither end of a >2 list but the first
        return order

    def _slot(self, t: float) -> tuple[int, int, float, int]:
        """(entry index, its slot start time, its duration, next entry index) at time t."""
        cycle = int(t // self.cycle_seconds)
        start = cycle * self.cycle_seconds
        order = self.order(cycle)
        for pos, idx in enumerate(order):
            dur = self.entries[idx].seconds
            if t < start + dur or pos == len(order) - 1:
                nxt = order[pos + 1] if pos + 1 < len(order) else self.order(cycle + 1)[0]
                return idx, start, dur, nxt
            start += dur
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ jumps (remote control)

    def _start_at(self, t: float) -> tuple[float, int]:
        """The start time and entry index of the slot playing at ``t`` (a hair past a boundary
        counts as the next slot, so rounding never lands on the one before)."""
        idx, start, _dur, _nxt = self._slot(max(0.0, t) + 1e-6)
        return start, idx

    def jump(self, t: float, steps: int) -> float:
        """The start time of the slot ``steps`` slots after (negative: before) the one at ``t``.
        Back from the very first slot goes to the last slot of the first cycle."""
        start, _ = self._start_at(t)
        for _ in range(abs(steps)):
            if steps > 0:
                start = start + self._slot(start + 1e-6)[2]
            elif start > 1e-6:
                start = self._start_at(start - 2e-6)[0]
            else:
                start = self._start_at(self.cycle_seconds - 2e-6)[0]
        return start

    def next_start_of(self, t: float, index: int) -> float:
        """The start time of the first slot of entry ``index`` after the one playing at ``t``
        (the current one when nothing else comes first within two cycles)."""
        start, current = self._start_at(t)
        probe = start
        for _ in range(2 * len(self.entries)):
            probe = self.jump(probe, 1)
            if self._start_at(probe)[1] == index:
                return probe
        return start if current == index else probe

    # ------------------------------------------------------------------ state

    def state_at(self, t: float) -> PlaylistState:
        """The styles, mix weights, alpha, colour mode and caption at ``t`` seconds from the start."""
        t = max(0.0, float(t))
        if len(self.entries) == 1:
            e = self.entries[0]
            return PlaylistState((e.style_id,), (), e.alpha, e.color, e.palette, 0, 0.0, e.caption, t, math.inf)
        idx, start, dur, nxt = self._slot(t)
        a, b = self.entries[idx], self.entries[nxt]
        f = self.crossfade
        fade_start = start + dur - f
        w = ease((t - fade_start) / f) if f > 0 and t >= fade_start else 0.0
        half = f / 2.0
        if w < 0.5:
            # the very first painting has no fade-in: its caption's age counts from 0
            dominant, age, left = idx, t - (start - half if start > 0 else 0.0), start + dur - half - t
        else:
            dominant, age, left = nxt, t - (start + dur - half), start + dur + b.seconds - half - t
        d = self.entries[dominant]
        alpha = (1.0 - w) * a.alpha + w * b.alpha
        color = a.color if w < 0.5 else b.color  # a mode cannot be interpolated: switch half-way
        if a.palette is None or b.palette is None:  # the model's default is the engine's to pick
            palette = a.palette if w < 0.5 else b.palette
        else:
            palette = (1.0 - w) * a.palette + w * b.palette
        if w <= 0.0:
            styles, weights = (a.style_id,), ()
        elif a.style_id == b.style_id:
            styles, weights = (a.style_id,), ()  # the same painting again: only alpha moves
        else:
            styles, weights = (a.style_id, b.style_id), (1.0 - w, w)
        return PlaylistState(styles, weights, alpha, color, palette, dominant, w, d.caption, age, left)

    def settings_at(self, t: float, base: Settings | None = None) -> Settings:
        """``base`` (processing size, mask...) with the styles, weights, alpha, colour and palette of time ``t``."""
        s = self.state_at(t)
        return replace(base or Settings(), styles=s.styles, weights=s.weights, alpha=s.alpha,
                       color=s.color, palette=s.palette)  # type: ignore[arg-type]


def caption_opacity(state: PlaylistState, hold: float, ramp: float = 1.0) -> float:
    """Caption opacity: fades in as its painting takes over, out ``hold`` seconds later (0: stays)
    or as the next painting takes over, whichever comes first."""
    limits = [state.caption_age, state.caption_left]
    if hold > 0:
        limits.append(hold + ramp - state.caption_age)
    return max(0.0, min(1.0, min(limits) / ramp)) if ramp > 0 else 1.0
