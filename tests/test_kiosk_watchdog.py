"""The engine watchdog: a worker stuck inside the model (frames arriving, no result) is restarted,
the reason is logged and counted, results carry on with unbroken sequence numbers, and the stuck
thread never publishes when it wakes up. An idle, a slow-but-steady or a skipping engine is left
alone, a dead engine thread is replaced, and the watchdog itself never raises."""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from app.live.capture import FrameFeed
from app.kiosk.watchdog import Watchdog
from app.live.worker import EngineWorker
from kiosk_fixtures import HangOnce, wait_for
from live_fixtures import FAKE_SETTINGS, FakeStylizer, pattern_frame


class Publisher:
    """Publishes a new small frame every ``period`` seconds on its own thread (a live camera)."""

    def __init__(self, feed: FrameFeed, period: float = 0.01, still: np.ndarray | None = None) -> None:
        self.feed, self.period, self.still = feed, period, still
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.period):
            n += 1
            self.feed.publish(self.still if self.still is not None else pattern_frame(n), time.monotonic())

    def __enter__(self) -> "Publisher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def watch(dog: Watchdog, seconds: float, until=lambda: False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        dog.check()
        time.sleep(0.02)


def test_a_hung_engine_is_restarted_logged_and_carries_on(caplog):
    stylizer = HangOnce(FakeStylizer(), on_call=5)
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=FAKE_SETTINGS).start()
    dog = Watchdog(worker, lambda: feed.count, timeout=0.3)
    threads_before = threading.active_count()
    caplog.set_level(logging.WARNING, logger="app.kiosk.watchdog")
    try:
        with Publisher(feed):
            assert stylizer.hung.wait(10)
            hung_seq = worker.latest().seq
            stuck = [t for t in threading.enumerate() if t.name == "engine"]
            watch(dog, 10, until=lambda: dog.restarts > 0)
            assert dog.restarts == 1 and time.monotonic() - stylizer.hung_at >= 0.25  # not before the limit
            assert "no result for" in dog.last_reason and "new frames waited" in dog.last_reason
            assert any("engine stalled" in r.getMessage() and "restart 1" in r.getMessage() for r in caplog.records)
            assert worker.stats().restarts == 1
            # results flow again from the fresh loop, and their sequence numbers go on where they stopped
            assert wait_for(lambda: worker.latest().seq >= hung_seq + 5, timeout=10)
            watch(dog, 0.5)
            assert dog.restarts == 1  # a working engine is not restarted again
            seqs_before_release = worker.latest().seq
            stylizer.release.set()  # the stuck call returns...
            assert stylizer.returned.wait(5)
            assert wait_for(lambda: not stuck[0].is_alive(), timeout=5)  # ... and its thread just ends
        assert worker.latest().seq >= seqs_before_release
    finally:
        worker.stop()
    assert wait_for(lambda: threading.active_count() <= threads_before - 1, timeout=5)


def test_the_stuck_thread_does_not_publish_when_it_wakes_up():
    stylizer = HangOnce(FakeStylizer(), on_call=1, hang=30)
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=FAKE_SETTINGS).start()
    results = []
    worker.add_sink(results.append)
    dog = Watchdog(worker, lambda: feed.count, timeout=0.2)
    try:
        hung_frame = feed.publish(pattern_frame(1), time.monotonic())
        assert stylizer.hung.wait(10)
        for n in range(2, 5):
            feed.publish(pattern_frame(n), time.monotonic())
        watch(dog, 10, until=lambda: dog.restarts > 0)
        assert wait_for(lambda: len(results) >= 1, timeout=10)  # the new loop takes the newest frame
        stylizer.release.set()
        assert stylizer.returned.wait(5)
        time.sleep(0.2)
        assert all(r.source is not hung_frame for r in results)  # the abandoned call's result is dropped
        assert [r.seq for r in results] == list(range(1, len(results) + 1))
    finally:
        stylizer.release.set()
        worker.stop()


def test_idle_slow_or_skipping_engines_are_left_alone():
    feed = FrameFeed()
    idle = EngineWorker(FakeStylizer(), feed, settings=FAKE_SETTINGS).start()  # no frames at all
    dog = Watchdog(idle, lambda: feed.count, timeout=0.2)
    try:
        watch(dog, 0.6)
        assert dog.restarts == 0
    finally:
        idle.stop()

    feed = FrameFeed()
    # steady, but slower than the timeout allows
    slow = EngineWorker(FakeStylizer(delay=0.12), feed, settings=FAKE_SETTINGS).start()
    dog = Watchdog(slow, lambda: feed.count, timeout=0.1, slow_factor=4.0)
    try:
        with Publisher(feed):
            watch(dog, 1.2)
        assert dog.restarts == 0 and slow.stats().processed >= 4
        assert dog.limit(slow.stats().engine_ms) >= 0.4
    finally:
        slow.stop()

    feed = FrameFeed()
    still = pattern_frame(3)
    # a still picture: one result only
    skipping = EngineWorker(FakeStylizer(), feed, settings=FAKE_SETTINGS, skip_repeats=True).start()
    dog = Watchdog(skipping, lambda: feed.count, timeout=0.2)
    try:
        with Publisher(feed, still=still):
            watch(dog, 0.8)
        assert dog.restarts == 0 and skipping.stats().processed == 1 and feed.count > 20
    finally:
        skipping.stop()


class Die(BaseException):
    """Escapes the worker's per-frame ``except Exception``: the engine thread ends."""


class DyingStylizer(FakeStylizer):
    def stylize(self, frame, settings, features=None, picture=None):
        if self.calls == 2:
            self.calls += 1
            raise Die("driver gone")
        return super().stylize(frame, settings, features, picture)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_engine_thread_is_replaced():
    feed = FrameFeed()
    worker = EngineWorker(DyingStylizer(), feed, settings=FAKE_SETTINGS).start()
    dog = Watchdog(worker, lambda: feed.count, timeout=5.0)
    try:
        with Publisher(feed):
            assert wait_for(lambda: not worker.alive, timeout=10)
            watch(dog, 5, until=lambda: dog.restarts > 0)
            assert dog.restarts == 1 and dog.last_reason == "the engine thread ended"
            n = worker.stats().processed
            assert wait_for(lambda: worker.stats().processed > n + 3, timeout=10)
    finally:
        worker.stop()


def test_repeated_stalls_back_off_and_a_broken_check_never_raises(caplog):
    stylizer = HangOnce(FakeStylizer(), on_call=1, hang=30)
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=FAKE_SETTINGS).start()
    dog = Watchdog(worker, lambda: feed.count, timeout=0.2, max_wait=0.8)
    try:
        assert dog.limit(10.0) == 0.2  # 4 x 10 ms per frame is less than the timeout
        assert dog.limit(0.0) == pytest.approx(0.6)  # no result yet: the first frame includes warm-up
        assert dog.limit(100.0) == pytest.approx(0.4)  # a slow engine gets 4 x its time per frame
        dog._strikes = 3  # three restarts without progress in between
        assert dog.limit(10.0) == 0.8  # doubled each time, capped at max_wait
        dog._strikes = 0
        bad = Watchdog(worker, lambda: 1 / 0, timeout=0.2)
        with caplog.at_level(logging.ERROR, logger="app.kiosk.watchdog"):
            assert bad.check() is None and bad.check() is None
        assert "watchdog check failed" in caplog.text
    finally:
        stylizer.release.set()
        worker.stop()
    assert not worker.running and dog.check() is None  # a stopped worker is never restarted
