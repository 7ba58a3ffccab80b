"""The model is a choice (app.engine.pick_model): 'full' (VGG-19), 'fast' (the distilled student) or
'auto'. The fast model's shipped files are replaced here by a tiny student and a decoder made for
it in a temporary folder (the two defaults in app.weights point there)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app import weights
from app.cli import main
from app.engine import Stylizer, pick_model
from app.errors import UserError
from app.images import load_image, save_image
from app.kiosk.config import parse_config
from conftest import assert_one_line


def make_fast_model(folder: Path) -> tuple[Path, Path]:
    """A random student encoder and a decoder that names it, as `distill` and `train --student` write
    them (their images are noise; what is tested is which networks run)."""
    from models.decoder import CONV_INDICES, decoder
    from models.student import student_encoder

    torch.manual_seed(0)
    student, decoder_file = folder / "student_fp16.pth", folder / "student_decoder_fp16.pth"
    weights.save_student(student_encoder(), student, steps=0)
    encoder, _ = weights.load_student(student)
    net = decoder(width=0.25, in_channels=encoder.channels[-1])
    with torch.no_grad():  # images around mid-grey rather than clamped to black
        net[CONV_INDICES[-1]].weight.mul_(12.0)
        net[CONV_INDICES[-1]].bias.fill_(0.5)
    weights.save_decoder(net, decoder_file, width=0.25, in_channels=encoder.channels[-1],
                         student=weights.fingerprint(encoder))
    return student, decoder_file


@pytest.fixture
def fast_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The fast model 'shipped': its two default files exist (in a temporary folder)."""
    student, decoder_file = make_fast_model(tmp_path)
    monkeypatch.setattr(weights, "DEFAULT_STUDENT", student)
    monkeypatch.setattr(weights, "DEFAULT_STUDENT_DECODER", decoder_file)
    return student, decoder_file


@pytest.fixture
def fast_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast model not shipped (as today), whatever the checkout holds."""
    monkeypatch.setattr(weights, "DEFAULT_STUDENT", tmp_path / "none" / "student_fp16.pth")
    monkeypatch.setattr(weights, "DEFAULT_STUDENT_DECODER", tmp_path / "none" / "student_decoder_fp16.pth")


def test_the_auto_rule():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert pick_model("auto", cpu, None) == "fast"
    assert pick_model("auto", cpu, "missing") == "full"
    assert pick_model("auto", cuda, None) == "full"  # on CUDA the full model is live already
    assert pick_model("full", cpu, None) == "full" and pick_model("fast", cuda, None) == "fast"
    with pytest.raises(UserError, match="missing"):
        pick_model("fast", cpu, "missing")


def test_auto_runs_the_full_model_when_the_fast_files_are_missing(fast_missing, primed_home):
    stylizer = Stylizer.create(device="cpu", precision="fp32")
    assert stylizer.model == "full" and stylizer.encoder.channels[-1] == 512
    message = weights.fast_model_missing()
    assert_one_line(message)
    assert "student_fp16.pth and student_decoder_fp16.pth missing" in message and "distill" in message


def test_auto_runs_the_fast_model_on_a_cpu_when_it_is_shipped(fast_shipped):
    assert weights.fast_model_missing() is None
    stylizer = Stylizer.create(device="cpu", precision="fp32")
    assert stylizer.model == "fast" and stylizer.encoder.channels[-1] == 128


def test_model_full_runs_the_full_model_even_when_the_fast_one_is_shipped(fast_shipped, primed_home):
    assert Stylizer.create(device="cpu", precision="fp32", model="full").model == "full"


def test_explicit_files_win_over_the_model_choice(fast_shipped, primed_home, decoder_file):
    assert Stylizer.create(device="cpu", precision="fp32", model="fast", decoder=decoder_file).model == "full"
    student, student_decoder = fast_shipped
    explicit = Stylizer.create(device="cpu", precision="fp32", model="full", student=student, decoder=student_decoder)
    assert explicit.model == "fast"


def _images(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    save_image(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), folder / "in.png")
    save_image(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), folder / "style.png")
    return folder / "in.png", folder / "style.png"


def test_model_fast_without_its_files_is_one_line_and_exit_code_2(fast_missing, tmp_path, capsys):
    content, style = _images(tmp_path)
    rc = main(["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "out.png"), "--model", "fast"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not (tmp_path / "out.png").exists()
    assert_one_line(err)
    assert "fast model is not trained and shipped yet" in err and "python main.py distill" in err
    assert "train --student" in err


def test_stylize_with_the_fast_model(fast_shipped, tmp_path, capsys):
    content, style = _images(tmp_path)
    rc = main(["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "out.png"), "--model", "fast",
               "--precision", "fp32", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    out = load_image(tmp_path / "out.png")
    assert out.shape == (40, 56, 3) and out.std() > 0


@pytest.mark.parametrize("value", ["auto", "full", "fast", "FAST"])
def test_the_kiosk_config_takes_a_model(value):
    assert parse_config(f'model = "{value}"', "kiosk.toml").model == value.lower()
    assert parse_config("", "kiosk.toml").model == "auto"


@pytest.mark.parametrize("text", ['model = "turbo"', "model = 2", 'modle = "fast"'])
def test_the_kiosk_config_refuses_another_model_in_one_line_naming_the_key(text):
    with pytest.raises(UserError) as info:
        parse_config(text, "kiosk.toml")
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith("kiosk.toml: model") or "did you mean 'model'" in message


def _bench_one_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], str]:
    """bench on one tiny frame size, native-fp32 only, no live run: its JSON records and printout."""
    import json

    out = tmp_path / "bench.json"
    rc = main(["bench", "--sizes", "48x32", "--runs", "1", "--no-live", "--paths", "native-fp32",
               "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    return json.loads(out.read_text()), printed


def test_bench_times_both_models_in_one_run(fast_shipped, primed_home, tmp_path, capsys):
    records, printed = _bench_one_size(tmp_path, capsys)
    assert [(r["model"], r["path"]) for r in records] == [("full", "native-fp32"), ("fast", "native-fp32")]
    assert records[1]["gflop_per_frame"] < records[0]["gflop_per_frame"] / 8  # the student's smaller work
    assert "fast  native-fp32" in printed and "full  native-fp32" in printed


def test_bench_notes_a_missing_fast_model_and_times_the_rest(fast_missing, primed_home, tmp_path, capsys):
    records, printed = _bench_one_size(tmp_path, capsys)
    assert "fast model: skipped (the fast model is not trained and shipped yet" in printed
    assert [(r["model"], r["path"]) for r in records] == [("full", "native-fp32")]


def test_bench_of_the_fast_model_alone_when_it_is_missing_is_one_line(fast_missing, tmp_path, capsys):
    rc = main(["bench", "--sizes", "48x32", "--runs", "1", "--no-live", "--models", "fast"])
    captured = capsys.readouterr()
    assert rc == 2 and "fast model: skipped (the fast model is not trained and shipped yet" in captured.out
    assert_one_line(captured.err)


def test_a_new_stylizer_takes_over_between_frames_with_the_styles_and_a_fresh_size_governor(tmp_path):
    from PIL import Image

    from app.live.pipeline import LivePipeline
    from app.styles import Style
    from live_fixtures import FakeStylizer, ScriptedSource, wait_for

    class OwnStyles(FakeStylizer):
        """A fake that knows only the styles added to it (as each encoder does)."""

        def __init__(self) -> None:
            super().__init__()
            self.known: set[str] = set()

        def has_style(self, sid: str) -> bool:
            return sid in self.known

        def add_style(self, image: np.ndarray) -> str:
            self.known.add(sid := super().add_style(image))
            return sid

    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "s.png")
    old, new = OwnStyles(), OwnStyles()
    pipeline = LivePipeline(old, ScriptedSource(fps=200.0))
    pipeline.start()
    try:
        pipeline.select_styles([Style("s", tmp_path / "s.png")]).result(20)
        pipeline.set_size("auto", target_fps=20.0)
        first = pipeline.worker.governor
        assert wait_for(lambda: old.calls > 3)

        def broken() -> OwnStyles:
            raise UserError("no such model")

        with pytest.raises(UserError, match="no such model"):
            pipeline.switch_stylizer(broken).result(20)
        assert pipeline.stylizer is old and pipeline.worker.governor is first  # the old model runs on
        assert pipeline.switch_stylizer(lambda: new).result(20) is new
        assert pipeline.stylizer is new is pipeline.worker.stylizer and new.known == old.known
        governor = pipeline.worker.governor
        assert governor is not first and governor.target_fps == 20.0  # timings of the old model: forgotten
        calls = old.calls
        assert wait_for(lambda: new.calls > 3)
        assert old.calls == calls
    finally:
        pipeline.stop()


def test_files_default_to_the_full_model_and_live_use_to_auto(fast_shipped, monkeypatch):
    """Stylizing a file is about quality, the live window about speed: with the fast model shipped,
    `stylize` still runs the full one unless asked, `live` picks by the auto rule."""
    import argparse

    from app.cli import common

    seen: list[str] = []
    monkeypatch.setattr("app.engine.Stylizer.create", staticmethod(lambda **kw: seen.append(kw["model"])))
    args = argparse.Namespace(model=None, device="cpu", precision="fp32", vgg=None, decoder=None, student=None)
    common.make_stylizer(args)
    common.make_stylizer(args, live=True)
    common.make_stylizer(args, "fast")  # a remembered or configured choice
    common.make_stylizer(argparse.Namespace(**{**vars(args), "model": "full"}), "fast", live=True)
    assert seen == ["full", "auto", "fast", "full"]
