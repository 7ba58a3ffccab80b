"""The kiosk playlist, as a pure function of time (no threads, no Qt, no sleeping): styles change on
schedule; a cross-fade walks through intermediate mixes of the CACHED statistics with no jump between
frames and no re-encoding; alpha glides, colour mode switches half-way; shuffling never repeats a
painting back to back; captions fade."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from app.engine import Settings
from app.kiosk.playlist import Playlist, PlaylistEntry, caption_opacity, ease
from kiosk_fixtures import cached_entries, micro_stylizer
from models.adain import mix_stats

FPS = 10.0
CROSSFADE = 1.5
MAX_STEP = 1.5 / CROSSFADE / FPS  # smoothstep's steepest slope (1.5) times one frame's share of the fade


def entries3(colors=("none", "none", "none")) -> list[PlaylistEntry]:
    return [PlaylistEntry("a", 4.0, 1.0, colors[0], "A, Artist A"), PlaylistEntry("b", 3.0, 0.6, colors[1], "B"),
            PlaylistEntry("c", 5.0, 0.8, colors[2], "C")]


def mix_vector(state, ids=("a", "b", "c")) -> np.ndarray:
    """The frame's style mix as one weight per style (sums to 1)."""
    w = dict.fromkeys(ids, 0.0)
    weights = state.weights or (1.0,)
    for sid, x in zip(state.styles, weights):
        w[sid] += x / sum(weights)
    return np.array([w[i] for i in ids])


def frames(playlist: Playlist, seconds: float, fps: float = FPS):
    return [playlist.state_at(k / fps) for k in range(int(seconds * fps) + 1)]


def test_styles_change_on_schedule_with_a_fade_at_the_end_of_each():
    p = Playlist(entries3(), crossfade=CROSSFADE)
    assert p.cycle_seconds == 12.0
    assert p.state_at(0.0).styles == ("a",) and p.state_at(2.4).styles == ("a",)  # a alone until 4 - 1.5
    mid = p.state_at(4.0 - CROSSFADE / 2)
    assert mid.styles == ("a", "b") and mid.weights == pytest.approx((0.5, 0.5))
    assert p.state_at(4.0).styles == ("b",) and p.state_at(5.4).styles == ("b",)
    assert p.state_at(6.0).styles == ("b", "c")
    assert p.state_at(11.0).styles == ("c", "a")  # the last fades into the first of the next round
    assert p.state_at(12.0).styles == ("a",) and p.state_at(12.0 + 4.0).styles == ("b",)
    assert p.state_at(-5.0).styles == ("a",)  # before the start: the first style


def test_a_crossfade_passes_through_intermediate_weights_without_jumps():
    p = Playlist(entries3(), crossfade=CROSSFADE)
    states = frames(p, 2 * p.cycle_seconds)
    vectors = [mix_vector(s) for s in states]
    for prev, cur in zip(vectors, vectors[1:]):
        assert np.abs(cur - prev).max() <= MAX_STEP + 1e-9  # no jump between consecutive frames
        assert abs(cur.sum() - 1.0) < 1e-9
    fades = [s.fade for s in states if 0.0 < s.fade < 1.0]
    assert len(fades) >= 6 * (CROSSFADE * FPS - 2)  # six fades in two rounds, each seen on ~15 frames
    # within each fade the incoming weight rises monotonically through many intermediate values
    for start in (2.5, 5.5, 10.5):  # fade starts: 4 - 1.5, 7 - 1.5, 12 - 1.5
        ws = [p.state_at(start + k / FPS).fade for k in range(int(CROSSFADE * FPS))]  # up to the next slot
        assert ws[0] == 0.0 and all(b > a for a, b in zip(ws[1:], ws[2:]))
        assert sum(0.05 < w < 0.95 for w in ws) >= 10
    # alpha glides too: never more than one frame's share of the difference
    alphas = [s.alpha for s in states]
    assert max(abs(b - a) for a, b in zip(alphas, alphas[1:])) <= MAX_STEP * 0.4 + 1e-9
    assert min(alphas) == pytest.approx(0.6) and max(alphas) == pytest.approx(1.0)


def test_the_mixed_cached_statistics_move_smoothly_and_nothing_is_encoded(tmp_path, media):
    stylizer = micro_stylizer(tmp_path)
    entries = cached_entries(stylizer)
    encodes = []
    real = stylizer.encode_stats
    stylizer.encode_stats = lambda x: encodes.append(1) or real(x)  # counts any (re-)encoding from now on
    p = Playlist(entries, crossfade=CROSSFADE)
    a, b = (stylizer.style_stats(e.style_id) for e in entries[:2])
    span = float(torch.linalg.norm(b.mean - a.mean))
    assert span > 1e-3  # the two paintings really differ
    prev = None
    distances = []
    fade_start = entries[0].seconds - CROSSFADE
    for k in range(int((fade_start - 0.5) * FPS), int((entries[0].seconds + 0.5) * FPS)):
        s = p.settings_at(k / FPS, Settings(size=32))
        stats = mix_stats([stylizer.style_stats(i) for i in s.styles], s.weights or (1.0,))
        if prev is not None:
            assert float(torch.linalg.norm(stats.mean - prev.mean)) <= MAX_STEP * span * 1.0001  # no jump
        distances.append(float(torch.linalg.norm(stats.mean - a.mean)))
        prev = stats
    assert distances[0] == 0.0 and distances[-1] == pytest.approx(span, rel=1e-5)
    assert all(y >= x - 1e-6 for x, y in zip(distances, distances[1:]))  # monotonic from a to b
    assert sum(0.1 * span < d < 0.9 * span for d in distances) >= 8  # through intermediate statistics
    # the engine stylizes every fade frame from those cached statistics: real pictures, never black
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    outs = [stylizer.stylize(frame, p.settings_at(t, Settings(size=32))) for t in (2.0, 3.25, 4.5)]
    assert all(o.mean() > 20 for o in outs)
    assert np.abs(outs[1].astype(int) - outs[0]).mean() > 0.5 and np.abs(outs[1].astype(int) - outs[2]).mean() > 0.5
    assert encodes == []


def test_settings_keep_the_base_and_are_valid():
    p = Playlist(entries3(("none", "luminance", "none")), crossfade=CROSSFADE)
    base = Settings(size=64)
    for t in np.arange(0.0, 24.0, 0.05):
        s = p.settings_at(float(t), base)
        s.validate()
        assert s.size == 64
    # a colour mode cannot be interpolated: it switches half-way through the fade
    assert p.settings_at(4.0 - 0.76).color == "none" and p.settings_at(4.0 - 0.74).color == "luminance"


def test_the_palette_glides_across_a_fade_and_the_models_default_switches_half_way():
    p = Playlist([PlaylistEntry("a", 3.0, palette=0.2), PlaylistEntry("b", 3.0, palette=0.8),
                  PlaylistEntry("c", 3.0)], crossfade=1.0)
    assert p.settings_at(1.0).palette == 0.2 and p.settings_at(3.5).palette == 0.8
    assert p.settings_at(2.5).palette == pytest.approx(0.5)  # half-way through the a -> b fade
    glide = [p.state_at(2.0 + k / FPS).palette for k in range(int(FPS) + 1)]
    assert all(b >= a for a, b in zip(glide, glide[1:]))
    assert max(np.diff(glide)) <= 1.5 / 1.0 / FPS * 0.6 + 1e-9  # smoothstep's steepest slope, this fade, 0.2 -> 0.8
    # into an entry that leaves it to the model (None): the engine's default from half-way
    assert p.settings_at(5.4).palette == 0.8 and p.settings_at(5.6).palette is None


def test_the_same_painting_twice_in_a_row_only_moves_alpha():
    p = Playlist([PlaylistEntry("a", 3.0, 1.0), PlaylistEntry("a", 3.0, 0.2)], crossfade=1.0)
    for t in np.arange(0.0, 6.0, 0.1):
        s = p.state_at(float(t))
        assert s.styles == ("a",) and s.weights == ()
    assert p.state_at(2.5).alpha == pytest.approx(0.6)


def test_a_single_style_never_fades():
    p = Playlist([PlaylistEntry("a", 5.0, 0.7, "histogram", "A")], crossfade=2.0)
    for t in (0.0, 4.9, 5.0, 1e6):
        s = p.state_at(t)
        assert (s.styles, s.weights, s.alpha, s.color, s.fade) == (("a",), (), 0.7, "histogram", 0.0)
        assert s.caption_left == math.inf


def test_shuffle_is_a_fresh_order_each_round_without_back_to_back_repeats():
    entries = [PlaylistEntry(str(i), 2.0) for i in range(5)]
    p = Playlist(entries, crossfade=0.5, shuffle=True, seed=7)
    orders = [p.order(c) for c in range(60)]
    assert all(sorted(o) == list(range(5)) for o in orders)
    assert len({tuple(o) for o in orders}) > 10
    assert all(prev[-1] != cur[0] for prev, cur in zip(orders, orders[1:]))
    seq = [p.state_at(t + 1.0).styles[0] for t in np.arange(0.0, 60 * 10.0, 2.0)]  # mid-slot samples
    assert all(x != y for x, y in zip(seq, seq[1:]))
    assert Playlist(entries, 0.5, True, seed=7).order(3) == p.order(3)  # pure: same seed, same order
    assert [Playlist(entries, 0.5, True, seed=s).order(0) for s in range(5)] != [p.order(0)] * 5


def test_the_caption_follows_the_dominant_painting_and_fades():
    p = Playlist(entries3(), crossfade=CROSSFADE)
    assert p.state_at(3.2).caption == "A, Artist A" and p.state_at(3.3).caption == "B"
    hold = 5.0
    assert caption_opacity(p.state_at(0.0), hold) == 0.0  # fades in at start
    assert caption_opacity(p.state_at(1.5), hold) == 1.0
    assert caption_opacity(p.state_at(3.24), hold) < 0.05  # nearly gone when the next one takes over
    assert caption_opacity(p.state_at(3.26), hold) < 0.05
    assert caption_opacity(p.state_at(4.5), hold) == 1.0
    long = Playlist([PlaylistEntry("a", 60.0, caption="A"), PlaylistEntry("b", 60.0, caption="B")], 1.5)
    assert caption_opacity(long.state_at(10.0), hold) == 0.0  # gone after `hold` seconds
    assert caption_opacity(long.state_at(10.0), 0.0) == 1.0  # hold 0: stays
    values = [caption_opacity(p.state_at(k / FPS), hold) for k in range(240)]
    assert max(abs(b - a) for a, b in zip(values, values[1:])) <= 1.0 / FPS + 1e-9  # fades, never blinks


def test_ease_is_smooth_and_bounded():
    xs = np.linspace(-0.5, 1.5, 401)
    ys = [ease(float(x)) for x in xs]
    assert ys[0] == 0.0 and ys[-1] == 1.0 and ease(0.5) == 0.5
    assert all(b >= a for a, b in zip(ys, ys[1:]))
    assert max(b - a for a, b in zip(ys, ys[1:])) <= 1.5 * (xs[1] - xs[0]) + 1e-12


def test_bad_playlists_are_refused():
    with pytest.raises(ValueError):
        Playlist([], 1.0)
    with pytest.raises(ValueError):
        Playlist([PlaylistEntry("a", 1.0), PlaylistEntry("b", 3.0)], crossfade=1.0)


def test_entries_without_a_palette_get_the_running_models_default(tmp_path):
    from types import SimpleNamespace

    from app.kiosk.config import KioskConfig, PlaylistItem
    from app.kiosk.run import prepare_entries
    from app.rules import PALETTE_DEFAULTS
    from kiosk_fixtures import micro_stylizer

    stylizer = micro_stylizer(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    resolved = [(PlaylistItem(name, palette=palette), SimpleNamespace(path=tmp_path / name, caption="", name=name),
                 image) for name, palette in (("a", 0.3), ("b", None))]
    entries = prepare_entries(stylizer, resolved, KioskConfig())
    assert [e.palette for e in entries] == [0.3, PALETTE_DEFAULTS[stylizer.model]]
