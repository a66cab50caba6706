"""What a front end chose for its frames: :class:`FrameSettings`, checked without PyTorch.

The add-on turns a compositor node, a strip or the Image Editor panel into a frozen
:class:`FrameSettings`; :meth:`FrameSettings.to_request` makes the engine's
:class:`~core.requests.video.VideoRequest` from it. Nothing here imports torch, so the add-on can
validate settings in a Blender whose Python has no PyTorch yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..foundation.errors import SettingsError
from ..requests.gatys import COLOR_MODES, GatysConfig
from ..requests.stylize import STROKE_RANGE
from ..requests.video import METHODS, MIN_SIZE, VideoRequest

__all__ = ["FrameSettings"]


@dataclass(frozen=True)
class FrameSettings:
    """Everything a front end's stylisation depends on; the boundary between Blender and core.

    Attributes:
        node: The node's (strip's, image's) name, for messages.
        method: ``"stylebank"``, ``"gatys"`` or ``"analogy"`` (Deep Image Analogy: the frame is A,
            ``style_images[0]`` is the reference B′, the result is A′).
        style_names: StyleBank styles (bank names), one or several (fusion).
        style_weights: Fusion weights, one per style; None → equal.
        style_images: Gatys style image files (the Analogy reference).
        strength: StyleBank strength, 0 = the network's identity branch, 1 = full style.
        stroke: StyleBank stroke size relative to the model's (2 = twice as large), the same
            fraction of the picture at every size (:mod:`core.stylebank.scales`).
        preserve_color: ``"none"``, ``"luminance"`` (keep the frame's colours) or
            ``"histogram"`` (match the result's colour statistics to the frame's).
        coherent: Carry the previous frame's result along the motion (animation).
        keep: How much of the carried result is kept where the motion is trusted (0–1).
        size: Long side, in pixels, at which the network runs; None = the frame's size. The
            result is scaled back to the frame's size.
        model_dir: StyleBank model folder; None = the vendored model.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        gatys_iterations: L-BFGS iterations of the first frame (and of every frame without
            coherence).
        gatys_next_iterations: L-BFGS iterations of each later, warm-started frame.
        masks: Number of mask inputs used for region-wise fusion (0 = none).
        kind: What ``node`` names in messages (``"node"``, ``"strip"``, ``"image"``).
        fix_in: Where the user changes the settings, for messages (``"the node"``, ``"the
            Style Transfer panel"``).
    """

    node: str
    method: str = "stylebank"
    style_names: tuple[str, ...] = ()
    style_weights: tuple[float, ...] | None = None
    style_images: tuple[Path, ...] = ()
    strength: float = 1.0
    stroke: float = 1.0
    preserve_color: str = "none"
    coherent: bool = True
    keep: float = VideoRequest.keep  # one default for the CLI, the node and Stylize Strip
    size: int | None = None
    model_dir: Path | None = None
    device: str = "auto"
    gatys_iterations: int = 100
    gatys_next_iterations: int = 30
    masks: int = 0
    kind: str = "node"
    fix_in: str = "the node"

    def validate(self) -> None:
        """Check what can be checked without PyTorch or the model.

        Raises:
            SettingsError: With a message naming the node and the fix.
        """
        where = f"{self.kind} '{self.node}'"
        if self.method not in METHODS:
            raise SettingsError(f"{where}: unknown method {self.method!r}")
        if self.preserve_color not in COLOR_MODES:
            raise SettingsError(f"{where}: unknown colour preservation {self.preserve_color!r}")
        if self.method == "stylebank":
            if not self.style_names or any(not name for name in self.style_names):
                raise SettingsError(f"{where}: no style chosen; pick a style in {self.fix_in}")
            if self.style_weights is not None:
                if len(self.style_weights) != len(self.style_names):
                    raise SettingsError(f"{where}: {len(self.style_weights)} weights for "
                                        f"{len(self.style_names)} styles")
                if any(not math.isfinite(w) or w < 0 for w in self.style_weights) or sum(self.style_weights) <= 0:
                    raise SettingsError(f"{where}: style weights must be ≥ 0 and not all 0")
        else:
            if not self.style_images:
                what = "Reference Image" if self.method == "analogy" else "Style Image"
                raise SettingsError(f"{where}: no {what.lower()} chosen; set {what} in {self.fix_in}")
            missing = [str(p) for p in self.style_images if not Path(p).is_file()]
            if missing:
                raise SettingsError(f"{where}: style image {missing[0]} does not exist")
        if not 0.0 <= self.strength <= 1.0:
            raise SettingsError(f"{where}: strength must be in [0, 1], got {self.strength}")
        low, high = STROKE_RANGE
        if not low <= self.stroke <= high:
            raise SettingsError(f"{where}: stroke size must be in [{low}, {high}], got {self.stroke}")
        if not 0.0 <= self.keep <= 1.0:
            raise SettingsError(f"{where}: coherence keep must be in [0, 1], got {self.keep}")
        if self.size is not None and self.size < MIN_SIZE:
            raise SettingsError(f"{where}: size must be at least {MIN_SIZE} px (0 = the frame's size), got {self.size}")
        if self.masks and self.method != "stylebank":
            raise SettingsError(f"{where}: region masks need the StyleBank method")

    def to_request(self) -> VideoRequest:
        """The engine's request for these settings (source and output are the caller's business).

        Blending is in image space (every method has it); Gatys runs one pyramid level per frame.
        """
        return VideoRequest(
            source=Path("."), output=Path("."), method=self.method, coherent=self.coherent, blend="image",
            keep=self.keep, size=self.size, model=self.model_dir,
            style_names=self.style_names if self.method == "stylebank" else (),
            style_weights=self.style_weights, strength=self.strength, stroke=self.stroke,
            styles=tuple(Path(p) for p in self.style_images) if self.method != "stylebank" else (),
            gatys=GatysConfig(iterations=self.gatys_iterations, pyramid_levels=1),
            gatys_next_iterations=self.gatys_next_iterations, device=self.device,
            preserve_color=self.preserve_color,
        )
