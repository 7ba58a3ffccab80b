"""Where the app keeps its files: the user cache, config, videos and log directories.

``ADAIN_LIVE_HOME`` relocates all of them under one folder (tests, portable installs).
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import platformdirs

from app import APP_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_STYLES_DIR = REPO_ROOT / "assets" / "styles"
CALIBRATION_DIR = REPO_ROOT / "assets" / "calibration"
SHIPPED_WEIGHTS_DIR = REPO_ROOT / "models" / "weights"


def _home() -> Path | None:
    value = os.environ.get("ADAIN_LIVE_HOME")
    return Path(value) if value else None


def _dir(kind: str, default: str) -> Path:
    home = _home()
    path = home / kind if home else Path(default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    return _dir("cache", platformdirs.user_cache_dir(APP_NAME))


def config_dir() -> Path:
    return _dir("config", platformdirs.user_config_dir(APP_NAME))


def user_styles_dir() -> Path:
    path = config_dir() / "styles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def videos_dir() -> Path:
    return _dir("videos", str(Path(platformdirs.user_videos_dir()) / "AdaIN Live"))


def pictures_dir() -> Path:
    return _dir("pictures", str(Path(platformdirs.user_pictures_dir()) / "AdaIN Live"))


def log_dir() -> Path:
    return _dir("logs", platformdirs.user_log_dir(APP_NAME))


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
