"""PatchMatch between deep feature maps, vectorised over the whole image (CPU and CUDA).

NNFs and the patch distance are defined in :mod:`.patch_space`; upsampling and voting in :mod:`.nnf`.

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

import torch
from torch.nn import functional as F

from ..foundation.errors import InputError
from .patch_space import (
    EPS,
    PatchSpace,
    check_in_target,
    check_nnf,
    check_pairs,
    check_patch_size,
    clamp_targets,
    prepare_patch_space,
    score,
)

__all__ = [
    "brute_force_nnf",
    "identity_nnf",
    "init_nnf",
    "jump_steps",
    "patchmatch",
    "propagate",
    "random_search",
]


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
        improved += _improve(space, nnf, dist, clamp_targets(cand, space.target_hw))
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
            nnf = check_nnf(init, "init").to(space.device).clone()
            if tuple(nnf.shape[:2]) != space.source_hw:
                raise InputError(f"init covers {tuple(nnf.shape[:2])} but the source features are {space.source_hw}")
            check_in_target(nnf, space.target_hw, "init")
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


def brute_force_nnf(a_feats: torch.Tensor, b_feats: torch.Tensor, *, a2: torch.Tensor | None = None,
                    b2: torch.Tensor | None = None, patch_size: int,
                    max_pairs: int = 1 << 26) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact NNF by comparing every source patch with every target patch (for tests, tiny maps).

    Computed independently of :func:`patchmatch`'s tables: patches of the normalised,
    replicate-padded features are unfolded and compared with ``torch.cdist``. Ties go to the
    first target in row-major order.

    Returns:
        ``(nnf, distance)`` like :func:`patchmatch`.

    Raises:
        InputError: More than ``max_pairs`` patch pairs.
    """
    patch_size = check_patch_size(patch_size)
    sources, targets = check_pairs(a_feats, b_feats, a2, b2)
    (ha, wa), (hb, wb) = tuple(sources[0].shape[1:]), tuple(targets[0].shape[1:])
    if ha * wa * hb * wb > max_pairs:
        raise InputError(f"brute force over {ha}×{wa} and {hb}×{wb} needs {ha * wa * hb * wb} pairs (> {max_pairs})")
    r = patch_size // 2

    def patches(m: torch.Tensor) -> torch.Tensor:
        unit = F.normalize(m.double(), dim=0, eps=EPS)
        padded = F.pad(unit[None], (r, r, r, r), mode="replicate")
        return F.unfold(padded, patch_size)[0].T  # (H·W, C·k²)

    d = sum(torch.cdist(patches(s), patches(t)).pow(2) for s, t in zip(sources, targets))
    best, idx = d.min(1)
    nnf = torch.stack([idx // wb, idx % wb], -1).view(ha, wa, 2)
    return nnf.to(sources[0].device), best.float().view(ha, wa).to(sources[0].device)
