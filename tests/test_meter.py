"""One latency/FPS window (app.live.meter) behind both the overlay's figures and the headless summary."""
from __future__ import annotations

import pytest

from app.live.meter import FrameWindow, percentile


def test_the_figures_of_a_window_are_its_frames_mean_p95_and_rate():
    window = FrameWindow(maxlen=None)
    for i in range(20):  # one result every 0.1 s; latencies 10..200 ms
        window.add(finished=0.1 * i, latency=0.01 * (i + 1), engine_time=0.005)
    t = window.timing()
    assert t.frames == 20
    assert t.fps == pytest.approx(10.0)
    assert t.latency_ms == pytest.approx(105.0)
    assert t.latency_p95_ms == pytest.approx(190.0)  # nearest rank: the 19th of 20
    assert t.engine_ms == pytest.approx(5.0)


def test_a_bounded_window_keeps_only_its_last_frames():
    window = FrameWindow(maxlen=3)
    for i in range(10):
        window.add(float(i), float(i), 0.0)
    assert len(window) == 3 and window.timing().latency_ms == pytest.approx(8000.0)


def test_an_empty_window_reads_zero():
    t = FrameWindow().timing()
    assert (t.frames, t.fps, t.latency_ms, t.latency_p95_ms, t.engine_ms) == (0, 0.0, 0.0, 0.0, 0.0)
    assert percentile([], 0.95) == 0.0


def test_the_worker_and_the_headless_summary_read_the_same_window_the_same_way():
    """Sixty frames, as many as the worker's window holds: its p95 and the headless p95 are one figure."""
    from app.live import meter, pipeline, worker

    assert worker.FrameWindow is meter.FrameWindow is pipeline.FrameWindow
    latencies = [0.001 * ((7 * i) % 60) for i in range(60)]
    live, headless = FrameWindow(meter.WINDOW), FrameWindow(maxlen=None)
    for i, lat in enumerate(latencies):
        live.add(i / 20, lat, 0.0)
        headless.add(i / 20, lat, 0.0)
    assert live.timing() == headless.timing()
