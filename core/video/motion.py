"""DIS motion between consecutive input frames, with every check on it, at the sizes measured to suffice.

:class:`~.online.OnlineStylizer` asks, for each frame ``t``, where frame ``t − 1``'s result should be
carried (the flow ``t → t−1``) and how far that can be trusted (the confidence). This module is the
one place that decides at which size each part of that answer is computed, and it prepares each
input frame's small copies once, so the previous frame's are reused rather than recomputed:

* **Flow and its forward–backward check** at the frame's size, long side at most
  :data:`MOTION_LONG_SIDE`. Halving it was measured to cost steadiness: on ``cutBunny.mp4``
  (48 frames, 640 × 360, StyleBank ``la_muse``, DIS ``fast``) the warping error went from 0.21× to
  0.31× per-frame with everything at half size, and to 0.33× with only the forward flow at half
  size; the ``ultrafast`` preset gave 0.30×.
* **The photometric check** (:mod:`.consistency`) at half that size, long side not below
  :data:`CHECK_MIN_LONG_SIDE`: a ghost is never a sub-pixel detail, and the same clip's warping
  error stayed at 0.20× (0.21× at full size) while the check costs a quarter.

Frames are display sRGB ``(1, 3, H, W)`` tensors in [0, 1] (the pixel contract); flows follow
:mod:`.flow`'s convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .consistency import photometric_match
from .flow import DISFlow, confidence, resize_motion

__all__ = ["CHECK_MIN_LONG_SIDE", "MOTION_LONG_SIDE", "FrameAnalysis", "analyse", "check_size", "dis_motion",
           "motion_size", "scaled_size"]

#: DIS flow and its consistency check run at this long side at most (a 1080p frame at half size).
MOTION_LONG_SIDE = 960
#: The photometric check runs at half the motion's size, but its long side stays at least this.
CHECK_MIN_LONG_SIDE = 320

def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """``(h, w)`` with the long side at most ``long_side`` (never enlarged), aspect kept."""
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def motion_size(height: int, width: int) -> tuple[int, int]:
    """The size at which DIS flow and its forward–backward check are computed."""
    return scaled_size(height, width, MOTION_LONG_SIDE)


def check_size(height: int, width: int) -> tuple[int, int]:
    """The size at which the photometric check is computed: half the motion size, not too small."""
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
    rgb = np.ascontiguousarray(frame[0].detach().float().cpu().permute(1, 2, 0).numpy())
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
    conf = confidence(back, fwd, soft=True)
    if photometric:
        small_flow, _ = resize_motion(back, conf, cur.small.shape[:2])
        photo = photometric_match(prev.small, cur.small, small_flow, scale=cur.small.shape[1] / width)
        if photo.shape != conf.shape:
            photo = cv2.resize(photo, (conf.shape[1], conf.shape[0]), interpolation=cv2.INTER_LINEAR)
        conf = cv2.multiply(conf, photo)
    return resize_motion(back, conf, (height, width))
