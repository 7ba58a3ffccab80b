"""Licence notes from Debian copyright files (DEP-5) and GCompris READMEs, and the Qt resource
files (gcompris-qt-data) some images live in."""
from __future__ import annotations

import re
from pathlib import Path

from .common import SourceMissing

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
