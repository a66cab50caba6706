"""Stylise a compositor node's captured frames one at a time; no ``bpy``, core does the work.

The render handlers (``render_stylize.py``) turn a node's settings into a frozen
:class:`NodeSettings` and every rendered frame into a :class:`FrameFiles`; one
:class:`NodeStylizer` per node and render job then stylises the frames in render order. StyleBank
and Gatys both run through :class:`core.video.online.OnlineStylizer`, so a sequence rendered with
``-a`` is coherent (Chen et al., "Coherent Online Video Style Transfer", ICCV 2017): frame ``t``
keeps the previous result carried along the motion wherever the motion is trusted.

Motion comes from the node's Vector input (Blender's Vector pass, exact when motion blur is off)
with the Depth input marking occlusions (:func:`core.video.flow.vector_confidence`); without them
(input unconnected, motion blur on) OnlineStylizer estimates DIS optical flow from the frames.
The previous frame's vectors and depth are kept from the previous call, so each frame's files
are read once. A frame that does not follow the previous one (a single F12, a jump, a frame step
above 1) starts fresh.

Only core's torch-free modules (errors, request settings) are imported at import: this module is
imported while the add-on registers, and Blender's Python may have no PyTorch. The rest of core is
imported when a stylizer is made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.foundation.errors import SettingsError
from ..core.requests.gatys import COLOR_MODES
from ..core.requests.video import METHODS, MIN_SIZE


@dataclass(frozen=True)
class NodeSettings:
    """Everything a node's stylisation depends on; the boundary between Blender and core.

    Attributes:
        node: The node's name, for messages.
        method: ``"stylebank"``, ``"gatys"`` or ``"analogy"`` (Deep Image Analogy: the render is A,
            ``style_images[0]`` is the reference B′, the result is A′).
        style_names: StyleBank styles (bank names), one or several (fusion).
        style_weights: Fusion weights, one per style; None → equal.
        style_images: Gatys style image files.
        strength: StyleBank strength, 0 = the network's identity branch, 1 = full style.
        preserve_color: ``"none"``, ``"luminance"`` (keep the render's colours) or
            ``"histogram"`` (match the result's colour statistics to the render's).
        coherent: Carry the previous frame's result along the motion (animation).
        keep: How much of the carried result is kept where the motion is trusted (0–1).
        size: Long side, in pixels, at which the network runs; None = the render's size. The
            result is scaled back to the render's size.
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
    preserve_color: str = "none"
    coherent: bool = True
    keep: float = 0.85
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
        if not 0.0 <= self.keep <= 1.0:
            raise SettingsError(f"{where}: coherence keep must be in [0, 1], got {self.keep}")
        if self.size is not None and self.size < MIN_SIZE:
            raise SettingsError(f"{where}: size must be at least {MIN_SIZE} px (0 = render size), got {self.size}")
        if self.masks and self.method != "stylebank":
            raise SettingsError(f"{where}: region masks need the StyleBank method")


@dataclass(frozen=True)
class FrameFiles:
    """The files of one frame of one node.

    Attributes:
        frame: Frame number.
        display_input: The node's Image input through the view transform (display-referred
            PNG, optionally with alpha).
        output: Where the stylised frame goes (a display-referred PNG).
        vectors: Captured Vector pass (OpenEXR, channels X Y Z W), or None.
        depth: Captured Depth (OpenEXR; ``R``, ``Y``, ``Z`` or ``V`` channel), or None.
        masks: Captured masks (OpenEXR), one per fused style, None where the input is
            unconnected.
    """

    frame: int
    display_input: Path
    output: Path
    vectors: Path | None = None
    depth: Path | None = None
    masks: tuple[Path | None, ...] = ()


@dataclass(frozen=True)
class FrameOutcome:
    """What stylising one frame did.

    Attributes:
        output: The written PNG.
        seconds: Wall time (reading, motion, network, writing).
        motion: ``"vectors"``, ``"optical flow"`` or None (the frame was stylised fresh).
        size: ``(H, W)`` at which the network ran.
    """

    output: Path
    seconds: float
    motion: str | None
    size: tuple[int, int]


def _first_channel(channels: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        if name in channels:
            return channels[name]
    if len(channels) == 1:
        return next(iter(channels.values()))
    return None


def read_depth(path: Path):
    """Depth from a captured EXR: a File Output slot fed a float writes ``R, G, B, A`` gray.

    Returns:
        ``float32 (H, W)`` numpy array.

    Raises:
        core.foundation.errors.InputError: No usable channel.
    """
    import numpy as np

    from ..core.foundation.errors import InputError
    from ..core.io.exr import read_exr_channels
    from ..core.video.render_passes import exr_depth_pass

    channels = read_exr_channels(path)
    value = _first_channel(channels, ("R", "Y", "Z", "V"))
    if value is None:
        try:
            return exr_depth_pass(channels)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return np.nan_to_num(np.asarray(value, dtype=np.float32), nan=1e10, posinf=1e10, neginf=0.0)


def read_mask(path: Path, size: tuple[int, int]):
    """A captured mask as ``(1, 1, H, W)`` weights in [0, 1] at ``size`` (area-resampled).

    Masks are data (an ID mask, a cryptomatte matte): their values are used as they are,
    without any colour conversion; NaN counts as 0.
    """
    import numpy as np
    import torch

    from ..core.foundation.errors import InputError
    from ..core.imaging.resize import resize
    from ..core.io.exr import read_exr_channels

    channels = read_exr_channels(path)
    value = _first_channel(channels, ("R", "Y", "V", "Z", "A"))
    if value is None:
        raise InputError(f"{path}: no mask channel (found {', '.join(sorted(channels))})")
    arr = np.clip(np.nan_to_num(np.asarray(value, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    mask = torch.from_numpy(np.ascontiguousarray(arr))[None, None]
    return resize(mask, size).clamp(0.0, 1.0)


def read_vectors(path: Path):
    """The Vector pass of a captured EXR as ``float32 (H, W, 4)``; None when it holds NaN/Inf.

    Channels X,Y,Z,W (Blender 4.5+), or R,G,B,A standing for them (the node's capture on 4.2).
    """
    import numpy as np

    from ..core.foundation.errors import InputError
    from ..core.io.exr import read_exr_channels
    from ..core.video.render_passes import exr_vector_pass

    channels = read_exr_channels(path)
    if not {"X", "Y", "Z", "W"} <= set(channels) and {"R", "G", "B", "A"} <= set(channels):
        # Blender 4.2 captures the pass through a colour socket (see blender_compat.vector_pass_socket_type).
        channels = {xyzw: channels[rgba] for xyzw, rgba in zip("XYZW", "RGBA")}
    try:
        vectors = exr_vector_pass(channels)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return vectors if np.isfinite(vectors).all() else None


def scale_motion(flow, confidence, size: tuple[int, int]):
    """Resample a flow ``(H, W, 2)`` and its confidence ``(H, W)`` to ``size``, scaling the vectors.

    Returns:
        ``(flow, confidence)`` at ``size`` as ``float32`` arrays.
    """
    from ..core.video.flow import resize_motion

    return resize_motion(flow, confidence, size)


class NodeStylizer:
    """One node's stylisation over one render job: the temporal state between its frames.

    Args:
        settings: The node's settings (validated here).

    Raises:
        SettingsError: Invalid settings.
        core.foundation.errors.ModelError: Missing or corrupt model weights.
        core.foundation.errors.InputError: A style the model does not have.
        core.foundation.errors.DeviceError: CUDA asked for but unavailable.
    """

    def __init__(self, settings: NodeSettings) -> None:
        settings.validate()
        self.settings = settings
        self._prev: tuple[int, Any, Any] | None = None  # (frame number, its vectors, its depth)
        self._engine = make_engine(settings)

    def reset(self) -> None:
        """Forget the previous frame: the next one is stylised fresh."""
        self._engine.reset()
        self._prev = None

    def process(self, files: FrameFiles, progress=None) -> FrameOutcome:
        """Stylise one frame and write its PNG atomically.

        Args:
            files: The frame's files.
            progress: Optional :data:`core.foundation.progress.ProgressCallback` (Gatys reports its
                iterations; returning False cancels).

        Returns:
            What was done.

        Raises:
            core.foundation.errors.ImageReadError: A capture is missing or unreadable.
            core.foundation.errors.Cancelled: ``progress`` returned False.
        """
        import torch

        from ..core.imaging.resize import resize, size_for_long_side
        from ..core.io.images import read_image, write_image
        from ..core.video.flow import vector_confidence

        started = time.perf_counter()
        s = self.settings
        image = read_image(files.display_input)
        content = image.srgb()
        full_size = image.size
        size = full_size if s.size is None else size_for_long_side(*full_size, s.size)
        frame = resize(content, size).clamp(0, 1)

        follows = self._prev is not None and self._prev[0] == files.frame - 1
        if not follows:
            self._engine.reset()
        vectors = depth = None
        if s.coherent and files.vectors is not None and files.vectors.is_file():
            vectors = read_vectors(files.vectors)
            if files.depth is not None and files.depth.is_file():
                depth = read_depth(files.depth)
        flow = conf = None
        motion = None
        if s.coherent and follows:
            prev_vectors, prev_depth = self._prev[1], self._prev[2]
            if vectors is not None and vectors.shape[:2] == full_size:
                both_depths = depth is not None and prev_depth is not None and prev_depth.shape == depth.shape
                same_prev = prev_vectors is not None and prev_vectors.shape == vectors.shape
                flow, conf = vector_confidence(vectors, depth if both_depths else None,
                                               prev_depth if both_depths else None,
                                               vector_prev=prev_vectors if same_prev else None)
                flow, conf = scale_motion(flow, conf, size)
                motion = "vectors"
            else:
                motion = "optical flow"
        masks = None
        if s.masks and files.masks:
            masks = [torch.ones(1, 1, *size) if p is None or not p.is_file() else read_mask(p, size)
                     for p in files.masks]
        out, _ = self._engine.step(frame, flow=flow, confidence=conf, masks=masks,
                                   progress=progress if s.method != "stylebank" else None)
        self._prev = (files.frame, vectors, depth)

        out = finish_frame(out, frame, full_size, s)
        write_image(files.output, out, image.alpha, colorspace="srgb", bit_depth=8)
        return FrameOutcome(files.output, time.perf_counter() - started, motion, size)


def make_engine(settings: NodeSettings):
    """The coherent frame engine (:class:`core.video.online.OnlineStylizer`) for validated ``settings``.

    Results are quantised to 8 bits (what the PNG holds), so a resumed run continues from the
    same state an uninterrupted one had. Blending is in image space (every method has it).

    Raises:
        core.foundation.errors.ModelError, core.foundation.errors.InputError, core.foundation.errors.DeviceError: As
            :class:`NodeStylizer`.
    """
    from ..core.foundation.device import resolve_device
    from ..core.requests.gatys import GatysConfig
    from ..core.requests.video import VideoRequest
    from ..core.video.online import OnlineStylizer

    s = settings
    request = VideoRequest(
        source=Path("."), output=Path("."), method=s.method, coherent=s.coherent, blend="image",
        keep=s.keep, size=s.size, model=s.model_dir, style_names=s.style_names if s.method == "stylebank" else (),
        style_weights=s.style_weights, strength=s.strength,
        styles=tuple(Path(p) for p in s.style_images) if s.method in ("gatys", "analogy") else (),
        gatys=GatysConfig(iterations=s.gatys_iterations, pyramid_levels=1,
                          preserve_color=s.preserve_color if s.method == "gatys" else "none"),
        gatys_next_iterations=s.gatys_next_iterations, device=s.device,
    )
    return OnlineStylizer(request, device=resolve_device(s.device), quantisation_bits=8)


def finish_frame(out, frame, full_size: tuple[int, int], settings: NodeSettings):
    """Colour preservation (StyleBank, Analogy; Gatys does its own) and scaling back to ``full_size``.

    Args:
        out: The engine's result ``(1, 3, h, w)``, display sRGB in [0, 1].
        frame: The frame the engine saw, same size.
        full_size: ``(H, W)`` of the source frame.
        settings: The settings (``preserve_color``, ``method``).

    Returns:
        ``(1, 3, H, W)`` in [0, 1].
    """
    from ..core.imaging.color_preservation import combine_luminance, match_color_histogram
    from ..core.imaging.resize import resize

    if settings.method != "gatys" and settings.preserve_color == "luminance":
        out = combine_luminance(out, frame)
    elif settings.method != "gatys" and settings.preserve_color == "histogram":
        out = match_color_histogram(out, frame)
    if tuple(out.shape[-2:]) != tuple(full_size):
        out = resize(out, tuple(full_size)).clamp(0, 1)
    return out
