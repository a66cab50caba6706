"""Patch distances between deep feature maps, and the nearest-neighbour field (NNF) type.

A nearest-neighbour field (NNF) maps every pixel ``p`` of a source grid A to a pixel ``q`` of a
target grid B. It is stored as an ``int64`` tensor of shape ``(H_A, W_A, 2)`` holding ``(y, x)``
target coordinates.

Patch distance (Liao et al. 2017, eq. 3 — two pairs, bidirectional constraint)::

    d(p, q) = Σ_o ‖F̄_A(p+o) − F̄_B′(q+o)‖² + ‖F̄_A′(p+o) − F̄_B(q+o)‖²

over the ``k × k`` offsets ``o`` of a patch, with ``F̄`` the features divided by their per-pixel
channel norm. With one pair (``a2``/``b2`` omitted) only the first term is used. Patches reaching
past an image border read the nearest border pixel (replicate padding), on both sides, so every
target pixel is a valid match and the distance is defined everywhere.

How it is computed: each side is turned once into a padded, channels-last table in which one dot
product gives the whole per-pixel term: ``X = [−2a, |a|², 1]`` for a source pixel and
``Y = [b, 1, |b|²]`` for a target pixel, so ``X·Y = |a|² + |b|² − 2a·b = ‖a − b‖²`` exactly (also
for all-zero feature vectors, whose normalised norm is 0, not 1). The two pairs are concatenated
along channels. A candidate field is then scored by ``k²`` row gathers of both tables, streamed
in cache-sized chunks of pixels, so memory stays ``O(chunk)`` beyond the two tables — all-pairs
distances are never materialised (except in :func:`brute_force_nnf`, meant for tests).

Shared by :mod:`.patchmatch` (the search), :mod:`.nnf` (upsampling, voting) and
:mod:`.deep_analogy`.

References:
    Liao, Yao, Yuan, Hua, Kang, "Visual Attribute Transfer through Deep Image Analogy",
    SIGGRAPH 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError

__all__ = [
    "PatchSpace",
    "as_chw",
    "check_in_target",
    "check_nnf",
    "check_pairs",
    "check_patch_size",
    "clamp_targets",
    "nnf_distance",
    "prepare_patch_space",
    "score",
]


#: Floats gathered per chunk of a distance evaluation (about 2 MB: stays in cache).
_CHUNK_ELEMENTS = 1 << 19
#: Guards the per-pixel feature normalisation against division by zero.
EPS = 1e-8


@dataclass(frozen=True)
class PatchSpace:
    """Features of both sides prepared for patch distances (see the module docstring).

    Attributes:
        x: Source table, replicate-padded by ``r = patch_size // 2``, channels last.
        y: Target table, padded the same way.
        source_hw: ``(H_A, W_A)`` of the source grid.
        target_hw: ``(H_B, W_B)`` of the target grid.
        patch_size: Odd patch side ``k``.
        source_offsets: Flat offsets of the ``k²`` patch pixels in the padded source grid.
        target_offsets: Same for the padded target grid.

    Shape:
        - x: ``((H_A + 2r)·(W_A + 2r), D)``
        - y: ``((H_B + 2r)·(W_B + 2r), D)``
    """

    x: torch.Tensor
    y: torch.Tensor
    source_hw: tuple[int, int]
    target_hw: tuple[int, int]
    patch_size: int
    source_offsets: tuple[int, ...]
    target_offsets: tuple[int, ...]

    @property
    def device(self) -> torch.device:
        return self.x.device

    def source_base(self, flat: torch.Tensor) -> torch.Tensor:
        """Padded-table row of source pixels given by flat index ``y·W_A + x``."""
        r = self.patch_size // 2
        w = self.source_hw[1]
        return (flat // w + r) * (w + 2 * r) + (flat % w + r)

    def target_base(self, yx: torch.Tensor) -> torch.Tensor:
        """Padded-table row of target pixels ``(..., 2)`` in ``(y, x)`` order."""
        r = self.patch_size // 2
        return (yx[..., 0] + r) * (self.target_hw[1] + 2 * r) + (yx[..., 1] + r)


def as_chw(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3:
        raise InputError(f"{name} must be a (C, H, W) or (1, C, H, W) feature map, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise InputError(f"{name} must be floating point, got {t.dtype}")
    return t


def check_patch_size(patch_size: int) -> int:
    if not isinstance(patch_size, int) or patch_size < 1 or patch_size % 2 == 0:
        raise InputError(f"patch_size must be a positive odd number, got {patch_size!r}")
    return patch_size


def check_pairs(a, b, a2, b2) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if (a2 is None) != (b2 is None):
        raise InputError("a2 and b2 must be given together (the second pair of the distance)")
    sources = [as_chw(a, "a_feats")] + ([] if a2 is None else [as_chw(a2, "a2")])
    targets = [as_chw(b, "b_feats")] + ([] if b2 is None else [as_chw(b2, "b2")])
    for name, group in (("source", sources), ("target", targets)):
        if len({tuple(t.shape[1:]) for t in group}) != 1:
            raise InputError(f"{name} feature maps differ in size: {[tuple(t.shape) for t in group]}")
    for s, t in zip(sources, targets):
        if s.shape[0] != t.shape[0]:
            raise InputError(f"paired feature maps have {s.shape[0]} and {t.shape[0]} channels; they must match")
    return sources, targets


def _table(maps: list[torch.Tensor], source: bool, r: int) -> torch.Tensor:
    """Channels-last, replicate-padded ``[−2u, |u|², 1]`` (source) or ``[u, 1, |u|²]`` (target) rows.

    Filled in place in the final buffer: the only transient is one normalised map at a time.
    """
    h, w = maps[0].shape[1:]
    depth = sum(m.shape[0] + 2 for m in maps)
    out = torch.empty(h + 2 * r, w + 2 * r, depth, device=maps[0].device, dtype=torch.float32)
    inner = out[r : r + h, r : r + w]
    c0 = 0
    for m in maps:
        c = m.shape[0]
        unit = m.float() / m.float().norm(dim=0, keepdim=True).clamp_min(EPS)
        sq = unit.pow(2).sum(0)
        inner[..., c0 : c0 + c] = unit.permute(1, 2, 0)
        if source:
            inner[..., c0 : c0 + c] *= -2.0
        inner[..., c0 + c] = sq if source else 1.0
        inner[..., c0 + c + 1] = 1.0 if source else sq
        c0 += c + 2
    if r:
        out[:r, r : r + w] = inner[:1]
        out[r + h :, r : r + w] = inner[-1:]
        out[:, :r] = out[:, r : r + 1]
        out[:, r + w :] = out[:, r + w - 1 : r + w]
    return out.view(-1, depth)


def prepare_patch_space(a_feats: torch.Tensor, b_feats: torch.Tensor, *, a2: torch.Tensor | None = None,
                        b2: torch.Tensor | None = None, patch_size: int) -> PatchSpace:
    """Build the padded tables for distances between A-side and B-side features.

    Args:
        a_feats: ``F_A``, ``(C, H_A, W_A)`` or ``(1, C, H_A, W_A)``.
        b_feats: ``F_B′``, ``(C, H_B, W_B)``.
        a2: ``F_A′`` (same size as ``a_feats``) or ``None`` for a one-pair distance.
        b2: ``F_B`` (same size as ``b_feats``), given together with ``a2``.
        patch_size: Odd patch side.

    Raises:
        InputError: Shapes or patch size are invalid.
    """
    patch_size = check_patch_size(patch_size)
    sources, targets = check_pairs(a_feats, b_feats, a2, b2)
    r = patch_size // 2
    (ha, wa), (hb, wb) = tuple(sources[0].shape[1:]), tuple(targets[0].shape[1:])
    rng = range(-r, r + 1)
    return PatchSpace(
        x=_table(sources, True, r),
        y=_table(targets, False, r),
        source_hw=(ha, wa),
        target_hw=(hb, wb),
        patch_size=patch_size,
        source_offsets=tuple(dy * (wa + 2 * r) + dx for dy in rng for dx in rng),
        target_offsets=tuple(dy * (wb + 2 * r) + dx for dy in rng for dx in rng),
    )


def score(space: PatchSpace, source_flat: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Patch distance between source pixels and candidate target pixels, chunked.

    Args:
        space: Prepared tables.
        source_flat: Flat source indices ``y·W_A + x``, ``(N,)`` int64.
        targets: Target coordinates ``(N, 2)`` in ``(y, x)`` order, inside the target grid.

    Returns:
        ``(N,)`` float32 distances.
    """
    n = source_flat.numel()
    out = torch.empty(n, device=space.device, dtype=torch.float32)
    if n == 0:
        return out
    src = space.source_base(source_flat)
    tgt = space.target_base(targets)
    depth = space.x.shape[1]
    chunk = max(256, _CHUNK_ELEMENTS // depth)
    if space.device.type == "cuda":
        chunk *= 64  # the GPU wants big launches; memory is still bounded
    pairs = list(zip(space.source_offsets, space.target_offsets))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        cs, ct = src[s:e], tgt[s:e]
        acc = torch.zeros(e - s, depth, device=space.device, dtype=torch.float32)
        for oa, ob in pairs:
            acc.addcmul_(space.x.index_select(0, cs + oa), space.y.index_select(0, ct + ob))
        out[s:e] = acc.sum(1)
    return out


def check_nnf(nnf: torch.Tensor, name: str = "nnf") -> torch.Tensor:
    if nnf.dim() != 3 or nnf.shape[-1] != 2:
        raise InputError(f"{name} must have shape (H, W, 2) in (y, x) order, got {tuple(nnf.shape)}")
    if nnf.dtype != torch.int64:
        raise InputError(f"{name} must be int64, got {nnf.dtype}")
    return nnf


def check_in_target(nnf: torch.Tensor, target_hw: tuple[int, int], name: str = "nnf") -> None:
    if nnf.numel() and (
        int(nnf[..., 0].min()) < 0 or int(nnf[..., 1].min()) < 0
        or int(nnf[..., 0].max()) >= target_hw[0] or int(nnf[..., 1].max()) >= target_hw[1]
    ):
        raise InputError(f"{name} points outside the {target_hw[0]}×{target_hw[1]} target grid")


def clamp_targets(c: torch.Tensor, target_hw: tuple[int, int]) -> torch.Tensor:
    c[..., 0].clamp_(0, target_hw[0] - 1)
    c[..., 1].clamp_(0, target_hw[1] - 1)
    return c


def nnf_distance(
    a_feats: torch.Tensor,
    b_feats: torch.Tensor,
    nnf: torch.Tensor,
    *,
    a2: torch.Tensor | None = None,
    b2: torch.Tensor | None = None,
    patch_size: int,
) -> torch.Tensor:
    """Patch distance of every pixel of A to its match in ``nnf`` (same definition as :func:`patchmatch`).

    Returns:
        ``(H_A, W_A)`` float32.
    """
    space = prepare_patch_space(a_feats, b_feats, a2=a2, b2=b2, patch_size=patch_size)
    nnf = check_nnf(nnf).to(space.device)
    if tuple(nnf.shape[:2]) != space.source_hw:
        raise InputError(f"nnf covers {tuple(nnf.shape[:2])} but the source features are {space.source_hw}")
    check_in_target(nnf, space.target_hw)
    flat = torch.arange(nnf.shape[0] * nnf.shape[1], device=space.device)
    return score(space, flat, nnf.reshape(-1, 2)).view(space.source_hw)
