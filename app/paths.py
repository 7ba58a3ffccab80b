"""Where the app keeps its files: the user cache, config, videos and log directories.

``ADAIN_LIVE_HOME`` relocates all of them under one folder (tests, portable installs).
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from app import APP_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_STYLES_DIR = REPO_ROOT / "assets" / "styles"
CALIBRATION_DIR = REPO_ROOT / "assets" / "calibration"
SHIPPED_WEIGHTS_DIR = REPO_ROOT / "models" / "weights"


def _home() -> Path | None:
    value = os.environ.get("ADAIN_LIVE_HOME")
    return Path(value) if value else None


def _dir(kind: str, platform_folder: str, app_subfolder: str | None = None) -> Path:
    """``ADAIN_LIVE_HOME/kind``, else the platform's folder (``platformdirs.<platform_folder>``,
    for the app or with ``app_subfolder`` under it). platformdirs is imported only here, so a bare
    machine (a borrowed GPU running a training burst) needs nothing but ADAIN_LIVE_HOME."""
    home = _home()
    if home:
        path = home / kind
    else:
        import platformdirs  # noqa: PLC0415

        find = getattr(platformdirs, platform_folder)
        path = Path(find()) / app_subfolder if app_subfolder else Path(find(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    return _dir("cache", "user_cache_dir")


def config_dir() -> Path:
    return _dir("config", "user_config_dir")


def user_styles_dir() -> Path:
    path = config_dir() / "styles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def videos_dir() -> Path:
    return _dir("videos", "user_videos_dir", "AdaIN Live")


def pictures_dir() -> Path:
    return _dir("pictures", "user_pictures_dir", "AdaIN Live")


def log_dir() -> Path:
    return _dir("logs", "user_log_dir")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once: os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
