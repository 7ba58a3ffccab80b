"""The pull to the painting's palette (models.color, Settings.palette): the recoloured picture has
the palette's RGB statistics, a mix pools the paintings' pixels, and the engine applies it only
where it should (not at alpha 0, not while keeping the content's colours, not under a mask)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from app.engine import Settings, Stylizer
from app.errors import UserError
from app.rules import PALETTE_DEFAULTS
from conftest import CONTENT_DIR, STYLE_DIR, assert_one_line, load_rgb, seeded_decoder
from models.color import color_stats, mix_palettes, palette_of, pull_palette

pytestmark = pytest.mark.usefixtures("media")


def _image(seed: int, size: int = 48) -> torch.Tensor:
    """Random colours in 2 x 2 blocks (the pull measures every other pixel: here, all of them)."""
    g = torch.Generator().manual_seed(seed)
    cells = (torch.rand(1, 3, size // 2, size // 2, generator=g) * 0.6 + 0.2) ** 1.5
    return torch.nn.functional.interpolate(cells, scale_factor=2, mode="nearest")


def test_a_full_pull_gives_the_palettes_mean_and_covariance_and_none_leaves_the_picture():
    picture, painting = _image(1), _image(2) * torch.tensor([1.2, 0.7, 0.4])[None, :, None, None]
    target = palette_of(painting)
    mean, cov = color_stats(pull_palette(picture, target, 1.0))
    torch.testing.assert_close(mean, target.mean, atol=2e-3, rtol=0)
    torch.testing.assert_close(cov, target.cov, atol=3e-3, rtol=0.05)  # the floor bounds the gain a little
    assert pull_palette(picture, target, 0.0) is picture
    half = pull_palette(picture, target, 0.5)
    torch.testing.assert_close(half, (picture + pull_palette(picture, target, 1.0)) / 2)


def test_a_batch_pulls_each_picture_to_its_own_palette_and_passes_gradients_through_a_fixed_map():
    pictures = torch.cat([_image(5), _image(6)])
    paintings = [_image(7) * torch.tensor([1.1, 0.6, 0.3])[None, :, None, None], _image(8).flip(1)]
    palettes = [palette_of(p) for p in paintings]
    batch = palettes[0]._make(torch.stack(parts) for parts in zip(*palettes))
    pulled = pull_palette(pictures.clone().requires_grad_(True), batch, 0.5)
    for i, palette in enumerate(palettes):
        torch.testing.assert_close(pulled[i:i + 1], pull_palette(pictures[i:i + 1], palette, 0.5))
    # The gradient is that of the affine map as read off the picture, a constant of the step: a pixel
    # the map is not read from (odd column) moves the pulled picture's sum by the map's column sum.
    picture = pictures[:1].clone().requires_grad_(True)
    out = pull_palette(picture, palettes[0], 0.5)
    assert bool(((out > 0) & (out < 1)).all())
    out.sum().backward()
    nudged = pictures[:1].clone()
    nudged[0, 0, 0, 1] += 1e-3
    by_finite_difference = float((pull_palette(nudged, palettes[0], 0.5) - out.detach()).sum()) / 1e-3
    assert picture.grad is not None and torch.isfinite(picture.grad).all()
    assert float(picture.grad[0, 0, 0, 1]) == pytest.approx(by_finite_difference, rel=0.02)
    assert float((picture.grad[0, :, 0, 1] - 1.0).abs().max()) > 0.1  # the map, not the identity


def test_inside_a_bf16_training_step_the_pull_is_computed_in_fp32():
    picture = _image(9).to(torch.bfloat16).requires_grad_(True)
    palette = palette_of(_image(10))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pulled = pull_palette(picture, palette, 0.5)
    assert pulled.dtype == torch.float32
    torch.testing.assert_close(pulled, pull_palette(picture.detach().float(), palette, 0.5))
    pulled.sum().backward()
    assert picture.grad is not None and torch.isfinite(picture.grad.float()).all()


def test_a_mix_of_palettes_is_the_palette_of_the_pooled_pixels():
    a, b = _image(3), _image(4, size=24)
    pooled = torch.cat([a.reshape(3, -1), b.reshape(3, -1).repeat(1, 4 * 3)], dim=1)  # b's pixels at 3x a's weight
    want_mean, want_cov = color_stats(pooled.reshape(1, 3, 1, -1))
    got = mix_palettes([palette_of(a), palette_of(b)], [1.0, 3.0])
    torch.testing.assert_close(got.mean, want_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.cov, want_cov, atol=1e-4, rtol=0)  # n-1 against n: negligible here


@pytest.fixture
def stylizer(fresh_encoder) -> Stylizer:
    return Stylizer(fresh_encoder(), seeded_decoder(0), "cpu", torch.float32)


def test_the_engine_pulls_the_picture_to_the_paintings_palette(stylizer):
    content, style = load_rgb(CONTENT_DIR / "flowers.jpg", (64, 64)), load_rgb(STYLE_DIR / "mondrian.jpg", (96, 96))
    sid = stylizer.add_style(style)
    style_mean = style.reshape(-1, 3).mean(axis=0)
    gap = lambda p: float(np.abs(stylizer.stylize(content, Settings(styles=(sid,), palette=p))  # noqa: E731
                                 .reshape(-1, 3).mean(axis=0) - style_mean).mean())
    assert gap(1.0) < 2.0 < gap(0.0)  # RGB levels: the painting's mean colour, up to rounding
    assert gap(0.0) > gap(0.5) > gap(1.0)
    model_default = stylizer.stylize(content, Settings(styles=(sid,)))
    explicit = stylizer.stylize(content, Settings(styles=(sid,), palette=PALETTE_DEFAULTS[stylizer.model]))
    assert np.array_equal(model_default, explicit)


@pytest.mark.parametrize("settings", [
    {"alpha": 0.0},  # the photo's own picture
    {"color": "luminance"},  # keeping the content's colours
    {"color": "histogram"},
    {"mask": np.ones((64, 64), np.float32)},  # styles split by region
])
def test_no_pull_where_the_picture_should_not_take_the_paintings_colours(stylizer, settings):
    content, style = load_rgb(CONTENT_DIR / "flowers.jpg", (64, 64)), load_rgb(STYLE_DIR / "mondrian.jpg", (96, 96))
    sid = stylizer.add_style(style)
    pulled = stylizer.stylize(content, Settings(styles=(sid,), palette=1.0, **settings))
    plain = stylizer.stylize(content, Settings(styles=(sid,), palette=0.0, **settings))
    assert np.array_equal(pulled, plain)


def test_a_palette_outside_0_to_1_is_one_line_naming_it():
    with pytest.raises(UserError) as info:
        Settings(styles=("s",), palette=1.5).validate({"palette": "--palette"})
    assert_one_line(str(info.value))
    assert "--palette" in str(info.value) and "1.5" in str(info.value)


def test_live_refuses_a_palette_outside_0_to_1_in_one_line(capsys):
    from app.cli import main

    assert main(["live", "--no-window", "--palette", "-0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert "--palette" in err and "-0.2" in err
