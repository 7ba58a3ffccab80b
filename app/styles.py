"""The style library: built-in paintings (assets/styles) plus the user's own styles folder.

A style is named by its file stem (``starry_night``); anything else the user types is
tried as a path to an image. Metadata (title, artist, year) comes from ``styles.json``
beside the images, where present.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.errors import UserError
from app.images import RGBImage, is_image_path, load_image
from app.paths import BUILTIN_STYLES_DIR, user_styles_dir


@dataclass(frozen=True)
class Style:
    name: str
    path: Path
    title: str = ""
    artist: str = ""
    year: str = ""
    builtin: bool = True

    @property
    def caption(self) -> str:
        """'Title, Artist (year)' for overlays and kiosk captions."""
        parts = [self.title or self.name.replace("_", " ")]
        if self.artist:
            parts.append(self.artist + (f" ({self.year})" if self.year else ""))
        return ", ".join(parts)

    def load(self) -> RGBImage:
        return load_image(self.path)


def _metadata(folder: Path) -> dict[str, dict]:
    meta_file = folder / "styles.json"
    if not meta_file.is_file():
        return {}
    try:
        entries = json.loads(meta_file.read_text())
        return {Path(e["file"]).stem: e for e in entries if isinstance(e, dict) and "file" in e}
    except (ValueError, KeyError, TypeError):
        return {}


def _scan(folder: Path, builtin: bool) -> list[Style]:
    if not folder.is_dir():
        return []
    meta = _metadata(folder)
    styles = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p)):
        m = meta.get(path.stem, {})
        styles.append(Style(path.stem, path, str(m.get("title", "")), str(m.get("artist", "")),
                            str(m.get("year", "")), builtin))
    return styles


def _safe_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name or "style"


class StyleLibrary:
    """Built-in and user styles, looked up by name; user styles can be added and removed."""

    def __init__(self, builtin_dir: Path = BUILTIN_STYLES_DIR, user_dir: Path | None = None) -> None:
        self.builtin_dir = Path(builtin_dir)
        self.user_dir = Path(user_dir) if user_dir else user_styles_dir()

    def all(self) -> list[Style]:
        return _scan(self.builtin_dir, True) + _scan(self.user_dir, False)

    def names(self) -> list[str]:
        return [s.name for s in self.all()]

    def get(self, name: str) -> Style:
        for style in self.all():
            if style.name == name:
                return style
        raise UserError(f"no style named {name!r}; see `python main.py styles`")

    def resolve(self, name_or_path: str) -> Style:
        """A style by name (or a unique part of one, e.g. ``great_wave``), or an image path."""
        styles = self.all()
        for style in styles:
            if style.name == name_or_path:
                return style
        partial = [s for s in styles if name_or_path.lower() in s.name] if name_or_path.strip() else []
        if len(partial) == 1 and not Path(name_or_path).suffix:
            return partial[0]
        path = Path(name_or_path).expanduser()
        if path.exists() or any(sep in name_or_path for sep in ("/", "\\")) or is_image_path(path):
            if not path.is_file():
                raise UserError(f"{path}: no such style image")
            return Style(path.stem, path, builtin=False)
        known = ", ".join(self.names()[:12])
        raise UserError(f"no style named {name_or_path!r} (known: {known}); or give a path to an image")

    def add(self, source: Path) -> Style:
        """Copy an image into the user styles folder (validated first); returns the new style."""
        source = Path(source)
        load_image(source)  # raises a clear UserError for anything unusable
        stem = _safe_name(source.stem)
        taken = set(self.names())
        name, k = stem, 2
        while name in taken:
            name, k = f"{stem}_{k}", k + 1
        self.user_dir.mkdir(parents=True, exist_ok=True)
        dest = self.user_dir / f"{name}{source.suffix.lower()}"
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            shutil.copyfile(source, tmp)
            tmp.replace(dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot add {source} as a style ({exc.strerror or exc})") from None
        return Style(name, dest, builtin=False)

    def remove(self, name: str) -> None:
        style = self.get(name)
        if style.builtin:
            raise UserError(f"{name!r} is a built-in style and cannot be removed")
        style.path.unlink(missing_ok=True)
