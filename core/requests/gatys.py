"""Settings of the Gatys solver (:func:`core.gatys.solver.stylize_gatys`), checked without torch.

:class:`GatysConfig` is part of every request that runs Gatys (stylise, video); its
:meth:`~GatysConfig.validate` is what front ends call to check a user's settings before any heavy
import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..foundation.errors import InputError
from .checks import check_number

__all__ = ["COLOR_MODES", "INITS", "MAX_ITERATIONS", "MAX_LONG_SIDE", "MIN_SIDE", "OPTIMIZERS",
           "SOLVE_BYTES_PER_PIXEL", "GatysConfig"]

#: Smallest side accepted for content images and pyramid levels.
MIN_SIDE = 16
#: Largest long side accepted even with tiling.
MAX_LONG_SIDE = 16384
#: Most iterations one level may ask for (a typo guard: 10⁶ iterations take days).
MAX_ITERATIONS = 100_000
#: Peak bytes per pixel of one L-BFGS solve (VGG16 to relu5_1 forward + backward in float32,
#: plus a 50-step L-BFGS history): measured 2.3 KB/px marginal on CPU at 512²→768², rounded up.
SOLVE_BYTES_PER_PIXEL = 2600
#: Encoder layer names (``conv3_1``, ``relu4_2``, ``pool2``); which exist depends on the encoder.
_LAYER = re.compile(r"^(conv|relu)[1-5]_[1-4]$|^pool[1-5]$")

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
COLOR_MODES = ("none", "luminance", "histogram")


@dataclass(frozen=True)
class GatysConfig:
    """Settings of a Gatys run.

    Attributes:
        content_layers: Layers whose activations the content loss compares.
        style_layers: Layers whose Gram matrices the style loss compares (equal weights).
        content_weight: α.
        style_weight: β.
        tv_weight: γ, total-variation smoothing.
        optimizer: ``"lbfgs"`` or ``"adam"``.
        learning_rate: Step size (L-BFGS: 1.0; Adam: pixels in [0, 1], e.g. 0.02).
        iterations: Iterations at the coarsest pyramid level (the only level when ``pyramid_levels == 1``).
        refine_iterations: Iterations at each finer level; ``None`` → ``max(10, iterations // 4)``.
        pyramid_levels: Number of levels (1 = single scale); ``0`` picks as many as keep the
            coarsest long side ≥ ``pyramid_min_side``, at most 3.
        pyramid_min_side: Smallest long side of an automatic pyramid.
        init: ``"content"``, ``"noise"`` or ``"style"``.
        seed: Seed of the noise initialisation.
        preserve_color: ``"none"``, ``"luminance"`` or ``"histogram"``.
        style_scale: Style image long side relative to the content's at each level.
        tile_size: Tile side in pixels; ``None`` derives it from ``memory_budget_mb``.
        tile_overlap: Overlap between tiles in pixels.
        allow_tiling: When ``False`` a level that exceeds the budget is an error.
        memory_budget_mb: Peak memory for one solve; ``None`` → 4096 MB on CPU, 60 % of free on CUDA.
        pooling: Encoder pooling, ``"max"`` or ``"avg"``.
        target_loss: Stop the finest level once the total loss falls to this value.
        detail_transfer: How much of the content's missing octave is added when a coarser result is
            upsampled (0 = plain upsampling).
    """

    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_weight: float = 1.0
    style_weight: float = 20.0
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    iterations: int = 200
    refine_iterations: int | None = None
    pyramid_levels: int = 0
    pyramid_min_side: int = 192
    init: str = "content"
    seed: int = 0
    preserve_color: str = "none"
    style_scale: float = 1.0
    tile_size: int | None = None
    tile_overlap: int = 64
    allow_tiling: bool = True
    memory_budget_mb: int | None = None
    pooling: str = "max"
    target_loss: float | None = None
    detail_transfer: float = 1.0

    def validate(self) -> None:
        """Raise :class:`InputError` for out-of-range settings: every number finite, in range, of its type."""
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.init not in INITS:
            raise InputError(f"init must be one of {INITS}, got {self.init!r}")
        if self.preserve_color not in COLOR_MODES:
            raise InputError(f"preserve_color must be one of {COLOR_MODES}, got {self.preserve_color!r}")
        if self.pooling not in ("max", "avg"):
            raise InputError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")
        check_number(self.iterations, "iterations", low=1, high=MAX_ITERATIONS, integer=True)
        check_number(self.refine_iterations, "refine_iterations", low=0, high=MAX_ITERATIONS, integer=True,
                     optional=True)
        check_number(self.pyramid_levels, "pyramid_levels (0 = automatic)", low=0, high=8, integer=True)
        check_number(self.pyramid_min_side, "pyramid_min_side", low=MIN_SIDE, high=MAX_LONG_SIDE, integer=True)
        if not self.style_layers and not self.content_layers:
            raise InputError("at least one style or content layer is needed")
        for layer in (*self.content_layers, *self.style_layers):
            if not isinstance(layer, str) or not _LAYER.match(layer):
                raise InputError(f"unknown encoder layer {layer!r}; layers are named like relu4_2, conv3_1 or pool2")
        for name, value in (("content_weight", self.content_weight), ("style_weight", self.style_weight),
                            ("tv_weight", self.tv_weight)):
            check_number(value, name, low=0)
        if self.content_weight + self.style_weight + self.tv_weight <= 0:
            raise InputError("the content, style and tv weights are all 0: there is nothing to optimise")
        check_number(self.learning_rate, "learning rate", low=0, low_open=True, high=1e3, optional=True)
        check_number(self.seed, "seed", integer=True)
        check_number(self.style_scale, "style_scale", low=0.05, high=8.0)
        check_number(self.tile_size, "tile_size", low=64, high=MAX_LONG_SIDE, integer=True, optional=True)
        check_number(self.tile_overlap, "tile_overlap", low=0, high=MAX_LONG_SIDE, integer=True)
        check_number(self.memory_budget_mb, "memory budget (MB)", low=64, high=2**24, integer=True, optional=True)
        check_number(self.target_loss, "target_loss", low=0, optional=True)
        check_number(self.detail_transfer, "detail_transfer", low=0, high=4.0)

    @property
    def refine_steps(self) -> int:
        """Iterations at each level finer than the coarsest."""
        return self.refine_iterations if self.refine_iterations is not None else max(10, self.iterations // 4)
