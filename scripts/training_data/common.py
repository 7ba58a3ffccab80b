"""The choices (also written into MANIFEST.json), the items every source yields, errors, Debian packages."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from PIL import Image

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
    str(Path(__file__).resolve().parents[3] / "shared" / "media"),  # beside the repository
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
