"""Procedurally generated styles (palettes, noise, strokes, cells...), reproducible from their index."""
from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np
from PIL import Image

from .images import item_rng


def random_palette(rng, n: int | None = None):
    n = n or int(rng.integers(3, 7))
    scheme = str(rng.choice(["analogous", "complementary", "triadic", "random", "mono", "neon", "pastel", "dark",
                             "earth"]))
    base = float(rng.uniform(0, 1))
    cols = []
    for i in range(n):
        if scheme == "analogous":
            hue = base + rng.uniform(-0.12, 0.12)
        elif scheme == "complementary":
            hue = base + (0.5 if i % 2 else 0) + rng.uniform(-0.04, 0.04)
        elif scheme == "triadic":
            hue = base + (i % 3) / 3 + rng.uniform(-0.03, 0.03)
        elif scheme == "mono":
            hue = base + rng.uniform(-0.02, 0.02)
        elif scheme == "earth":
            hue = rng.uniform(0.02, 0.16)
        else:
            hue = rng.uniform(0, 1)
        if scheme == "neon":
            s, v = rng.uniform(0.85, 1), rng.uniform(0.85, 1)
        elif scheme == "pastel":
            s, v = rng.uniform(0.15, 0.45), rng.uniform(0.85, 1)
        elif scheme == "dark":
            s, v = rng.uniform(0.4, 1), rng.uniform(0.1, 0.55)
        elif scheme == "mono":
            s, v = rng.uniform(0.2, 1), rng.uniform(0.1, 1)
        elif scheme == "earth":
            s, v = rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.85)
        else:
            s, v = rng.uniform(0.35, 1), rng.uniform(0.3, 1)
        cols.append(colorsys.hsv_to_rgb(hue % 1.0, s, v))
    if scheme not in ("dark", "pastel") and rng.random() < 0.4:  # a dark or light accent
        cols.append((0.05, 0.05, 0.07) if rng.random() < 0.5 else (0.96, 0.95, 0.9))
    pal = np.array(cols, np.float32)
    rng.shuffle(pal)
    return pal, scheme


def palette_map(t, pal, cyclic: bool = False):
    """Map values t in [0, 1] through a piecewise-linear gradient of palette colours."""
    stops = np.concatenate([pal, pal[:1]]) if cyclic else pal
    xs = np.linspace(0, 1, len(stops))
    t = np.mod(t, 1.0) if cyclic else np.clip(t, 0, 1)
    return np.stack([np.interp(t, xs, stops[:, c]) for c in range(3)], -1).astype(np.float32)


def smooth_noise(rng, h: int, w: int, scale: float, octaves: int = 4, persistence: float = 0.5):
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        s = max(2, int(scale / (2 ** o)))
        g = rng.random((h // s + 3, w // s + 3)).astype(np.float32)
        up = cv2.resize(g, ((w // s + 3) * s, (h // s + 3) * s), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(rng.integers(0, s)), int(rng.integers(0, s))
        out += amp * up[oy:oy + h, ox:ox + w]
        total += amp
        amp *= persistence
    out /= total
    lo, hi = np.percentile(out, 1), np.percentile(out, 99)
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0, 1)


def _grain(rng, img, amount):
    if amount > 0:
        img = img + rng.normal(0, amount, img.shape[:2])[..., None].astype(np.float32)
    return img


def gen_voronoi(rng, h, w, pal):
    from scipy.spatial import cKDTree

    n = int(rng.integers(12, 400))
    pts = rng.random((n, 2)) * [h, w]
    yy, xx = np.mgrid[0:h, 0:w]
    q = np.stack([yy.ravel(), xx.ravel()], 1)
    d, idx = cKDTree(pts).query(q, k=2)
    cols = pal[rng.integers(0, len(pal), n)] * rng.uniform(0.8, 1.15, (n, 1))
    img = cols[idx[:, 0]].reshape(h, w, 3)
    if rng.random() < 0.5:  # shading inside the cells
        img = img * (1 - 0.35 * np.clip(d[:, 0] / (np.sqrt(h * w / n)), 0, 1)).reshape(h, w, 1)
    if rng.random() < 0.6:  # leading between the cells (stained glass)
        edge = (d[:, 1] - d[:, 0]).reshape(h, w) < rng.uniform(1.5, 5)
        img[edge] = pal[np.argmin(pal.sum(1))] * 0.3
    return _grain(rng, img, 0.02), f"voronoi n={n}"


def gen_stripes(rng, h, w, pal):
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx * np.cos(ang) + yy * np.sin(ang)
    if rng.random() < 0.6:  # wavy
        v = -xx * np.sin(ang) + yy * np.cos(ang)
        u = u + rng.uniform(5, 40) * np.sin(v / rng.uniform(20, 120) + rng.uniform(0, 6.3))
    period = rng.uniform(20, 160)
    t = u / period
    if rng.random() < 0.5:  # hard stripes
        k = len(pal)
        t = np.floor(t * k) / k
    img = palette_map(t, pal, cyclic=True)
    if rng.random() < 0.4:  # cross stripes (plaid)
        ang2 = ang + np.pi / 2
        u2 = xx * np.cos(ang2) + yy * np.sin(ang2)
        img2 = palette_map(u2 / rng.uniform(20, 160), pal[::-1], cyclic=True)
        img = 0.55 * img + 0.45 * img2
    return _grain(rng, img, 0.015), f"stripes period={period:.0f}"


def gen_gradient(rng, h, w, pal):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mode = str(rng.choice(["linear", "radial", "angular", "noise"]))
    if mode == "linear":
        a = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(a) + yy * np.sin(a))
        t = (t - t.min()) / (t.max() - t.min())
        img = palette_map(t, pal)
    elif mode == "radial":
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(0.4, 1.2) / max(h, w)
        img = palette_map(t, pal, cyclic=rng.random() < 0.5)
    elif mode == "angular":
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        t = (np.arctan2(yy - cy, xx - cx) / (2 * np.pi)) * int(rng.integers(1, 4))
        img = palette_map(t, pal, cyclic=True)
    else:
        t = smooth_noise(rng, h, w, rng.uniform(100, 300), 3)
        img = palette_map(t, pal)
    return _grain(rng, img, rng.uniform(0.0, 0.04)), f"gradient {mode}"


def gen_marble(rng, h, w, pal):
    n1 = smooth_noise(rng, h, w, rng.uniform(60, 250), 5, 0.55)
    n2 = smooth_noise(rng, h, w, rng.uniform(60, 250), 5, 0.55)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    freq = rng.uniform(2, 10)
    t = (xx * np.cos(a) + yy * np.sin(a)) / max(h, w) * freq + rng.uniform(1, 6) * n1 + 2 * n2
    img = palette_map(t, pal, cyclic=True)
    return _grain(rng, img, 0.01), f"marble freq={freq:.1f}"


def _flow_strokes(rng, canvas, colour_field, angle_field, n, length, thick, jitter, straight=False):
    h, w = canvas.shape[:2]
    for _ in range(n):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        c = colour_field[int(y) % h, int(x) % w] * rng.uniform(1 - jitter, 1 + jitter, 3)
        col = tuple(float(v) for v in np.clip(c, 0, 1) * 255)
        pts = [(x, y)]
        L = int(max(2, rng.normal(length, length * 0.3)))
        step = 3.0
        a0 = angle_field[int(y) % h, int(x) % w]
        for _ in range(L // int(step)):
            a = a0 if straight else angle_field[int(y) % h, int(x) % w]
            x, y = x + step * math.cos(a), y + step * math.sin(a)
            pts.append((x, y))
        t = int(max(1, rng.normal(thick, thick * 0.3)))
        poly = (np.array(pts) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [poly], False, col, t, cv2.LINE_AA, shift=4)


def gen_brushstrokes(rng, h, w, pal):
    colour_t = smooth_noise(rng, h, w, rng.uniform(80, 300), 4)
    colour_field = palette_map(colour_t + 0.15 * smooth_noise(rng, h, w, 20, 2), pal)
    angle = smooth_noise(rng, h, w, rng.uniform(80, 400), 3) * rng.uniform(2, 8) * np.pi
    if rng.random() < 0.3:  # swirls around a centre, Van Gogh-like
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        angle = np.arctan2(yy - cy, xx - cx) + np.pi / 2 + 0.6 * angle / (2 * np.pi)
    base = cv2.GaussianBlur(colour_field, (0, 0), 6)
    canvas = (np.clip(base, 0, 1) * 255).astype(np.uint8).copy()
    size = rng.uniform(0.6, 1.8)
    straight = bool(rng.random() < 0.35)
    for n, length, thick in ((900, 40, 14), (2500, 24, 7), (3500, 14, 3)):
        _flow_strokes(rng, canvas, colour_field, angle, int(n / size), length * size, max(1, thick * size), 0.18,
                      straight)
    img = canvas.astype(np.float32) / 255.0
    return _grain(rng, img, 0.015), f"brushstrokes size={size:.2f} straight={straight}"


def gen_dots(rng, h, w, pal):
    colour_field = palette_map(smooth_noise(rng, h, w, rng.uniform(60, 250), 4), pal)
    bg = pal[int(rng.integers(0, len(pal)))] if rng.random() < 0.5 else np.array([0.95, 0.93, 0.88], np.float32)
    canvas = (np.ones((h, w, 3), np.float32) * bg * 255).astype(np.uint8)
    r = rng.uniform(2, 9)
    n = int(h * w / (r * r) * rng.uniform(0.5, 1.2))
    ys, xs = rng.uniform(0, h, n), rng.uniform(0, w, n)
    for y, x in zip(ys, xs, strict=True):
        c = colour_field[int(y), int(x)] * rng.uniform(0.8, 1.2, 3)
        rr = max(1, int(rng.normal(r, r * 0.25)))
        cv2.circle(canvas, (int(x), int(y)), rr, tuple(float(v) for v in np.clip(c, 0, 1) * 255), -1, cv2.LINE_AA)
    return _grain(rng, canvas.astype(np.float32) / 255.0, 0.01), f"pointillism r={r:.1f}"


def gen_geometric(rng, h, w, pal):
    bg = palette_map(np.mgrid[0:h, 0:w][0] / h * rng.uniform(0.2, 1.0), pal[rng.permutation(len(pal))])
    canvas = (bg * 255).astype(np.uint8).copy()
    n = int(rng.integers(15, 120))
    for _ in range(n):
        col = tuple(float(v) for v in np.clip(pal[int(rng.integers(0, len(pal)))] * rng.uniform(0.7, 1.2), 0, 1) * 255)
        kind = rng.integers(0, 4)
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        s = int(rng.uniform(8, 160))
        if kind == 0:
            cv2.circle(canvas, (x, y), s, col, int(rng.choice([-1, 2, 5])), cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(canvas, (x, y), (x + s, y + int(rng.uniform(8, 160))), col, int(rng.choice([-1, 3])))
        elif kind == 2:
            x2, y2 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            cv2.line(canvas, (x, y), (x2, y2), col, int(rng.integers(1, 8)), cv2.LINE_AA)
        else:
            pts = np.array([[x + rng.uniform(-s, s), y + rng.uniform(-s, s)] for _ in range(3)], np.int32)
            cv2.fillPoly(canvas, [pts], col, cv2.LINE_AA)
    return _grain(rng, canvas.astype(np.float32) / 255.0, 0.02), f"geometric n={n}"


def gen_cells_noise(rng, h, w, pal):
    # crackle / reaction-like: thresholded band-passed noise in palette colours
    a = smooth_noise(rng, h, w, rng.uniform(10, 40), 3)
    b = smooth_noise(rng, h, w, rng.uniform(80, 200), 3)
    t = np.sin((a * rng.uniform(6, 20) + b * 3) * np.pi)
    img = palette_map(t * 0.5 + 0.5 + 0.3 * b, pal)
    return _grain(rng, img, 0.02), "noise bands"


GENERATORS = (
    ("voronoi", gen_voronoi), ("stripes", gen_stripes), ("gradient", gen_gradient), ("marble", gen_marble),
    ("brushstrokes", gen_brushstrokes), ("brushstrokes", gen_brushstrokes), ("dots", gen_dots),
    ("geometric", gen_geometric), ("noise", gen_cells_noise),
)


def generate_style(i: int) -> tuple["Image.Image", str]:
    rng = item_rng(f"generated:{i:03d}")
    name, fn = GENERATORS[i % len(GENERATORS)]
    h, w = [(512, 512), (512, 640), (640, 512), (512, 768)][int(rng.integers(0, 4))]
    pal, scheme = random_palette(rng)
    img, desc = fn(rng, h, w, pal)
    img = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(img), f"{desc}, palette {scheme} ({len(pal)} colours)"
