"""The compositor node's frames: each rendered frame's captures in, its stylised PNG out.

The add-on's render handlers capture a node's inputs for every rendered frame
(:class:`FrameFiles`) and hand them, in render order, to one :class:`RenderFrameStylizer` per node
and render job. It reads the captures and drives the frame engine
(:class:`core.engine.frames.FrameEngine`), so a sequence rendered with ``-a`` is coherent (Chen et
al., "Coherent Online Video Style Transfer", ICCV 2017): motion from the node's Vector input
(Blender's Vector pass, exact when motion blur is off) with the Depth input marking occlusions,
else DIS optical flow; a frame that does not follow the previous one (a single F12, a jump, a
frame step above 1) starts fresh.

PyTorch is imported when a stylizer is made, never at import: the add-on imports this module
while it registers, in a Blender that may have no PyTorch yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.settings import FrameSettings
from ..foundation.progress import ProgressCallback

__all__ = ["FrameFiles", "FrameOutcome", "RenderFrameStylizer"]


@dataclass(frozen=True)
class FrameFiles:
    """The files of one frame of one node.

    Attributes:
        frame: Frame number.
        display_input: The node's Image input through the view transform (display-referred
            PNG, optionally with alpha).
        output: Where the stylised frame goes (a display-referred PNG).
        vectors: Captured Vector pass (OpenEXR, channels X Y Z W, or R G B A on Blender 4.2), or None.
        depth: Captured Depth (OpenEXR), or None.
        masks: Captured masks (OpenEXR), one per fused style, None where the input is
            unconnected.
        exact_vectors: The render had motion blur off: the Vector pass is the motion, zero included.
    """

    frame: int
    display_input: Path
    output: Path
    vectors: Path | None = None
    depth: Path | None = None
    masks: tuple[Path | None, ...] = ()
    exact_vectors: bool = False


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


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


class RenderFrameStylizer:
    """One node's stylisation over one render job: the engine and its state between frames.

    Args:
        settings: The node's settings (validated here).

    Raises:
        core.foundation.errors.SettingsError: Invalid settings.
        core.foundation.errors.ModelError: Missing or corrupt model weights.
        core.foundation.errors.InputError: A style the model does not have.
        core.foundation.errors.DeviceError: CUDA asked for but unavailable.
    """

    def __init__(self, settings: FrameSettings) -> None:
        from ..engine.frames import FrameEngine

        settings.validate()
        self.settings = settings
        self._engine = FrameEngine(settings.to_request(), quantisation_bits=8)

    def reset(self) -> None:
        """Forget the previous frame: the next one is stylised fresh."""
        self._engine.reset()

    def process(self, files: FrameFiles, progress: ProgressCallback | None = None) -> FrameOutcome:
        """Stylise one frame and write its PNG atomically.

        Args:
            files: The frame's files.
            progress: Optional callback (slow methods report their iterations; returning False cancels).

        Raises:
            core.foundation.errors.ImageReadError: A capture is missing or unreadable.
            core.foundation.errors.InputError: Passes of another size than the frame.
            core.foundation.errors.Cancelled: ``progress`` returned False.
        """
        import torch

        from ..engine.motion import FramePasses
        from ..io.images import read_image, write_image
        from ..video.render_passes import read_depth_file, read_mask_file, read_vector_file

        started = time.perf_counter()
        s = self.settings
        image = read_image(files.display_input)
        passes = None
        if s.coherent and _existing(files.vectors):
            depth = read_depth_file(files.depth) if _existing(files.depth) else None
            passes = FramePasses(read_vector_file(files.vectors), depth, exact=files.exact_vectors)
        masks = None
        if s.masks and files.masks:
            masks = [None if _existing(p) is None else torch.from_numpy(read_mask_file(p))[None, None]
                     for p in files.masks]
        result = self._engine.step(image.srgb(), files.frame, passes=passes, masks=masks, progress=progress,
                                   where=f"frame {files.frame}")
        write_image(files.output, result.image, image.alpha, colorspace="srgb", bit_depth=8)
        return FrameOutcome(files.output, time.perf_counter() - started, result.motion, result.size)
