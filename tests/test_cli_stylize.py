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

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from app.images import load_image
from app.tools.offline import Job, stylize_video
from app.styles import StyleLibrary
from app.video_io import VideoReader, VideoWriter, probe_frames
from app.weights import DEFAULT_DECODER
from conftest import CONTENT_DIR, MASK, REPO, STYLE_DIR, TEST_THREADS, VIDEO, craft_png_header, load_rgb
from models.color import rgb_to_ycbcr

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence


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


def _noise_video(path: Path, frames: int, fps: int = 24) -> Path:
    """Random 64x48 frames in short fragments (a keyframe every 6), so a cut keeps some."""
    rng = np.random.default_rng(3)
    with VideoWriter(path, fps, 64, 48, keyframe_seconds=0.25) as w:
        for _ in range(frames):
            w.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return path


def _pts_seconds(path: Path) -> tuple[list[float], Fraction]:
    """Each decoded frame's presentation time in seconds from the first frame's (an H.264 MP4
    may start after the encoder's delay), and the stream's tick."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        tick = stream.time_base  # read while open: PyAV 18 refuses a closed container's streams
        times = [float(f.pts * tick) for f in c.decode(stream)]
    return [t - times[0] for t in times], tick


@pytest.mark.parametrize("damage", ["cut at 70%", "garbage after 70%"])
def test_video_with_a_damaged_tail_keeps_what_decodes_and_warns_once(cli, work, damage):
    data = _noise_video(work / "intact.mp4", 24).read_bytes()
    keep = int(len(data) * 0.7)
    tail = b"" if damage.startswith("cut") else np.random.default_rng(4).bytes(len(data) - keep)
    source = work / "damaged.mp4"
    source.write_bytes(data[:keep] + tail)
    target = work / "out" / "styled.mp4"
    code, out, err = cli(source, "--style", work / "style_a.jpg", "-o", target)
    assert code == 0, err
    frames, w, h = probe_frames(target)
    assert 0 < frames < 24 and (w, h) == (64, 48)
    assert f"{target}  ({frames} frames)" in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0] == f"warning: {source} has a damaged tail; stylized the {frames} frames that decoded"
    with VideoReader(target) as reader:  # the output itself is whole
        assert len(list(reader)) == frames and not reader.damaged_tail


def test_variable_frame_rate_video_keeps_every_frame_at_its_time(cli, work):
    gaps_ms = [40, 40, 40, 300, 10, 10, 10, 80, 40, 40, 120, 40]  # a stall, a burst: not one rate
    source = work / "vfr.mp4"
    with av.open(str(source), "w") as c:
        stream = c.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        rng = np.random.default_rng(5)
        for pts in np.cumsum([0, *gaps_ms]):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    times_in, tick_in = _pts_seconds(source)
    assert np.allclose(np.diff(times_in), np.array(gaps_ms) / 1000, atol=0.001)  # premise: really uneven

    target = work / "out" / "vfr_styled.mp4"
    code, out, err = cli(source, "--style", work / "style_a.jpg", "-o", target)
    assert code == 0, err
    assert "warning" not in err and f"({len(gaps_ms) + 1} frames)" in out
    times_out, tick_out = _pts_seconds(target)
    assert len(times_out) == len(times_in)
    assert np.allclose(times_out, times_in, atol=float(max(tick_in, tick_out)) + 1e-9), (times_out, times_in)


class _Identity:
    """A stand-in stylizer: returns the frame (only the timing is under test)."""

    def stylize(self, rgb: np.ndarray, settings: object, features=None, picture=None) -> np.ndarray:
        return picture(rgb) if picture is not None else rgb


def test_a_video_without_timestamps_falls_back_to_its_nominal_rate(work):
    source = work / "raw.h264"  # an elementary stream: frames carry no pts
    with av.open(str(source), "w", format="h264") as c:
        stream = c.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    with av.open(str(source)) as c:  # premise
        assert [f.pts for f in c.decode(video=0)] == [None] * 6
    target = work / "out" / "raw.mp4"
    assert stylize_video(_Identity(), Job(source, target), None, progress=False) == 6
    times, tick = _pts_seconds(target)
    assert np.allclose(times, [i / 25 for i in range(6)], atol=float(tick) + 1e-9), times


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
    if case == "palette 1.5":
        return [content, *style, "--palette", "1.5"], out
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
    "palette 1.5": "--palette must be between 0 and 1",
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


# ----------------------------------------------------------------------------- weights files and engine faults


class _Payload:
    """Unpickling this would create ``marker``: a weights file carrying code."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _bad_decoder(kind: str, work: Path) -> Path:
    path = work / f"{kind.replace(' ', '_')}.pth"
    if kind == "missing":
        return path
    if kind == "text renamed":
        path.write_text("I am a decoder, honest\n")
    elif kind == "truncated":
        import torch

        buf = work / "full.pth"
        torch.save({"1.weight": torch.zeros(256, 512, 3, 3)}, buf)
        path.write_bytes(buf.read_bytes()[:2000])
    elif kind == "pickle carrying code":
        import torch

        payload = _Payload()
        payload.marker = str(work / "PWNED")
        torch.save({"1.weight": payload}, path)
    elif kind == "wrong shapes":
        import torch

        torch.save({"1.weight": torch.zeros(3, 3, 3, 3), "1.bias": torch.zeros(3)}, path)
    return path


BAD_DECODERS = {"missing": "no such", "text renamed": "decoder", "truncated": "decoder",
                "pickle carrying code": "refused for safety", "wrong shapes": "decoder"}


@pytest.mark.parametrize("kind", list(BAD_DECODERS))
def test_a_bad_decoder_file_is_one_line_and_nothing_is_written(cli, work, kind):
    bad = _bad_decoder(kind, work)
    target = work / "out" / "r.jpg"
    line = _assert_user_error(cli(work / "content.jpg", "--style", work / "style_a.jpg", "-o", target, decoder=bad),
                              BAD_DECODERS[kind])
    assert bad.name in line
    assert not (work / "PWNED").exists(), "loading the decoder ran code from it"
    assert list((work / "out").iterdir()) == []


@pytest.mark.parametrize("kind", ["pickle carrying code", "wrong shapes"])
def test_live_refuses_a_bad_decoder_file_in_one_line(work, kind, capsys):
    bad = _bad_decoder(kind, work)
    rc = main(["live", "--source", str(VIDEO), "--no-window", "--frames", "2", "--decoder", str(bad),
               "--precision", "fp32", "--size", "64"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and bad.name in err
    assert BAD_DECODERS[kind] in err.lower()
    assert not (work / "PWNED").exists()


def test_an_engine_failure_mid_video_leaves_no_half_written_file(work, monkeypatch, capsys, decoder_file):
    from app.engine import Stylizer

    real, calls = Stylizer.stylize, []

    def fail_on_the_fourth(self, frame, settings, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("simulated engine fault")
        return real(self, frame, settings, **kw)

    monkeypatch.setattr(Stylizer, "stylize", fail_on_the_fourth)
    target = work / "out" / "r.mp4"
    with pytest.raises(RuntimeError, match="simulated"):
        main(["stylize", str(VIDEO), "--style", str(work / "style_a.jpg"), "-o", str(target), "--size", "64",
              "--precision", "fp32", "--quiet", "--decoder", str(decoder_file)])
    assert len(calls) == 4
    assert list((work / "out").iterdir()) == []  # the three frames written before are not left as a stub
