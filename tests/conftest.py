"""Shared fixtures for the AdaIN Live test suite.

- Every test runs with ``ADAIN_LIVE_HOME`` pointing at its own temporary folder, so no
  test ever reads or writes the real user cache/config/videos folders.
- The converted Keras VGG-19 encoder is built once per session (about 2 s) and shared:
  tests that hand it to something that mutates modules (``Stylizer`` and ``Trainer`` move
  it to their dtype in place) must use ``fresh_encoder()``, a deep copy.
- Decoders are seeded random ``models.decoder.decoder()`` networks whose last conv is
  scaled so images land around mid-grey with visible structure (a default-initialised
  decoder outputs values near 0 that clamp to a black image and would make colour tests
  meaningless).
- torch runs single-threaded when the machine is busy (load average above half the
  cores: oversubscribed oneDNN threads are an order of magnitude slower than one thread),
  else on up to 4 threads; ADAIN_TEST_THREADS overrides. Subprocesses get the same count.
"""
from __future__ import annotations

import copy
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings as hyp_settings

# Qt offscreen unless the shell chose a platform, before any test module loads Qt: no test opens a
# window on a real screen, and a file run alone behaves as under the README's test command.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
# The shared test media (content photos, style paintings, a mask, cutBunny.mp4): beside the
# repository in the project's layout, else wherever ADAIN_TEST_MEDIA points. Tests reach them
# only through the ``media`` fixture, so a missing folder is one sentence, not an import error.
MEDIA = Path(os.environ.get("ADAIN_TEST_MEDIA") or Path(__file__).resolve().parents[2] / "shared" / "media")
CONTENT_DIR = MEDIA / "content"
STYLE_DIR = MEDIA / "style"
VIDEO = MEDIA / "video" / "cutBunny.mp4"
MASK = MEDIA / "mask" / "mask.png"

def _test_threads() -> int:
    """ADAIN_TEST_THREADS, else 1 thread on a busy machine (oversubscribed oneDNN threads spin and
    run ~10x slower than one), else up to 4."""
    if os.environ.get("ADAIN_TEST_THREADS"):
        return max(1, int(os.environ["ADAIN_TEST_THREADS"]))
    cpus = os.cpu_count() or 1
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.5 * cpus
    return 1 if busy else min(cpus, 4)


TEST_THREADS = _test_threads()
torch.set_num_threads(TEST_THREADS)

hyp_settings.register_profile("adain", deadline=None, derandomize=True, database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
hyp_settings.load_profile("adain")


# --------------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def adain_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ADAIN_LIVE_HOME for every test (cache, config, videos, logs), outside tmp_path."""
    home = tmp_path_factory.mktemp("adain_home")
    monkeypatch.setenv("ADAIN_LIVE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def media() -> Path:
    """The shared media folder; every test that reads a media file asks for it (directly or by pytestmark)."""
    missing = [p for p in (CONTENT_DIR, STYLE_DIR, VIDEO, MASK) if not p.exists()]
    if missing:
        pytest.fail(f"test media not found: {missing[0]} is missing; these tests need the shared media folder "
                    f"(content/, style/, mask/mask.png, video/cutBunny.mp4) at {MEDIA}, beside the repository, "
                    f"or set ADAIN_TEST_MEDIA=PATH", pytrace=False)
    return MEDIA


# --------------------------------------------------------------------------- encoder


@pytest.fixture(scope="session")
def train_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """content/ and style/ with 12 smooth random 48x48 images each; 2-image holdout folders."""
    from PIL import Image

    root = tmp_path_factory.mktemp("train_data")
    rng = np.random.default_rng(0)
    for folder, n in (("content", 12), ("style", 12), ("holdout_content", 2), ("holdout_style", 2)):
        (root / folder).mkdir()
        for i in range(n):
            Image.fromarray(smooth_image(rng, 48, 48)).save(root / folder / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def encoder_cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``app.weights.default_encoder()`` once, in a session home; returns its cache file."""
    from app import weights

    home = tmp_path_factory.mktemp("session_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAIN_LIVE_HOME", str(home))
        weights.default_encoder()  # converts (first conversion of the session) and caches
        cached = weights.cache_dir() / f"v{weights.CONVERSION_VERSION}-{weights.CONVERTED_VGG_NAME}"
    assert cached.is_file()
    return cached


@pytest.fixture(scope="session")
def base_encoder(encoder_cache_file: Path):
    """The default encoder, loaded from the session cache. Treat as read-only."""
    from app import weights

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAIN_LIVE_HOME", str(encoder_cache_file.parent.parent))
        enc = weights.default_encoder()
    return enc.eval()


@pytest.fixture
def fresh_encoder(base_encoder):
    """Factory: a private deep copy of the default encoder (safe to move to another dtype)."""
    return lambda: copy.deepcopy(base_encoder)


@pytest.fixture
def student_trainer(train_data, tmp_path, fresh_encoder):
    """A Trainer of the fast student's decoder (a pruned, undistilled student) on ``train_data``:
    32 px crops, batch 2, fp32, every 2nd batch a reconstruction."""
    from app.tools.train import ImageBank, TrainConfig, Trainer
    from models.student import prune_from, student_encoder

    student = student_encoder()
    prune_from(fresh_encoder(), student)
    cfg = TrainConfig(content_dir=str(train_data / "content"), style_dir=str(train_data / "style"),
                      out_dir=str(tmp_path), size=32, batch=2, warmup=0, bf16=False, decoder_width=0.25,
                      checkpoint_minutes=1e9, eval_size=32, recon_every=2)
    return Trainer(cfg, fresh_encoder(), ImageBank(cfg.content_dir), ImageBank(cfg.style_dir), source=student)


def prime_encoder_cache(home: Path, cache_file: Path) -> None:
    """Make ``home`` hold the converted encoder (a symlink), so default_encoder() loads it."""
    target = home / "cache" / cache_file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(cache_file)


@pytest.fixture
def primed_home(adain_home: Path, encoder_cache_file: Path) -> Path:
    """ADAIN_LIVE_HOME with the converted encoder already cached (no 2 s conversion per CLI call)."""
    prime_encoder_cache(adain_home, encoder_cache_file)
    return adain_home


# --------------------------------------------------------------------------- decoders


def seeded_decoder(seed: int = 0, width: float = 1.0, in_channels: int = 512) -> torch.nn.Sequential:
    """A reproducible random decoder whose output spreads around 0.5 (see module doc)."""
    from models.decoder import CONV_INDICES, decoder

    torch.manual_seed(seed)
    net = decoder(width=width, in_channels=in_channels)
    last = net[CONV_INDICES[-1]]
    with torch.no_grad():
        last.weight.mul_(12.0)
        last.bias.fill_(0.5)
    return net.eval()


@pytest.fixture(scope="session")
def decoder_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decoder file in the project's own format (fp16 + metadata), for ``--decoder``."""
    from app.weights import save_decoder

    path = tmp_path_factory.mktemp("decoder") / "dec.pth"
    save_decoder(seeded_decoder(), path, width=1.0)
    return path


@pytest.fixture(scope="session")
def slim_decoder_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-0.25 decoder file (about 5x cheaper to run): for the long video tests."""
    from app.weights import save_decoder

    path = tmp_path_factory.mktemp("decoder") / "dec_slim.pth"
    save_decoder(seeded_decoder(width=0.25), path, width=0.25)
    return path


@pytest.fixture(scope="session")
def published_vgg_state() -> dict[str, torch.Tensor]:
    """A valid state dict in pytorch-AdaIN's vgg_normalised.pth layout (53 entries), fp16."""
    from models.vgg import vgg_normalised

    torch.manual_seed(1)
    return {k: v.half() for k, v in vgg_normalised(full=True).state_dict().items()}


@pytest.fixture(scope="session")
def published_vgg_file(tmp_path_factory: pytest.TempPathFactory, published_vgg_state) -> Path:
    """``published_vgg_state`` saved once with torch.save (about 40 MB)."""
    path = tmp_path_factory.mktemp("published") / "vgg_normalised.pth"
    torch.save(published_vgg_state, path)
    return path


@pytest.fixture(scope="session")
def short_vgg_state(published_vgg_state) -> dict[str, torch.Tensor]:
    """The 31-entry truncation (to relu4_1) of ``published_vgg_state``: small and fast to save."""
    return {k: v for k, v in published_vgg_state.items() if int(k.split(".")[0]) <= 30}


@pytest.fixture(scope="session")
def published_decoder_state() -> dict[str, torch.Tensor]:
    """A valid bare state dict in pytorch-AdaIN's decoder.pth layout."""
    return {k: v.clone() for k, v in seeded_decoder(seed=2).state_dict().items()}


# --------------------------------------------------------------------------- images


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An RGB uint8 array from a media file, optionally resized to (width, height)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None:
            im = im.resize(size, Image.Resampling.BOX)
        return np.array(im)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random smooth colour image (bicubic-upscaled 4x4 noise), RGB uint8."""
    from PIL import Image

    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.array(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def craft_png_header(width: int, height: int) -> bytes:
    """A PNG that *claims* width x height (8-bit RGB) with a tiny IDAT: no big allocation."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def assert_one_line(message: str) -> None:
    assert message.strip(), "empty error message"
    assert "\n" not in message.strip(), f"message is not one line: {message!r}"
    assert "Traceback" not in message
