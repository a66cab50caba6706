"""Gatys optimisation ("Style Transfer"): optimise the pixels so deep features match.

Minimises ``α·L_content + β·L_style + γ·L_tv`` over the image with L-BFGS or Adam, using one
encoder pass per evaluation for every loss. Grows into a practical tool with

- several styles with blend weights (the weighted mean of their Gram targets — equal, up to a
  constant, to the weighted sum of the per-style losses);
- spatial control: one mask per style; each style's loss uses a mask-guided Gram;
- colour preservation: luminance-only transfer or colour histogram matching;
- a coarse-to-fine pyramid: solve small, upsample, refine;
- tiles with feathered blending when a level exceeds the memory budget.

Losses are normalised per layer by the target's mean square, so the weights are comparable across
layers, encoders and image sizes.

References:
    Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
    Gatys et al., "Preserving Color in Neural Artistic Style Transfer", arXiv:1606.05897, 2016.
    Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from ..foundation.device import autocast_context
from ..foundation.errors import ImageTooLargeError, InputError
from ..foundation.progress import ProgressCallback, ProgressTracker
from ..imaging import color_preservation as color
from ..imaging.resize import resize, size_for_long_side
from ..nn.losses import content_loss, gram_matrix, resize_mask, style_loss, total_variation
from ..nn.vgg import MultiLayerEncoder
from ..requests.gatys import MAX_LONG_SIDE, MIN_SIDE, SOLVE_BYTES_PER_PIXEL, GatysConfig
from .tiling import Tile, TileBlender, tile_grid

#: Peak bytes per pixel of one L-BFGS solve (see :data:`core.requests.gatys.SOLVE_BYTES_PER_PIXEL`).
BYTES_PER_PIXEL = SOLVE_BYTES_PER_PIXEL


@dataclass
class GatysResult:
    """Output of :func:`stylize_gatys`.

    Attributes:
        image: ``(1, 3, H, W)`` display sRGB in [0, 1].
        losses: Final weighted losses at the finest level (``content``, ``style``, ``tv``, ``total``).
        seconds: Wall time.
        levels: ``(H, W)`` of each pyramid level, coarse to fine.
        tiles: Number of tiles used at the finest level (1 = untiled).
        iterations: Iterations run at each level.
    """

    image: torch.Tensor
    losses: dict[str, float]
    seconds: float
    levels: list[tuple[int, int]]
    tiles: int
    iterations: list[int] = field(default_factory=list)


@dataclass
class _Style:
    image: torch.Tensor  # (1, 3, h, w) at the working colour mode
    weight: float
    mask: torch.Tensor | None  # (1, 1, H, W) at the content's full resolution


@dataclass
class _LevelTargets:
    grams: list[dict[str, torch.Tensor]]  # one per style group (a single blended group when unmasked)
    norms: list[dict[str, float]]
    masks: list[torch.Tensor | None]  # per group, at the level's resolution
    group_weights: list[float]


def default_memory_budget_mb(device: torch.device) -> int:
    """4 GB on CPU; 60 % of the free memory on CUDA."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.6 / 2**20)
    return 4096


def max_untiled_pixels(budget_mb: int) -> int:
    """Pixels one solve may hold within ``budget_mb``."""
    return int(budget_mb * 2**20 / BYTES_PER_PIXEL)


def pyramid_sizes(height: int, width: int, levels: int, min_side: int) -> list[tuple[int, int]]:
    """Level sizes coarse → fine, each half the next (``levels == 0`` → automatic, ≤ 3)."""
    if levels == 0:
        levels = 1
        while levels < 3 and max(height, width) / 2**levels >= min_side:
            levels += 1
    sizes = []
    for k in range(levels - 1, -1, -1):
        h, w = max(1, round(height / 2**k)), max(1, round(width / 2**k))
        if min(h, w) < MIN_SIDE:
            continue
        sizes.append((h, w))
    return sizes or [(height, width)]


def _encode_grams(
    encoder: MultiLayerEncoder, image: torch.Tensor, layers: tuple[str, ...], max_pixels: int, amp
) -> dict[str, torch.Tensor]:
    """Gram targets of ``image``; large images are encoded in tiles and their sums pooled."""
    h, w = image.shape[-2:]
    side = max(64, int(math.sqrt(max_pixels * 2)))  # no backward pass: about twice the pixels fit
    tiles = tile_grid(h, w, side, 0) if h * w > side * side else [Tile(0, h, 0, w)]
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, float] = {}
    with torch.no_grad():
        for t in tiles:
            with amp():
                feats = encoder(image[:, :, t.y0 : t.y1, t.x0 : t.x1], layers)
            for name, f in feats.items():
                c, n = f.shape[1], f.shape[2] * f.shape[3]
                sums[name] = sums.get(name, 0) + gram_matrix(f) * (c * n)
                counts[name] = counts.get(name, 0) + c * n
    return {name: sums[name] / counts[name] for name in layers}


@dataclass(frozen=True)
class TemporalTarget:
    """A temporal consistency term for video: stay close to the previous frame's warped result.

    The loss is ``strength · Σ w ⊙ (x − image)² / (3 Σ w)`` (Ruder et al., "Artistic style transfer
    for videos", 2016): ``image`` is the previous stylised frame warped into this one and ``weight``
    the flow confidence, so occluded and disoccluded pixels are free to take the fresh style.

    Attributes:
        image: ``(1, 3, H, W)`` warped previous result, display sRGB, at the content's size.
        weight: ``(1, 1, H, W)`` confidence in [0, 1].
        strength: Weight of the term relative to the content loss (whose value is ≈ 1 at the start).
    """

    image: torch.Tensor
    weight: torch.Tensor
    strength: float = 1.0


def _mean_square(t: torch.Tensor) -> float:
    return max(float(t.float().pow(2).mean()), 1e-12)


class _Objective:
    """The weighted loss of one (tile of a) level, evaluated with one encoder pass."""

    def __init__(self, encoder, cfg: GatysConfig, content: torch.Tensor, targets: _LevelTargets,
                 box: Tile | None, amp, temporal: TemporalTarget | None = None) -> None:
        self.encoder, self.cfg, self.amp = encoder, cfg, amp
        self.temporal = None
        if temporal is not None:
            crop = (lambda t: t) if box is None else (lambda t: t[:, :, box.y0 : box.y1, box.x0 : box.x1])  # noqa: E731
            self.temporal = (crop(temporal.image), crop(temporal.weight), temporal.strength)
        self.layers = tuple(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        with torch.no_grad(), amp():
            feats = encoder(content, cfg.content_layers)
        self.content_targets = {k: v.float() for k, v in feats.items()}
        self.content_norms = {k: _mean_square(v) for k, v in self.content_targets.items()}
        self.targets = targets
        self.masks = [
            None if m is None else (m if box is None else m[:, :, box.y0 : box.y1, box.x0 : box.x1])
            for m in targets.masks
        ]
        self.last: dict[str, float] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        with self.amp():
            feats = self.encoder(x, self.layers)
        lc = x.new_zeros(())
        for name in cfg.content_layers:
            lc = lc + content_loss(feats[name], self.content_targets[name]) / self.content_norms[name]
        ls = x.new_zeros(())
        n_layers = max(len(cfg.style_layers), 1)
        for grams, norms, mask, gw in zip(self.targets.grams, self.targets.norms, self.masks,
                                          self.targets.group_weights):
            for name in cfg.style_layers:
                f = feats[name]
                m = None if mask is None else resize_mask(mask, f.shape[-2:])
                ls = ls + gw * style_loss(f, grams[name], m) / (norms[name] * n_layers)
        ltv = total_variation(x) if cfg.tv_weight > 0 else x.new_zeros(())
        total = cfg.content_weight * lc + cfg.style_weight * ls + cfg.tv_weight * ltv
        self.last = {
            "content": float(cfg.content_weight * lc.detach()),
            "style": float(cfg.style_weight * ls.detach()),
            "tv": float(cfg.tv_weight * ltv.detach()),
        }
        if self.temporal is not None:
            image, weight, strength = self.temporal
            lt = strength * (weight * (x - image).pow(2)).sum() / (weight.sum() * x.shape[1]).clamp_min(1.0)
            total = total + lt
            self.last["temporal"] = float(lt.detach())
        self.last["total"] = float(total.detach())
        return total


#: Largest pixel change of the first L-BFGS trial step (images in [0, 1]). Chosen by measurement
#: (docs/reliability.md, class 7): 0.1 reaches a lower loss than the unsearched L-BFGS at every
#: budget from 3 to 60 evaluations on 64 px, while two inputs 5e-5 apart stay within 1.2 % in loss;
#: 0.2 is a little faster but twice as sensitive, 0.05 slower.
FIRST_STEP = 0.1


class _BudgetSpent(Exception):
    """Raised inside the L-BFGS closure when the evaluation budget (or the target loss) is reached."""


def _optimise(x0: torch.Tensor, objective: _Objective, steps: int, cfg: GatysConfig, tracker: ProgressTracker,
              stage: str, target_loss: float | None) -> tuple[torch.Tensor, int]:
    """Minimise ``objective`` from ``x0`` with ``steps`` loss evaluations; return the best image seen.

    L-BFGS runs with a strong-Wolfe line search (Nocedal & Wright, *Numerical Optimization*,
    Alg. 3.5/3.6, as in ``torch.optim.LBFGS(line_search_fn="strong_wolfe")``): every step must
    lower the loss enough (sufficient decrease) with a flat-enough slope (curvature), so a
    learning rate of 1 can no longer overshoot. Without it a 3-step run on two inputs 5e-5 apart
    went from loss 17.6 to 89 332 on one of them (issue 18);
    ``tests/reliability/test_gatys_stability.py`` re-checks that tiny input changes give tiny
    output changes and that the loss never rises above its start.

    ``steps`` counts loss evaluations (one encoder forward and backward each, the cost that
    matters), not L-BFGS iterations, so a run costs what it did before the line search; the
    progress callback is called once per evaluation. The best point evaluated is returned (the
    line search evaluates trial points, and the budget may end inside a search). The first search
    starts where the largest pixel moves by :data:`FIRST_STEP`: PyTorch's own first trial,
    ``min(1, 1/‖g‖₁)·lr``, is tiny for an image, and growing it cost the first 5–10 evaluations.
    """
    x = x0.detach().clone().requires_grad_(True)
    done = 0
    if cfg.optimizer == "lbfgs":
        lr = cfg.learning_rate or 1.0
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=max(steps, 1), max_eval=10 * steps + 25,
                                history_size=50, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn="strong_wolfe")
        best: dict = {"total": math.inf, "x": x0.detach().clone(), "last": {}}
        cache: dict = {}  # the last point evaluated: LBFGS re-evaluates it when a step() call starts

        def closure():
            nonlocal done
            if "x" in cache and torch.equal(cache["x"], x.detach()):
                x.grad = cache["grad"].clone()
                return cache["loss"]
            if done >= steps:
                raise _BudgetSpent
            opt.zero_grad(set_to_none=True)
            loss = objective(x)
            loss.backward()
            done += 1
            cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=loss.detach())
            total = objective.last["total"]
            if total < best["total"]:  # NaN never counts as better
                best.update(total=total, x=x.detach().clone(), last=dict(objective.last))
            tracker.advance(stage, total)
            if target_loss is not None and total <= target_loss:
                raise _BudgetSpent
            return loss

        try:
            # First iteration: LBFGS would start its line search at t = min(1, 1/‖g‖₁)·lr, a step far
            # too small for an image (‖g‖₁ sums every pixel), and the search needs many evaluations
            # to grow it. Start instead where the largest pixel moves by FIRST_STEP.
            closure()
            g_inf = float(x.grad.abs().max())
            g_1 = float(x.grad.abs().sum())
            if g_inf > 0 and math.isfinite(g_1):
                opt.param_groups[0]["lr"] = FIRST_STEP / (g_inf * min(1.0, 1.0 / g_1)) * min(lr, 1.0)
            opt.param_groups[0]["max_iter"] = 1
            opt.step(closure)
            opt.param_groups[0].update(lr=lr, max_iter=max(steps, 1))
            while done < steps:  # LBFGS returns early when a line search makes no progress; go on
                before = done
                opt.step(closure)
                if done == before:  # converged (zero gradient): nothing left to do
                    break
        except _BudgetSpent:
            pass
        if best["last"]:
            objective.last = best["last"]
        return best["x"].clamp(0.0, 1.0), done
    opt = torch.optim.Adam([x], lr=cfg.learning_rate or 0.02)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        objective(x).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        done += 1
        tracker.advance(stage, objective.last.get("total"))
        if target_loss is not None and objective.last["total"] <= target_loss:
            break
    return x.detach().clamp(0.0, 1.0), done


def _prepare_styles(content: torch.Tensor, styles: list[torch.Tensor], weights: list[float],
                    masks: list[torch.Tensor] | None, mode: str) -> tuple[torch.Tensor, list[_Style]]:
    if mode == "luminance":
        content_y = color.luminance(content)
        work_content = color.gray3(content_y)
        work_styles = [color.gray3(color.match_luminance_stats(color.luminance(s), content_y)) for s in styles]
    elif mode == "histogram":
        work_content = content
        work_styles = [color.match_color_histogram(s, content) for s in styles]
    else:
        work_content, work_styles = content, list(styles)
    out = [
        _Style(img, w, None if masks is None else masks[i]) for i, (img, w) in enumerate(zip(work_styles, weights))
    ]
    return work_content, out


def _level_targets(encoder, cfg: GatysConfig, styles: list[_Style], size: tuple[int, int], budget_px: int,
                   amp) -> _LevelTargets:
    style_side = max(MIN_SIDE, round(max(size) * cfg.style_scale))
    per_style = []
    for s in styles:
        img = resize(s.image, size_for_long_side(s.image.shape[-2], s.image.shape[-1], style_side))
        per_style.append(_encode_grams(encoder, img, cfg.style_layers, budget_px, amp))
    if any(s.mask is not None for s in styles):
        grams = per_style
        masks = [None if s.mask is None else resize_mask(s.mask, size) for s in styles]
        weights = [s.weight for s in styles]
    else:  # one blended target: Σ w_i ‖G − A_i‖² = ‖G − Σ w_i A_i‖² + const for Σ w_i = 1
        grams = [{name: sum(s.weight * g[name] for s, g in zip(styles, per_style)) for name in cfg.style_layers}]
        masks, weights = [None], [1.0]
    norms = [{name: _mean_square(g[name]) for name in cfg.style_layers} for g in grams]
    return _LevelTargets(grams, norms, masks, weights)


def _initial_image(cfg: GatysConfig, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "style":
        return resize(style, tuple(content.shape[-2:])).clamp(0, 1)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    noise = torch.rand(content.shape, generator=gen).to(content.device)
    return noise


def _upsample_with_detail(x: torch.Tensor, content: torch.Tensor, detail: float) -> torch.Tensor:
    """Upsample the coarser level's result to ``content``'s size and add the content's missing octave.

    The upsampled picture lacks the detail of the finer level; adding ``detail`` times the content's
    band-pass residual (``content − up(down(content))``, a Laplacian-pyramid level) gives the fine solve
    sharp edges to start from instead of a blur.
    """
    size = tuple(content.shape[-2:])
    up = resize(x, size)
    if detail <= 0:
        return up
    low = resize(resize(content, tuple(x.shape[-2:])), size)
    return (up + detail * (content - low)).clamp(0.0, 1.0)


def check_size(height: int, width: int, cfg: GatysConfig, budget_mb: int) -> None:
    """Refuse sizes that are too small, too large, or too large without tiling.

    Raises:
        InputError: A side is below :data:`MIN_SIDE`.
        ImageTooLargeError: Above :data:`MAX_LONG_SIDE`, or above the memory budget with tiling off.
    """
    if min(height, width) < MIN_SIDE:
        raise InputError(f"working size {width}×{height} is too small; each side needs at least {MIN_SIDE} px")
    if max(height, width) > MAX_LONG_SIDE:
        raise ImageTooLargeError(
            f"working size {width}×{height} exceeds the {MAX_LONG_SIDE} px limit; choose a smaller size",
            setting="size",
        )
    limit = max_untiled_pixels(budget_mb)
    if not cfg.allow_tiling and height * width > limit:
        need = height * width * BYTES_PER_PIXEL / 2**30
        raise ImageTooLargeError(
            f"working size {width}×{height} needs about {need:.1f} GB without tiling (budget "
            f"{budget_mb / 1024:.1f} GB); allow tiling, raise the memory budget, or choose a smaller size",
            setting="size",
        )


def stylize_gatys(
    content: torch.Tensor,
    styles: list[torch.Tensor],
    encoder: MultiLayerEncoder,
    *,
    config: GatysConfig = GatysConfig(),
    style_weights: list[float] | None = None,
    masks: list[torch.Tensor] | None = None,
    progress: ProgressCallback | None = None,
    init_image: torch.Tensor | None = None,
    temporal: TemporalTarget | None = None,
) -> GatysResult:
    """Stylise ``content`` with one or more ``styles`` by optimisation.

    Args:
        content: ``(1, 3, H, W)`` display sRGB in [0, 1], already at the working size.
        styles: ``(1, 3, h, w)`` display sRGB images (any size; rescaled per ``style_scale``).
        encoder: The VGG encoder (on the device to compute on; ``content`` is moved there).
        config: Settings.
        style_weights: Blend weights, one per style (normalised to sum 1); equal when omitted.
        masks: Optional ``(1, 1, H, W)`` masks in [0, 1], one per style, same size as ``content``.
        progress: Called after every iteration; return ``False`` to cancel.
        init_image: ``(1, 3, H, W)`` start image, overriding ``config.init`` (resized to the
            coarsest level): video uses the previous frame's warped result.
        temporal: Optional :class:`TemporalTarget` at the content's size (resized per level).

    Returns:
        :class:`GatysResult` with the stylised image on the CPU.

    Raises:
        InputError: Bad shapes, weights or masks.
        ImageTooLargeError: See :func:`check_size`.
        Cancelled: The progress callback returned ``False``.
    """
    config.validate()
    start = time.perf_counter()
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise InputError(f"content must be (1, 3, H, W), got {tuple(content.shape)}")
    if not styles:
        raise InputError("at least one style image is needed")
    weights = list(style_weights) if style_weights is not None else [1.0] * len(styles)
    if len(weights) != len(styles):
        raise InputError(f"{len(weights)} style weights for {len(styles)} styles; give one weight per style")
    if any((not math.isfinite(w)) or w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"style weights must be ≥ 0 with a positive sum, got {weights}")
    weights = [w / sum(weights) for w in weights]
    H, W = content.shape[-2:]
    if masks is not None:
        if len(masks) != len(styles):
            raise InputError(f"{len(masks)} masks for {len(styles)} styles; give one mask per style")
        for i, m in enumerate(masks):
            if m.dim() != 4 or m.shape[:2] != (1, 1) or tuple(m.shape[-2:]) != (H, W):
                raise InputError(
                    f"mask {i + 1} is {tuple(m.shape[-2:])[::-1]} but the content is {W}×{H}; masks must match"
                )
    device = next(encoder.parameters()).device
    budget_mb = config.memory_budget_mb or default_memory_budget_mb(device)
    check_size(H, W, config, budget_mb)
    budget_px = max_untiled_pixels(budget_mb)
    tile_side = config.tile_size or max(64, min(1024, int(math.sqrt(budget_px)) // 16 * 16))
    amp = autocast_context(device) if device.type == "cuda" else nullcontext

    content = content.to(device, torch.float32)
    styles = [s.to(device, torch.float32) for s in styles]
    masks = None if masks is None else [m.to(device, torch.float32) for m in masks]
    work_content, work_styles = _prepare_styles(content, styles, weights, masks, config.preserve_color)

    sizes = pyramid_sizes(H, W, config.pyramid_levels, config.pyramid_min_side)
    plan = []
    for k, size in enumerate(sizes):
        steps = config.iterations if k == 0 else config.refine_steps
        tiled = size[0] * size[1] > budget_px or (config.tile_size is not None and max(size) > config.tile_size)
        tiles = tile_grid(size[0], size[1], tile_side, min(config.tile_overlap, tile_side // 2 - 1)) if tiled \
            else [Tile(0, size[0], 0, size[1])]
        plan.append((size, steps, tiles))
    tracker = ProgressTracker(progress, sum(steps * len(tiles) for _, steps, tiles in plan))

    x = None
    losses: dict[str, float] = {}
    iterations_run = []
    for k, (size, steps, tiles) in enumerate(plan):
        level_content = resize(work_content, size)
        targets = _level_targets(encoder, config, work_styles, size, budget_px, amp)
        level_temporal = None
        if temporal is not None:
            level_temporal = TemporalTarget(resize(temporal.image.to(device, torch.float32), size),
                                            resize(temporal.weight.to(device, torch.float32), size).clamp(0, 1),
                                            temporal.strength)
        if x is None and init_image is not None:
            x = resize(init_image.to(device, torch.float32), size).clamp(0, 1)
        elif x is None:
            x = _initial_image(config, level_content, work_styles[0].image)
        else:
            x = _upsample_with_detail(x, level_content, config.detail_transfer)
        stage = f"level {k + 1}/{len(plan)} ({size[1]}×{size[0]})"
        finest = k == len(plan) - 1
        target_loss = config.target_loss if finest else None
        if len(tiles) == 1:
            objective = _Objective(encoder, config, level_content, targets, None, amp, level_temporal)
            x, done = _optimise(x, objective, steps, config, tracker, stage, target_loss)
            losses = objective.last
        else:
            overlap = min(config.tile_overlap, tile_side // 2 - 1)
            blender = TileBlender(tuple(x.shape), overlap, device)
            done, tile_losses = 0, []
            for i, t in enumerate(tiles):
                crop = lambda img: img[:, :, t.y0 : t.y1, t.x0 : t.x1]  # noqa: E731
                objective = _Objective(encoder, config, crop(level_content), targets, t, amp, level_temporal)
                xt, n = _optimise(crop(x), objective, steps, config, tracker, f"{stage} tile {i + 1}/{len(tiles)}",
                                  None)
                blender.add(t, xt)
                done = max(done, n)
                tile_losses.append(objective.last)
            x = blender.result().clamp(0, 1)
            losses = {key: sum(tl[key] for tl in tile_losses) / len(tile_losses) for key in tile_losses[0]}
        iterations_run.append(done)

    out = x
    if config.preserve_color == "luminance":
        out = color.combine_luminance(out, content)
    return GatysResult(
        image=out.detach().float().cpu(),
        losses=losses,
        seconds=time.perf_counter() - start,
        levels=[p[0] for p in plan],
        tiles=len(plan[-1][2]),
        iterations=iterations_run,
    )
