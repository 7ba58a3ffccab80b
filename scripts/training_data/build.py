"""The output: train/ and holdout/ folders, MANIFEST.json, and the app's built-in styles (assets/styles)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image
from tqdm import tqdm

from .common import (BUILTIN_JPEG_QUALITY, BUILTIN_LONG_SIDE, BUILTIN_STYLES, DEBIAN_PACKAGES, DEFAULT_MEDIA_CANDIDATES,
                     HOLDOUT_CONTENT, HOLDOUT_STYLE, JPEG_QUALITY, MIN_CROP_SIDE, N_GENERATED_STYLES, PAINTING_VARIANTS,
                     SAME_PAINTING, SEED, SHORT_SIDE, Item, package_version, say, SourceMissing, UserError)
from .images import (_is_grey, item_rng, limit_short, n_content_crops, painting_variant, random_crop_box, resize_long,
                     resize_short, tile_pattern)
from .sources import (src_gcompris_paintings, src_gcompris_photos, src_gimp, src_gnome, src_mate, src_media_styles,
                      src_palapeli, src_plasma, src_skimage)
from .generated import GENERATORS, generate_style, palette_map, random_palette


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.records: list[dict] = []
        self.names: set[str] = set()

    def save(self, im: "Image.Image", split: str, role: str, name: str, item: Item | None, **extra) -> None:
        rel = f"{split}/{role}/{name}.jpg"
        if rel in self.names:
            raise RuntimeError(f"duplicate output name {rel}")
        self.names.add(rel)
        path = self.out / rel
        im = im.convert("RGB")
        im.save(path, "JPEG", quality=JPEG_QUALITY)
        rec = {"file": rel, "split": split, "role": role, "width": im.width, "height": im.height}
        if item is not None:
            rec.update({"item": item.id, "category": item.category,
                        "source": {"package": item.package, "path": item.path}, "license": item.license})
            rec.update({k: v for k, v in item.meta.items() if v and k not in rec})
        rec.update(extra)
        self.records.append(rec)


def collect(loaders: Iterable[tuple[str, Callable]], skipped: list[str]):
    results = {}
    for name, fn in loaders:
        try:
            results[name] = fn()
        except SourceMissing as exc:
            say(f"skip: {exc}")
            skipped.append(str(exc))
            results[name] = None
    return results


def check_out_dir(out: Path) -> None:
    """Refuse a file, or a folder that holds anything but a previous output."""
    ours = {"train", "holdout", "MANIFEST.json"}
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out} exists and is not a folder")
        others = [p.name for p in out.iterdir() if p.name not in ours]
        if others:
            raise UserError(f"--out {out} holds other files ({', '.join(sorted(others)[:3])}...); "
                            "choose an empty or new folder")


def prepare_out_dir(out: Path) -> None:
    check_out_dir(out)
    if out.exists():
        for name in ("train", "holdout"):
            if (out / name).exists():
                shutil.rmtree(out / name)
        (out / "MANIFEST.json").unlink(missing_ok=True)
    for split in ("train", "holdout"):
        for role in ("content", "style"):
            (out / split / role).mkdir(parents=True, exist_ok=True)


def find_media(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for c in DEFAULT_MEDIA_CANDIDATES:
        if c and (Path(c) / "style").is_dir():
            return Path(c)
    raise UserError("style media folder not found (pass --media DIR, the folder holding style/)")


def build(out: Path, media: Path) -> dict:
    t0 = time.time()
    skipped: list[str] = []
    check_out_dir(out)
    media_styles = src_media_styles(media)  # required: raises UserError when missing
    say(f"reading sources (style media: {media / 'style'})")
    r = collect([
        ("plasma", src_plasma), ("mate", src_mate), ("gnome", src_gnome), ("palapeli", src_palapeli),
        ("skimage", src_skimage), ("gcompris_photos", src_gcompris_photos),
        ("gcompris_paintings", src_gcompris_paintings), ("gimp", src_gimp),
    ], skipped)
    photos: list[Item] = []
    art: list[Item] = []
    textures: list[Item] = []
    for key in ("plasma", "mate", "palapeli", "skimage"):
        if r[key]:
            photos += r[key][0]
            (art if key in ("plasma", "mate") else textures).extend(r[key][1])
    art += r["gnome"] or []
    photos += r["gcompris_photos"] or []
    paintings = media_styles + (r["gcompris_paintings"] or [])
    patterns = r["gimp"] or []
    if not photos:
        raise UserError("no content photo source is installed (run with --install)")

    ids = {it.id for it in photos}
    missing_hold = [h for h in HOLDOUT_CONTENT if h not in ids]
    for h in missing_hold:
        say(f"warning: hold-out content {h} is not available (source not installed); hold-out has fewer contents")

    prepare_out_dir(out)
    w = Writer(out)

    # ---- content --------------------------------------------------------------------
    n_crops_total = 0
    for it in tqdm(photos, desc="content photos", unit="photo"):
        rng = item_rng(it.id)
        im = it.load()
        hold = it.id in HOLDOUT_CONTENT
        split = "holdout" if hold else "train"
        w.save(resize_short(im), split, "content", it.stem, it, derived="whole image, short side 512",
               source_size=list(im.size))
        if hold:
            continue
        n = n_content_crops(min(im.size))
        for k in range(n):
            lo = max(MIN_CROP_SIDE, 0.3 * min(im.size))
            hi = max(lo, 0.9 * min(im.size)) if k else max(lo, 0.5 * min(im.size))  # first crop: a close-up
            box = random_crop_box(rng, im.width, im.height, lo, hi)
            crop = im.crop(box)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            w.save(resize_short(crop), "train", "content", f"{it.stem}_c{k + 1}", it,
                   derived=f"crop {box} (+ maybe mirror)")
            n_crops_total += 1

    # ---- style: paintings ------------------------------------------------------------
    group_of = {}
    for group in SAME_PAINTING:
        for name in group:
            group_of[name] = group
    held_files = set()
    for name in HOLDOUT_STYLE:
        held_files.update(group_of.get(name, (name,)))
    for it in tqdm(paintings, desc="paintings", unit="painting"):
        im = limit_short(it.load())
        fname = it.meta.get("original_name")
        if fname in held_files:
            if fname in HOLDOUT_STYLE:
                w.save(resize_short(im), "holdout", "style", it.stem, it, derived="whole image, short side 512")
            else:
                say(f"  {fname}: same painting as a hold-out style; left out of train")
                skipped.append(f"{fname} (same painting as hold-out {group_of[fname][0]})")
            continue
        group = group_of.get(fname, (fname,)) if fname else (None,)
        share = PAINTING_VARIANTS // len(group) if fname else PAINTING_VARIANTS
        idx = group.index(fname) if fname else 0
        rng = item_rng(it.id)
        w.save(resize_short(im), "train", "style", f"{it.stem}_v0", it, derived="original")
        for k in range(1, share):
            var, desc = painting_variant(im, rng, k + idx * share)
            w.save(resize_short(var), "train", "style", f"{it.stem}_v{k}", it, derived=desc)

    # ---- style: wallpaper art, textures, patterns ------------------------------------
    for it in tqdm(art + textures + patterns, desc="art/textures/patterns", unit="image"):
        rng = item_rng(it.id)
        im = limit_short(it.load())
        if it.category == "pattern":
            im = tile_pattern(im, rng)
        if it.category == "texture" and im.mode == "RGB" and _is_grey(im):
            w.save(resize_short(im), "train", "style", f"{it.stem}_v0", it, derived="original (grey)")
            for k in (1, 2):
                pal, scheme = random_palette(rng)
                g = np.asarray(im.convert("L"), np.float32) / 255.0
                col = palette_map(g, pal[np.argsort(pal.sum(1))])
                tinted = Image.fromarray((col * 255 + 0.5).astype(np.uint8))
                w.save(resize_short(tinted), "train", "style", f"{it.stem}_v{k}", it,
                       derived=f"gradient map, palette {scheme}")
            continue
        w.save(resize_short(im), "train", "style", f"{it.stem}_v0", it,
               derived="original" if it.category != "pattern" else "tiled")
        var, desc = painting_variant(im, rng, int(rng.choice([2, 3, 6])))
        w.save(resize_short(var), "train", "style", f"{it.stem}_v1", it, derived=desc)

    # ---- style: generated -------------------------------------------------------------
    gen_item = Item(id="generated", package="generated by scripts/prepare_training_data.py", path="",
                    license="CC0 (generated)", load=lambda: None, category="generated")
    for i in tqdm(range(N_GENERATED_STYLES), desc="generated styles", unit="image"):
        im, desc = generate_style(i)
        gen_item.id = f"generated:{i:03d}"
        gen_item.path = f"{GENERATORS[i % len(GENERATORS)][0]} generator, index {i}"
        w.save(resize_short(im), "train", "style", f"generated_{i:03d}", gen_item, derived=desc)

    # ---- manifest ---------------------------------------------------------------------
    counts: dict[str, int] = {}
    for rec in w.records:
        key = f"{rec['split']}/{rec['role']}"
        counts[key] = counts.get(key, 0) + 1
    total_bytes = sum((out / rec["file"]).stat().st_size for rec in w.records)
    manifest = {
        "created_by": "scripts/prepare_training_data.py",
        "seed": SEED,
        "short_side": SHORT_SIDE,
        "jpeg_quality": JPEG_QUALITY,
        "holdout": {
            "content": list(HOLDOUT_CONTENT),
            "content_missing": missing_hold,
            "style": list(HOLDOUT_STYLE),
            "style_same_painting_excluded_from_train": sorted(held_files - set(HOLDOUT_STYLE)),
            "rule": "hold-out photos' crops and hold-out paintings' variants are in neither split; "
                    "their originals are in holdout/",
        },
        "same_painting_groups": [list(g) for g in SAME_PAINTING],
        "packages": {p: package_version(p) for p in DEBIAN_PACKAGES},
        "skipped": skipped,
        "counts": counts,
        "total_bytes": total_bytes,
        "license_note": "Training data only: do not redistribute. Per-file licences below; the style "
                        "media folder's images have unknown licences.",
        "files": sorted(w.records, key=lambda rec: rec["file"]),
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    manifest["_elapsed"] = time.time() - t0
    manifest["_n_crops"] = n_crops_total
    return manifest


def export_builtin_styles(dest: Path) -> None:
    items = {it.id: it for it in src_gcompris_paintings()}
    dest.mkdir(parents=True, exist_ok=True)
    entries, captions = [], []
    for item_id, fname, title, artist, year in BUILTIN_STYLES:
        it = items.get(item_id)
        if it is None:
            raise UserError(f"built-in style source {item_id} not found in gcompris-qt-data")
        im = resize_long(it.load(), BUILTIN_LONG_SIDE)
        im.save(dest / fname, "JPEG", quality=BUILTIN_JPEG_QUALITY, optimize=True)
        from_details = item_id.startswith("gcompris-qt-data:details/")
        how = "" if from_details else " (jigsaw pieces reassembled)"
        entries.append({
            "file": fname,
            "title": title,
            "artist": artist,
            "year": year,
            "source": f"Debian package {it.package}: {it.path.replace(' (jigsaw pieces reassembled)', '')}{how}",
            "license": ("Public domain (marked 'Public domain image' in gcompris-qt-data's "
                        "details/resource/image/README)" if from_details else
                        "Public domain artwork (the artist died more than 70 years ago); this "
                        "reproduction is distributed in gcompris-qt-data under GPL-3.0-or-later "
                        "(WebMuseum, Nicolas Pioch): see ATTRIBUTION.md"),
        })
        captions.append(it.meta.get("label")
                        or "(none: the details activity has no caption; identified from the image)")
        say(f"  {fname}: {im.width}x{im.height}, {(dest / fname).stat().st_size // 1024} KiB  <- {title}")
    (dest / "styles.json").write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Built-in styles: attribution",
        "",
        "The built-in styles are reproductions of paintings in the public domain: their artists died",
        "more than 70 years ago. The image files come from Debian's `gcompris-qt-data` package (the",
        "GCompris educational suite), read out of its Qt resource files (`.rcc`), and were resized so",
        f"that the long side is at most {BUILTIN_LONG_SIDE} px (JPEG quality {BUILTIN_JPEG_QUALITY}).",
        "The paintings of its `paintings` activity are stored there as jigsaw pieces; they were put",
        "back together from the piece positions given in the activity's board files. Regenerate with:",
        "",
        "    python scripts/prepare_training_data.py --export-builtin-styles assets/styles",
        "",
        "| File | Title | Artist | Year | Source (package: resource) | GCompris caption | Licence |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e, cap in zip(entries, captions, strict=True):
        cells = [f"`{e['file']}`", e["title"], e["artist"], e["year"], e["source"], cap, e["license"]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += [
        "",
        "About the licences: GCompris distributes the images of its `paintings` activity (taken from",
        "Nicolas Pioch's WebMuseum) under GPL-3.0-or-later, per",
        "`paintings/resource/image/README` in `paintings.rcc`. The paintings themselves are in the",
        "public domain, and faithful photographic reproductions of two-dimensional public-domain",
        "works are generally held to attract no new copyright (*Bridgeman Art Library v. Corel*, and",
        "the policy of Wikimedia Commons); the GPL notice is recorded here for completeness. The two",
        "Van Gogh images come from the `details` activity, whose README marks them \"Public domain",
        "image\".",
        "",
        "Dates: GCompris captions *The Great Wave off Kanagawa* \"1823-1829\"; it is usually dated",
        "c. 1831 (published c. 1830–1832), which is what `styles.json` gives.",
        "",
    ]
    (dest / "ATTRIBUTION.md").write_text("\n".join(lines))
    total = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    say(f"wrote {len(entries)} styles + styles.json + ATTRIBUTION.md to {dest} ({total / 1e6:.2f} MB)")
