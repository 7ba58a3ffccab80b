"""The one image loader/saver (app.images): odd formats load as RGB uint8 (H, W, 3),
unusable files give a one-line UserError, saving is atomic."""
from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from app import images
from app.errors import UserError
from app.images import decode_image, encode_image, load_image, resize_to_fit, save_image
from conftest import CONTENT_DIR, assert_one_line, craft_png_header


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _assert_rgb(arr: np.ndarray, h: int, w: int) -> None:
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.uint8 and arr.shape == (h, w, 3)
    assert arr.flags.writeable and arr.flags.c_contiguous


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- formats that must load


def test_rgb_png_round_trips_exactly(tmp_path):
    arr = _noise(23, 31)
    out = load_image(_write(tmp_path / "a.png", _encode(Image.fromarray(arr), "PNG")))
    _assert_rgb(out, 23, 31)
    assert np.array_equal(out, arr)


def test_grayscale_png(tmp_path):
    img = Image.new("L", (30, 20), 77)
    out = load_image(_write(tmp_path / "g.png", _encode(img, "PNG")))
    _assert_rgb(out, 20, 30)
    assert (out == 77).all()


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((20, 30, 4), np.uint8)
    arr[:, :15] = (255, 0, 0, 255)  # opaque red
    arr[:, 15:] = (0, 0, 255, 0)  # fully transparent blue -> white
    out = load_image(_write(tmp_path / "a.png", _encode(Image.fromarray(arr, "RGBA"), "PNG")))
    _assert_rgb(out, 20, 30)
    assert (out[:, :15] == (255, 0, 0)).all()
    assert (out[:, 15:] == 255).all()


def test_grey_alpha(tmp_path):
    img = Image.new("LA", (20, 20), (50, 255))
    out = load_image(_write(tmp_path / "la.png", _encode(img, "PNG")))
    assert (out == 50).all()


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    arr = np.zeros((20, 40), np.uint16)
    arr[:, :10] = 32768  # mid grey
    arr[:, 10:20] = 65535
    arr[:, 20:30] = 1000  # ~3.9 in 8 bits: clipping would give 255
    arr[:, 30:] = 0
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = load_image(_write(tmp_path / "g16.png", _encode(img, "PNG")))
    _assert_rgb(out, 20, 40)
    assert abs(int(out[0, 0, 0]) - 128) <= 1
    assert (out[:, 10:20] == 255).all()
    assert (out[:, 20:30] <= 5).all()
    assert (out[:, 30:] == 0).all()


def test_16bit_rgb_png(tmp_path):
    bgr = np.zeros((20, 30, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 1000, 32768, 65535  # OpenCV writes BGR
    path = tmp_path / "c16.png"
    assert cv2.imwrite(str(path), bgr)
    out = load_image(path)
    _assert_rgb(out, 20, 30)
    r, g, b = (int(v) for v in out[3, 3])
    assert r == 255 and abs(g - 128) <= 1 and b <= 5


def test_palette_png_with_and_without_transparency(tmp_path):
    img = Image.new("P", (20, 16))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (10, 0, 20, 16))
    out = load_image(_write(tmp_path / "p.png", _encode(img, "PNG")))
    _assert_rgb(out, 16, 20)
    assert (out[:, :10] == (255, 0, 0)).all() and (out[:, 10:] == (0, 255, 0)).all()
    out = load_image(_write(tmp_path / "pt.png", _encode(img, "PNG", transparency=0)))
    assert (out[:, :10] == 255).all() and (out[:, 10:] == (0, 255, 0)).all()


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (32, 24), (0, 255, 255, 0))  # red in CMYK
    out = load_image(_write(tmp_path / "cmyk.jpg", _encode(img, "JPEG", quality=95)))
    _assert_rgb(out, 24, 32)
    r, g, b = (int(v) for v in out[12, 16])
    assert r > 240 and g < 15 and b < 15


@pytest.mark.parametrize("orientation, corner", [(1, "top-left"), (3, "bottom-right"),
                                                  (6, "top-right"), (8, "bottom-left")])
def test_exif_orientation_is_applied(tmp_path, orientation, corner):
    # Stored 40 wide x 24 high, red marker in the stored top-left corner.
    arr = np.full((24, 40, 3), 128, np.uint8)
    arr[:8, :8] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    out = load_image(_write(tmp_path / "r.jpg", _encode(img, "JPEG", exif=exif, quality=95)))
    h, w = (40, 24) if orientation in (6, 8) else (24, 40)
    _assert_rgb(out, h, w)
    y = 3 if corner.startswith("top") else h - 4
    x = 3 if corner.endswith("left") else w - 4
    r, g, b = (int(v) for v in out[y, x])
    assert r > 200 and g < 60 and b < 60, f"marker not at the {corner}"
    # The opposite corner is grey.
    assert abs(int(out[h - 1 - y, w - 1 - x, 0]) - 128) < 20


@pytest.mark.parametrize("fmt, suffix", [("GIF", ".gif"), ("BMP", ".bmp"), ("WEBP", ".webp"),
                                         ("TIFF", ".tif"), ("JPEG", ".jpeg")])
def test_other_formats(tmp_path, fmt, suffix):
    img = Image.fromarray(_noise(18, 22))
    out = load_image(_write(tmp_path / f"x{suffix}", _encode(img, fmt)))
    _assert_rgb(out, 18, 22)


def test_real_photo_loads(media):
    out = load_image(CONTENT_DIR / "flowers.jpg")
    _assert_rgb(out, 427, 640)
    assert out.std() > 20


# ----------------------------------------------------------------------------- files that must be refused


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(UserError) as info:
        load_image(path)
    msg = str(info.value)
    assert_one_line(msg)
    assert str(path) in msg
    for word in words:
        assert word in msg.lower(), msg
    return msg


def test_missing_file(tmp_path):
    _refused(tmp_path / "nope.jpg", "no such file")


def test_folder(tmp_path):
    (tmp_path / "dir.jpg").mkdir()
    _refused(tmp_path / "dir.jpg", "folder")


def test_empty_file(tmp_path):
    _refused(_write(tmp_path / "e.jpg", b""), "empty")


def test_text_renamed_jpg(tmp_path):
    _refused(_write(tmp_path / "t.jpg", b"this is not a picture\n" * 20), "not a readable image")


def test_truncated_jpeg(tmp_path):
    data = _encode(Image.fromarray(_noise(64, 64)), "JPEG")
    _refused(_write(tmp_path / "cut.jpg", data[: len(data) // 2]), "truncated")


def test_truncated_png(tmp_path):
    data = _encode(Image.fromarray(_noise(64, 64)), "PNG")
    _refused(_write(tmp_path / "cut.png", data[: len(data) // 2]), "truncated")


@pytest.mark.parametrize("w, h", [(1, 1), (1, 10000), (10000, 1), (15, 200)])
def test_too_small(tmp_path, w, h):
    data = _encode(Image.new("RGB", (w, h)), "PNG")
    _refused(_write(tmp_path / "small.png", data), "too small")


@pytest.mark.parametrize("side", [20000, 10000, 8500])  # PIL bomb error / PIL bomb warning / our limit
def test_huge_png_is_refused_before_decoding(tmp_path, side):
    data = craft_png_header(side, side)
    assert len(data) < 100
    t0 = time.monotonic()
    _refused(_write(tmp_path / "huge.png", data), "megapixels")
    assert time.monotonic() - t0 < 2.0  # nothing was decoded


def test_unreadable_file(tmp_path, monkeypatch):
    path = _write(tmp_path / "x.png", _encode(Image.new("RGB", (20, 20)), "PNG"))

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    _refused(path, "cannot read", "permission denied")


def _tiff_with_rational_strip_offset(w: int = 20, h: int = 20) -> bytes:
    """A hand-made TIFF whose StripOffsets tag is a RATIONAL: PIL raises TypeError on load."""
    def entry(tag: int, kind: int, value: int) -> bytes:
        if kind == 3:  # SHORT
            return struct.pack("<HHIHH", tag, kind, 1, value, 0)
        return struct.pack("<HHII", tag, kind, 1, value)

    n = 9
    rational_at = 8 + 2 + n * 12 + 4
    entries = [entry(256, 3, w), entry(257, 3, h), entry(258, 3, 8), entry(259, 3, 1), entry(262, 3, 1),
               entry(273, 5, rational_at), entry(277, 3, 1), entry(278, 3, h), entry(279, 4, w * h)]
    ifd = struct.pack("<H", n) + b"".join(entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<II", 3, 4) + bytes(w * h)


def test_damaged_tiff_raising_type_error_is_a_user_error(tmp_path):
    # Found by fuzzing: PIL raises TypeError (not OSError/ValueError) for this file.
    _refused(_write(tmp_path / "odd.tif", _tiff_with_rational_strip_offset()), "damaged")


# ----------------------------------------------------------------------------- fuzzing the decoder


def _seed_images() -> list[bytes]:
    arr = _noise(20, 24, seed=1)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    return [
        _encode(img, "PNG"), _encode(img, "JPEG"), _encode(img, "JPEG", exif=exif), _encode(img, "GIF"),
        _encode(img, "BMP"), _encode(img, "TIFF"), _encode(img, "WEBP"), _encode(img.convert("CMYK"), "JPEG"),
        _encode(img.convert("RGBA"), "PNG"), _encode(img.convert("P"), "PNG"),
        _encode(Image.fromarray((arr[..., 0].astype(np.uint16) * 257)), "PNG"),
        _encode(img, "TIFF", compression="tiff_lzw"),
    ]


SEEDS = _seed_images()


def _check_decode(data: bytes) -> None:
    try:
        out = decode_image(data, "fuzz.bin")
    except UserError as exc:
        assert_one_line(str(exc))
        assert str(exc).startswith("fuzz.bin: ")
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert min(out.shape[:2]) >= images.MIN_SIDE


@settings(max_examples=150)
@given(st.binary(max_size=600))
def test_decode_arbitrary_bytes_is_image_or_user_error(data):
    _check_decode(data)


@settings(max_examples=300)
@given(seed=st.sampled_from(range(len(SEEDS))),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_decode_damaged_images_is_image_or_user_error(seed, flips, cut):
    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    _check_decode(bytes(data))


def test_seed_images_are_valid():
    for i, data in enumerate(SEEDS):
        h, w = (24, 20) if i == 2 else (20, 24)  # seed 2 carries EXIF orientation 6
        _assert_rgb(decode_image(data), h, w)


# ----------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif"])
def test_save_image_round_trip_leaves_no_temp_files(tmp_path, suffix):
    arr = _noise(20, 30)
    path = tmp_path / f"out{suffix}"
    save_image(arr, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    back = load_image(path)
    _assert_rgb(back, 20, 30)
    if suffix in (".png", ".bmp", ".tif"):
        assert np.array_equal(back, arr)


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.gif"])
def test_save_unsupported_suffix(tmp_path, name):
    with pytest.raises(UserError, match="cannot write images of type") as info:
        save_image(_noise(20, 20), tmp_path / name)
    assert_one_line(str(info.value))
    assert list(tmp_path.iterdir()) == []


def test_save_under_a_regular_file_fails_cleanly(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserError, match="cannot write") as info:
        save_image(_noise(20, 20), tmp_path / "file.txt" / "out.png")
    assert_one_line(str(info.value))


def test_failed_save_keeps_the_old_file_and_no_part(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    old = _noise(20, 20, seed=1)
    save_image(old, path)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(UserError, match="No space left") as info:
        save_image(_noise(20, 20, seed=2), path)
    assert_one_line(str(info.value))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert np.array_equal(load_image(path), old)


def test_encode_image_formats():
    arr = _noise(20, 20)
    assert encode_image(arr, ".PNG")[:8] == b"\x89PNG\r\n\x1a\n"
    assert encode_image(arr, ".jpeg")[:3] == b"\xff\xd8\xff"


# ----------------------------------------------------------------------------- resizing


def test_resize_to_fit_downscales_only():
    arr = _noise(30, 60)
    assert resize_to_fit(arr, 100) is arr
    small = resize_to_fit(arr, 20)
    assert small.shape == (10, 20, 3) and small.dtype == np.uint8
    tiny = resize_to_fit(_noise(4, 400), 50)
    assert tiny.shape == (1, 50, 3)


def test_is_image_path():
    assert images.is_image_path(Path("a.JPG")) and images.is_image_path(Path("b.webp"))
    assert not images.is_image_path(Path("c.mp4")) and not images.is_image_path(Path("d"))


def test_load_folder_reads_every_image_below_it_and_names_what_is_missing(tmp_path):
    from app.images import load_folder

    (tmp_path / "sub").mkdir()
    save_image(np.zeros((40, 80, 3), np.uint8), tmp_path / "a.png")
    save_image(np.full((16, 16, 3), 255, np.uint8), tmp_path / "sub" / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_folder(tmp_path, max_side=20)
    assert [img.shape for img in images] == [(10, 20, 3), (16, 16, 3)]  # sorted, recursive, shrunk only
    with pytest.raises(UserError, match="no such held-out folder"):
        load_folder(tmp_path / "missing", "held-out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images in this style folder"):
        load_folder(tmp_path / "empty", "style")
