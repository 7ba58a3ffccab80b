#!/usr/bin/env python3
"""The README's temporal-stability strip: consecutive frames of a video, per-frame vs stabilised.

    python -m scripts.temporal_strip [--video V] [--style S] [--start N] [--count K] [-o docs/temporal_strip.jpg]

Rows: the content frames, per-frame stylization, stabilised stylization (default strength),
and the change from the previous frame of each stylized row (brighter: more flicker).
The stabiliser runs causally from the first frame, so it is warmed up by ``--start``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=REPO.parent / "shared" / "media" / "video" / "cutBunny.mp4")
    p.add_argument("--style", default=str(REPO.parent / "shared" / "media" / "style" / "mondrian.jpg"))
    p.add_argument("--start", type=int, default=30, help="first frame shown")
    p.add_argument("--count", type=int, default=4, help="frames shown")
    p.add_argument("--size", type=int, default=256, help="processing short side")
    p.add_argument("-o", "--out", type=Path, default=REPO / "docs" / "temporal_strip.jpg")
    args = p.parse_args()

    import cv2
    import numpy as np

    from app.engine import Settings, Stylizer
    from app.images import save_image
    from app.styles import StyleLibrary
    from app.live.temporal import TemporalStabilizer
    from app.video_io import VideoReader

    frames = []
    with VideoReader(args.video) as reader:
        for f in reader:
            frames.append(f)
            if len(frames) >= args.start + args.count:
                break
    stylizer = Stylizer.create()
    settings = Settings(styles=(stylizer.add_style(StyleLibrary().resolve(args.style).load()),), size=args.size)
    steady = TemporalStabilizer()
    rows: list[list[np.ndarray]] = [[], [], [], [], []]
    prev_plain = prev_steady = None
    for i, f in enumerate(frames):
        plain = stylizer.stylize(f, settings)
        stab = steady.stylize(stylizer, f, settings)
        if i >= args.start:
            rows[0].append(f)
            rows[1].append(plain)
            rows[2].append(stab)
            for k, (now, before) in enumerate(((plain, prev_plain), (stab, prev_steady))):
                diff = np.abs(now.astype(np.int16) - before.astype(np.int16)).max(axis=2)
                heat = cv2.applyColorMap(np.clip(diff * 3, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
                rows[3 + k].append(heat[..., ::-1])
        prev_plain, prev_steady = plain, stab
    h = 180
    tiles = [[cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h), interpolation=cv2.INTER_AREA) for t in r]
             for r in rows]
    sheet = np.concatenate([np.concatenate(r, axis=1) for r in tiles], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, args.out)
    print(f"wrote {args.out}: rows content / per-frame / stabilised / per-frame change / stabilised change")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
