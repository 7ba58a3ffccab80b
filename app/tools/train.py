"""Training the AdaIN decoder (and slim decoders) on this CPU.

The paper's objective (models.losses) with Adam and a decaying learning rate, random
crops of images resized to a random short side, horizontal flips, style crops optionally
augmented (palette, stroke scale, texture: models.augment), bf16 autocast on CPU
(statistics in fp32) and channels_last. Checkpoints are written atomically every few
minutes and resume exactly (model, optimizer, step, RNG states). Each checkpoint also
exports the fp16 decoder, evaluates held-out pairs and writes a sample sheet.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.device import machine_name, tune_for_fixed_sizes
from app.errors import UserError, reason
from app.images import image_files, load_folder, load_image, resize_to_fit, save_image
from app.paths import atomic_write_bytes
from app.tools.quality import centre_square, psnr, to_rgb8
from app import weights as weights_io
from models.adain import FeatureStats, adain, calc_mean_std
from models.augment import ZOOM, StyleAugment
from models.color import Palette, batch_color_stats, pull_palette
from models.decoder import SKIP_TAP_INDICES, SKIP_TAPS, SkipDecoder, decode, decoder as build_decoder, skip_features
from models.losses import content_loss, reconstruction_loss, style_loss
from models.student import widened_to
from models.vgg import Encoder

CHECKPOINT = "checkpoint.pt"
EXPORT = "decoder_fp16.pth"
STUDENT_EXPORT = "student_fp16.pth"  # beside EXPORT when the student encoder trains too (its pair)
LOSS_LOG = "losses.jsonl"
EVALS = "evals.jsonl"
STRETCHES = "stretches.jsonl"  # one line per start or resume: where, from which step, how


@dataclass
class TrainConfig:
    content_dir: str
    style_dir: str
    out_dir: str
    iterations: int = 40_000
    size: int = 128
    batch: int = 8
    lr: float = 5e-4
    lr_min: float = 1e-4
    lr_decay: float = 1e-4  # lr = max(lr_min, lr / (1 + lr_decay * step))
    style_weight: float = 10.0
    warmup: int = 300  # first steps as a plain autoencoder (style = content)
    ema_decay: float = 0.998  # evaluated and exported weights: an average over ~1/(1-decay) steps; 0: off
    warm_start_ramp: int = 200  # after a warm start from a decoder file (fresh Adam): lr ramps up over these steps
    checkpoint_minutes: float = 5.0
    decoder_width: float = 1.0
    holdout_content_dir: str | None = None
    holdout_style_dir: str | None = None
    eval_size: int = 256
    seed: int = 0
    bf16: bool = True
    max_side: int = 768  # images are kept in memory at most this large
    device: str = "cpu"  # "cuda": images, networks and steps on the GPU (bf16 autocast there too)
    recon_until: int = 0  # batches before this step are all reconstructions (image in = image out)
    recon_every: int = 0  # after it, every k-th batch is one (0: none)
    recon_pixel_weight: float = 1.0
    recon_weight: float = 1.0  # scales the reconstruction loss against the AdaIN objective's
    style_bank: int = 8  # style statistics precomputed for this many crops per style image (0: encode each batch)
    content_bank: int = 0  # content relu4_1 precomputed for this many crops per content image (0: encode each batch)
    student: str | None = None  # a distilled student encoder file: AdaIN in its relu4_1, VGG stays the loss network
    style_augment: float = 0.0  # models.augment.StyleAugment strength for style crops (0: off, crops as before)
    # A student's decoder: the content loss in VGG's relu4_1 against the full model's AdaIN target (what
    # eval-quality measures) rather than in the student's own relu4_1 against its AdaIN target.
    teacher_content: bool = False
    # A student's decoder: this weight times the distance of its picture to the full model's on the same
    # pair (pixels and every VGG tap, as a reconstruction measures it); implies the teacher content loss.
    teacher_output: float = 0.0
    teacher_decoder: str | None = None  # the full decoder imitated (None: the shipped one)
    skips: bool = False  # a models.decoder.SkipDecoder: the content's relu3_1 and relu2_1 added back
    skip_modulation: bool = False  # its skips scaled and shifted by the style's statistics (implies skips)
    # The decoded picture is pulled this far (0..1) to the painting's RGB palette before the losses see it,
    # as the engine pulls what it shows (app.rules.PALETTE_DEFAULTS): the decoder learns what the pull leaves.
    palette_pull: float = 0.0
    # A student's encoder trains with its decoder, end to end on the objective VGG measures, at this fraction
    # of the learning rate (0: frozen, as distilled); implies the teacher content loss, so that nothing is
    # measured in the space that moves.
    tune_student: float = 0.0

    def is_reconstruction(self, step: int) -> bool:
        return step < self.recon_until or (self.recon_every > 0 and step % self.recon_every == 0)

    def route(self) -> str:
        """The objective schedule in words, for the model card's history table."""
        parts = [f"{self.size} px, batch {self.batch}"]
        if self.recon_until:
            parts.append(f"reconstruction to step {self.recon_until:,}")
        if self.recon_every:
            then = "then " if self.recon_until else ""
            parts.append(f"{then}AdaIN with every {self.recon_every}th batch a reconstruction")
        elif self.recon_until:
            parts.append("then AdaIN")
        else:
            parts.append("AdaIN objective")
        if self.style_augment:
            parts.append(StyleAugment(self.style_augment).describe())
        if self.teacher_content or self.teacher_output:
            parts.append("content loss in VGG's relu4_1 against the full model's target")
        if self.teacher_output:
            parts.append(f"imitating the full model's picture (weight {self.teacher_output:g})")
        if self.skips:
            parts.append(f"a skip decoder ({' and '.join(SKIP_TAPS)} added back"
                         + (", modulated by the style's statistics)" if self.skip_modulation else ")"))
        if self.style_weight != TrainConfig.style_weight:
            parts.append(f"style weight {self.style_weight:g}")
        if self.palette_pull:
            parts.append(f"losses on the picture pulled {self.palette_pull:g} to the painting's palette")
        if self.tune_student:
            parts.append(f"the student encoder trained too (at {self.tune_student:g} x the learning rate)")
        if self.content_bank:
            parts.append(f"contents from a fixed bank of {self.content_bank} crops per photo")
        if self.style_bank != TrainConfig.style_bank:
            parts.append(f"styles from a fixed bank of {self.style_bank} crops per painting" if self.style_bank
                         else "fresh style crops every step")
        if (self.lr, self.lr_min) != (TrainConfig.lr, TrainConfig.lr_min):
            parts.append(f"learning rate {self.lr:g} decaying to {self.lr_min:g}")
        return ", ".join(parts)

    def learning_rate(self, step: int) -> float:
        return decayed_lr(self.lr, self.lr_min, self.lr_decay, step)


def decayed_lr(lr: float, lr_min: float, decay: float, step: int) -> float:
    """The schedule both trainers use: lr / (1 + decay * step), never below lr_min."""
    return max(lr_min, lr / (1.0 + decay * step))


def warm_start_lr(lr: float, step: int, warm_start_step: int | None, ramp: int) -> float:
    """``lr`` ramped up linearly over ``ramp`` steps after a warm start (both trainers). A fresh
    Adam moves every weight by about lr on its first steps: from trained weights that undid ~100
    steps of the decoder's progress (held-out style 1.77 -> 1.91)."""
    if warm_start_step is None or ramp <= 0:
        return lr
    return lr * min(1.0, (step - warm_start_step + 1) / ramp)


def bf16_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """bf16 autocast on ``device`` when ``enabled`` (both trainers' ``bf16`` setting)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def record_stretch(path: Path, step: int, elapsed_s: float, device: torch.device, bf16: bool, route: str) -> None:
    """Append one line to a run's stretch log (both trainers): where, from which step, how."""
    stretch = {"start_step": step, "start_elapsed_s": round(elapsed_s), "machine": machine_name(device),
               "precision": "bf16" if bf16 else "fp32", "threads": torch.get_num_threads(), "route": route,
               "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    with open(path, "a") as fh:
        fh.write(json.dumps(stretch) + "\n")


def write_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through memory and an atomic write: a kill mid-write leaves the old file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: Path) -> object:
    """``torch.load`` (tensors and plain data only); an unreadable file is one clear sentence."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise UserError(f"{path}: not a readable checkpoint ({reason(exc, 120)})") from None


def skip_kind(path: Path) -> tuple[bool, bool]:
    """(skips, modulated skips) of the decoder in a checkpoint or decoder file (what ``--resume`` takes)."""
    return _skip_kind(read_checkpoint(path))


def _skip_kind(state: object) -> tuple[bool, bool]:
    if not isinstance(state, dict):
        return False, False
    if state.get("format") == "adain-live-train":
        keys = [str(k) for k in state.get("decoder", {})]
        return any(k.startswith("skips.") for k in keys), any(k.startswith("modulation.") for k in keys)
    return bool(state.get("skip_channels")), bool(state.get("skip_modulated"))


def run_folder(out_dir: str, checkpoint: str, what: str, resume: Path | None) -> Path:
    """The run folder, created; a fresh run never overwrites another run's checkpoint."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if resume is None and (out / checkpoint).exists():
        raise UserError(f"{out} already holds a {what} run: pass --resume {out / checkpoint} "
                        "to continue it, or choose another --out")
    return out


class ImageBank:
    """All images of a folder, decoded once into memory, sampled as random square crops."""

    def __init__(self, folder: str | Path, max_side: int = 768, what: str = "image") -> None:
        self.files = image_files(folder, what)
        self.images = [torch.from_numpy(resize_to_fit(load_image(f), max_side)).permute(2, 0, 1)
                       for f in self.files]
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> "ImageBank":
        """Keep the (uint8) images on ``device``, so that a GPU crops its own batches."""
        self.device = torch.device(device)
        self.images = [img.to(self.device) for img in self.images]
        return self

    def __len__(self) -> int:
        return len(self.images)

    def crops(self, n: int, size: int, gen: torch.Generator, zoom: tuple[float, float] = ZOOM) -> torch.Tensor:
        """``n`` random crops (N, 3, size, size) in [0, 1]: random image, short side scaled
        to a random value in [zoom[0]*size, zoom[1]*size] (never upscaled past the original),
        random flip."""
        out = torch.empty(n, 3, size, size, device=self.device)
        for k in range(n):
            out[k] = self.crop(int(torch.randint(len(self.images), (1,), generator=gen)), size, gen, zoom)
        return out

    def crop(self, index: int, size: int, gen: torch.Generator, zoom: tuple[float, float] = ZOOM) -> torch.Tensor:
        """One random crop (3, size, size) of image ``index`` (see ``crops``). A short side below
        the crop size (zoom[0] < 1, finer strokes for style augmentation) shrinks the whole
        image's short side to that size and mirrors it out to fill the crop."""
        img = self.images[index]
        h, w = img.shape[-2:]
        short = min(h, w)
        low = zoom[0] * size
        target_short = low + float(torch.rand((), generator=gen)) * max(0, min(short, zoom[1] * size) - low)
        side = max(1, min(short, round(size * short / max(target_short, 1))))  # crop side in source px
        inner = size if target_short >= size else max(size // 2, round(target_short))  # output px before mirroring
        y = int(torch.randint(h - side + 1, (1,), generator=gen))
        x = int(torch.randint(w - side + 1, (1,), generator=gen))
        patch = img[:, y:y + side, x:x + side].float()[None] / 255.0
        patch = F.interpolate(patch, size=(inner, inner), mode="bilinear", align_corners=False,
                              antialias=side > inner)
        if inner < size:
            a, b = (size - inner) // 2, size - inner - (size - inner) // 2
            patch = F.pad(patch, (a, b, a, b), mode="reflect")
        if bool(torch.rand((), generator=gen) < 0.5):
            patch = patch.flip(-1)
        return patch[0].clamp(0, 1)


class StyleBank:
    """Every style image's statistics (``Trainer.style_targets``) for ``per_image`` random crops.

    The style loss and AdaIN need nothing else of a style crop (1,920 numbers), so a training
    step samples them here instead of encoding a batch of style crops: one encoder pass of four
    fewer per step. Built once per run folder and kept there (keyed by the images, crop size,
    crops per image and encoders). With the palette pull on it also holds each crop's RGB palette.
    """

    def __init__(self, means: list[torch.Tensor], stds: list[torch.Tensor], palettes: Palette | None = None
                 ) -> None:
        self.means, self.stds = means, stds  # per tap: (crops, channels) fp32
        self.palettes = palettes  # (crops, 3) and (crops, 3, 3) fp32, or None

    def __len__(self) -> int:
        return self.means[0].shape[0]

    @classmethod
    def build(cls, styles: ImageBank, trainer: "Trainer", size: int, per_image: int, gen: torch.Generator,
              progress: bool = True) -> "StyleBank":
        means: list[list[torch.Tensor]] = []
        stds: list[list[torch.Tensor]] = []
        palettes: list[Palette] = []
        augment = trainer.augment
        for crops in _crop_batches(styles, size, per_image, gen, "style bank", progress, zoom=augment.zoom):
            crops = augment(crops, gen)
            targets = trainer.style_targets(crops)
            means, stds = means or [[] for _ in targets], stds or [[] for _ in targets]
            for k, stats in enumerate(targets):
                means[k].append(stats.mean.flatten(1).cpu())
                stds[k].append(stats.std.flatten(1).cpu())
            if trainer.cfg.palette_pull:
                palettes.append(Palette(*(x.cpu() for x in batch_color_stats(crops))))
        return cls([torch.cat(m) for m in means], [torch.cat(s) for s in stds],
                   Palette(*(torch.cat(x) for x in zip(*palettes))) if palettes else None)

    def sample(self, n: int, gen: torch.Generator, device: torch.device
               ) -> tuple[list[FeatureStats], Palette | None]:
        """The statistics of ``n`` random banked crops, per tap, each (n, C, 1, 1), and their palettes."""
        pick = torch.randint(len(self), (n,), generator=gen)
        stats = [FeatureStats(m[pick][..., None, None].to(device), s[pick][..., None, None].to(device))
                 for m, s in zip(self.means, self.stds)]
        return stats, None if self.palettes is None else Palette(*(x[pick].to(device) for x in self.palettes))

    def save(self, path: Path) -> None:
        write_checkpoint(path, {"means": self.means, "stds": self.stds,
                                **({"palettes": list(self.palettes)} if self.palettes is not None else {})})

    @classmethod
    def load(cls, path: Path) -> "StyleBank":
        state = torch.load(path, map_location="cpu", weights_only=True)
        return cls(state["means"], state["stds"], Palette(*state["palettes"]) if "palettes" in state else None)


class ContentBank:
    """Every content image's relu4_1 (bf16; the AdaIN encoder's) for ``per_image`` random crops,
    followed along the channels by VGG's relu4_1 when a student's decoder learns VGG's content
    target (``Trainer.content_features`` splits them).

    An AdaIN step needs nothing else of its content crops, so sampling them here saves the
    content encoder pass (about a sixth of a step). Reconstruction batches still crop images:
    they need the pixels. Built once per run folder and kept there, like the style bank.
    """

    def __init__(self, features: torch.Tensor) -> None:
        # (crops, C, size/8, size/8) bf16; C: 512, a student's 128, or 128 + 512, then a skip decoder's
        # taps folded to that resolution (``ContentFeatures.packed``)
        self.features = features

    def __len__(self) -> int:
        return self.features.shape[0]

    @classmethod
    @torch.no_grad()
    def build(cls, contents: ImageBank, trainer: "Trainer", size: int, per_image: int, gen: torch.Generator,
              progress: bool = True) -> "ContentBank":
        chunks = []
        for crops in _crop_batches(contents, size, per_image, gen, "content bank", progress):
            with trainer.autocast():
                chunks.append(trainer.content_features(crops).packed().to("cpu", torch.bfloat16))
        return cls(torch.cat(chunks))

    def sample(self, n: int, gen: torch.Generator, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``n`` random banked rows (n, C, h, w) as built (see ``features``), channels_last on ``device``."""
        pick = torch.randint(len(self), (n,), generator=gen)
        return self.features[pick].to(device, dtype).contiguous(memory_format=torch.channels_last)

    def save(self, path: Path) -> None:
        torch.save({"features": self.features}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)  # a GB-sized bank: written by torch, not through memory

    @classmethod
    def load(cls, path: Path) -> "ContentBank":
        return cls(torch.load(path, map_location="cpu", weights_only=True)["features"])


def _crop_batches(images: ImageBank, size: int, per_image: int, gen: torch.Generator, desc: str,
                  progress: bool, batch: int = 16, zoom: tuple[float, float] = ZOOM) -> Iterator[torch.Tensor]:
    """``per_image`` random crops of every image, a batch at a time, channels_last (for the banks)."""
    from tqdm import tqdm  # noqa: PLC0415

    order = [i for i in range(len(images)) for _ in range(per_image)]
    for start in tqdm(range(0, len(order), batch), desc=desc, unit="batch", disable=not progress):
        crops = torch.stack([images.crop(i, size, gen, zoom) for i in order[start:start + batch]])
        yield crops.contiguous(memory_format=torch.channels_last)


class ContentFeatures(NamedTuple):
    """What an AdaIN batch needs of its content crops: relu4_1 for AdaIN, VGG's relu4_1 for a teacher
    content loss (else None), and a skip decoder's taps (``models.decoder.SKIP_TAPS``)."""

    adain: torch.Tensor
    teacher: torch.Tensor | None
    skips: tuple[torch.Tensor, ...]

    def packed(self) -> torch.Tensor:
        """All of it along the channels at relu4_1's resolution (a content bank's rows): each skip tap,
        2^k times finer, folded by pixel_unshuffle."""
        parts = [self.adain] + ([self.teacher] if self.teacher is not None else [])
        parts += [F.pixel_unshuffle(x, x.shape[-1] // self.adain.shape[-1]) for x in self.skips]
        return torch.cat(parts, 1)


class Objective(NamedTuple):
    """One batch's terms (each a mean over the batch) and the decoded pictures."""

    content: torch.Tensor
    style: torch.Tensor
    imitation: torch.Tensor | None  # the distance to the full model's pictures (a student with a teacher)
    image: torch.Tensor


@dataclass
class StepResult:
    step: int
    loss: float
    content: float | None  # the AdaIN objective's terms, on AdaIN batches
    style: float | None
    lr: float
    recon: float | None = None  # the reconstruction loss, on reconstruction batches
    seconds: float = 0.0  # wall time of the step (batch preparation included)


class Trainer:
    """Owns the networks, optimizer and RNG; ``step()`` runs one iteration.

    ``encoder`` (VGG-19) is the loss network; ``source`` the encoder whose relu4_1 AdaIN works in
    and the decoder inverts: VGG itself, or a distilled student (``models.student``).
    """

    def __init__(self, cfg: TrainConfig, encoder: Encoder, contents: ImageBank | None = None,
                 styles: ImageBank | None = None, encoder_id: str | None = None,
                 source: Encoder | None = None, teacher: nn.Module | None = None,
                 source_meta: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.encoder_id = encoder_id or weights_io.encoder_id(None)
        self.device = torch.device(cfg.device)
        tune_for_fixed_sizes(self.device)  # fixed crop sizes
        # Frozen networks: bf16 weights run ~25% faster than autocasting fp32 ones.
        dtype = torch.bfloat16 if cfg.bf16 else torch.float32
        # The student's id names the file as the engine loads it: taken before the cast to bf16.
        self.source_id = None if source is None else weights_io.fingerprint(source)
        self.source_meta = source_meta or {}  # its file's (a tuned student's export keeps its distillation figures)
        self.encoder = encoder.eval().to(self.device, dtype, memory_format=torch.channels_last)
        # A tuned student keeps fp32 weights for Adam (autocast still runs it in bf16).
        self.tune = source is not None and cfg.tune_student > 0
        self.source = self.encoder if source is None else (
            source.train().requires_grad_(True).to(self.device, memory_format=torch.channels_last) if self.tune
            else source.eval().requires_grad_(False).to(self.device, dtype, memory_format=torch.channels_last))
        torch.manual_seed(cfg.seed)
        self.skip_taps = list(SKIP_TAP_INDICES) if cfg.skips else []
        decoder: nn.Module = build_decoder(width=cfg.decoder_width, in_channels=self.source.channels[-1])
        if cfg.skip_modulation and not cfg.skips:
            raise ValueError("skip_modulation needs skips")
        if cfg.skips:
            decoder = SkipDecoder(decoder, [self.source.channels[i] for i in self.skip_taps], cfg.skip_modulation)
        self.decoder = decoder.to(self.device, memory_format=torch.channels_last)
        groups = [{"params": list(self.decoder.parameters())}]
        self.lr_scales = [1.0]
        if self.tune:
            groups.append({"params": list(self.source.parameters())})
            self.lr_scales.append(cfg.tune_student)
        self.optimizer = torch.optim.Adam(groups, lr=cfg.lr)
        # Adam at a high learning rate leaves the weights jittering around the optimum (held-out
        # style loss swung 2.2..3.2 between checkpoints); their running average does not.
        self.ema = self._copy_of_decoder()
        # what evaluation and export use beside the averaged decoder: the tuned student's average too
        self.source_ema = copy.deepcopy(self.source).requires_grad_(False).eval() if self.tune else self.source
        self.ema_steps = 0
        self.ema_warm = False  # an average that starts from trained weights: no ramp-up of its decay
        self.warm_start_step: int | None = None
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step_count = 0
        self.elapsed_s = 0.0
        self.contents = contents
        self.styles = styles
        self.style_bank: StyleBank | None = None
        self.content_bank: ContentBank | None = None
        self.augment = StyleAugment(cfg.style_augment)
        student = self.source is not self.encoder
        self.teacher_content = (cfg.teacher_content or cfg.teacher_output > 0 or self.tune) and student
        # The full model's decoder, whose picture a student's decoder learns to imitate.
        self.teacher = None if teacher is None or not (student and cfg.teacher_output > 0) else (
            teacher.eval().requires_grad_(False).to(self.device, dtype, memory_format=torch.channels_last))

    # ---------------------------------------------------------------- one step

    def route(self) -> str:
        """The config's route, and what only the networks tell: a student widened at relu4_1."""
        deepest = None if self.source is self.encoder else widened_to(self.source)
        return self.cfg.route() + (f", the student's relu4_1 widened to {deepest} channels" if deepest else "")

    def _copy_of_decoder(self) -> nn.Module:
        return copy.deepcopy(self.decoder).requires_grad_(False).eval()

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * weights, the decay ramping up from 0.1 so that an
        average started on a fresh or warm-started decoder is not stuck at its first weights."""
        self.ema_steps += 1
        decay = self.cfg.ema_decay
        if not self.ema_warm:
            decay = min(decay, (1.0 + self.ema_steps) / (10.0 + self.ema_steps))
        pairs = [(self.ema, self.decoder)] + ([(self.source_ema, self.source)] if self.tune else [])
        for average, net in pairs:
            for avg, p in zip(average.parameters(), net.parameters()):
                avg.lerp_(p.detach(), 1.0 - decay)

    def autocast(self) -> torch.autocast:
        """bf16 autocast on the training device when the config asks for it (statistics stay fp32)."""
        return bf16_autocast(self.device, self.cfg.bf16)

    def source_grad(self) -> torch.set_grad_enabled:
        """Gradients through the AdaIN encoder only when it trains (and the caller records any)."""
        return torch.set_grad_enabled(self.tune and torch.is_grad_enabled())

    def style_targets(self, images: torch.Tensor, source: Encoder | None = None) -> list[FeatureStats]:
        """All a style loss and AdaIN need of style images: the statistics at the loss network's
        four taps, then, for a student (``source``, default the one training), its relu4_1's. The last
        entry is always AdaIN's."""
        images = images.contiguous(memory_format=torch.channels_last)
        source = self.source if source is None else source
        with self.autocast():
            with torch.no_grad():
                stats = [calc_mean_std(t) for t in self.encoder.taps(images)]
            if source is not self.encoder:
                with self.source_grad():
                    stats.append(calc_mean_std(source(images)))
        return stats

    def content_features(self, content: torch.Tensor, encoded: bool = False,
                         source: Encoder | None = None) -> ContentFeatures:
        """What AdaIN batches need of content images; ``encoded``: ``content`` is a content bank's
        sample already (``ContentFeatures.packed``)."""
        if encoded:
            sizes = [self.source.channels[-1]] + ([self.encoder.channels[-1]] if self.teacher_content else [])
            heads = len(sizes)
            sizes += [self.source.channels[i] * 4 ** (3 - i) for i in self.skip_taps]  # tap i is 2^(3-i) finer
            parts = torch.split(content, sizes, dim=1)
            skips = tuple(F.pixel_shuffle(x, 2 ** (3 - i)) for x, i in zip(parts[heads:], self.skip_taps, strict=True))
            return ContentFeatures(parts[0], parts[1] if self.teacher_content else None, skips)
        adain, skips = self.source_features(content, source=source)
        with torch.no_grad():
            teacher = self.encoder(content) if self.teacher_content else None
        return ContentFeatures(adain, teacher, skips)

    def source_features(self, images: torch.Tensor, vgg_taps: list[torch.Tensor] | None = None,
                        source: Encoder | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The AdaIN encoder's (``source``, default the one training) relu4_1 and a skip decoder's
        taps of ``images`` (``vgg_taps``: VGG's taps of them, already computed, when VGG is that encoder)."""
        source = self.source if source is None else source
        with self.source_grad():
            if vgg_taps is not None and source is self.encoder:
                taps = vgg_taps
            elif not self.skip_taps:
                return source(images), ()
            else:
                taps = source.taps(images)
            return taps[-1], skip_features(taps)

    def losses(self, content: torch.Tensor, style: torch.Tensor | list[FeatureStats],
               decoder: nn.Module | None = None, content_encoded: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(content loss, style loss) of ``decoder`` (default: the one being trained) on one batch;
        ``content``: images, or their relu4_1 when ``content_encoded`` (from the content bank);
        ``style``: images, or their ``style_targets`` (from the style bank)."""
        result = self.objective(content, style, decoder, content_encoded, imitate=False)
        return result.content, result.style

    def objective(self, content: torch.Tensor, style: torch.Tensor | list[FeatureStats],
                  decoder: nn.Module | None = None, content_encoded: bool = False, imitate: bool = True,
                  palette: Palette | None = None, source: Encoder | None = None) -> Objective:
        """``losses``, the decoded pictures and, with a teacher and ``imitate``, their distance to
        the full model's pictures. With the palette pull on, all of it is measured on the pictures
        pulled to the style's ``palette`` (read off ``style`` when it is images). ``decoder`` and
        ``source`` default to the networks training (evaluation passes their averages)."""
        content = content.contiguous(memory_format=torch.channels_last)
        pull = self.cfg.palette_pull
        if isinstance(style, torch.Tensor):
            palette = Palette(*batch_color_stats(style)) if pull else None
            style = self.style_targets(style, source)
        if pull and palette is None:
            raise ValueError("the palette pull needs the styles' palettes")
        imitation = None
        with self.autocast():
            features = self.content_features(content, content_encoded, source)
            with self.source_grad():
                target = adain(features.adain, style[-1])
            with torch.no_grad():
                aim = adain(features.teacher, style[3]) if features.teacher is not None else target
            image = decode(decoder or self.decoder, target, features.skips)
            if pull:
                image = pull_palette(image, palette, pull)
            out_taps = self.encoder.taps(image)
            out = out_taps[-1] if self.source is self.encoder or self.teacher_content else self.source(image)
            if imitate and self.teacher is not None:
                with torch.no_grad():
                    model = self.teacher(aim)
                    if pull:
                        model = pull_palette(model, palette, pull)
                    model_taps = self.encoder.taps(model)
                imitation = reconstruction_loss(image, model, out_taps, model_taps, self.cfg.recon_pixel_weight)
        return Objective(content_loss(out, aim), style_loss(out_taps, style[:4]), imitation, image)

    def reconstruction(self, images: torch.Tensor, decoder: nn.Module | None = None,
                       source: Encoder | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction loss, decoded images) of ``decoder`` fed the images' own relu4_1 (from
        ``source``); the feature terms are measured by the loss network."""
        images = images.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            with torch.no_grad():
                image_taps = self.encoder.taps(images)
            features, skips = self.source_features(images, image_taps, source)
            out = decode(decoder or self.decoder, features, skips)
            out_taps = self.encoder.taps(out)
        loss = reconstruction_loss(out, images, out_taps, image_taps, self.cfg.recon_pixel_weight)
        return loss, out

    def style_crops(self, n: int) -> torch.Tensor:
        """``n`` random style crops for an AdaIN batch, augmented when the config asks for it."""
        assert self.styles is not None
        crops = self.styles.crops(n, self.cfg.size, self.gen, self.augment.zoom)
        return self.augment(crops, self.gen)

    def step(self) -> StepResult:
        assert self.contents is not None and self.styles is not None
        started = time.perf_counter()
        cfg = self.cfg
        lr = warm_start_lr(cfg.learning_rate(self.step_count), self.step_count, self.warm_start_step,
                           cfg.warm_start_ramp)
        for group, scale in zip(self.optimizer.param_groups, self.lr_scales, strict=True):
            group["lr"] = lr * scale
        self.decoder.train()
        recon: float | None = None
        if cfg.is_reconstruction(self.step_count):  # photos and paintings alike
            half = cfg.batch // 2
            images = torch.cat([self.contents.crops(cfg.batch - half, cfg.size, self.gen),
                                self.styles.crops(half, cfg.size, self.gen)])
            loss_r, _ = self.reconstruction(images)
            loss = cfg.recon_weight * loss_r
            loss_c = loss_s = None
            recon = loss_r.item()
        elif self.step_count < cfg.warmup:  # a plain autoencoder: style = content
            content = self.contents.crops(cfg.batch, cfg.size, self.gen)
            loss_c, loss_s = self.losses(content, content)
            loss = loss_c + cfg.style_weight * loss_s
        else:
            banked = self.content_bank is not None
            dtype = torch.bfloat16 if cfg.bf16 else torch.float32
            content = (self.contents.crops(cfg.batch, cfg.size, self.gen) if self.content_bank is None
                       else self.content_bank.sample(cfg.batch, self.gen, self.device, dtype))
            style: torch.Tensor | list[FeatureStats]
            palette: Palette | None = None  # a crop's is read off it; banked crops keep theirs
            if self.style_bank is None:
                style = self.style_crops(cfg.batch)
            else:
                style, palette = self.style_bank.sample(cfg.batch, self.gen, self.device)
            result = self.objective(content, style, content_encoded=banked, palette=palette)
            loss_c, loss_s = result.content, result.style
            loss = loss_c + cfg.style_weight * loss_s
            if result.imitation is not None:
                loss = loss + cfg.teacher_output * result.imitation
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {float(loss)} at step {self.step_count}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._update_ema()
        self.step_count += 1
        return StepResult(self.step_count, loss.item(), None if loss_c is None else loss_c.item(),
                          None if loss_s is None else loss_s.item(), lr, recon, time.perf_counter() - started)

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> dict:
        return {
            "format": "adain-live-train",
            "config": asdict(self.cfg),
            "step": self.step_count,
            "elapsed_s": self.elapsed_s,
            "encoder_fingerprint": self.encoder_id,
            "decoder": self.decoder.state_dict(),
            "decoder_ema": self.ema.state_dict(),
            "ema_steps": self.ema_steps,
            "ema_warm": self.ema_warm,
            "warm_start_step": self.warm_start_step,
            "optimizer": self.optimizer.state_dict(),
            "rng_data": self.gen.get_state(),
            "rng_torch": torch.get_rng_state(),
            **({"source": self.source.state_dict(), "source_ema": self.source_ema.state_dict()} if self.tune else {}),
        }

    def save(self, path: Path) -> None:
        write_checkpoint(path, self.state())

    def load(self, path: Path) -> None:
        """Resume from a full checkpoint, or warm-start from an exported fp16 decoder."""
        state = read_checkpoint(path)
        if isinstance(state, dict) and state.get("format") == "adain-live-train":
            if _skip_kind(state) != (self.cfg.skips, self.cfg.skip_modulation):
                raise UserError(f"{path}: this run's {self._skips_in_words()} cannot continue this checkpoint's "
                                "decoder; to add skips or their modulation, start from its decoder_fp16.pth")
            if ("source" in state) != self.tune:
                raise UserError(f"{path}: its student encoder {'trained' if 'source' in state else 'was frozen'}; "
                                "continue it with the same --tune-student setting, or start from its "
                                "decoder_fp16.pth (and student_fp16.pth)")
            weights_io.check_and_load(self.decoder, state["decoder"], path, "decoder")
            if self.tune:
                weights_io.check_and_load(self.source, state["source"], path, "student encoder")
                weights_io.check_and_load(self.source_ema, state["source_ema"], path, "student encoder")
            self.optimizer.load_state_dict(state["optimizer"])
            self.gen.set_state(state["rng_data"])
            torch.set_rng_state(state["rng_torch"])
            self.step_count = int(state["step"])
            self.elapsed_s = float(state.get("elapsed_s", 0.0))
            self.warm_start_step = state.get("warm_start_step")
            if "decoder_ema" in state:  # checkpoints from before the average start it afresh
                weights_io.check_and_load(self.ema, state["decoder_ema"], path, "decoder")
                self.ema_steps = int(state.get("ema_steps", 0))
                self.ema_warm = bool(state.get("ema_warm", False))
            else:
                self.ema, self.ema_steps = self._copy_of_decoder(), 0
        else:  # a decoder file: weights only, fresh optimizer; step count from its metadata
            net, meta = weights_io.load_decoder(path)
            if float(meta.get("width", 1.0)) != self.cfg.decoder_width:
                raise UserError(f"{path}: decoder width {meta.get('width')} differs from --decoder-width")
            if isinstance(net, SkipDecoder) and not self.cfg.skips:
                raise UserError(f"{path}: a skip decoder: add --skips to continue it")
            if isinstance(net, SkipDecoder) and net.modulated and not self.cfg.skip_modulation:
                raise UserError(f"{path}: a decoder with modulated skips: add --skip-modulation to continue it")
            # a decoder grows: a plain file into a skip decoder's body, a skip one into a modulated one; what
            # it gains starts at zero, so it paints what the file painted
            into = self.decoder.body if isinstance(self.decoder, SkipDecoder) and not isinstance(net, SkipDecoder) \
                else self.decoder
            missing, unexpected = into.load_state_dict(net.state_dict(), strict=False)
            assert not unexpected and all(k.startswith("modulation.") for k in missing), (missing, unexpected)
            self.step_count = int(meta.get("steps", 0))
            self.elapsed_s = float(meta.get("train_seconds", 0.0))
            self.gen.manual_seed(self.cfg.seed + self.step_count)
            self.ema, self.ema_steps, self.ema_warm = self._copy_of_decoder(), 0, True
            self.warm_start_step = self.step_count
        self.decoder.to(memory_format=torch.channels_last)
        self.ema.to(memory_format=torch.channels_last)

    def _skips_in_words(self) -> str:
        return ("modulated skips" if self.cfg.skip_modulation else "skips") if self.cfg.skips else "plain decoder"

    def export(self, path: Path, **extra: object) -> None:
        """The averaged weights (what evaluation measured) as an fp16 decoder file; a tuned student's
        average beside it (``STUDENT_EXPORT``, written first), which the decoder names as its encoder."""
        student = self.source_id
        if self.tune:
            student_path = path.parent / STUDENT_EXPORT
            kept = {k: v for k, v in self.source_meta.items() if k not in ("format", "width")}
            weights_io.save_student(self.source_ema, student_path,
                                    **{**kept, "tuned_from": self.source_id, "tuned_steps": self.step_count})
            student = weights_io.student_id(student_path)
        weights_io.save_decoder(self.ema, path, width=self.cfg.decoder_width, steps=self.step_count,
                                in_channels=self.source.channels[-1],
                                **({"student": student} if student else {}),
                                train_seconds=round(self.elapsed_s), train_size=self.cfg.size,
                                encoder_fingerprint=self.encoder_id, **extra)


# -------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(trainer: Trainer, contents: list[np.ndarray], styles: list[np.ndarray], size: int
             ) -> tuple[dict[str, float], np.ndarray]:
    """Mean content/style loss over all held-out pairs, and a sample sheet (RGB uint8).

    Sheet layout: first row the styles, first column the contents, outputs in the grid.
    """
    trainer.decoder.eval()
    cs = [centre_square(c, size).to(trainer.device) for c in contents]
    ss = [centre_square(s, size).to(trainer.device) for s in styles]
    tile = size
    sheet = np.full(((len(cs) + 1) * tile, (len(ss) + 1) * tile, 3), 255, np.uint8)
    lc, ls = [], []
    for j, s in enumerate(ss):
        sheet[:tile, (j + 1) * tile:(j + 2) * tile] = to_rgb8(s)
    for i, c in enumerate(cs):
        sheet[(i + 1) * tile:(i + 2) * tile, :tile] = to_rgb8(c)
        for j, s in enumerate(ss):
            result = trainer.objective(c, s, decoder=trainer.ema, imitate=False, source=trainer.source_ema)
            lc.append(float(result.content))
            ls.append(float(result.style))
            sheet[(i + 1) * tile:(i + 2) * tile, (j + 1) * tile:(j + 2) * tile] = to_rgb8(result.image.float())
    trainer.decoder.train()
    return {"content": float(np.mean(lc)), "style": float(np.mean(ls)), **reconstruction_scores(trainer, cs)}, sheet


@torch.no_grad()
def reconstruction_scores(trainer: Trainer, contents: list[torch.Tensor]) -> dict[str, float]:
    """Alpha 0 (the decoder fed each content's own relu4_1): the relu4_1 content loss and the
    PSNR against the photo. A decoder that inverts the encoder gives the photo back here."""
    lc, db = [], []
    for c in contents:
        _, out = trainer.reconstruction(c, decoder=trainer.ema, source=trainer.source_ema)
        out = out.float().clamp(0, 1)
        with trainer.autocast():
            lc.append(float(content_loss(trainer.encoder(out.contiguous(memory_format=torch.channels_last)),
                                         trainer.encoder(c.contiguous(memory_format=torch.channels_last)))))
        db.append(psnr(out, c))
    return {"recon_content": float(np.mean(lc)), "recon_psnr": float(np.mean(db))}


def bank_path(kind: type[StyleBank] | type[ContentBank], images: ImageBank, per_image: int, trainer: Trainer,
              out: Path) -> Path:
    """Where the run folder keeps a bank, named by a hash of what makes it: images, crop size,
    crops per image, seed, encoders, for styles the augmentation and palettes, for contents the teacher's
    features (each only when on, so that the banks of runs from before keep their names)."""
    cfg = trainer.cfg
    key = [cfg.size, per_image, cfg.seed, trainer.encoder_id, [(f.name, f.stat().st_size) for f in images.files]]
    key += [trainer.source_id] if trainer.source_id else []
    key += [["style_augment", cfg.style_augment]] if kind is StyleBank and trainer.augment.on else []
    key += [["palettes"]] if kind is StyleBank and cfg.palette_pull else []
    key += [["teacher_content"]] if kind is ContentBank and trainer.teacher_content else []
    key += [["skips", list(SKIP_TAPS)]] if kind is ContentBank and cfg.skips else []
    digest = hashlib.sha256(json.dumps(key).encode())
    name = "style_bank" if kind is StyleBank else "content_bank"
    return out / f"{name}_{digest.hexdigest()[:12]}.pt"


def _bank(kind: type[StyleBank] | type[ContentBank], images: ImageBank, per_image: int, trainer: Trainer,
          out: Path, progress: bool) -> StyleBank | ContentBank:
    """The run folder's style or content bank, built on first use (see ``bank_path``)."""
    cfg = trainer.cfg
    path = bank_path(kind, images, per_image, trainer, out)
    if path.is_file():
        return kind.load(path)
    bank = kind.build(images, trainer, cfg.size, per_image, torch.Generator().manual_seed(cfg.seed),
                      progress=progress)
    bank.save(path)
    return bank


def held_out(folder: str | None) -> list[np.ndarray]:
    """A held-out folder's images (at most 512 px, as every evaluation in the history was), or
    none without a folder."""
    return load_folder(folder, "held-out", max_side=512) if folder else []


# -------------------------------------------------------------------- the loop


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _checkpoint_on_sigterm() -> Iterator[None]:
    """A polite kill (end of a session, ``kill``, a background job's SIGINT being ignored) ends
    training like Ctrl-C: through the final checkpoint, so no step is lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Steps(Protocol):
    """What ``step_until`` drives: the decoder's Trainer, the student's Distiller."""

    step_count: int
    elapsed_s: float

    def step(self) -> Any: ...  # a dataclass of the step's figures


def step_until(trainer: Steps, end: int, total: int, log_path: Path, checkpoint: Callable[[], None],
               checkpoint_minutes: float, deadline: float | None, progress: bool, desc: str,
               postfix: Callable[[Any], dict[str, str]]) -> None:
    """Step until ``end`` or the monotonic ``deadline``, logging each step as a JSON line and
    checkpointing every few minutes; every way of stopping ends with a checkpoint."""
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(total=total, initial=trainer.step_count, disable=not progress, dynamic_ncols=True,
               smoothing=0.05, desc=desc)
    last_ckpt = time.monotonic()
    with _checkpoint_on_sigterm():
        try:
            with open(log_path, "a") as log:
                while trainer.step_count < end:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    t0 = time.monotonic()
                    r = trainer.step()
                    trainer.elapsed_s += time.monotonic() - t0
                    log.write(json.dumps(asdict(r)) + "\n")
                    log.flush()  # a step takes ~1 s: the log stays whole even after a SIGKILL
                    bar.update(1)
                    bar.set_postfix(postfix(r))
                    if time.monotonic() - last_ckpt > checkpoint_minutes * 60:
                        checkpoint()
                        last_ckpt = time.monotonic()
        finally:
            bar.close()
            if trainer.step_count > 0:
                checkpoint()  # also on Ctrl-C or SIGTERM: nothing learnt is lost


def full_decoder(path: str | None) -> nn.Module:
    """The full model's decoder (VGG's relu4_1 in), for a student's decoder to imitate."""
    net, meta = weights_io.load_decoder(Path(path) if path else None)
    if int(meta.get("in_channels", 512)) != 512 or meta.get("student"):
        raise UserError(f"{meta['source']}: a student's decoder; the teacher is the full model's (VGG-19's relu4_1 in)")
    return net


def run(cfg: TrainConfig, resume: Path | None = None, encoder: Encoder | None = None,
        encoder_id: str | None = None, progress: bool = True, stop_after: int | None = None,
        max_minutes: float | None = None,
        on_checkpoint: Callable[[Path, dict], None] | None = None) -> Trainer:
    """Train until ``cfg.iterations`` (or ``stop_after`` more steps, or ``max_minutes`` of wall
    time), checkpointing as it goes; every way of stopping ends with a checkpoint."""
    started = time.monotonic()
    out = run_folder(cfg.out_dir, CHECKPOINT, "training", resume)
    encoder = encoder or weights_io.load_encoder(None)
    source, source_meta = weights_io.load_student(Path(cfg.student)) if cfg.student else (None, None)
    teacher = full_decoder(cfg.teacher_decoder) if source is not None and cfg.teacher_output > 0 else None
    trainer = Trainer(cfg, encoder, ImageBank(cfg.content_dir, cfg.max_side, "content").to(cfg.device),
                      ImageBank(cfg.style_dir, cfg.max_side, "style").to(cfg.device), encoder_id, source, teacher,
                      source_meta)
    if resume is not None:
        trainer.load(Path(resume))
    if cfg.style_bank:
        trainer.style_bank = _bank(StyleBank, trainer.styles, cfg.style_bank, trainer, out, progress)
    if cfg.content_bank:
        trainer.content_bank = _bank(ContentBank, trainer.contents, cfg.content_bank, trainer, out, progress)
    held_c, held_s = held_out(cfg.holdout_content_dir), held_out(cfg.holdout_style_dir)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    record_stretch(out / STRETCHES, trainer.step_count, trainer.elapsed_s, trainer.device, cfg.bf16, trainer.route())

    def checkpoint() -> None:
        trainer.save(out / CHECKPOINT)
        record: dict = {"step": trainer.step_count, "elapsed_s": round(trainer.elapsed_s)}
        if held_c and held_s:
            scores, sheet = evaluate(trainer, held_c, held_s, cfg.eval_size)
            record.update({f"heldout_{k}": v for k, v in scores.items()})
            save_image(sheet, out / "samples.jpg")
            save_image(sheet, out / f"samples_{trainer.step_count:06d}.jpg")
        trainer.export(out / EXPORT, **{k: v for k, v in record.items() if k.startswith("heldout")})
        with open(out / EVALS, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if on_checkpoint:
            on_checkpoint(out, record)

    end = cfg.iterations if stop_after is None else min(cfg.iterations, trainer.step_count + stop_after)
    smooth: float | None = None  # the bar's running loss

    def postfix(r: StepResult) -> dict[str, str]:
        nonlocal smooth
        if r.recon is not None:
            return {"recon": f"{r.recon:.3f}", "lr": f"{r.lr:.1e}"}
        smooth = r.loss if smooth is None else 0.98 * smooth + 0.02 * r.loss
        return {"loss": f"{smooth:.3f}", "c": f"{r.content:.3f}", "s": f"{r.style:.4f}", "lr": f"{r.lr:.1e}"}

    step_until(trainer, end, cfg.iterations, out / LOSS_LOG, checkpoint, cfg.checkpoint_minutes,
               deadline=None if max_minutes is None else started + max_minutes * 60,
               progress=progress, desc="train", postfix=postfix)
    return trainer
