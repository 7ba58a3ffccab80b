"""``python main.py stylize`` end to end: images, folders, video, styles, colour, masks, and
every kind of bad input (exit code 2, one ``error:`` line, no traceback, no output).

Runs in-process through ``app.cli.main`` (returns the exit code) except for a subprocess
check of stderr and the Ctrl-C test. The trained decoder is not shipped yet, so every call
passes ``--decoder`` (a seeded random decoder) except the one test that needs the real one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from app.images import load_image
from app.styles import StyleLibrary
from app.video_io import VideoReader, VideoWriter, probe_frames
from app.weights import DEFAULT_DECODER
from conftest import CONTENT_DIR, MASK, REPO, STYLE_DIR, TEST_THREADS, VIDEO, craft_png_header, load_rgb
from models.color import rgb_to_ycbcr


@pytest.fixture(autouse=True)
def _home(primed_home):
    """Every CLI call finds the converted encoder in its ADAIN_LIVE_HOME cache."""
    return primed_home


@pytest.fixture
def work(tmp_path) -> Path:
    """Inputs: content.jpg (83x61), style_a.jpg, style_b.png; an empty out/ folder."""
    Image.fromarray(load_rgb(CONTENT_DIR / "lenna.jpg", (83, 61))).save(tmp_path / "content.jpg", quality=95)
    Image.fromarray(load_rgb(STYLE_DIR / "mondrian.jpg", (48, 48))).save(tmp_path / "style_a.jpg", quality=95)
    Image.fromarray(load_rgb(STYLE_DIR / "picasso_self_portrait.jpg", (40, 52))).save(tmp_path / "style_b.png")
    (tmp_path / "out").mkdir()
    return tmp_path


@pytest.fixture
def cli(capsys, decoder_file):
    """cli(*args, size=64) -> (exit code, stdout, stderr) of `main.py stylize ...`, fp32, quiet."""
    def run(*args, size: int | None = 64, decoder: Path | None = decoder_file) -> tuple[int, str, str]:
        argv = ["stylize", *map(str, args), "--precision", "fp32", "--quiet"]
        if size is not None:
            argv += ["--size", str(size)]
        if decoder is not None:
            argv += ["--decoder", str(decoder)]
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _rgb_file(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB", im.mode
        return np.array(im)


def _assert_ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    assert "Traceback" not in err
    return out


def _assert_user_error(result: tuple[int, str, str], *words: str) -> str:
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_single_image_to_file(cli, work, suffix):
    target = work / "out" / f"result{suffix}"
    out = _assert_ok(cli(work / "content.jpg", "--style", work / "style_a.jpg", "-o", target))
    assert str(target) in out
    img = _rgb_file(target)
    assert img.shape == (61, 83, 3)
    assert img.std() > 2
    assert sorted(p.name for p in (work / "out").iterdir()) == [target.name]  # no temp files


def test_several_images_into_a_folder(cli, work):
    Image.fromarray(load_rgb(CONTENT_DIR / "flowers.jpg", (50, 40))).save(work / "b.png")
    Image.fromarray(load_rgb(CONTENT_DIR / "chicago.jpg", (40, 44))).save(work / "c.bmp")
    dest = work / "out" / "many"
    out = _assert_ok(cli(work / "content.jpg", work / "b.png", work / "c.bmp",
                         "--style", work / "style_a.jpg", "-o", dest))
    assert sorted(p.name for p in dest.iterdir()) == ["b.png", "c.png", "content.jpg"]
    assert _rgb_file(dest / "content.jpg").shape == (61, 83, 3)
    assert _rgb_file(dest / "b.png").shape == (40, 50, 3)
    assert _rgb_file(dest / "c.png").shape == (44, 40, 3)
    assert len(out.strip().splitlines()) == 3


def test_folder_input(cli, work):
    folder = work / "photos"
    folder.mkdir()
    for name, src, size in (("x.jpg", "brad_pitt.jpg", (48, 48)), ("y.png", "modern.jpg", (40, 56))):
        Image.fromarray(load_rgb(CONTENT_DIR / src, size)).save(folder / name)
    (folder / "notes.txt").write_text("ignored: not an image")
    dest = work / "out" / "styled"
    _assert_ok(cli(folder, "--style", work / "style_b.png", "-o", dest))
    assert sorted(p.name for p in dest.iterdir()) == ["x.jpg", "y.png"]
    assert _rgb_file(dest / "y.png").shape == (56, 40, 3)


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "16bit", "palette"])
def test_odd_image_formats_work(cli, work, kind):
    rgb = load_rgb(CONTENT_DIR / "flowers.jpg", (45, 33))
    src = work / f"odd_{kind}.png"
    if kind == "grayscale":
        Image.fromarray(rgb).convert("L").save(src)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]), "RGBA").save(src)
    elif kind == "16bit":
        grey = np.array(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257
        Image.fromarray(grey).save(src)
    else:
        Image.fromarray(rgb).convert("P").save(src)
    target = work / "out" / "odd.png"
    _assert_ok(cli(src, "--style", work / "style_a.jpg", "-o", target))
    assert _rgb_file(target).shape == (33, 45, 3)


# ----------------------------------------------------------------------------- styles, colour, masks


def test_mix_of_two_styles(cli, work):
    mixed, first, one_zero = (work / "out" / n for n in ("mixed.png", "first.png", "one_zero.png"))
    common = ("--style", work / "style_a.jpg")
    _assert_ok(cli(work / "content.jpg", *common, "--style", work / "style_b.png", "--mix", "0.7,0.3", "-o", mixed))
    _assert_ok(cli(work / "content.jpg", *common, "-o", first))
    _assert_ok(cli(work / "content.jpg", *common, "--style", work / "style_b.png", "--mix", "1,0", "-o", one_zero))
    assert _rgb_file(mixed).shape == (61, 83, 3)
    assert np.array_equal(_rgb_file(one_zero), _rgb_file(first))  # weight 0 really drops the second style


def _chroma_error(a: np.ndarray, b: np.ndarray) -> float:
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return float((rgb_to_ycbcr(t(a))[:, 1:] - rgb_to_ycbcr(t(b))[:, 1:]).abs().mean())


def test_preserve_color(cli, work):
    Image.fromarray(load_rgb(CONTENT_DIR / "lenna.jpg", (83, 61))).save(work / "content.png")  # lossless
    content = load_image(work / "content.png")
    results = {}
    for mode in ("none", "luminance", "histogram"):
        target = work / "out" / f"{mode}.png"
        _assert_ok(cli(work / "content.png", "--style", work / "style_a.jpg", "--preserve-color", mode,
                       "-o", target, size=None))
        results[mode] = _rgb_file(target)
    assert _chroma_error(results["luminance"], content) < 0.01
    assert _chroma_error(results["none"], content) > 0.05
    assert np.abs(results["histogram"].astype(int) - results["none"]).mean() > 0.5


def test_mask(cli, work):
    one = work / "out" / "mask1.png"
    two = work / "out" / "mask2.png"
    _assert_ok(cli(work / "content.jpg", "--style", work / "style_a.jpg", "--mask", MASK, "-o", one))
    _assert_ok(cli(work / "content.jpg", "--style", work / "style_a.jpg", "--style", work / "style_b.png",
                   "--mask", MASK, "-o", two))
    assert _rgb_file(one).shape == _rgb_file(two).shape == (61, 83, 3)
    assert not np.array_equal(_rgb_file(one), _rgb_file(two))


def test_style_given_as_a_path_to_a_real_painting(cli, work):
    target = work / "out" / "trial.jpg"
    _assert_ok(cli(work / "content.jpg", "--style", STYLE_DIR / "trial.jpg", "-o", target))
    assert _rgb_file(target).shape == (61, 83, 3)


def test_builtin_style_names(cli, work):
    builtin = [s for s in StyleLibrary().all() if s.builtin]
    if not builtin:
        pytest.skip("assets/styles holds no built-in styles yet")

    def pixels(style) -> int:
        with Image.open(style.path) as im:
            return im.width * im.height

    name = min(builtin, key=pixels).name  # the cheapest one to encode
    assert name in StyleLibrary().names()
    target = work / "out" / "builtin.png"
    _assert_ok(cli(work / "content.jpg", "--style", name, "-o", target))
    assert _rgb_file(target).shape == (61, 83, 3)


def test_user_style_by_name(cli, work):
    added = StyleLibrary().add(work / "style_b.png")
    target = work / "out" / "user.png"
    _assert_ok(cli(work / "content.jpg", "--style", added.name, "-o", target))
    assert target.is_file()


# ----------------------------------------------------------------------------- video


def test_video_keeps_frame_count_rate_and_size(cli, work, slim_decoder_file):
    # 240 frames: a slim (width 0.25) decoder keeps this the only long test; it also checks
    # that a decoder's width metadata is honoured.
    target = work / "out" / "bunny.mp4"
    out = _assert_ok(cli(VIDEO, "--style", work / "style_a.jpg", "-o", target, decoder=slim_decoder_file))
    assert "(240 frames)" in out
    assert probe_frames(target) == (240, 640, 360)
    with VideoReader(target) as src, VideoReader(VIDEO) as ref:
        assert src.fps == ref.fps == 24


# ----------------------------------------------------------------------------- bad inputs


def _zero_frame_mp4(path: Path) -> Path:
    """A valid fragmented MP4 that has a video stream but no frames (header only)."""
    full = path.with_name("full_" + path.name)
    with VideoWriter(full, 24, 64, 64) as w:
        for _ in range(3):
            w.write(np.zeros((64, 64, 3), np.uint8))
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: data.index(b"moof") - 4])
    with VideoReader(path) as r:  # premise: opens, has a stream, decodes nothing
        assert r.width == 64 and list(r) == []
    return path


def _tiny_video(path: Path) -> Path:
    with VideoWriter(path, 24, 8, 8) as w:
        for _ in range(3):
            w.write(np.zeros((8, 8, 3), np.uint8))
    return path


def _jpeg_bytes(size=(64, 64)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _make_input(case: str, work: Path) -> tuple[list, Path]:
    """(extra argv, output path) for one bad-input case."""
    style = ["--style", work / "style_a.jpg"]
    out = work / "out" / "result.jpg"
    content = work / "content.jpg"
    if case == "missing input":
        return [work / "nope.jpg", *style], out
    if case == "text as jpg":
        (work / "text.jpg").write_text("not an image at all\n" * 10)
        return [work / "text.jpg", *style], out
    if case == "truncated jpeg":
        data = _jpeg_bytes()
        (work / "cut.jpg").write_bytes(data[: len(data) // 2])
        return [work / "cut.jpg", *style], out
    if case == "1x1 image":
        Image.new("RGB", (1, 1)).save(work / "dot.png")
        return [work / "dot.png", *style], work / "out" / "result.png"
    if case == "20000x20000 png":
        (work / "huge.png").write_bytes(craft_png_header(20000, 20000))
        return [work / "huge.png", *style], work / "out" / "result.png"
    if case == "zero-frame video":
        return [_zero_frame_mp4(work / "empty.mp4"), *style], work / "out" / "result.mp4"
    if case == "garbage video":
        (work / "junk.mp4").write_bytes(os.urandom(4096))
        return [work / "junk.mp4", *style], work / "out" / "result.mp4"
    if case == "tiny video":
        return [_tiny_video(work / "tiny.mp4"), *style], work / "out" / "result.mp4"
    if case == "output under a file":
        (work / "file.txt").write_text("x")
        return [content, *style], work / "file.txt" / "out.jpg"
    if case == "image to video output":
        return [content, *style], work / "out" / "result.mp4"
    if case == "alpha 1.5":
        return [content, *style, "--alpha", "1.5"], out
    if case == "mix count":
        return [content, *style, "--mix", "0.5,0.3,0.2"], out
    if case == "mix negative":
        return [content, *style, "--style", work / "style_b.png", "--mix", "1,-1"], out
    if case == "unknown style":
        return [content, "--style", "no_such_style_xyz"], out
    if case == "style not an image":
        (work / "style.jpg").write_text("text")
        return [content, "--style", work / "style.jpg"], out
    if case == "mask with mix":
        return [content, *style, "--style", work / "style_b.png", "--mix", "1,1", "--mask", MASK], out
    if case == "bad folder member":
        folder = work / "mixed"
        folder.mkdir()
        Image.fromarray(load_rgb(CONTENT_DIR / "modern.jpg", (40, 40))).save(folder / "a_good.png")
        (folder / "b_bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
        return [folder, *style], work / "out" / "folder"
    raise AssertionError(case)


BAD_CASES = {
    "missing input": "no such file",
    "text as jpg": "not a readable image",
    "truncated jpeg": "truncated",
    "1x1 image": "too small",
    "20000x20000 png": "megapixels",
    "zero-frame video": "no frames",
    "garbage video": "not a readable video",
    "tiny video": "too small",
    "output under a file": "file.txt",
    "image to video output": "image output",
    "alpha 1.5": "alpha",
    "mix count": "--mix",
    "mix negative": "non-negative",
    "unknown style": "no style named",
    "style not an image": "not a readable image",
    "mask with mix": "--mask",
    "bad folder member": "b_bad.jpg",
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_exit_2_one_line_no_output(cli, work, case):
    argv, target = _make_input(case, work)
    before = sorted(p.name for p in (work / "out").iterdir())
    _assert_user_error(cli(*argv, "-o", target), BAD_CASES[case])
    assert not target.exists()
    assert sorted(p.name for p in (work / "out").iterdir()) == before == []


def test_size_out_of_range(cli, work):
    _assert_user_error(cli(work / "content.jpg", "--style", work / "style_a.jpg", "-o", work / "out" / "r.jpg",
                           size=8), "--size")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "ADAIN_LIVE_HOME": str(home), "OMP_NUM_THREADS": str(TEST_THREADS), "PYTHONUNBUFFERED": "1"}


def test_subprocess_bad_input_has_no_traceback(work, primed_home, decoder_file):
    (work / "text.jpg").write_text("hello")
    target = work / "out" / "r.jpg"
    proc = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "stylize", str(work / "text.jpg"), "--style",
         str(work / "style_a.jpg"), "-o", str(target), "--decoder", str(decoder_file), "--precision", "fp32"],
        cwd=work, env=_env(primed_home), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "text.jpg" in lines[0], proc.stderr
    assert not target.exists()


def test_ctrl_c_on_a_video_keeps_a_playable_partial_file(work, primed_home, slim_decoder_file):
    target = work / "out" / "partial.mp4"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "stylize", str(VIDEO), "--style", str(work / "style_a.jpg"),
         "-o", str(target), "--size", "64", "--precision", "fp32", "--decoder", str(slim_decoder_file), "--quiet"],
        cwd=work, env=_env(primed_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 150  # generous: a busy machine starves the subprocess
        while not (target.exists() and target.stat().st_size > 0):
            assert proc.poll() is None, f"exited early: {proc.communicate()}"
            assert time.monotonic() < deadline, "no output file after 150 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    frames, w, h = probe_frames(target)
    assert 0 < frames < 240 and (w, h) == (640, 360)


@pytest.mark.shipped_decoder
@pytest.mark.skipif(not DEFAULT_DECODER.exists(), reason=f"{DEFAULT_DECODER} is not in the checkout yet")
def test_default_shipped_decoder(cli, work):
    target = work / "out" / "shipped.png"
    _assert_ok(cli(work / "content.jpg", "--style", work / "style_a.jpg", "-o", target, decoder=None))
    img = _rgb_file(target)
    assert img.shape == (61, 83, 3)
    assert img.std() > 5  # a trained decoder gives a real picture, not a flat one
