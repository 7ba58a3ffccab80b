"""Network layouts (models.vgg, models.decoder) and loading weight files (app.weights).

The layouts must match pytorch-AdaIN's published ``vgg_normalised.pth`` / ``decoder.pth``
index for index, so those files load unchanged; every kind of wrong file must end in a
one-line UserError that names the problem, and a pickle carrying code must never run.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from app.errors import UserError
from app.weights import fingerprint, load_decoder, load_published_vgg, read_state_dict, save_decoder
from conftest import assert_one_line
from models.decoder import CONV_INDICES, DECODER_LENGTH, decoder
from models.vgg import ENCODER_LENGTH, PUBLISHED_LENGTH, RELU4_1, TAPS, Encoder, conv_layers, vgg_normalised

# pytorch-AdaIN's published layout (net.py): conv index -> (in, out) channels.
PUBLISHED_VGG_CONVS = {
    0: (3, 3), 2: (3, 64), 5: (64, 64), 9: (64, 128), 12: (128, 128),
    16: (128, 256), 19: (256, 256), 22: (256, 256), 25: (256, 256),
    29: (256, 512), 32: (512, 512), 35: (512, 512), 38: (512, 512),
    42: (512, 512), 45: (512, 512), 48: (512, 512), 51: (512, 512),
}
PUBLISHED_VGG_POOLS = (7, 14, 27, 40)
PUBLISHED_DECODER_CONVS = {
    1: (512, 256), 5: (256, 256), 8: (256, 256), 11: (256, 256), 14: (256, 128),
    18: (128, 128), 21: (128, 64), 25: (64, 64), 28: (64, 3),
}
PUBLISHED_DECODER_UPSAMPLES = (3, 16, 23)


# ----------------------------------------------------------------------------- layouts


def test_vgg_full_layout_matches_published_file():
    with torch.device("meta"):  # layout only: skip initialising 20M weights
        net = vgg_normalised(full=True)
    assert len(net) == PUBLISHED_LENGTH == 53
    first = net[0]
    assert isinstance(first, nn.Conv2d)
    assert (first.in_channels, first.out_channels, first.kernel_size) == (3, 3, (1, 1))
    convs = {i: (m.in_channels, m.out_channels) for i, m in conv_layers(net)}
    assert convs == PUBLISHED_VGG_CONVS
    for i, m in enumerate(net):
        if i in PUBLISHED_VGG_CONVS and i != 0:
            assert m.kernel_size == (3, 3) and isinstance(net[i - 1], nn.ReflectionPad2d)
            assert isinstance(net[i + 1], nn.ReLU)
    pools = [i for i, m in enumerate(net) if isinstance(m, nn.MaxPool2d)]
    assert pools == list(PUBLISHED_VGG_POOLS)
    assert all(net[i].ceil_mode for i in pools)
    # The pools follow relu1_2, relu2_2, relu3_4 (and relu4_4).
    assert all(isinstance(net[i - 1], nn.ReLU) for i in pools)
    expected_keys = {f"{i}.{p}" for i in PUBLISHED_VGG_CONVS for p in ("weight", "bias")}
    assert set(net.state_dict()) == expected_keys


def test_relu4_1_is_index_30():
    net = vgg_normalised()
    assert len(net) == ENCODER_LENGTH == 31
    assert RELU4_1 == 30 and isinstance(net[30], nn.ReLU)
    assert isinstance(net[29], nn.Conv2d) and (net[29].in_channels, net[29].out_channels) == (256, 512)
    # relu4_1 is the first ReLU with 512 channels.
    first_512 = next(i for i, m in conv_layers(net) if m.out_channels == 512)
    assert first_512 + 1 == 30
    assert TAPS == {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30}


def test_decoder_layout_matches_published_file():
    net = decoder()
    assert len(net) == DECODER_LENGTH == 29
    assert tuple(CONV_INDICES) == tuple(PUBLISHED_DECODER_CONVS)
    convs = {i: (m.in_channels, m.out_channels) for i, m in enumerate(net) if isinstance(m, nn.Conv2d)}
    assert convs == PUBLISHED_DECODER_CONVS
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for i, (cin, cout) in PUBLISHED_DECODER_CONVS.items():
        assert shapes[f"{i}.weight"] == (cout, cin, 3, 3)
        assert shapes[f"{i}.bias"] == (cout,)
        assert isinstance(net[i - 1], nn.ReflectionPad2d)
    assert len(shapes) == 2 * len(PUBLISHED_DECODER_CONVS)
    ups = [i for i, m in enumerate(net) if isinstance(m, nn.Upsample)]
    assert ups == list(PUBLISHED_DECODER_UPSAMPLES)
    assert not isinstance(net[-1], nn.ReLU)  # the last conv is linear


def test_decoder_maps_relu4_1_back_to_image_size():
    net = decoder()
    with torch.no_grad():
        out = net(torch.rand(1, 512, 4, 5))
    assert out.shape == (1, 3, 32, 40)


def test_slim_decoder_keeps_keys_and_scales_channels():
    net = decoder(width=0.5)
    assert set(net.state_dict()) == set(decoder().state_dict())
    convs = [(m.in_channels, m.out_channels) for m in net if isinstance(m, nn.Conv2d)]
    assert convs[0] == (512, 128) and convs[4] == (128, 64) and convs[6] == (64, 32) and convs[-1] == (32, 3)


def test_encoder_taps_channels_and_strides():
    torch.manual_seed(0)
    enc = Encoder()
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        taps = enc.taps(x)
        out = enc(x)
    assert [t.shape[1] for t in taps] == [64, 128, 256, 512]
    assert [tuple(t.shape[-2:]) for t in taps] == [(40, 48), (20, 24), (10, 12), (5, 6)]
    assert torch.equal(taps[-1], out)
    assert all(not p.requires_grad for p in enc.parameters())


def test_encoder_pools_round_up_odd_sizes():
    torch.manual_seed(0)
    with torch.no_grad():
        out = Encoder()(torch.rand(1, 3, 37, 53))
    assert out.shape == (1, 512, 5, 7)  # ceil(37/8), ceil(53/8): ceil_mode pooling


def test_encoder_truncates_a_full_body_and_rejects_a_short_one():
    with torch.device("meta"):
        assert len(Encoder(vgg_normalised(full=True)).body) == 31
    with pytest.raises(ValueError, match="31"):
        Encoder(nn.Sequential(*list(vgg_normalised())[:20]))


# ----------------------------------------------------------------------------- loading good files


def test_published_vgg_53_entries_loads(published_vgg_file, published_vgg_state):
    assert len({k.split(".")[0] for k in published_vgg_state}) == 17  # all 17 convs, to relu5_4
    enc = load_published_vgg(published_vgg_file)
    assert isinstance(enc, Encoder) and len(enc.body) == 31
    torch.testing.assert_close(enc.body[29].weight, published_vgg_state["29.weight"].float())
    torch.testing.assert_close(enc.body[0].bias, published_vgg_state["0.bias"].float())


def test_truncated_31_entry_vgg_loads(tmp_path, short_vgg_state):
    state = short_vgg_state
    path = tmp_path / "vgg31.pth"
    torch.save({"state_dict": state}, path)  # also: a {"state_dict": ...} container is unwrapped
    enc = load_published_vgg(path)
    torch.testing.assert_close(enc.body[2].weight, state["2.weight"].float())


def test_published_decoder_loads(tmp_path, published_decoder_state):
    path = tmp_path / "decoder.pth"
    torch.save(published_decoder_state, path)
    net, meta = load_decoder(path)
    assert meta["width"] == 1.0 and meta["source"] == str(path)
    for i in CONV_INDICES:
        torch.testing.assert_close(net[i].weight, published_decoder_state[f"{i}.weight"])


def test_save_decoder_round_trip_fp16_with_metadata(tmp_path):
    torch.manual_seed(0)
    net = decoder(width=0.5)
    path = tmp_path / "slim.pth"
    save_decoder(net, path, width=0.5, steps=7)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "adain-live-decoder"
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values())
    loaded, meta = load_decoder(path)
    assert meta["width"] == 0.5 and meta["steps"] == 7
    torch.testing.assert_close(loaded[1].weight, net[1].weight.half().float())
    assert [p.name for p in tmp_path.iterdir()] == ["slim.pth"]  # no temp files left


def test_fingerprint_tracks_weights():
    torch.manual_seed(0)
    a = decoder(width=0.25)
    b = decoder(width=0.25)
    b.load_state_dict(a.state_dict())
    assert fingerprint(a) == fingerprint(b)
    with torch.no_grad():
        b[1].bias[0] += 1e-3
    assert fingerprint(a) != fingerprint(b)


# ----------------------------------------------------------------------------- refusing bad files


class _Evil:
    """Unpickling this would run a shell command that creates the marker file."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_file(kind: str, good: dict, tmp_path: Path, first_key: str) -> Path:
    """Write a broken weights file of the given kind; returns its path."""
    path = tmp_path / f"{kind}.pth"
    state = dict(good)
    if kind == "missing_key":
        del state[first_key]
    elif kind == "unexpected_key":
        state["99.weight"] = torch.zeros(3)
    elif kind == "wrong_shape":
        state[first_key] = torch.zeros(7, 3, 5, 5)
    elif kind == "nan":
        t = state[first_key].float().clone()
        t.view(-1)[5] = float("nan")
        state[first_key] = t
    elif kind == "inf":
        t = state[first_key].float().clone()
        t.view(-1)[0] = float("inf")
        state[first_key] = t
    elif kind == "not_tensors":
        state = {k: 1.0 for k in state}
    if kind in ("missing_key", "unexpected_key", "wrong_shape", "nan", "inf", "not_tensors"):
        torch.save(state, path)
    elif kind == "truncated":
        torch.save(state, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "random_bytes":
        path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                       dtype=torch.uint8).numpy().tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("<html>404 Not Found</html>\n")
    elif kind == "raw_pickle":
        path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    else:
        raise AssertionError(kind)
    return path


BAD_FILES = {
    # kind: words the one-line message must contain (case-insensitive)
    "missing_key": ["missing", "{key}"],
    "unexpected_key": ["unexpected", "99.weight"],
    "wrong_shape": ["{key}", "shape", "(7, 3, 5, 5)"],
    "nan": ["nan"],
    "inf": ["infinite"],
    "truncated": ["truncated"],
    "random_bytes": ["not a readable"],
    "empty": ["empty"],
    "text": ["not a readable"],
    "raw_pickle": ["not a readable"],
    "not_tensors": ["dictionary of tensors"],
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("what", ["vgg", "decoder"])
def test_bad_weight_files_are_refused_with_one_line(kind, what, tmp_path, short_vgg_state,
                                                    published_decoder_state):
    good, key, loader = ((short_vgg_state, "2.weight", load_published_vgg) if what == "vgg"
                         else (published_decoder_state, "5.weight", load_decoder))
    path = _bad_file(kind, good, tmp_path, key)
    with pytest.raises(UserError) as info:
        loader(path)
    msg = str(info.value)
    assert_one_line(msg)
    assert msg.startswith(str(path))
    for word in BAD_FILES[kind]:
        assert word.format(key=key).lower() in msg.lower(), msg


@pytest.mark.parametrize("loader", [load_published_vgg, load_decoder, lambda p: read_state_dict(p, "x")])
def test_pickle_carrying_code_is_refused_and_never_run(tmp_path, loader):
    marker = tmp_path / "PWNED"
    evil = _Evil()
    evil.marker = str(marker)
    path = tmp_path / "evil.pth"
    torch.save({"0.weight": evil}, path)
    with pytest.raises(UserError) as info:
        loader(path)
    assert not marker.exists(), "unpickling ran the payload"
    msg = str(info.value)
    assert_one_line(msg)
    assert "refused for safety" in msg


def test_missing_weight_file(tmp_path):
    with pytest.raises(UserError, match="no such"):
        load_published_vgg(tmp_path / "nope.pth")
    with pytest.raises(UserError, match="no such decoder"):
        load_decoder(tmp_path / "nope.pth")


def test_a_decoder_is_not_a_vgg_and_vice_versa(tmp_path, published_decoder_state, published_vgg_file):
    dec = tmp_path / "decoder.pth"
    torch.save(published_decoder_state, dec)
    with pytest.raises(UserError, match="not an AdaIN VGG encoder") as info:
        load_published_vgg(dec)
    assert_one_line(str(info.value))
    with pytest.raises(UserError, match="not an AdaIN decoder") as info:
        load_decoder(published_vgg_file)
    assert_one_line(str(info.value))
