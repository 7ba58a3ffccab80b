"""scripts/soak_live.py: the live pipeline's soak check (no window, no kiosk).

A few seconds on cutBunny.mp4 through the real pipeline and the real Stylizer code on micro
networks (see kiosk_fixtures): the report has every figure the README promises, the verdict
matches the figures, a bad source is one line and exit code 2, and the pass/fail rule is
checked on made-up figures. Importing the script runs nothing (argparse lives in main()).
"""
from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys

import pytest

import app.cli.common
from conftest import REPO, assert_one_line
from kiosk_fixtures import micro_stylizer
from live_fixtures import STYLE_FILES, VIDEO

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

SCRIPT = REPO / "scripts" / "soak_live.py"


@pytest.fixture(scope="module")
def soak_live():
    spec = importlib.util.spec_from_file_location("soak_live", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_live"] = module  # its dataclass looks itself up there
    try:
        spec.loader.exec_module(module)  # defines functions only
        yield module
    finally:
        sys.modules.pop("soak_live", None)


@pytest.fixture
def micro(monkeypatch, tmp_path):
    monkeypatch.setattr(app.cli.common, "make_stylizer", lambda args, live=False: micro_stylizer(tmp_path))


def test_a_short_soak_on_a_looping_video_reports_every_figure(soak_live, micro, tmp_path):
    report = tmp_path / "soak.json"
    out = io.StringIO()
    rc = soak_live.main(["--source", str(VIDEO), "--seconds", "4", "--sample-every", "0.25", "--warmup", "1",
                         "--size", "32", "--style", str(STYLE_FILES[0]), "--report", str(report)], out=out)
    text = out.getvalue()
    d = json.loads(report.read_text())
    assert rc == (0 if d["passed"] else 1), text
    assert d["problems"] == soak_live.problems(d) and d["passed"] == (not d["problems"])
    assert d["frames"] >= 5 and d["fps"] > 0 and d["stopped_by"] == "time" and 3.9 < d["seconds"] < 15
    assert 0 < d["latency_p50_ms"] <= d["latency_p95_ms"] <= d["latency_p99_ms"] <= d["latency_max_ms"]
    assert d["restarts"] == 0 and d["reconnects"] == 0 and d["errors"] == 0
    assert d["source"] == "cutBunny.mp4" and d["size"] == 32
    assert d["warmed_up"] and 1.0 <= d["warmup_s"] < 4 and d["rss_source"] == "statm"
    assert d["rss_start_mb"] > 50 and abs(d["rss_growth_pct"]) < 25  # 5% is for long runs; this one is 4 s
    # No growth. Fewer is fine: threads an earlier test left behind may end meanwhile (this process
    # runs the whole suite; after the UI tests the count once fell from 11 to 9 during the soak).
    for key in ("threads", "os_threads", "open_files"):
        assert 0 < d[f"{key}_last"] <= d[f"{key}_warm"]  # no leak while running
    assert d["threads_end"] <= d["threads_start"] and d["open_files_end"] <= d["open_files_start"]  # all joined
    assert not [p for p in d["problems"] if "memory" not in p]
    lines = text.strip().splitlines()
    assert lines[0].startswith("soak: 4 s of cutBunny.mp4 at 32 px")
    assert "fps; latency p50" in lines[1] and "p95" in lines[1] and "p99" in lines[1]
    assert lines[2].startswith("0 engine restarts, 0 source reconnects, 0 engine errors")
    assert "after the warm-up (" in lines[3] and "limit 5%" in lines[3]
    assert lines[4].startswith("threads ") and "open files" in lines[4]
    assert lines[-1] == ("PASS: nothing grew" if rc == 0 else "FAIL: " + "; ".join(d["problems"]))


def test_a_bad_source_is_one_line_and_exit_2(soak_live, micro, tmp_path, capsys):
    (tmp_path / "text.mp4").write_text("not a video")
    rc = soak_live.main(["--source", str(tmp_path / "missing.mp4"), "--seconds", "1"], out=io.StringIO())
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "missing.mp4: no such file" in err
    assert_one_line(err)
    rc = soak_live.main(["--source", str(tmp_path / "text.mp4"), "--seconds", "1", "--size", "32",
                         "--style", str(STYLE_FILES[0])], out=io.StringIO())
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: text.mp4: ")
    assert_one_line(err)


def _figures(**changes) -> dict:
    d = {"frames": 100, "warmed_up": True, "rss_growth_pct": 1.0, "max_rss_growth_pct": 5.0,
         "threads_warm": 4, "threads_last": 4, "os_threads_warm": 20, "os_threads_last": 20,
         "open_files_warm": 30, "open_files_last": 30, "threads_start": 2, "threads_end": 2,
         "open_files_start": 25, "open_files_end": 25}
    d.update(changes)
    return d


@pytest.mark.parametrize("changes, why", [
    ({}, None),
    ({"rss_growth_pct": -3.0, "threads_last": 3, "open_files_end": 24}, None),  # shrinking is fine
    ({"rss_growth_pct": 5.0}, "resident memory grew +5.0% after the warm-up (limit 5%)"),
    ({"threads_last": 5}, "Python threads grew while running: 4 after the warm-up, 5 at the end"),
    ({"os_threads_last": 23}, "OS threads grew while running: 20 after the warm-up, 23 at the end"),
    ({"open_files_last": 31}, "open files grew while running: 30 after the warm-up, 31 at the end"),
    ({"threads_end": 3}, "1 threads left over after stopping (2 before, 3 after)"),
    ({"open_files_end": 27}, "2 open files left over after stopping (25 before, 27 after)"),
    ({"warmed_up": False}, "the run ended before the warm-up did: run longer or shorten --warmup"),
    ({"frames": 0}, "no stylized frame at all"),
])
def test_what_fails_a_soak(soak_live, changes, why):
    assert soak_live.problems(_figures(**changes)) == ([why] if why else [])


def test_the_script_runs_as_documented():
    proc = subprocess.run([sys.executable, "-m", "scripts.soak_live", "--help"], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert proc.returncode == 0 and "--minutes" in proc.stdout and "--max-rss-growth" in proc.stdout
