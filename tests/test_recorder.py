"""Recorder: real timestamps, exact frame counts, bounded queue, survives SIGKILL and a full disk;
snapshots."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest

from app.images import load_image
from app.live.pipeline import LivePipeline
from app.paths import pictures_dir, videos_dir
from app.live.recorder import Recorder, fit_into, save_snapshot, timestamped_path
from app.video_io import probe_frames
from conftest import assert_one_line
from live_fixtures import FAKE_SETTINGS, FakeStylizer, NoiseSource, fill_disk_after, pattern_frame, wait_for

REPO = Path(__file__).resolve().parents[1]


def _pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [float(f.pts * stream.time_base) for f in c.decode(stream)]


def _readable_frames(path: Path) -> int:
    try:
        return probe_frames(path)[0]
    except Exception:  # noqa: BLE001 - not there yet, or no complete fragment yet
        return 0


def test_records_every_frame_at_its_real_time():
    rec = Recorder(nominal_fps=10, max_queue=16).start()
    assert rec.path.parent == videos_dir() and rec.path.name.startswith("adain-live-")
    t0 = 1000.0
    gaps = [0.1] * 5 + [0.3] + [0.1] * 5  # a stall (e.g. a new style's first frame) in the middle
    times = [t0 + sum(gaps[:i]) for i in range(len(gaps) + 1)]
    for i, ts in enumerate(times):
        assert rec.submit(pattern_frame(i * 20, 48, 64), ts)
    st = rec.stop()
    assert st.finished and not st.error and st.frames_dropped == 0
    assert probe_frames(rec.path) == (12, 64, 48)
    assert st.duration == pytest.approx(1.3) and st.fps == pytest.approx(11 / 1.3)
    pts = _pts_seconds(rec.path)
    assert np.allclose(np.diff(pts), gaps, atol=0.002)  # played back at the speed it happened


def test_a_slow_disk_drops_and_counts_frames_instead_of_growing_memory(tmp_path):
    class SlowWriter:
        def __init__(self, path, fps, w, h, time_base=None):
            self.size, self.frames = (w, h), 0

        def write(self, rgb, pts=None):
            time.sleep(0.05)
            self.frames += 1

        def close(self):
            pass

    rec = Recorder(tmp_path / "slow.mp4", max_queue=4, writer_factory=SlowWriter).start()
    peak = 0
    for i in range(40):
        rec.submit(pattern_frame(i), float(i))
        peak = max(peak, rec.queued)
    st = rec.stop()
    assert peak <= 4
    assert st.frames_dropped > 20 and st.frames_written + st.frames_dropped == 40


def test_frames_of_another_size_are_letterboxed():
    rgb = np.full((30, 80, 3), 200, np.uint8)
    out = fit_into(rgb, 64, 48)
    assert out.shape == (48, 64, 3)
    assert out[0, 0].sum() == 0 and out[24, 32].min() > 150  # black bars, picture in the middle


def test_sigkill_while_recording_leaves_a_playable_file(tmp_path):
    out = tmp_path / "killed.mp4"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from app.live.recorder import Recorder
        rec = Recorder({str(out)!r}, nominal_fps=25).start()
        i = 0
        while True:
            rgb = np.full((48, 64, 3), (i * 7) % 256, np.uint8)
            rec.submit(rgb, time.monotonic())
            i += 1
            time.sleep(0.02)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Fragments are cut at keyframes (one a second): wait until some are on disk.
        assert wait_for(lambda: _readable_frames(out) >= 25 or proc.poll() is not None, timeout=60, interval=0.2)
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.5)  # kill it mid-fragment
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    frames, w, h = probe_frames(out)
    assert frames >= 25 and (w, h) == (64, 48)


def test_a_disk_that_fills_up_mid_recording_stops_the_recording_not_the_pipeline(tmp_path, monkeypatch):
    room = 150_000  # a few one-second fragments of 64x48 noise
    fill_disk_after(monkeypatch, room)
    pipeline = LivePipeline(FakeStylizer(), NoiseSource(fps=50), settings=FAKE_SETTINGS).start()
    try:
        assert pipeline.read(0, timeout=20) is not None
        path = pipeline.start_recording(tmp_path / "full.mp4")
        assert wait_for(lambda: pipeline.stats().recording.error, timeout=60, interval=0.05)
        error = pipeline.stats().recording.error
        assert_one_line(error)
        assert error == f"{path}: cannot write (No space left on device)"
        assert not pipeline.recorder.active and not pipeline.recorder.submit(pattern_frame(0), 0.0)
        processed = pipeline.stats().engine.processed
        assert wait_for(lambda: pipeline.stats().engine.processed >= processed + 20, timeout=20)  # still live
        stats = pipeline.stop_recording()
        assert stats.finished and stats.error == error
        assert pipeline.stats().engine.errors == 0 and pipeline.worker.alive
    finally:
        pipeline.stop()
    assert path.stat().st_size <= room
    frames, w, h = probe_frames(path)  # what reached the disk before it filled still plays
    assert (w, h) == (64, 48) and 10 <= frames <= stats.frames_written


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_disk_full_from_the_first_byte_is_an_error_not_a_crash(tmp_path):
    """The real kernel's ENOSPC through FFmpeg's own file I/O (a .mp4 name linked to /dev/full).
    Muxing again after the header failed used to crash FFmpeg (SIGSEGV) as the recorder closed
    the file; it runs in a child process so that a regression cannot take pytest down with it."""
    out = tmp_path / "full.mp4"
    out.symlink_to("/dev/full")
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from app.live.recorder import Recorder
        rec = Recorder({str(out)!r}, nominal_fps=25).start()
        rng = np.random.default_rng(0)
        for i in range(200):  # until the encoder's first packets meet the full disk
            rec.submit(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), i / 25)
            time.sleep(0.01)
            if rec.stats().error:
                break
        st = rec.stop()
        print(st.finished, st.error, sep="|")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    finished, error = proc.stdout.strip().split("|")
    assert finished == "True" and error == f"{out}: cannot write (No space left on device)"


def test_snapshot_is_an_atomic_png_in_the_pictures_folder():
    rgb = pattern_frame(5, 40, 60)
    path = save_snapshot(rgb)
    assert path.parent == pictures_dir() and path.suffix == ".png"
    assert np.array_equal(load_image(path), rgb)
    again = save_snapshot(rgb)
    assert again != path  # the same second: a new name, never an overwrite
    assert not [p for p in pictures_dir().iterdir() if p.name.startswith(".")]  # no temporary left
    assert timestamped_path(pictures_dir(), ".png").suffix == ".png"
