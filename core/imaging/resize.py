"""Image resizing for the pixel contract ``(B, C, H, W)`` float tensors."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError


def size_for_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """``(H, W)`` scaled so the longer side equals ``long_side`` (aspect kept, each side ≥ 1)."""
    if long_side < 1:
        raise InputError(f"size must be a positive number of pixels, got {long_side}")
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to ``size`` = ``(H, W)``: antialiased bilinear when shrinking, bicubic when enlarging.

    Shape:
        ``(B, C, H, W)`` → ``(B, C, size[0], size[1])``.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    if shrinking:
        return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize so the longer side equals ``long_side``."""
    return resize(image, size_for_long_side(image.shape[-2], image.shape[-1], long_side))
