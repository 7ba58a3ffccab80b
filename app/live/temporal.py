"""Temporal stability for video: the warping-error metric and a causal stabiliser.

Per-frame AdaIN flickers: small changes between frames shift the content statistics and
the decoder's textures. Both tools here follow pixels along optical flow (OpenCV DIS):

* :class:`WarpingError` (the metric): warp stylized frame t-1 onto frame t with the
  content's flow, mask occlusions by a forward-backward consistency check, and average
  the squared difference over the pixels that stay visible (Lai et al. 2018).
* :class:`TemporalStabilizer` (the fix, live and causal), in two stages that share one
  flow per frame: before the decoder, the previous AdaIN target, warped onto the current
  frame, is blended into the new one (``models.temporal``: a steadier decoder input, the
  style's statistics kept exactly); after it, the previous *output*, warped, is blended
  into the new picture with its local contrast kept, at the processing size (before the
  engine upsamples with the frame's own detail, which does not flicker): its cost follows
  the processing size, as the network's does. Occluded or mis-tracked pixels take
  the new frame alone, so moving objects leave no ghost trails. Strength 0 returns the
  per-frame output unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
import torch

from app.engine import Settings, StylizerLike
from models.temporal import steady_blend, warp_features

DEFAULT_STRENGTH = 0.9  # live and video default: flicker down >= 40%, style loss up < 10% (README)
FEATURE_WEIGHT = 0.9  # feature-stage blend weight at strength 1 (0.81 at the default)
OUTPUT_WEIGHT = 0.45  # output-stage weight at strength 1 after a feature stage (0.405 at the default)
FLOW_SHORT_SIDE = 180  # flow is computed on a downscaled grey frame: fast and smooth enough


def _grey(rgb: np.ndarray, short_side: int | None) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if short_side is None:
        return grey
    h, w = grey.shape
    scale = short_side / min(h, w)
    if scale >= 1.0:
        return grey
    return cv2.resize(grey, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)


class FlowEstimator:
    """Dense optical flow (DIS). ``flow(a, b)[y, x]`` is where pixel (x, y) of ``a`` lies in ``b``."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._dis.calc(a, b, None)


@lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False  # shared between calls
    return gx, gy


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample ``image`` at x + flow(x): brings a frame onto the frame the flow was computed from."""
    gx, gy = _pixel_grid(*flow.shape[:2])
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], interpolation,
                     borderMode=cv2.BORDER_REPLICATE)


def consistent(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Pixels whose backward flow is undone by the forward flow (not occluded); bool (H, W).

    |b(x) + f(x + b(x))|^2 <= 0.01 (|b|^2 + |f(x + b(x))|^2) + 0.5 (Sundaram et al. 2010).
    """
    f_at = warp(flow_fwd, flow_back)
    total = flow_back + f_at
    lhs = (total ** 2).sum(axis=2)
    rhs = 0.01 * ((flow_back ** 2).sum(axis=2) + (f_at ** 2).sum(axis=2)) + 0.5
    return lhs <= rhs


def _scale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a flow field to (w, h), scaling its vectors with it."""
    h0, w0 = flow.shape[:2]
    w, h = size
    if (w, h) == (w0, h0):
        return flow
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / w0
    out[..., 1] *= h / h0
    return out


@dataclass
class WarpingError:
    """Streaming temporal warping error over (content, stylized) frame pairs, RGB uint8.

    ``value`` is the mean over frame pairs of the mean squared difference (on a 0..1 scale)
    between stylized frame t and stylized frame t-1 warped onto t, over non-occluded pixels.
    Feeding the content frames as ``stylized`` gives the video's own floor.
    """

    flow_short_side: int | None = None
    per_frame: list[float] = field(default_factory=list)
    _flow: FlowEstimator = field(default_factory=FlowEstimator, repr=False)
    _prev: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def update(self, content_rgb: np.ndarray, stylized_rgb: np.ndarray) -> None:
        grey = _grey(content_rgb, self.flow_short_side)
        if self._prev is not None and self._prev[0].shape == grey.shape:
            prev_grey, prev_styl = self._prev
            back = self._flow(grey, prev_grey)
            fwd = self._flow(prev_grey, grey)
            mask = consistent(back, fwd)
            h, w = stylized_rgb.shape[:2]
            back_full = _scale_flow(back, (w, h))
            mask_full = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
            warped = warp(prev_styl, back_full).astype(np.float32)
            diff = ((stylized_rgb.astype(np.float32) - warped) / 255.0) ** 2
            visible = mask_full.sum()
            self.per_frame.append(float(diff[mask_full].mean()) if visible else 0.0)
        self._prev = (grey, stylized_rgb)

    @property
    def value(self) -> float:
        return float(np.mean(self.per_frame)) if self.per_frame else 0.0


@dataclass
class Motion:
    """How the current frame relates to the previous one, at the flow's resolution."""

    back: np.ndarray  # (h, w, 2): where each pixel of this frame was in the previous one
    trust: np.ndarray  # (h, w) bool: consistent forward-backward flow and matching brightness


class TemporalStabilizer:
    """Causal, occlusion-aware, flow-guided blending of the past into each new frame.

    :meth:`stylize` runs both stages inside a stylizer that accepts feature and picture
    filters (the engine): the AdaIN target is blended with the previous one (weight
    ``FEATURE_WEIGHT * strength``) and the decoded picture with the previous one
    (``OUTPUT_WEIGHT * strength``), keeping local contrast. Called on an already stylized
    frame (``__call__``), only the output stage can run; it then blends harder (``max_weight
    * strength``), as an exponential average along motion trajectories. Either way new
    content appears at once.
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH, max_weight: float = 0.6,
                 flow_short_side: int = FLOW_SHORT_SIDE, photometric_threshold: float = 16.0,
                 ghost_levels: tuple[float, float] = (40.0, 80.0)) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"stabilisation strength must be within [0, 1], got {strength}")
        self.strength = strength
        self.max_weight = max_weight
        self.flow_short_side = flow_short_side
        self.photometric_threshold = photometric_threshold
        self.ghost_levels = ghost_levels
        self._flow = FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev_grey: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self._prev_target: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the past (call on a cut: new source, seek, style change if desired)."""
        self._prev_grey = self._prev_out = None
        self._prev_target = None

    # ------------------------------------------------------------------ the two entry points

    def stylize(self, stylizer: StylizerLike, frame_rgb: np.ndarray, settings: Settings) -> np.ndarray:
        """``stylizer.stylize(frame, settings)``, stabilised at feature and output level."""
        if self.strength <= 0.0:
            return stylizer.stylize(frame_rgb, settings)
        motion = self._track(frame_rgb)
        return stylizer.stylize(frame_rgb, settings,
                                features=lambda target, cells: self._blend_features(target, cells, motion),
                                picture=lambda rgb: self._blend_output(rgb, motion, OUTPUT_WEIGHT, True))

    def __call__(self, content_rgb: np.ndarray, stylized_rgb: np.ndarray) -> np.ndarray:
        """The output stage alone, for frames stylized elsewhere."""
        if self.strength <= 0.0:
            return stylized_rgb
        return self._blend_output(stylized_rgb, self._track(content_rgb), self.max_weight, False)

    # ------------------------------------------------------------------ stages

    def _track(self, content_rgb: np.ndarray) -> Motion | None:
        """Flow from this frame back to the previous one (None for a first frame or a cut)."""
        grey = _grey(content_rgb, self.flow_short_side)
        prev, self._prev_grey = self._prev_grey, grey
        if prev is None or prev.shape != grey.shape:
            return None
        back = self._flow(grey, prev)
        trust = consistent(back, self._flow(prev, grey))
        # A flow that tracks nothing real (lighting change, motion blur) fails this check.
        mismatch = np.abs(warp(prev, back).astype(np.int16) - grey.astype(np.int16))
        return Motion(back, trust & (mismatch < self.photometric_threshold))

    def _blend_features(self, target: torch.Tensor, picture_cells: tuple[int, int],
                        motion: Motion | None) -> torch.Tensor:
        """The AdaIN target (N, C, H, W), whose first ``picture_cells`` rows and columns hold
        the picture (the rest is padding), blended with the previous one along the motion."""
        prev, self._prev_target = self._prev_target, target
        if motion is None or prev is None or prev.shape != target.shape:
            return target
        fh, fw = target.shape[-2:]
        ch, cw = min(fh, picture_cells[0]), min(fw, picture_cells[1])
        flow = np.zeros((fh, fw, 2), np.float32)
        flow[:ch, :cw] = _scale_flow(motion.back, (cw, ch))
        # A cell is trusted only when all of its pixels are: erode, then average down.
        trust = cv2.erode(motion.trust.astype(np.float32), np.ones((3, 3), np.uint8))
        weight = np.zeros((fh, fw), np.float32)
        weight[:ch, :cw] = cv2.resize(trust, (cw, ch), interpolation=cv2.INTER_AREA) * (FEATURE_WEIGHT * self.strength)
        warped = warp_features(prev, torch.from_numpy(flow))
        steady = steady_blend(target, warped, torch.from_numpy(weight)[None, None])
        self._prev_target = steady
        return steady

    def _blend_output(self, stylized_rgb: np.ndarray, motion: Motion | None, max_weight: float,
                      keep_contrast: bool) -> np.ndarray:
        prev_out, self._prev_out = self._prev_out, stylized_rgb
        if motion is None or prev_out is None or prev_out.shape != stylized_rgb.shape:
            return stylized_rgb
        trust_f = motion.trust.astype(np.float32)  # feathered inwards only: untrusted pixels stay at 0
        weight = cv2.GaussianBlur(trust_f, (0, 0), 1.5) * trust_f * (max_weight * self.strength)
        h, w = stylized_rgb.shape[:2]
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
        # Cubic: the output is warped again every frame, and linear blur would accumulate.
        warped = warp(prev_out, _scale_flow(motion.back, (w, h)), cv2.INTER_CUBIC)
        # Flicker is a small change; a large one means the past no longer belongs here (a ghost):
        # fade the weight out between ``ghost_levels`` grey levels of difference.
        grey_new = cv2.cvtColor(stylized_rgb, cv2.COLOR_RGB2GRAY)
        change = cv2.absdiff(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), grey_new).astype(np.float32)
        lo, hi = self.ghost_levels
        weight *= np.clip((hi - change) * (1.0 / (hi - lo)), 0.0, 1.0)
        result = cv2.blendLinear(stylized_rgb, warped, 1.0 - weight, weight)
        if keep_contrast:
            result = _restore_local_contrast(result, grey_new)
        self._prev_out = result
        return result


def _restore_local_contrast(blended_rgb: np.ndarray, reference_grey: np.ndarray, radius: int = 2) -> np.ndarray:
    """Raise ``blended_rgb``'s local luminance contrast to that of ``reference_grey``.

    Averaging two partly decorrelated textures lowers their contrast, and with it the
    style's std statistics. Only a boost (1x..2x) is applied, never a reduction; on
    luminance alone (one channel: a third of the cost), added equally to R, G and B.
    Local statistics over (2 radius + 1)^2 boxes: constant cost per pixel.
    """
    box = (2 * radius + 1, 2 * radius + 1)
    grey = cv2.cvtColor(blended_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ref = reference_grey.astype(np.float32)
    mean_b, mean_r = cv2.blur(grey, box), cv2.blur(ref, box)
    var_b = cv2.blur(cv2.multiply(grey, grey), box) - cv2.multiply(mean_b, mean_b)
    var_r = cv2.blur(cv2.multiply(ref, ref), box) - cv2.multiply(mean_r, mean_r)
    gain = np.sqrt(cv2.divide(np.maximum(var_r, 0.0) + 4.0, np.maximum(var_b, 0.0) + 4.0))
    boost = cv2.multiply(np.clip(gain, 1.0, 2.0) - 1.0, grey - mean_b)
    return cv2.add(blended_rgb, cv2.merge([boost, boost, boost]), dtype=cv2.CV_8U)
