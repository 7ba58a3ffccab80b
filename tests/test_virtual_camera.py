"""The virtual camera sink, driven through its backend interface with a recording fake: frame
order, size, colour order, pacing, a device that is missing or vanishes; the pipeline, the
command line and the window toggle. (No v4l2loopback device exists where these tests run:
the real pyvirtualcam backend is only checked for how it is called and how it fails.)"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads

import argparse
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import app.live.virtual_camera as vc
from app.errors import UserError
from app.live.pipeline import LivePipeline, run_headless
from app.live.recorder import fit_into
from app.live.virtual_camera import MISSING_PACKAGE, NO_DEVICE, PyVirtualCamBackend, VirtualCamera
from conftest import assert_one_line
from live_fixtures import FAKE_SETTINGS, FakeStylizer, ScriptedSource, library, pattern_frame, style_dir, wait_for  # noqa: F401


class FakeDevice:
    """A recording virtual camera: what was opened, every frame sent and when; fails on cue."""

    def __init__(self, fail_on_send: int | None = None, open_error: str = "", send_delay: float = 0.0) -> None:
        self.fail_on_send = fail_on_send
        self.open_error = open_error
        self.send_delay = send_delay
        self.opened: list[tuple[int, int, float]] = []
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = threading.Event()
        self.device = "/dev/video-fake"

    def __call__(self, width: int, height: int, fps: float) -> "FakeDevice":  # the BackendFactory
        if self.open_error:
            raise UserError(self.open_error)
        self.opened.append((width, height, fps))
        return self

    def send(self, rgb: np.ndarray) -> None:
        if self.fail_on_send is not None and len(self.frames) + 1 >= self.fail_on_send:
            raise OSError(19, "No such device")
        w, h, _ = self.opened[-1]
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8  # what pyvirtualcam's Camera.send checks
        self.frames.append(rgb.copy())
        self.times.append(time.monotonic())
        if self.send_delay:
            time.sleep(self.send_delay)

    def close(self) -> None:
        self.closed.set()


def index_of(rgb: np.ndarray) -> int:
    return int(rgb[0, -1, 2])  # pattern_frame writes its index into the blue channel


def test_frames_go_out_in_order_at_their_size_in_rgb_and_the_newest_repeats():
    device = FakeDevice()
    camera = VirtualCamera(fps=40, backend=device).start()
    try:
        for i in range(1, 9):
            camera.submit(pattern_frame(i))
            time.sleep(0.1)  # an engine at 10 fps: the camera at 40 fps repeats each result
        assert wait_for(lambda: index_of(device.frames[-1]) == 8, timeout=10)
    finally:
        stats = camera.stop()
    assert device.opened == [(64, 48, 40.0)]
    sent = [index_of(f) for f in device.frames]
    assert sent == sorted(sent) and set(sent) <= set(range(1, 9)) and sent[-1] == 8  # never out of order
    assert stats.repeats == len(sent) - len(set(sent)) > 0
    first = device.frames[0]
    assert np.array_equal(first, pattern_frame(sent[0]))  # untouched: RGB in, RGB out
    assert tuple(first[0, 0]) == (255, 0, sent[0])  # the red band is red, not blue (no BGR swap)
    assert device.closed.is_set() and stats.sent == len(device.frames) and not stats.error


def test_the_camera_keeps_its_size_when_the_results_change_size():
    device = FakeDevice()
    camera = VirtualCamera(fps=30, backend=device).start()
    try:
        camera.submit(pattern_frame(1, h=48, w=64))
        assert wait_for(lambda: len(device.frames) >= 1, timeout=10)
        bigger = pattern_frame(2, h=120, w=80)
        camera.submit(bigger)
        assert wait_for(lambda: index_of(device.frames[-1]) != 1, timeout=10)
    finally:
        camera.stop()
    assert device.opened == [(64, 48, 30.0)] and {f.shape for f in device.frames} == {(48, 64, 3)}
    assert np.array_equal(device.frames[-1], fit_into(bigger, 64, 48))  # letterboxed, aspect kept


def test_the_camera_sends_at_its_own_rate_whatever_the_engine_does():
    device = FakeDevice()
    camera = VirtualCamera(fps=20, backend=device).start()
    try:
        camera.submit(pattern_frame(1))  # one result, then the engine stalls
        assert wait_for(lambda: len(device.frames) >= 1, timeout=10)
        time.sleep(1.0)
        for i in range(2, 200):  # then floods it: 200 results in a blink
            camera.submit(pattern_frame(i))
        time.sleep(0.5)
    finally:
        camera.stop()
    t = device.times
    span = t[-1] - t[0]
    assert len(t) - 1 <= 20 * span + 1  # never faster than the camera's rate, flood or not
    assert len(t) - 1 >= 0.5 * 20 * span  # and it keeps sending during the stall (slack for a loaded machine)
    during_stall = [f for f in device.frames if index_of(f) == 1]
    assert len(during_stall) >= 8  # ~20 expected over the second-long stall
    assert index_of(device.frames[-1]) == 199  # after the flood: the newest, the rest were skipped


def test_a_device_that_vanishes_ends_the_camera_with_one_line_and_nothing_else():
    device = FakeDevice(fail_on_send=5)
    camera = VirtualCamera(fps=50, backend=device).start()
    camera.submit(pattern_frame(1))
    assert wait_for(lambda: camera.error != "", timeout=10)
    assert not camera.active and device.closed.is_set() and len(device.frames) == 4
    assert_one_line(camera.error)
    assert "/dev/video-fake stopped taking frames" in camera.error and "No such device" in camera.error
    camera.submit(pattern_frame(2))  # the engine's sink keeps being called: harmless
    stats = camera.stop()
    assert stats.sent == 4 and stats.line().startswith("virtual camera: ")


def test_no_device_is_one_sentence_that_says_what_to_install():
    camera = VirtualCamera(backend=FakeDevice(open_error=NO_DEVICE)).start()
    camera.submit(pattern_frame(1))
    assert wait_for(lambda: camera.error != "", timeout=10)
    camera.stop()
    assert camera.error == NO_DEVICE
    assert_one_line(NO_DEVICE)
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in NO_DEVICE and "OBS" in NO_DEVICE


def test_a_camera_stopped_before_its_first_frame_opens_nothing():
    device = FakeDevice()
    camera = VirtualCamera(backend=device).start()
    stats = camera.stop()
    assert device.opened == [] and stats.sent == 0 and not stats.error


def test_the_frame_rate_is_checked():
    with pytest.raises(UserError, match="between 1 and 120"):
        VirtualCamera(fps=0)


# ---------------------------------------------------------------------------- the real backend


def test_pyvirtualcam_is_asked_for_rgb_frames_of_the_stream_size(monkeypatch):
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    calls = []

    class RecordingCamera:
        device = "/dev/video9"

        def __init__(self, width, height, fps, **kw):
            calls.append((width, height, fps, kw))

        def send(self, frame):
            calls.append(frame)

        def close(self):
            calls.append("closed")

    monkeypatch.setattr(pyvirtualcam, "Camera", RecordingCamera)
    backend = PyVirtualCamBackend(64, 48, 30.0)
    frame = pattern_frame(3)
    backend.send(frame)
    backend.close()
    assert calls[0] == (64, 48, 30.0, {"fmt": pyvirtualcam.PixelFormat.RGB}) and backend.device == "/dev/video9"
    assert calls[1] is frame and calls[2] == "closed"


@pytest.mark.skipif(any(Path("/dev").glob("video*")), reason="a video device exists: it might be a real loopback")
def test_without_v4l2loopback_the_real_backend_says_what_to_install():
    pytest.importorskip("pyvirtualcam")
    with pytest.raises(UserError) as err:
        PyVirtualCamBackend(64, 48, 30.0)
    assert str(err.value) == NO_DEVICE


def test_a_missing_pyvirtualcam_is_one_line_naming_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(vc.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyvirtualcam" else real(name, *a))
    with pytest.raises(UserError) as err:
        PyVirtualCamBackend(64, 48, 30.0)
    assert str(err.value) == MISSING_PACKAGE and "pip install pyvirtualcam" in MISSING_PACKAGE
    from app.cli.live import add_arguments, options

    p = argparse.ArgumentParser()
    add_arguments(p)
    with pytest.raises(UserError, match="pip install pyvirtualcam"):
        options(p.parse_args(["--virtual-camera"]))


# ---------------------------------------------------------------------------- in the pipeline


def test_the_pipeline_sends_its_results_and_a_slow_device_never_slows_the_engine():
    device = FakeDevice(send_delay=0.3)  # a device ten times slower than the engine
    pipeline = LivePipeline(FakeStylizer(), ScriptedSource(fps=100), settings=FAKE_SETTINGS,
                            camera_backend=device).start()
    try:
        pipeline.start_virtual_camera(fps=30)
        assert wait_for(lambda: len(device.frames) >= 2, timeout=10)
        before = pipeline.stats().engine.processed
        time.sleep(0.6)
        engine_frames = pipeline.stats().engine.processed - before
        assert engine_frames >= 10  # the engine ran on (about 60 results at the source's 100 fps)
        assert pipeline.stats().virtual_camera.sent <= 4  # while the device took ~2
        assert tuple(device.frames[0][0, 0, :2]) == (0, 255)  # the stylized (inverted) red band, in RGB
    finally:
        pipeline.stop()
    assert pipeline.virtual_camera is None and device.closed.is_set()
    assert pipeline.last_virtual_camera.sent == len(device.frames)


def test_a_headless_run_keeps_going_when_the_device_vanishes_and_says_so():
    import io

    device = FakeDevice(fail_on_send=3)
    pipeline = LivePipeline(FakeStylizer(delay=0.01), ScriptedSource(fps=100), settings=FAKE_SETTINGS,
                            camera_backend=device)
    pipeline.start_virtual_camera(fps=60)
    text = io.StringIO()
    summary = run_headless(pipeline, 40, out=text)
    assert summary.frames == 40 and summary.errors == 0  # every frame asked for, device or not
    assert summary.virtual_camera.sent == 2 and "stopped taking frames" in summary.virtual_camera.error
    assert "virtual camera: /dev/video-fake stopped taking frames" in text.getvalue()


def test_the_window_toggle_starts_and_stops_the_camera_and_reports_a_missing_device(qtbot, library):
    from app.ui.state import UiState
    from app.ui.window import MainWindow

    device = FakeDevice()
    pipeline = LivePipeline(FakeStylizer(), ScriptedSource(fps=50), settings=FAKE_SETTINGS, camera_backend=device)
    window = MainWindow(pipeline, library, UiState(styles=library.names()[:1], size=64, stabilize=0.0),
                        save_on_close=False)
    qtbot.addWidget(window)
    pipeline.start()
    try:
        button = window.controls.virtual_camera_button
        button.click()
        assert button.isChecked() and pipeline.virtual_camera is not None
        qtbot.waitUntil(lambda: len(device.frames) >= 3, timeout=10_000)
        qtbot.keyClick(window, "V")
        assert not button.isChecked() and pipeline.virtual_camera is None and device.closed.is_set()

        pipeline.camera_backend = FakeDevice(open_error=NO_DEVICE)
        qtbot.keyClick(window, "V")
        qtbot.waitUntil(lambda: not button.isChecked(), timeout=10_000)  # refresh_status saw the error
        assert "sudo modprobe v4l2loopback" in window.statusBar().currentMessage()
        assert pipeline.virtual_camera is None and pipeline.worker.alive  # the app keeps running
    finally:
        window.close()
