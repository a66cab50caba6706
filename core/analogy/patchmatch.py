"""PatchMatch between deep feature maps, vectorised over the whole image (CPU and CUDA).

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

Search (Barnes et al. 2009), vectorised rather than scan-ordered:

* :func:`propagate` tries, for every pixel at once, the match of the neighbour ``s`` pixels away
  shifted by ``s`` (four directions, one after another so a good match moves on within the same
  call); :func:`patchmatch` runs it for steps ``max_jump, …, 4, 2, 1`` each iteration — the
  jump-flooding schedule of Rong & Tan (2006), which carries a match across ``n`` pixels in
  ``log2 n`` steps instead of the ``n`` that one-pixel steps would need without scan order.
  Candidates identical to a pixel's current match are not scored again, which makes propagation
  cheap once the field is coherent.
* :func:`random_search` draws one candidate per pixel uniformly from the window ``q ± ρ``
  (clipped to the target) for radii ``ρ = R, R/2, …, 1``.

References:
    Barnes, Shechtman, Finkelstein, Goldman, "PatchMatch: A Randomized Correspondence Algorithm
    for Structural Image Editing", SIGGRAPH 2009.
    Liao, Yao, Yuan, Hua, Kang, "Visual Attribute Transfer through Deep Image Analogy",
    SIGGRAPH 2017.
    Rong, Tan, "Jump Flooding in GPU with Applications to Voronoi Diagram and Distance
    Transform", I3D 2006.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..foundation.errors import InputError

__all__ = [
    "PatchSpace",
    "brute_force_nnf",
    "identity_nnf",
    "init_nnf",
    "jump_steps",
    "nnf_distance",
    "nnf_to_color",
    "patchmatch",
    "prepare_patch_space",
    "propagate",
    "random_search",
    "score",
    "upsample_nnf",
    "vote",
]

#: Floats gathered per chunk of a distance evaluation (about 2 MB: stays in cache).
_CHUNK_ELEMENTS = 1 << 19
_EPS = 1e-8


# --------------------------------------------------------------------------------------------
# Patch space: the two padded tables and the distance of candidate matches
# --------------------------------------------------------------------------------------------


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


def _as_chw(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3:
        raise InputError(f"{name} must be a (C, H, W) or (1, C, H, W) feature map, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise InputError(f"{name} must be floating point, got {t.dtype}")
    return t


def _check_patch_size(patch_size: int) -> int:
    if not isinstance(patch_size, int) or patch_size < 1 or patch_size % 2 == 0:
        raise InputError(f"patch_size must be a positive odd number, got {patch_size!r}")
    return patch_size


def _check_pairs(a, b, a2, b2) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if (a2 is None) != (b2 is None):
        raise InputError("a2 and b2 must be given together (the second pair of the distance)")
    sources = [_as_chw(a, "a_feats")] + ([] if a2 is None else [_as_chw(a2, "a2")])
    targets = [_as_chw(b, "b_feats")] + ([] if b2 is None else [_as_chw(b2, "b2")])
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
        unit = m.float() / m.float().norm(dim=0, keepdim=True).clamp_min(_EPS)
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


def prepare_patch_space(
    a_feats: torch.Tensor,
    b_feats: torch.Tensor,
    *,
    a2: torch.Tensor | None = None,
    b2: torch.Tensor | None = None,
    patch_size: int,
) -> PatchSpace:
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
    patch_size = _check_patch_size(patch_size)
    sources, targets = _check_pairs(a_feats, b_feats, a2, b2)
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


def _check_nnf(nnf: torch.Tensor, name: str = "nnf") -> torch.Tensor:
    if nnf.dim() != 3 or nnf.shape[-1] != 2:
        raise InputError(f"{name} must have shape (H, W, 2) in (y, x) order, got {tuple(nnf.shape)}")
    if nnf.dtype != torch.int64:
        raise InputError(f"{name} must be int64, got {nnf.dtype}")
    return nnf


def _check_in_target(nnf: torch.Tensor, target_hw: tuple[int, int], name: str = "nnf") -> None:
    if nnf.numel() and (
        int(nnf[..., 0].min()) < 0 or int(nnf[..., 1].min()) < 0
        or int(nnf[..., 0].max()) >= target_hw[0] or int(nnf[..., 1].max()) >= target_hw[1]
    ):
        raise InputError(f"{name} points outside the {target_hw[0]}×{target_hw[1]} target grid")


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
    nnf = _check_nnf(nnf).to(space.device)
    if tuple(nnf.shape[:2]) != space.source_hw:
        raise InputError(f"nnf covers {tuple(nnf.shape[:2])} but the source features are {space.source_hw}")
    _check_in_target(nnf, space.target_hw)
    flat = torch.arange(nnf.shape[0] * nnf.shape[1], device=space.device)
    return score(space, flat, nnf.reshape(-1, 2)).view(space.source_hw)


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def identity_nnf(hw: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """The NNF mapping every pixel to itself, ``(H, W, 2)`` int64."""
    yy, xx = torch.meshgrid(
        torch.arange(hw[0], device=device), torch.arange(hw[1], device=device), indexing="ij"
    )
    return torch.stack([yy, xx], -1)


def init_nnf(
    source_hw: tuple[int, int],
    target_hw: tuple[int, int],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A uniformly random NNF.

    Returns:
        ``(H_A, W_A, 2)`` int64, ``(y, x)`` targets inside ``target_hw``.
    """
    gdev = _generator_device(generator)
    ys = torch.randint(0, target_hw[0], source_hw, generator=generator, device=gdev)
    xs = torch.randint(0, target_hw[1], source_hw, generator=generator, device=gdev)
    return torch.stack([ys, xs], -1).to(device)


def _clamp_targets(c: torch.Tensor, target_hw: tuple[int, int]) -> torch.Tensor:
    c[..., 0].clamp_(0, target_hw[0] - 1)
    c[..., 1].clamp_(0, target_hw[1] - 1)
    return c


def _improve(space: PatchSpace, nnf: torch.Tensor, dist: torch.Tensor, cand: torch.Tensor) -> int:
    """Score ``cand`` where it differs from ``nnf``; keep strictly better ones.

    ``nnf`` ``(H, W, 2)`` and ``dist`` ``(H, W)`` are updated in place. Returns how many improved.
    """
    differs = (cand != nnf).any(-1)
    idx = differs.view(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return 0
    flat_c = cand.view(-1, 2).index_select(0, idx)
    d = score(space, idx, flat_c)
    flat_d = dist.view(-1)
    better = d < flat_d.index_select(0, idx)
    winners = idx[better]
    flat_d.index_copy_(0, winners, d[better])
    nnf.view(-1, 2).index_copy_(0, winners, flat_c[better])
    return int(winners.numel())


def propagate(space: PatchSpace, nnf: torch.Tensor, dist: torch.Tensor, step: int = 1) -> int:
    """Try every pixel's neighbours' matches, ``step`` pixels away, in four directions.

    For the neighbour ``p − s`` (``s`` = ``(0, step)``, ``(step, 0)``, then the opposite
    directions) the candidate is ``nnf(p − s) + s``, clamped into the target grid. The
    directions run one after another on the updated field, as in scan-order PatchMatch.

    Args:
        space: Prepared tables (:func:`prepare_patch_space`).
        nnf: ``(H_A, W_A, 2)`` int64, updated in place.
        dist: ``(H_A, W_A)`` float32 distances of ``nnf``, updated in place.
        step: Neighbour distance in pixels.

    Returns:
        Number of pixels that got a better match.
    """
    h, w = space.source_hw
    improved = 0
    for dy, dx in ((0, step), (step, 0), (0, -step), (-step, 0)):
        if abs(dy) >= h or abs(dx) >= w:
            continue
        cand = nnf.clone()  # pixels without that neighbour keep their match and are skipped
        dst_y, src_y = (slice(dy, None), slice(None, h - dy)) if dy >= 0 else (slice(None, dy), slice(-dy, None))
        dst_x, src_x = (slice(dx, None), slice(None, w - dx)) if dx >= 0 else (slice(None, dx), slice(-dx, None))
        shift = torch.tensor([dy, dx], device=nnf.device)
        cand[dst_y, dst_x] = nnf[src_y, src_x] + shift
        improved += _improve(space, nnf, dist, _clamp_targets(cand, space.target_hw))
    return improved


def random_search(
    space: PatchSpace,
    nnf: torch.Tensor,
    dist: torch.Tensor,
    radius: int | None = None,
    *,
    generator: torch.Generator | None = None,
) -> int:
    """Try random targets around each current match with exponentially shrinking radius.

    For each radius ``ρ = R, R/2, …, ≥ 1`` every pixel draws one candidate uniformly from the
    window ``nnf(p) ± ⌊ρ⌋`` intersected with the target grid (Barnes et al. 2009, §3.2).

    Args:
        space: Prepared tables.
        nnf: ``(H_A, W_A, 2)`` int64, updated in place.
        dist: ``(H_A, W_A)`` float32, updated in place.
        radius: Largest search radius ``R`` in target pixels; ``None`` → the whole target grid.
        generator: Source of randomness.

    Returns:
        Number of pixels that got a better match.
    """
    rad = float(max(space.target_hw) if radius is None else radius)
    gdev = _generator_device(generator)
    limits = torch.tensor(space.target_hw, device=nnf.device)
    improved = 0
    while rad >= 1.0:
        r = int(rad)
        lo = (nnf - r).clamp_min(0)
        hi = torch.minimum(nnf + r, limits - 1)
        u = torch.rand(*space.source_hw, 2, generator=generator, device=gdev).to(nnf.device)
        cand = lo + (u * (hi - lo + 1)).long().clamp_max(hi - lo)
        improved += _improve(space, nnf, dist, cand)
        rad /= 2.0
    return improved


def jump_steps(max_jump: int) -> list[int]:
    """Propagation steps ``max_jump, …, 4, 2, 1`` (powers of two not above ``max_jump``)."""
    steps, s = [], 1
    while s <= max(1, max_jump):
        steps.append(s)
        s *= 2
    return steps[::-1]


def patchmatch(
    a_feats: torch.Tensor,
    b_feats: torch.Tensor,
    *,
    a2: torch.Tensor | None = None,
    b2: torch.Tensor | None = None,
    patch_size: int,
    iterations: int,
    radius: int | None = None,
    max_jump: int | None = None,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate nearest-neighbour field from A to B under the two-pair patch distance.

    Each iteration propagates with steps ``max_jump, …, 2, 1`` and then runs one random search.
    Features are normalised per pixel inside (callers pass raw activations).

    Args:
        a_feats: ``F_A`` ``(C, H_A, W_A)`` (or with a leading batch of 1).
        b_feats: ``F_B′`` ``(C, H_B, W_B)``.
        a2: ``F_A′`` or ``None`` (one-pair distance ``‖F̄_A − F̄_B′‖²``).
        b2: ``F_B`` (with ``a2``).
        patch_size: Odd patch side.
        iterations: PatchMatch iterations (0 only scores ``init``).
        radius: Random search radius in target pixels; ``None`` → the whole target.
        max_jump: Largest propagation step; ``None`` → the largest power of two below the longer
            side of A (full jump flooding); ``1`` → classic one-pixel propagation.
        init: Starting NNF ``(H_A, W_A, 2)`` (e.g. upsampled from a coarser level); ``None`` → random.
        generator: Randomness for the initial field and the random search.
        callback: Called with the iteration number after each iteration (may raise to cancel).

    Returns:
        ``(nnf, distance)``: ``(H_A, W_A, 2)`` int64 in ``(y, x)`` order and ``(H_A, W_A)`` float32.

    Raises:
        InputError: Shapes, patch size or ``init`` are invalid.
    """
    if iterations < 0:
        raise InputError(f"iterations must be ≥ 0, got {iterations}")
    with torch.no_grad():
        space = prepare_patch_space(a_feats, b_feats, a2=a2, b2=b2, patch_size=patch_size)
        if init is None:
            nnf = init_nnf(space.source_hw, space.target_hw, generator=generator, device=space.device)
        else:
            nnf = _check_nnf(init, "init").to(space.device).clone()
            if tuple(nnf.shape[:2]) != space.source_hw:
                raise InputError(f"init covers {tuple(nnf.shape[:2])} but the source features are {space.source_hw}")
            _check_in_target(nnf, space.target_hw, "init")
        flat = torch.arange(space.source_hw[0] * space.source_hw[1], device=space.device)
        dist = score(space, flat, nnf.view(-1, 2)).view(space.source_hw)
        steps = jump_steps(max(space.source_hw) // 2 if max_jump is None else max_jump)
        for it in range(iterations):
            for s in steps:
                propagate(space, nnf, dist, s)
            random_search(space, nnf, dist, radius, generator=generator)
            if callback is not None:
                callback(it)
    return nnf, dist


def brute_force_nnf(
    a_feats: torch.Tensor,
    b_feats: torch.Tensor,
    *,
    a2: torch.Tensor | None = None,
    b2: torch.Tensor | None = None,
    patch_size: int,
    max_pairs: int = 1 << 26,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact NNF by comparing every source patch with every target patch (for tests, tiny maps).

    Computed independently of :func:`patchmatch`'s tables: patches of the normalised,
    replicate-padded features are unfolded and compared with ``torch.cdist``. Ties go to the
    first target in row-major order.

    Returns:
        ``(nnf, distance)`` like :func:`patchmatch`.

    Raises:
        InputError: More than ``max_pairs`` patch pairs.
    """
    patch_size = _check_patch_size(patch_size)
    sources, targets = _check_pairs(a_feats, b_feats, a2, b2)
    (ha, wa), (hb, wb) = tuple(sources[0].shape[1:]), tuple(targets[0].shape[1:])
    if ha * wa * hb * wb > max_pairs:
        raise InputError(f"brute force over {ha}×{wa} and {hb}×{wb} needs {ha * wa * hb * wb} pairs (> {max_pairs})")
    r = patch_size // 2

    def patches(m: torch.Tensor) -> torch.Tensor:
        unit = F.normalize(m.double(), dim=0, eps=_EPS)
        padded = F.pad(unit[None], (r, r, r, r), mode="replicate")
        return F.unfold(padded, patch_size)[0].T  # (H·W, C·k²)

    d = sum(torch.cdist(patches(s), patches(t)).pow(2) for s, t in zip(sources, targets))
    best, idx = d.min(1)
    nnf = torch.stack([idx // wb, idx % wb], -1).view(ha, wa, 2)
    return nnf.to(sources[0].device), best.float().view(ha, wa).to(sources[0].device)


# --------------------------------------------------------------------------------------------
# Upsampling, voting, visualisation
# --------------------------------------------------------------------------------------------


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
    nnf = _check_nnf(nnf)
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
    return _clamp_targets(res, (th, tw))


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
    patch_size = _check_patch_size(patch_size)
    nnf = _check_nnf(nnf)
    batched = image_b.dim() == 4
    b = _as_chw(image_b, "image_b")
    c, hb, wb = b.shape
    ha, wa = nnf.shape[:2]
    nnf = nnf.to(b.device)
    _check_in_target(nnf, (hb, wb))
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
    nnf = _check_nnf(nnf).detach().cpu()
    th, tw = target_hw if target_hw is not None else nnf.shape[:2]
    y = nnf[..., 0].double() / max(th - 1, 1)
    x = nnf[..., 1].double() / max(tw - 1, 1)
    rgb = torch.stack([x, y, torch.zeros_like(x)], -1).clamp(0, 1)
    return (rgb * 255.0).round().to(torch.uint8).numpy()
