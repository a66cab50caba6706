"""Stylise one image: :class:`StylizeRequest` and its validation, without torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..foundation.errors import InputError
from .checks import check_bit_depth, check_number
from .gatys import MAX_LONG_SIDE, GatysConfig

__all__ = ["METHODS", "STROKE_RANGE", "StylizeRequest", "check_style_weights", "check_stylebank_styles"]

#: Methods that stylise a still.
METHODS = ("gatys", "stylebank")
#: StyleBank stroke sizes accepted (relative to the model's own: 2 = strokes twice as large).
STROKE_RANGE = (0.25, 4.0)


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
        stroke: StyleBank stroke size relative to the model's (2 = strokes twice as large), the
            same fraction of the picture at every output size (:mod:`core.stylebank.scales`).
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
    stroke: float = 1.0
    bit_depth: int | None = None

    def validate(self) -> None:
        """Check the settings without opening any file.

        Raises:
            InputError: An unknown method, styles that do not fit the method, masks or weights
                that do not match the styles, or an out-of-range setting.
        """
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; available: {', '.join(METHODS)}", setting="method")
        if self.method == "gatys":
            if not self.styles:
                raise InputError("the gatys method needs at least one style image", setting="styles")
            n_styles = len(self.styles)
        else:
            check_stylebank_styles(self.styles, self.style_names, self.strength, self.stroke)
            n_styles = len(self.style_names)
        if self.masks and len(self.masks) != n_styles:
            raise InputError(f"{len(self.masks)} masks for {n_styles} styles; give one mask per style", setting="masks")
        check_style_weights(self.style_weights, n_styles)
        check_number(self.size, "size (the long side in px)", low=1, high=MAX_LONG_SIDE, integer=True, optional=True,
                     setting="size")
        check_number(self.bit_depth, "bit depth", integer=True, optional=True, setting="bit_depth")
        check_bit_depth(self.bit_depth, Path(self.output))
        self.gatys.validate()


def check_stylebank_styles(styles: tuple[Path, ...], style_names: tuple[str, ...], strength: float,
                           stroke: float = 1.0) -> None:
    """StyleBank takes style names (banks of a model), not style images, a strength in [0, 1] and a
    stroke size in :data:`STROKE_RANGE`.

    Raises:
        InputError: Style images given, no style name, or a strength or stroke size out of range.
    """
    if styles:
        raise InputError("the stylebank method takes style names, not style images", setting="style_names")
    if not style_names:
        raise InputError("the stylebank method needs at least one style name", setting="style_names")
    check_number(strength, "strength", low=0.0, high=1.0, setting="strength")
    check_number(stroke, "stroke size", low=STROKE_RANGE[0], high=STROKE_RANGE[1], setting="stroke")


def check_style_weights(weights: tuple[float, ...] | None, n_styles: int) -> None:
    """One finite weight ≥ 0 per style, with a positive sum (``None`` = equal weights).

    Raises:
        InputError: A count mismatch or a bad weight.
    """
    if weights is None:
        return
    if len(weights) != n_styles:
        raise InputError(f"{len(weights)} style weights for {n_styles} styles; give one weight per style",
                         setting="style_weights")
    if any(isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights) \
            or sum(weights) <= 0:
        raise InputError(f"style weights must be ≥ 0 with a positive sum, got {list(weights)}", setting="style_weights")
