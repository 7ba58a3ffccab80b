"""Colour preservation, the two forms users know (Gatys et al., "Preserving Color in Neural
Artistic Style Transfer", 2016). Images are float RGB tensors in [0, 1], shape (N, 3, H, W).

- Luminance-only: stylize, then keep the content's chroma (YCbCr, BT.601).
- Colour-statistics matching: recolour the *style* image so its RGB mean and covariance
  equal the content's, then stylize with it.

And the opposite pull, towards the painting: the decoder matches the style's feature statistics
only so far (the fast student's 128-channel relu4_1 carries less colour than VGG's 512), so the
stylized picture is moved part of the way to its recolouring with the painting's RGB palette.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

_RGB_TO_YCBCR = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    m = _RGB_TO_YCBCR.to(rgb.device, torch.float32)
    return torch.einsum("ij,njhw->nihw", m, rgb.float())


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    m = _YCBCR_TO_RGB.to(ycc.device, torch.float32)
    return torch.einsum("ij,njhw->nihw", m, ycc.float())


def preserve_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylised`` with the chroma (Cb, Cr) of ``content`` (same size)."""
    s = rgb_to_ycbcr(stylised)
    c = rgb_to_ycbcr(content)
    return ycbcr_to_rgb(torch.cat([s[:, :1], c[:, 1:]], dim=1)).clamp(0.0, 1.0)


def color_stats(rgb: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB mean (3,) and covariance (3, 3) of a single image (1, 3, H, W) or (3, H, W), fp32."""
    mean, cov = batch_color_stats(rgb.reshape(1, 3, -1), eps)
    return mean[0], cov[0]


def batch_color_stats(rgb: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's RGB mean (N, 3) and covariance (N, 3, 3), fp32, of (N, 3, H, W) or (N, 3, pixels)."""
    pixels = rgb.float().reshape(rgb.shape[0], 3, -1)
    mean = pixels.mean(dim=2)
    centred = pixels - mean[..., None]
    cov = centred @ centred.mT / max(1, pixels.shape[2] - 1) + eps * torch.eye(3, device=rgb.device)
    return mean, cov


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """The symmetric square root (or its inverse) of covariances (..., 3, 3)."""
    vals, vecs = torch.linalg.eigh(cov.double())
    vals = vals.clamp_min(1e-10)
    power = -0.5 if inverse else 0.5
    return (vecs @ torch.diag_embed(vals ** power) @ vecs.mT).float()


def _recolouring(source_mean: torch.Tensor, source_cov: torch.Tensor, target_mean: torch.Tensor,
                 target_cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, b) such that T x + b = C_t^1/2 C_s^-1/2 (x - mu_s) + mu_t: the affine map that gives
    the source's colours the target's mean and covariance, in the symmetric ("image analogies") form."""
    transform = _sqrtm(target_cov) @ _sqrtm(source_cov, inverse=True)
    return transform, target_mean - (transform @ source_mean[..., None])[..., 0]


def _affine(rgb: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """matrix @ x + offset at every pixel of (N, 3, H, W) ``rgb``, clamped to [0, 1]; one matrix
    (3, 3) and offset (3,) for all, or one per image, (N, 3, 3) and (N, 3)."""
    n = rgb.shape[0]
    out = torch.einsum("nij,njhw->nihw", matrix.expand(n, 3, 3), rgb.float()) + offset.expand(n, 3)[..., None, None]
    return out.clamp_(0.0, 1.0)  # in place: no second picture per frame; autograd takes it (the add keeps no output)


def match_color(source: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor) -> torch.Tensor:
    """Affinely recolour ``source`` so its RGB mean/covariance equal the target's."""
    return _affine(source, *_recolouring(*color_stats(source), target_mean, target_cov))


class Palette(NamedTuple):
    """An image's RGB mean (3,) and covariance (3, 3), fp32: all palette matching needs of it (a
    batch's palettes, one per image, stack to (N, 3) and (N, 3, 3))."""

    mean: torch.Tensor
    cov: torch.Tensor


def palette_of(rgb: torch.Tensor) -> Palette:
    return Palette(*color_stats(rgb))


def mix_palettes(palettes: Sequence[Palette], weights: Sequence[float]) -> Palette:
    """The palette of the images' pixels pooled in proportion to ``weights`` (normalised)."""
    w = torch.tensor([float(x) for x in weights], dtype=torch.float32)
    w = w / w.sum()
    mean = sum(wi * p.mean for wi, p in zip(w.tolist(), palettes))
    second = sum(wi * (p.cov + torch.outer(p.mean, p.mean)) for wi, p in zip(w.tolist(), palettes))
    return Palette(mean, second - torch.outer(mean, mean))


PALETTE_FLOOR = 1e-3  # variance added to the picture's: a flat picture (std < ~0.03) is not blown up


def pull_palette(rgb: torch.Tensor, palette: Palette, strength: float) -> torch.Tensor:
    """``rgb`` (N, 3, H, W) moved ``strength`` (0..1) of the way to its recolouring with ``palette``
    (one for all, mean (3,) and covariance (3, 3), or one per picture, (N, 3) and (N, 3, 3)): one
    affine map per picture, (1 - k) x + k (T (x - mu_s) + mu_t), then clamped to [0, 1]. The map is
    read off the picture without gradient: a decoder trained through the pull sees a fixed recolouring."""
    if strength <= 0.0:
        return rgb
    with torch.autocast(rgb.device.type, enabled=False):  # colours in fp32, also inside a bf16 training step
        with torch.no_grad():
            picture = batch_color_stats(rgb[..., ::2, ::2], PALETTE_FLOOR)  # a quarter of the pixels: the same stats
            transform, offset = _recolouring(*picture, palette.mean, palette.cov)
            k = float(strength)
        return _affine(rgb, torch.lerp(torch.eye(3, device=rgb.device), transform, k), k * offset)
