"""Fakes and fixtures for the live pipeline tests (capture, worker, recorder, headless, UI).

Import what a test module needs: ``from live_fixtures import ...`` (pytest puts tests/
on sys.path). The real engine is used at tiny sizes (64 px processing, 64 px style
encoding, fp32 on CPU); fakes stand in where a test needs a source that fails on cue or
an engine that is slow on purpose.
"""
from __future__ import annotations

import errno
import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.live.capture import Backoff, FrameFeed
from app.live.sources import SourceError
from app.engine import FeatureFilter, PictureFilter, Settings

from conftest import MEDIA, VIDEO  # noqa: F401 - re-exported; tests reach the files through conftest's ``media`` fixture

STYLE_FILES = [MEDIA / "style" / n for n in ("mondrian_cropped.jpg", "picasso_self_portrait.jpg", "en_campo_gris.jpg")]
FAST_BACKOFF = Backoff(initial=0.02, factor=2.0, maximum=0.1)


def pattern_frame(index: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A small RGB frame whose content encodes ``index`` (asymmetric, so mirroring shows)."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, : w // 4] = (255, 0, 0)
    rgb[:, w // 4:, 1] = np.linspace(0, 255, w - w // 4, dtype=np.uint8)[None, :]
    rgb[..., 2] = index % 256
    return rgb


class ScriptedSource:
    """A fake source: ``frames_per_life`` good frames, then lost; the next ``failed_opens``
    opens fail; then it works again. ``fps`` paces it like a file."""

    def __init__(self, frames_per_life: int | None = None, failed_opens: int = 0, fps: float | None = 100.0,
                 size: tuple[int, int] = (64, 48), first_open_fails: int = 0) -> None:
        self.name = "scripted"
        self.fps = fps
        self.frames_per_life = frames_per_life
        self.failed_opens = failed_opens
        self.first_open_fails = first_open_fails
        self.size = size
        self.opens = 0
        self.lives = 0
        self.produced = 0
        self._left: int | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.opens += 1
        if self.first_open_fails > 0:
            self.first_open_fails -= 1
            raise SourceError("not there yet")
        if self.lives > 0 and self.failed_opens > 0:
            self.failed_opens -= 1
            raise SourceError("unplugged")
        self.lives += 1
        self._left = self.frames_per_life if self.lives == 1 else None  # fails once, then stays up

    def read(self) -> np.ndarray | None:
        if self._left is not None:
            if self._left <= 0:
                return None
            self._left -= 1
        self.produced += 1
        w, h = self.size
        return pattern_frame(self.produced, h, w)

    def close(self) -> None:
        pass


class NoiseSource(ScriptedSource):
    """A ScriptedSource of random noise: frames that compress badly, so a recording grows fast."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rng = np.random.default_rng(0)

    def read(self) -> np.ndarray | None:
        self.produced += 1
        w, h = self.size
        return self._rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


class DiskFillingFile(io.RawIOBase):
    """A file on a disk with ``room`` bytes free: the write that crosses it stores what fits,
    then raises OSError(ENOSPC), like write(2) on a full disk; so does every later write."""

    def __init__(self, path: str, room: int) -> None:
        super().__init__()
        self.name = path
        self.room = room
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        fits = max(0, self.room - self._file.tell())  # rewriting bytes already there needs no room
        if fits:
            self._file.write(data[:fits])
        if fits < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        super().close()


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Make every video file opened for writing (PyAV, through ``av.open``) live on a disk that
    fills up after ``room`` bytes. Reading is untouched."""
    import av

    real_open = av.open

    def open_on_small_disk(file, mode="r", **kwargs):
        if mode == "w" and isinstance(file, str):
            formats = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
            kwargs.setdefault("format", formats.get(Path(file).suffix.lower()))
            return real_open(DiskFillingFile(file, room), mode, **kwargs)
        return real_open(file, mode, **kwargs)

    monkeypatch.setattr(av, "open", open_on_small_disk)


FAKE_SETTINGS = Settings(styles=("fake",))  # a snapshot with a style chosen: the worker runs the fake on each frame


class FakeStylizer:
    """Engine stand-in: inverts the frame after ``delay`` seconds; optionally fails on some calls.
    (The worker owns the settings: start it with ``settings=FAKE_SETTINGS`` so frames reach the fake.)"""

    description = "fake cpu"
    palette_default = 0.25

    def __init__(self, delay: float = 0.0, fail_on: tuple[int, ...] = ()) -> None:
        self.delay = delay
        self.fail_on = set(fail_on)
        self.calls = 0
        self.threads: set[str] = set()
        self.forgotten: list[str] = []

    def has_style(self, sid: str) -> bool:
        return True

    def forget_style(self, sid: str) -> None:
        self.forgotten.append(sid)

    def add_style(self, image: np.ndarray) -> str:
        return f"fake-{int(image.mean())}"

    def stylize(self, frame: np.ndarray, settings: Settings, features: FeatureFilter | None = None,
                picture: PictureFilter | None = None) -> np.ndarray:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.calls in self.fail_on:
            raise RuntimeError(f"boom on call {self.calls}")
        out = 255 - frame
        return picture(out) if picture is not None else out


def feed_frames(feed: FrameFeed, frames: list[np.ndarray], period: float = 0.0) -> None:
    for rgb in frames:
        feed.publish(rgb, time.monotonic())
        if period:
            time.sleep(period)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def tiny_stylizer(fresh_encoder, tmp_path):
    """The real Stylizer (private encoder copy, seeded random decoder), encoding styles at 64 px."""
    import torch

    from app.engine import Stylizer
    from conftest import seeded_decoder

    return Stylizer(fresh_encoder(), seeded_decoder(), "cpu", torch.float32, stats_dir=tmp_path / "stats",
                    style_size=64)


@pytest.fixture
def style_dir(tmp_path, media) -> Path:
    """Three small style images (resized copies of the shared media) as a built-in folder."""
    from PIL import Image

    folder = tmp_path / "builtin_styles"
    folder.mkdir()
    for src in STYLE_FILES:
        with Image.open(src) as im:
            im = im.convert("RGB")
            im.thumbnail((96, 96))
            im.save(folder / f"{src.stem}.png")
    return folder


@pytest.fixture
def library(style_dir, tmp_path):
    """A StyleLibrary with ``style_dir`` as its built-in styles and an empty user folder."""
    from app.styles import StyleLibrary

    (tmp_path / "user_styles").mkdir()
    return StyleLibrary(builtin_dir=style_dir, user_dir=tmp_path / "user_styles")
