"""AdaIN maths (models.adain): statistics, transfer, alpha, mixing, masks, fp16 safety.

Tolerances: statistics of an AdaIN output match the target statistics to 1e-4 (absolute
for means, relative for stds); the only expected deviation is the 1e-5 epsilon inside
the std, which moves the std by O(eps / std) ~ 1e-5 for the unit-scale features used.
"""
from __future__ import annotations

import math

import pytest
import torch

from models.adain import (EPS, FeatureStats, adain, adain_masked, blend_alpha, blend_stats, calc_mean_std,
                          masked_mean_std, mix_stats, resize_mask)

TOL = 1e-4


def features(seed: int, shape=(2, 8, 12, 10), dtype=torch.float32) -> torch.Tensor:
    """Random features whose channels all have different means and stds."""
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    scale = torch.linspace(0.5, 3.0, c).view(1, c, 1, 1)
    shift = torch.linspace(-2.0, 5.0, c).view(1, c, 1, 1) * (1 + seed % 3)
    return (torch.randn(shape, generator=g) * scale + shift).to(dtype)


def assert_stats_close(actual: FeatureStats, expected: FeatureStats, tol: float = TOL) -> None:
    torch.testing.assert_close(actual.mean, expected.mean.expand_as(actual.mean), rtol=0, atol=tol)
    torch.testing.assert_close(actual.std, expected.std.expand_as(actual.std), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- statistics


def test_calc_mean_std_matches_reference():
    f = features(0)
    stats = calc_mean_std(f)
    assert stats.mean.shape == stats.std.shape == (2, 8, 1, 1)
    ref = f.double()
    ref_mean = ref.mean(dim=(2, 3), keepdim=True)
    ref_std = (ref.var(dim=(2, 3), unbiased=False, keepdim=True) + EPS).sqrt()
    torch.testing.assert_close(stats.mean.double(), ref_mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(stats.std.double(), ref_std, rtol=1e-5, atol=0)


def test_calc_mean_std_gives_the_same_statistics_with_and_without_gradients():
    """Frames take a two-pass variance, training torch.var (for its backward): one answer, and it
    differentiates."""
    f = features(1, (2, 16, 40, 56)).relu() * 200 + 3  # relu4_1-like: non-negative, values in the hundreds
    plain = calc_mean_std(f)
    leaf = f.clone().requires_grad_(True)
    tracked = calc_mean_std(leaf)
    torch.testing.assert_close(tracked.mean.detach(), plain.mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(tracked.std.detach(), plain.std, rtol=1e-5, atol=0)
    tracked.std.sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


def test_calc_mean_std_rejects_non_4d():
    with pytest.raises(ValueError, match="N, C, H, W"):
        calc_mean_std(torch.zeros(3, 4, 4))


def test_fp16_statistics_are_computed_in_fp32_without_overflow():
    # relu4_1-like activations around 300: their squares (~9e4) exceed fp16's max (65504),
    # so a variance computed in fp16 would overflow.
    g = torch.Generator().manual_seed(3)
    f16 = (300.0 + 40.0 * torch.randn(1, 16, 20, 20, generator=g)).clamp_min(0).half()
    assert torch.isinf(f16 * f16).any(), "premise: fp16 squares must overflow for this test to matter"
    stats = calc_mean_std(f16)
    assert stats.mean.dtype == stats.std.dtype == torch.float32
    assert torch.isfinite(stats.mean).all() and torch.isfinite(stats.std).all()
    ref = f16.double()
    torch.testing.assert_close(stats.mean.double(), ref.mean(dim=(2, 3), keepdim=True), rtol=1e-5, atol=0)
    ref_std = (ref.var(dim=(2, 3), unbiased=False, keepdim=True) + EPS).sqrt()
    torch.testing.assert_close(stats.std.double(), ref_std, rtol=1e-4, atol=0)
    assert 30 < float(stats.std.mean()) < 50

    m = masked_mean_std(f16, torch.ones(1, 1, 20, 20))
    assert torch.isfinite(m.std).all()
    torch.testing.assert_close(m.std.double(), ref_std, rtol=1e-4, atol=0)


def test_adain_on_fp16_features_is_fp32_and_finite():
    content = (300.0 + 40.0 * torch.randn(1, 16, 20, 20, generator=torch.Generator().manual_seed(4))).half()
    style = calc_mean_std(features(5, (1, 16, 9, 9)) * 100)
    out = adain(content, style)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert_stats_close(calc_mean_std(out), style, tol=1e-2)


# ----------------------------------------------------------------------------- adain


def test_adain_output_has_style_statistics():
    content, style_feat = features(1), features(2, (2, 8, 7, 9))
    style = calc_mean_std(style_feat)
    out = adain(content, style)
    assert out.shape == content.shape and out.dtype == torch.float32
    assert_stats_close(calc_mean_std(out), style)
    # ... and keeps the content's spatial structure: per channel an increasing affine map.
    for n in range(2):
        for c in range(8):
            pair = torch.stack([content[n, c].flatten(), out[n, c].flatten()])
            assert float(torch.corrcoef(pair)[0, 1]) > 0.9999


def test_adain_with_given_content_stats_equals_default():
    content, style = features(1), calc_mean_std(features(2))
    torch.testing.assert_close(adain(content, style, calc_mean_std(content)), adain(content, style))


def test_adain_of_constant_content_is_style_mean():
    content = torch.full((1, 4, 6, 6), 3.0)
    style = calc_mean_std(features(7, (1, 4, 5, 5)))
    out = adain(content, style)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, style.mean.expand_as(out))


# ----------------------------------------------------------------------------- alpha


def test_blend_alpha_zero_returns_content_exactly():
    content = features(1)
    target = adain(content, calc_mean_std(features(2)))
    assert torch.equal(blend_alpha(target, content, 0.0), content)


def test_blend_alpha_one_returns_adain_target():
    content = features(1)
    target = adain(content, calc_mean_std(features(2)))
    assert torch.equal(blend_alpha(target, content, 1.0), target)


def test_blend_alpha_interpolates_in_fp32():
    content = features(1).half()
    target = adain(content, calc_mean_std(features(2)))
    out = blend_alpha(target, content, 0.25)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, 0.25 * target + 0.75 * content.float())


@pytest.mark.parametrize("alpha", [-0.01, 1.01, 2.0, math.nan, math.inf])
def test_blend_alpha_rejects_invalid_alpha(alpha):
    content = features(1)
    with pytest.raises(ValueError, match="alpha"):
        blend_alpha(content, content, alpha)


# ----------------------------------------------------------------------------- mixing


def test_mix_stats_one_zero_is_first_style_alone():
    a, b = calc_mean_std(features(1)), calc_mean_std(features(2))
    mixed = mix_stats([a, b], [1.0, 0.0])
    torch.testing.assert_close(mixed.mean, a.mean, rtol=0, atol=1e-7)
    torch.testing.assert_close(mixed.std, a.std, rtol=0, atol=1e-7)


def test_mix_stats_equal_weights_average():
    a, b = calc_mean_std(features(1)), calc_mean_std(features(2))
    assert not torch.allclose(a.mean, b.mean)
    for weights in ([0.5, 0.5], [3.0, 3.0]):  # weights are normalised to sum 1
        mixed = mix_stats([a, b], weights)
        torch.testing.assert_close(mixed.mean, (a.mean + b.mean) / 2)
        torch.testing.assert_close(mixed.std, (a.std + b.std) / 2)


def test_mix_stats_unequal_weights_and_blend_stats():
    a, b = calc_mean_std(features(1)), calc_mean_std(features(2))
    mixed = mix_stats([a, b], [3.0, 1.0])
    torch.testing.assert_close(mixed.mean, 0.75 * a.mean + 0.25 * b.mean)
    torch.testing.assert_close(blend_stats(a, b, 0.0).std, a.std)
    torch.testing.assert_close(blend_stats(a, b, 1.0).std, b.std)
    torch.testing.assert_close(blend_stats(a, b, 0.3).mean, 0.7 * a.mean + 0.3 * b.mean)


def test_adain_with_mixed_stats_has_the_mixed_statistics():
    a, b = calc_mean_std(features(1)), calc_mean_std(features(2))
    mixed = mix_stats([a, b], [0.7, 0.3])
    assert_stats_close(calc_mean_std(adain(features(3), mixed)), mixed)


@pytest.mark.parametrize("weights", [[], [1.0], [1.0, 2.0, 3.0], [-1.0, 2.0], [0.0, 0.0]])
def test_mix_stats_rejects_bad_weights(weights):
    a, b = calc_mean_std(features(1)), calc_mean_std(features(2))
    stats = [] if weights == [] else [a, b]
    with pytest.raises(ValueError):
        mix_stats(stats, weights)


# ----------------------------------------------------------------------------- masks


def _half_mask(h: int, w: int) -> torch.Tensor:
    m = torch.zeros(h, w)
    m[:, : w // 2] = 1.0
    return m


def test_adain_masked_two_styles_one_per_region():
    content = features(1, (1, 8, 12, 16))
    a, b = calc_mean_std(features(2, (1, 8, 9, 9))), calc_mean_std(features(3, (1, 8, 9, 9)))
    mask = _half_mask(12, 16)
    out = adain_masked(content, a, b, mask)
    assert out.shape == content.shape and torch.isfinite(out).all()
    inside = masked_mean_std(out, mask[None, None])
    outside = masked_mean_std(out, 1 - mask[None, None])
    assert_stats_close(inside, a)
    assert_stats_close(outside, b)
    # Direct check on the pixels: the left half alone has A's statistics.
    assert_stats_close(calc_mean_std(out[..., :8]), a)
    assert_stats_close(calc_mean_std(out[..., 8:]), b)


def test_adain_masked_without_outside_style_keeps_content_outside():
    content = features(1, (1, 8, 12, 16))
    a = calc_mean_std(features(2, (1, 8, 9, 9)))
    mask = _half_mask(12, 16)
    out = adain_masked(content, a, None, mask)
    assert torch.equal(out[..., 8:], content[..., 8:])
    assert_stats_close(calc_mean_std(out[..., :8]), a)
    assert not torch.allclose(out[..., :8], content[..., :8])


def test_adain_masked_resizes_a_larger_mask():
    content = features(1, (1, 8, 12, 16))
    a = calc_mean_std(features(2, (1, 8, 9, 9)))
    big = _half_mask(48, 64)  # 4x the feature resolution: area-resized to exactly half
    small = resize_mask(big, (12, 16))
    assert small.shape == (1, 1, 12, 16)
    torch.testing.assert_close(small[0, 0], _half_mask(12, 16))
    out = adain_masked(content, a, None, big)
    assert torch.equal(out[..., 8:], content[..., 8:])
    assert_stats_close(calc_mean_std(out[..., :8]), a)


def test_masked_mean_std_matches_plain_stats_on_the_region():
    f = features(4, (1, 8, 10, 10))
    w = torch.zeros(1, 1, 10, 10)
    w[..., 2:7, 3:9] = 1
    got = masked_mean_std(f, w)
    ref = calc_mean_std(f[..., 2:7, 3:9].contiguous())
    torch.testing.assert_close(got.mean, ref.mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.std, ref.std, rtol=1e-5, atol=1e-6)
