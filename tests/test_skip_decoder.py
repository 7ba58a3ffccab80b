"""The skip decoder (models.decoder.SkipDecoder, train --skips): it starts as the plain decoder it
grows from, sees only the normalised structure of the content's shallower taps, and travels
through files, the trainer's content bank and the engine like a plain one."""
from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from app import weights
from app.errors import UserError
from app.cli import train as train_cli
from app.tools.train import ContentBank, Trainer, skip_kind
from conftest import assert_one_line
from models.decoder import SKIP_TAPS, SkipDecoder, decode, decoder
from models.student import student_encoder
from models.vgg import TAPS


def _skip_decoder(seed: int = 0, live: bool = True) -> tuple[SkipDecoder, torch.nn.Sequential]:
    """A student-sized skip decoder and the plain one it wraps; ``live``: skips given weights."""
    torch.manual_seed(seed)
    plain = decoder(width=0.25, in_channels=128)
    net = SkipDecoder(plain, [64, 32])
    if live:
        with torch.no_grad():
            for conv in net.skips:
                conv.weight.normal_(0.0, 0.5)
    return net.eval(), plain.eval()


def _taps(seed: int, h: int = 32, w: int = 48) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, c, h // s, w // s, generator=g) for c, s in ((128, 8), (64, 4), (32, 2))]


def test_a_new_skip_decoder_paints_what_its_plain_decoder_paints_and_can_learn_to_differ():
    net, plain = _skip_decoder(live=False)
    target, r31, r21 = _taps(1)
    assert SKIP_TAPS == ("relu3_1", "relu2_1")
    with torch.no_grad():
        assert torch.equal(net(target, [r31, r21]), plain(target))
    loss = net(target, [r31, r21]).square().mean()
    loss.backward()
    assert all(float(conv.weight.grad.abs().sum()) > 0 for conv in net.skips)  # zero weights, live gradients


def test_the_skips_carry_structure_not_the_photos_statistics():
    net, _ = _skip_decoder()
    target, r31, r21 = _taps(2)
    with torch.no_grad():
        base = net(target, [r31, r21])
        rescaled = net(target, [3.0 * r31 + 0.7, 0.5 * r21 - 0.2])  # per-channel statistics changed
        other = net(target, [r31.flip(-1), r21.flip(-1)])  # the same statistics, another layout
    torch.testing.assert_close(rescaled, base, rtol=1e-4, atol=1e-4)
    assert float((other - base).abs().mean()) > 1e-3


def test_skips_one_cell_off_after_an_odd_side_are_resized():
    net, _ = _skip_decoder()
    target, r31, r21 = _taps(3, 40, 56)
    with torch.no_grad():
        out = net(target, [r31[..., :-1, :], r21[..., :-1, :]])
    assert out.shape == (1, 3, 40, 56) and torch.isfinite(out).all()


def test_decode_runs_either_kind():
    net, plain = _skip_decoder(live=False)
    target, r31, r21 = _taps(4)
    with torch.no_grad():
        assert torch.equal(decode(net, target, (r31, r21)), decode(plain, target))


def test_a_skip_decoder_file_round_trips_and_names_its_skips(tmp_path):
    net, plain = _skip_decoder()
    weights.save_decoder(net, tmp_path / "skip.pth", width=0.25, in_channels=128)
    weights.save_decoder(plain, tmp_path / "plain.pth", width=0.25, in_channels=128)
    loaded, meta = weights.load_decoder(tmp_path / "skip.pth")
    assert isinstance(loaded, SkipDecoder) and meta["skip_channels"] == [64, 32]
    assert not isinstance(weights.load_decoder(tmp_path / "plain.pth")[0], SkipDecoder)
    target, r31, r21 = _taps(5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(target, [r31, r21]), net.half().float()(target, [r31, r21]))


def test_a_modulated_decoder_starts_as_its_skip_decoder_then_lets_the_style_set_the_structure(tmp_path):
    net, _ = _skip_decoder()
    modulated = SkipDecoder(net.body, [64, 32], modulated=True).eval()
    missing, unexpected = modulated.load_state_dict(net.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["modulation.bias", "modulation.weight"]
    target, r31, r21 = _taps(6)
    with torch.no_grad():
        assert torch.equal(modulated(target, [r31, r21]), net(target, [r31, r21]))  # the map starts at zero
        modulated.modulation.weight.normal_(0.0, 0.05)
        louder = 2.0 * target + 0.5  # another style's statistics, the same layout
        assert float((modulated(louder, [r31, r21]) - net(louder, [r31, r21])).abs().mean()) > 1e-3
        # the skips' structure still carries none of the photo's own statistics
        torch.testing.assert_close(modulated(target, [3.0 * r31 + 0.7, 0.5 * r21 - 0.2]),
                                   modulated(target, [r31, r21]), rtol=1e-4, atol=1e-4)
    weights.save_decoder(modulated, tmp_path / "modulated.pth", width=0.25, in_channels=128)
    loaded, meta = weights.load_decoder(tmp_path / "modulated.pth")
    assert loaded.modulated and meta["skip_modulated"] is True
    with torch.no_grad():
        torch.testing.assert_close(loaded(target, [r31, r21]), modulated.half().float()(target, [r31, r21]))
        low = loaded.to(torch.bfloat16)(target.bfloat16(), [r31.bfloat16(), r21.bfloat16()])  # the engine's CPU dtype
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()


# ----------------------------------------------------------------------------- training


@pytest.fixture
def skip_trainer(student_trainer, fresh_encoder) -> Trainer:
    """``student_trainer``'s set-up with a skip decoder and the teacher's content target."""
    t = student_trainer
    return Trainer(replace(t.cfg, teacher_content=True, skips=True), fresh_encoder(), t.contents, t.styles,
                   source=t.source)


def test_the_content_bank_keeps_the_skips_exactly(skip_trainer):
    t = skip_trainer
    assert isinstance(t.decoder, SkipDecoder) and "skip decoder" in t.cfg.route()
    crops = t.contents.crops(2, 32, torch.Generator().manual_seed(1))
    direct = t.content_features(crops)
    taps = t.source.taps(crops)
    assert [x.shape[1] for x in direct.skips] == [t.source.channels[list(TAPS).index(n)] for n in SKIP_TAPS]
    assert torch.equal(direct.skips[0], taps[2]) and torch.equal(direct.skips[1], taps[1])
    banked = t.content_features(direct.packed(), encoded=True)
    assert torch.equal(banked.adain, direct.adain) and torch.equal(banked.teacher, direct.teacher)
    assert all(torch.equal(a, b) for a, b in zip(banked.skips, direct.skips, strict=True))
    t.content_bank = ContentBank.build(t.contents, t, 32, 1, torch.Generator(), progress=False)
    assert t.content_bank.features.shape[1] == 128 + 512 + 64 * 4 + 32 * 16
    results = [t.step() for _ in range(4)]  # AdaIN (banked) and reconstruction batches alike
    assert all(np.isfinite(r.loss) for r in results) and any(r.recon is not None for r in results)
    assert float(t.decoder.skips[0].weight.detach().abs().sum()) > 0  # the skips learn


def test_a_skip_run_grows_from_a_plain_decoder_file_and_refuses_what_cannot_continue(skip_trainer, tmp_path,
                                                                                    fresh_encoder):
    t = skip_trainer
    plain = Trainer(replace(t.cfg, skips=False), fresh_encoder(), t.contents, t.styles, source=t.source)
    plain.step_count = 7
    plain.export(tmp_path / "plain.pth")
    t.load(tmp_path / "plain.pth")
    plain.load(tmp_path / "plain.pth")  # both at the file's fp16 weights
    assert t.step_count == 7
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(t.objective(content, style, decoder=t.ema).image,
                                   plain.objective(content, style, decoder=plain.ema).image)
    plain.save(tmp_path / "plain.pt")
    t.export(tmp_path / "skip.pth")
    t.save(tmp_path / "skip.pt")
    assert [skip_kind(tmp_path / f)[0] for f in ("plain.pth", "plain.pt", "skip.pth", "skip.pt")] == [
        False, False, True, True]
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    base = ["--content-dir", t.cfg.content_dir, "--style-dir", t.cfg.style_dir, "--resume"]
    assert train_cli.config(parser.parse_args(base + [str(tmp_path / "skip.pth")])).skips  # implied
    assert not train_cli.config(parser.parse_args(base + [str(tmp_path / "plain.pth")])).skips
    for trainer, path, words in ((t, "plain.pt", "start from its decoder_fp16.pth"),
                                 (plain, "skip.pth", "add --skips")):
        with pytest.raises(UserError) as err:
            trainer.load(tmp_path / path)
        assert_one_line(str(err.value))
        assert words in str(err.value)


def test_a_modulated_run_grows_from_a_skip_decoder_file_and_is_implied_by_its_own(skip_trainer, tmp_path,
                                                                                  fresh_encoder):
    t = skip_trainer
    m = Trainer(replace(t.cfg, skip_modulation=True), fresh_encoder(), t.contents, t.styles, source=t.source)
    assert m.decoder.modulated and "modulated by the style's statistics" in m.cfg.route()
    with torch.no_grad():
        t.ema.skips[0].weight.normal_(0.0, 0.5)  # the export is the average's
    t.export(tmp_path / "skip.pth")
    m.load(tmp_path / "skip.pth")
    t.load(tmp_path / "skip.pth")
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(m.objective(content, style, decoder=m.ema).image,
                                   t.objective(content, style, decoder=t.ema).image)
    assert all(np.isfinite(m.step().loss) for _ in range(3))
    m.export(tmp_path / "modulated.pth")
    m.save(tmp_path / "modulated.pt")
    assert skip_kind(tmp_path / "modulated.pth") == skip_kind(tmp_path / "modulated.pt") == (True, True)
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    base = ["--content-dir", t.cfg.content_dir, "--style-dir", t.cfg.style_dir]
    cfg = train_cli.config(parser.parse_args(base + ["--resume", str(tmp_path / "modulated.pth")]))
    assert cfg.skips and cfg.skip_modulation  # implied
    assert train_cli.config(parser.parse_args(base + ["--skip-modulation"])).skips
    for trainer, path, words in ((t, "modulated.pth", "add --skip-modulation"),
                                 (t, "modulated.pt", "start from its decoder_fp16.pth")):
        with pytest.raises(UserError) as err:
            trainer.load(tmp_path / path)
        assert_one_line(str(err.value))
        assert words in str(err.value)


# ----------------------------------------------------------------------------- the engine


def test_the_engine_hands_the_student_skip_decoder_its_taps(skip_trainer, tmp_path, primed_home):
    from app.engine import Settings, Stylizer
    from app.tools.bench import model_gflop

    student = tmp_path / "student.pth"
    weights.save_student(skip_trainer.source, student)
    made_for = weights.student_id(student)  # as the engine names it (fp16)
    net = skip_trainer.ema
    with torch.no_grad():
        net.skips[0].weight.normal_(0.0, 0.5)
    meta = {"width": 0.25, "in_channels": 128, "student": made_for}
    weights.save_decoder(net, tmp_path / "skip.pth", **meta)
    weights.save_decoder(net.body, tmp_path / "body.pth", **meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # made for this very student: no mismatch warning
        skip, body = (Stylizer.create(device="cpu", precision="fp32", student=student, decoder=tmp_path / name)
                      for name in ("skip.pth", "body.pth"))
    rng = np.random.default_rng(0)
    style, frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    outs = [s.stylize(frame, Settings(styles=(s.add_style(style),), size=48)) for s in (skip, body)]
    assert outs[0].shape == (48, 80, 3) and np.abs(outs[0].astype(int) - outs[1]).mean() > 1.0  # the skips count
    extra = model_gflop(skip, 427, 320) - model_gflop(body, 427, 320)
    assert 0.1 < extra < 0.2  # two 1x1 convs: ~0.14 GFLOP against the pair's ~8.5


def test_a_skip_decoder_against_another_encoder_is_one_clear_sentence(tmp_path, primed_home):
    from app.engine import Stylizer

    student = tmp_path / "student.pth"
    weights.save_student(student_encoder(width=0.125), student)  # 8/16/32/64 channels
    net = SkipDecoder(decoder(width=0.25, in_channels=64), [64, 32])
    weights.save_decoder(net, tmp_path / "skip.pth", width=0.25, in_channels=64)
    with pytest.raises(UserError) as err:
        Stylizer.create(device="cpu", precision="fp32", student=student, decoder=tmp_path / "skip.pth")
    assert_one_line(str(err.value))
    assert "skips" in str(err.value)
