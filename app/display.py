"""Can a window open here? Answered before Qt loads.

Qt aborts the whole process (exit code 134) when its X11 platform plugin cannot load, and its
message names one library (libxcb-cursor0) whatever is really missing. So the libraries that
PyQt6's QtGui and its xcb plugin link against are checked first, and a missing one is one line
naming the Debian/Ubuntu packages to install.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable

from app.errors import UserError

# soname -> Debian/Ubuntu package: the system libraries that PyQt6's libQt6Gui, libQt6XcbQpa and
# platforms/libqxcb.so need (`readelf -d` NEEDED entries; Qt's own and libc's left out). The
# README's apt-get line is this list (a test checks).
QT_XCB_LIBRARIES: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}


def no_display() -> bool:
    """True where a Qt window cannot open: Linux/BSD without X11 or Wayland and no platform chosen."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def uses_xcb() -> bool:
    """True where Qt will open its window through the X11 (xcb) plugin."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname`` (the same search Qt's loader does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(can_load: Callable[[str], bool] | None = None) -> list[str]:
    """The sonames of QT_XCB_LIBRARIES that cannot be loaded (``can_load``: default ``loadable``)."""
    can_load = can_load or loadable
    return [soname for soname in QT_XCB_LIBRARIES if not can_load(soname)]


def check_window_libraries(can_load: Callable[[str], bool] | None = None) -> None:
    """Raise UserError naming the packages to install when Qt's X11 plugin could not load."""
    if not uses_xcb():
        return
    missing = missing_xcb_libraries(can_load)
    if not missing:
        return
    packages = " ".join(dict.fromkeys(QT_XCB_LIBRARIES[s] for s in missing))
    raise UserError(f"the window needs system libraries that are missing ({', '.join(missing)}): "
                    f"install them with `sudo apt-get install {packages}` (Debian/Ubuntu), "
                    f"or run without a window: --no-window")
