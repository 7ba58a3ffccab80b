"""Choosing where and in what precision the networks run."""
from __future__ import annotations

import os
import platform

import torch

from app.errors import UserError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX512-BF16 or AMX on x86), where bf16
    runs ~2x fp32.

    oneDNN also reports bf16 "supported" on plain AVX-512, where it is emulated and ~5x
    *slower* than fp32 (seen on a 2-core Xeon), so the instruction sets are checked too.
    """
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():  # noqa: SLF001 - torch's only probe for it
            return False
    except (AttributeError, RuntimeError):
        return False
    cpu = getattr(torch, "cpu", None)
    probes = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [p for p in probes if callable(p)]
    if not probes or not torch.backends.cpu.get_cpu_capability().startswith("AVX"):
        return True  # not x86 (e.g. Arm with BF16), or a torch without the probes: trust oneDNN
    return any(bool(p()) for p in probes)


def select_device(device: str | None = None) -> torch.device:
    """cpu, cuda or cuda:N; None or auto: CUDA when a GPU exists. One sentence when it cannot be had."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available")
    return dev


def select(device: str | None = None, precision: str | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA + fp16 when a GPU exists; on CPU bf16 where supported, else fp32. Both overridable."""
    dev = select_device(device)
    if precision in (None, "auto"):
        if dev.type == "cuda":
            dtype = torch.float16
        else:
            dtype = torch.bfloat16 if cpu_supports_bf16() else torch.float32
    elif precision in PRECISIONS:
        dtype = PRECISIONS[precision]
    else:
        raise UserError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return dev, dtype


def cpu_name() -> str:
    """This machine in words for figures, e.g. '2-core AMD EPYC (native bf16)': timings differ
    several-fold between CPUs, so every figure names the one it was measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {model} ({'native' if cpu_supports_bf16() else 'no native'} bf16)"


def machine_name(dev: torch.device) -> str:
    """The machine a run's figures come from: the GPU when it ran on one, else the CPU."""
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} GPU"
    return cpu_name()


def tune_for_fixed_sizes(dev: torch.device) -> None:
    """On CUDA, let cuDNN time its kernels per input size and keep the fastest: worth it when the
    networks see a few sizes over and over (training crops, the engine's processing sizes). Nothing
    elsewhere."""
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True


def precision_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in PRECISIONS.items()}[dtype]


def describe(dev: torch.device, dtype: torch.dtype) -> str:
    """Human-readable, e.g. 'cpu bf16' or 'cuda:0 (NVIDIA H100) fp16'."""
    name = str(dev)
    if dev.type == "cuda":
        name += f" ({torch.cuda.get_device_name(dev)})"
    return f"{name} {precision_name(dtype)}"
