"""Deep Image Analogy requests and settings, checked without torch.

:class:`AnalogyConfig` holds the algorithm's settings (:func:`core.analogy.deep_analogy.deep_image_analogy`),
:class:`AnalogyRequest` a whole job on two image files (:func:`core.jobs.analogy.run_analogy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..foundation.errors import InputError
from .checks import check_number

__all__ = ["LAYERS", "MAX_SIDE", "AnalogyConfig", "AnalogyRequest", "check_analogy_size", "min_side"]

#: Layers of the five levels, coarse (level 5) to fine (level 1).
LAYERS: tuple[str, ...] = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
#: Longest working side accepted (memory: about 6 GB peak at 1024 px on the CPU).
MAX_SIDE = 1024
#: Smallest size of the coarsest feature map (relu5_1 at 1/16 of the image for 5 levels).
MIN_COARSE_SIDE = 4


@dataclass(frozen=True)
class AnalogyConfig:
    """Settings of :func:`~core.analogy.deep_analogy.deep_image_analogy`; tuples run coarse → fine over :data:`LAYERS`.

    Attributes:
        size: Long side of the working size in px (each image keeps its aspect); ``None`` keeps
            the inputs' sizes. ``deep_image_analogy`` returns results at the working size;
            :func:`~core.jobs.analogy.run_analogy` writes them at the inputs' own sizes (see
            :class:`AnalogyRequest`).
        levels: How many of the five levels to use, always ending at relu1_1 (5 = the paper).
        patch_sizes: PatchMatch patch side per level (paper: 5, 5, 3, 3, 3).
        alphas: Blend weight of the original features for levels 4…1 (paper: 0.8, 0.7, 0.6, 0.1);
            lower means more of the other image's (warped) features in A′/B.
        iterations: PatchMatch iterations per level (paper: 10 everywhere). The fine levels
            start from the upsampled field of the level above and need fewer.
        search_radius: Random-search radius per level in feature pixels; ``None`` = the whole
            image (level 5, random initialisation).
        max_jump: Largest propagation step per level; ``None`` = full jump flooding.
        deconv_iterations: L-BFGS iterations of the deconvolution towards levels 4…1.
        deconv_history: L-BFGS history size (memory: 2 × history × the feature map).
        kappa: Steepness of the response-map sigmoid (paper: 300).
        tau: Threshold of the response map on the max-normalised squared norm (paper: 0.05).
        refine: Photo refinement by a colour guided filter (see the module docstring).
        refine_radius: Guided-filter window radius in px at 448 px (scaled with the size).
        refine_eps: Guided-filter regularisation (larger → smoother colour transform).
        seed: Seed of the PatchMatch randomness.
    """

    size: int | None = 448
    levels: int = 5
    patch_sizes: tuple[int, ...] = (5, 5, 3, 3, 3)
    alphas: tuple[float, ...] = (0.8, 0.7, 0.6, 0.1)
    iterations: tuple[int, ...] = (10, 6, 4, 3, 2)
    search_radius: tuple[int | None, ...] = (None, 6, 6, 4, 4)
    max_jump: tuple[int | None, ...] = (None, 8, 4, 2, 1)
    deconv_iterations: tuple[int, ...] = (8, 8, 6, 4)
    deconv_history: int = 5
    kappa: float = 300.0
    tau: float = 0.05
    refine: bool = False
    refine_radius: int = 4
    refine_eps: float = 1e-3
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`InputError` when a setting is out of range."""
        check_number(self.levels, "levels", low=1, high=len(LAYERS), integer=True)
        for name, values, n in (
            ("patch_sizes", self.patch_sizes, 5), ("iterations", self.iterations, 5),
            ("search_radius", self.search_radius, 5), ("max_jump", self.max_jump, 5),
            ("alphas", self.alphas, 4), ("deconv_iterations", self.deconv_iterations, 4),
        ):
            if len(values) != n:
                raise InputError(f"{name} needs {n} values (coarse → fine), got {len(values)}")
        for name, values in (("patch_sizes", self.patch_sizes), ("iterations", self.iterations),
                             ("deconv_iterations", self.deconv_iterations)):
            for v in values:
                check_number(v, name, low=0, high=100_000, integer=True)
        for name, values in (("search_radius", self.search_radius), ("max_jump", self.max_jump)):
            for v in values:
                check_number(v, name, low=1, high=1 << 16, integer=True, optional=True)
        for a in self.alphas:
            check_number(a, "alphas", low=0.0, high=1.0)
        check_number(self.size, "the working size", integer=True, optional=True, setting="size")
        if any(k < 1 or k % 2 == 0 for k in self.patch_sizes):
            raise InputError(f"patch sizes must be odd and ≥ 1, got {self.patch_sizes}")
        if any(i < 0 for i in self.iterations) or any(i < 0 for i in self.deconv_iterations):
            raise InputError("iteration counts must be ≥ 0")
        if any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise InputError(f"alphas must lie in [0, 1], got {self.alphas}")
        if self.size is not None and not min_side(self.levels) <= self.size <= MAX_SIDE:
            raise InputError(f"the working size must be {min_side(self.levels)}…{MAX_SIDE} px, got {self.size}",
                             setting="size")
        check_number(self.deconv_history, "deconv_history", low=1, high=100, integer=True)
        check_number(self.refine_radius, "refine_radius", low=1, high=256, integer=True)
        check_number(self.refine_eps, "refine_eps", low=0, low_open=True, high=1.0)
        check_number(self.kappa, "kappa", low=0, low_open=True)
        check_number(self.tau, "tau", low=0, low_open=True, high=1.0)
        check_number(self.seed, "seed", integer=True)


def min_side(levels: int = 5) -> int:
    """Smallest image side for ``levels`` levels: the coarsest map must be ≥ 4 px (64 px for 5)."""
    return MIN_COARSE_SIDE * 2 ** (levels - 1)


def check_analogy_size(hw: tuple[int, int], levels: int = 5, name: str = "image") -> None:
    """Refuse working sizes the pyramid cannot handle.

    Raises:
        InputError: A side is below :func:`min_side` or above :data:`MAX_SIDE`.
    """
    h, w = hw
    low = min_side(levels)
    if min(h, w) < low:
        raise InputError(
            f"{name} is {w}×{h} px at the working size; Deep Image Analogy with {levels} levels needs at "
            f"least {low} px on each side (relu5_1 is 1/16 of the image); use a larger working size or a less "
            "elongated image",
            setting="size",
        )
    if max(h, w) > MAX_SIDE:
        raise InputError(f"{name} is {w}×{h} px at the working size; the limit is {MAX_SIDE} px; use a smaller "
                         "working size", setting="size")


@dataclass(frozen=True)
class AnalogyRequest:
    """Deep Image Analogy of two image files: A + B′ → A′ and B, written into a folder.

    Results are written at the inputs' own sizes by default: A′ (A's structure, B′'s look) at A's
    size, B (B′'s structure, A's look) at B′'s size. The algorithm itself runs at the working size
    ``analogy.size`` (default 448 px on the long side), a separate setting.

    Attributes:
        a: Image A (e.g. a photo).
        b_prime: Image B′ (e.g. a painting).
        output: Output folder; ``A_prime.png`` and ``B.png`` (and the NNF files) in it are replaced.
        analogy: Algorithm settings, including the working size.
        result_size: Long side of the written results in px; ``None`` → each at its source's size.
        export_nnf: Also write ``nnf_ab.npy`` / ``nnf_ba.npy`` (``(H, W, 2)`` int64, ``(y, x)``, at
            the working size) and their colour codes ``nnf_ab.png`` / ``nnf_ba.png``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        encoder_weights: Optional encoder weights file (else the default search order).
    """

    a: Path
    b_prime: Path
    output: Path
    analogy: AnalogyConfig = field(default_factory=AnalogyConfig)
    result_size: int | None = None
    export_nnf: bool = False
    device: str = "auto"
    encoder_weights: Path | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` when a setting is out of range (no file is opened)."""
        self.analogy.validate()
        if self.analogy.size is None:
            raise InputError("the analogy needs a working size (the long side it runs at)", setting="size")
        check_number(self.result_size, "the result size (px)", low=1, high=16384, integer=True, optional=True,
                     setting="result_size")
