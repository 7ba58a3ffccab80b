"""Style-crop augmentation (models.augment) and its wiring into training (app.tools.train):
shape, range and determinism; palette, stroke scale and texture each change what they claim;
off is exactly the crops of before; the style bank's name follows the setting."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from app.cli import train as train_cli
from app.errors import UserError
from app.tools.train import ContentBank, ImageBank, StyleBank, TrainConfig, Trainer, bank_path, run
from models.augment import StyleAugment, palette, texture
from models.color import rgb_to_ycbcr


def _images(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth colourful images: low-pass noise, so blur barely changes them and scale shows."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def _high_frequency(images: torch.Tensor) -> float:
    """Energy of the pixel-to-pixel differences over the variance: larger for finer strokes."""
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return float((dx.pow(2).mean() + dy.pow(2).mean()) / images.var())


@pytest.mark.parametrize("strength", [0.3, 1.0])
def test_augmentation_keeps_shape_range_dtype_and_is_seeded(strength):
    images = _images()
    aug = StyleAugment(strength)
    out = aug(images, torch.Generator().manual_seed(5))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, aug(images, torch.Generator().manual_seed(5)))
    assert not torch.equal(out, aug(images, torch.Generator().manual_seed(6)))
    assert not torch.equal(out, images)


def test_off_is_the_images_themselves_and_draws_nothing():
    images, g = _images(), torch.Generator().manual_seed(3)
    state = g.get_state()
    assert StyleAugment(0.0)(images, g) is images
    assert torch.equal(g.get_state(), state)
    assert StyleAugment(0.0).zoom == (1.0, 3.0)
    with pytest.raises(ValueError, match="strength"):
        StyleAugment(1.5)


def _chroma_angle(images: torch.Tensor) -> torch.Tensor:
    ycc = rgb_to_ycbcr(images)
    return torch.atan2(ycc[:, 2].mean((1, 2)), ycc[:, 1].mean((1, 2)))


def test_palette_turns_the_hue_and_leaves_unchosen_images_alone():
    images = _images(8)
    every = palette(images, torch.Generator().manual_seed(0), p=1.0, hue=3.0, saturation=1.5, contrast=1.3)
    turned = (_chroma_angle(every) - _chroma_angle(images) + torch.pi) % (2 * torch.pi) - torch.pi
    assert float(turned.abs().mean()) > 0.3  # mean hue moved (radians), image by image
    # colour moments differ: per-channel means move
    assert float((every.mean((2, 3)) - images.mean((2, 3))).abs().mean()) > 0.01
    none = palette(images, torch.Generator().manual_seed(0), p=0.0, hue=3.0, saturation=1.5, contrast=1.3)
    assert torch.equal(none, images)


def test_texture_blurs_sharpens_or_grains_a_fraction():
    images = _images(12)
    out = texture(images, torch.Generator().manual_seed(1), p=1.0, blur=1.5, sharpen=1.5, grain=0.04)
    changed = [not torch.allclose(a, b, atol=1e-6) for a, b in zip(out, images)]
    assert all(changed)
    energies = [_high_frequency(a[None]) / _high_frequency(b[None]) for a, b in zip(out, images)]
    assert min(energies) < 0.9 and max(energies) > 1.1  # some softened, some crisper or grainier
    assert torch.equal(texture(images, torch.Generator(), p=0.0, blur=1.5, sharpen=1.5, grain=0.04), images)


@pytest.fixture
def waves(tmp_path):
    """One 256 px 'painting' of broad waves (period 64 px) in a folder."""
    from PIL import Image

    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    grey = 0.5 + 0.4 * torch.sin(2 * torch.pi * x / 64) * torch.sin(2 * torch.pi * y / 64)
    rgb = (torch.stack([grey, 1 - grey, grey * 0.5 + 0.25], -1) * 255).round().byte().numpy()
    (tmp_path / "waves").mkdir()
    Image.fromarray(rgb).save(tmp_path / "waves" / "w.png")
    return tmp_path / "waves"


def test_the_zoom_range_sets_the_stroke_scale(waves):
    bank = ImageBank(waves)
    energy = {z: _high_frequency(bank.crops(4, 32, torch.Generator().manual_seed(0), (z, z)))
              for z in (0.5, 1.0, 3.0, 5.0)}
    # shrinking the whole image (zoom < 1, mirrored out) makes strokes finer, zooming in coarser
    assert energy[0.5] > 1.5 * energy[1.0] > 1.5 * energy[3.0]
    assert energy[3.0] > 1.5 * energy[5.0]
    crops = bank.crops(4, 32, torch.Generator().manual_seed(0), (0.5, 0.5))
    assert crops.shape == (4, 3, 32, 32) and float(crops.min()) >= 0 and float(crops.max()) <= 1
    low, high = StyleAugment(1.0).zoom
    assert low == 0.5 and high == 5.0


def _old_crop(img: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """ImageBank.crop as it was before augmentation, draw for draw."""
    h, w = img.shape[-2:]
    short = min(h, w)
    target_short = size + float(torch.rand((), generator=gen)) * max(0, min(short, 3 * size) - size)
    side = max(1, min(short, round(size * short / max(target_short, 1))))
    y = int(torch.randint(h - side + 1, (1,), generator=gen))
    x = int(torch.randint(w - side + 1, (1,), generator=gen))
    patch = img[:, y:y + side, x:x + side].float()[None] / 255.0
    patch = F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    if bool(torch.rand((), generator=gen) < 0.5):
        patch = patch.flip(-1)
    return patch[0].clamp(0, 1)


def _config(data, out, **changes) -> TrainConfig:
    cfg = TrainConfig(content_dir=str(data / "content"), style_dir=str(data / "style"), out_dir=str(out),
                      iterations=1000, size=32, batch=2, warmup=0, checkpoint_minutes=1e9, bf16=False,
                      eval_size=32, seed=0, style_bank=0)
    return replace(cfg, **changes)


def test_off_gives_exactly_the_crops_of_before(train_data, tmp_path, fresh_encoder):
    bank = ImageBank(train_data / "style")
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for i in range(len(bank)):
        assert torch.equal(bank.crop(i, 32, g1), _old_crop(bank.images[i], 32, g2))
    trainer = Trainer(_config(train_data, tmp_path), fresh_encoder(), ImageBank(train_data / "content"), bank)
    expected = bank.crops(3, 32, torch.Generator().manual_seed(0))
    assert torch.equal(trainer.style_crops(3), expected)  # the trainer's generator starts at the seed too
    assert "augmented" not in trainer.cfg.route()


def test_the_style_bank_name_follows_the_augmentation(train_data, tmp_path, fresh_encoder):
    encoder = fresh_encoder()
    styles = ImageBank(train_data / "style")

    def path(**changes):
        trainer = Trainer(_config(train_data, tmp_path, **changes), encoder, styles=styles)
        return bank_path(StyleBank, styles, 2, trainer, tmp_path)

    off, weak, strong = path(), path(style_augment=0.3), path(style_augment=1.0)
    assert len({off, weak, strong}) == 3
    assert off == path(style_augment=0.0)
    # the content bank is not augmented: its name does not move
    trainer = Trainer(_config(train_data, tmp_path, style_augment=1.0), encoder, styles=styles)
    plain = Trainer(_config(train_data, tmp_path), encoder, styles=styles)
    assert bank_path(ContentBank, styles, 2, trainer, tmp_path) == bank_path(ContentBank, styles, 2, plain, tmp_path)


def test_a_few_augmented_steps_train_and_the_run_says_so(train_data, tmp_path, fresh_encoder):
    out = tmp_path / "run"
    cfg = _config(train_data, out, style_augment=1.0, style_bank=2, iterations=4,
                  holdout_content_dir=str(train_data / "holdout_content"),
                  holdout_style_dir=str(train_data / "holdout_style"))
    trainer = run(cfg, encoder=fresh_encoder(), progress=False)
    assert trainer.step_count == 4 and trainer.style_bank is not None
    assert len(list(out.glob("style_bank_*.pt"))) == 1
    assert json.loads((out / "config.json").read_text())["style_augment"] == 1.0
    stretch = json.loads((out / "stretches.jsonl").read_text().splitlines()[-1])
    assert "augmented at 1" in stretch["route"]
    # non-bank AdaIN batches are augmented crops: the trainer's own draws, not the plain bank's
    plain = Trainer(_config(train_data, tmp_path), fresh_encoder(), styles=ImageBank(train_data / "style"))
    augmented = Trainer(_config(train_data, tmp_path, style_augment=1.0), fresh_encoder(),
                        styles=ImageBank(train_data / "style"))
    assert not torch.equal(plain.style_crops(4), augmented.style_crops(4))
    augmented.contents = ImageBank(train_data / "content")
    assert torch.isfinite(torch.tensor(augmented.step().loss))


def test_the_cli_flag(tmp_path):
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    base = ["--content-dir", str(tmp_path), "--style-dir", str(tmp_path), "--device", "cpu"]
    assert train_cli.config(parser.parse_args(base)).style_augment == 0.0
    assert train_cli.config(parser.parse_args(base + ["--style-augment"])).style_augment == 0.5
    assert train_cli.config(parser.parse_args(base + ["--style-augment", "0.8"])).style_augment == 0.8
    with pytest.raises(UserError, match="--style-augment"):
        train_cli.config(parser.parse_args(base + ["--style-augment", "2"]))
