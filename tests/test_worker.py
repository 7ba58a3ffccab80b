"""Engine worker: newest frame in, stylized frame out with its capture time; settings apply on
the next frame without re-encoding styles; failures are counted; latency stays bounded."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.live.capture import CaptureThread, FrameFeed
from app.engine import Settings
from app.images import load_image
from app.live.worker import EngineWorker
from live_fixtures import (FAKE_SETTINGS, MEDIA, STYLE_FILES, FakeStylizer,  # noqa: F401
                           ScriptedSource, pattern_frame, tiny_stylizer, wait_for)

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence


def _content() -> np.ndarray:
    return np.ascontiguousarray(load_image(MEDIA / "content" / "lenna.jpg")[::4, ::4])


def test_results_carry_the_frame_and_its_capture_time(tiny_stylizer):
    sid = tiny_stylizer.add_style(load_image(STYLE_FILES[0]))
    feed = FrameFeed()
    worker = EngineWorker(tiny_stylizer, feed, settings=Settings(styles=(sid,), size=64)).start()
    try:
        content = _content()
        frame = feed.publish(content, time.monotonic())
        result = worker.read(0, timeout=30)
    finally:
        worker.stop()
    assert result is not None and result.seq == 1 and result.stylized
    assert result.source is frame and result.capture_ts == frame.timestamp
    assert result.rgb.shape == content.shape and result.rgb.dtype == np.uint8
    assert not np.array_equal(result.rgb, content)
    assert result.latency >= result.engine_time > 0
    st = worker.stats()
    assert st.processed == 1 and st.errors == 0 and st.latency_ms > 0


def test_settings_apply_on_the_next_frame_and_styles_are_encoded_once(tiny_stylizer):
    encodes = []
    real_encode = tiny_stylizer.encode_stats
    tiny_stylizer.encode_stats = lambda x: encodes.append(1) or real_encode(x)
    feed = FrameFeed()
    worker = EngineWorker(tiny_stylizer, feed).start()
    content = _content()
    try:
        ids = [worker.submit(lambda s, p=p: s.add_style(load_image(p))).result(30) for p in STYLE_FILES[:2]]
        assert len(encodes) == 2
        outputs = {}
        for step, changes in enumerate([dict(styles=(ids[0],), size=64), dict(styles=(ids[1],)),
                                        dict(styles=(ids[0],)), dict(alpha=0.0), dict(alpha=1.0)]):
            worker.update(**changes)
            feed.publish(content, time.monotonic())
            result = worker.read(step, timeout=30)
            assert result is not None and result.seq == step + 1
            assert result.settings is worker.settings  # the snapshot it used is the current one
            outputs[step] = result.rgb
    finally:
        worker.stop()
    assert len(encodes) == 2  # switching styles never re-encodes a style
    assert np.abs(outputs[0].astype(int) - outputs[1]).mean() > 1  # another style, another picture
    assert np.array_equal(outputs[0], outputs[2])  # back to the first style: the same picture
    assert np.abs(outputs[3].astype(int) - outputs[2]).mean() > 1  # alpha 0 differs from alpha 1
    assert np.array_equal(outputs[4], outputs[2])


def test_jobs_run_on_the_engine_thread():
    stylizer = FakeStylizer()
    worker = EngineWorker(stylizer, FrameFeed(), settings=FAKE_SETTINGS).start()
    try:
        assert worker.submit(lambda s: threading.current_thread().name).result(5) == "engine"
        failing = worker.submit(lambda s: 1 / 0)
        assert isinstance(failing.exception(5), ZeroDivisionError)
        assert worker.alive
    finally:
        worker.stop()


def test_a_failing_frame_is_counted_and_the_stream_goes_on(caplog):
    stylizer = FakeStylizer(fail_on=(2,))
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=FAKE_SETTINGS).start()
    try:
        for i in range(4):
            feed.publish(pattern_frame(i), time.monotonic())
            assert wait_for(lambda: stylizer.calls >= i + 1, timeout=5)
        assert wait_for(lambda: worker.stats().processed == 3, timeout=5)
    finally:
        worker.stop()
    st = worker.stats()
    assert st.errors == 1 and "boom on call 2" in st.last_error
    assert worker.latest().source.index == 4
    assert stylizer.threads == {"engine"}
    logged = [r for r in caplog.records if r.name == "app.live.worker" and r.levelname == "ERROR"]
    assert len(logged) == 1 and logged[0].exc_info is not None  # logged once, with its traceback


def test_a_slow_engine_drops_frames_instead_of_building_latency():
    """Capture at 100 fps, engine at ~12 fps: each result is at most about one engine step old."""
    engine_step = 0.08
    stylizer = FakeStylizer(delay=engine_step)
    cap = CaptureThread(ScriptedSource(fps=100)).start()
    worker = EngineWorker(stylizer, cap.feed, settings=FAKE_SETTINGS).start()
    latencies = []
    worker.add_sink(lambda r: latencies.append(r.latency))
    try:
        assert wait_for(lambda: len(latencies) >= 12, timeout=20)
    finally:
        worker.stop()
        cap.stop()
    late = latencies[2:]
    # Waiting time is at most one capture period plus jitter; no backlog means no growth.
    assert max(late) < engine_step + 0.15, latencies
    assert np.mean(late[-4:]) < np.mean(late[:4]) + 0.05, latencies
    st = worker.stats()
    assert st.skipped > st.processed  # most captured frames were never queued
    assert cap.feed.dropped >= st.skipped - 1


def test_a_still_picture_is_stylized_once_per_settings_change():
    stylizer = FakeStylizer()
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=FAKE_SETTINGS, skip_repeats=True).start()
    still = pattern_frame(3)
    try:
        for _ in range(5):
            feed.publish(still, time.monotonic())
            time.sleep(0.01)
        assert wait_for(lambda: worker.stats().processed == 1, timeout=5)
        worker.update(alpha=0.5)
        feed.publish(still, time.monotonic())
        assert wait_for(lambda: worker.stats().processed == 2, timeout=5)
        time.sleep(0.05)
    finally:
        worker.stop()
    assert stylizer.calls == 2


def test_a_bound_method_sink_is_removed_by_the_same_method():
    """``obj.method`` is a new object at each access: removal must compare, not test identity."""

    class Counter:
        def __init__(self) -> None:
            self.calls = 0

        def on_frame(self, _result) -> None:
            self.calls += 1

    counter = Counter()
    feed = FrameFeed()
    worker = EngineWorker(FakeStylizer(), feed, settings=FAKE_SETTINGS)
    worker.add_sink(counter.on_frame)
    worker.remove_sink(counter.on_frame)
    worker.start()
    try:
        feed.publish(pattern_frame(1), time.monotonic())
        assert worker.read(0, timeout=10) is not None
    finally:
        worker.stop()
    assert counter.calls == 0
