"""The sources: content photos, paintings and textures, each a function returning Items (a source
that is not installed raises SourceMissing and is skipped)."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .common import (GCOMPRIS_ACT, GCOMPRIS_DETAILS_PAINTINGS, GCOMPRIS_MIN_PHOTO_SIDE, GCOMPRIS_PHOTO_DIRS,
                     GCOMPRIS_RCC_DIR, GCOMPRIS_SKIP_BOARDS, GIMP_PATTERNS_DIR, GIMP_SKIP, GNOME_ART, GNOME_DIR,
                     HOLDOUT_STYLE, MATE_ART, MATE_DIR, PALAPELI_DIR, PLASMA_ART, PLASMA_DIR, PLASMA_PHOTOS,
                     PLASMA_SKIP, SKIMAGE_LICENSE, SKIMAGE_PHOTOS, SKIMAGE_TEXTURES, Item, need_package, say,
                     SourceMissing, UserError)
from .licences import dep5_license, gcompris_readme_licenses, license_note, parse_blocks, Rcc
from .images import open_rgb


def src_plasma() -> tuple[list[Item], list[Item]]:
    root = PLASMA_DIR
    pkg = need_package("plasma-workspace-wallpapers", root / "Path")
    photos, art = [], []
    for d in sorted(p for p in root.iterdir() if (p / "contents" / "images").is_dir()):
        name = d.name
        if name in PLASMA_SKIP:
            continue
        imgs = [p for p in (d / "contents" / "images").iterdir()
                if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")]
        if not imgs:
            continue

        def area(p: Path) -> int:
            m = re.match(r"(\d+)x(\d+)", p.stem)
            return int(m.group(1)) * int(m.group(2)) if m else 0

        best = max(imgs, key=lambda p: (area(p), p.name))
        lic = "GPL-2+ (KDE Visual Design Group; see /usr/share/doc/plasma-workspace-wallpapers/copyright)"
        meta_file = d / "metadata.json"
        if meta_file.exists():
            try:
                kp = json.loads(re.sub(r",(\s*[}\]])", r"\1", meta_file.read_text())).get("KPlugin", {})
                authors = ", ".join(a.get("Name", "") for a in kp.get("Authors", []))
                if kp.get("License"):
                    lic = f"{kp['License']} ({authors}), per {meta_file}"
            except (ValueError, OSError):
                pass
        is_photo = name in PLASMA_PHOTOS or (name not in PLASMA_ART and best.suffix.lower() in (".jpg", ".jpeg"))
        item = Item(
            id=f"plasma-workspace-wallpapers:{name}", package=pkg, path=str(best), license=lic,
            load=lambda p=best: open_rgb(p), category="photo" if is_photo else "wallpaper-art",
            meta={"title": name},
        )
        (photos if is_photo else art).append(item)
    return photos, art


def src_mate() -> tuple[list[Item], list[Item]]:
    root = MATE_DIR
    pkg = need_package("mate-backgrounds", root / "nature")
    cfile = Path("/usr/share/doc/mate-backgrounds/copyright")
    default = "GPL-2+ (see /usr/share/doc/mate-backgrounds/copyright)"
    photos = []
    for p in sorted((root / "nature").glob("*.jpg")):
        rel = f"nature/{p.name}"
        photos.append(Item(
            id=f"mate-backgrounds:{rel}", package=pkg, path=str(p), license=dep5_license(cfile, rel, default),
            load=lambda p=p: open_rgb(p), category="photo", meta={"title": p.stem},
        ))
    art = []
    for rel in MATE_ART:
        p = root / rel
        if p.exists():
            art.append(Item(
                id=f"mate-backgrounds:{rel}", package=pkg, path=str(p), license=dep5_license(cfile, rel, default),
                load=lambda p=p: open_rgb(p, (0, 0, 0)), category="wallpaper-art", meta={"title": p.stem},
            ))
    return photos, art


def src_gnome() -> list[Item]:
    root = GNOME_DIR
    pkg = need_package("gnome-backgrounds", root)
    lic = "CC-BY-SA-3.0 / GPL (GNOME artists; see /usr/share/doc/gnome-backgrounds/copyright)"
    art = []
    for name in GNOME_ART:
        p = root / name
        if p.exists():
            art.append(Item(
                id=f"gnome-backgrounds:{name}", package=pkg, path=str(p), license=lic,
                load=lambda p=p: open_rgb(p), category="wallpaper-art", meta={"title": p.stem},
            ))
    return art


def src_palapeli() -> tuple[list[Item], list[Item]]:
    root = PALAPELI_DIR
    pkg = need_package("palapeli-data", root / "collection")
    photos = []
    for p in sorted((root / "collection").glob("*.jpg")):
        lic = "GPL-2+ (see /usr/share/doc/palapeli-data/copyright)"
        desk = p.with_suffix(".desktop")
        if desk.exists():
            kv = dict(re.findall(r"^(X-KDE-PluginInfo-\w+)=(.*)$", desk.read_text(errors="replace"), re.M))
            if kv.get("X-KDE-PluginInfo-License"):
                lic = (f"{kv['X-KDE-PluginInfo-License']} ({kv.get('X-KDE-PluginInfo-Author', '')}), "
                       f"source: {kv.get('X-KDE-PluginInfo-Website', '')}")
        photos.append(Item(
            id=f"palapeli-data:{p.name}", package=pkg, path=str(p), license=lic,
            load=lambda p=p: open_rgb(p), category="photo", meta={"title": p.stem},
        ))
    textures = []
    for p in sorted((root / "backgrounds").glob("*.jpg")):
        textures.append(Item(
            id=f"palapeli-data:backgrounds/{p.name}", package=pkg, path=str(p),
            license="GPL-2+ (see /usr/share/doc/palapeli-data/copyright)",
            load=lambda p=p: open_rgb(p), category="texture", meta={"title": p.stem},
        ))
    return photos, textures


def _skimage_dir() -> tuple[Path, str]:
    try:
        import skimage
    except ImportError:
        raise SourceMissing("scikit-image is not installed (pip install scikit-image)") from None
    return Path(skimage.__file__).resolve().parent / "data", f"scikit-image {skimage.__version__}"


def src_skimage() -> tuple[list[Item], list[Item]]:
    ddir, pkg = _skimage_dir()
    photos, textures = [], []
    for names, cat, out in ((SKIMAGE_PHOTOS, "photo", photos), (SKIMAGE_TEXTURES, "texture", textures)):
        for name in names:
            found = [p for p in (ddir / f"{name}.png", ddir / f"{name}.jpg") if p.exists()]
            if not found:
                say(f"  note: scikit-image has no bundled {name}; skipped")
                continue
            p = found[0]
            out.append(Item(
                id=f"scikit-image:{name}", package=pkg, path=str(p),
                license=SKIMAGE_LICENSE.get(name, "see skimage/data/README"),
                load=lambda p=p: open_rgb(p), category=cat, meta={"title": name},
            ))
    return photos, textures


def src_gcompris_photos() -> list[Item]:
    pkg = need_package("gcompris-qt-data", GCOMPRIS_RCC_DIR / "erase.rcc")
    rcc = Rcc()
    items = []
    for act, sub in GCOMPRIS_PHOTO_DIRS:
        f = GCOMPRIS_RCC_DIR / f"{act}.rcc"
        if not f.exists():
            say(f"  note: {f} missing; skipped")
            continue
        rcc.register(f)
        root = GCOMPRIS_ACT + sub
        files = rcc.list(root)
        readmes = [p for p, _ in files if p.endswith("/README")]
        lic_maps = {r.rsplit("/", 1)[0] + "/": gcompris_readme_licenses(rcc, r) for r in readmes}
        for path, size in files:
            if not path.lower().endswith((".webp", ".jpg", ".jpeg", ".png")) or size < 20000:
                continue
            name = path.rsplit("/", 1)[1]
            if act == "details":
                if not name.endswith("_background.webp"):
                    continue
                if name[: -len("_background.webp")] in GCOMPRIS_DETAILS_PAINTINGS:
                    continue  # a painting: a style, see src_gcompris_paintings
            lic = ""
            for d, m in sorted(lic_maps.items(), key=lambda kv: -len(kv[0])):
                if path.startswith(d):
                    rel = path[len(d):]
                    lic = m.get(rel) or m.get(name) or ""
                    if lic:
                        break
            if act == "details" and "painting" in lic.lower():
                continue
            data_path = path

            def load(p=data_path):
                return open_rgb(rcc.read(p))

            im_size = Image.open(io.BytesIO(rcc.read(path))).size
            if min(im_size) < GCOMPRIS_MIN_PHOTO_SIDE:
                continue
            if path.lower().endswith(".png"):
                continue  # PNGs there are drawings with transparency
            rel_id = act + "/" + path[len(root):]
            items.append(Item(
                id=f"gcompris-qt-data:{rel_id}", package=pkg, path=f"{f}, resource {path}",
                license=lic or "not in the activity README; see /usr/share/doc/gcompris-qt-data/copyright",
                load=load, category="photo", meta={"title": name.rsplit(".", 1)[0]},
            ))
    return items


def src_media_styles(media: Path) -> list[Item]:
    sdir = media / "style"
    if not sdir.is_dir():
        raise UserError(f"style media folder not found: {sdir} (pass --media DIR, the folder holding style/)")
    missing = [n for n in HOLDOUT_STYLE if not (sdir / n).is_file()]
    if missing:
        raise UserError(f"hold-out style image missing from {sdir}: {', '.join(missing)}")
    items = []
    for p in sorted(sdir.iterdir()):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
            continue
        items.append(Item(
            id=f"style-media:{p.name}", package="style media", path=str(p),
            license="unknown (shared test media; training use only, never shipped)",
            load=lambda p=p: open_rgb(p), category="painting", meta={"title": p.stem, "original_name": p.name},
        ))
    return items


def _reassemble_board(rcc: Rcc, base: str, qml: str) -> "Image.Image":
    """Put the jigsaw pieces of a GCompris 'paintings' board back together.

    The board QML gives the background size (width, height) and, for each piece, the
    position of its centre as fractions of that size; pieces keep their pixel size
    (babymatch's DragListItem/DropAnswerItem). The pieces' tabs (alpha) interlock, so
    compositing them gives the painting; the ragged outer border is trimmed and the few
    1-px seams left by the rounded positions are inpainted.
    """
    W = int(re.search(r'"width"\s*:\s*(\d+)', qml).group(1))
    H = int(re.search(r'"height"\s*:\s*(\d+)', qml).group(1))
    pieces = re.findall(
        r'"pixmapfile"\s*:\s*"(image/[^"]+)"\s*,\s*"x"\s*:\s*"?([\d.]+)"?\s*,\s*"y"\s*:\s*"?([\d.]+)"?', qml)
    if not pieces:
        raise ValueError("no pieces")
    canvas = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    for name, x, y in pieces:
        im = Image.open(io.BytesIO(rcc.read(base + name))).convert("RGBA")
        cx, cy = float(x) * W, float(y) * H
        canvas.alpha_composite(im, (int(round(cx - im.width / 2)), int(round(cy - im.height / 2))))
    arr = np.asarray(canvas)
    alpha = arr[..., 3]
    ys, xs = np.nonzero(alpha)
    t, b, l, r = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    full = alpha >= 250
    # trim border rows/columns that are not (almost) fully covered
    while b - t > 10 and full[t, l:r].mean() < 0.995:
        t += 1
    while b - t > 10 and full[b - 1, l:r].mean() < 0.995:
        b -= 1
    while r - l > 10 and full[t:b, l].mean() < 0.995:
        l += 1
    while r - l > 10 and full[t:b, r - 1].mean() < 0.995:
        r -= 1
    rgb = np.ascontiguousarray(arr[t:b, l:r, :3])
    holes = (~full[t:b, l:r]).astype(np.uint8)
    if holes.any():
        rgb = cv2.inpaint(rgb, holes, 3, cv2.INPAINT_TELEA)
    return Image.fromarray(rgb)


def _title_artist_year(instruction: str) -> tuple[str, str, str]:
    artist, _, rest = instruction.partition(",")
    m = re.match(r"^(.*?)\s*-\s*([\d\-]+)\.?$", rest.strip())
    title, year = (m.group(1), m.group(2)) if m else (rest.strip().rstrip("."), "")
    fixes = {"Katsushika Hokusa": "Katsushika Hokusai", "Pieter Brugel": "Pieter Bruegel the Elder",
             "Bazille": "Frédéric Bazille", "Michelangelo": "Michelangelo Buonarroti"}
    return title.strip(), fixes.get(artist.strip(), artist.strip()), year


def src_gcompris_paintings() -> list[Item]:
    pkg = need_package("gcompris-qt-data", GCOMPRIS_RCC_DIR / "paintings.rcc")
    rcc = Rcc()
    items = []
    f = GCOMPRIS_RCC_DIR / "paintings.rcc"
    rcc.register(f)
    base = GCOMPRIS_ACT + "paintings/resource/"
    readme = rcc.read(base + "image/README").decode("utf-8", "replace") if any(
        p.endswith("image/README") for p, _ in rcc.list(base + "image")) else ""
    lic_base = ("artwork in the public domain; this reproduction: "
                + (license_note(parse_blocks(readme)[0]) if readme else "GPL-3+ (WebMuseum, per gcompris-qt-data)"))
    boards = [p for p, _ in rcc.list(base + "board") if re.search(r"/board\d+_0\.qml$", p)]
    boards.sort(key=lambda p: int(re.search(r"board(\d+)_0", p).group(1)))
    for bpath in boards:
        qml = rcc.read(bpath).decode("utf-8", "replace")
        m = re.search(r'instruction:\s*qsTr\("(.*?)"\)', qml)
        instruction = m.group(1) if m else bpath
        if any(s in instruction for s in GCOMPRIS_SKIP_BOARDS):
            continue
        title, artist, year = _title_artist_year(instruction)
        n = re.search(r"board(\d+)_0", bpath).group(1)

        def load(q=qml):
            return _reassemble_board(rcc, base, q)

        items.append(Item(
            id=f"gcompris-qt-data:paintings/board{n}", package=pkg,
            path=f"{f}, resource {bpath} (jigsaw pieces reassembled)", license=lic_base, load=load,
            category="painting", meta={"title": title, "artist": artist, "year": year, "label": instruction},
        ))
    f = GCOMPRIS_RCC_DIR / "details.rcc"
    if f.exists():
        rcc.register(f)
        dbase = GCOMPRIS_ACT + "details/resource/image/"
        lic = gcompris_readme_licenses(rcc, dbase + "README")
        for key, (title, artist, year) in GCOMPRIS_DETAILS_PAINTINGS.items():
            path = dbase + f"{key}_background.webp"
            try:
                rcc.read(path)
            except FileNotFoundError:
                say(f"  note: {path} not in {f}; skipped")
                continue
            items.append(Item(
                id=f"gcompris-qt-data:details/{key}", package=pkg, path=f"{f}, resource {path}",
                license=lic.get(f"{key}_background.webp", "public domain (per gcompris-qt-data README)"),
                load=lambda p=path: open_rgb(rcc.read(p)), category="painting",
                meta={"title": title, "artist": artist, "year": year},
            ))
    return items


def read_gimp_pat(path: Path) -> "Image.Image":
    """GIMP .pat: big-endian header (size, version, w, h, bytes/px, 'GPAT', name), raw pixels."""
    data = path.read_bytes()
    hsize, _ver, w, h, bpp = (int.from_bytes(data[i:i + 4], "big") for i in range(0, 20, 4))
    if data[20:24] != b"GPAT" or bpp not in (1, 2, 3, 4):
        raise ValueError(f"not a GIMP pattern: {path}")
    px = np.frombuffer(data, np.uint8, w * h * bpp, hsize).reshape(h, w, bpp)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[bpp]
    im = Image.fromarray(px if bpp > 1 else px[..., 0], mode)
    return open_rgb_image(im)


def open_rgb_image(im):
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return open_rgb(buf.getvalue())


def src_gimp() -> list[Item]:
    root = GIMP_PATTERNS_DIR
    pkg = need_package("gimp-data", root)
    lic = "GPL-3+ and others (GIMP data; see /usr/share/doc/gimp-data/copyright)"
    items = []
    for p in sorted(root.rglob("*.pat")):
        rel = str(p.relative_to(root))
        if rel in GIMP_SKIP:
            continue
        items.append(Item(
            id=f"gimp-data:patterns/{rel}", package=pkg, path=str(p), license=lic,
            load=lambda p=p: read_gimp_pat(p), category="pattern", meta={"title": p.stem},
        ))
    return items
