"""Detail-preserving upsampling: run the network below display resolution, then give the
picture back the fine detail that downsampling took from the content.

The stylized picture is upsampled bilinearly and the content's *luminance* detail (the
full frame minus its own down-then-up-sampled copy, a Laplacian band) is added on top.
Luminance only, so the style's palette stays untouched; the band is zero-mean, so the
style's statistics are unchanged at the scale the network worked at. Images are float
RGB tensors in [0, 1], shape (N, 3, H, W).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # BT.601, as models.color


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W)."""
    r, g, b = rgb.float().unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def upsample_with_detail(stylized: torch.Tensor, content_full: torch.Tensor, content_small: torch.Tensor,
                         gain: float = 1.0) -> torch.Tensor:
    """``stylized`` (at ``content_small``'s size) brought to ``content_full``'s size.

    gain 0 is plain bilinear upsampling; 1 restores the content's lost luminance detail
    at full strength.
    """
    size = content_full.shape[-2:]
    up = F.interpolate(stylized.float(), size=size, mode="bilinear", align_corners=False)
    if gain == 0.0 or content_small.shape[-2:] == size:
        return up
    blurred = F.interpolate(content_small.float(), size=size, mode="bilinear", align_corners=False)
    detail = luminance(content_full) - luminance(blurred)
    return up.add_(detail, alpha=gain).clamp_(0.0, 1.0)
