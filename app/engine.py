"""The engine: one object that owns device, precision, networks and cached style statistics.

``Stylizer.stylize(frame_rgb, settings)`` takes an RGB uint8 frame and returns one of exactly
the same size. Style statistics (relu4_1 mean/std) are computed once per style image and
cached in memory and on disk, so swapping or mixing styles costs nothing per frame.
:class:`Settings` are an immutable snapshot passed with every frame; the stylizer keeps none.
Whoever runs frames owns the current snapshot (live: ``app.live.worker.EngineWorker``).
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app import device as devices
from app.errors import UserError
from app.images import RGBImage, resize_to_fit
from app.paths import atomic_write_bytes, cache_dir
from app.rules import (COLOR_MODES, MODEL_CHOICES, PALETTE_DEFAULTS, check_alpha, check_mix_weights,
                       check_processing_size)
from models.adain import FeatureStats, adain, adain_masked, blend_alpha, calc_mean_std, mix_stats
from models.decoder import SKIP_TAP_INDICES, SkipDecoder, decode, skip_features
from models.color import Palette, color_stats, match_color, mix_palettes, palette_of, preserve_luminance, pull_palette
from models.upsample import upsample_with_detail

ColorMode = Literal["none", "luminance", "histogram"]
Model = Literal["full", "fast"]
# (AdaIN target (N, C, H, W) fp32, (rows, cols) of it that hold the picture) -> the target to
# decode. The cells beyond them, at the bottom/right, come from the frame's padding.
FeatureFilter = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
# The decoded picture (RGB uint8, processing size) -> the picture to upsample and return. Runs
# before the detail upsampling, so that its cost follows the processing size, not the frame's.
PictureFilter = Callable[[np.ndarray], np.ndarray]
STYLE_SIZE = 512  # style images are encoded with their long side at most this
PAD_MULTIPLE = 8  # three poolings down, three upsamplings up


@dataclass(frozen=True)
class Settings:
    """Everything that shapes one stylized frame. Immutable: replace it, never mutate it."""

    styles: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()  # mix weights, one per style; empty means equal
    alpha: float = 1.0
    color: ColorMode = "none"
    size: int | None = None  # processing short side in pixels; None: the frame's own
    detail: float = 1.0  # below the frame's size: content detail added back when upsampling (0: bilinear)
    palette: float | None = None  # pull to the painting's RGB palette, 0..1 (None: the model's default)
    mask: np.ndarray | None = field(default=None, compare=False)  # (H, W) in [0, 1]

    def validate(self, names: Mapping[str, str] | None = None, *, need_styles: bool = True) -> None:
        """Every rule a frame's settings must follow (app.rules), else a UserError. ``names`` gives a
        caller's own names for the fields in the messages (the CLI's ``{"alpha": "--alpha"}``);
        ``need_styles=False`` checks the rest before the styles are chosen."""
        names = names or {}
        if not self.styles and need_styles:
            raise UserError("no style selected")
        check_alpha(float(self.alpha), names.get("alpha", "alpha"))
        if self.weights and len(self.weights) != len(self.styles):
            raise UserError(f"{len(self.weights)} mix weights given for {len(self.styles)} styles")
        if self.weights:
            check_mix_weights(self.weights, names.get("weights", "mix weights"))
        if self.color not in COLOR_MODES:
            raise UserError(f"unknown colour mode {self.color!r}; use one of {', '.join(COLOR_MODES)}")
        if self.size is not None:
            check_processing_size(self.size, names.get("size", "processing size"))
        if self.palette is not None:
            check_alpha(float(self.palette), names.get("palette", "palette"))
        if not 0.0 <= float(self.detail) <= 2.0:
            raise UserError(f"detail must be between 0 and 2, got {self.detail}")
        if self.mask is not None and len(self.styles) > 2:
            raise UserError("a mask takes one style (inside) or two (inside, outside)")


class StylizerLike(Protocol):
    """What runs frames needs from :class:`Stylizer` (tests pass slow, failing or replaying fakes)."""

    def stylize(self, frame: np.ndarray, settings: Settings, features: FeatureFilter | None = None,
                picture: PictureFilter | None = None) -> np.ndarray: ...


def pick_model(choice: str, device: torch.device, fast_missing: str | None) -> Model:
    """The model ``choice`` ('auto', 'full' or 'fast') means on ``device``. 'auto': the fast model on a
    CPU when its files are shipped (the full one runs a few frames/s there), else the full one (on
    CUDA the full one is live already). 'fast' with ``fast_missing`` (the reason its files are not
    there) is a UserError saying it."""
    if choice not in MODEL_CHOICES:
        raise UserError(f"unknown model {choice!r}; use one of {', '.join(MODEL_CHOICES)}")
    if choice == "auto":
        return "fast" if device.type == "cpu" and fast_missing is None else "full"
    if choice == "fast" and fast_missing is not None:
        raise UserError(fast_missing)
    return "fast" if choice == "fast" else "full"


def style_id(image: RGBImage, style_size: int = STYLE_SIZE) -> str:
    """Content hash of a style image (pixels and shape) and the size it is encoded at."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    digest.update(repr((image.shape, style_size)).encode())
    return digest.hexdigest()[:20]


@dataclass
class _Prepared:
    """A frame on the device, ready for the encoder."""

    full: torch.Tensor  # (1, 3, H, W) float32 [0, 1] at the frame's own size
    work: torch.Tensor  # (1, 3, h, w) float32 at processing size
    padded: torch.Tensor  # (1, 3, h', w') network dtype, sides multiples of 8
    mask: torch.Tensor | None


class Encoded(NamedTuple):
    """What the encoder gives a frame: relu4_1 for AdaIN, and the shallower taps a skip decoder
    adds back (``models.decoder.SKIP_TAPS``; empty for a plain decoder)."""

    features: torch.Tensor
    skips: tuple[torch.Tensor, ...] = ()


class Stylizer:
    """AdaIN inference: encoder -> AdaIN with cached style statistics -> decoder."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, encoder_id: str = "custom",
                 stats_dir: Path | None = None, style_size: int = STYLE_SIZE, model: Model = "full") -> None:
        self.model = model  # which model runs: the window and bench show it
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory_format = torch.channels_last
        self.encoder = encoder.to(self.device, dtype, memory_format=self.memory_format).eval()
        self.decoder = decoder.to(self.device, dtype, memory_format=self.memory_format).eval()
        for p in list(self.encoder.parameters()) + list(self.decoder.parameters()):
            p.requires_grad_(False)
        self.skip_taps = list(SKIP_TAP_INDICES) if isinstance(decoder, SkipDecoder) else []
        self.encoder_id = encoder_id
        self.style_size = style_size
        self.stats_dir = stats_dir
        self._stats: dict[str, FeatureStats] = {}
        self._style_images: dict[str, RGBImage] = {}
        self._palettes: dict[str, Palette] = {}
        self._matched: dict[str, tuple[torch.Tensor, torch.Tensor, FeatureStats]] = {}
        self._pinned: dict[tuple[int, ...], torch.Tensor] = {}
        devices.tune_for_fixed_sizes(self.device)  # processing-size presets: tuned once per size

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, device: str | None = None, precision: str | None = None,
               vgg: Path | None = None, decoder: Path | None = None, student: Path | None = None,
               model: str = "auto") -> "Stylizer":
        """Load a model's weights and pick device and precision. ``model``: 'full', 'fast' or 'auto'
        (:func:`pick_model`). Explicit files win over ``model``: ``student`` (a distilled encoder,
        ``python main.py distill``, with its own ``decoder``) runs the fast model from those files;
        ``vgg`` or ``decoder`` alone, the full model from those."""
        from app import weights  # noqa: PLC0415 - weights pulls in the download machinery

        dev, dtype = devices.select(device, precision)
        explicit = student is not None or vgg is not None or decoder is not None
        if not explicit and pick_model(model, dev, weights.fast_model_missing()) == "fast":
            student, decoder = weights.fast_model_files()
        if student is not None:
            if decoder is None:
                raise UserError("a student encoder needs its own decoder: pass --decoder (made by train --student)")
            enc, _ = weights.load_student(student)
            enc_id = f"student-{weights.fingerprint(enc)}"
        else:
            enc, enc_id = weights.load_encoder(vgg), weights.encoder_id(vgg)
        dec, meta = weights.load_decoder(decoder)
        wanted, given = int(meta.get("in_channels", 512)), enc.channels[-1]
        if wanted != given:
            raise UserError(f"{meta['source']}: this decoder takes {wanted}-channel features, the encoder gives "
                            f"{given}; a student and its decoder go together")
        if isinstance(dec, SkipDecoder) and dec.skip_channels != [enc.channels[i] for i in SKIP_TAP_INDICES]:
            raise UserError(f"{meta['source']}: this decoder's skips take {dec.skip_channels} channels, which "
                            "this encoder's taps do not give; a student and its decoder go together")
        trained_for = meta.get("student") if student is not None else meta.get("encoder_fingerprint")
        if trained_for and trained_for not in (enc_id, enc_id.removeprefix("student-")):
            warnings.warn(f"the decoder {meta['source']} was trained against another encoder "
                          f"({trained_for}, this one is {enc_id}); expect poor images", stacklevel=2)
        stats_dir = cache_dir() / "style_stats" / enc_id
        return cls(enc, dec, dev, dtype, encoder_id=enc_id, stats_dir=stats_dir,
                   model="fast" if student is not None else "full")

    @property
    def description(self) -> str:
        return devices.describe(self.device, self.dtype)

    # ------------------------------------------------------------------ styles

    def add_style(self, image: RGBImage) -> str:
        """Compute (or fetch from cache) a style image's relu4_1 statistics; returns its id."""
        image = resize_to_fit(image, self.style_size)
        sid = style_id(image, self.style_size)
        if sid in self._stats:
            return sid
        self._style_images[sid] = image
        rgb = self._to_tensor(image)
        self._palettes[sid] = palette_of(rgb)
        stats = self._load_stats(sid)
        if stats is None:
            stats = self.encode_stats(rgb)
            self._save_stats(sid, stats)
        self._stats[sid] = stats
        return sid

    def has_style(self, sid: str) -> bool:
        return sid in self._stats

    def forget_style(self, sid: str) -> None:
        """Drop a style from memory (the disk cache stays): styles that come and go, such as the
        kiosk's captures, must not pile up in a process that runs for weeks."""
        self._stats.pop(sid, None)
        self._style_images.pop(sid, None)
        self._palettes.pop(sid, None)
        self._matched.pop(sid, None)

    def style_stats(self, sid: str) -> FeatureStats:
        try:
            return self._stats[sid]
        except KeyError:
            raise UserError(f"unknown style {sid!r}: add it first") from None

    @torch.inference_mode()
    def encode_stats(self, rgb: torch.Tensor) -> FeatureStats:
        """relu4_1 statistics of a (1, 3, H, W) float image, in fp32."""
        padded, _ = _pad(rgb, PAD_MULTIPLE)
        feats = self.encoder(padded.to(self.dtype).contiguous(memory_format=self.memory_format))
        return calc_mean_std(feats)

    def _stats_file(self, sid: str) -> Path | None:
        return self.stats_dir / f"{sid}.pt" if self.stats_dir else None

    def _load_stats(self, sid: str) -> FeatureStats | None:
        path = self._stats_file(sid)
        if path is None or not path.is_file():
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            return FeatureStats(data["mean"].float(), data["std"].float()).to(self.device)
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
            path.unlink(missing_ok=True)
            return None

    def _save_stats(self, sid: str, stats: FeatureStats) -> None:
        path = self._stats_file(sid)
        if path is None:
            return
        buf = io.BytesIO()
        torch.save({"mean": stats.mean.cpu(), "std": stats.std.cpu()}, buf)
        try:
            atomic_write_bytes(path, buf.getvalue())
        except OSError:
            pass  # the cache is an optimisation; a read-only disk must not stop stylizing

    def _histogram_stats(self, sid: str, content: torch.Tensor) -> FeatureStats:
        """Statistics of the style recoloured to the content's colours, refreshed on drift."""
        mean_c, cov_c = color_stats(content)
        cached = self._matched.get(sid)
        if cached is not None:
            old_mean, old_cov, stats = cached
            drift = max(float((old_mean - mean_c).abs().max()),
                        float(torch.linalg.norm(old_cov - cov_c) / torch.linalg.norm(old_cov)) * 0.2)
            if drift < 0.02:
                return stats
        style = self._to_tensor(self._style_images[sid])
        stats = self.encode_stats(match_color(style, mean_c, cov_c))
        self._matched[sid] = (mean_c, cov_c, stats)
        return stats

    # ------------------------------------------------------------------ the pipeline stages

    def _to_tensor(self, frame: RGBImage) -> torch.Tensor:
        """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [0, 1] on the device (pinned upload on CUDA)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise UserError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
        if not frame.flags.writeable or not frame.flags.c_contiguous:
            frame = np.array(frame)  # torch wants a writable, contiguous buffer
        host = torch.from_numpy(frame)
        if self.device.type == "cuda":
            buf = self._pinned.get(frame.shape)
            if buf is None:
                buf = self._pinned[frame.shape] = torch.empty(frame.shape, dtype=torch.uint8).pin_memory()
            buf.copy_(host)
            host = buf
        t = host.to(self.device, non_blocking=True).permute(2, 0, 1)[None]
        return t.float().div_(255.0)

    def preprocess(self, frame: RGBImage, settings: Settings) -> _Prepared:
        full = self._to_tensor(frame)
        work = _resize_short_side(full, settings.size)
        padded, _ = _pad(work, PAD_MULTIPLE)
        mask = None
        if settings.mask is not None:
            m = torch.as_tensor(np.asarray(settings.mask, dtype=np.float32), device=self.device)
            if m.dim() != 2:
                raise UserError("the mask must be a single-channel image")
            m = F.interpolate(m[None, None], size=work.shape[-2:], mode="bilinear", align_corners=False)
            mask, _ = _pad(m.clamp(0, 1), PAD_MULTIPLE)
        return _Prepared(full, work, padded.to(self.dtype).contiguous(memory_format=self.memory_format), mask)

    def encode(self, prepared: _Prepared) -> Encoded:
        if not self.skip_taps:
            return Encoded(self.encoder(prepared.padded))
        taps = self.encoder.taps(prepared.padded)
        return Encoded(taps[-1], skip_features(taps))

    def transfer(self, content: torch.Tensor, prepared: _Prepared, settings: Settings) -> torch.Tensor:
        """AdaIN target features t (fp32): style mix, mask, colour matching, alpha."""
        if settings.color == "histogram":
            stats = [self._histogram_stats(s, prepared.work) for s in settings.styles]
        else:
            stats = [self.style_stats(s) for s in settings.styles]
        if settings.mask is not None and prepared.mask is not None:
            outside = stats[1] if len(stats) > 1 else None
            target = adain_masked(content, stats[0], outside, prepared.mask)
        else:
            weights = settings.weights or (1.0,) * len(stats)
            target = adain(content, stats[0] if len(stats) == 1 else mix_stats(stats, weights))
        return blend_alpha(target, content, float(settings.alpha))

    def decode(self, target: torch.Tensor, skips: tuple[torch.Tensor, ...] = ()) -> torch.Tensor:
        return decode(self.decoder, target.to(self.dtype).contiguous(memory_format=self.memory_format), skips)

    def palette_strength(self, settings: Settings) -> float:
        """How far this frame's picture moves to the painting's palette: none where the content's
        colours are kept or a mask splits the picture, else the setting (or the model's default)
        scaled by alpha (alpha 0 is the photo's own picture)."""
        if settings.color != "none" or settings.mask is not None:
            return 0.0
        strength = self.palette_default if settings.palette is None else settings.palette
        return float(strength) * float(settings.alpha)

    @property
    def palette_default(self) -> float:
        """The running model's pull to the painting's palette (``app.rules.PALETTE_DEFAULTS``)."""
        return PALETTE_DEFAULTS[self.model]

    def _palette(self, settings: Settings) -> Palette:
        palettes = [self._palettes[s] for s in settings.styles]
        return palettes[0] if len(palettes) == 1 else mix_palettes(palettes, settings.weights or (1.0,) * len(palettes))

    def postprocess(self, out: torch.Tensor, prepared: _Prepared, settings: Settings,
                    picture: PictureFilter | None = None) -> RGBImage:
        h, w = prepared.work.shape[-2:]
        rgb = out[:, :, :h, :w].float().clamp_(0.0, 1.0)
        strength = self.palette_strength(settings)
        if strength > 0.0:
            rgb = pull_palette(rgb, self._palette(settings), strength)
        if picture is not None:
            rgb = _from_u8(picture(_to_u8(rgb)), rgb.device)
        if rgb.shape[-2:] != prepared.full.shape[-2:]:
            rgb = upsample_with_detail(rgb, prepared.full, prepared.work, float(settings.detail))
        if settings.color == "luminance":
            rgb = preserve_luminance(rgb, prepared.full)
        return _to_u8(rgb)

    @torch.inference_mode()
    def stylize(self, frame: RGBImage, settings: Settings, features: FeatureFilter | None = None,
                picture: PictureFilter | None = None) -> RGBImage:
        """Stylize one RGB uint8 frame with ``settings``; the result has exactly the frame's size.

        ``features`` may replace the AdaIN target before it is decoded, ``picture`` the decoded
        picture before it is upsampled to the frame's size (temporal stabilisation blends in the
        previous frame's at both).
        """
        s = settings
        s.validate()
        prepared = self.preprocess(frame, s)
        content = self.encode(prepared)
        target = self.transfer(content.features, prepared, s)
        if features is not None:
            h, w = prepared.work.shape[-2:]
            target = features(target, (-(-int(h) // PAD_MULTIPLE), -(-int(w) // PAD_MULTIPLE)))
        return self.postprocess(self.decode(target, content.skips), prepared, s, picture)


def _to_u8(rgb: torch.Tensor) -> RGBImage:
    """(1, 3, H, W) float [0, 1] -> (H, W, 3) uint8 on the host; scales ``rgb`` in place (a frame-sized
    temporary on the per-frame path: no copy)."""
    u8 = rgb.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)
    return u8.contiguous().cpu().numpy()


def _from_u8(rgb: RGBImage, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float().div_(255.0)


def _resize_short_side(x: torch.Tensor, short: int | None) -> torch.Tensor:
    if short is None:
        return x
    h, w = x.shape[-2:]
    scale = short / min(h, w)
    if abs(scale - 1.0) < 1e-6:
        return x
    size = (max(PAD_MULTIPLE, round(h * scale)), max(PAD_MULTIPLE, round(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1.0)


def _pad(x: torch.Tensor, multiple: int, minimum: int = 2 * PAD_MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad bottom/right so both sides are multiples of ``multiple`` and at least ``minimum``.

    The encoder's reflection pads need a relu4_1 map of at least 2x2, hence 16 px. Reflect
    padding where the frame is large enough, replicate where it is not.
    """
    h, w = x.shape[-2:]
    th = max(minimum, -(-h // multiple) * multiple)
    tw = max(minimum, -(-w // multiple) * multiple)
    ph, pw = th - h, tw - w
    if ph == 0 and pw == 0:
        return x, (0, 0)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (ph, pw)
