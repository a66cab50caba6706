"""Stroke size that does not depend on the resolution: a pyramid of passes joined band by band.

A feed-forward network draws strokes of a fixed size *in pixels* (its receptive field), so the same
style at 1920 px has strokes a quarter as large, relative to the picture, as at 512 px. Here the
network runs at a **reference size** — the long side at which the model's strokes have the size
the artist picked (the model's ``stroke_reference``, divided by the *stroke* setting) — and, where
the output is larger, again at sizes that grow by at most :data:`MAX_RATIO` up to the output size. The passes are joined as a
Laplacian pyramid: the smallest pass gives everything up to its own Nyquist frequency (the strokes,
their colours, the layout), and each larger pass adds only the octave its predecessor could not
hold (stroke edges and fine content detail, drawn by the network at that scale):

    out_0 = P_0,    out_k = up(out_{k−1}) + (P_k − up(down(P_k)))

with ``down`` an area average to the previous pass's size and ``up`` a bilinear resize. A pass's
strokes (8–16 px at its size; at 1920 px, 120–240 cycles across the picture) lie below the band it
contributes (above the 512 px pass's Nyquist frequency, 256 cycles), so they do not appear twice at
two sizes; the result at 1920 px looks like the 512 px picture, not blurred. A ratio of 2 between
passes (three at 1080p) gave pictures that differ by 1.6/255 on average from a ratio of 4 (two
passes) and cost 34 % more instead of 7 %. Where the output is
smaller than the reference size, the network runs at the reference size and the result is
area-averaged down, so a preview looks like the final render.

Cost of the pyramid, relative to one pass at the output size: 1 + (512/1920)² ≈ 1.07× at 1080p
(``bench/stylebank.py`` times the product's path).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from ..requests.checks import check_number
from ..requests.stylize import STROKE_RANGE

#: Largest size ratio between two consecutive passes of the pyramid.
MAX_RATIO = 4.0
#: Output sizes within this factor of the reference size run as one pass at the output size.
SNAP = 1.1


def reference_long_side(stroke_reference: int | None, stroke: float) -> int | None:
    """The long side at which the network runs for a ``stroke`` setting (``None``: the output size).

    Raises:
        InputError: ``stroke`` outside :data:`STROKE_RANGE`.
    """
    check_number(stroke, "stroke size", low=STROKE_RANGE[0], high=STROKE_RANGE[1], setting="stroke")
    if stroke_reference is None:
        return None
    return max(16, round(stroke_reference / stroke))


def pass_sizes(size: tuple[int, int], reference: int | None) -> list[tuple[int, int]]:
    """The ``(H, W)`` of every pass, smallest first, for an output of ``size`` (last = ``size`` if larger).

    ``reference`` ``None`` (a model without a stroke reference) gives one pass at ``size``.
    """
    h, w = size
    long_side = max(h, w)
    if reference is None or reference / SNAP <= long_side <= reference * SNAP:
        return [(h, w)]

    def scaled(side: float) -> tuple[int, int]:
        s = side / long_side
        return max(1, round(h * s)), max(1, round(w * s))

    if long_side < reference:
        return [scaled(reference)]
    count = math.ceil(math.log(long_side / reference) / math.log(MAX_RATIO) - 1e-9)
    ratio = (long_side / reference) ** (1.0 / count)
    return [scaled(reference * ratio**k) for k in range(count)] + [(h, w)]


def _down(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(t, size=size, mode="area")


def _up(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)


def join_passes(passes: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Join the passes' images (smallest first, as :func:`pass_sizes`) into one ``(B, C, *size)`` image."""
    out = passes[0]
    for p in passes[1:]:
        # up(out) + (p − up(down(p))), with one resize at the larger size (up is linear)
        out = p + _up(out - _down(p, tuple(out.shape[-2:])), tuple(p.shape[-2:]))
    if tuple(out.shape[-2:]) != tuple(size):
        out = _down(out, size) if out.shape[-2] >= size[0] else _up(out, size)
    return out


def resize_to(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average down or bilinear up to ``size`` (a no-op at the same size) — images and masks of a pass."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return _down(t, size) if t.shape[-2] >= size[0] and t.shape[-1] >= size[1] else _up(t, size)


def multiscale(image: torch.Tensor, reference: int | None,
               run_pass: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Run ``run_pass(index, image at the pass's size)`` for every pass and join the results.

    Args:
        image: ``(B, 3, H, W)``.
        reference: Long side of the smallest pass (:func:`reference_long_side`); ``None`` = one pass.
        run_pass: Stylises one pass (the index lets a video keep per-pass state).

    Returns:
        ``(B, 3, H, W)``, not clamped.
    """
    size = tuple(image.shape[-2:])
    outs = [run_pass(i, resize_to(image, s)) for i, s in enumerate(pass_sizes(size, reference))]
    return join_passes(outs, size)
