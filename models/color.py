"""Colour preservation, the two forms users know (Gatys et al., "Preserving Color in Neural
Artistic Style Transfer", 2016). Images are float RGB tensors in [0, 1], shape (N, 3, H, W).

- Luminance-only: stylize, then keep the content's chroma (YCbCr, BT.601).
- Colour-statistics matching: recolour the *style* image so its RGB mean and covariance
  equal the content's, then stylize with it.
"""
from __future__ import annotations

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
    pixels = rgb.float().reshape(3, -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    cov = centred @ centred.T / max(1, pixels.shape[1] - 1) + eps * torch.eye(3, device=rgb.device)
    return mean, cov


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov.double())
    vals = vals.clamp_min(1e-10)
    power = -0.5 if inverse else 0.5
    return (vecs @ torch.diag(vals ** power) @ vecs.T).float()


def match_color(source: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor) -> torch.Tensor:
    """Affinely recolour ``source`` so its RGB mean/covariance equal the target's.

    x' = C_t^1/2 C_s^-1/2 (x - mu_s) + mu_t, the symmetric ("image analogies") form.
    """
    shape = source.shape
    mean_s, cov_s = color_stats(source)
    transform = _sqrtm(target_cov) @ _sqrtm(cov_s, inverse=True)
    pixels = source.float().reshape(3, -1)
    out = transform @ (pixels - mean_s[:, None]) + target_mean[:, None]
    return out.reshape(shape).clamp(0.0, 1.0)
