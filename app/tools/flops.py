"""Counting the arithmetic a network does on one input (for GFLOP/s figures)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def conv_flops(module: nn.Module, *input_shapes: tuple[int, ...]) -> int:
    """Multiply-add FLOPs (2 per MAC) of every Conv2d in ``module`` for inputs of ``input_shapes``
    (one shape per tensor argument; a sequence of shapes for an argument that takes a sequence).

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
            meta(*(_empty(shape) for shape in input_shapes))
    finally:
        for h in handles:
            h.remove()
    return total


def _to_meta(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module).float()
    return clone.to("meta")


def _empty(shape: tuple[int, ...] | list[tuple[int, ...]]) -> torch.Tensor | list[torch.Tensor]:
    if isinstance(shape, list):
        return [torch.empty(s, device="meta") for s in shape]
    return torch.empty(shape, device="meta")
