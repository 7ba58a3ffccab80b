"""Short soak runs of the headless kiosk: hundreds of frames through cross-fades, a lost source and a
hung engine; the report has every field, counts the restart and the reconnect, memory after warm-up
stays bounded, and threads and open files are back where they started. SIGTERM ends a run cleanly,
and a failing supervision turn never ends it."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

import app.cli.live as live_cli
from app.cli import main
from app.kiosk.config import KioskConfig, PlaylistItem
from app.kiosk.run import run_kiosk
from app.paths import log_dir
from app.styles import StyleLibrary
from kiosk_fixtures import FAST_BACKOFF, HangOnce, make_session, micro_stylizer
from live_fixtures import STYLE_FILES, VIDEO, ScriptedSource, style_dir  # noqa: F401

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

REPORT_KEYS = {"frames", "seconds", "fps", "latency_mean_ms", "latency_p95_ms", "latency_max_ms", "latency_max_frame",
               "rss_initial_mb", "rss_start_mb", "rss_end_mb", "rss_max_mb", "rss_growth_pct", "rss_source",
               "warmed_up", "warmup_s", "threads_start", "threads_end", "open_files_start", "open_files_end",
               "started_at", "ended_at", "captured", "skipped", "restarts", "last_restart_reason", "reconnects",
               "capture_restarts", "errors", "source", "styles", "processing_size", "stopped_by", "config"}


@pytest.fixture
def library(style_dir, tmp_path) -> StyleLibrary:
    (tmp_path / "user_styles").mkdir()
    return StyleLibrary(builtin_dir=style_dir, user_dir=tmp_path / "user_styles")


def test_a_headless_soak_survives_a_lost_source_and_a_hung_engine(tmp_path, library, capsys):
    config = KioskConfig(size=32, crossfade=0.2, interval=0.6, watchdog=0.3, origin="test.toml",
                         playlist=tuple(PlaylistItem(n, alpha=a) for n, a in zip(library.names(), (1.0, 0.7, 0.9))))
    stylizer = HangOnce(micro_stylizer(tmp_path), on_call=120, hang=0.8)
    source = ScriptedSource(frames_per_life=150, failed_opens=3, fps=200)
    report = tmp_path / "soak.json"
    rc = run_kiosk(config, lambda: stylizer, window=False, frames=500, report=report, library=library,
                   make_source=lambda: source, warmup_frames=60, warmup_seconds=0.3, backoff=FAST_BACKOFF, seed=3)
    out = capsys.readouterr().out
    assert rc == 0
    assert "kiosk stopped (frames): " in out and f"report written to {report}" in out
    data = json.loads(report.read_text())
    assert set(data) == REPORT_KEYS
    assert data["frames"] >= 500 and data["stopped_by"] == "frames" and data["fps"] > 0
    assert data["restarts"] == 1 and "no result for" in data["last_restart_reason"]  # the hung call
    assert data["reconnects"] == 1 and source.lives == 2  # the lost source came back
    assert data["errors"] == 0 and data["captured"] >= data["frames"]
    assert 0 < data["latency_mean_ms"] <= data["latency_max_ms"] and data["latency_p95_ms"] <= data["latency_max_ms"]
    # the hung call's frame is never shown: the fresh loop takes the newest frame, so latency stays low
    assert data["latency_max_ms"] < 1000 * config.watchdog * 3 and data["latency_max_frame"] >= 1
    assert data["warmed_up"] and data["rss_source"] == "statm"
    assert data["rss_start_mb"] > 50 and abs(data["rss_growth_pct"]) < 15
    assert data["threads_end"] == data["threads_start"]  # every thread joined, the abandoned one too
    assert data["open_files_end"] == data["open_files_start"]
    assert stylizer.returned.is_set()
    log = (log_dir() / "kiosk.log").read_text()
    assert "engine stalled" in log and "kiosk stopped (frames)" in log
    assert "source lost or not there (failures so far: " in log and "source back (reconnects so far: 1)" in log


def test_the_documented_soak_command_writes_its_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(live_cli, "make_stylizer", lambda args, model=None, live=False: micro_stylizer(tmp_path))
    report = tmp_path / "soak.json"
    rc = main(["live", "--kiosk", "--source", str(VIDEO), "--no-window", "--duration", "2", "--report", str(report),
               "--style", str(STYLE_FILES[0]), "--style", str(STYLE_FILES[2]), "--size", "32"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "kiosk: 2 styles on cutBunny.mp4; exit with Ctrl+Shift+Q or Ctrl-C" in out
    data = json.loads(report.read_text())
    assert set(data) == REPORT_KEYS
    assert data["frames"] > 5 and data["stopped_by"] == "duration" and 1.9 < data["seconds"] < 6
    assert data["source"] == "cutBunny.mp4" and data["styles"] == 2 and data["processing_size"] == 32


def test_sigterm_ends_a_headless_run_cleanly(tmp_path, library):
    received = []
    previous = signal.signal(signal.SIGTERM, lambda *a: received.append(a))  # a safety net, restored below
    try:
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        report = tmp_path / "r.json"
        t0 = time.monotonic()
        rc = run_kiosk(KioskConfig(size=32, crossfade=0.2, interval=0.6), lambda: micro_stylizer(tmp_path),
                       window=False, duration=30, report=report, library=library,
                       make_source=lambda: ScriptedSource(fps=60), out=open(os.devnull, "w"))  # noqa: SIM115
        elapsed = time.monotonic() - t0
        timer.join()
        assert rc == 0 and elapsed < 10
        assert json.loads(report.read_text())["stopped_by"] == "SIGTERM"
        assert received == []  # the kiosk's own handler took it ...
        assert signal.getsignal(signal.SIGTERM) is not previous and callable(signal.getsignal(signal.SIGTERM))
    finally:
        handler = signal.signal(signal.SIGTERM, previous)
    assert handler.__name__ == "<lambda>"  # ... and put the test's handler back afterwards


def test_a_failing_supervision_turn_is_logged_and_the_run_goes_on(tmp_path, caplog):
    session = make_session(micro_stylizer(tmp_path), ScriptedSource(fps=100))
    session.start()
    try:
        def broken() -> None:
            raise RuntimeError("caretaker bug")

        session.watchdog.check = broken
        with caplog.at_level("ERROR", logger="app.kiosk.session"):
            session.tick()
            session.tick()
        assert session.errors >= 2 and "kiosk supervision failed" in caplog.text
        n = session.monitor.frames
        deadline = time.monotonic() + 10
        while session.monitor.frames < n + 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert session.monitor.frames >= n + 5 and session.running
    finally:
        session.stop()
    assert session.report("test")["errors"] >= 2
