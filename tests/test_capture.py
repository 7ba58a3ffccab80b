"""Capture: source specs, RGB at the edge, pacing, looping, one-slot handoff, recovery, mirror."""
from __future__ import annotations

import time

import av
import numpy as np
import pytest

from app.live.capture import CaptureThread, FrameFeed
from app.live.sources import CameraSource, DemoSource, FileSource, ImageSource, StreamSource, open_source, parse_size
from app.errors import UserError
from app.video_io import VideoReader, VideoWriter
from conftest import assert_one_line
from live_fixtures import FAST_BACKOFF, MEDIA, VIDEO, ScriptedSource, pattern_frame, wait_for

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence


def test_source_specs(tmp_path):
    assert isinstance(open_source(None), CameraSource) and open_source(None).index == 0
    assert open_source("2", (320, 240)).size == (320, 240)
    assert isinstance(open_source("demo"), DemoSource)
    assert isinstance(open_source("rtsp://10.0.0.2/stream"), StreamSource)
    assert isinstance(open_source(str(VIDEO)), FileSource)
    assert isinstance(open_source(MEDIA / "content" / "lenna.jpg"), ImageSource)
    for bad in (tmp_path / "missing.mp4", tmp_path):
        with pytest.raises(UserError) as err:
            open_source(str(bad))
        assert_one_line(str(err.value))
    assert parse_size("1280x720") == (1280, 720)
    with pytest.raises(UserError):
        parse_size("big")


def test_file_frames_are_rgb_and_paced_at_the_file_rate():
    with av.open(str(VIDEO)) as container:  # the file's first two seconds, as PyAV decodes them in RGB
        decoded = [f.to_ndarray(format="rgb24") for f, _ in zip(container.decode(video=0), range(48))]
    cap = CaptureThread(FileSource(VIDEO)).start()
    try:
        frame = cap.read(0, timeout=10)  # usually frame 1; a later one when this thread was kept waiting
        assert frame is not None and 1 <= frame.index <= len(decoded)
        assert frame.rgb.shape == (360, 640, 3) and frame.rgb.dtype == np.uint8
        same = decoded[frame.index - 1]
        diff_rgb = np.abs(frame.rgb.astype(int) - same).mean()
        diff_bgr = np.abs(frame.rgb[..., ::-1].astype(int) - same).mean()
        assert diff_rgb < 3 < diff_bgr, (diff_rgb, diff_bgr)  # converted from OpenCV's BGR
        time.sleep(1.2)
        assert cap.stats().fps <= 24 * 1.25  # paced: never faster than the file plays
        assert cap.stats().frames <= 1.2 * 24 * 1.25 + 2
        assert cap.state == "live" and "24 fps" in cap.status
    finally:
        cap.stop()
    assert cap.state == "stopped"


def test_video_files_loop(tmp_path):
    path = tmp_path / "five.mp4"
    with VideoWriter(path, 50, 64, 48) as writer:
        for i in range(5):
            writer.write(pattern_frame(i * 40))
    source = FileSource(path)
    cap = CaptureThread(source).start()
    try:
        assert wait_for(lambda: cap.feed.count >= 13, timeout=15)
    finally:
        cap.stop()
    assert source.loops >= 2
    assert cap.stats().failures == 0  # the end of the file is not a failure


def test_a_video_file_with_a_cut_tail_still_loops(tmp_path):
    full = tmp_path / "full.mp4"
    with VideoWriter(full, 50, 64, 48, keyframe_seconds=0.1) as writer:
        for i in range(20):
            writer.write(pattern_frame(i * 12))
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with VideoReader(cut) as reader:  # premise: the tail really is gone
        assert 0 < len(list(reader)) < 20 and reader.damaged_tail
    source = FileSource(cut)
    cap = CaptureThread(source).start()
    try:
        assert wait_for(lambda: cap.feed.count >= 45, timeout=20)  # more than twice the whole file
        frame = cap.read(0, timeout=5)
        assert frame is not None and frame.rgb.shape == (48, 64, 3)
        assert cap.state == "live"
    finally:
        cap.stop()
    assert source.loops >= 2
    assert cap.stats().failures == 0 and cap.stats().reconnects == 0  # the cut end is just an end


def test_one_slot_keeps_only_the_newest_frame():
    feed = FrameFeed()
    for i in range(100):
        feed.publish(pattern_frame(i), time.monotonic())
    frame = feed.read(0, timeout=0)
    assert frame.index == 100 and frame.rgb[0, 0, 2] == 99
    assert feed.dropped == 99  # overwritten, never queued
    assert feed.read(100, timeout=0.05) is None  # nothing newer: waits, then gives up
    feed.publish(pattern_frame(7), time.monotonic())
    assert feed.read(100, timeout=0).index == 101


def test_a_source_that_fails_mid_run_recovers():
    source = ScriptedSource(frames_per_life=5, failed_opens=2, fps=200)
    cap = CaptureThread(source, backoff=FAST_BACKOFF).start()
    states = set()
    try:
        def recovered() -> bool:
            states.add(cap.state)
            return cap.stats().reconnects == 1 and cap.feed.count >= 15

        assert wait_for(recovered, timeout=15, interval=0.002)
        st = cap.stats()
    finally:
        cap.stop()
    assert "retrying" in states and "live" in states
    assert st.failures == 3  # lost once, then two failed reopens
    assert st.state == "live" and st.last_error == "unplugged"
    assert source.opens == 4


def test_status_says_when_a_source_cannot_be_opened():
    cap = CaptureThread(ScriptedSource(first_open_fails=100), backoff=FAST_BACKOFF).start()
    try:
        assert cap.wait_started(5) is False
        assert cap.state == "retrying"
        assert "not there yet" in cap.status and "retrying in" in cap.status
        assert wait_for(lambda: cap.stats().failures >= 3, timeout=5)  # it keeps trying
    finally:
        cap.stop()


def test_a_missing_camera_is_reported_not_fatal():
    cap = CaptureThread(CameraSource(97), backoff=FAST_BACKOFF).start()
    try:
        assert cap.wait_started(10) is False
        assert "no camera at index 97" in cap.status
        assert cap.alive
    finally:
        cap.stop()


def test_mirror_flips_left_right_and_toggles_live():
    cap = CaptureThread(ScriptedSource(fps=200), mirror=True).start()
    try:
        frame = cap.read(0, timeout=5)
        assert np.array_equal(frame.rgb, pattern_frame(int(frame.rgb[0, 0, 2]))[:, ::-1])
        cap.mirror = False
        time.sleep(0.05)
        frame = cap.read(frame.index, timeout=5)
        assert np.array_equal(frame.rgb, pattern_frame(int(frame.rgb[0, 0, 2])))
    finally:
        cap.stop()


def test_still_image_repeats_one_array():
    cap = CaptureThread(ImageSource(MEDIA / "content" / "lenna.jpg"), mirror=True).start()
    try:
        a = cap.read(0, timeout=5)
        b = cap.read(a.index, timeout=5)
        assert a.rgb is b.rgb  # the engine can tell a repeat from a new picture
        assert not a.rgb.flags.writeable  # shared by every frame: read-only
    finally:
        cap.stop()


def test_demo_source_is_deterministic_and_moves():
    demo = DemoSource(size=(160, 90), fps=30)
    demo.open()
    a, b = demo.frame_at(0), demo.frame_at(30)
    assert a.shape == (90, 160, 3) and a.dtype == np.uint8
    assert np.array_equal(a, demo.frame_at(0))
    assert np.abs(a.astype(int) - b).mean() > 1.0  # it pans and zooms
    fade = demo.frame_at(int(30 * demo.seconds_per_image * 0.95))  # inside a cross-fade
    assert fade.std() > 5
    assert demo.read().shape == (90, 160, 3)
