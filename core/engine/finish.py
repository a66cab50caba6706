"""After the network: colour preservation and scaling back to the frame's size, for every method."""

from __future__ import annotations

import torch

from ..imaging.color_preservation import combine_luminance, match_color_histogram
from ..imaging.resize import resize

__all__ = ["finish_frame"]


def finish_frame(out: torch.Tensor, frame: torch.Tensor, size: tuple[int, int], *, method: str,
                 preserve_color: str) -> torch.Tensor:
    """Colour preservation (Gatys does its own inside the optimisation) and scaling to ``size``.

    Args:
        out: The engine's result, display sRGB in [0, 1].
        frame: The frame the engine saw, same size as ``out``.
        size: ``(H, W)`` of the result to return.
        method: ``"stylebank"``, ``"gatys"`` or ``"analogy"``.
        preserve_color: ``"none"``, ``"luminance"`` or ``"histogram"``.

    Returns:
        ``(1, 3, H, W)`` in [0, 1].

    Shape:
        - out, frame: ``(1, 3, h, w)``
    """
    if method != "gatys" and preserve_color == "luminance":
        out = combine_luminance(out, frame)
    elif method != "gatys" and preserve_color == "histogram":
        out = match_color_histogram(out, frame)
    if tuple(out.shape[-2:]) != tuple(size):
        out = resize(out, tuple(size)).clamp(0, 1)
    return out
