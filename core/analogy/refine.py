"""Photo refinement for Deep Image Analogy: the colour guided filter.

A′ is replaced by a local affine colour transform of A fitted to A′ (guide A), which keeps A's
exact edges and takes A′'s colours — meant for photo-to-photo transfer where voting blurs or
distorts structure.

References:
    He, Sun, Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError

__all__ = ["guided_filter"]


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a ``(2r+1)²`` window, normalised by the number of pixels inside the image."""
    return F.avg_pool2d(x, 2 * r + 1, 1, r, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Colour guided filter: a per-window affine map of ``guide``'s colours fitted to ``src``.

    For each window ``ω`` the output is ``a_ω·I + b_ω`` with the ``3 × 3`` matrix ``a`` and
    offset ``b`` minimising ``Σ_ω ‖a·I + b − p‖² + ε‖a‖²``; coefficients are averaged over the
    windows covering a pixel (He et al. 2013, eq. 19–21).

    Args:
        guide: ``(1, 3, H, W)`` guidance image ``I``.
        src: ``(1, C, H, W)`` image ``p`` to transfer.
        radius: Window radius in px.
        eps: Regularisation.

    Returns:
        ``(1, C, H, W)``.
    """
    if guide.shape[-2:] != src.shape[-2:] or guide.shape[:2] != (1, 3):
        raise InputError(f"guide must be (1, 3, H, W) with src's size, got {tuple(guide.shape)} and {tuple(src.shape)}")
    i = guide.double()
    p = src.double()
    mean_i = _box(i, radius)  # (1, 3, H, W)
    mean_p = _box(p, radius)  # (1, C, H, W)
    c = p.shape[1]
    # covariance of the guide, (H, W, 3, 3)
    ii = torch.stack([_box(i[:, a : a + 1] * i, radius)[0] for a in range(3)], 0)  # (3, 3, H, W)
    cov = ii - mean_i[0][:, None] * mean_i[0][None, :]
    cov = cov.permute(2, 3, 0, 1) + eps * torch.eye(3, dtype=cov.dtype, device=cov.device)
    # cross-covariance guide/src, (H, W, 3, C)
    ip = torch.stack([_box(i[:, a : a + 1] * p, radius)[0] for a in range(3)], 0)  # (3, C, H, W)
    cross = (ip - mean_i[0][:, None] * mean_p[0][None, :]).permute(2, 3, 0, 1)
    a = torch.linalg.solve(cov, cross)  # (H, W, 3, C)
    b = mean_p[0].permute(1, 2, 0) - (a * mean_i[0].permute(1, 2, 0)[..., None]).sum(-2)  # (H, W, C)
    a_map = a.reshape(*a.shape[:2], 3 * c).permute(2, 0, 1)[None]
    mean_a = _box(a_map, radius)[0].permute(1, 2, 0).reshape(*a.shape)
    mean_b = _box(b.permute(2, 0, 1)[None], radius)[0].permute(1, 2, 0)
    q = (mean_a * i[0].permute(1, 2, 0)[..., None]).sum(-2) + mean_b
    return q.permute(2, 0, 1)[None].to(src.dtype)
