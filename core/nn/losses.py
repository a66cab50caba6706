"""Perceptual losses: content, Gram style (optionally masked), total variation and periodic grid energy.

Pure maths on tensors; the Gatys solver combines them. Conventions:

- Gram matrix of features ``F`` of shape ``(B, C, H, W)``: ``G = F F^T / (C·H·W)`` per batch
  element, so its scale does not depend on the image size (tiles and pyramid levels compare).
- A masked Gram weights each position by ``m`` (``(B, 1, H, W)`` in [0, 1]) and normalises by
  ``C·Σm`` — the guided Gram of Gatys et al. 2017.
- Content loss: mean squared error of features. Style loss: mean squared error of Grams.
- Total variation: mean of squared differences between neighbouring pixels.
- Grid energy: the share of an image's high-frequency energy that repeats with a fixed period
  (the artefact of a network that works on a coarser grid), as ``bench/image_metrics.grid_score``
  measures it.

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


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (``(B, C, H, W)``; radius ``⌈3σ⌉``)."""
    radius = max(1, int(-(-3 * sigma // 1)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = image.shape[1]
    out = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                   groups=c)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                    groups=c)


def grid_energy(image: torch.Tensor, period: int, relative: bool = True) -> torch.Tensor:
    """Share of the high-pass energy of ``image`` that repeats every ``period`` pixels (0 for none).

    The luma's high-pass (minus a Gaussian blur of σ = period/2) is split into its ``period²``
    phases (the pixel's position modulo the period, counted from the top-left, where a network's
    coarse grid starts); the mean of each phase over the image is the periodic pattern. Returns
    the mean square of those phase means divided by the mean square of the high-pass, averaged
    over the batch: about ``1 / cells`` for a photo, far more for a grid. Differentiable, so a
    training loss can push a network's grid away; ``bench/image_metrics.grid_score`` is the same
    statistic in dB over chance. ``relative=False`` returns the phase means' mean square itself,
    in 8-bit levels² (an image in [0, 1] × 255): the form to train on, since a share can also be
    lowered by adding non-periodic noise to the denominator. A photo's is about 0.1, a grid one
    sees at 600 % about 3.

    Shape:
        ``image``: ``(B, 3, H, W)`` with ``H, W ≥ 4 · period``; sides that are not multiples of
        ``period`` lose their last partial cells.
    """
    _check_features(image, "grid_energy")
    if period < 2:
        raise InputError(f"grid_energy: period must be ≥ 2, got {period}")
    b, _, h, w = image.shape
    h, w = h // period * period, w // period * period
    if h < 4 * period or w < 4 * period:
        raise InputError(f"grid_energy needs at least {4 * period} px a side for period {period}, got "
                         f"{tuple(image.shape[-2:])}")
    luma = (image[:, :, :h, :w].float() * image.new_tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)).sum(1, True)
    high = luma - _gaussian_blur(luma, period / 2.0)
    phases = high.reshape(b, h // period, period, w // period, period).mean(dim=(1, 3))
    periodic = phases.pow(2).mean(dim=(1, 2))
    if not relative:
        return periodic.mean() * 255.0**2
    return (periodic / high.pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)).mean()
