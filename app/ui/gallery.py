"""The style gallery: a strip of thumbnails; click one to use it, Ctrl+click several to mix.

Thumbnails are decoded on a background thread (paintings can be large files) and
arrive through a queued signal, so the window appears at once and fills in.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PyQt6.QtCore import QObject, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QImage, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from app.errors import UserError
from app.images import load_image, resize_to_fit
from app.styles import Style

THUMB = QSize(112, 80)
NAME_ROLE = Qt.ItemDataRole.UserRole


class _Thumbnails(QObject):
    """Loads thumbnails off the UI thread; ``ready`` is delivered on the UI thread."""

    ready = pyqtSignal(str, object)  # style name, RGB array or None

    def __init__(self) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        self._cache: dict[tuple[str, float], np.ndarray] = {}
        self._lock = threading.Lock()

    def request(self, style: Style) -> None:
        try:
            key = (str(style.path), style.path.stat().st_mtime)
        except OSError:
            return
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            self.ready.emit(style.name, cached)
            return
        self._pool.submit(self._load, style, key)

    def _load(self, style: Style, key: tuple[str, float]) -> None:
        try:
            rgb = np.ascontiguousarray(resize_to_fit(load_image(style.path), 2 * THUMB.width()))
        except UserError:
            rgb = None
        if rgb is not None:
            with self._lock:
                self._cache[key] = rgb
        self.ready.emit(style.name, rgb)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _icon(rgb: np.ndarray | None) -> QIcon:
    pix = QPixmap(THUMB)
    pix.fill(QColor(60, 60, 64))
    if rgb is None:
        return QIcon(pix)
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()  # owns its pixels
    scaled = img.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                        Qt.TransformationMode.SmoothTransformation)
    x, y = (scaled.width() - THUMB.width()) // 2, (scaled.height() - THUMB.height()) // 2
    return QIcon(QPixmap.fromImage(scaled.copy(x, y, THUMB.width(), THUMB.height())))


class StyleGallery(QListWidget):
    """Thumbnails of every style; emits ``selection_changed(names)`` in the order they were picked."""

    selection_changed = pyqtSignal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(THUMB)
        self.setGridSize(QSize(THUMB.width() + 16, THUMB.height() + 34))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(THUMB.height() + 56)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the window's hotkeys
        self.setToolTip("Click a style to use it; Ctrl+click several to mix them. "
                        "Drop an image on the window to add it.")
        self._styles: dict[str, Style] = {}
        self._order: list[str] = []  # selected names, in the order they were picked
        self._quiet = False
        self._thumbs = _Thumbnails()
        self._thumbs.ready.connect(self._on_thumbnail)
        self.itemSelectionChanged.connect(self._on_selection)

    # ------------------------------------------------------------------ content

    def set_styles(self, styles: list[Style]) -> None:
        """Show ``styles`` (keeps the current selection where those styles remain)."""
        keep = [n for n in self._order if any(s.name == n for s in styles)]
        self._quiet = True
        try:
            self.clear()
            self._styles = {s.name: s for s in styles}
            for style in styles:
                item = QListWidgetItem(_icon(None), style.name.replace("_", " "))
                item.setData(NAME_ROLE, style.name)
                item.setToolTip(style.caption + ("" if style.builtin else "\n(your style)"))
                item.setSizeHint(self.gridSize())
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                self.addItem(item)
                self._thumbs.request(style)
        finally:
            self._quiet = False
        self._order = []
        self.select(keep, emit=False)

    def style(self, name: str) -> Style | None:
        return self._styles.get(name)

    def names(self) -> list[str]:
        return [self.item(i).data(NAME_ROLE) for i in range(self.count())]

    def _item(self, name: str) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(NAME_ROLE) == name:
                return self.item(i)
        return None

    def _on_thumbnail(self, name: str, rgb: object) -> None:
        item = self._item(name)
        if item is not None:
            item.setIcon(_icon(rgb if isinstance(rgb, np.ndarray) else None))

    # ------------------------------------------------------------------ selection

    def selected_names(self) -> list[str]:
        return list(self._order)

    def select(self, names: list[str], emit: bool = True) -> None:
        """Select exactly ``names`` (in that order)."""
        names = [n for n in names if self._item(n) is not None]
        self._quiet = True
        try:
            self.clearSelection()
            for n in names:
                self._item(n).setSelected(True)
            if names:
                self.scrollToItem(self._item(names[0]))
        finally:
            self._quiet = False
        self._order = names
        if emit:
            self.selection_changed.emit(list(names))

    def step(self, delta: int) -> None:
        """Select the previous (-1) or next (+1) style alone, wrapping around."""
        names = self.names()
        if not names:
            return
        current = self._order[0] if self._order else None
        i = names.index(current) if current in names else (-1 if delta > 0 else 0)
        self.select([names[(i + delta) % len(names)]])

    def _on_selection(self) -> None:
        if self._quiet:
            return
        now = {it.data(NAME_ROLE) for it in self.selectedItems()}
        order = [n for n in self._order if n in now] + sorted(now - set(self._order), key=self.names().index)
        if not order and self._order:  # clicking the only selected style must not leave none
            self.select(self._order[:1], emit=False)
            return
        if order != self._order:
            self._order = order
            self.selection_changed.emit(list(order))

    def shutdown(self) -> None:
        self._thumbs.shutdown()
