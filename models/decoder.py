"""The AdaIN decoder: a mirror of the encoder, in pytorch-AdaIN's ``decoder.pth`` layout.

29 entries (indices 0..28; conv weights at 1, 5, 8, 11, 14, 18, 21, 25, 28, exactly
the keys of the published file): every conv is ReflectionPad2d(1) + Conv2d 3x3, nearest x2 upsampling
replaces each pooling, and the last conv (64->3) has no ReLU. ``width`` scales the
hidden channels to build the slim decoders of the fast model (width 1.0 is the
published architecture).
"""
from __future__ import annotations

from torch import nn

DECODER_LENGTH = 29
CONV_INDICES = (1, 5, 8, 11, 14, 18, 21, 25, 28)


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU()] if relu else layers


def decoder(width: float = 1.0, in_channels: int = 512) -> nn.Sequential:
    """Decoder from relu4_1 features (``in_channels``) back to RGB in about [0, 1]."""
    c256, c128, c64 = (max(8, int(round(c * width))) for c in (256, 128, 64))
    up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
    layers: list[nn.Module] = [
        *_conv(in_channels, c256), up(),
        *_conv(c256, c256), *_conv(c256, c256), *_conv(c256, c256),
        *_conv(c256, c128), up(),
        *_conv(c128, c128), *_conv(c128, c64), up(),
        *_conv(c64, c64), *_conv(c64, 3, relu=False),
    ]
    return nn.Sequential(*layers)
