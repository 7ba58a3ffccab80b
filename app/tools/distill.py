"""Distilling the fast student's encoder from VGG-19 (``models.student``) on this CPU or a GPU.

The student learns VGG's four taps through 1x1 maps, on random crops of photos and paintings
alike (the student encodes styles too). Adam with a decaying learning rate, bf16 autocast
where the CPU has it and on CUDA (with channels_last and cuDNN autotuning, as training does),
checkpoints that resume exactly, ``max_minutes``, and an fp16 export of the encoder alone: the
maps serve only this regression. An export is also a warm start (its step count kept, a fresh
optimizer whose learning rate ramps up, the maps fitted to it by least squares). The student's
decoder is then trained by ``app.tools.train`` with ``TrainConfig.student`` pointing at the export.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from app import weights as weights_io
from app.device import tune_for_fixed_sizes
from app.errors import UserError
from app.tools.quality import centre_square
from app.tools.train import (ImageBank, bf16_autocast, decayed_lr, held_out, read_checkpoint, record_stretch,
                             run_folder, step_until, warm_start_lr, write_checkpoint)
from models.student import STUDENT_WIDTH, FeatureMaps, distillation_loss, prune_from, student_encoder
from models.vgg import Encoder

CHECKPOINT = "student_checkpoint.pt"
EXPORT = "student_fp16.pth"
LOSS_LOG = "student_losses.jsonl"
EVALS = "student_evals.jsonl"
STRETCHES = "student_stretches.jsonl"  # one line per start or resume: where, from which step, how


@dataclass
class DistillConfig:
    content_dir: str
    style_dir: str
    out_dir: str
    iterations: int = 4_000
    size: int = 128
    batch: int = 8
    lr: float = 1e-3
    lr_min: float = 1e-4
    lr_decay: float = 1e-3  # lr = max(lr_min, lr / (1 + lr_decay * step))
    warm_start_ramp: int = 200  # after a warm start from a student file (fresh Adam): lr ramps up over these steps
    width: float = STUDENT_WIDTH
    checkpoint_minutes: float = 5.0
    holdout_content_dir: str | None = None
    holdout_style_dir: str | None = None
    eval_size: int = 256
    seed: int = 0
    bf16: bool = True
    max_side: int = 768
    device: str = "cpu"  # "cuda": images, networks and steps on the GPU (bf16 autocast there too)

    def learning_rate(self, step: int) -> float:
        return decayed_lr(self.lr, self.lr_min, self.lr_decay, step)


@dataclass
class DistillStep:
    step: int
    loss: float
    lr: float
    seconds: float = 0.0


class Distiller:
    """Owns the teacher, the student and its maps, the optimizer and the RNG."""

    def __init__(self, cfg: DistillConfig, teacher: Encoder, contents: ImageBank | None = None,
                 styles: ImageBank | None = None, encoder_id: str | None = None) -> None:
        self.cfg = cfg
        self.encoder_id = encoder_id or weights_io.encoder_id(None)
        self.device = torch.device(cfg.device)
        tune_for_fixed_sizes(self.device)  # fixed crop sizes
        torch.manual_seed(cfg.seed)
        self.student = student_encoder(cfg.width)
        prune_from(teacher, self.student)  # from the fp32 teacher, before it is cast
        self.student.to(self.device, memory_format=torch.channels_last)
        self.maps = FeatureMaps(self.student.channels, teacher.channels).to(
            self.device, memory_format=torch.channels_last)
        self.teacher = teacher.eval().to(self.device, torch.bfloat16 if cfg.bf16 else torch.float32,
                                         memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam([*self.student.parameters(), *self.maps.parameters()], lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step_count = 0
        self.warm_start_step: int | None = None
        self.elapsed_s = 0.0
        self.contents, self.styles = contents, styles

    def autocast(self) -> torch.autocast:
        """bf16 autocast on the distillation device when the config asks for it."""
        return bf16_autocast(self.device, self.cfg.bf16)

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device).contiguous(memory_format=torch.channels_last)
        with self.autocast():
            with torch.no_grad():
                target = self.teacher.taps(images)
            return distillation_loss(self.maps(self.student.taps(images)), target)

    def batch(self, gen: torch.Generator) -> torch.Tensor:
        """One batch of random crops, half photos, half paintings."""
        assert self.contents is not None and self.styles is not None
        half = self.cfg.batch // 2
        return torch.cat([self.contents.crops(self.cfg.batch - half, self.cfg.size, gen),
                          self.styles.crops(half, self.cfg.size, gen)])

    def step(self) -> DistillStep:
        started = time.perf_counter()
        lr = warm_start_lr(self.cfg.learning_rate(self.step_count), self.step_count, self.warm_start_step,
                           self.cfg.warm_start_ramp)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.loss(self.batch(self.gen))
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {float(loss)} at step {self.step_count}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        return DistillStep(self.step_count, loss.item(), lr, time.perf_counter() - started)

    def save(self, path: Path) -> None:
        write_checkpoint(path, {"format": "adain-live-distill", "config": asdict(self.cfg), "step": self.step_count,
                                "elapsed_s": self.elapsed_s, "encoder_fingerprint": self.encoder_id,
                                "student": self.student.state_dict(), "maps": self.maps.state_dict(),
                                "optimizer": self.optimizer.state_dict(), "rng_data": self.gen.get_state(),
                                "warm_start_step": self.warm_start_step})

    def load(self, path: Path) -> None:
        """Resume from a full checkpoint, or warm-start from an exported fp16 student."""
        state = read_checkpoint(path)
        if isinstance(state, dict) and state.get("format") == "adain-live-student":
            self.warm_start(path)
            return
        if not (isinstance(state, dict) and state.get("format") == "adain-live-distill"):
            raise UserError(f"{path}: not a student distillation checkpoint or student file")
        weights_io.check_and_load(self.student, state["student"], path, "student encoder")
        weights_io.check_and_load(self.maps, state["maps"], path, "student maps")
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["rng_data"])
        self.step_count, self.elapsed_s = int(state["step"]), float(state["elapsed_s"])
        self.warm_start_step = state.get("warm_start_step")

    def warm_start(self, path: Path) -> None:
        """Continue from a student file (``export``): its weights, step count and time; a fresh
        optimizer (the learning rate ramps up) and maps fitted to it, the file holding none."""
        student, meta = weights_io.load_student(path)
        if float(meta["width"]) != self.cfg.width:
            raise UserError(f"{path}: student width {meta['width']} differs from --width {self.cfg.width}")
        if student.channels != self.student.channels:
            raise UserError(f"{path}: a widened student ({student.channels[-1]} channels at relu4_1) trains with its "
                            "decoder (`train --tune-student`), not by distillation")
        self.student.load_state_dict(student.state_dict())
        self.step_count = int(meta.get("steps", 0))
        self.elapsed_s = float(meta.get("train_seconds", 0.0))
        self.gen.manual_seed(self.cfg.seed + self.step_count)
        self.warm_start_step = self.step_count
        self.fit_maps()

    @torch.no_grad()
    def fit_maps(self, batches: int = 4) -> None:
        """Each 1x1 map by least squares (a little ridge) from the student's tap to the teacher's,
        over a few batches: the maps a trained student had, near enough, instead of random ones
        whose gradients would first scramble the student."""
        gen = torch.Generator().manual_seed(self.cfg.seed + self.step_count + 1)
        sums = [(0.0, 0.0)] * len(self.maps.maps)  # per map: X^T X and X^T Y, X with a column of ones
        for _ in range(batches):
            images = self.batch(gen).to(self.device).contiguous(memory_format=torch.channels_last)
            with self.autocast():
                pairs = zip(self.student.taps(images), self.teacher.taps(images), strict=True)
            for k, (s, t) in enumerate(pairs):
                x = s.double().permute(0, 2, 3, 1).reshape(-1, s.shape[1])
                x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
                y = t.double().permute(0, 2, 3, 1).reshape(-1, t.shape[1])
                sums[k] = (sums[k][0] + x.T @ x, sums[k][1] + x.T @ y)
        for conv, (xtx, xty) in zip(self.maps.maps, sums, strict=True):
            ridge = 1e-6 * xtx.diagonal().mean().clamp_min(1e-12)
            w = torch.linalg.solve(xtx + ridge * torch.eye(len(xtx), dtype=xtx.dtype, device=xtx.device), xty)
            conv.weight.copy_(w[:-1].T.reshape(conv.weight.shape))
            conv.bias.copy_(w[-1])

    def export(self, path: Path, **extra: object) -> None:
        weights_io.save_student(self.student, path, steps=self.step_count, train_seconds=round(self.elapsed_s),
                                train_size=self.cfg.size, encoder_fingerprint=self.encoder_id, **extra)


@torch.no_grad()
def evaluate(distiller: Distiller, images: list[np.ndarray], size: int) -> float:
    """The mean distillation loss over held-out images (centre squares): 0 is a perfect student,
    4 is what maps outputting zeros would score."""
    return float(np.mean([float(distiller.loss(centre_square(img, size))) for img in images]))


def run(cfg: DistillConfig, resume: Path | None = None, teacher: Encoder | None = None,
        encoder_id: str | None = None, progress: bool = True, stop_after: int | None = None,
        max_minutes: float | None = None) -> Distiller:
    """Distil until ``cfg.iterations`` (or ``stop_after`` more steps, or ``max_minutes``)."""
    started = time.monotonic()
    out = run_folder(cfg.out_dir, CHECKPOINT, "distillation", resume)
    distiller = Distiller(cfg, teacher or weights_io.load_encoder(None),
                          ImageBank(cfg.content_dir, cfg.max_side, "content").to(cfg.device),
                          ImageBank(cfg.style_dir, cfg.max_side, "style").to(cfg.device), encoder_id)
    if resume is not None:
        distiller.load(Path(resume))
    held = held_out(cfg.holdout_content_dir) + held_out(cfg.holdout_style_dir)
    (out / "student_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    record_stretch(out / STRETCHES, distiller.step_count, distiller.elapsed_s, distiller.device, cfg.bf16,
                   f"{cfg.size} px, batch {cfg.batch}")

    def checkpoint() -> None:
        distiller.save(out / CHECKPOINT)
        record: dict = {"step": distiller.step_count, "elapsed_s": round(distiller.elapsed_s)}
        if held:
            record["heldout_distill"] = evaluate(distiller, held, cfg.eval_size)
        distiller.export(out / EXPORT, **{k: v for k, v in record.items() if k.startswith("heldout")})
        with open(out / EVALS, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    end = cfg.iterations if stop_after is None else min(cfg.iterations, distiller.step_count + stop_after)
    step_until(distiller, end, cfg.iterations, out / LOSS_LOG, checkpoint, cfg.checkpoint_minutes,
               deadline=None if max_minutes is None else started + max_minutes * 60, progress=progress,
               desc="distil", postfix=lambda r: {"loss": f"{r.loss:.3f}", "lr": f"{r.lr:.1e}"})
    return distiller
