"""The soak figures: memory growth is only measured from a baseline taken after the warm-up."""
from __future__ import annotations

from types import SimpleNamespace

import app.kiosk.report as report
from app.kiosk.report import SoakMonitor
from app.kiosk.run import summary_line

EXTRA = {"stopped_by": "duration", "restarts": 0, "reconnects": 0}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(monkeypatch, frames: int, seconds: float, rss: tuple[float, ...]) -> dict:
    """A monitor fed ``frames`` frames over ``seconds``, sampling the resident sizes ``rss`` in turn."""
    clock = Clock()
    sizes = iter(rss)
    monkeypatch.setattr(report, "rss_mb", lambda: (next(sizes), "statm"))
    monitor = SoakMonitor(clock=clock, warmup_frames=10, warmup_seconds=5.0)
    monitor.begin()
    for i in range(frames):
        clock.now = seconds * (i + 1) / frames
        monitor.on_frame(SimpleNamespace(latency=0.05))
        if i % max(1, frames // (len(rss) - 2)) == 0:
            monitor.sample()
    monitor.finish()
    return monitor.report(**EXTRA)


def test_a_run_that_never_warmed_up_reports_no_growth(monkeypatch):
    d = run(monkeypatch, frames=20, seconds=2.0, rss=(600.0, 650.0, 700.0, 780.0, 780.0))  # warm-up needs 5 s
    assert d["warmed_up"] is False and d["rss_growth_pct"] is None and d["rss_start_mb"] is None
    line = summary_line(d)
    assert "warm-up not reached" in line and "%" not in line and "600.0 -> 780.0 MiB" in line


def test_a_warmed_up_run_reports_growth_from_the_warm_baseline(monkeypatch):
    d = run(monkeypatch, frames=100, seconds=10.0, rss=(600.0,) + (700.0,) * 20)
    assert d["warmed_up"] is True and d["rss_start_mb"] == 700.0 and d["rss_growth_pct"] == 0.0
    assert "700.0 -> 700.0 MiB (+0.0% after warm-up)" in summary_line(d)
