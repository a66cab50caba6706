"""Render passes → the flow to the previous frame and its confidence: one policy for every front end.

A frame's passes (:class:`FramePasses`) are the renderer's Vector pass and, optionally, its
Depth pass. :func:`pass_motion` decides, for the CLI, the compositor node and Stylize Strip
alike, whether they describe the motion:

* no Vector pass, or one holding NaN/Inf → not usable;
* a Vector pass whose ``X, Y`` (motion to the previous frame) are all zero: Blender writes exactly
  this with motion blur on. When the front end knows the render had motion blur off
  (:attr:`FramePasses.exact`: the compositor node and scene strips read the scene's setting) it
  is a static frame and is used; otherwise it is not usable (a truly static shot loses nothing when
  optical flow decides instead);
* a Vector pass of another size than the frame → :class:`~core.foundation.errors.InputError`
  (the passes belong to another render);
* the previous frame's Vector pass (forward–backward check) and both Depth passes (occlusion)
  are used when they match the frame's size, and ignored otherwise.

Not usable means: the coherent stylizer estimates DIS optical flow from the frames instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..foundation.errors import InputError
from ..video.flow import all_finite, resize_motion, vector_confidence

__all__ = ["FramePasses", "pass_motion", "usable_vectors"]


@dataclass(frozen=True)
class FramePasses:
    """One frame's render passes as read (:mod:`core.video.render_passes`).

    Attributes:
        vectors: Blender's Vector pass ``(H, W, 4)`` (``X, Y, Z, W``), or None.
        depth: The Depth pass ``(H, W)``, or None.
        exact: The render had motion blur off, so the pass is the motion even where it is zero.
    """

    vectors: np.ndarray | None = None
    depth: np.ndarray | None = None
    exact: bool = False


def usable_vectors(vectors: np.ndarray | None, *, exact: bool = False) -> bool:
    """Whether a Vector pass can stand for the motion (see the module docstring)."""
    if vectors is None or not all_finite(vectors):
        return False
    return exact or bool(np.any(vectors[..., :2]))


def pass_motion(current: FramePasses | None, previous: FramePasses | None, frame_size: tuple[int, int],
                working: tuple[int, int], *, where: str = "") -> tuple[np.ndarray, np.ndarray] | None:
    """Flow ``t → t−1`` and its confidence at ``working`` size, or None when optical flow must decide.

    Args:
        current: Frame ``t``'s passes.
        previous: Frame ``t−1``'s passes (None: not known).
        frame_size: ``(H, W)`` of the frame the passes belong to.
        working: ``(h, w)`` at which the engine runs.
        where: Words naming the frame, for the size error (``"frame 12"``).

    Returns:
        ``(flow (h, w, 2), confidence (h, w))`` or None.

    Raises:
        InputError: The Vector pass has another size than the frame.
    """
    if current is None or current.vectors is None:
        return None
    vec = current.vectors
    if tuple(vec.shape[:2]) != tuple(frame_size):
        raise InputError(f"the Vector pass{' of ' + where if where else ''} is {vec.shape[1]}×{vec.shape[0]} but "
                         f"the frame is {frame_size[1]}×{frame_size[0]}; render the passes with the frames")
    if not usable_vectors(vec, exact=current.exact):
        return None
    prev_vec = prev_depth = None
    if previous is not None:
        if previous.vectors is not None and previous.vectors.shape == vec.shape \
                and all_finite(previous.vectors):
            prev_vec = previous.vectors
        prev_depth = previous.depth
    depth = current.depth
    both = depth is not None and prev_depth is not None and depth.shape == prev_depth.shape == vec.shape[:2]
    flow, conf = vector_confidence(vec, depth if both else None, prev_depth if both else None, vector_prev=prev_vec)
    return resize_motion(flow, conf, working)
