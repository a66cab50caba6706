"""StyleBank inference: single style, linear fusion, region fusion, strength — any input size.

Given encoder features ``f = E(I)`` and the banks' outputs ``K_i(f)``:

- linear fusion: ``F = Σ_i w_i K_i(f)`` with ``Σ w_i = 1`` (Chen et al. 2017, §5.2);
- region fusion: masks ``m_i`` (area-resampled to the feature resolution, soft edges allowed) pick
  the bank per region: ``F = Σ_i w_i m_i K_i(f) / Σ_i w_i m_i`` where the masks cover the pixel, and
  the unstylised ``f`` where no mask does (coverage ``c = min(Σ_i m_i, 1)`` blends the two);
- strength ``s``: ``F' = s·F + (1 − s)·f``, between the identity branch (0) and the style (1).

Inputs of any size are reflection-padded to a multiple of 8 (``SIZE_MULTIPLE``) and the result is cropped back.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError
from .net import MIN_SIZE, SIZE_MULTIPLE, StyleBankNet


def normalise_weights(weights: list[float] | None, count: int) -> list[float]:
    """Blend weights summing to 1 (equal when ``None``).

    Raises:
        InputError: Wrong count, negative or non-finite values, or a zero sum.
    """
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise InputError(f"{len(weights)} style weights for {count} styles; give one weight per style")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"style weights must be ≥ 0 with a positive sum, got {list(weights)}")
    total = sum(weights)
    return [w / total for w in weights]


def bank_fusion(
    features: torch.Tensor,
    bank_outputs: list[torch.Tensor],
    weights: list[float],
    masks: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Combine bank outputs in feature space.

    Args:
        features: ``f = E(I)``, ``(B, C, h, w)``.
        bank_outputs: ``K_i(f)``, each ``(B, C, h, w)``.
        weights: Normalised blend weights, one per bank.
        masks: Optional ``(B or 1, 1, h, w)`` masks in [0, 1] at the feature resolution.

    Returns:
        Fused features ``(B, C, h, w)``.
    """
    if masks is None:
        return sum(w * k for w, k in zip(weights, bank_outputs))
    weighted = [w * m for w, m in zip(weights, masks)]
    total = sum(weighted)
    fused = sum(m * k for m, k in zip(weighted, bank_outputs)) / total.clamp_min(1e-6)
    coverage = sum(masks).clamp(0.0, 1.0)
    return coverage * fused + (1.0 - coverage) * features


def stylebank_features(
    net: StyleBankNet,
    image: torch.Tensor,
    styles: list[str],
    *,
    weights: list[float] | None = None,
    masks: list[torch.Tensor] | None = None,
    strength: float = 1.0,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The fused, strength-blended features the decoder turns into the stylised image.

    Video propagation works on these (``core.video.online`` warps the previous frame's features); a still
    image goes straight on to :func:`stylebank_decode`.

    Args:
        net: The network (eval mode; on the device to compute on).
        image: ``(B, 3, H, W)`` display sRGB in [0, 1], any ``H, W ≥ 1``.
        styles: Bank names.
        weights: Blend weights (normalised here); equal when omitted.
        masks: Optional ``(B or 1, 1, H, W)`` masks at the image resolution, one per style.
        strength: 0 = identity branch, 1 = full style.

    Returns:
        ``(features, (H, W))``: features ``(B, C, H'/8, W'/8)`` of the input padded to ``(H', W')``
        (bottom/right padding to a multiple of :data:`SIZE_MULTIPLE`, at least :data:`MIN_SIZE`), and
        the original size for :func:`stylebank_decode` to crop back to.

    Raises:
        InputError: Unknown style, count mismatches, bad shapes, strength outside [0, 1].
    """
    if not styles:
        raise InputError("name at least one style")
    unknown = [s for s in styles if s not in net.banks]
    if unknown:
        raise InputError(f"unknown style(s) {unknown}; this model has: {', '.join(net.styles) or 'none'}")
    if not 0.0 <= strength <= 1.0 or not math.isfinite(strength):
        raise InputError(f"strength must be in [0, 1], got {strength}")
    if image.dim() != 4 or image.shape[1] != 3:
        raise InputError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
    w = normalise_weights(weights, len(styles))
    h, wd = image.shape[-2:]
    if masks is not None:
        if len(masks) != len(styles):
            raise InputError(f"{len(masks)} masks for {len(styles)} styles; give one mask per style")
        for i, m in enumerate(masks):
            if m.dim() != 4 or m.shape[1] != 1 or tuple(m.shape[-2:]) != (h, wd):
                raise InputError(f"mask {i + 1} is {tuple(m.shape)}; expected (B or 1, 1, {h}, {wd})")
    ph, pw = padding_for(h, wd)
    # channels-last: oneDNN's convolutions on a CPU run about 1.5× faster on it (bench/stylebank.py)
    x = pad_to_multiple(image, ph, pw).contiguous(memory_format=torch.channels_last)
    feats = _banded(net.encoder, x, 1, 4) if net.arch >= 3 else net.encoder(x)
    outs = [net.banks[s](feats) for s in styles]
    fmasks = None
    if masks is not None:
        fmasks = [
            F.interpolate(F.pad(m.to(x.dtype), (0, pw, 0, ph), mode="replicate") if (ph or pw) else m.to(x.dtype),
                          size=feats.shape[-2:], mode="area")
            for m in masks
        ]
    fused = bank_fusion(feats, outs, w, fmasks)
    if strength < 1.0:
        fused = strength * fused + (1.0 - strength) * feats
    return fused, (h, wd)


def padding_for(height: int, width: int) -> tuple[int, int]:
    """Bottom and right padding that make a ``height × width`` input fit the network."""
    return max((-height) % SIZE_MULTIPLE, MIN_SIZE - height), max((-width) % SIZE_MULTIPLE, MIN_SIZE - width)


def pad_to_multiple(t: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom/right (reflect where the image is big enough, else replicate)."""
    if not (ph or pw):
        return t
    mode = "reflect" if min(t.shape[-2:]) > max(ph, pw) else "replicate"
    return F.pad(t, (0, pw, 0, ph), mode=mode)


def stylebank_decode(net: StyleBankNet, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Decode features from :func:`stylebank_features` to ``(B, 3, H, W)`` in [0, 1] at ``size`` (contiguous)."""
    out = _banded(net.decoder, features, 4, 1) if net.arch >= 3 else net.decoder(features)
    return out[..., : size[0], : size[1]].contiguous()


#: Rows (at the bottleneck's resolution) of one band of :func:`_banded`, and the context rows each
#: band also computes on both sides (more than E's and D's receptive fields: 6 bottleneck rows).
BAND_ROWS, BAND_HALO = 32, 6
#: Frames of fewer pixels run in one piece: their tensors fit the caches, and the halos would cost
#: more than they save (512² took 0.14 s banded, 0.08 s whole).
BAND_MIN_PIXELS = 1 << 20


def _banded(module: torch.nn.Module, x: torch.Tensor, up: int, down: int) -> torch.Tensor:
    """``module(x)`` computed in horizontal bands, for E and D of architectures 3 and 4.

    Large frames spend most of their time moving memory: E's and D's full-width 1/2-resolution
    tensors (24 channels at 1080p: 50 MB each) leave the caches between layers, and every new one
    is fresh pages. In bands of :data:`BAND_ROWS` bottleneck rows they stay small: D at 1080p took
    0.60 s instead of 1.01 s on a 2-core CPU. Each band carries :data:`BAND_HALO` rows of context
    on each side, more than the receptive field (E and D have no normalisation: nothing global), so
    the result is the same as in one piece (tested).

    Args:
        module: E (``up = 1, down = 4``: image → bottleneck) or D (``up = 4, down = 1``).
        x: Its input, ``(B, C, H, W)``, ``H`` a multiple of ``down``.
    """
    rows = x.shape[-2] // down  # bottleneck rows
    if rows <= 2 * BAND_ROWS or x.shape[-2] * x.shape[-1] * (up * up) < BAND_MIN_PIXELS:
        return module(x)
    bands = []
    for y0 in range(0, rows, BAND_ROWS):
        y1 = min(rows, y0 + BAND_ROWS)
        a, b = max(0, y0 - BAND_HALO), min(rows, y1 + BAND_HALO)
        out = module(x[..., a * down : b * down, :])
        bands.append(out[..., (y0 - a) * up : (y1 - a) * up, :])
    return torch.cat(bands, dim=-2)


def stylebank_forward(net: StyleBankNet, image: torch.Tensor, styles: list[str], *, weights: list[float] | None = None,
                      masks: list[torch.Tensor] | None = None, strength: float = 1.0) -> torch.Tensor:
    """Stylise a batch with one style or a fusion of several.

    Arguments and errors as :func:`stylebank_features` (which this decodes).

    Returns:
        ``(B, 3, H, W)`` in [0, 1].
    """
    features, size = stylebank_features(net, image, styles, weights=weights, masks=masks, strength=strength)
    return stylebank_decode(net, features, size)
