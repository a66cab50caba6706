"""Stylise a video or an image sequence: :class:`VideoRequest` and its validation, without torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..foundation.errors import InputError
from .analogy import AnalogyConfig
from .checks import check_number
from .gatys import COLOR_MODES, MAX_ITERATIONS, MAX_LONG_SIDE, GatysConfig
from .stylize import check_stylebank_styles, check_style_weights

__all__ = ["BLENDS", "DIS_PRESETS", "FLOWS", "METHODS", "MIN_SIZE", "VideoRequest"]

#: Methods that stylise a sequence.
METHODS = ("stylebank", "gatys", "analogy")
#: Where the motion comes from: DIS optical flow on the frames, or Blender's Vector pass.
FLOWS = ("dis", "vectors")
#: Where the propagated result is blended with the fresh one.
BLENDS = ("image", "feature", "both")
#: Presets of OpenCV's DIS optical flow, fastest first.
DIS_PRESETS = ("ultrafast", "fast", "medium")
#: Smallest working long side of a sequence.
MIN_SIZE = 16


@dataclass(frozen=True)
class VideoRequest:
    """Stylise a video file or an image sequence, frame by frame, online and resumable.

    Attributes:
        source: Video file, folder of numbered frames, or a pattern (``render/frame_####.exr``).
        output: Output video file, folder, or pattern (``out/frame_####.png``).
        method: ``"stylebank"``, ``"gatys"`` or ``"analogy"`` (Deep Image Analogy: each frame is A,
            the one image in ``styles`` is B′, the result is A′).
        coherent: Propagate the previous result by optical flow (``False`` = per frame).
        flow: ``"dis"`` (OpenCV DIS optical flow on the frames) or ``"vectors"`` (Blender's Vector
            pass, exact for rendered animation).
        dis_preset: DIS preset (``"ultrafast"``, ``"fast"``, ``"medium"``).
        vectors_dir: Folder with one EXR per frame holding the Vector pass (and optionally Depth),
            numbered like the source frames.
        blend: Where the propagated result is blended with the fresh one: ``"image"``, ``"feature"``
            (StyleBank only: before the decoder) or ``"both"``.
        keep: How much of the propagated result is kept where the flow is fully trusted (0–1).
        restore_detail: After an image-space blend, give the frame back the fresh stylisation's
            amount of fine detail (:func:`core.video.detail.restore_detail`), so coherent frames are
            as crisp as per-frame ones; ``False`` keeps the plain (softer, slightly steadier) blend.
        size: Long side of the working (and output) size; ``None`` keeps the frames' size.
        preserve_color: ``"none"``, ``"luminance"`` (keep each frame's colours, the style's
            strokes) or ``"histogram"`` (match the result's colour statistics to the frame's);
            every method (Gatys applies it inside its optimisation, the others after the network).
        model, style_names, style_weights, strength, stroke: StyleBank settings (see :class:`StylizeRequest`).
        styles: Style image files (Gatys), or the reference image B′ (analogy).
        gatys: Gatys settings of the first frame; later frames run ``gatys_next_iterations``.
        analogy: Deep Image Analogy settings (its ``size`` is ignored: frames run at ``size``).
        gatys_next_iterations: L-BFGS iterations of every frame after the first (warm-started).
        temporal_weight: Gatys temporal term strength.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        encoder_weights: Optional encoder weights file (Gatys).
        report: Measure the output's temporal warping error.
        overwrite: Start again even if the output holds finished frames.
        fps: Frame rate of an image-sequence source (for a video output); ``None`` → 24.
    """

    source: Path
    output: Path
    method: str = "stylebank"
    coherent: bool = True
    flow: str = "dis"
    dis_preset: str = "fast"
    vectors_dir: Path | None = None
    blend: str = "image"
    keep: float = 0.9
    restore_detail: bool = True
    size: int | None = None
    preserve_color: str = "none"
    model: Path | None = None
    style_names: tuple[str, ...] = ()
    style_weights: tuple[float, ...] | None = None
    strength: float = 1.0
    stroke: float = 1.0
    styles: tuple[Path, ...] = ()
    gatys: GatysConfig = field(default_factory=lambda: GatysConfig(iterations=100, pyramid_levels=1))
    gatys_next_iterations: int = 30
    analogy: AnalogyConfig = field(default_factory=AnalogyConfig)
    temporal_weight: float = 200.0
    device: str = "auto"
    encoder_weights: Path | None = None
    report: bool = False
    overwrite: bool = False
    fps: float | None = None

    def validate(self) -> None:
        """Check every setting without opening any file: :meth:`validate_engine` plus motion and size.

        Raises:
            InputError: With a message naming the setting.
        """
        self.validate_engine()
        if self.flow not in FLOWS:
            raise InputError(f"unknown flow source {self.flow!r}; available: {', '.join(FLOWS)}", setting="flow")
        if self.flow == "vectors" and self.vectors_dir is None:
            raise InputError("motion from render vectors needs the folder of Vector-pass EXRs (one per frame)",
                             setting="vectors_dir")
        if self.size is not None and isinstance(self.size, int) and not isinstance(self.size, bool) \
                and self.size < MIN_SIZE:
            raise InputError(f"size must be at least {MIN_SIZE} px, got {self.size}", setting="size")
        check_number(self.size, "size (the long side in px)", low=MIN_SIZE, high=MAX_LONG_SIDE, integer=True,
                     optional=True, setting="size")
        check_number(self.fps, "frame rate", low=0, low_open=True, high=1000, optional=True)

    def validate_engine(self) -> None:
        """Check what the frame engine (:class:`~core.video.online.OnlineStylizer`) needs.

        Method, styles, blend and coherence settings; the source, output and flow source are
        not involved.

        Raises:
            InputError: With a message naming the setting.
        """
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; available: {', '.join(METHODS)}", setting="method")
        if self.blend not in BLENDS:
            raise InputError(f"unknown blend {self.blend!r}; available: {', '.join(BLENDS)}", setting="blend")
        if self.method != "stylebank" and self.blend != "image":
            raise InputError(f"the {self.method} method blends in image space only (it has no decoder features)",
                             setting="blend")
        if self.dis_preset not in DIS_PRESETS:
            raise InputError(f"unknown DIS preset {self.dis_preset!r}; available: {', '.join(DIS_PRESETS)}",
                             setting="dis_preset")
        check_number(self.keep, "keep", low=0.0, high=1.0, setting="keep")
        if self.preserve_color not in COLOR_MODES:
            raise InputError(f"unknown colour preservation {self.preserve_color!r}; available: "
                             f"{', '.join(COLOR_MODES)}", setting="preserve_color")
        if self.method == "gatys":
            if not self.styles:
                raise InputError("the gatys method needs at least one style image", setting="styles")
            self.gatys.validate()
            check_number(self.gatys_next_iterations, "gatys_next_iterations", low=1, high=MAX_ITERATIONS, integer=True,
                         setting="gatys_next_iterations")
            check_number(self.temporal_weight, "temporal weight", low=0, setting="temporal_weight")
        elif self.method == "analogy":
            if len(self.styles) != 1:
                raise InputError(f"the analogy method needs exactly one reference image (B′), got {len(self.styles)}",
                                 setting="styles")
            self.analogy.validate()
        else:
            check_stylebank_styles(self.styles, self.style_names, self.strength, self.stroke)
            check_style_weights(self.style_weights, len(self.style_names))
