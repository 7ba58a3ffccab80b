"""A style taken from the camera: the middle of the newest captured frame, saved as a user style.

The picture is the raw source frame (RGB, as the capture thread hands it to the engine, mirrored
when the view is), never the stylized result: a style of a style would only echo the current
painting. Only its centre is kept, a square :data:`CROP_FRACTION` of the frame's short side: a
visitor holds a scarf, a drawing or a book cover up in the middle of the picture, and the room
around it would water its texture down. The crop is saved losslessly (PNG), so the statistics the
engine computes from the file are those of the captured pixels.

Names: ``capture-YYYYMMDD-HHMMSS.png`` from the window (the user's to keep), and
``kiosk-capture-YYYYMMDD-HHMMSS.png`` from the kiosk, which keeps them for the day:
:func:`remove_old_captures` deletes the kiosk's files from other days, and nothing else (only
names that match that pattern in full; a user's own images are never touched).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from pathlib import Path

import numpy as np

from app.live.capture import Frame
from app.errors import UserError
from app.images import MIN_SIDE, RGBImage, save_image
from app.live.recorder import STAMP, timestamped_path

log = logging.getLogger(__name__)

CROP_FRACTION = 0.75  # side of the centre square, as a fraction of the frame's short side
SUFFIX = ".png"  # lossless: the style is exactly the captured pixels
WINDOW_PREFIX = "capture"  # the window's captures: kept like any style the user added
KIOSK_PREFIX = "kiosk-capture"  # the kiosk's captures: kept for the day they were taken
NO_FRAME = "no camera frame yet to take a style from; wait for the picture, then try again"
_KIOSK_STEM = re.compile(rf"{re.escape(KIOSK_PREFIX)}-(\d{{8}}-\d{{6}})(?:-\d+)?")
_save_lock = threading.Lock()  # the kiosk's key and its OSC thread may capture in the same second


def centre_crop(rgb: RGBImage, fraction: float = CROP_FRACTION) -> RGBImage:
    """The central square, ``fraction`` of the short side (a copy: the frame is shared)."""
    h, w = rgb.shape[:2]
    side = min(h, w, max(MIN_SIDE, round(min(h, w) * fraction)))
    y, x = (h - side) // 2, (w - side) // 2
    return np.array(rgb[y:y + side, x:x + side], dtype=np.uint8, order="C")


def capture_style(frame: Frame | None, folder: Path, prefix: str = WINDOW_PREFIX,
                  when: dt.datetime | None = None) -> tuple[Path, RGBImage]:
    """Save the centre of ``frame`` into ``folder`` under a timestamped name; returns the file and
    the pixels saved. UserError (one line) when there is no frame yet or the file cannot be written
    (full disk, unwritable or missing folder); nothing half-written is left behind."""
    if frame is None:
        raise UserError(NO_FRAME)
    rgb = centre_crop(frame.rgb)
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise UserError(f"the camera picture is too small to take a style from ({frame.rgb.shape[1]}x"
                        f"{frame.rgb.shape[0]} pixels)")
    with _save_lock:
        try:
            path = timestamped_path(folder, SUFFIX, prefix, when)
        except OSError as exc:
            raise UserError(f"cannot save the style from the camera in {folder} ({exc.strerror or exc})") from None
        try:
            save_image(rgb, path)
        except UserError as exc:
            raise UserError(f"cannot save the style from the camera: {exc}") from None
    return path, rgb


def kiosk_capture_day(name: str) -> dt.date | None:
    """The day a kiosk capture was taken, from its style name (the file's stem); None for any other name."""
    m = _KIOSK_STEM.fullmatch(name)
    if m is None:
        return None
    try:
        return dt.datetime.strptime(m.group(1), STAMP).date()
    except ValueError:  # digits that are no date: not a name this app wrote
        return None


def remove_old_captures(folder: Path, today: dt.date) -> list[Path]:
    """Delete the kiosk's captures in ``folder`` that were not taken ``today``; returns them.
    A file that cannot be removed is logged and left (the next clean-up tries again)."""
    removed: list[Path] = []
    try:
        paths = sorted(Path(folder).iterdir())
    except OSError:
        return removed
    for path in paths:
        day = kiosk_capture_day(path.stem) if path.suffix == SUFFIX else None
        if day is None or day == today or not path.is_file() or path.is_symlink():
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("cannot remove the old kiosk capture %s (%s)", path, exc.strerror or exc)
            continue
        removed.append(path)
    return removed
