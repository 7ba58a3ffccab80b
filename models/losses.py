"""The AdaIN training objective (Huang & Belongie 2017, eq. 11-13).

loss = ||f(g(t)) - t||^2 at relu4_1  +  lambda * sum_i ( ||mu(phi_i(g(t))) - mu(phi_i(s))||^2
                                                        + ||sigma(phi_i(g(t))) - sigma(phi_i(s))||^2 )
over relu1_1, relu2_1, relu3_1, relu4_1. Statistics in fp32 (see models.adain).

Reconstruction batches (image in = image out, as WCT trains its decoders) add a pixel term
and feature terms at every tap: the paper's relu4_1-only content term gives the pixels weak
gradients, so on its own it teaches the decoder to invert the encoder slowly.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from models.adain import FeatureStats, calc_mean_std


def content_loss(output_feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the output's relu4_1 features and the AdaIN target."""
    return F.mse_loss(output_feat.float(), target.float())


def style_loss(output_taps: Sequence[torch.Tensor],
               style: Sequence[torch.Tensor] | Sequence[FeatureStats]) -> torch.Tensor:
    """Sum over layers of the mean/std distances (per sample and channel, averaged). ``style``:
    the style's taps, or their statistics computed beforehand (all the loss needs of them)."""
    total = torch.zeros((), device=output_taps[0].device)
    for out, sty in zip(output_taps, style, strict=True):
        o, s = calc_mean_std(out), sty if isinstance(sty, FeatureStats) else calc_mean_std(sty)
        total = total + F.mse_loss(o.mean, s.mean) + F.mse_loss(o.std, s.std)
    return total


def reconstruction_loss(image: torch.Tensor, source: torch.Tensor, output_taps: Sequence[torch.Tensor],
                        source_taps: Sequence[torch.Tensor], pixel_weight: float = 1.0) -> torch.Tensor:
    """Feature MSE at every tap, each relative to the source's mean square there (so no layer's
    scale dominates), plus ``pixel_weight`` times the pixel MSE relative to the source's variance."""
    total = pixel_weight * F.mse_loss(image.float(), source.float()) / source.float().var().clamp_min(1e-4)
    for out, src in zip(output_taps, source_taps, strict=True):
        src = src.float()
        total = total + F.mse_loss(out.float(), src) / src.pow(2).mean().clamp_min(1e-6)
    return total
