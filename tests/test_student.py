"""The fast student (models.student, app.tools.distill, train --student): its size, its start from
VGG's filters, a distillation that learns and resumes, and a decoder trained in its space."""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from app import weights
from app.tools.distill import CHECKPOINT, EXPORT, LOSS_LOG, DistillConfig, Distiller, run as distill
from app.errors import UserError
from app.tools.flops import conv_flops
from app.tools.train import ContentBank, ImageBank, StyleBank, Trainer
from conftest import assert_one_line
from models.adain import FeatureStats, adain
from models.decoder import decoder
from models.color import Palette, batch_color_stats, pull_palette
from models.losses import content_loss, reconstruction_loss, style_loss
from models.student import FeatureMaps, distillation_loss, prune_from, student_encoder
from models.vgg import conv_layers


def _distill_config(data: Path, out: Path, **changes) -> DistillConfig:
    cfg = DistillConfig(content_dir=str(data / "content"), style_dir=str(data / "style"), out_dir=str(out),
                        iterations=1000, size=32, batch=4, checkpoint_minutes=1e9, bf16=False, eval_size=32)
    return replace(cfg, **changes)


def test_the_student_is_the_size_the_fast_model_issue_counts():
    student = student_encoder()
    slim = decoder(width=0.25, in_channels=student.channels[-1])
    assert student.channels == [16, 32, 64, 128]
    params = sum(p.numel() for p in student.parameters()) + sum(p.numel() for p in slim.parameters())
    assert 400_000 < params < 480_000
    gflop = (conv_flops(student.body, (1, 3, 480, 640)) + conv_flops(slim, (1, 128, 60, 80))) / 1e9
    assert 17 < gflop < 20  # the full network: ~297


def test_the_student_starts_from_the_teachers_strongest_filters(fresh_encoder):
    teacher, student = fresh_encoder(), student_encoder()
    prune_from(teacher, student)
    (_, t_rgb), (_, t1), (_, t2) = conv_layers(teacher.body)[:3]
    (_, s_rgb), (_, s1), (_, s2) = conv_layers(student.body)[:3]
    torch.testing.assert_close(s_rgb.weight, t_rgb.weight)  # the colour transform, whole
    strongest = t1.weight.abs().sum(dim=(1, 2, 3)).topk(16).indices.sort().values
    torch.testing.assert_close(s1.weight, t1.weight[strongest])
    torch.testing.assert_close(s2.weight, t2.weight[:, strongest][t2.weight[:, strongest].abs().sum(dim=(1, 2, 3))
                                                                  .topk(16).indices.sort().values])


def test_distillation_loss_is_zero_for_the_teacher_and_four_for_silence():
    taps = [torch.rand(2, c, 8, 8) + 0.1 for c in (4, 8, 16, 32)]
    assert float(distillation_loss(taps, taps)) == 0.0
    assert float(distillation_loss([torch.zeros_like(t) for t in taps], taps)) == pytest.approx(4.0)
    maps = FeatureMaps([16, 32, 64, 128], [64, 128, 256, 512])
    assert [m.out_channels for m in maps.maps] == [64, 128, 256, 512]


def test_distillation_learns_the_teachers_features(train_data, tmp_path, fresh_encoder):
    d = Distiller(_distill_config(train_data, tmp_path, lr=3e-3), fresh_encoder(),
                  ImageBank(train_data / "content"), ImageBank(train_data / "style"))
    fixed = ImageBank(train_data / "content").crops(4, 32, torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = float(d.loss(fixed))
    for _ in range(40):
        d.step()
    with torch.no_grad():
        after = float(d.loss(fixed))
    assert after < 0.7 * before


def test_distill_resumes_exactly_and_exports_a_student_the_trainer_loads(train_data, tmp_path, fresh_encoder):
    out = tmp_path / "run"
    cfg = _distill_config(train_data, out, holdout_content_dir=str(train_data / "holdout_content"))
    straight = distill(cfg, teacher=fresh_encoder(), progress=False, stop_after=4)
    resumed_cfg = replace(cfg, out_dir=str(tmp_path / "halves"))
    distill(resumed_cfg, teacher=fresh_encoder(), progress=False, stop_after=2)
    halves = distill(resumed_cfg, resume=tmp_path / "halves" / CHECKPOINT, teacher=fresh_encoder(),
                     progress=False, stop_after=2)
    assert halves.step_count == straight.step_count == 4
    for a, b in zip(straight.student.parameters(), halves.student.parameters()):
        torch.testing.assert_close(a, b)
    assert len((out / LOSS_LOG).read_text().splitlines()) == 4
    student, meta = weights.load_student(out / EXPORT)
    assert meta["steps"] == 4 and meta["width"] == 0.25 and np.isfinite(meta["heldout_distill"])
    for a, b in zip(student.parameters(), straight.student.parameters()):
        torch.testing.assert_close(a, b.float(), atol=2e-3, rtol=2e-3)  # fp16 on disk


def test_distill_warm_starts_from_an_exported_student_keeping_its_step_count(train_data, tmp_path, fresh_encoder):
    cfg = _distill_config(train_data, tmp_path / "run", warm_start_ramp=4)
    trained = distill(cfg, teacher=fresh_encoder(), progress=False, stop_after=6)
    banks = ImageBank(train_data / "content"), ImageBank(train_data / "style")
    warm = Distiller(replace(cfg, out_dir=str(tmp_path / "warm")), fresh_encoder(), *banks)
    fresh_maps = [m.weight.detach().clone() for m in warm.maps.maps]
    warm.load(tmp_path / "run" / EXPORT)  # what `distill --resume student_fp16.pth` does
    assert warm.step_count == warm.warm_start_step == 6
    for a, b in zip(warm.student.parameters(), trained.student.parameters()):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=2e-3)  # fp16 on disk
    fixed = banks[0].crops(4, 32, torch.Generator().manual_seed(5))
    unfitted = Distiller(cfg, fresh_encoder())
    unfitted.student.load_state_dict(warm.student.state_dict())
    with torch.no_grad():
        assert float(warm.loss(fixed)) < 0.8 * float(unfitted.loss(fixed))  # maps fitted, not random
    assert not torch.equal(warm.maps.maps[0].weight, fresh_maps[0])
    assert [warm.step().lr for _ in range(2)] == pytest.approx([cfg.learning_rate(6) / 4, cfg.learning_rate(7) / 2])
    with pytest.raises(UserError, match="width"):
        Distiller(replace(cfg, width=0.5), fresh_encoder(), *banks).load(tmp_path / "run" / EXPORT)


def test_a_file_that_is_not_a_student_is_one_clear_sentence(tmp_path, decoder_file):
    for path in (decoder_file, tmp_path / "missing.pth"):
        with pytest.raises(UserError) as err:
            weights.load_student(path)
        assert_one_line(str(err.value))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pth"):
        weights.load_student(tmp_path / "junk.pth")


def test_the_students_decoder_works_in_the_students_space_and_vgg_measures_it(student_trainer):
    t = student_trainer
    assert t.decoder[1].in_channels == 128
    crops = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    targets = t.style_targets(crops)
    assert [s.mean.shape[1] for s in targets] == [64, 128, 256, 512, 128]  # VGG's four, then AdaIN's
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    with torch.no_grad():
        from_images, from_stats = t.losses(content, crops), t.losses(content, targets)
    assert [float(x) for x in from_images] == [float(x) for x in from_stats]
    t.style_bank = StyleBank.build(t.styles, t, 32, 1, torch.Generator(), progress=False)
    t.content_bank = ContentBank.build(t.contents, t, 32, 1, torch.Generator(), progress=False)
    assert len(t.style_bank.means) == 5 and t.content_bank.features.shape[1] == 128
    results = [t.step() for _ in range(4)]  # AdaIN and reconstruction batches alike
    assert all(np.isfinite(r.loss) for r in results) and any(r.recon is not None for r in results)


def test_a_teacher_content_loss_is_what_eval_quality_measures(student_trainer, fresh_encoder):
    """--teacher-content: the content loss in VGG's relu4_1 against the full model's AdaIN target,
    from images and from a content bank alike."""
    t = student_trainer
    teacher = Trainer(replace(t.cfg, teacher_content=True), fresh_encoder(), t.contents, t.styles, source=t.source)
    teacher.decoder.load_state_dict(t.decoder.state_dict())
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    with torch.no_grad():
        targets = teacher.style_targets(style)
        loss_c, _ = teacher.losses(content, targets)
        own_c, _ = t.losses(content, targets)
        out = teacher.decoder(adain(teacher.source(content), targets[-1]))
        expected = content_loss(teacher.encoder(out), adain(teacher.encoder(content), targets[3]))
        banked = teacher.content_features(content).packed()
        from_bank, _ = teacher.losses(banked, targets, content_encoded=True)
    assert banked.shape[1] == 128 + 512
    assert float(loss_c) == pytest.approx(float(expected), rel=1e-5)
    assert float(from_bank) == pytest.approx(float(loss_c), rel=1e-5)
    assert float(own_c) != pytest.approx(float(loss_c), rel=1e-2)  # the student's own space is another measure
    assert "VGG's relu4_1" in teacher.cfg.route() and teacher.route() == teacher.cfg.route()  # not widened


def test_imitation_is_the_distance_to_the_full_models_picture_and_joins_the_step(student_trainer, fresh_encoder):
    """--teacher-output: the student's picture against the full decoder's for the same pair (the
    full model's AdaIN target in), measured as a reconstruction is; weighted into each AdaIN step."""
    t = student_trainer
    full = decoder(width=0.25, in_channels=512)  # the full model's input; slim only to keep the test fast
    imitating = Trainer(replace(t.cfg, teacher_output=2.0, recon_every=0), fresh_encoder(), t.contents, t.styles,
                        source=t.source, teacher=full)
    assert imitating.teacher_content and "imitating the full model's picture (weight 2)" in imitating.cfg.route()
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    with torch.no_grad():
        targets = imitating.style_targets(style)
        loss_c, loss_s, imitation, _ = imitating.objective(content, targets)
        vgg_target = adain(imitating.encoder(content), targets[3])
        mine = imitating.decoder(adain(imitating.source(content), targets[-1]))
        model = imitating.teacher(vgg_target)
        expected = reconstruction_loss(mine, model, imitating.encoder.taps(mine), imitating.encoder.taps(model))
        assert [float(x) for x in imitating.losses(content, targets)] == [float(loss_c), float(loss_s)]
    assert float(imitation) == pytest.approx(float(expected), rel=1e-5) and float(imitation) > 0
    weights_before, batch_rng = copy.deepcopy(imitating.decoder.state_dict()), imitating.gen.get_state()
    r = imitating.step()
    imitating.decoder.load_state_dict(weights_before)  # the same weights and the same batch again
    imitating.gen.set_state(batch_rng)
    batch = imitating.contents.crops(2, 32, imitating.gen), imitating.style_crops(2)
    with torch.no_grad():
        imitation = imitating.objective(*batch).imitation
    assert r.loss == pytest.approx(r.content + 10.0 * r.style + 2.0 * float(imitation), rel=1e-4)
    plain = Trainer(replace(t.cfg, recon_every=0), fresh_encoder(), t.contents, t.styles, source=t.source, teacher=full)
    assert plain.teacher is None  # no weight, no teacher: the objective as before
    r = plain.step()
    assert r.loss == pytest.approx(r.content + 10.0 * r.style, rel=1e-5)


def test_the_palette_pull_measures_the_picture_the_engine_shows(student_trainer, fresh_encoder, tmp_path):
    """train --palette-pull: the losses (imitation too) are those of the picture pulled to the painting's
    palette, read off the style crops or kept in the style bank beside their statistics."""
    t = student_trainer
    full = decoder(width=0.25, in_channels=512)
    pulled = Trainer(replace(t.cfg, palette_pull=0.5, teacher_output=1.0, recon_every=0), fresh_encoder(),
                     t.contents, t.styles, source=t.source, teacher=full)
    pulled.decoder.load_state_dict(t.decoder.state_dict())
    assert "pulled 0.5 to the painting's palette" in pulled.cfg.route()
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    palette = Palette(*batch_color_stats(style))
    with torch.no_grad():
        targets = pulled.style_targets(style)
        result = pulled.objective(content, style)
        raw = t.objective(content, style, imitate=False).image
        shown = pull_palette(raw, palette, 0.5)
        model = pull_palette(full(adain(pulled.encoder(content), targets[3])), palette, 0.5)
        expected_imitation = reconstruction_loss(shown, model, pulled.encoder.taps(shown), pulled.encoder.taps(model))
        from_stats = pulled.objective(content, targets, palette=palette)
    torch.testing.assert_close(result.image, shown)
    assert float(result.style) == pytest.approx(float(style_loss(pulled.encoder.taps(shown), targets[:4])), rel=1e-5)
    assert float(result.imitation) == pytest.approx(float(expected_imitation), rel=1e-5)
    assert float(from_stats.style) == pytest.approx(float(result.style), rel=1e-6)
    with pytest.raises(ValueError, match="palette"):
        pulled.objective(content, targets)  # statistics alone cannot say where to pull
    bank = StyleBank.build(t.styles, pulled, 32, 1, torch.Generator().manual_seed(1), progress=False)
    assert bank.palettes is not None and bank.palettes.mean.shape == (len(bank), 3)
    assert StyleBank.build(t.styles, t, 32, 1, torch.Generator(), progress=False).palettes is None
    path = tmp_path / "bank.pt"
    bank.save(path)
    torch.testing.assert_close(StyleBank.load(path).palettes.cov, bank.palettes.cov)
    pulled.style_bank = bank
    assert np.isfinite(pulled.step().loss)


def test_the_bare_palette_pull_flag_is_the_engines_default_for_the_model_trained(student_trainer, tmp_path):
    import argparse

    from app.cli import train as train_cli
    from app.rules import PALETTE_DEFAULTS

    t = student_trainer
    weights.save_student(t.source, tmp_path / "student.pth")
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    base = ["--content-dir", t.cfg.content_dir, "--style-dir", t.cfg.style_dir]
    pull = lambda *extra: train_cli.config(parser.parse_args(base + list(extra))).palette_pull  # noqa: E731
    assert pull() == 0.0
    assert pull("--palette-pull") == PALETTE_DEFAULTS["full"]
    assert pull("--palette-pull", "--student", str(tmp_path / "student.pth")) == PALETTE_DEFAULTS["fast"]
    assert pull("--palette-pull", "0.7") == 0.7
    with pytest.raises(UserError) as err:
        pull("--palette-pull", "1.5")
    assert_one_line(str(err.value))


def test_teacher_content_without_a_student_is_one_clear_sentence(train_data, tmp_path, capsys, primed_home):
    from app.cli import main

    rc = main(["train", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(tmp_path / "run"), "--teacher-content"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--student" in err
    assert_one_line(err)


@pytest.mark.parametrize("flags, words", [
    (["--teacher-output", "1"], "--student"),
    (["--student", "models/weights/student_fp16.pth", "--teacher-output", "-1"], "--teacher-output must be >= 0"),
    (["--student", "models/weights/student_fp16.pth", "--teacher-output", "1",
      "--teacher-decoder", "models/weights/student_decoder_fp16.pth"], "the teacher is the full model's"),
    (["--tune-student"], "--student"),
    (["--student", "models/weights/student_fp16.pth", "--tune-student"], "--style-bank 0 --content-bank 0"),
    (["--student", "models/weights/student_fp16.pth", "--tune-student", "-1", "--style-bank", "0"],
     "--tune-student must be >= 0"),
])
def test_imitation_flags_that_cannot_work_are_one_clear_sentence(flags, words, train_data, tmp_path, capsys,
                                                                 primed_home):
    from app.cli import main

    rc = main(["train", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err
    assert_one_line(err)


def test_the_students_decoder_exports_and_loads_with_its_input_width(student_trainer, tmp_path):
    student_trainer.export(tmp_path / "dec.pth")
    net, meta = weights.load_decoder(tmp_path / "dec.pth")
    assert meta["in_channels"] == 128 and meta["width"] == 0.25 and meta["student"] == student_trainer.source_id
    assert net(torch.rand(1, 128, 4, 4)).shape == (1, 3, 32, 32)


def test_train_with_a_missing_student_is_one_clear_sentence(train_data, tmp_path, capsys, primed_home):
    from app.cli import main

    rc = main(["train", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(tmp_path / "run"), "--student", str(tmp_path / "nope.pth")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.pth" in err
    assert_one_line(err.strip())


def test_the_distill_command_runs_and_reports_its_export(train_data, tmp_path, capsys, primed_home):
    from app.cli import main

    out = tmp_path / "student"
    rc = main(["distill", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(out), "--iterations", "2", "--size", "32", "--batch", "2", "--precision", "fp32"])
    assert rc == 0 and str(out / EXPORT) in capsys.readouterr().out
    assert [json.loads(line)["step"] for line in (out / LOSS_LOG).read_text().splitlines()] == [1, 2]
    rc = main(["distill", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(tmp_path / "warm"), "--resume", str(out / EXPORT), "--iterations", "3", "--size", "32",
               "--batch", "2", "--precision", "fp32", "--device", "cpu"])
    assert rc == 0 and weights.load_student(tmp_path / "warm" / EXPORT)[1]["steps"] == 3


def test_distill_on_a_missing_gpu_is_one_clear_sentence(train_data, tmp_path, capsys, primed_home, monkeypatch):
    from app.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["distill", "--content-dir", str(train_data / "content"), "--style-dir", str(train_data / "style"),
               "--out", str(tmp_path / "student"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and "CUDA" in err
    assert_one_line(err.strip())


@pytest.fixture
def student_files(student_trainer, tmp_path, fresh_encoder) -> tuple[Path, Path]:
    """A student file and a decoder trained against it as `train --student FILE` trains one."""
    student, decoder_file = tmp_path / "student.pth", tmp_path / "student_decoder.pth"
    weights.save_student(student_trainer.source, student)
    cfg = replace(student_trainer.cfg, bf16=True)  # a bf16 trainer casts the student: the id must not change
    trainer = Trainer(cfg, fresh_encoder(), source=weights.load_student(student)[0])
    trainer.export(decoder_file)
    return student, decoder_file


def test_the_engine_runs_the_student_with_its_decoder(student_files, primed_home):
    from app.engine import Settings, Stylizer

    student, decoder_file = student_files
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the decoder names this very student: no mismatch warning
        stylizer = Stylizer.create(device="cpu", precision="fp32", student=student, decoder=decoder_file)
    assert stylizer.encoder.channels[-1] == 128 and stylizer.encoder_id.startswith("student-")
    rng = np.random.default_rng(0)
    sid = stylizer.add_style(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    out = stylizer.stylize(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8), Settings(styles=(sid,), size=48))
    assert out.shape == (48, 80, 3) and out.dtype == np.uint8
    assert stylizer.stats_dir is not None and stylizer.stats_dir.name == stylizer.encoder_id  # its own cache


def test_a_student_without_its_decoder_is_one_clear_sentence(student_files, primed_home, decoder_file):
    from app.engine import Stylizer

    student, _ = student_files
    for other in (None, decoder_file):  # none, or the full network's
        with pytest.raises(UserError) as err:
            Stylizer.create(device="cpu", precision="fp32", student=student, decoder=other)
        assert_one_line(str(err.value))


def test_stylize_takes_the_student_from_the_command_line(student_files, primed_home, tmp_path, capsys):
    from app.cli import main
    from app.images import load_image, save_image

    student, decoder_file = student_files
    rng = np.random.default_rng(1)
    save_image(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), tmp_path / "in.png")
    save_image(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), tmp_path / "style.png")
    rc = main(["stylize", str(tmp_path / "in.png"), "--style", str(tmp_path / "style.png"), "-o",
               str(tmp_path / "out.png"), "--student", str(student), "--decoder", str(decoder_file), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert load_image(tmp_path / "out.png").shape == (40, 56, 3)


def _tuned(t: Trainer, fresh_encoder, **changes) -> Trainer:
    """``t``'s set-up with the student encoder training too (a copy of it: ``t`` stays frozen)."""
    cfg = replace(t.cfg, tune_student=0.5, **changes)
    return Trainer(cfg, fresh_encoder(), t.contents, t.styles, source=copy.deepcopy(t.source),
                   source_meta={"format": "adain-live-student", "width": 0.25, "steps": 10519})


def test_a_tuned_student_learns_from_vgg_measured_losses_through_every_path(student_trainer, fresh_encoder):
    """train --tune-student: the content's and the style's relu4_1 and the reconstruction all reach
    the student's weights; VGG, the measure, stays fixed; a frozen student stays frozen."""
    t = student_trainer
    tuned = _tuned(t, fresh_encoder)
    assert tuned.tune and tuned.teacher_content and not t.tune
    assert "the student encoder trained too (at 0.5 x the learning rate)" in tuned.cfg.route()
    content = t.contents.crops(2, 32, torch.Generator().manual_seed(3))
    style = t.styles.crops(2, 32, torch.Generator().manual_seed(2))
    first = next(tuned.source.parameters())
    for path in ("content", "style"):  # each path alone: the other's features as fixed numbers
        tuned.optimizer.zero_grad(set_to_none=True)
        if path == "content":
            targets = tuned.style_targets(style)
            targets[-1] = FeatureStats(targets[-1].mean.detach(), targets[-1].std.detach())
            result = tuned.objective(content, targets)
        else:
            features = tuned.content_features(content).adain.detach()
            with torch.no_grad():
                teacher = tuned.encoder(content)
            encoded = torch.cat([features, teacher], 1)
            result = tuned.objective(encoded, style, content_encoded=True)
        (result.content + 10 * result.style).backward()
        assert first.grad is not None and float(first.grad.abs().sum()) > 0, path
    tuned.optimizer.zero_grad(set_to_none=True)
    loss, _ = tuned.reconstruction(content)
    loss.backward()
    assert float(first.grad.abs().sum()) > 0
    assert all(p.grad is None for p in tuned.encoder.parameters())
    before = copy.deepcopy(tuned.source.state_dict())
    for _ in range(2):  # a reconstruction batch, then an AdaIN one (recon_every 2)
        tuned.step()
        after = tuned.source.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        before = copy.deepcopy(after)
    frozen = copy.deepcopy(t.source.state_dict())
    t.step()
    assert all(torch.equal(frozen[k], v) for k, v in t.source.state_dict().items())


def test_a_tuned_student_exports_the_pair_and_resumes_exactly(student_trainer, fresh_encoder, tmp_path):
    t = student_trainer
    tuned = _tuned(t, fresh_encoder)
    for _ in range(2):
        tuned.step()
    tuned.export(tmp_path / "decoder_fp16.pth")
    student, student_meta = weights.load_student(tmp_path / "student_fp16.pth")
    _, meta = weights.load_decoder(tmp_path / "decoder_fp16.pth")
    assert meta["student"] == weights.fingerprint(student) != tuned.source_id  # the decoder names its encoder
    assert student_meta["tuned_from"] == tuned.source_id and student_meta["tuned_steps"] == 2
    assert student_meta["steps"] == 10519  # its distillation's count, where `distill` would continue
    averaged = tuned.source_ema.state_dict()
    for k, v in student.state_dict().items():  # the average, as evaluation measured it
        torch.testing.assert_close(v, averaged[k].half().float())
    tuned.save(tmp_path / "checkpoint.pt")
    again = _tuned(t, fresh_encoder)
    again.load(tmp_path / "checkpoint.pt")
    for mine, theirs in ((tuned.source, again.source), (tuned.source_ema, again.source_ema)):
        assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in mine.state_dict().items())
    assert again.step().loss == pytest.approx(tuned.step().loss, rel=1e-6)
    with pytest.raises(UserError, match="--tune-student") as err:
        t.load(tmp_path / "checkpoint.pt")  # a frozen run cannot continue a tuned one's checkpoint
    assert_one_line(str(err.value))


def test_a_widened_student_paints_the_same_picture_and_its_new_channels_learn(student_files, primed_home, tmp_path,
                                                                             fresh_encoder, train_data):
    """scripts.widen_student: relu4_1 gets more channels, the pair as the engine loads it paints what
    the narrow one did; tuning then grows the decoder's reading of the new channels from zero."""
    from app.engine import Settings, Stylizer
    from app.tools.train import TrainConfig
    from scripts.widen_student import widen

    student, decoder_file = student_files
    out = tmp_path / "wide"
    assert widen(student, decoder_file, 192, out) == 0.0
    wide_student, meta = weights.load_student(out / "student_fp16.pth")
    assert wide_student.channels == [16, 32, 64, 192] and meta["width"] == 0.25 and meta["deepest"] == 192
    assert "deepest" not in weights.load_student(student)[1]  # a plain student's file is as before
    rng = np.random.default_rng(2)
    frame, painting = (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2))
    pictures = []
    for s, d in ((student, decoder_file), (out / "student_fp16.pth", out / "decoder_fp16.pth")):
        stylizer = Stylizer.create(device="cpu", precision="fp32", student=s, decoder=d)
        pictures.append(stylizer.stylize(frame, Settings(styles=(stylizer.add_style(painting),), size=48)))
    assert stylizer.encoder.channels[-1] == 192
    assert np.abs(pictures[0].astype(int) - pictures[1]).max() <= 1

    cfg = TrainConfig(content_dir=str(train_data / "content"), style_dir=str(train_data / "style"),
                      out_dir=str(tmp_path / "run"), size=32, batch=2, warmup=0, bf16=False, decoder_width=0.25,
                      checkpoint_minutes=1e9, eval_size=32, tune_student=1.0)
    tuned = Trainer(cfg, fresh_encoder(), ImageBank(cfg.content_dir), ImageBank(cfg.style_dir), source=wide_student)
    tuned.load(out / "decoder_fp16.pth")  # `train --resume DIR/decoder_fp16.pth`: a warm start
    assert tuned.route().endswith(", the student's relu4_1 widened to 192 channels")
    reader = next(m for m in tuned.decoder if isinstance(m, torch.nn.Conv2d))
    assert float(reader.weight[:, 128:].detach().abs().max()) == 0.0
    for _ in range(3):
        tuned.step()
    assert float(reader.weight[:, 128:].detach().abs().max()) > 0.0


def test_widening_what_cannot_be_widened_is_one_clear_sentence(student_files, tmp_path, train_data, fresh_encoder):
    from scripts.widen_student import main as widen_main, widen

    student, decoder_file = student_files
    for channels, other in ((128, decoder_file), (192, tmp_path / "other.pth")):
        if other != decoder_file:
            net, meta = weights.load_decoder(decoder_file)
            weights.save_decoder(net, other, **{**meta, "student": "another encoder"})
        with pytest.raises(UserError) as err:
            widen(student, other, channels, tmp_path / "wide")
        assert_one_line(str(err.value))
    assert widen_main(["--channels", "64", "--out", str(tmp_path / "w"), "--student", str(student),
                       "--decoder", str(decoder_file)]) == 2
    widen(student, decoder_file, 192, tmp_path / "wide")
    cfg = _distill_config(train_data, tmp_path / "distill")
    with pytest.raises(UserError, match="widened") as err:
        Distiller(cfg, fresh_encoder()).load(tmp_path / "wide" / "student_fp16.pth")
    assert_one_line(str(err.value))
