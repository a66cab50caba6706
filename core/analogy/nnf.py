"""Nearest-neighbour fields between grids: upsampling to a finer level, patch voting, colour coding.

An NNF is an ``int64`` tensor ``(H_A, W_A, 2)`` of ``(y, x)`` target coordinates (see
:mod:`.patch_space`).

References:
    Liao, Yao, Yuan, Hua, Kang, "Visual Attribute Transfer through Deep Image Analogy",
    SIGGRAPH 2017 (§4.3: NNF upsampling; §4.4: reconstruction by patch voting).
"""

from __future__ import annotations

import numpy as np
import torch

from .patch_space import as_chw, check_in_target, check_nnf, check_patch_size, clamp_targets

__all__ = ["nnf_to_color", "upsample_nnf", "vote"]


def upsample_nnf(
    nnf: torch.Tensor,
    new_hw: tuple[int, int],
    *,
    target_hw: tuple[int, int],
    old_target_hw: tuple[int, int],
) -> torch.Tensor:
    """Carry an NNF to a finer (or any) grid, keeping each pixel's sub-cell position.

    A new source pixel ``p′`` lies in old cell ``p``; its target is the old match ``q`` scaled
    to the new target grid plus ``p′``'s offset inside its cell:
    ``q′ = round((q + ½)·s_B + (p′ + ½ − (p + ½)·s_A) − ½)``, with ``s_A``, ``s_B`` the
    per-axis scale factors of the source and target grids. For exact doubling this is
    ``q′ = 2q + (p′ − 2p)``. Results are clamped into the new target grid.

    Args:
        nnf: ``(h, w, 2)`` int64 over the old source grid, targets in the old target grid.
        new_hw: ``(H, W)`` of the new source grid.
        target_hw: ``(H_B, W_B)`` of the new target grid.
        old_target_hw: ``(h_B, w_B)`` of the old target grid.

    Returns:
        ``(H, W, 2)`` int64.
    """
    nnf = check_nnf(nnf)
    oh, ow = nnf.shape[:2]
    dev = nnf.device
    out = []
    for axis, (n_new, n_old, t_new, t_old) in enumerate(
        ((new_hw[0], oh, target_hw[0], old_target_hw[0]), (new_hw[1], ow, target_hw[1], old_target_hw[1]))
    ):
        s_a, s_b = n_new / n_old, t_new / t_old
        pn = torch.arange(n_new, device=dev, dtype=torch.float64)
        po = ((pn + 0.5) / s_a).floor().clamp(0, n_old - 1)
        out.append((pn, po.long(), s_a, s_b, t_new))
    (py, oy, sa_y, sb_y, th), (px, ox, sa_x, sb_x, tw) = out
    q = nnf[oy][:, ox].double()  # (H, W, 2)
    qy = (q[..., 0] + 0.5) * sb_y + (py[:, None] + 0.5 - (oy[:, None].double() + 0.5) * sa_y) - 0.5
    qx = (q[..., 1] + 0.5) * sb_x + (px[None, :] + 0.5 - (ox[None, :].double() + 0.5) * sa_x) - 0.5
    res = torch.stack([qy.round().long(), qx.round().long()], -1)
    return clamp_targets(res, (th, tw))


def vote(image_b: torch.Tensor, nnf: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Reconstruct A from B's pixels by patch voting (averaging overlapping patches).

    Pixel ``p`` of the result is the mean, over the patches centred at ``c = p − o`` that cover
    it (``c`` inside A), of the B pixel they map it to: ``B(nnf(c) + o)`` (clamped to B). With
    ``patch_size = 1`` this is a plain warp ``B(nnf(p))``.

    Args:
        image_b: ``(C, H_B, W_B)`` or ``(1, C, H_B, W_B)``: pixels or features.
        nnf: ``(H_A, W_A, 2)`` int64 into B.
        patch_size: Odd patch side.

    Returns:
        Same rank as ``image_b``, spatial size ``(H_A, W_A)``, dtype of ``image_b``.
    """
    patch_size = check_patch_size(patch_size)
    nnf = check_nnf(nnf)
    batched = image_b.dim() == 4
    b = as_chw(image_b, "image_b")
    c, hb, wb = b.shape
    ha, wa = nnf.shape[:2]
    nnf = nnf.to(b.device)
    check_in_target(nnf, (hb, wb))
    table = b.permute(1, 2, 0).reshape(-1, c)
    acc = torch.zeros(ha, wa, c, device=b.device, dtype=b.dtype)
    count = torch.zeros(ha, wa, 1, device=b.device, dtype=b.dtype)
    r = patch_size // 2
    for oy in range(-r, r + 1):
        for ox in range(-r, r + 1):
            if abs(oy) >= ha or abs(ox) >= wa:
                continue
            # pixels p with centre c = p − o inside A: p in [max(0, o), min(H, H + o))
            py = slice(max(0, oy), ha + min(0, oy))
            px = slice(max(0, ox), wa + min(0, ox))
            cy = slice(max(0, -oy), ha - max(0, oy))
            cx = slice(max(0, -ox), wa - max(0, ox))
            q = nnf[cy, cx]
            ty = (q[..., 0] + oy).clamp(0, hb - 1)
            tx = (q[..., 1] + ox).clamp(0, wb - 1)
            vals = table.index_select(0, (ty * wb + tx).reshape(-1)).view(*ty.shape, c)
            acc[py, px] += vals
            count[py, px] += 1
    out = (acc / count).permute(2, 0, 1).contiguous()
    return out[None] if batched else out


def nnf_to_color(nnf: torch.Tensor, target_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Colour-code an NNF: red = target x, green = target y (0 → 0, last column/row → 255), blue 0.

    The identity field of a square image is a red-to-green ramp; a constant shift keeps the same
    ramp, shifted.

    Args:
        nnf: ``(H, W, 2)`` int64 in ``(y, x)`` order.
        target_hw: Size of the target grid; ``None`` → the NNF's own size.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    nnf = check_nnf(nnf).detach().cpu()
    th, tw = target_hw if target_hw is not None else nnf.shape[:2]
    y = nnf[..., 0].double() / max(th - 1, 1)
    x = nnf[..., 1].double() / max(tw - 1, 1)
    rgb = torch.stack([x, y, torch.zeros_like(x)], -1).clamp(0, 1)
    return (rgb * 255.0).round().to(torch.uint8).numpy()
