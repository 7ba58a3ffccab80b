"""The "normalised VGG-19" encoder that AdaIN uses, up to relu4_1.

The ``nn.Sequential`` index layout matches pytorch-AdaIN's published
``vgg_normalised.pth`` exactly, so that file loads unchanged (its entries past
relu4_1 are ignored). Index 0 is a 1x1 conv that folds RGB->BGR, the 0..255 scale
and the ImageNet mean subtraction, so the encoder takes RGB in [0, 1].
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

# Index of the ReLU after which each tap is taken, in the published layout.
TAPS: dict[str, int] = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30}
RELU4_1 = TAPS["relu4_1"]
ENCODER_LENGTH = RELU4_1 + 1  # entries 0..30
PUBLISHED_LENGTH = 53  # the published file continues to relu5_4

# (in, out) channels of the 3x3 convs up to relu4_1, "M" where a max-pool sits.
_PLAN: list[tuple[int, int] | str] = [
    (3, 64), (64, 64), "M",
    (64, 128), (128, 128), "M",
    (128, 256), (256, 256), (256, 256), (256, 256), "M",
    (256, 512),
]
# The published file's continuation after relu4_1 (only needed to load it strictly).
_PLAN_TAIL: list[tuple[int, int] | str] = [
    (512, 512), (512, 512), (512, 512), "M",
    (512, 512), (512, 512), (512, 512), (512, 512),
]


def _layers(plan: Iterable[tuple[int, int] | str], width: float = 1.0, deepest: int | None = None) -> list[nn.Module]:
    scaled = lambda c: c if c == 3 else max(4, round(c * width))  # noqa: E731
    layers: list[nn.Module] = []
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            cin, cout = item  # type: ignore[misc]
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(scaled(cin), scaled(cout), 3), nn.ReLU()]
    if deepest is not None:
        last = layers[-2]
        layers[-2] = nn.Conv2d(last.in_channels, deepest, 3)
    return layers


def vgg_normalised(full: bool = False, width: float = 1.0, deepest: int | None = None) -> nn.Sequential:
    """The encoder as an nn.Sequential in the published index layout.

    ``full=True`` builds all 53 entries (to relu5_4) as in ``vgg_normalised.pth``;
    the default stops at relu4_1 (index 30), all AdaIN needs. ``width`` scales every
    3x3 conv's channels (the fast student, ``models.student``), keeping the layout;
    ``deepest`` sets relu4_1's own (a widened student, ``models.student.widen_deepest``).
    """
    if full and (width != 1.0 or deepest is not None):
        raise ValueError("only the encoder to relu4_1 has slim variants")
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)] + _layers(_PLAN, width, deepest)
    if full:
        layers += _layers(_PLAN_TAIL)
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """VGG-19 to relu4_1 with taps at relu1_1, relu2_1, relu3_1, relu4_1.

    ``forward`` returns relu4_1 only (inference); ``taps`` returns all four (training losses).
    Frozen: a student (``models.student``) turns its gradients back on to be trained.
    """

    def __init__(self, body: nn.Sequential | None = None) -> None:
        super().__init__()
        body = body if body is not None else vgg_normalised()
        if len(body) < ENCODER_LENGTH:
            raise ValueError(f"encoder needs {ENCODER_LENGTH} layers, got {len(body)}")
        self.body = nn.Sequential(*list(body)[:ENCODER_LENGTH])
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def channels(self) -> list[int]:
        """Channels at relu1_1, relu2_1, relu3_1, relu4_1 (64, 128, 256, 512 for VGG-19)."""
        return [self.body[i - 1].out_channels for i in TAPS.values()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at relu1_1, relu2_1, relu3_1, relu4_1, in that order."""
        out: list[torch.Tensor] = []
        stops = set(TAPS.values())
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in stops:
                out.append(x)
        return out


def conv_layers(body: nn.Sequential) -> list[tuple[int, nn.Conv2d]]:
    """(index, conv) pairs of an encoder body, in order."""
    return [(i, m) for i, m in enumerate(body) if isinstance(m, nn.Conv2d)]
