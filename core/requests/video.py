"""Boundary types: one frozen dataclass per job, shared by the CLI and the Blender add-on.

Front ends turn their options (argparse namespace, Blender properties) into a request; core sees
requests, tensors and paths only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analogy.deep_analogy import AnalogyConfig
from ..gatys.solver import GatysConfig


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
        size: Long side of the working (and output) size; ``None`` keeps the frames' size.
        model, style_names, style_weights, strength: StyleBank settings (see :class:`StylizeRequest`).
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
    keep: float = 0.85
    size: int | None = None
    model: Path | None = None
    style_names: tuple[str, ...] = ()
    style_weights: tuple[float, ...] | None = None
    strength: float = 1.0
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
