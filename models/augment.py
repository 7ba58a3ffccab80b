"""Style-crop augmentation for decoder training: unseen styles are what users bring.

A decoder only learns to invert the feature statistics it is shown, so style crops get a
wider spread of them than the paintings on disk hold: a new palette (hue, saturation,
contrast), a new stroke scale (``StyleAugment.zoom``, the crop zoom range the image bank
draws from) and a new texture (blur, sharpening or grain). Content crops, held-out images
and evaluation are never augmented. Images are float RGB tensors (N, 3, H, W) in [0, 1];
every random number comes from the ``torch.Generator`` passed in (a CPU one), drawn in a
fixed amount per call, so a seeded generator gives the same crops on any device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.color import rgb_to_ycbcr, ycbcr_to_rgb

ZOOM = (1.0, 3.0)  # the image bank's own range: short side scaled to [1, 3] x the crop size


def _uniform(gen: torch.Generator, n: int, k: int, device: torch.device) -> torch.Tensor:
    return torch.rand(n, k, generator=gen).to(device)


def palette(images: torch.Tensor, gen: torch.Generator, p: float, hue: float, saturation: float,
            contrast: float) -> torch.Tensor:
    """A fraction ``p`` of the images recoloured: chroma turned by up to ``hue`` radians either
    way and scaled by a factor in [1/saturation, saturation], luma contrast about its mean by
    one in [1/contrast, contrast] (log-uniform). A painting's palette becomes another plausible one."""
    n = images.shape[0]
    u = _uniform(gen, n, 4, images.device)
    chosen = u[:, 0] < p
    angle = (2 * u[:, 1] - 1) * hue
    sat = torch.exp((2 * u[:, 2] - 1) * math.log(saturation))
    con = torch.exp((2 * u[:, 3] - 1) * math.log(contrast))
    ycc = rgb_to_ycbcr(images)
    y, cb, cr = ycc[:, 0], ycc[:, 1], ycc[:, 2]
    cos, sin = (torch.cos(angle) * sat)[:, None, None], (torch.sin(angle) * sat)[:, None, None]
    mean = y.mean(dim=(1, 2), keepdim=True)
    turned = torch.stack([(y - mean) * con[:, None, None] + mean, cb * cos - cr * sin, cb * sin + cr * cos], 1)
    out = ycbcr_to_rgb(turned).clamp(0.0, 1.0)
    return torch.where(chosen[:, None, None, None], out, images)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, 3, H, W) blurred by a separable Gaussian (reflected edges): softer strokes."""
    radius = max(1, math.ceil(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=image.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(image.dtype)
    c = image.shape[1]
    out = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def texture(images: torch.Tensor, gen: torch.Generator, p: float, blur: float, sharpen: float,
            grain: float) -> torch.Tensor:
    """A fraction ``p`` of the images given one of three textures, equally likely: a Gaussian
    blur of sigma up to ``blur`` px, an unsharp mask of amount up to ``sharpen``, or monochrome
    grain of standard deviation up to ``grain`` (each at least half its maximum)."""
    n, _, h, w = images.shape
    u = _uniform(gen, n, 3, images.device)
    noise = torch.randn(n, 1, h, w, generator=gen).to(images.device, images.dtype)
    out = images.clone()
    for i in range(n):
        if float(u[i, 0]) >= p:
            continue
        kind, amount = int(float(u[i, 1]) * 3), 0.5 + 0.5 * float(u[i, 2])
        img = images[i:i + 1]
        if kind == 0 and blur > 0:
            out[i] = gaussian_blur(img, amount * blur)[0]
        elif kind == 1:
            out[i] = (img + amount * sharpen * (img - gaussian_blur(img, 1.0)))[0]
        elif kind == 2:
            out[i] = (img + amount * grain * noise[i])[0]
    return out.clamp(0.0, 1.0)


@dataclass(frozen=True)
class StyleAugment:
    """Every style augmentation at one ``strength`` in [0, 1] (0: off, crops exactly as before).

    At strength s: half of s of the crops recoloured (any hue at s = 1, saturation x/÷ 1+0.6s,
    contrast x/÷ 1+0.3s), the zoom range widened from [1, 3] to [1-0.5s, 3+2s] (finer and
    coarser strokes), and 0.3s of the crops textured (blur sigma up to 1.5s px, unsharp amount
    up to 1.5s, grain up to 0.04s).
    """

    strength: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"style augmentation strength must be in [0, 1], got {self.strength}")

    @property
    def on(self) -> bool:
        return self.strength > 0.0

    @property
    def zoom(self) -> tuple[float, float]:
        """The range of a crop's short side over the crop size (below 1: the whole image, mirrored to fill)."""
        s = self.strength
        return (ZOOM[0] - 0.5 * s, ZOOM[1] + 2.0 * s)

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Palette, then texture; the images themselves when off (and no random number drawn)."""
        if not self.on:
            return images
        s = self.strength
        images = palette(images, gen, p=0.5 * s, hue=math.pi * s, saturation=1 + 0.6 * s, contrast=1 + 0.3 * s)
        return texture(images, gen, p=0.3 * s, blur=1.5 * s, sharpen=1.5 * s, grain=0.04 * s)

    def describe(self) -> str:
        return f"styles augmented at {self.strength:g} (palette, stroke scale, texture)"
