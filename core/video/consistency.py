"""Does the motion explain the pictures? A photometric check on any flow, against ghost trails.

The confidences of :mod:`core.video.flow` judge a flow by itself: forward–backward consistency,
motion boundaries, depth. A flow can pass all of them and still be wrong. DIS optical flow misses a
fast object (it moves farther than the coarsest pyramid level sees), and both directions then agree
on the background's motion across the object's old place; the previous result, carried along it,
leaves a ghost of the object behind it for as long as ``keep`` remembers it. Measured on a
synthetic clip (a 70 px textured object crossing a photo at 14 px per frame, 320 × 180,
StyleBank ``la_muse``): the uncovered background differed from its per-frame stylisation 2.5×
more than far-away background did; with this check, 0.6× as much. The price on a clip where DIS is
right (``cutBunny.mp4``, 48 frames, 320 × 180): warping error 0.21× per-frame instead of 0.14×
(thresholds 0.04–0.12 gave 0.5× and 0.30×; 0.1–0.3 gave 0.8× and 0.17×).

:func:`photometric_confidence` catches every such case from the inputs alone: the previous *input*
frame, carried along the same flow, must look like the current input frame. Where it does not
(colour differences above a few per cent), the carried result is not to be trusted either.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["photometric_confidence", "PHOTOMETRIC_LOW", "PHOTOMETRIC_HIGH"]

#: Mean absolute RGB difference (display sRGB, 0–1) up to which the flow is fully trusted ...
PHOTOMETRIC_LOW = 0.06
#: ... and from which it is not trusted at all (linear in between).
PHOTOMETRIC_HIGH = 0.2
#: A dilation radius (px): a failing pixel distrusts its neighbours too, since a ghost's edge
#: passes the check where the object and the background happen to match in colour.
GROW = 2
#: Frames are compared at this long side at most (a ghost is never a sub-pixel detail): a 1080p
#: frame is checked at half resolution, four times faster.
CHECK_LONG_SIDE = 960


def photometric_confidence(prev_frame: torch.Tensor, frame: torch.Tensor, flow_t_to_prev: np.ndarray) -> np.ndarray:
    """How well ``prev_frame`` warped along ``flow_t_to_prev`` matches ``frame``, per pixel.

    Args:
        prev_frame: ``(1, 3, H, W)`` input frame ``t − 1``, display sRGB in [0, 1].
        frame: ``(1, 3, H, W)`` input frame ``t``.
        flow_t_to_prev: ``(H, W, 2)`` flow from frame ``t`` to ``t − 1`` (pixels).

    Returns:
        ``(H, W)`` float32 in [0, 1]: 1 where the colours agree within :data:`PHOTOMETRIC_LOW`,
        0 where they differ by :data:`PHOTOMETRIC_HIGH` or more (and within :data:`GROW` px of it).
        Frames larger than :data:`CHECK_LONG_SIDE` are compared area-downsampled (bilinear warp),
        and the map is scaled back up.
    """
    from .flow import _remap, resize_motion

    def hwc(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t[0].detach().float().cpu().permute(1, 2, 0).numpy())

    height, width = flow_t_to_prev.shape[:2]
    scale = min(1.0, CHECK_LONG_SIDE / max(height, width))
    prev, cur, flow = hwc(prev_frame), hwc(frame), flow_t_to_prev
    if scale < 1.0:
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        prev = cv2.resize(prev, small, interpolation=cv2.INTER_AREA)
        cur = cv2.resize(cur, small, interpolation=cv2.INTER_AREA)
        flow, _ = resize_motion(flow, np.ones((height, width), np.float32), small[::-1])
    diff = cv2.transform(cv2.absdiff(_remap(prev, flow), cur), np.full((1, 3), 1 / 3, np.float32))
    conf = np.clip((PHOTOMETRIC_HIGH - diff) / (PHOTOMETRIC_HIGH - PHOTOMETRIC_LOW), 0.0, 1.0).astype(np.float32)
    grow = max(1, round(GROW * scale)) if GROW else 0
    if grow:
        conf = cv2.erode(conf, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    if scale < 1.0:
        conf = np.clip(cv2.resize(conf, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return conf
