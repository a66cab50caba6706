"""Overlapping tiles with feathered blending, so large images fit a memory budget without seams.

A tile grid covers the image with tiles of at most ``tile`` pixels per side that overlap by
``overlap`` pixels. Each tile's result is blended with a separable window that ramps linearly from
a small floor to 1 across the overlap on every side that has a neighbour (and is flat at the image
border), so the weights of neighbouring tiles cross-fade and no hard edge appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..foundation.errors import InputError


@dataclass(frozen=True)
class Tile:
    """A tile's pixel box: rows ``y0:y1`` and columns ``x0:x1``."""

    y0: int
    y1: int
    x0: int
    x1: int


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = -(-(length - overlap) // stride)  # ceil
    # Spread the tiles evenly so the last one ends exactly at the border.
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles covering an ``height × width`` image.

    Args:
        height, width: Image size.
        tile: Maximum tile side in pixels.
        overlap: Minimum overlap between neighbouring tiles (``0 <= overlap < tile / 2``).

    Raises:
        InputError: ``tile`` or ``overlap`` out of range.
    """
    if tile < 16:
        raise InputError(f"tile size must be at least 16 px, got {tile}")
    if not 0 <= overlap < tile // 2:
        raise InputError(f"tile overlap must be in [0, {tile // 2}), got {overlap}")
    return [
        Tile(y, min(y + tile, height), x, min(x + tile, width))
        for y in _starts(height, tile, overlap)
        for x in _starts(width, tile, overlap)
    ]


def _ramp(length: int, start: bool, end: bool, overlap: int, floor: float) -> torch.Tensor:
    w = torch.ones(length)
    n = min(overlap, length // 2)
    if n > 0:
        r = torch.linspace(floor, 1.0, n + 2)[1:-1]
        if start:
            w[:n] = r
        if end:
            w[length - n :] = r.flip(0)
    return w


def feather_window(tile: Tile, height: int, width: int, overlap: int, floor: float = 1e-3) -> torch.Tensor:
    """Blend weights ``(1, 1, h, w)`` for a tile: ramps on sides that touch a neighbour."""
    wy = _ramp(tile.y1 - tile.y0, tile.y0 > 0, tile.y1 < height, overlap, floor)
    wx = _ramp(tile.x1 - tile.x0, tile.x0 > 0, tile.x1 < width, overlap, floor)
    return (wy[:, None] * wx[None, :])[None, None]


class TileBlender:
    """Accumulates feathered tile results into one image.

    Args:
        shape: ``(B, C, H, W)`` of the full image.
        overlap: The grid's overlap (ramp length).
        device: Where the accumulators live.
    """

    def __init__(self, shape: tuple[int, int, int, int], overlap: int, device: torch.device | str = "cpu") -> None:
        self.height, self.width = shape[-2], shape[-1]
        self.overlap = overlap
        self.acc = torch.zeros(shape, device=device)
        self.weight = torch.zeros((1, 1, self.height, self.width), device=device)

    def add(self, tile: Tile, result: torch.Tensor) -> None:
        """Blend ``result`` (``(B, C, h, w)``) into the tile's box."""
        win = feather_window(tile, self.height, self.width, self.overlap).to(self.acc.device)
        self.acc[:, :, tile.y0 : tile.y1, tile.x0 : tile.x1] += result.detach().to(self.acc.dtype) * win
        self.weight[:, :, tile.y0 : tile.y1, tile.x0 : tile.x1] += win

    def result(self) -> torch.Tensor:
        """The blended image; every pixel must have been covered by at least one tile."""
        return self.acc / self.weight.clamp_min(1e-12)
