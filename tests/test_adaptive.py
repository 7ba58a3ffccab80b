"""Adaptive quality: the processing size settles where the engine holds the target FPS."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from app.live.adaptive import MIN_SIZE, PRESETS, SizeGovernor
from app.live.capture import FrameFeed
from app.engine import Settings
from app.live.pipeline import AUTO, LivePipeline
from app.live.worker import EngineWorker
from live_fixtures import FAKE_SETTINGS, FakeStylizer, wait_for


def cost(size: int, per_pixel: float = 1.0 / 160 ** 2 * 0.05) -> float:
    """A model whose time grows with area: 50 ms at 160 px."""
    return size * size * per_pixel


def settle(governor: SizeGovernor, frames: int = 300, limit: int | None = None) -> list[int]:
    sizes = []
    for _ in range(frames):
        sizes.append(governor.observe(cost(governor.size), limit))
    return sizes


def test_slow_frames_step_the_size_down_to_one_that_fits():
    gov = SizeGovernor(target_fps=30, start=512)  # budget 33 ms: 160 px costs 50 ms, 128 px 32 ms
    sizes = settle(gov)
    assert sizes[-1] == 128
    assert cost(sizes[-1]) <= gov.budget
    assert len(set(sizes[-100:])) == 1  # settled, no oscillation


def test_fast_frames_step_the_size_up_to_the_largest_that_fits():
    gov = SizeGovernor(target_fps=5, start=MIN_SIZE)  # budget 200 ms: 320 px costs exactly 200 ms
    sizes = settle(gov)
    assert sizes[-1] == 256  # 320 px would be at the budget: no room to spare
    assert len(set(sizes[-100:])) == 1


def test_the_size_never_goes_below_the_floor_even_when_the_target_is_missed():
    gov = SizeGovernor(target_fps=60, start=512)  # budget 17 ms: even the floor (128 px, 32 ms) is over
    sizes = settle(gov)
    assert min(sizes) == MIN_SIZE == PRESETS[0] and sizes[-1] == MIN_SIZE
    assert cost(sizes[-1]) > gov.budget


def test_the_size_never_exceeds_the_frames_own_short_side():
    gov = SizeGovernor(target_fps=1, start=256)  # anything fits the budget
    assert settle(gov, limit=300)[-1] == 256
    assert max(settle(gov, limit=300)) <= 300


def test_the_first_frame_at_a_new_size_is_not_held_against_it():
    gov = SizeGovernor(target_fps=10, start=160, patience=3)
    gov.observe(5.0)  # one-off set-up of a new size: ignored
    for _ in range(3):
        gov.observe(0.05)
    assert gov.size >= 160


def test_a_target_fps_must_be_positive():
    with pytest.raises(ValueError):
        SizeGovernor(target_fps=0)


class SizedFake(FakeStylizer):
    """A fake engine whose time per frame follows the processing size."""

    def stylize(self, frame: np.ndarray, settings: Settings, features=None, picture=None) -> np.ndarray:
        s = settings
        time.sleep(cost(s.size or 480, per_pixel=0.04 / 160 ** 2))
        return 255 - frame


def test_the_worker_adapts_the_live_size_and_a_fixed_size_stops_it():
    stylizer = SizedFake()
    feed = FrameFeed()
    worker = EngineWorker(stylizer, feed, settings=replace(FAKE_SETTINGS, size=512)).start()
    try:
        worker.set_target_fps(50)  # budget 20 ms: 144 px costs 32.4 ms, the floor (128 px) 25.6 ms: both over
        frame = np.zeros((480, 640, 3), np.uint8)

        def settled() -> bool:
            feed.publish(frame, time.monotonic())
            return worker.settings.size == MIN_SIZE

        assert wait_for(settled, timeout=30.0, interval=0.002)
        worker.set_target_fps(None)
        worker.update(size=256)
        for _ in range(30):
            feed.publish(frame, time.monotonic())
            time.sleep(0.005)
        assert worker.settings.size == 256 and worker.target_fps is None
    finally:
        worker.stop()


def test_the_pipeline_reports_auto_and_fixed_sizes():
    pipeline = LivePipeline(FakeStylizer(), settings=FAKE_SETTINGS)
    pipeline.set_size(AUTO, target_fps=12)
    assert pipeline.size_choice == AUTO and pipeline.target_fps == 12
    assert pipeline.settings.size in PRESETS
    pipeline.set_size(192)
    assert pipeline.size_choice == 192 and pipeline.target_fps is None
    pipeline.set_size(None)
    assert pipeline.size_choice is None


def test_live_size_auto_runs_headless(primed_home, decoder_file, media, capsys):
    from app.cli import main
    from live_fixtures import STYLE_FILES, VIDEO

    rc = main(["live", "--source", str(VIDEO), "--no-window", "--frames", "3", "--size", "auto", "--target-fps", "5",
               "--style", str(STYLE_FILES[0]), "--decoder", str(decoder_file), "--device", "cpu",
               "--precision", "fp32"])
    assert rc == 0, capsys.readouterr()


@pytest.mark.parametrize("args, words", [(["--size", "big"], "--size"), (["--target-fps", "0"], "--target-fps")])
def test_bad_live_size_options_are_one_line(args, words, capsys):
    from app.cli import main
    from conftest import assert_one_line

    with pytest.raises(SystemExit) if args[0] == "--size" else _no_raise():
        rc = main(["live", "--no-window", *args])
        assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert_one_line(err)
    assert words in err


class _no_raise:  # noqa: N801 - reads as the context manager it is
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
