"""Counting the arithmetic a network does on one input (for GFLOP/s figures)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def conv_flops(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-add FLOPs (2 per MAC) of every Conv2d in ``module`` for one input of ``input_shape``.

    Runs the module once on the meta device, so it costs no real compute.
    """
    total = 0

    def hook(m: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Conv2d)
        kh, kw = m.kernel_size
        macs = out.numel() * (m.in_channels // m.groups) * kh * kw
        total += 2 * macs

    meta = _to_meta(module)
    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            meta(torch.empty(input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


def _to_meta(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module).float()
    return clone.to("meta")
