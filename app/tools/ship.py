"""Shipping a training run's decoder, only when it measures better than the shipped one.

Both decoders are measured the same way, in one process: through the engine as a user runs
it, on the held-out pairs (256 px centre squares, alpha 1; the ``eval-quality`` figures), and
at alpha 0 on the held-out contents (the decoder fed each photo's own relu4_1: how well it
inverts the encoder). The candidate replaces ``models/weights/decoder_fp16.pth`` when the
paper's objective, content + lambda * style (lambda 10, whatever a run trained with), is lower.
Otherwise it becomes the resume point (``decoder_resume_fp16.pth``, one file that each stretch
overwrites) that the next stretch continues, unless the resume point there measures better still (a
stretch that lost ground does not overwrite where it started). Either way the model card gets the
stretch's row in its history table, and a shipped decoder its sample sheet: the very pictures
its figures were measured on (first row: the styles; first column: the contents).

A fast student's decoder run (``train --student``) lands the same way beside the student's files,
at 320 px (its live goal's size) and without the peer, each decoder measured with the student
encoder it was trained against: the shipped one, the resume point's, or a tuned run's own
(``train --tune-student``), which then lands with it (a student and its decoder go together).
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from app import weights
from app.tools import peer, quality
from app.errors import UserError
from app.images import RGBImage, load_folder, save_image
from app.tools.train import EXPORT, STRETCHES, STUDENT_EXPORT, TrainConfig

REPO = Path(__file__).resolve().parents[2]
SHIPPED = Path("models/weights/decoder_fp16.pth")
RESUME = Path("models/weights/decoder_resume_fp16.pth")
CARD = Path("models/MODEL_CARD.md")
SAMPLES = Path("docs/decoder_samples.jpg")
EVAL_SIZE = 256
STATUS_MARK = "status"
HISTORY_MARK = "history"


@dataclass(frozen=True)
class Landing:
    """Where a kind of run lands and how it is measured (paths relative to the project)."""

    shipped: Path
    resume: Path
    size: int  # held-out centre squares are measured at this size
    history_mark: str
    status_mark: str | None  # the card's status block, rewritten when a decoder ships
    samples: Path | None  # where the measured pictures go, side by side, when a decoder ships
    student: Path | None  # the student encoder the engine runs the shipped decoder with
    student_resume: Path | None  # the one the resume point's decoder goes with
    peer: bool  # the peer's figures beside ours


FULL = Landing(SHIPPED, RESUME, EVAL_SIZE, HISTORY_MARK, STATUS_MARK, SAMPLES, None, None, True)
FAST = Landing(Path("models/weights/student_decoder_fp16.pth"), Path("models/weights/student_decoder_resume_fp16.pth"),
               320, "student-history", None, Path("docs/student_samples.jpg"), Path("models/weights/student_fp16.pth"),
               Path("models/weights/student_resume_fp16.pth"), False)


@dataclass(frozen=True)
class Measurement:
    """One decoder on the held-out set, through the engine."""

    content: float  # alpha 1: relu4_1 distance to the AdaIN target
    style: float  # alpha 1: mean/std distance at relu1_1..relu4_1
    recon_content: float  # alpha 0: relu4_1 distance to the photo's own features
    recon_psnr: float  # alpha 0: dB against the photo
    sheet: RGBImage | None = field(default=None, repr=False, compare=False)  # the alpha-1 pictures

    def objective(self, style_weight: float) -> float:
        return self.content + style_weight * self.style


@dataclass(frozen=True)
class ShipReport:
    shipped: bool
    reason: str
    candidate: Measurement
    current: Measurement | None
    peer: quality.Score | None
    destination: Path | None  # None: not landed (the resume point measured better)


def measure(decoder: Path, contents: list[np.ndarray], styles: list[np.ndarray],
            meter: quality.LossMeter, size: int = EVAL_SIZE, student: Path | None = None) -> Measurement:
    """The held-out figures of one decoder file (a ``student``'s when given), through the engine on
    this machine's default path."""
    from app.engine import Settings, Stylizer  # noqa: PLC0415 - torch start-up only when measuring

    stylizer = Stylizer.create(decoder=decoder, student=student)

    def at_alpha(alpha: float) -> quality.PairStylizer:
        return lambda c, s: stylizer.stylize(c, Settings(styles=(stylizer.add_style(s),), alpha=alpha))

    score = quality.compare({"ours": at_alpha(1.0)}, contents, styles, meter, size)["ours"]
    squares = [quality.to_rgb8(quality.centre_square(c, size)) for c in contents]
    recon_c, psnr = [], []
    for c in squares:
        out = at_alpha(0.0)(c, c)
        recon_c.append(meter(c, c, out)[0])
        psnr.append(quality.psnr(out, c))
    sheet = quality.comparison_sheet({"ours": score}, contents, styles, size)
    return Measurement(score.content, score.style, float(np.mean(recon_c)), float(np.mean(psnr)), sheet)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _replace_between(text: str, mark: str, body: str) -> str:
    """Replace what lies between ``<!-- mark -->`` and ``<!-- /mark -->``."""
    pattern = re.compile(rf"(<!-- {mark} -->\n).*?(<!-- /{mark} -->)", re.S)
    if not pattern.search(text):
        raise UserError(f"{CARD}: the markers <!-- {mark} --> ... <!-- /{mark} --> are missing")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text, count=1)


def _row_steps(row: str) -> tuple[str, str]:
    """('5,091', '9,452') of a history row '| 5,091-9,452 | ...'; ('', '') for anything else."""
    cell = row.split("|")[1].strip() if row.count("|") > 1 else ""
    start, _, end = cell.partition("-")
    return start.strip(), end.strip()


def _row_key(row: str) -> tuple[str, str]:
    """A history row's start step and route (the sixth column). A stretch landed again (insurance,
    then final) keeps one row, the last; runs from one start on different routes (an A/B) one each."""
    cells = row.split("|")
    return _row_steps(row)[0], cells[6].strip() if len(cells) > 7 else ""


def _landed_stretches(run: Path, landed_ends: set[int]) -> list[dict]:
    """The run folder's stretches since it last landed: from the latest one that started where a
    history row ends (a session resuming the run's own checkpoint at the landed step starts a new
    row), else all of them (restarts within one session stay in one row)."""
    stretches = _jsonl(run / STRETCHES)
    starts = [i for i, s in enumerate(stretches) if int(s["start_step"]) in landed_ends]
    return stretches[starts[-1]:] if starts else stretches


def _history_row(run: Path, meta: dict, m: Measurement, peer_score: quality.Score | None, landed_as: str,
                 landed_ends: set[int], peer_column: bool = True) -> str:
    stretches = _landed_stretches(run, landed_ends)
    first = stretches[0] if stretches else {"start_step": 0, "start_elapsed_s": 0}
    machines = sorted({f"{s['machine']}, {s['precision']}" for s in stretches}) or ["?"]
    steps = int(meta.get("steps", 0)) - int(first["start_step"])
    seconds = float(meta.get("train_seconds", 0)) - float(first["start_elapsed_s"])
    rate = f"{steps / seconds:.2f}" if seconds > 0 else "-"
    route = stretches[-1].get("route", "-") if stretches else "-"
    peer_text = f"{peer_score.content:.2f} / {peer_score.style:.2f}" if peer_score else "not measured"
    return (f"| {int(first['start_step']):,}-{int(meta.get('steps', 0)):,} | {'; '.join(machines)} | {rate} | "
            f"{steps:,} | {seconds / 3600:.2f} h | {route} | {m.content:.2f} / {m.style:.2f} | "
            f"{m.recon_content:.2f} / {m.recon_psnr:.1f} dB | {peer_text + ' | ' if peer_column else ''}"
            f"{landed_as} |\n")


def _status(meta: dict, m: Measurement, peer_score: quality.Score | None) -> str:
    bar = "not measured (the peer is not installed)"
    if peer_score is not None:
        met = m.style < peer_score.style and m.content < peer_score.content
        bar = (f"ours content {m.content:.2f} / style {m.style:.2f}; {peer.NAME} "
               f"{peer_score.content:.2f} / {peer_score.style:.2f}: **{'met' if met else 'not met'}**")
    return ("| | |\n|---|---|\n"
            f"| steps | {int(meta.get('steps', 0)):,} (batch 8, {meta.get('train_size', '?')} px crops) |\n"
            f"| training wall time | {float(meta.get('train_seconds', 0)) / 3600:.1f} h on CPUs (see the history) |\n"
            f"| held-out losses (4 contents x 4 styles, {EVAL_SIZE} px, alpha 1, through the engine) | "
            f"content {m.content:.2f}, style {m.style:.2f} |\n"
            f"| reconstruction (alpha 0, held-out contents) | content {m.recon_content:.2f}, "
            f"PSNR {m.recon_psnr:.1f} dB |\n"
            f"| quality bar: both losses below the peer's on the same pairs | {bar} |\n")


def ship(run: Path, holdout_content: Path | None = None, holdout_style: Path | None = None,
         repo: Path = REPO, with_peer: bool = True, size: int | None = None,
         say: Callable[[str], None] = print) -> ShipReport:
    """Measure the run's averaged decoder against the shipped one and land it as one or the other."""
    if not (run / EXPORT).is_file():
        raise UserError(f"{run}: no {EXPORT} in it (train first)")
    with tempfile.TemporaryDirectory(prefix="adain-ship-") as tmp:
        return _ship(run, _snapshot(run, Path(tmp)), holdout_content, holdout_style, repo, with_peer, size, say)


def _snapshot(run: Path, into: Path, tries: int = 5) -> Path:
    """A copy of the run's decoder (and its tuned student) as they are now: a run still training
    rewrites them at every checkpoint, and what lands must be what was measured. A copy taken while
    a checkpoint was between writing the pair is taken again."""
    for _ in range(tries):
        for name in (STUDENT_EXPORT, EXPORT):
            if (run / name).is_file():
                shutil.copyfile(run / name, into / name)
        if not (into / STUDENT_EXPORT).is_file():
            break
        with contextlib.suppress(UserError):
            if weights.load_decoder(into / EXPORT)[1].get("student") == weights.student_id(into / STUDENT_EXPORT):
                break
        time.sleep(2)
    return into  # still unpaired: _student_of says so


def _ship(run: Path, frozen: Path, holdout_content: Path | None, holdout_style: Path | None, repo: Path,
          with_peer: bool, size: int | None, say: Callable[[str], None]) -> ShipReport:
    """``ship`` on ``frozen``, the snapshot of the run's files (the run folder still gives its logs)."""
    candidate = frozen / EXPORT
    cfg = TrainConfig(**json.loads((run / "config.json").read_text()))
    target = FAST if cfg.student else FULL
    size = size or target.size
    contents = load_folder(Path(holdout_content or cfg.holdout_content_dir or ""), "held-out")
    styles = load_folder(Path(holdout_style or cfg.holdout_style_dir or ""), "held-out")
    _, meta = weights.load_decoder(candidate)  # refuses anything that does not load cleanly
    if meta.get("encoder_fingerprint") != weights.encoder_id(None):
        raise UserError(f"{run / EXPORT}: trained against encoder {meta.get('encoder_fingerprint')}, "
                        f"not the default {weights.encoder_id(None)}")
    student = _student_of(frozen, meta, repo, target, run) if target.student else None
    meter = quality.LossMeter(weights.default_encoder())
    say(f"measuring {run / EXPORT} on {len(contents)} x {len(styles)} held-out pairs at {size} px")
    new = measure(candidate, contents, styles, meter, size, student)
    shipped_path = repo / target.shipped
    shipped_student = repo / target.student if target.student else None
    old = measure(shipped_path, contents, styles, meter, size, shipped_student) if shipped_path.is_file() else None
    peer_score = None
    if target.peer and with_peer and peer.available():
        peer_score = quality.compare({peer.NAME: peer.PeerStylizer().stylize}, contents, styles, meter,
                                     size)[peer.NAME]
    lam = TrainConfig.style_weight  # the bar: the paper's objective at its lambda, whatever the run trained with
    same = old is not None and shipped_path.read_bytes() == candidate.read_bytes()
    better = old is None or same or new.objective(lam) < old.objective(lam)
    if old is None or same:
        reason = "nothing shipped yet" if old is None else "this very file is the shipped one"
    else:
        verdict = "below" if better else "not below"
        reason = (f"objective {new.objective(lam):.2f} {verdict} the shipped file's {old.objective(lam):.2f} "
                  f"(content {new.content:.2f} vs {old.content:.2f}, style {new.style:.3f} vs {old.style:.3f}, "
                  f"alpha-0 PSNR {new.recon_psnr:.1f} vs {old.recon_psnr:.1f} dB)")
    resume = repo / target.resume
    resume_student = repo / target.student_resume if target.student_resume else None
    stays = None if better else _better_resume_point(resume, candidate, meta, new, lam, contents, styles, meter, size,
                                                     resume_student)
    if stays is not None:
        reason += f"; the resume point measures better still ({stays.objective(lam):.2f}) and stays"
    dest = None if stays is not None else repo / (target.shipped if better else target.resume)
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(candidate, dest)
        # its encoder goes with it; after shipping, the shipped pair is also where the next stretch resumes
        for pair in ([shipped_student] if better else []) + [resume_student]:
            if student is not None and pair is not None and not _same_file(student, pair):
                shutil.copyfile(student, pair)
    if better:
        resume.unlink(missing_ok=True)  # the shipped file is now the one resume point
        if target.samples and new.sheet is not None:
            (repo / target.samples).parent.mkdir(parents=True, exist_ok=True)
            save_image(new.sheet, repo / target.samples)
    card_path = repo / CARD
    card = card_path.read_text()
    if better and target.status_mark:
        card = _replace_between(card, target.status_mark, _status(meta, new, peer_score))
    history = re.search(rf"<!-- {target.history_mark} -->\n(.*?)<!-- /{target.history_mark} -->", card, re.S)
    rows = (history.group(1) if history else "").splitlines(keepends=True)
    ends = {end.replace(",", "") for _, end in map(_row_steps, rows)}
    landed_as = ("shipped" if better else "resume point" if dest is not None
                 else "not landed (the resume point is better)")
    row = _history_row(run, meta, new, peer_score, landed_as, {int(e) for e in ends if e.isdigit()}, target.peer)
    rows = [r for r in rows if _row_key(r) != _row_key(row)]
    card = _replace_between(card, target.history_mark, "".join(rows) + row)
    card_path.write_text(card)
    say(("shipped " if better else "not shipped, " + ("kept as the resume point " if dest else "not landed "))
        + f"{dest or run / EXPORT}: {reason}")
    return ShipReport(better, reason, new, old, peer_score, dest)


def _same_file(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def _student_of(frozen: Path, meta: dict, repo: Path, target: Landing, run: Path) -> Path:
    """The student encoder file the run's decoder was trained against: the run's own (a tuned
    student, in the snapshot ``frozen``), the shipped one or the resume point's, whichever its
    metadata names."""
    assert target.student is not None
    places = [frozen / STUDENT_EXPORT, repo / target.student] + ([repo / target.student_resume]
                                                              if target.student_resume else [])
    for path in places:
        if path.is_file() and weights.student_id(path) == meta.get("student"):
            return path
    raise UserError(f"{run / EXPORT}: trained against student encoder {meta.get('student')}, which is neither its "
                    f"run's {STUDENT_EXPORT}, the shipped {target.student} nor {target.student_resume}")


def _better_resume_point(resume: Path, candidate: Path, meta: dict, new: Measurement, lam: float,
                         contents: list[np.ndarray], styles: list[np.ndarray], meter: quality.LossMeter, size: int,
                         student: Path | None) -> Measurement | None:
    """The resume point's figures (a student's decoder measured with the resume point's ``student``)
    when it measures at least as well as the candidate, which then does not replace it; None when the
    candidate should: no resume point, the same file, one that does not load or was trained against
    another encoder than the one beside it (stale), or a worse one."""
    if not resume.is_file() or resume.read_bytes() == candidate.read_bytes():
        return None
    try:
        _, resume_meta = weights.load_decoder(resume)
        paired = student is None or (student.is_file() and resume_meta.get("student") == weights.student_id(student))
    except UserError:
        return None
    if resume_meta.get("encoder_fingerprint") != meta.get("encoder_fingerprint") or not paired:
        return None
    resumed = measure(resume, contents, styles, meter, size, student)
    return resumed if resumed.objective(lam) <= new.objective(lam) else None
