"""Boundary types: one frozen dataclass per job, shared by the CLI and the Blender add-on.

Front ends turn their options (argparse namespace, Blender properties) into a request; core sees
requests, tensors and paths only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .gatys import GatysConfig


@dataclass(frozen=True)
class StylizeRequest:
    """Stylise one image.

    Attributes:
        content: Content image file.
        styles: Style image files (Gatys).
        output: Output file; its extension picks the format.
        method: ``"gatys"`` or ``"stylebank"``.
        size: Long side of the working (and output) size in pixels; ``None`` keeps the content's size.
        style_weights: Blend weights, one per style; ``None`` → equal.
        masks: Mask image files, one per style (white = this style), same size as the content.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        encoder_weights: Optional encoder weights file (else the default search order).
        gatys: Gatys settings.
        model: StyleBank model folder; ``None`` → the vendored default model.
        style_names: StyleBank styles (bank names) to apply or fuse.
        strength: StyleBank strength, 0 = identity branch, 1 = full style.
        bit_depth: Output bit depth (8 or 16 for PNG/TIFF, 16 (half) or 32 for EXR); ``None`` → same as
            the content's where the format allows.
    """

    content: Path
    output: Path
    styles: tuple[Path, ...] = ()
    method: str = "gatys"
    size: int | None = 512
    style_weights: tuple[float, ...] | None = None
    masks: tuple[Path, ...] = ()
    device: str = "auto"
    encoder_weights: Path | None = None
    gatys: GatysConfig = field(default_factory=GatysConfig)
    model: Path | None = None
    style_names: tuple[str, ...] = ()
    strength: float = 1.0
    bit_depth: int | None = None
