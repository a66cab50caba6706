"""Deep Image Analogy: A : A′ :: B : B′ from two images, A and B′.

Given A (e.g. a photo) and B′ (e.g. a painting), produce A′ (A's structure with B′'s look) and B
(B′'s structure with A's look), through bidirectional nearest-neighbour fields found coarse to
fine on VGG features.

Levels and layers (the same names exist in VGG16 — the default encoder — and VGG19)::

    level   5         4         3         2         1
    layer   relu5_1   relu4_1   relu3_1   relu2_1   relu1_1
    scale   1/16      1/8       1/4       1/2       1

The sub-network that maps level ``L−1`` to level ``L`` (used by the deconvolution) is every
layer after ``relu{L−1}_1`` up to ``relu{L}_1``: for VGG16 e.g. relu4_1 → relu5_1 is
``conv4_2 relu conv4_3 relu pool4 conv5_1 relu``; VGG19 has one more conv+relu in blocks 3–4
(``conv{b}_4``). It is run by :func:`~core.analogy.deconvolution.forward_between`, which walks the encoder's own layers.

Algorithm (Liao et al. 2017, §4):

1. ``F_A^L``, ``F_B′^L`` from one encoder pass each; ``F_A′^5 = F_A^5``, ``F_B^5 = F_B′^5``.
2. At each level, from coarse to fine: PatchMatch ``φ_a→b`` with the two-pair distance on
   (A, A′) vs (B′, B), and ``φ_b→a`` symmetrically (:func:`core.analogy.patchmatch.patchmatch`),
   initialised with the upsampled fields of the level above (random at level 5).
3. Going down to ``L−1``: the warped target ``R = F_B′^L ∘ φ_a→b`` (patch voting) is
   deconvolved: ``R′ = argmin_x ‖CNN_{L−1→L}(x) − R‖²`` by L-BFGS, started from the warped
   lower-level features ``F_B′^{L−1} ∘ φ↑_a→b``. Then ``F_A′^{L−1} = F_A^{L−1}·W + R′·(1 − W)``
   with ``W = α_{L−1} · M_A``, ``M = sigmoid(κ(|F|²/max|F|² − τ))`` (κ = 300, τ = 0.05).
   ``F_B^{L−1}`` is built the same way from ``F_A^L ∘ φ_b→a`` and ``F_B′^{L−1}``'s response.
4. Pixels: ``A′ = vote(B′, φ_a→b^1)``, ``B = vote(A, φ_b→a^1)`` — relu1_1 has the image's
   resolution, so the finest field is already per pixel.
5. Optional photo refinement (:func:`~core.analogy.refine.guided_filter`): A′ replaced by a local affine colour
   transform of A fitted to A′ (colour guided filter, guide A), which keeps A's exact edges and
   takes A′'s colours — meant for photo-to-photo transfer where voting blurs or distorts
   structure. B is refined the same way with guide B′.

Speed on a CPU comes from a few choices documented in :class:`~core.requests.analogy.AnalogyConfig`: fewer PatchMatch
iterations, small search windows and short propagation jumps at the fine levels (which start
from a good upsampled field), and a bounded number of L-BFGS iterations per deconvolution.

Reference:
    Liao, Yao, Yuan, Hua, Kang, "Visual Attribute Transfer through Deep Image Analogy",
    ACM Transactions on Graphics (SIGGRAPH) 36(4), 2017.
    He, Sun, Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013 (photo refinement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..foundation.errors import InputError
from ..foundation.progress import ProgressCallback, ProgressTracker
from ..imaging.resize import resize, size_for_long_side
from ..nn.vgg import MultiLayerEncoder
from ..requests.analogy import LAYERS, AnalogyConfig, check_analogy_size
from .deconvolution import deconvolve
from .nnf import upsample_nnf, vote
from .patchmatch import patchmatch
from .refine import guided_filter

__all__ = ["AnalogyResult", "deep_image_analogy", "response_map"]


@dataclass
class AnalogyResult:
    """What :func:`deep_image_analogy` produced.

    Attributes:
        a_prime: A′ — A's structure, B′'s appearance; sRGB in [0, 1], A's working size.
        b: B — B′'s structure, A's appearance; sRGB in [0, 1], B′'s working size.
        nnf_ab: Finest ``φ_a→b``: for each pixel of A, ``(y, x)`` in B′ (int64).
        nnf_ba: Finest ``φ_b→a``: for each pixel of B′, ``(y, x)`` in A.
        seconds: Wall time per stage: ``features``, ``patchmatch``, ``deconvolution``,
            ``voting`` (feature warps and the final pixel votes), ``refine``, ``total``.
        layers: Level → layer used (``{"5": "relu5_1", …}``).
        architecture: Encoder architecture (``"vgg16"`` or ``"vgg19"``).

    Shape:
        - a_prime: ``(1, 3, H_A, W_A)``; b: ``(1, 3, H_B, W_B)``
        - nnf_ab: ``(H_A, W_A, 2)``; nnf_ba: ``(H_B, W_B, 2)``
    """

    a_prime: torch.Tensor
    b: torch.Tensor
    nnf_ab: torch.Tensor
    nnf_ba: torch.Tensor
    seconds: dict[str, float] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)
    architecture: str = ""


def response_map(features: torch.Tensor, kappa: float = 300.0, tau: float = 0.05) -> torch.Tensor:
    """Normalised neuron response ``M = sigmoid(κ(|F|²/max|F|² − τ))`` (Liao et al. 2017, eq. 5).

    Shape:
        ``(1, C, H, W)`` → ``(1, 1, H, W)``.
    """
    sq = features.float().pow(2).sum(1, keepdim=True)
    sq = sq / sq.amax().clamp_min(1e-12)
    return torch.sigmoid(kappa * (sq - tau))


# --------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------


def _check_image(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise InputError(f"{name} must be (1, 3, H, W) sRGB in [0, 1], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be floating point, got {x.dtype}")
    return x.float()


def _encoder_device(encoder: MultiLayerEncoder) -> torch.device:
    for t in encoder.buffers():
        return t.device
    return next(encoder.parameters()).device


def deep_image_analogy(
    a: torch.Tensor,
    b_prime: torch.Tensor,
    encoder: MultiLayerEncoder,
    *,
    config: AnalogyConfig | None = None,
    progress: ProgressCallback | None = None,
) -> AnalogyResult:
    """Deep Image Analogy (Liao et al. 2017): A′ and B from A and B′.

    Args:
        a: A, ``(1, 3, H_A, W_A)`` display sRGB in [0, 1].
        b_prime: B′, ``(1, 3, H_B, W_B)`` display sRGB in [0, 1]; may differ from A in size.
        encoder: VGG encoder (VGG16 or VGG19 — both have relu1_1 … relu5_1); its device is used.
        config: Settings (default :class:`AnalogyConfig`).
        progress: Called after each PatchMatch iteration and deconvolution evaluation; returning
            ``False`` cancels.

    Returns:
        :class:`AnalogyResult` (images and fields on the CPU).

    Raises:
        InputError: Bad shapes, sizes outside :func:`check_analogy_size`, or bad settings.
        Cancelled: The progress callback asked to stop.
    """
    config = config or AnalogyConfig()
    config.validate()
    a = _check_image(a, "A")
    b_prime = _check_image(b_prime, "B′")
    if config.size is not None:
        a_hw = size_for_long_side(a.shape[-2], a.shape[-1], config.size)
        b_hw = size_for_long_side(b_prime.shape[-2], b_prime.shape[-1], config.size)
    else:
        a_hw, b_hw = tuple(a.shape[-2:]), tuple(b_prime.shape[-2:])
    check_analogy_size(a_hw, config.levels, "A")
    check_analogy_size(b_hw, config.levels, "B′")

    first = len(LAYERS) - config.levels
    layers = LAYERS[first:]
    patch = config.patch_sizes[first:]
    iters = config.iterations[first:]
    radius = config.search_radius[first:]
    jumps = config.max_jump[first:]
    alphas = config.alphas[first:]  # level L−1 settings, L−1 = 4 … 1
    deconv_iters = config.deconv_iterations[first:]

    total = 2 * sum(iters) + 2 * sum((n + 1 if n else 0) for n in deconv_iters) + 1
    tracker = ProgressTracker(progress, total)
    device = _encoder_device(encoder)
    generator = torch.Generator().manual_seed(config.seed)
    seconds = {"features": 0.0, "patchmatch": 0.0, "deconvolution": 0.0, "voting": 0.0, "refine": 0.0}
    t_start = time.perf_counter()

    def timed(stage: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[stage] += time.perf_counter() - t0
        return out

    def encode(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: v.float() for k, v in encoder(x, layers).items()}

    img_a = resize(a.to(device), a_hw).clamp(0, 1)
    img_bp = resize(b_prime.to(device), b_hw).clamp(0, 1)
    fa = timed("features", encode, img_a)
    fbp = timed("features", encode, img_bp)

    fap, fb = fa[layers[0]], fbp[layers[0]]  # F_A′ and F_B at the coarsest level
    init_ab = init_ba = None
    nnf_ab = nnf_ba = None
    for i, layer in enumerate(layers):
        stage = f"level {len(layers) - i} ({layer})"

        def step(_it, stage=stage):
            tracker.advance(f"{stage} PatchMatch")

        nnf_ab, _ = timed("patchmatch", patchmatch, fa[layer], fbp[layer], a2=fap, b2=fb, patch_size=patch[i],
                          iterations=iters[i], radius=radius[i], max_jump=jumps[i], init=init_ab,
                          generator=generator, callback=step)
        nnf_ba, _ = timed("patchmatch", patchmatch, fbp[layer], fa[layer], a2=fb, b2=fap, patch_size=patch[i],
                          iterations=iters[i], radius=radius[i], max_jump=jumps[i], init=init_ba,
                          generator=generator, callback=step)
        if i == len(layers) - 1:
            break
        nxt = layers[i + 1]
        budget = deconv_iters[i] + 1 if deconv_iters[i] else 0

        def new_features(own_next, other_here, other_next, nnf, alpha):
            """F_A′ (or F_B) at the next level: blend own features with the deconvolved warp."""
            next_hw = tuple(own_next.shape[-2:])
            other_here_hw, other_next_hw = tuple(other_here.shape[-2:]), tuple(other_next.shape[-2:])
            up = upsample_nnf(nnf, next_hw, target_hw=other_next_hw, old_target_hw=other_here_hw)
            target = timed("voting", vote, other_here, nnf, patch[i])
            start = timed("voting", vote, other_next, up, patch[i + 1])
            evals = [0]

            def on_eval(loss, stage=stage):
                evals[0] += 1
                if evals[0] <= budget:
                    tracker.advance(f"{stage} deconvolution", loss)

            deconv = timed("deconvolution", deconvolve, encoder, target, start, nxt, layer,
                           iterations=deconv_iters[i], history=config.deconv_history, on_eval=on_eval)
            if evals[0] < budget:
                tracker.advance(f"{stage} deconvolution", n=budget - evals[0])
            w = alpha * response_map(own_next, config.kappa, config.tau)
            return own_next * w + deconv * (1.0 - w), up

        fap, init_ab = new_features(fa[nxt], fbp[layer], fbp[nxt], nnf_ab, alphas[i])
        fb, init_ba = new_features(fbp[nxt], fa[layer], fa[nxt], nnf_ba, alphas[i])

    a_prime = timed("voting", vote, img_bp, nnf_ab, patch[-1])
    b = timed("voting", vote, img_a, nnf_ba, patch[-1])
    tracker.advance("voting")
    if config.refine:
        r = max(1, round(config.refine_radius * max(a_hw) / 448))
        a_prime = timed("refine", guided_filter, img_a, a_prime, r, config.refine_eps)
        r = max(1, round(config.refine_radius * max(b_hw) / 448))
        b = timed("refine", guided_filter, img_bp, b, r, config.refine_eps)
    seconds["total"] = time.perf_counter() - t_start
    return AnalogyResult(
        a_prime=a_prime.clamp(0, 1).float().cpu(),
        b=b.clamp(0, 1).float().cpu(),
        nnf_ab=nnf_ab.cpu(),
        nnf_ba=nnf_ba.cpu(),
        seconds={k: round(v, 4) for k, v in seconds.items()},
        layers={str(len(layers) - i): name for i, name in enumerate(layers)},
        architecture=encoder.architecture,
    )
