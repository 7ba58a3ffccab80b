"""Landing a training run (app.tools.ship): the better decoder ships with its card and samples, a
worse one becomes the resume point, and every stretch leaves one row in the history."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import weights
from app.errors import UserError
from app.tools.ship import CARD, FAST, RESUME, SAMPLES, SHIPPED, ship
from app.tools.train import EXPORT, STRETCHES, STUDENT_EXPORT
from conftest import REPO, assert_one_line, seeded_decoder

pytestmark = pytest.mark.shipped_decoder

CARD_TEXT = """# card
<!-- status -->
old status
<!-- /status -->
| steps | ... |
<!-- history -->
| 0-10 | old row |
<!-- /history -->
<!-- student-history -->
| 0-10 | old student row |
<!-- /student-history -->
"""


@pytest.fixture
def repo(tmp_path) -> Path:
    """A miniature project: the real shipped decoder, a card with its markers, a docs folder."""
    root = tmp_path / "repo"
    (root / SHIPPED).parent.mkdir(parents=True)
    shutil.copyfile(REPO / SHIPPED, root / SHIPPED)
    (root / CARD).write_text(CARD_TEXT)
    (root / SAMPLES).parent.mkdir(parents=True)
    (root / SAMPLES).write_bytes(b"old sheet")
    return root


def _run(tmp_path: Path, decoder_source: Path | None, media: Path, student: bool = False) -> Path:
    """A finished run folder whose export is ``decoder_source`` (None: a random decoder)."""
    run = tmp_path / "run"
    holdout = tmp_path / "holdout"
    for kind, folder in (("content", media / "content"), ("style", media / "style")):
        (holdout / kind).mkdir(parents=True)
        for src in sorted(folder.glob("*.jpg"))[:2]:
            shutil.copyfile(src, holdout / kind / src.name)
    run.mkdir()
    fingerprint = weights.encoder_id(None)
    if decoder_source is None:
        weights.save_decoder(seeded_decoder(3), run / EXPORT, width=1.0, steps=5200, train_seconds=7000,
                             train_size=128, encoder_fingerprint=fingerprint)
    else:
        net, meta = weights.load_decoder(decoder_source)
        meta = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
        weights.save_decoder(net, run / EXPORT, **{**meta, "steps": 5200, "train_seconds": 7000})
    (run / "config.json").write_text(json.dumps({
        "content_dir": "c", "style_dir": "s", "out_dir": str(run), "student": "s.pth" if student else None,
        "holdout_content_dir": str(holdout / "content"), "holdout_style_dir": str(holdout / "style")}))
    (run / STRETCHES).write_text(json.dumps({"start_step": 5091, "start_elapsed_s": 6400, "machine": "test cpu",
                                             "precision": "fp32", "route": "test route"}) + "\n")
    return run


def _assert_sheet_of(path: Path, measured) -> None:
    """``path`` holds the pictures the figures were measured on: the styles across the top, the
    contents down the side (2 x 2 held-out pairs at 64 px), each output where its pair meets."""
    sheet = np.asarray(Image.open(path).convert("RGB"), np.float32)
    assert sheet.shape == (3 * 64, 3 * 64, 3) == measured.sheet.shape
    assert np.abs(sheet - measured.sheet).mean() < 4  # JPEG
    assert sheet[64:, 64:].std() > 10  # pictures, not the blank background


def test_a_worse_decoder_becomes_the_resume_point_and_leaves_the_shipped_one(repo, tmp_path, media, primed_home):
    run = _run(tmp_path, None, media)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "style_weight": 20.0}))  # the bar's lambda stays 10
    before = (repo / SHIPPED).read_bytes()
    report = ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    assert not report.shipped and "not below" in report.reason
    assert report.candidate.objective(10) > report.current.objective(10)
    assert f"objective {report.candidate.objective(10):.2f} not below" in report.reason
    assert (repo / SHIPPED).read_bytes() == before
    assert (repo / RESUME).read_bytes() == (run / EXPORT).read_bytes()
    card = (repo / CARD).read_text()
    assert "old status" in card and (repo / SAMPLES).read_bytes() == b"old sheet"
    rows = card.split("<!-- history -->\n")[1].split("<!-- /history -->")[0].splitlines()
    assert rows[0] == "| 0-10 | old row |"
    assert rows[1].startswith("| 5,091-5,200 | test cpu, fp32 | 0.18 | 109 | 0.17 h | test route |")
    assert rows[1].endswith("| not measured | resume point |")


def test_a_stretch_that_lost_ground_leaves_a_better_resume_point_where_it_is(repo, tmp_path, media, primed_home):
    """Neither shipped nor better than the resume point: the resume point stays and the row says so;
    a stale resume point (one that does not load) is replaced as before."""
    from conftest import seeded_decoder as worse

    weights.save_decoder(worse(4), repo / SHIPPED, width=1.0)  # the shipped file: a random one
    shutil.copyfile(REPO / SHIPPED, repo / RESUME)  # the resume point: the trained decoder
    resume_before = (repo / RESUME).read_bytes()
    run = _run(tmp_path, None, media)  # the candidate: another random one
    report = ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    assert not report.shipped and report.destination is None, report.reason
    assert "the resume point measures better still" in report.reason
    assert (repo / RESUME).read_bytes() == resume_before
    card = (repo / CARD).read_text()
    assert card.split("<!-- /history -->")[0].splitlines()[-1].endswith("| not landed (the resume point is better) |")

    (repo / RESUME).write_bytes(b"a resume point from before the file format")
    report = ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    assert report.destination == repo / RESUME and (repo / RESUME).read_bytes() == (run / EXPORT).read_bytes()
    rows = (repo / CARD).read_text().split("<!-- history -->\n")[1].split("<!-- /history -->")[0].splitlines()
    assert len(rows) == 2 and rows[1].endswith("| resume point |")  # the same stretch: one row, the last


def test_a_better_decoder_ships_with_its_status_and_samples_and_keeps_one_row_per_stretch(
        repo, tmp_path, media, primed_home):
    from conftest import seeded_decoder as worse

    weights.save_decoder(worse(4), repo / SHIPPED, width=1.0)  # the shipped file is now a random one
    (repo / RESUME).write_bytes(b"an older resume point")
    run = _run(tmp_path, REPO / SHIPPED, media)
    report = ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    assert report.shipped, report.reason
    assert (repo / SHIPPED).read_bytes() == (run / EXPORT).read_bytes()
    assert not (repo / RESUME).exists()  # the shipped file is the one resume point
    _assert_sheet_of(repo / SAMPLES, report.candidate)
    card = (repo / CARD).read_text()
    assert "old status" not in card and f"content {report.candidate.content:.2f}" in card
    assert 5 < report.candidate.recon_psnr < 60 and np.isfinite(report.current.recon_psnr)

    net, meta = weights.load_decoder(run / EXPORT)  # the same stretch, landed again further on
    meta = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
    weights.save_decoder(net, run / EXPORT, **{**meta, "steps": 5300})
    ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    rows = (repo / CARD).read_text().split("<!-- history -->\n")[1].split("<!-- /history -->")[0].splitlines()
    assert len(rows) == 2 and rows[1].startswith("| 5,091-5,300 |")  # the 5,091-5,200 row is gone

    (run / STRETCHES).write_text((run / STRETCHES).read_text().replace("test route", "another route"))
    ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)  # an A/B's other arm, from the same start
    rows = (repo / CARD).read_text().split("<!-- history -->\n")[1].split("<!-- /history -->")[0].splitlines()
    assert [r.split("|")[6].strip() for r in rows[1:]] == ["test route", "another route"]


def test_a_session_that_resumes_the_landed_checkpoint_gets_its_own_row(repo, tmp_path, media, primed_home):
    """The run folder carries on from the step it landed at: the new stretch is a new row, and a
    restart within the stretch (not at a landed step) stays in it."""
    run = _run(tmp_path, REPO / SHIPPED, media)
    with open(run / STRETCHES, "a") as fh:  # run's first stretch starts at 5,091; later: a restart, then a session
        for start, elapsed in ((5100, 6500), (5150, 6600)):
            fh.write(json.dumps({"start_step": start, "start_elapsed_s": elapsed, "machine": "test cpu",
                                 "precision": "fp32", "route": "test route"}) + "\n")
    rows = "| 0-10 | old row |\n| 4,000-5,091 | landed |\n| 5,091-5,150 | x |"
    (repo / CARD).write_text((repo / CARD).read_text().replace("| 0-10 | old row |", rows))
    ship(run, repo=repo, with_peer=False, size=64, say=lambda _: None)
    rows = (repo / CARD).read_text().split("<!-- history -->\n")[1].split("<!-- /history -->")[0].splitlines()
    assert [r.split("|")[1].strip() for r in rows] == ["0-10", "4,000-5,091", "5,091-5,150", "5,150-5,200"]
    assert rows[-1].split("|")[4].strip() == "50"  # steps added: 5,200 - 5,150, timed from that stretch's start


def test_shipping_refuses_a_run_without_a_decoder_or_from_another_encoder(repo, tmp_path, media, primed_home):
    with pytest.raises(UserError, match="train first") as info:
        ship(tmp_path, repo=repo, with_peer=False, say=lambda _: None)
    assert_one_line(str(info.value))
    run = _run(tmp_path, None, media)
    weights.save_decoder(seeded_decoder(3), run / EXPORT, width=1.0, encoder_fingerprint="other")
    with pytest.raises(UserError, match="encoder") as info:
        ship(run, repo=repo, with_peer=False, say=lambda _: None)
    assert_one_line(str(info.value))


def test_a_students_decoder_lands_beside_the_student_measured_with_it(repo, tmp_path, media, primed_home):
    """A `train --student` run: measured with the shipped student encoder, landed as the student's
    decoder or its resume point, its row in the student's history; the full model's files untouched."""
    from conftest import seeded_decoder as worse

    shutil.copyfile(REPO / FAST.student, repo / FAST.student)
    weights.save_decoder(worse(4, 0.25, 128), repo / FAST.shipped, width=0.25, in_channels=128)  # a random one
    full_before = (repo / SHIPPED).read_bytes()
    run = _run(tmp_path, REPO / FAST.shipped, media, student=True)
    report = ship(run, repo=repo, size=64, say=lambda _: None)
    assert report.shipped and report.peer is None, report.reason
    assert (repo / FAST.shipped).read_bytes() == (run / EXPORT).read_bytes()
    assert (repo / SHIPPED).read_bytes() == full_before and (repo / SAMPLES).read_bytes() == b"old sheet"
    _assert_sheet_of(repo / FAST.samples, report.candidate)
    card = (repo / CARD).read_text()
    assert "old status" in card and "| 0-10 | old row |\n<!-- /history -->" in card
    rows = card.split("<!-- student-history -->\n")[1].split("<!-- /student-history -->")[0].splitlines()
    assert rows[1].startswith("| 5,091-5,200 | test cpu, fp32 |") and rows[1].endswith(" dB | shipped |")

    net, meta = weights.load_decoder(run / EXPORT)  # a worse one: the resume point
    meta = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
    weights.save_decoder(worse(5, 0.25, 128), run / EXPORT, **{**meta, "steps": 5300})
    report = ship(run, repo=repo, size=64, say=lambda _: None)
    assert not report.shipped and (repo / FAST.resume).read_bytes() == (run / EXPORT).read_bytes()

    weights.save_decoder(net, run / EXPORT, **{**meta, "student": "another encoder"})
    with pytest.raises(UserError, match="trained against student encoder another encoder") as info:
        ship(run, repo=repo, size=64, say=lambda _: None)
    assert_one_line(str(info.value))


def _tuned_student(seed: int, path: Path) -> str:
    """The shipped student encoder, nudged (as `train --tune-student` leaves it), written to ``path``;
    its fingerprint as stored (fp16)."""
    import torch

    student, _ = weights.load_student(REPO / FAST.student)
    gen = torch.Generator().manual_seed(seed)
    for p in student.parameters():
        p.data.add_(0.01 * torch.randn(p.shape, generator=gen))
    weights.save_student(student, path)
    return weights.student_id(path)


def test_a_tuned_students_pair_lands_together_and_resumes_together(repo, tmp_path, media, primed_home):
    """A `train --tune-student` run: its decoder measured with the run's own student encoder, and that
    encoder landed with it, as the shipped pair (the resume point's encoder too) or as the resume pair."""
    from conftest import seeded_decoder as worse

    shutil.copyfile(REPO / FAST.student, repo / FAST.student)
    shutil.copyfile(REPO / FAST.student, repo / FAST.student_resume)
    weights.save_decoder(worse(4, 0.25, 128), repo / FAST.shipped, width=0.25, in_channels=128)
    run = _run(tmp_path, REPO / FAST.shipped, media, student=True)
    tuned_id = _tuned_student(1, run / STUDENT_EXPORT)
    net, meta = weights.load_decoder(run / EXPORT)
    meta = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
    weights.save_decoder(net, run / EXPORT, **{**meta, "student": tuned_id})
    report = ship(run, repo=repo, size=64, say=lambda _: None)
    assert report.shipped, report.reason
    for landed in (FAST.student, FAST.student_resume):
        assert (repo / landed).read_bytes() == (run / STUDENT_EXPORT).read_bytes()
    assert (repo / FAST.shipped).read_bytes() == (run / EXPORT).read_bytes()
    from app.engine import Stylizer

    Stylizer.create(decoder=repo / FAST.shipped, student=repo / FAST.student)  # the pair goes together
    shipped_pair = (repo / FAST.student).read_bytes(), (repo / FAST.shipped).read_bytes()

    other_id = _tuned_student(2, run / STUDENT_EXPORT)  # a worse decoder, another tuned encoder: the resume pair
    weights.save_decoder(worse(5, 0.25, 128), run / EXPORT, **{**meta, "steps": 5300, "student": other_id})
    report = ship(run, repo=repo, size=64, say=lambda _: None)
    assert not report.shipped and report.destination == repo / FAST.resume
    assert (repo / FAST.student_resume).read_bytes() == (run / STUDENT_EXPORT).read_bytes()
    assert (repo / FAST.resume).read_bytes() == (run / EXPORT).read_bytes()
    assert ((repo / FAST.student).read_bytes(), (repo / FAST.shipped).read_bytes()) == shipped_pair


def test_what_lands_is_what_was_measured_while_the_run_goes_on(repo, tmp_path, media, primed_home, monkeypatch):
    """A run still training rewrites its decoder (and tuned student) at each checkpoint: ship measures
    and lands one snapshot of the pair, even when a checkpoint comes in between."""
    from app.tools import ship as ship_module
    from conftest import seeded_decoder as other

    shutil.copyfile(REPO / FAST.student, repo / FAST.student)
    shutil.copyfile(REPO / FAST.student, repo / FAST.student_resume)
    weights.save_decoder(other(4, 0.25, 128), repo / FAST.shipped, width=0.25, in_channels=128)
    run = _run(tmp_path, REPO / FAST.shipped, media, student=True)
    net, meta = weights.load_decoder(run / EXPORT)
    meta = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
    weights.save_decoder(net, run / EXPORT, **{**meta, "student": _tuned_student(1, run / STUDENT_EXPORT)})
    measured = (run / STUDENT_EXPORT).read_bytes(), (run / EXPORT).read_bytes()
    real_measure = ship_module.measure

    def measure_then_checkpoint(*args, **kwargs):
        result = real_measure(*args, **kwargs)
        later = _tuned_student(2, run / STUDENT_EXPORT)  # the run's next checkpoint, mid-ship
        weights.save_decoder(other(6, 0.25, 128), run / EXPORT, **{**meta, "steps": 5400, "student": later})
        return result

    monkeypatch.setattr(ship_module, "measure", measure_then_checkpoint)
    report = ship(run, repo=repo, size=64, say=lambda _: None)
    assert report.destination is not None, report.reason
    landed_student = repo / (FAST.student if report.shipped else FAST.student_resume)
    assert (landed_student.read_bytes(), report.destination.read_bytes()) == measured
