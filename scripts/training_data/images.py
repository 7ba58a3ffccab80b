"""Image operations: loading, resizing, crops, colour variants, pattern tiling; seeded randomness."""
from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
from PIL import Image

from .common import SEED, SHORT_SIDE

Image.MAX_IMAGE_PIXELS = None  # the sources are trusted system files, some of them very large


def item_rng(item_id: str, salt: str = ""):
    return np.random.default_rng([SEED, zlib.crc32((item_id + "|" + salt).encode())])


def open_rgb(path_or_bytes, background=(255, 255, 255)):
    im = Image.open(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes)
    im.load()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, background + (255,))
        bg.alpha_composite(im)
        im = bg
    return im.convert("RGB")


def resize_short(im: "Image.Image", short: int = SHORT_SIDE) -> "Image.Image":
    w, h = im.size
    s = short / min(w, h)
    size = (max(short, round(w * s)), max(short, round(h * s)))
    if size == (w, h):
        return im
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def limit_short(im: "Image.Image", short: int = 2 * SHORT_SIDE) -> "Image.Image":
    """Downscale (never upscale) so the short side is at most ``short`` (faster variants)."""
    return resize_short(im, short) if min(im.size) > short else im


def resize_long(im: "Image.Image", long: int) -> "Image.Image":
    w, h = im.size
    if max(w, h) <= long:
        return im
    s = long / max(w, h)
    return im.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS, reducing_gap=3.0)


def random_crop_box(rng, w: int, h: int, side_min: float, side_max: float):
    """(box, description) of a crop whose short side is in [side_min, side_max] pixels."""
    side_max = min(side_max, min(w, h))
    side_min = min(side_min, side_max)
    s = float(rng.uniform(side_min, side_max))
    aspect = float(rng.choice([1.0, 4 / 3, 3 / 4, 3 / 2, 2 / 3]))
    cw, ch = (s * aspect, s) if aspect >= 1 else (s, s / aspect)
    cw, ch = int(min(cw, w)), int(min(ch, h))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return (x, y, x + cw, y + ch)


def n_content_crops(short: int) -> int:
    for limit, n in ((2000, 6), (1400, 5), (1000, 4), (700, 3), (560, 2), (480, 1)):
        if short >= limit:
            return n
    return 0


def to_hsv(im: "Image.Image"):
    a = np.asarray(im, np.float32) / 255.0
    return cv2.cvtColor(a, cv2.COLOR_RGB2HSV)  # H in degrees, S and V in [0, 1]


def from_hsv(hsv) -> "Image.Image":
    rgb = cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)
    return Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))


def color_jitter(im, hue=0.0, sat=1.0, val=1.0, contrast=1.0, gamma=1.0):
    hsv = to_hsv(im)
    hsv[..., 0] = (hsv[..., 0] + hue) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 1)
    v = np.clip(hsv[..., 2] * val, 0, 1)
    if contrast != 1.0:
        m = float(v.mean())
        v = np.clip((v - m) * contrast + m, 0, 1)
    if gamma != 1.0:
        v = v ** gamma
    hsv[..., 2] = v
    return from_hsv(hsv)


def channel_shuffle(im, order):
    a = np.asarray(im)
    return Image.fromarray(np.ascontiguousarray(a[..., list(order)]))


def painting_variant(im: "Image.Image", rng, k: int) -> tuple["Image.Image", str]:
    """Variant k (1..) of a painting: colour changes and/or a random scale + crop."""
    desc = []
    kind = k % 7
    w, h = im.size
    if kind in (1, 4, 5, 0):  # scale + crop
        frac = float(rng.uniform(0.55, 0.85))
        box = random_crop_box(rng, w, h, frac * min(w, h), frac * min(w, h))
        im = im.crop(box)
        desc.append(f"crop {box}")
    if kind in (2, 5):  # small hue rotation + saturation jitter
        hue = float(rng.uniform(20, 70)) * float(rng.choice([-1, 1]))
        sat = float(rng.uniform(0.8, 1.4))
        im = color_jitter(im, hue=hue, sat=sat)
        desc.append(f"hue {hue:+.0f} sat x{sat:.2f}")
    if kind in (3, 0):  # large hue rotation: a new palette
        hue = float(rng.uniform(90, 270))
        sat = float(rng.uniform(0.9, 1.5))
        im = color_jitter(im, hue=hue, sat=sat)
        desc.append(f"hue {hue:+.0f} sat x{sat:.2f}")
    if kind in (4, 6):  # saturation / brightness / contrast jitter
        sat = float(rng.uniform(0.5, 1.6))
        val = float(rng.uniform(0.75, 1.2))
        con = float(rng.uniform(0.8, 1.3))
        gam = float(rng.uniform(0.8, 1.25))
        im = color_jitter(im, hue=float(rng.uniform(-15, 15)), sat=sat, val=val, contrast=con, gamma=gam)
        desc.append(f"sat x{sat:.2f} val x{val:.2f} contrast x{con:.2f} gamma {gam:.2f}")
    if kind == 6:  # swap colour channels (unusual palette)
        order = [(1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)][int(rng.integers(0, 5))]
        im = channel_shuffle(im, order)
        desc.append(f"channels {order}")
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        desc.append("mirror")
    return im, ", ".join(desc) or "none"


def _is_grey(im) -> bool:
    a = np.asarray(im, np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).max() < 3 and np.abs(a[..., 1] - a[..., 2]).max() < 3)


def tile_pattern(im, rng):
    """Tile a small GIMP pattern to at least 512x512 (small tiles are enlarged first)."""
    if max(im.size) < 128:
        f = 128 / max(im.size)
        im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.BICUBIC)
    w, h = max(SHORT_SIDE, im.width), max(SHORT_SIDE, im.height)
    out = Image.new("RGB", (w, h))
    for y in range(0, h, im.height):
        for x in range(0, w, im.width):
            out.paste(im, (x, y))
    return out
