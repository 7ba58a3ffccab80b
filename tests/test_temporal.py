"""Temporal warping error and the causal stabiliser, on small synthetic sequences."""
from __future__ import annotations

import numpy as np
import pytest

from app.live.temporal import TemporalStabilizer, WarpingError, consistent, warp
from live_fixtures import tiny_stylizer  # noqa: F401  (a fixture)


def _scene(t: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A textured background with a bright square moving 3 px right per frame."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    frame = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8)).astype(np.uint8)
    frame = (frame * 0.6 + 40).astype(np.uint8)
    x = 10 + 3 * t
    frame[30:60, x:x + 30] = (250, 240, 30)
    return frame


def _flicker(frames: list[np.ndarray], amount: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        noise = rng.integers(-amount, amount + 1, f.shape[:2] + (1,))
        out.append(np.clip(f.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out


def _error(content: list[np.ndarray], stylized: list[np.ndarray]) -> float:
    metric = WarpingError()
    for c, s in zip(content, stylized):
        metric.update(c, s)
    return metric.value


def test_metric_is_zero_for_a_static_video() -> None:
    frame = _scene(0)
    frames = [frame.copy() for _ in range(5)]
    assert _error(frames, frames) == pytest.approx(0.0, abs=1e-9)


def test_metric_grows_with_injected_flicker() -> None:
    content = [_scene(t) for t in range(8)]
    errors = [_error(content, _flicker(content, amount)) for amount in (0, 12, 40)]
    assert errors[0] < 5e-3  # moving content, warped by its own flow: near the floor
    assert errors[0] < errors[1] < errors[2]
    assert errors[2] > 3 * errors[0]


def test_warp_follows_the_flow() -> None:
    image = np.zeros((20, 30), np.float32)
    image[5, 10] = 1.0
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 4.0  # every pixel looks 4 px to the right
    assert warp(image, flow)[5, 6] == pytest.approx(1.0)


def test_consistency_flags_mismatched_flow() -> None:
    back = np.zeros((10, 10, 2), np.float32)
    fwd = np.zeros((10, 10, 2), np.float32)
    back[..., 0] = 3.0
    fwd[..., 0] = -3.0  # undoes the backward flow: consistent
    assert consistent(back, fwd).all()
    fwd[..., 0] = 3.0  # adds to it: occluded / wrong
    assert not consistent(back, fwd).any()


def test_stabiliser_lowers_flicker() -> None:
    content = [_scene(t) for t in range(10)]
    flickering = _flicker(content, 24)
    stabilizer = TemporalStabilizer()  # default strength
    steady = [stabilizer(c, s) for c, s in zip(content, flickering)]
    before, after = _error(content, flickering), _error(content, steady)
    assert after < 0.6 * before


def test_strength_zero_reproduces_per_frame_output_exactly() -> None:
    content = [_scene(t) for t in range(4)]
    flickering = _flicker(content, 24)
    stabilizer = TemporalStabilizer(strength=0.0)
    for c, s in zip(content, flickering):
        out = stabilizer(c, s)
        assert out is s or np.array_equal(out, s)


def test_no_ghost_trail_behind_a_moving_object() -> None:
    """Where the square was but no longer is, the output must show background, not the square."""
    content = [_scene(t) for t in range(8)]
    stabilizer = TemporalStabilizer()  # default strength
    outs = [stabilizer(c, c) for c in content]
    last = outs[-1].astype(int)
    # Columns 10..20 held the square at t=0 but show the background at t=7.
    uncovered = last[30:60, 12:20]
    truth = content[-1][30:60, 12:20].astype(int)
    # Naive blending (no occlusion or photometric checks) leaves ~12 levels here.
    assert np.abs(uncovered - truth).mean() < 8


def test_invalid_strength_is_refused() -> None:
    with pytest.raises(ValueError):
        TemporalStabilizer(strength=1.5)


class _Frames:
    """Never used: the worker's stabiliser is driven directly below."""

    def read(self, after: int = 0, timeout: float | None = None):
        return None


class _Replay:
    """A stand-in stylizer that returns prepared outputs in order (it leaves the feature filter
    unused; the picture filter sees each output, as the engine's would)."""

    def __init__(self, outputs: list[np.ndarray]) -> None:
        self.outputs = list(outputs)

    def stylize(self, frame: np.ndarray, settings=None, features=None, picture=None) -> np.ndarray:
        out = self.outputs.pop(0)
        return picture(out) if picture is not None else out


def test_engine_worker_stabilises_and_resets_on_a_style_change() -> None:
    from app.engine import Settings
    from app.live.worker import EngineWorker

    content = [_scene(t) for t in range(6)]
    flickering = _flicker(content, 24)
    worker = EngineWorker(stylizer=_Replay(flickering * 3), frames=_Frames())  # type: ignore[arg-type]
    a, b = Settings(styles=("a",)), Settings(styles=("b",))
    worker.set_stabilize(0.0)
    assert worker.stabilize == 0.0
    assert all(np.array_equal(worker._stylize(c, a), s) for c, s in zip(content, flickering))
    worker.set_stabilize(0.9)
    assert worker.stabilize == pytest.approx(0.9)
    steady = [worker._stylize(c, a) for c in content]
    assert _error(content, steady) < 0.6 * _error(content, flickering)
    # A new painting is a cut: the first frame after it is the new output itself, unblended.
    assert np.array_equal(worker._stylize(content[-1], b), flickering[0])


# ---------------------------------------------------------------------------- the feature stage


def test_warp_features_follows_the_flow_and_zero_flow_is_identity() -> None:
    import torch

    from models.temporal import warp_features

    x = torch.zeros(1, 2, 6, 9)
    x[0, :, 3, 5] = 1.0
    flow = torch.zeros(6, 9, 2)
    assert torch.equal(warp_features(x, flow), x)
    flow[..., 0] = 2.0  # every cell looks 2 cells to the right
    assert warp_features(x, flow)[0, 0, 3, 3] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        warp_features(x, torch.zeros(5, 9, 2))


def test_steady_blend_keeps_the_targets_channel_statistics() -> None:
    import torch

    from models.adain import calc_mean_std
    from models.temporal import steady_blend

    gen = torch.Generator().manual_seed(0)
    target = torch.randn(1, 8, 10, 12, generator=gen) * 3 + 1
    previous = torch.randn(1, 8, 10, 12, generator=gen)  # decorrelated: a plain average shrinks the std
    weight = torch.full((1, 1, 10, 12), 0.7)
    out = steady_blend(target, previous, weight)
    want, got = calc_mean_std(target), calc_mean_std(out)
    assert torch.allclose(got.mean, want.mean, atol=1e-4) and torch.allclose(got.std, want.std, atol=1e-4)
    plain = torch.lerp(target, previous, weight)
    assert (calc_mean_std(plain).std < 0.8 * want.std).all()  # what the re-normalisation undoes
    assert torch.equal(steady_blend(target, previous, torch.zeros_like(weight)), target)


class _FeatureStylizer:
    """Stands in for the engine: 'decodes' the (filtered) target by repeating its cells 8x (the
    picture filter unused: these tests look at the feature stage)."""

    def __init__(self, targets: list) -> None:
        self.targets = list(targets)
        self.seen: list = []

    def stylize(self, frame: np.ndarray, settings=None, features=None, picture=None) -> np.ndarray:
        target = self.targets.pop(0)
        h, w = frame.shape[:2]
        if features is not None:
            target = features(target, (-(-h // 8), -(-w // 8)))  # every cell holds the picture
        self.seen.append(target)
        cells = target[0, :3].clamp(0, 255).permute(1, 2, 0).numpy()
        return np.kron(cells, np.ones((8, 8, 1))).astype(np.uint8)[:h, :w]


def test_the_feature_stage_steadies_the_decoder_input_and_keeps_its_statistics() -> None:
    import torch

    from models.adain import calc_mean_std

    content = [np.full((96, 128, 3), 120, np.uint8) for _ in range(6)]  # a still scene: every cell trusted
    gen = torch.Generator().manual_seed(1)
    base = torch.rand(1, 4, 12, 16, generator=gen) * 200 + 20
    targets = [base + torch.randn(1, 4, 12, 16, generator=gen) * 20 for _ in content]  # flickering targets
    model = _FeatureStylizer(targets)
    stabilizer = TemporalStabilizer()
    for c in content:
        stabilizer.stylize(model, c, None)
    jitter_in = float(torch.stack([t - base for t in targets[1:]]).std())
    jitter_out = float(torch.stack([t - base for t in model.seen[1:]]).std())
    assert jitter_out < 0.7 * jitter_in  # steadier input to the decoder
    for t, seen in zip(targets, model.seen):  # ... with each frame's own channel statistics
        assert torch.allclose(calc_mean_std(seen).std, calc_mean_std(t).std, rtol=1e-3)


def test_strength_zero_runs_the_model_untouched() -> None:
    import torch

    targets = [torch.rand(1, 3, 12, 16) * 255 for _ in range(3)]
    model = _FeatureStylizer(targets)
    stabilizer = TemporalStabilizer(strength=0.0)
    frame = np.zeros((96, 128, 3), np.uint8)
    outs = [stabilizer.stylize(model, frame, None) for _ in targets]
    assert all(torch.equal(seen, t) for seen, t in zip(model.seen, targets))
    assert all(np.array_equal(o, _FeatureStylizer([t]).stylize(frame)) for o, t in zip(outs, targets))


def test_a_change_of_processing_size_is_a_cut_not_an_error() -> None:
    import torch

    frame = np.full((96, 128, 3), 100, np.uint8)
    model = _FeatureStylizer([torch.rand(1, 3, 12, 16) * 255, torch.rand(1, 3, 6, 8) * 255])
    stabilizer = TemporalStabilizer()
    stabilizer.stylize(model, frame, None)
    target = model.targets[0].clone()
    stabilizer.stylize(model, frame, None)  # another feature grid: taken as it is
    assert torch.equal(model.seen[-1], target)


def test_the_engine_runs_the_feature_stage(tiny_stylizer) -> None:
    """Through the real engine: stabilised frames differ from per-frame ones, have the same
    size, and flicker less on a jittered still sequence."""
    from app.engine import Settings

    rng = np.random.default_rng(3)
    base = _scene(0, 64, 96)
    frames = [np.clip(base.astype(int) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8) for _ in range(5)]
    sid = tiny_stylizer.add_style(_scene(2, 64, 64)[::-1].copy())
    settings = Settings(styles=(sid,))
    plain = [tiny_stylizer.stylize(f, settings) for f in frames]
    stabilizer = TemporalStabilizer()
    steady = [stabilizer.stylize(tiny_stylizer, f, settings) for f in frames]
    assert np.array_equal(steady[0], plain[0])  # nothing to blend with yet
    assert all(s.shape == f.shape for s, f in zip(steady, frames))
    assert _error(frames, steady) < _error(frames, plain)
