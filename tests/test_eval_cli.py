"""The measuring commands: eval-temporal and eval-quality, end to end on tiny inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from conftest import CONTENT_DIR, STYLE_DIR, VIDEO, assert_one_line, load_rgb

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

ENGINE = ["--device", "cpu", "--precision", "fp32"]


def test_eval_temporal_reports_both_errors_the_floor_and_the_cost(primed_home, decoder_file, tmp_path, capsys):
    out = tmp_path / "t.json"
    rc = main(["eval-temporal", str(VIDEO), "--style", str(STYLE_DIR / "mondrian.jpg"), "--frames", "4",
               "--size", "64", "--json", str(out), "--decoder", str(decoder_file), *ENGINE])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    summary = json.loads(out.read_text())
    assert summary["frames"] == 4 and summary["size"] == 64 and summary["strength"] == 0.9
    (style,) = summary["styles"]
    assert style["warping_error"] > 0 and summary["content_floor"] > 0
    assert 0 < style["warping_error_stabilized"] < style["warping_error"]  # the stabiliser at work
    assert style["style_loss"] > 0 and style["style_loss_stabilized"] > 0 and style["stabilize_ms"] >= 0
    assert "mondrian" in printed and "% lower" in printed


def test_eval_temporal_refuses_a_bad_strength_in_one_line(primed_home, capsys):
    assert main(["eval-temporal", str(VIDEO), "--style", "x", "--stabilize", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert "--stabilize" in err


def test_eval_quality_scores_every_pair_and_writes_a_sheet(primed_home, decoder_file, tmp_path, capsys):
    contents, styles = tmp_path / "c", tmp_path / "s"
    contents.mkdir()
    styles.mkdir()
    Image.fromarray(load_rgb(CONTENT_DIR / "lenna.jpg", (80, 72))).save(contents / "a.png")
    for name in ("mondrian", "picasso_self_portrait"):
        Image.fromarray(load_rgb(STYLE_DIR / f"{name}.jpg", (64, 64))).save(styles / f"{name}.png")
    sheet = tmp_path / "sheet.png"
    rc = main(["eval-quality", "--content-dir", str(contents), "--style-dir", str(styles), "--size", "64",
               "--sheet", str(sheet), "--json", "-", "--decoder", str(decoder_file), *ENGINE])
    out = capsys.readouterr().out
    assert rc == 0
    summary = json.loads(out[out.index("{"):])
    ours = summary["models"]["ours"]
    assert summary["pairs"] == 2 and len(ours["pairs"]) == 2
    assert ours["content"] > 0 and ours["style"] > 0
    with Image.open(sheet) as im:
        assert im.size == (3 * 64, 2 * 64)  # a header row of styles; one row per content and model


def test_eval_quality_can_run_the_network_below_the_output_size(primed_home, decoder_file, tmp_path, capsys):
    contents, styles = tmp_path / "c", tmp_path / "s"
    contents.mkdir()
    styles.mkdir()
    Image.fromarray(load_rgb(CONTENT_DIR / "lenna.jpg", (96, 96))).save(contents / "a.png")
    Image.fromarray(load_rgb(STYLE_DIR / "mondrian.jpg", (96, 96))).save(styles / "m.png")
    results = {}
    for processing in ("96", "32"):
        rc = main(["eval-quality", "--content-dir", str(contents), "--style-dir", str(styles), "--size", "96",
                   "--processing", processing, "--json", "-", "--decoder", str(decoder_file), *ENGINE])
        out = capsys.readouterr().out
        assert rc == 0
        results[processing] = json.loads(out[out.index("{"):])
    assert results["96"]["processing"] == 96 and results["32"]["processing"] == 32
    assert results["32"]["models"]["ours"]["content"] != results["96"]["models"]["ours"]["content"]
    assert main(["eval-quality", "--content-dir", str(contents), "--style-dir", str(styles),
                 "--processing", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert "--processing" in err


def test_psnr_is_the_same_figure_for_tensors_and_uint8_pictures():
    import torch

    from app.tools.quality import psnr

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-10, 11, a.shape), 0, 255).astype(np.uint8)
    as_tensor = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    mse = np.mean((a / 255.0 - b / 255.0) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / mse))
    assert psnr(as_tensor(a), as_tensor(b)) == pytest.approx(psnr(a, b), abs=1e-3)
    assert psnr(a, a) == pytest.approx(100.0)  # identical pictures: the 1e-10 floor, not infinity
