"""The AdaIN decoder: a mirror of the encoder, in pytorch-AdaIN's ``decoder.pth`` layout.

29 entries (indices 0..28; conv weights at 1, 5, 8, 11, 14, 18, 21, 25, 28, exactly
the keys of the published file): every conv is ReflectionPad2d(1) + Conv2d 3x3, nearest x2 upsampling
replaces each pooling, and the last conv (64->3) has no ReLU. ``width`` scales the
hidden channels to build the slim decoders of the fast model (width 1.0 is the
published architecture). :class:`SkipDecoder` wraps one to add the content's shallower taps.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.adain import calc_mean_std
from models.vgg import TAPS

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


# The content taps a skip decoder adds back, deepest first, and the index of the upsampling in
# ``decoder()`` after which each tap's resolution is reached.
SKIP_TAPS: tuple[str, ...] = ("relu3_1", "relu2_1")
SKIP_TAP_INDICES: tuple[int, ...] = tuple(list(TAPS).index(t) for t in SKIP_TAPS)  # in ``Encoder.taps``' list
_SKIP_AFTER: tuple[int, ...] = (3, 16)


def skip_features(taps: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A skip decoder's inputs among an encoder's four taps (``Encoder.taps``)."""
    return tuple(taps[i] for i in SKIP_TAP_INDICES)


class SkipDecoder(nn.Module):
    """A decoder that also sees the content's structure: the encoder's relu3_1 and relu2_1,
    instance-normalised (the photo's own feature statistics, its style, taken out), each added
    after the upsampling that reaches its resolution through a 1x1 conv.

    For the fast student, whose 128-channel relu4_1 carries too little of the photo for the decoder
    to redraw it: the skips cost ~0.15 GFLOP at 320x427 against the decoder's 4.3. The 1x1 convs
    start at zero, so a skip decoder made from a trained plain one starts as that one.

    ``modulated``: each normalised skip is first scaled and shifted per channel by a linear map of
    the AdaIN target's own mean and std (the style's relu4_1 statistics at alpha 1), so how much of
    the photo's structure comes through, and in which channels, can follow the painting. The map
    starts at zero (scale 1, shift 0): a modulated decoder grown from a skip decoder starts as it.
    """

    def __init__(self, body: nn.Sequential, skip_channels: Sequence[int], modulated: bool = False) -> None:
        super().__init__()
        if len(skip_channels) != len(SKIP_TAPS):
            raise ValueError(f"need channels for {len(SKIP_TAPS)} skips ({', '.join(SKIP_TAPS)}), got {skip_channels}")
        self.body = body
        # the conv two entries before each upsampling (pad, conv, relu, up) sets its channels
        self.skips = nn.ModuleList(nn.Conv2d(c, body[after - 2].out_channels, 1)
                                   for c, after in zip(skip_channels, _SKIP_AFTER, strict=True))
        self.modulation = nn.Linear(2 * body[1].in_channels, 2 * sum(skip_channels)) if modulated else None
        for layer in [*self.skips, *([self.modulation] if modulated else [])]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def skip_channels(self) -> list[int]:
        return [conv.in_channels for conv in self.skips]

    @property
    def modulated(self) -> bool:
        return self.modulation is not None

    def forward(self, target: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        films = self._films(target) if self.modulation is not None else [None] * len(self.skips)
        at = dict(zip(_SKIP_AFTER, zip(self.skips, skips, films, strict=True)))
        x = target
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in at:
                conv, feat, film = at[i]
                structure = _normalised(feat, x.shape[-2:])
                if film is not None:
                    structure = structure * film[0] + film[1]
                x = x + conv(structure.to(x.dtype))
        return x

    def _films(self, target: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each skip's per-channel (scale, shift), (N, C, 1, 1) in fp32, from the target's statistics."""
        assert self.modulation is not None
        stats = calc_mean_std(target)
        z = torch.cat([stats.mean, stats.std], dim=1).flatten(1)
        out = self.modulation(z.to(self.modulation.weight.dtype)).float()[..., None, None]
        films = []
        for c in self.skip_channels:
            films.append((1.0 + out[:, :c], out[:, c:2 * c]))
            out = out[:, 2 * c:]
        return films


def _normalised(feat: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Instance normalisation in fp32 (as AdaIN's statistics), at the decoder's size there (they
    differ by a cell only where an odd side met a ceil-mode pooling)."""
    stats = calc_mean_std(feat)
    out = (feat.float() - stats.mean) / stats.std
    return out if out.shape[-2:] == size else F.interpolate(out, size=tuple(size), mode="nearest")


def decode(net: nn.Module, target: torch.Tensor, skips: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """Run a plain decoder (``skips`` unused) or a :class:`SkipDecoder`."""
    return net(target, skips) if isinstance(net, SkipDecoder) else net(target)
