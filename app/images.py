"""The one image loader and saver. Frames are RGB uint8 arrays of shape (H, W, 3).

Every odd input users actually have is handled here once: EXIF rotation, grayscale,
alpha, palette, 16-bit, CMYK. Anything unusable raises :class:`UserError` with one
sentence naming the file and the problem; nothing is decoded above the pixel limit.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import UserError
from app.paths import atomic_write_bytes

MAX_PIXELS = 64_000_000  # refuse larger images politely (decompression-bomb guard), ~8000x8000
MIN_SIDE = 16  # smaller images carry no texture to stylize
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

RGBImage = np.ndarray  # (H, W, 3) uint8, RGB order


def _to_rgb_array(img: Image.Image) -> RGBImage:
    """Convert any PIL mode to RGB uint8, scaling high bit depths instead of clipping them."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = 1.0 if arr.max() <= 1.0 else 255.0
        else:
            top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.array(img.convert("RGB"), dtype=np.uint8)  # a writable copy


def check_size(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise UserError(f"{name}: {width}x{height} pixels is above the limit of "
                        f"{MAX_PIXELS // 1_000_000} megapixels; resize it first")
    if min(width, height) < MIN_SIDE:
        raise UserError(f"{name}: {width}x{height} pixels is too small (each side needs at least {MIN_SIDE})")


def decode_image(data: bytes, name: str = "image") -> RGBImage:
    """Decode image bytes (any common format) to RGB uint8, upright per its EXIF orientation."""
    if not data:
        raise UserError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            check_size(*img.size, name)  # before decoding a single pixel
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb_array(img)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{name}: the image is above the limit of {MAX_PIXELS // 1_000_000} megapixels; "
                        "resize it first") from None
    except UnidentifiedImageError:
        raise UserError(f"{name}: not a readable image") from None
    except Exception as exc:  # noqa: BLE001 - damaged files make PIL raise many types (TypeError, struct.error...)
        detail = (str(exc).splitlines() or [""])[0].rstrip(".")[:160] or type(exc).__name__
        raise UserError(f"{name}: the image is damaged or truncated ({detail})") from None


def load_image(path: str | Path) -> RGBImage:
    """Read an image file to RGB uint8 (H, W, 3)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, str(path))


def encode_image(rgb: RGBImage, suffix: str) -> bytes:
    """Encode an RGB uint8 frame as PNG/JPEG/... bytes chosen by ``suffix``."""
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
           ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix.lower())
    if fmt is None:
        raise UserError(f"cannot write images of type {suffix or '(none)'}; use .png or .jpg")
    buf = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(rgb, "RGB").save(buf, fmt, **options)
    return buf.getvalue()


def save_image(rgb: RGBImage, path: str | Path) -> None:
    """Save atomically: the file is either absent, the old one, or complete."""
    path = Path(path)
    data = encode_image(rgb, path.suffix)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None


def resize_to_fit(rgb: RGBImage, max_side: int) -> RGBImage:
    """Downscale (never upscale) so the longer side is at most ``max_side`` (area filter)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    filt = Image.Resampling.BOX if scale < 0.5 else Image.Resampling.BILINEAR
    return np.array(Image.fromarray(rgb).resize(size, filt))


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def image_files(folder: str | Path, what: str = "image") -> list[Path]:
    """The image files under ``folder`` (recursively, sorted); a missing or empty folder is a
    UserError that names the folder and ``what`` it should hold."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such {what} folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p))
    if not files:
        raise UserError(f"{folder}: no images in this {what} folder")
    return files


def load_folder(folder: str | Path, what: str = "image", max_side: int | None = None) -> list[RGBImage]:
    """Every image of a folder (see ``image_files``), RGB uint8, at most ``max_side`` px."""
    images = [load_image(f) for f in image_files(folder, what)]
    return images if max_side is None else [resize_to_fit(img, max_side) for img in images]

