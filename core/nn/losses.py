"""Perceptual losses: content, Gram style (optionally masked) and total variation.

Pure maths on tensors; the Gatys solver combines them. Conventions:

- Gram matrix of features ``F`` of shape ``(B, C, H, W)``: ``G = F F^T / (C·H·W)`` per batch
  element, so its scale does not depend on the image size (tiles and pyramid levels compare).
- A masked Gram weights each position by ``m`` (``(B, 1, H, W)`` in [0, 1]) and normalises by
  ``C·Σm`` — the guided Gram of Gatys et al. 2017.
- Content loss: mean squared error of features. Style loss: mean squared error of Grams.
- Total variation: mean of squared differences between neighbouring pixels.

References:
    Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
    Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError


def _check_features(x: torch.Tensor, what: str) -> None:
    if x.dim() != 4:
        raise InputError(f"{what} expects features of shape (B, C, H, W), got {x.dim()} dims {tuple(x.shape)}")


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised Gram matrix, optionally weighted by a spatial mask.

    Args:
        features: ``(B, C, H, W)``.
        mask: Optional ``(B, 1, H, W)`` or ``(1, 1, H, W)`` weights in [0, 1] at the features'
            resolution.

    Returns:
        ``(B, C, C)`` float32 Gram matrices.
    """
    _check_features(features, "gram_matrix")
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    if mask is None:
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)
    if mask.dim() != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != (h, w) or mask.shape[0] not in (1, b):
        raise InputError(f"gram_matrix: mask must be (B or 1, 1, {h}, {w}) for features {tuple(features.shape)}, "
                         f"got {tuple(mask.shape)}")
    m = mask.float().reshape(mask.shape[0], 1, h * w)
    denom = (m.sum(dim=2, keepdim=True) * c).clamp_min(1e-8)
    return torch.bmm(f * m, f.transpose(1, 2)) / denom


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between features and target features of the same shape."""
    _check_features(features, "content_loss")
    if features.shape != target.shape:
        raise InputError(f"content_loss: features {tuple(features.shape)} vs target {tuple(target.shape)}")
    return F.mse_loss(features.float(), target.float())


def normalised_content_loss(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                            layers: tuple[str, ...] | list[str]) -> torch.Tensor:
    """Σ over ``layers`` of :func:`content_loss` divided by the target features' mean square.

    The per-layer normalisation makes layers of different magnitudes count alike; StyleBank's
    training loss and its strength calibration both measure content this way.
    """
    return sum(content_loss(features[k], targets[k]) / max(float(targets[k].pow(2).mean()), 1e-12) for k in layers)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error between the (masked) Gram of ``features`` and a target Gram.

    Args:
        features: ``(B, C, H, W)``.
        target_gram: ``(B or 1, C, C)``.
        mask: Optional spatial weights at the features' resolution.
    """
    gram = gram_matrix(features, mask)
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise InputError(f"style_loss: Gram {tuple(gram.shape)} vs target {tuple(target_gram.shape)}")
    return F.mse_loss(gram, target_gram.expand_as(gram))


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between horizontally and vertically neighbouring pixels.

    Shape:
        ``image``: ``(B, C, H, W)`` with ``H, W >= 2``.
    """
    _check_features(image, "total_variation")
    if image.shape[-2] < 2 or image.shape[-1] < 2:
        raise InputError(f"total_variation needs H, W >= 2, got shape {tuple(image.shape)}")
    dh = image[:, :, 1:, :] - image[:, :, :-1, :]
    dw = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dh.pow(2).mean() + dw.pow(2).mean()


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-resample a ``(B, 1, H, W)`` mask to ``size`` (the features' ``(H_l, W_l)``)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="area") if mask.shape[-1] >= size[-1] else F.interpolate(
        mask, size=size, mode="bilinear", align_corners=False
    )
