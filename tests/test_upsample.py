"""Detail-preserving upsampling: the small path's answer to 'no blocky upscaling'."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.color import rgb_to_ycbcr
from models.upsample import upsample_with_detail


def textured(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bilinear")
    return (0.7 * base + 0.3 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def down(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    return F.interpolate(x, scale_factor=1 / factor, mode="bilinear", antialias=True)


def test_gain_zero_is_plain_bilinear():
    full = textured()
    small = down(full)
    stylized = torch.rand_like(small)
    plain = F.interpolate(stylized, size=full.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.equal(upsample_with_detail(stylized, full, small, gain=0.0), plain)


def test_detail_brings_back_what_downsampling_lost():
    full = textured()
    small = down(full)
    bilinear = upsample_with_detail(small, full, small, gain=0.0)
    detailed = upsample_with_detail(small, full, small, gain=1.0)
    y = lambda t: rgb_to_ycbcr(t)[:, :1]  # noqa: E731
    err_plain = float((y(bilinear) - y(full)).abs().mean())
    err_detail = float((y(detailed) - y(full)).abs().mean())
    assert err_detail < 0.2 * err_plain  # luminance detail restored (up to clamping)


def test_only_luminance_changes_so_the_style_palette_stays():
    full = textured(seed=1)
    small = down(full)
    stylized = 0.25 + 0.5 * torch.rand_like(small)  # mid-range: no clamping
    plain = upsample_with_detail(stylized, full, small, gain=0.0)
    detailed = upsample_with_detail(stylized, full, small, gain=0.5)
    chroma = lambda t: rgb_to_ycbcr(t)[:, 1:]  # noqa: E731
    assert torch.allclose(chroma(detailed), chroma(plain), atol=1e-5)
    assert not torch.allclose(detailed, plain)
    # the added band is zero-mean: the picture's mean colour is unchanged
    assert np.allclose(detailed.mean(dim=(2, 3)), plain.mean(dim=(2, 3)), atol=5e-3)


def test_same_size_is_a_no_op():
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(upsample_with_detail(x, x, x), x)
