"""DIS motion between consecutive input frames and its checks, each at the size measured to suffice.

:class:`~.online.OnlineStylizer` asks, for each frame ``t``, where frame ``t − 1``'s result should be
carried (the flow ``t → t−1``) and how far that can be trusted (the confidence). This module is the
one place that decides at which size each part of that answer is computed, and it makes each input
frame's copies for it once (:func:`analyse`), so that the next frame reuses them:

* **The flow** at the frame's size, long side at most :data:`MOTION_LONG_SIDE`. Estimating it at
  half size was measured to cost steadiness: on ``cutBunny.mp4`` (48 frames, 640 × 360, StyleBank
  ``la_muse``, DIS ``fast``, ``bench/video.py``'s warping error) 0.31× per-frame instead of 0.21×
  with everything at half size, 0.33× with only the forward flow at half size, 0.30× with the
  ``ultrafast`` preset, 0.25× without the forward flow's variational refinement. (Half-size frames
  with DIS one pyramid level finer give nearly the same flow, 0.1 px apart, at no saving: DIS's cost
  is at its finest level, the same in both.)
* **The checks** — forward–backward consistency and motion boundaries
  (:func:`~.flow.confidence`, thresholds in the motion's pixels) and the photometric check
  (:mod:`.consistency`) — at half that size (:func:`check_size`), on the area-downsampled flows,
  and the confidence is scaled back up by nearest neighbour. Same clip: warping error 0.20×,
  sharpness 0.98× per-frame on average and 0.95× at worst, the ghost clip's ratio unchanged —
  as at full size — while the checks cost a quarter (bilinear scaling of the confidence lowered
  the worst sharpness to 0.92×: it widens the half-trusted band around occlusions).

Frames are display sRGB ``(1, 3, H, W)`` tensors in [0, 1] (the pixel contract); flows follow
:mod:`.flow`'s convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .consistency import photometric_match
from .flow import DISFlow, confidence, to_hwc

__all__ = ["CHECK_MIN_LONG_SIDE", "MOTION_LONG_SIDE", "FrameAnalysis", "analyse", "check_size", "dis_motion",
           "motion_size", "scaled_size"]

#: DIS flow is estimated at this long side at most (a 1080p frame at half size).
MOTION_LONG_SIDE = 960
#: The checks run at half the motion's size, but their long side stays at least this (small frames:
#: the motion's size).
CHECK_MIN_LONG_SIDE = 320


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """``(h, w)`` with the long side at most ``long_side`` (never enlarged), aspect kept."""
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def motion_size(height: int, width: int) -> tuple[int, int]:
    """The size at which DIS estimates the flow."""
    return scaled_size(height, width, MOTION_LONG_SIDE)


def check_size(height: int, width: int) -> tuple[int, int]:
    """The size of the checks (consistency, motion boundaries, photometric): half the motion size, not too small."""
    h, w = motion_size(height, width)
    return scaled_size(height, width, max(CHECK_MIN_LONG_SIDE, max(h, w) // 2))


def _shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == tuple(size):
        return img
    return cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class FrameAnalysis:
    """One input frame's copies for motion analysis, made once and kept for the next frame.

    Attributes:
        source: The frame they were made from (``(1, 3, H, W)``); identity tells whether they still apply.
        grey: ``uint8 (h, w)`` BT.601 luma at :func:`motion_size`.
        small: ``float32 (h', w', 3)`` sRGB at :func:`check_size`.
    """

    source: torch.Tensor
    grey: np.ndarray
    small: np.ndarray


def analyse(frame: torch.Tensor) -> FrameAnalysis:
    """The grey and small copies of one frame (``(1, 3, H, W)`` sRGB in [0, 1], CPU or not)."""
    height, width = frame.shape[-2:]
    rgb = to_hwc(frame)
    lum = cv2.cvtColor(_shrink(rgb, motion_size(height, width)), cv2.COLOR_RGB2GRAY)
    # × 255, rounded half to even and saturated like np.rint(np.clip(...)) (luma of [0, 1] is ≥ 0)
    grey = cv2.convertScaleAbs(lum, alpha=255.0)
    return FrameAnalysis(frame, grey, _shrink(rgb, check_size(height, width)))


def dis_motion(dis: DISFlow, cur: FrameAnalysis, prev: FrameAnalysis, *,
               photometric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow ``t → t−1`` at the frame's size and its confidence in [0, 1].

    Args:
        dis: The estimator (one per video).
        cur, prev: :func:`analyse` of frames ``t`` and ``t − 1`` (same size).
        photometric: Multiply in :func:`~.consistency.photometric_match` (the previous input carried
            along the flow must look like the current one).

    Returns:
        ``(flow (H, W, 2), confidence (H, W))`` float32 at the frames' size ``(H, W)``; the
        confidence combines forward–backward consistency, motion boundaries and, with
        ``photometric``, the photometric check.
    """
    height, width = cur.source.shape[-2:]
    back, fwd = dis(cur.grey, prev.grey), dis(prev.grey, cur.grey)
    small = cur.small.shape[:2]
    back_small, fwd_small = _resize_flow(back, small), _resize_flow(fwd, small)
    # the thresholds count in the motion's pixels, as when the check ran at the motion's size
    conf = confidence(back_small, fwd_small, soft=True, scale=small[1] / back.shape[1])
    if photometric:
        conf = cv2.multiply(conf, photometric_match(prev.small, cur.small, back_small, scale=small[1] / width))
    if conf.shape != (height, width):
        # nearest, not bilinear: interpolated confidence widens the half-trusted band around occlusions,
        # where averaging misaligned strokes costs detail (sharpness 0.92× per-frame at worst instead of 0.95×)
        conf = cv2.resize(conf, (width, height), interpolation=cv2.INTER_NEAREST)
    return _resize_flow(back, (height, width)), conf


def _resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow resampled to ``size`` = ``(h, w)`` (area when shrinking, bilinear when enlarging), in its pixels."""
    if flow.shape[:2] == tuple(size):
        return flow
    interp = cv2.INTER_AREA if size[0] * size[1] < flow.shape[0] * flow.shape[1] else cv2.INTER_LINEAR
    out = cv2.resize(flow, (size[1], size[0]), interpolation=interp)
    out[..., 0] *= size[1] / flow.shape[1]
    out[..., 1] *= size[0] / flow.shape[0]
    return out
