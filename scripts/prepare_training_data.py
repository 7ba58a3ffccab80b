#!/usr/bin/env python3
"""Build the folders for training the AdaIN decoder on a CPU, reproducibly.

    python scripts/prepare_training_data.py --out DIR [--install] [--media DIR]

writes::

    DIR/train/content/*.jpg     photos (short side 512) and multi-scale crops of them
    DIR/train/style/*.jpg       paintings (+ ~8 colour/crop variants each), textures,
                                wallpaper art and procedurally generated images
    DIR/holdout/content/*.jpg   HOLDOUT_CONTENT originals (none of their crops is in train/)
    DIR/holdout/style/*.jpg     HOLDOUT_STYLE originals (none of their variants is in train/)
    DIR/MANIFEST.json           every file with its source (package/path) and licence note

Sources (Debian packages are skipped, with a message, when not installed):

* content: photographic wallpapers of ``plasma-workspace-wallpapers`` and
  ``mate-backgrounds`` (``gnome-backgrounds`` 43 ships only abstract/vector art, which
  goes to the styles instead), the puzzle photos of ``palapeli-data``, the photos that
  ``gcompris-qt-data`` keeps in its Qt resource files, and scikit-image's bundled
  colour photos;
* style: the style media folder (``--media``/style), the paintings of
  ``gcompris-qt-data`` (jigsaw pieces reassembled from its ``paintings`` activity, and
  the whole Van Gogh paintings of its ``details`` activity), GIMP patterns
  (``gimp-data``), scikit-image textures, abstract wallpaper art and generated images.

Everything random comes from ``SEED`` and the id of the item, so a run gives the same
bytes whatever else is installed. ``--export-builtin-styles DIR`` writes the app's
built-in styles (``assets/styles``) from the same sources.
"""
from __future__ import annotations

import argparse
import colorsys
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

# ---------------------------------------------------------------------------------------
# Choices (also written into MANIFEST.json)
# ---------------------------------------------------------------------------------------
SEED = 20240531
SHORT_SIDE = 512  # every output image is resized so its short side is this
JPEG_QUALITY = 92
PAINTING_VARIANTS = 8  # per painting: the original + 7 augmentations
N_GENERATED_STYLES = 160
MIN_CROP_SIDE = 448  # a content crop is never upsampled by more than 512/448

# Hold-out: these photos (and all their crops) and these paintings (and all their
# variants) never go to train/; their originals go to holdout/. None of the hold-out
# contents comes from the shared media, so those can be used freely in tests.
HOLDOUT_CONTENT = (
    "plasma-workspace-wallpapers:EveningGlow",
    "mate-backgrounds:nature/LadyBird.jpg",
    "scikit-image:astronaut",
    "scikit-image:chelsea",
)
HOLDOUT_STYLE = (
    "antimonocromatismo.jpg",
    "brushstrokes.jpg",
    "the_resevoir_at_poitiers.jpg",
    "woman_in_peasant_dress_cropped.jpg",
)
# Files of the style media folder that show the same painting: a group is held out, or
# used for training, as a whole (its variants are shared out among its files).
SAME_PAINTING = (
    ("woman_in_peasant_dress_cropped.jpg", "woman_in_peasant_dress.jpg"),
    ("mondrian_cropped.jpg", "mondrian.jpg"),
)

DEBIAN_PACKAGES = (
    "plasma-workspace-wallpapers",
    "gnome-backgrounds",
    "mate-backgrounds",
    "palapeli-data",
    "gcompris-qt-data",
    "gimp-data",
)

DEFAULT_MEDIA_CANDIDATES = (
    os.environ.get("ADAIN_MEDIA_DIR", ""),
    str(Path(__file__).resolve().parent.parent.parent / "shared" / "media"),
    "/work/shared/media",
)

# plasma-workspace-wallpapers 5.27: which wallpapers are photographs. The others are
# vector/abstract art and are used as styles. A wallpaper not listed in either (another
# version of the package) is judged by its file type: JPEG -> photo, PNG -> art.
PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
    "Grey", "OneStandsOut", "Path", "summer_1am",
)
PLASMA_ART = (
    "Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui",
    "Honeywave", "IceCold", "Kay", "Kite", "Kokkini", "MilkyWay", "Opal", "PastelHills",
    "Patak", "SafeLanding", "Shell", "Volna",
)
PLASMA_SKIP = ("FlyingKonqui", "Kite")  # mascot/clip-art on a plain sky: neither
# gnome-backgrounds 43: no photographs; these abstract ones are used as styles (the
# others are nearly flat colours, icon scatters or SVG).
GNOME_ART = (
    "adwaita-d.webp", "adwaita-l.webp", "grid-d.webp", "grid-l.webp", "licorice-d.webp",
    "licorice-l.webp", "truchet-d.webp", "truchet-l.webp", "wood-d.webp", "wood-l.webp",
)
# mate-backgrounds: nature/*.jpg are photographs; these abstract ones are styles.
MATE_ART = ("abstract/Elephants.jpg", "abstract/Flow.png", "abstract/Spring.png", "abstract/Waves.png")
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")
SKIMAGE_TEXTURES = ("brick", "grass", "gravel")
SKIMAGE_LICENSE = {
    "astronaut": "public domain (NASA), via scikit-image (BSD-3-Clause package)",
    "chelsea": "CC0 (Stefan van der Walt), via scikit-image",
    "coffee": "CC0 (Rachel Michetti), via scikit-image",
    "rocket": "public domain (SpaceX/NASA), via scikit-image",
    "motorcycle_left": "Middlebury stereo data set (research use), via scikit-image",
    "brick": "CC0 (Stefan van der Walt), via scikit-image",
    "grass": "public domain (Stefan van der Walt), via scikit-image",
    "gravel": "public domain (Stefan van der Walt), via scikit-image",
}

PLASMA_DIR = Path("/usr/share/wallpapers")
MATE_DIR = Path("/usr/share/backgrounds/mate")
GNOME_DIR = Path("/usr/share/backgrounds/gnome")
PALAPELI_DIR = Path("/usr/share/palapeli")
GIMP_PATTERNS_DIR = Path("/usr/share/gimp/2.0/patterns")
GIMP_SKIP = ("Legacy/Stripes1px.pat", "Legacy/Stripes2px.pat")  # 1-2 px lines: no texture at 512

GCOMPRIS_RCC_DIR = Path("/usr/share/gcompris-qt/rcc")
GCOMPRIS_ACT = ":/gcompris/src/activities/"
# Activities of gcompris-qt-data whose large images are photographs (content).
GCOMPRIS_PHOTO_DIRS = (
    ("erase", "erase/resource/"),
    ("explore_monuments", "explore_monuments/resource/"),
    ("explore_world_animals", "explore_world_animals/resource/animals/"),
    ("explore_farm_animals", "explore_farm_animals/resource/animals/"),
    ("explore_world_music", "explore_world_music/resource/music/"),
    ("clickgame", "clickgame/resource/"),
    ("details", "details/resource/image/"),  # the *_background photos; paintings: below
)
GCOMPRIS_MIN_PHOTO_SIDE = 360
# Boards of the "paintings" activity that are not paintings.
GCOMPRIS_SKIP_BOARDS = ("Michelangelo, Pieta",)  # a photograph of a sculpture
# Whole paintings used as backgrounds by the "details" activity (README: public domain).
GCOMPRIS_DETAILS_PAINTINGS = {
    "Eglise_dAuvers-sur-Oise": ("The Church at Auvers", "Vincent van Gogh", "1890"),
    "Gogh4": ("Café Terrace at Night", "Vincent van Gogh", "1888"),
    "PortraitOfPereTanguy": ("Portrait of Père Tanguy", "Vincent van Gogh", "1887"),
    "Van_Gogh_The_Night_Cafe": ("The Night Café", "Vincent van Gogh", "1888"),
    "VincentVanGogh0012": ("Vestibule of the Asylum", "Vincent van Gogh", "1889"),
    "VincentVanGogh0013": ("The Painter on the Road to Tarascon", "Vincent van Gogh", "1888"),
    "VincentVanGogh0019": ("The Harvest", "Vincent van Gogh", "1888"),
    "VincentVanGoghBridge": ("The Langlois Bridge at Arles", "Vincent van Gogh", "1888"),
}

# The app's built-in styles (--export-builtin-styles): item id, file name, title, artist,
# year (GCompris' own captions are kept in ATTRIBUTION.md; two of its dates are off).
BUILTIN_STYLES = (
    ("gcompris-qt-data:details/Gogh4", "cafe_terrace_at_night.jpg",
     "Café Terrace at Night", "Vincent van Gogh", "1888"),
    ("gcompris-qt-data:details/Van_Gogh_The_Night_Cafe", "the_night_cafe.jpg",
     "The Night Café", "Vincent van Gogh", "1888"),
    ("gcompris-qt-data:paintings/board7", "the_great_wave_off_kanagawa.jpg",
     "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831"),
    ("gcompris-qt-data:paintings/board19", "composition_viii.jpg",
     "Composition VIII", "Wassily Kandinsky", "1923"),
    ("gcompris-qt-data:paintings/board1", "bal_du_moulin_de_la_galette.jpg",
     "Bal du moulin de la Galette", "Pierre-Auguste Renoir", "1876"),
    ("gcompris-qt-data:paintings/board21", "summertime.jpg",
     "Summertime", "Mary Cassatt", "1894"),
    ("gcompris-qt-data:paintings/board17", "the_harvesters.jpg",
     "The Harvesters", "Pieter Bruegel the Elder", "1565"),
    ("gcompris-qt-data:paintings/board11", "poppies.jpg",
     "Poppies", "Katsushika Hokusai", "c. 1833–1834"),
)
BUILTIN_LONG_SIDE = 512
BUILTIN_JPEG_QUALITY = 90


class UserError(Exception):
    """Printed as one line, exit status 2, no traceback."""


class SourceMissing(Exception):
    """An optional source is not installed: skipped with a message."""


def say(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------
# Lazy heavy imports (so that --help and the argument errors are instant)
# ---------------------------------------------------------------------------------------
np = None  # type: ignore
Image = None  # type: ignore
cv2 = None  # type: ignore
tqdm = None  # type: ignore


def _import_heavy() -> None:
    global np, Image, cv2, tqdm
    try:
        import numpy as _np
        from PIL import Image as _Image
        import cv2 as _cv2
        from tqdm import tqdm as _tqdm
    except ImportError as exc:  # pragma: no cover - environment problem
        raise UserError(f"missing Python package: {exc.name} (pip install numpy pillow opencv-python-headless tqdm)") from None
    np, Image, cv2, tqdm = _np, _Image, _cv2, _tqdm
    Image.MAX_IMAGE_PIXELS = None


# ---------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------
@dataclass
class Item:
    id: str  # stable, unique: seeds the item's randomness and names its files
    package: str  # Debian package (with version), "scikit-image x.y", "style media", ...
    path: str  # file, or rcc file + ":/resource/path"
    license: str
    load: Callable[[], "Image.Image"]
    category: str  # photo | painting | wallpaper-art | texture | pattern | generated
    meta: dict = field(default_factory=dict)  # title, artist, year, ...

    @property
    def stem(self) -> str:
        s = self.id.replace("plasma-workspace-wallpapers", "plasma").replace("mate-backgrounds", "mate")
        s = s.replace("gnome-backgrounds", "gnome").replace("gcompris-qt-data", "gcompris")
        s = s.replace("palapeli-data", "palapeli").replace("scikit-image", "skimage")
        s = s.replace("style-media", "media").replace("gimp-data", "gimp")
        s = re.sub(r"\.(jpe?g|png|webp|pat)$", "", s, flags=re.I)
        return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def item_rng(item_id: str, salt: str = ""):
    return np.random.default_rng([SEED, zlib.crc32((item_id + "|" + salt).encode())])


_pkg_versions: dict[str, str | None] = {}


def package_version(pkg: str) -> str | None:
    if pkg not in _pkg_versions:
        try:
            out = subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                capture_output=True, text=True, check=False,
            )
            status, _, version = out.stdout.partition("\t")
            _pkg_versions[pkg] = version if out.returncode == 0 and "installed" in status.split() else None
        except FileNotFoundError:
            _pkg_versions[pkg] = None
    return _pkg_versions[pkg]


def need_package(pkg: str, probe: Path) -> str:
    """'pkg version' when the package's files are there, else SourceMissing."""
    version = package_version(pkg)
    if not probe.exists():
        raise SourceMissing(f"{pkg} is not installed ({probe} missing; use --install)")
    return f"{pkg} {version}" if version else pkg


def open_rgb(path_or_bytes, background=(255, 255, 255)):
    im = Image.open(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes)
    im.load()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, background + (255,))
        bg.alpha_composite(im)
        im = bg
    return im.convert("RGB")


# ---------------------------------------------------------------------------------------
# Licence notes from Debian copyright files (DEP-5) and GCompris READMEs
# ---------------------------------------------------------------------------------------
_FILE_NAME = re.compile(r"^[\w./+-]+\.(webp|png|jpe?g|svg|ogg|wav|gif|qml|js)$", re.I)


def parse_blocks(text: str, bare_file_names: bool = False) -> list[dict[str, list[str]]]:
    """Paragraphs of 'Key: value' fields (DEP-5 / GCompris README style).

    With ``bare_file_names``, continuation lines that are file names belong to "files"
    even without a "Files:" key (some GCompris READMEs list them right after License:).
    """
    blocks: list[dict[str, list[str]]] = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in para.splitlines():
            m = re.match(r"^([A-Za-z][A-Za-z-]*):\s*(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields.setdefault(key, [])
                if m.group(2).strip():
                    fields[key].append(m.group(2).strip())
            elif bare_file_names and _FILE_NAME.match(line.strip()):
                fields.setdefault("files", []).append(line.strip())
            elif key and line.strip():
                fields[key].append(line.strip())
        if fields:
            blocks.append(fields)
    return blocks


def license_note(fields: dict[str, list[str]]) -> str:
    parts = []
    if fields.get("license"):
        parts.append(fields["license"][0])
    if fields.get("copyright"):
        parts.append("(c) " + "; ".join(fields["copyright"])[:160])
    if fields.get("source"):
        parts.append("source: " + fields["source"][0])
    comment = fields.get("comment") or fields.get("comments")
    if comment:
        parts.append(" ".join(comment)[:200])
    return ", ".join(parts)


def dep5_license(copyright_file: Path, relpath: str, default: str) -> str:
    try:
        blocks = parse_blocks(copyright_file.read_text(errors="replace"))
    except OSError:
        return default
    name = relpath.split("/")[-1]
    for b in blocks:
        for pat in " ".join(b.get("files", [])).split():
            if (pat == relpath or pat.split("/")[-1] == name) and b.get("license"):
                return license_note(b)
    return default


# ---------------------------------------------------------------------------------------
# Qt resource files (gcompris-qt-data)
# ---------------------------------------------------------------------------------------
class Rcc:
    """Read files out of Qt .rcc resource files with PyQt6 (no GUI needed)."""

    _registered: set[str] = set()

    def __init__(self) -> None:
        try:
            from PyQt6.QtCore import QDirIterator, QFile, QIODevice, QResource
        except ImportError:
            raise SourceMissing("gcompris-qt-data needs PyQt6 to read its .rcc files (pip install PyQt6)") from None
        self.QDirIterator, self.QFile, self.QIODevice, self.QResource = QDirIterator, QFile, QIODevice, QResource

    def register(self, rcc: Path) -> None:
        if str(rcc) not in self._registered:
            if not self.QResource.registerResource(str(rcc)):
                raise SourceMissing(f"cannot read Qt resource file {rcc}")
            self._registered.add(str(rcc))

    def list(self, root: str) -> list[tuple[str, int]]:
        it = self.QDirIterator(root, self.QDirIterator.IteratorFlag.Subdirectories)
        out = []
        while it.hasNext():
            p = it.next()
            info = it.fileInfo()
            if info.isFile():
                out.append((p, info.size()))
        return sorted(out)

    def read(self, path: str) -> bytes:
        f = self.QFile(path)
        if not f.open(self.QIODevice.OpenModeFlag.ReadOnly):
            raise FileNotFoundError(path)
        try:
            return bytes(f.readAll())
        finally:
            f.close()


def gcompris_readme_licenses(rcc: Rcc, readme: str) -> dict[str, str]:
    """file path relative to the README's folder (and bare file name) -> licence note."""
    try:
        text = rcc.read(readme).decode("utf-8", "replace")
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for b in parse_blocks(text, bare_file_names=True):
        note = license_note(b)
        for f in b.get("files", []):
            for name in f.split():
                out[name] = note
                out.setdefault(name.split("/")[-1], note)
    return out


# ---------------------------------------------------------------------------------------
# Sources: content photos
# ---------------------------------------------------------------------------------------
def src_plasma() -> tuple[list[Item], list[Item]]:
    root = PLASMA_DIR
    pkg = need_package("plasma-workspace-wallpapers", root / "Path")
    photos, art = [], []
    for d in sorted(p for p in root.iterdir() if (p / "contents" / "images").is_dir()):
        name = d.name
        if name in PLASMA_SKIP:
            continue
        imgs = [p for p in (d / "contents" / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")]
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
                id=f"scikit-image:{name}", package=pkg, path=str(p), license=SKIMAGE_LICENSE.get(name, "see skimage/data/README"),
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


# ---------------------------------------------------------------------------------------
# Sources: paintings
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# Sources: textures
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# Image operations
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# Generated styles
# ---------------------------------------------------------------------------------------
def random_palette(rng, n: int | None = None):
    n = n or int(rng.integers(3, 7))
    scheme = str(rng.choice(["analogous", "complementary", "triadic", "random", "mono", "neon", "pastel", "dark", "earth"]))
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
        _flow_strokes(rng, canvas, colour_field, angle, int(n / size), length * size, max(1, thick * size), 0.18, straight)
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


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------
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


def run_install() -> None:
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES]
    if shutil.which("apt-get") is None:
        raise UserError("--install needs apt-get (Debian/Ubuntu)")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise UserError("--install needs root (run: sudo " + " ".join(cmd) + ")")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say("+ " + " ".join(cmd))
    if subprocess.run(cmd, env=env).returncode != 0:
        say("+ apt-get update")
        subprocess.run(["apt-get", "update"], env=env)
        say("+ " + " ".join(cmd))
        if subprocess.run(cmd, env=env).returncode != 0:
            raise UserError("apt-get install failed (see its output above)")
    _pkg_versions.clear()


def check_out_dir(out: Path) -> None:
    """Refuse a file, or a folder that holds anything but a previous output."""
    ours = {"train", "holdout", "MANIFEST.json"}
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out} exists and is not a folder")
        others = [p.name for p in out.iterdir() if p.name not in ours]
        if others:
            raise UserError(f"--out {out} holds other files ({', '.join(sorted(others)[:3])}...); choose an empty or new folder")


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
        w.save(resize_short(im), split, "content", it.stem, it, derived="whole image, short side 512", source_size=list(im.size))
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
            w.save(resize_short(crop), "train", "content", f"{it.stem}_c{k + 1}", it, derived=f"crop {box} (+ maybe mirror)")
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
        w.save(resize_short(im), "train", "style", f"{it.stem}_v0", it, derived="original" if it.category != "pattern" else "tiled")
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


# ---------------------------------------------------------------------------------------
# Built-in styles for the app (assets/styles)
# ---------------------------------------------------------------------------------------
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
        captions.append(it.meta.get("label") or "(none: the details activity has no caption; identified from the image)")
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


# ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Writes train/ and holdout/ content+style folders and MANIFEST.json.")
    ap.add_argument("--out", help="output folder (created; must be new, empty or a previous output)")
    ap.add_argument("--install", action="store_true", help="apt-get install the Debian packages used first")
    ap.add_argument("--media", help="folder holding style/ (default: $ADAIN_MEDIA_DIR, ../shared/media, /work/shared/media)")
    ap.add_argument("--export-builtin-styles", metavar="DIR", help="write the app's built-in styles to DIR and exit")
    args = ap.parse_args(argv)
    try:
        if not args.out and not args.export_builtin_styles:
            raise UserError("--out DIR is required")
        if args.install:
            run_install()
        _import_heavy()
        if args.export_builtin_styles:
            try:
                export_builtin_styles(Path(args.export_builtin_styles))
            except SourceMissing as exc:
                raise UserError(str(exc)) from None
            if not args.out:
                return 0
        media = find_media(args.media)
        m = build(Path(args.out), media)
        c = m["counts"]
        say(f"done in {m['_elapsed']:.0f} s: train {c.get('train/content', 0)} contents "
            f"({m['_n_crops']} of them crops), {c.get('train/style', 0)} styles; hold-out "
            f"{c.get('holdout/content', 0)} contents, {c.get('holdout/style', 0)} styles; "
            f"{m['total_bytes'] / 1e6:.1f} MB in {args.out}")
        if m["skipped"]:
            say(f"skipped: {len(m['skipped'])} source(s)/file(s), listed in MANIFEST.json")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
