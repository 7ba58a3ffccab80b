"""``--precision int8`` (app.int8): the frame networks quantised by NNCF and run by OpenVINO.

The dependency and device rules are checked everywhere; the rest needs ``openvino`` and
``nncf`` (optional: ``pip install openvino nncf``) and is skipped without them. Calibration
is small (a few images at low resolution) to keep quantisation to seconds, except in the
quality test, which checks the product's own quantisation.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from app import device, int8
from app.cli import main
from app.engine import Settings, Stylizer
from app.errors import UserError
from conftest import CONTENT_DIR, STYLE_DIR, TEST_THREADS, assert_one_line, load_rgb, seeded_decoder

MISSING = int8.unavailable_reason()
needs_openvino = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


@pytest.fixture
def tiny_calibration(base_encoder):
    """Factory: a calibration callable on one photo and one style at 32x40, counting its calls."""
    calls = [0]

    def calibration() -> int8.Calibration:
        calls[0] += 1
        photo = to_tensor(load_rgb(CONTENT_DIR / "lenna.jpg", (64, 64)))
        style = to_tensor(load_rgb(STYLE_DIR / "mondrian.jpg", (48, 48)))
        return int8.calibration_data(base_encoder, [photo], [style], height=32, width=40)
    return calibration, calls


# ----------------------------------------------------------------------------- without OpenVINO


@pytest.mark.parametrize("missing", int8.PACKAGES)
def test_a_missing_package_is_one_line_with_the_install_hint(monkeypatch, capsys, tmp_path, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    photo = CONTENT_DIR / "lenna.jpg"
    code = main(["stylize", str(photo), "--style", "great_wave", "--precision", "int8", "--device", "cpu",
                 "-o", str(tmp_path / "out.jpg"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert_one_line(err)
    assert int8.INSTALL_HINT in err and missing in err
    assert not (tmp_path / "out.jpg").exists()


def test_int8_refuses_cuda_and_takes_the_cpu_when_the_device_is_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU, as far as select can tell
    with pytest.raises(UserError) as err:
        Stylizer.create(device="cuda", precision="int8")  # refused before any weights load
    assert_one_line(str(err.value))
    assert "CPU only" in str(err.value)
    assert device.select("auto", "int8") == (torch.device("cpu"), torch.float32)
    assert device.select("auto", "auto")[0].type == "cuda"


def test_every_precision_choice_is_accepted_by_select():
    for name in device.PRECISION_CHOICES:
        device.select("cpu", name)
    with pytest.raises(UserError, match="int8"):
        device.select("cpu", "int4")


# ----------------------------------------------------------------------------- with OpenVINO


@needs_openvino
def test_openvino_and_nncf_telemetry_stay_off():
    """OpenVINO's converter (and NNCF, outside pytest) report usage over the network unless
    opted out; the app runs offline, so both must have fallen back to their stubs."""
    import importlib

    from openvino.tools.ovc import telemetry_utils

    with pytest.raises(ImportError):
        importlib.import_module("openvino_telemetry")
    assert telemetry_utils.tm.__name__.endswith("telemetry_stub")


@needs_openvino
def test_the_cache_is_reused_and_keyed_by_the_weights(fresh_encoder, tiny_calibration, tmp_path):
    encoder, decoder = fresh_encoder(), seeded_decoder(width=0.25)
    calibration, calls = tiny_calibration
    first = int8.int8_networks(encoder, decoder, tmp_path, calibration, threads=TEST_THREADS)
    again = int8.int8_networks(encoder, decoder, tmp_path, calibration, threads=TEST_THREADS)
    assert calls == [1], "the second load re-quantised instead of reading the cache"
    assert len(list(tmp_path.iterdir())) == 1
    x = to_tensor(load_rgb(CONTENT_DIR / "chicago.jpg", (48, 40)))
    torch.testing.assert_close(again[1](again[0](x)), first[1](first[0](x)), rtol=0, atol=1e-4)

    with torch.no_grad():
        decoder[-1].bias.add_(0.01)  # other weights: another key, quantised again
    int8.int8_networks(encoder, decoder, tmp_path, calibration, threads=TEST_THREADS)
    assert calls == [2]
    assert len(list(tmp_path.iterdir())) == 2


@needs_openvino
def test_a_damaged_cache_entry_is_rebuilt(fresh_encoder, tiny_calibration, tmp_path):
    encoder, decoder = fresh_encoder(), seeded_decoder(width=0.25)
    calibration, calls = tiny_calibration
    int8.int8_networks(encoder, decoder, tmp_path, calibration, threads=TEST_THREADS)
    (entry,) = tmp_path.iterdir()
    (entry / "decoder.xml").write_text("not a model")
    int8.int8_networks(encoder, decoder, tmp_path, calibration, threads=TEST_THREADS)
    assert calls == [2]
    assert (entry / "decoder.xml").read_text() != "not a model"


@needs_openvino
def test_stylize_cli_runs_int8_end_to_end_and_quantises_once(primed_home, slim_decoder_file, monkeypatch,
                                                           capsys, tmp_path):
    photo = to_tensor(load_rgb(CONTENT_DIR / "lenna.jpg", (64, 64)))
    style = to_tensor(load_rgb(STYLE_DIR / "mondrian.jpg", (48, 48)))
    monkeypatch.setattr(int8, "shipped_images", lambda: ([photo], [style]))  # seconds, not a minute
    quantised = []
    real_quantize = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: quantised.append(1) or real_quantize(*a))
    for name in ("a.jpg", "b.jpg"):
        code = main(["stylize", str(CONTENT_DIR / "lenna.jpg"), "--style", "great_wave", "--precision", "int8",
                     "--device", "cpu", "--decoder", str(slim_decoder_file), "--size", "64", "--quiet",
                     "-o", str(tmp_path / name)])
        assert code == 0, capsys.readouterr().err
        assert load_rgb(tmp_path / name).shape == load_rgb(CONTENT_DIR / "lenna.jpg").shape
    assert quantised == [1]
    out = capsys.readouterr().out
    assert "quantising" not in out, "progress belongs on standard error: stdout lists the results"


@needs_openvino
@pytest.mark.shipped_decoder
def test_int8_output_is_close_to_fp32_on_a_photo(fresh_encoder):
    """The product's int8 networks (shipped decoder, shipped calibration: ~half a minute to
    quantise) on a held-out photo at 256 px, against the same networks in fp32. Measured over
    four shared photos and two styles: PSNR 26.2 dB at worst (29.3 mean), mean absolute
    difference at most 8.1; bf16 against fp32 gives 43-49 dB."""
    from app import weights
    from app.images import load_image, resize_to_fit
    from app.styles import StyleLibrary

    decoder, _ = weights.load_decoder()
    nets = int8.load_networks(fresh_encoder(), decoder, TEST_THREADS)
    reference = Stylizer(fresh_encoder(), decoder, "cpu", torch.float32)
    quantised = Stylizer(fresh_encoder(), decoder, "cpu", torch.float32, frame_networks=nets)
    content = resize_to_fit(load_image(CONTENT_DIR / "chicago.jpg"), 256)
    style = StyleLibrary().resolve("great_wave").load()
    reference_out, int8_out = (s.stylize(content, Settings(styles=(s.add_style(style),)))
                               for s in (reference, quantised))
    assert int8_out.shape == content.shape
    mad = float(np.abs(int8_out.astype(np.float64) - reference_out).mean())
    assert psnr(int8_out, reference_out) > 25.0 and mad < 9.0, (psnr(int8_out, reference_out), mad)
