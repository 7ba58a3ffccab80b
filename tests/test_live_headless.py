"""The headless live pipeline: `main.py live --no-window`, the no-display fallback, bad sources,
and the pipeline object the window, kiosk and benchmark share."""
from __future__ import annotations

import io
import time
from pathlib import Path

import av
import pytest
from PIL import Image

import app.live.launch as launch
from app import display
from app.live.sources import CameraSource, SourceError
from app.cli import main
from app.live.pipeline import LivePipeline, run_headless
from app.paths import videos_dir
from app.video_io import FRAGMENTED_MP4, probe_frames
from conftest import assert_one_line, craft_png_header
from live_fixtures import FAST_BACKOFF, STYLE_FILES, VIDEO, FAKE_SETTINGS, FakeStylizer, ScriptedSource, wait_for

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

ENGINE = ["--device", "cpu", "--precision", "fp32", "--size", "64"]


def test_headless_run_records_exactly_the_frames_asked_for(primed_home, decoder_file, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    rc = main(["live", "--source", str(VIDEO), "--no-window", "--frames", "5", "--record", str(out),
               "--style", str(STYLE_FILES[0]), "--decoder", str(decoder_file), *ENGINE])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert probe_frames(out) == (5, 640, 360)
    assert "5 frames" in printed and "fps achieved" in printed and "latency" in printed
    assert "recorded 5 frames" in printed and str(out) in printed


def _video_without_frames(path: Path) -> None:
    """An MP4 with a video stream (header and empty fragment) but not a single frame."""
    with av.open(str(path), "w", options={"movflags": FRAGMENTED_MP4}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
        out.mux(stream.encode(None))


BAD_SOURCES = {
    "missing.mp4": "no such file",
    "empty.mp4": "not a readable video",
    "text_renamed.mp4": "not a readable video",
    "truncated.mp4": "not a readable video",  # the first half of cutBunny.mp4: its index is at the end
    "no_frames.mp4": "not a readable video",
    "http://127.0.0.1:9/none.mp4": "cannot connect",
    "dot.png": "too small",  # a still image is a source too: the image loader's refusals apply
    "bomb.png": "megapixels",
    "text_renamed.png": "not a readable image",
}


@pytest.mark.parametrize("source", list(BAD_SOURCES))
def test_a_bad_source_is_one_line_and_exit_2(source, primed_home, decoder_file, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text_renamed.mp4").write_text("hello, I am not a video\n")
    (tmp_path / "truncated.mp4").write_bytes(VIDEO.read_bytes()[: VIDEO.stat().st_size // 2])
    _video_without_frames(tmp_path / "no_frames.mp4")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    (tmp_path / "bomb.png").write_bytes(craft_png_header(20000, 20000))
    (tmp_path / "text_renamed.png").write_text("hello, I am not an image\n")
    capfd.readouterr()
    rc = main(["live", "--source", source, "--no-window", "--frames", "5", "--decoder", str(decoder_file), *ENGINE])
    out, err = capfd.readouterr()  # the file descriptors: FFmpeg or OpenCV noise would show here too
    err = err.strip()
    assert rc == 2 and out == ""
    assert_one_line(err)
    assert err.startswith("error: ") and source.split("/")[-1] in err and BAD_SOURCES[source] in err


def test_without_a_display_the_app_runs_the_headless_demo(primed_home, decoder_file, monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(display.sys, "platform", "linux")
    monkeypatch.setattr(launch, "DEMO_FRAMES", 3)

    def no_camera(self):
        raise SourceError("no camera")

    monkeypatch.setattr(CameraSource, "open", no_camera)
    rc = main(["--decoder", str(decoder_file), *ENGINE])
    printed = capsys.readouterr().out
    assert rc == 0
    first = printed.splitlines()[0]
    assert first.startswith("No display server found") and "demo" in first
    videos = list(videos_dir().glob("*.mp4"))
    assert len(videos) == 1 and str(videos[0]) in first
    assert probe_frames(videos[0]) == (3, 640, 360)


def test_pipeline_recovers_when_its_source_fails_mid_run():
    source = ScriptedSource(frames_per_life=4, failed_opens=2, fps=100)
    pipeline = LivePipeline(FakeStylizer(), source, settings=FAKE_SETTINGS, backoff=FAST_BACKOFF).start()
    try:
        assert wait_for(lambda: pipeline.stats().capture.reconnects == 1 and pipeline.stats().engine.processed >= 8,
                        timeout=20)
        before = pipeline.stats().engine.processed
        assert wait_for(lambda: pipeline.stats().engine.processed > before + 3, timeout=10)  # flowing again
    finally:
        pipeline.stop()
    assert pipeline.stats().capture.state == "stopped"


def test_run_headless_reports_rate_latency_and_drops():
    pipeline = LivePipeline(FakeStylizer(delay=0.03), ScriptedSource(fps=200), settings=FAKE_SETTINGS)
    text = io.StringIO()
    summary = run_headless(pipeline, 10, out=text)
    assert summary.frames == 10 and summary.errors == 0
    assert 0 < summary.fps < 40 and summary.latency_ms >= summary.engine_ms >= 25
    assert summary.captured > summary.frames and summary.skipped > 0
    assert "10 frames" in text.getvalue() and "skipped" in text.getvalue()
    assert not pipeline.worker.alive and not pipeline.capture.alive


def test_pipeline_switches_source_and_keeps_going():
    pipeline = LivePipeline(FakeStylizer(), ScriptedSource(fps=100, size=(64, 48)), settings=FAKE_SETTINGS).start()
    try:
        assert pipeline.read(0, timeout=10).rgb.shape == (48, 64, 3)
        pipeline.set_source(ScriptedSource(fps=100, size=(32, 24)))
        assert wait_for(lambda: pipeline.latest().rgb.shape == (24, 32, 3), timeout=10)
        pipeline.mirror = True
        assert pipeline.capture.mirror
    finally:
        pipeline.stop()


def test_a_stalled_source_ends_a_headless_run_with_a_clear_error():
    from app.errors import UserError

    pipeline = LivePipeline(FakeStylizer(), ScriptedSource(frames_per_life=3, failed_opens=10**6, fps=100),
                            settings=FAKE_SETTINGS,
                            backoff=FAST_BACKOFF)
    t0 = time.monotonic()
    with pytest.raises(UserError, match="no stylized frame for 1 s"):
        run_headless(pipeline, 100, stall_timeout=1.0, out=io.StringIO())
    assert time.monotonic() - t0 < 10
