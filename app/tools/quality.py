"""How good is a stylizer? The paper's losses, measured on *output images*, for any model.

Training measures its decoder through the graph; comparing against another model (the
peer, the published decoder, a fast student) needs the same numbers from pictures alone:
content loss = relu4_1 distance of the output to the AdaIN target AdaIN(f(c), f(s)), style
loss = mean/std distance at relu1_1..relu4_1 to the style (``models.losses``), both
through this project's fixed fp32 encoder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.adain import adain, calc_mean_std
from models.losses import content_loss, style_loss
from models.vgg import Encoder

RGBImage = np.ndarray
PairStylizer = Callable[[RGBImage, RGBImage], RGBImage]  # (content, style) -> output, content's size


def centre_square(rgb: RGBImage, size: int) -> torch.Tensor:
    """Centre square crop of an RGB uint8 image resized to ``size``: (1, 3, size, size) in [0, 1]."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    t = torch.from_numpy(np.ascontiguousarray(rgb[y:y + s, x:x + s])).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=s > size)


def to_rgb8(t: torch.Tensor) -> RGBImage:
    """(1, 3, H, W) in [0, 1] -> RGB uint8 (H, W, 3)."""
    return (t[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def psnr(output: RGBImage | torch.Tensor, reference: RGBImage | torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB: tensors in [0, 1], or RGB uint8 arrays."""
    if isinstance(output, torch.Tensor) and isinstance(reference, torch.Tensor):
        mse = float(F.mse_loss(output.float().clamp(0, 1), reference.float()))
    else:
        mse = float(np.mean((np.asarray(output, np.float64) - np.asarray(reference, np.float64)) ** 2)) / 255.0 ** 2
    return 10 * float(np.log10(1.0 / max(mse, 1e-10)))


class LossMeter:
    """Content and style loss of an output picture for a (content, style) pair."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder.float().eval()

    @torch.inference_mode()
    def __call__(self, content: RGBImage, style: RGBImage, output: RGBImage) -> tuple[float, float]:
        as_t = lambda a: torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
        style_taps = self.encoder.taps(as_t(style))
        target = adain(self.encoder(as_t(content)), calc_mean_std(style_taps[-1]))
        out_taps = self.encoder.taps(as_t(output))
        return float(content_loss(out_taps[-1], target)), float(style_loss(out_taps, style_taps))


@dataclass
class Score:
    """Mean losses of one model over all pairs, and its outputs (row-major: content, style)."""

    content: float
    style: float
    pairs: list[tuple[float, float]] = field(default_factory=list)
    outputs: list[RGBImage] = field(default_factory=list, repr=False)

    def beats(self, other: "Score") -> bool:
        """The quality bar: lower style loss and content loss no higher."""
        return self.style < other.style and self.content <= other.content


def compare(models: Mapping[str, PairStylizer], contents: Sequence[RGBImage], styles: Sequence[RGBImage],
            meter: LossMeter, size: int = 256,
            progress: Callable[[int, int], None] | None = None) -> dict[str, Score]:
    """Run every model on every (content, style) pair of ``size`` px centre squares and score it."""
    cs = [to_rgb8(centre_square(c, size)) for c in contents]
    ss = [to_rgb8(centre_square(s, size)) for s in styles]
    total, done = len(models) * len(cs) * len(ss), 0
    scores: dict[str, Score] = {}
    for name, model in models.items():
        pairs, outputs = [], []
        for c in cs:
            for s in ss:
                out = model(c, s)
                if out.shape != c.shape:
                    raise ValueError(f"{name} returned {out.shape} for a {c.shape} content")
                pairs.append(meter(c, s, out))
                outputs.append(out)
                done += 1
                if progress:
                    progress(done, total)
        arr = np.asarray(pairs)
        scores[name] = Score(float(arr[:, 0].mean()), float(arr[:, 1].mean()), pairs, outputs)
    return scores


def comparison_sheet(scores: Mapping[str, Score], contents: Sequence[RGBImage], styles: Sequence[RGBImage],
                     size: int = 256) -> RGBImage:
    """Top row: the styles; then, per content, one row per model (content in the first column)."""
    cs = [to_rgb8(centre_square(c, size)) for c in contents]
    ss = [to_rgb8(centre_square(s, size)) for s in styles]
    names = list(scores)
    rows = 1 + len(cs) * len(names)
    sheet = np.full((rows * size, (len(ss) + 1) * size, 3), 255, np.uint8)
    for j, s in enumerate(ss):
        sheet[:size, (j + 1) * size:(j + 2) * size] = s
    for i, c in enumerate(cs):
        for k, name in enumerate(names):
            r = 1 + i * len(names) + k
            sheet[r * size:(r + 1) * size, :size] = c
            for j in range(len(ss)):
                sheet[r * size:(r + 1) * size, (j + 1) * size:(j + 2) * size] = scores[name].outputs[i * len(ss) + j]
    return sheet
