"""The fast student: VGG-19 to relu4_1 at a quarter of its widths (Collaborative Distillation,
Wang et al., CVPR 2020, applied to AdaIN).

Same layout as the teacher (``models.vgg``), so the same ``Encoder`` wraps it and the same
decoder builder mirrors it (``models.decoder.decoder(width, in_channels)``). It starts from
the teacher's own filters (those with the largest L1 norm) and learns to reproduce the
teacher's four taps through 1x1 maps: a feature regression, cheap and fast to converge.
"""
from __future__ import annotations

import copy
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


def widened_to(student: Encoder) -> int | None:
    """relu4_1's channels when wider than the student's width gives them (``widen_deepest``), else None."""
    first, deepest = student.channels[0], student.channels[-1]
    return None if deepest == 8 * first else deepest  # VGG: 64 at relu1_1, 512 at relu4_1


@torch.no_grad()
def widen_deepest(student: Encoder, decoder: nn.Sequential, channels: int,
                  gen: torch.Generator | None = None) -> tuple[Encoder, nn.Sequential]:
    """The same pair with ``channels`` at relu4_1 instead of the student's own, painting the same
    pictures: the new filters are random (at the scale of the old ones), and the decoder's first conv
    reads them through zero weights, so training alone decides what they carry.

    relu4_1 is the one map AdaIN and the decoder see; at 1/8 of the picture's side its channels are
    cheap (each 128 more cost ~0.64 GFLOP at 320x427, conv4_1 and the decoder's first conv together).
    """
    convs = conv_layers(student.body)
    index, old = convs[-1]
    i, first = next((i, m) for i, m in enumerate(decoder) if isinstance(m, nn.Conv2d))
    if first.in_channels != old.out_channels:
        raise ValueError(f"the decoder reads {first.in_channels} channels, relu4_1 has {old.out_channels}")
    extra = channels - old.out_channels
    if extra <= 0:
        raise ValueError(f"relu4_1 has {old.out_channels} channels already; widening needs more")
    body = copy.deepcopy(student.body)
    conv = nn.Conv2d(old.in_channels, channels, 3)
    scale = old.weight.std()
    conv.weight.copy_(torch.cat([old.weight, scale * torch.randn(extra, *old.weight.shape[1:], generator=gen)]))
    conv.bias.copy_(torch.cat([old.bias, old.bias.mean().expand(extra)]))
    body[index] = conv
    widened = copy.deepcopy(decoder)
    reader = nn.Conv2d(channels, first.out_channels, 3)
    reader.weight.zero_()
    reader.weight[:, :first.in_channels] = first.weight
    reader.bias.copy_(first.bias)
    widened[i] = reader
    return Encoder(body), widened
