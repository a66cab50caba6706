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

The thresholds were re-chosen with the detail restoration of :mod:`.detail` and ``keep`` 0.9, on
the whole clip (240 frames, 640 × 360) and the bench's ghost clips (14 and 28 px per frame):

=============  ===================================  ==========================
thresholds     warping error × per-frame (cutBunny)  ghost ratio (14 / 28 px)
=============  ===================================  ==========================
0.06–0.2       0.300                                0.24 / 0.03
**0.08–0.25**  **0.286**                            **0.28 / 0.07**
0.1–0.3        0.280                                0.34 / 0.11
=============  ===================================  ==========================

(A ghost ratio ≤ 1 means the uncovered background is as close to per-frame as far background.)

:func:`photometric_confidence` catches every such case from the inputs alone: the previous *input*
frame, carried along the same flow, must look like the current input frame. Where it does not
(colour differences above a few per cent), the carried result is not to be trusted either.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["photometric_confidence", "photometric_match", "PHOTOMETRIC_LOW", "PHOTOMETRIC_HIGH"]

#: Mean absolute RGB difference (display sRGB, 0–1) up to which the flow is fully trusted ...
PHOTOMETRIC_LOW = 0.08
#: ... and from which it is not trusted at all (linear in between).
PHOTOMETRIC_HIGH = 0.25
#: A dilation radius (px): a failing pixel distrusts its neighbours too, since a ghost's edge
#: passes the check where the object and the background happen to match in colour.
GROW = 2

_MEAN3 = np.full((1, 3), 1 / 3, np.float32)


def photometric_confidence(prev_frame: torch.Tensor, frame: torch.Tensor, flow_t_to_prev: np.ndarray) -> np.ndarray:
    """How well ``prev_frame`` warped along ``flow_t_to_prev`` matches ``frame``, per pixel.

    Args:
        prev_frame: ``(1, 3, H, W)`` input frame ``t − 1``, display sRGB in [0, 1].
        frame: ``(1, 3, H, W)`` input frame ``t``.
        flow_t_to_prev: ``(H, W, 2)`` flow from frame ``t`` to ``t − 1`` (pixels).

    Returns:
        ``(H, W)`` float32 in [0, 1]: 1 where the colours agree within :data:`PHOTOMETRIC_LOW`,
        0 where they differ by :data:`PHOTOMETRIC_HIGH` or more (and within :data:`GROW` px of it).
        The frames are compared area-downsampled to :func:`core.video.motion.check_size` (half
        the motion's size; a ghost is never a sub-pixel detail) and the map is scaled back up.
    """
    from .flow import resize_motion, to_hwc as hwc
    from .motion import check_size

    height, width = flow_t_to_prev.shape[:2]
    small = check_size(height, width)
    prev, cur, flow = hwc(prev_frame), hwc(frame), flow_t_to_prev
    if small != (height, width):
        prev = cv2.resize(prev, small[::-1], interpolation=cv2.INTER_AREA)
        cur = cv2.resize(cur, small[::-1], interpolation=cv2.INTER_AREA)
        flow, _ = resize_motion(flow, np.ones((height, width), np.float32), small)
    conf = photometric_match(prev, cur, flow, scale=small[1] / width)
    if small != (height, width):
        conf = np.clip(cv2.resize(conf, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return conf


def photometric_match(prev: np.ndarray, cur: np.ndarray, flow_t_to_prev: np.ndarray, *,
                      scale: float = 1.0) -> np.ndarray:
    """:func:`photometric_confidence` on frames already at the size of the check.

    Args:
        prev, cur: ``float32 (h, w, 3)`` input frames ``t − 1`` and ``t``, display sRGB in [0, 1].
        flow_t_to_prev: ``(h, w, 2)`` flow at that size (pixels of that size).
        scale: This size ÷ the frames' full size (the dilation of :data:`GROW` px is scaled with it).

    Returns:
        ``(h, w)`` float32 in [0, 1].
    """
    from .flow import _remap

    diff = cv2.transform(cv2.absdiff(_remap(prev, flow_t_to_prev), cur), _MEAN3)
    conf = np.clip((PHOTOMETRIC_HIGH - diff) / (PHOTOMETRIC_HIGH - PHOTOMETRIC_LOW), 0.0, 1.0).astype(np.float32)
    grow = max(1, round(GROW * scale)) if GROW else 0
    if grow:
        conf = cv2.erode(conf, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return conf
