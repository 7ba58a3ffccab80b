"""int8 inference on the CPU (``--precision int8``): the same encoder and decoder, quantised
after training by NNCF and run by OpenVINO. Optional: without ``openvino`` and ``nncf``
installed, asking for int8 is a one-line error and every other precision works as before.

Why: the full-width networks already run bf16 near this CPU's matmul peak, so only less work
or cheaper arithmetic makes them faster, and VNNI's int8 dot products do twice the
multiply-adds of bf16 per instruction. An earlier session measured OpenVINO int8 at 26 ms
against 49 ms for torch bf16 (encoder + decoder, 216x160, 2-core Zen 4); ``bench --paths
full-bf16,full-int8`` measures it on the machine at hand.

Post-training quantisation measures activation ranges on fixed calibration data (the
calibration photos and built-in styles shipped in ``assets/``), so the result is
deterministic; it is cached on disk per weights and library versions, so it is done once.
Only the per-frame networks are quantised: style statistics still come from the torch
encoder in fp32, and AdaIN itself runs in fp32 between the two int8 networks.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

from app.errors import UserError

if TYPE_CHECKING:
    import openvino as ov

# OpenVINO's model converter and NNCF send usage statistics to Google Analytics unless the user
# has opted out (and keep a client id under ~/intel); both fall back to a no-op stub when the
# openvino_telemetry package cannot be imported. This app runs offline and opens no sockets, so
# that package is made unimportable in this process before either library loads.
sys.modules["openvino_telemetry"] = None

CALIBRATION_HEIGHT, CALIBRATION_WIDTH = 160, 216  # the live path's processing size for 4:3
# Bump when the calibration data or the quantisation options change: it keys the cache.
CALIBRATION_VERSION = 2
# Convolutions left in floating point at each end, where int8 costs the picture most and saves
# least: the encoder's first two (the 1x1 input normalisation and conv1_1, 3 input channels)
# and the decoder's last (64 -> 3 colours); together about 1% of the multiply-adds.
FLOAT_HEAD, FLOAT_TAIL = 2, 1
INSTALL_HINT = "pip install openvino nncf"
PACKAGES = ("openvino", "nncf")

Calibration = tuple[list[torch.Tensor], list[torch.Tensor]]  # (encoder inputs, decoder inputs)


def unavailable_reason() -> str | None:
    """None when int8 inference can run here, else one sentence saying what is missing."""
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"--precision int8 needs OpenVINO and NNCF, and {name} is not installed: {INSTALL_HINT}"
    return None


def require() -> None:
    """Raise the one-line UserError of ``unavailable_reason`` when int8 cannot run here."""
    reason = unavailable_reason()
    if reason:
        raise UserError(reason)


class OpenVinoNet:
    """A compiled OpenVINO network called like a torch module: (1, C, H, W) in, fp32 out.

    Shapes are dynamic (any H, W). One infer request is reused behind a lock: OpenVINO's
    requests are not safe to share between threads, and the engine may be called from more
    than one.
    """

    def __init__(self, compiled: ov.CompiledModel) -> None:
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        with self._lock:
            self._request.infer({0: array})
            # The output buffer is reused by the next call: copy it out.
            return torch.from_numpy(self._request.get_output_tensor(0).data.copy())


def cache_key(encoder: nn.Module, decoder: nn.Module) -> str:
    """Names the quantised pair: the weights, the calibration version and both libraries'
    versions (a newer NNCF may quantise differently, a newer OpenVINO may not read old IR)."""
    import nncf  # noqa: PLC0415
    import openvino  # noqa: PLC0415

    h = hashlib.sha256(f"v{CALIBRATION_VERSION} ov{openvino.__version__} nncf{nncf.__version__}".encode())
    for module in (encoder, decoder):
        for key, tensor in sorted(module.state_dict().items()):
            h.update(key.encode())
            h.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def calibration_data(encoder: nn.Module, contents: list[torch.Tensor], styles: list[torch.Tensor],
                     height: int = CALIBRATION_HEIGHT, width: int = CALIBRATION_WIDTH) -> Calibration:
    """Encoder inputs and decoder inputs that cover what frames produce.

    Encoder: each photo (1, 3, h, w) in [0, 1] resized, flipped and zoomed. Decoder: AdaIN
    targets of those photos with half of the styles, plus plain content features (alpha 0)
    and a half-way blend, so the ranges cover the whole alpha slider.
    """
    from models.adain import adain, blend_alpha, calc_mean_std  # noqa: PLC0415

    def fit(img: torch.Tensor) -> torch.Tensor:
        return F.interpolate(img.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True)

    images: list[torch.Tensor] = []
    for photo in contents:
        h, w = photo.shape[-2:]
        zoom = photo[..., h // 4: h - h // 4, w // 4: w - w // 4]
        images += [fit(photo), fit(photo).flip(-1), fit(zoom)]
    targets: list[torch.Tensor] = []
    with torch.inference_mode():
        feats = [encoder(x).float() for x in images]
        stats = [calc_mean_std(encoder(fit(s)).float()) for s in styles]
        for i, f in enumerate(feats):
            for j, st in enumerate(stats):
                if (i + j) % 2 == 0:  # half of all pairs: enough, and twice as quick
                    targets.append(adain(f, st))
            targets += [f, blend_alpha(adain(f, stats[i % len(stats)]), f, 0.5)]
    return images, targets


def _float_ends(model: ov.Model, head: int, tail: int) -> list[str]:
    """Names of the first ``head`` and last ``tail`` convolutions of ``model``."""
    convs = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    return convs[:head] + (convs[-tail:] if tail else [])


def quantize(encoder: nn.Module, decoder: nn.Module, images: list[torch.Tensor], targets: list[torch.Tensor],
             ) -> tuple[ov.Model, ov.Model]:
    """(encoder, decoder) as int8 OpenVINO models with dynamic spatial shapes.

    On held-out photos (int8 against fp32, 256 px, mean PSNR) the MIXED preset (asymmetric
    activations) measured 28.6 dB against 26.4 dB for NNCF's default, and the float ends
    took it to 29.3 dB; quantile activation ranges measured worse (26.3 dB), and full bias
    correction no better than the fast one (26.5 dB, default preset).
    """
    import nncf  # noqa: PLC0415
    import openvino as ov  # noqa: PLC0415

    nets = []
    for net, samples, head, tail in ((encoder, images, FLOAT_HEAD, 0), (decoder, targets, 0, FLOAT_TAIL)):
        net = net.float().eval()
        channels = int(samples[0].shape[1])
        with torch.no_grad():
            model = ov.convert_model(net, example_input=samples[0], input=[(1, channels, -1, -1)])
        data = nncf.Dataset(samples, lambda t: t.contiguous().numpy())
        # NNCF draws progress bars on standard output, where `stylize` prints its results.
        with contextlib.redirect_stdout(sys.stderr):
            nets.append(nncf.quantize(model, data, preset=nncf.QuantizationPreset.MIXED, subset_size=len(samples),
                                      ignored_scope=nncf.IgnoredScope(names=_float_ends(model, head, tail))))
    return nets[0], nets[1]


def compile_networks(encoder_model: ov.Model, decoder_model: ov.Model, threads: int | None = None
                     ) -> tuple[OpenVinoNet, OpenVinoNet]:
    """Compile for this CPU, tuned for one frame at a time (latency), on ``threads`` threads."""
    import openvino as ov  # noqa: PLC0415

    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    core = ov.Core()
    return (OpenVinoNet(core.compile_model(encoder_model, "CPU", config)),
            OpenVinoNet(core.compile_model(decoder_model, "CPU", config)))


def _read_cached(folder: Path) -> tuple[ov.Model, ov.Model] | None:
    """The pair stored in ``folder``, or None (absent, or damaged: then removed, to be rebuilt)."""
    import openvino as ov  # noqa: PLC0415
    from openvino.frontend import GeneralFailure  # noqa: PLC0415

    if not (folder / "decoder.xml").is_file():
        return None
    try:
        core = ov.Core()
        return core.read_model(folder / "encoder.xml"), core.read_model(folder / "decoder.xml")
    except (RuntimeError, OSError, GeneralFailure):  # OpenVINO's errors for an unreadable IR
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _store(folder: Path, encoder_model: ov.Model, decoder_model: ov.Model) -> None:
    """Save the pair in ``folder`` atomically: written beside it, then renamed into place, so an
    interrupted run leaves nothing half-written. The cache is an optimisation: a read-only disk,
    or another process that stored the same pair first, is not an error."""
    import openvino as ov  # noqa: PLC0415

    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        ov.save_model(encoder_model, tmp / "encoder.xml", compress_to_fp16=False)
        ov.save_model(decoder_model, tmp / "decoder.xml", compress_to_fp16=False)
        os.replace(tmp, folder)
    except (OSError, RuntimeError):
        shutil.rmtree(tmp, ignore_errors=True)


def int8_networks(encoder: nn.Module, decoder: nn.Module, cache: Path | None,
                  calibration: Callable[[], Calibration], threads: int | None = None
                  ) -> tuple[OpenVinoNet, OpenVinoNet]:
    """Quantised, compiled (encoder, decoder): from ``cache`` when it holds this pair's models,
    else quantised now on ``calibration()`` (called only then) and stored there."""
    require()
    folder = cache / cache_key(encoder, decoder) if cache is not None else None
    models = _read_cached(folder) if folder is not None else None
    if models is None:
        print("quantising the networks to int8: once for these weights, then cached", file=sys.stderr)
        models = quantize(encoder, decoder, *calibration())
        if folder is not None:
            _store(folder, *models)
    return compile_networks(*models, threads=threads)


def load_networks(encoder: nn.Module, decoder: nn.Module, threads: int | None = None
                  ) -> tuple[OpenVinoNet, OpenVinoNet]:
    """``int8_networks`` with the user cache and the shipped calibration images."""
    from app.paths import cache_dir  # noqa: PLC0415

    encoder = encoder.float().eval()
    return int8_networks(encoder, decoder, cache_dir() / "int8",
                         lambda: calibration_data(encoder, *shipped_images()), threads)


def shipped_images() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The calibration photos and built-in style paintings, (1, 3, H, W) in [0, 1]."""
    from app.images import load_image, resize_to_fit  # noqa: PLC0415
    from app.paths import BUILTIN_STYLES_DIR, CALIBRATION_DIR  # noqa: PLC0415

    def tensors(folder: Path) -> list[torch.Tensor]:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            raise UserError(f"{folder}: calibration images are missing from the installation")
        return [torch.from_numpy(resize_to_fit(load_image(f), 512)).permute(2, 0, 1)[None].float() / 255.0
                for f in files]

    return tensors(CALIBRATION_DIR), tensors(BUILTIN_STYLES_DIR)
