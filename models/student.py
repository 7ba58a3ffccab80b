"""The fast student: VGG-19 to relu4_1 at a quarter of its widths (Collaborative Distillation,
Wang et al., CVPR 2020, applied to AdaIN).

Same layout as the teacher (``models.vgg``), so the same ``Encoder`` wraps it and the same
decoder builder mirrors it (``models.decoder.decoder(width, in_channels)``). It starts from
the teacher's own filters (those with the largest L1 norm) and learns to reproduce the
teacher's four taps through 1x1 maps: a feature regression, cheap and fast to converge.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.vgg import Encoder, conv_layers, vgg_normalised

STUDENT_WIDTH = 0.25  # 16/32/64/128 channels at relu1_1..relu4_1


def student_encoder(width: float = STUDENT_WIDTH) -> Encoder:
    """An untrained student encoder (trainable: gradients on)."""
    return Encoder(vgg_normalised(width=width)).requires_grad_(True)


@torch.no_grad()
def prune_from(teacher: Encoder, student: Encoder) -> None:
    """Initialise each student conv from the teacher filters with the largest L1 norm, restricted
    to the input channels the previous layer kept (the colour 1x1 conv is copied whole)."""
    kept_in: torch.Tensor | None = None
    for (_, t), (_, s) in zip(conv_layers(teacher.body), conv_layers(student.body), strict=True):
        w = t.weight if kept_in is None else t.weight[:, kept_in]
        keep = w.abs().sum(dim=(1, 2, 3)).topk(s.out_channels).indices.sort().values
        s.weight.copy_(w[keep])
        s.bias.copy_(t.bias[keep])
        kept_in = keep


class FeatureMaps(nn.Module):
    """1x1 convs from the student's taps to the teacher's channels (training only)."""

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int]) -> None:
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student_channels, teacher_channels, strict=True))

    def forward(self, taps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self.maps, taps, strict=True)]


def distillation_loss(mapped: Sequence[torch.Tensor], teacher_taps: Sequence[torch.Tensor]) -> torch.Tensor:
    """MSE to the teacher at every tap, each relative to the teacher's mean square there (so that
    relu4_1's large activations do not drown relu1_1), summed: 4 for maps that output zeros."""
    total = torch.zeros((), device=mapped[0].device)
    for out, ref in zip(mapped, teacher_taps, strict=True):
        ref = ref.float()
        total = total + F.mse_loss(out.float(), ref) / ref.pow(2).mean().clamp_min(1e-6)
    return total
