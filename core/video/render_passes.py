"""Blender's render passes as motion: the Vector pass → flow, the Depth pass, one EXR per frame.

Blender's Vector pass (determined empirically with PyPI ``bpy`` 4.5.15, Cycles, CPU, motion
blur off; see ``tests/core/video/test_vectors_blender.py``, which re-renders and checks it):
    The pass has four channels ``X, Y, Z, W`` (in a multilayer EXR ``ViewLayer.Vector.X`` …)
    in pixels, with Blender's pixel y axis pointing **up** (rows in the file run top-down).

    * ``(X, Y)`` is the motion from the current frame to the **previous** frame:
      ``p_prev = p + (X, Y)`` in y-up pixels, so ``flow_t_to_prev = (X, -Y)``.
    * ``(Z, W)`` is the motion from the **next** frame to the current one (the negated motion
      towards the next frame): ``p_next = p - (Z, W)`` in y-up pixels, so
      ``flow_t_to_next = (-Z, W)``.

    Evidence (the render in ``tests/core/video/test_vectors_blender.py``: 64×48, orthographic camera
    looking down −Z at 10 px per Blender unit, 1 sample, point-sampled pixels; a textured cube
    keyed linearly at ``(x, y) = (-2, -1), (0, 0), (1, 0)`` on frames 1, 2, 3, i.e. 20 px right
    and 10 px up the image from frame 1 to 2, then 10 px right to frame 3): on frame 2 every
    cube pixel had ``X = -20.0, Y = -10.0, Z = -10.0, W = 0.0`` (±5e-6) and the static plane
    ``0, 0, 0, 0``; the cube's footprint centroid (row, col) was (33.5, 11.5) on frame 1,
    (23.5, 31.5) on frame 2 and (23.5, 41.5) on frame 3. So ``flow_t_to_prev = (-20, +10)``
    and ``flow_t_to_next = (+10, 0)``, and warping frame 1 (resp. 3) with them reproduces
    frame 2 on the cube to < 1e-3. The same scene seen by a perspective camera gave the same
    signs (``X = -20.9, Y = -10.5, Z = -10.5, W = 0`` on the cube's top face).
    EEVEE was not tested (it needs a GPU context that headless ``bpy`` lacks here), nor were
    Blender versions other than 4.5.

    Motion blur must be off: with it on, the same render wrote a Vector pass of all zeros
    (indistinguishable from a static shot, so this cannot be detected from the pass itself).

Blender's Depth (Z) pass, as checked in the same renders, is the planar distance along the
camera's view axis (a plane facing the perspective camera has one value), and ``1e10`` where a
ray hits nothing (the world background).

Flows follow the convention of :mod:`core.video.flow`; :func:`core.video.flow.vector_confidence`
turns these passes into a flow and its confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..foundation.errors import InputError
from ..io.exr import read_exr_channels
from ..io.frame_names import FrameInfo, format_ranges

__all__ = ["VectorFrames", "exr_depth_pass", "exr_vector_pass", "read_depth_file", "read_mask_file", "read_pass_file",
           "read_vector_file", "vectors_to_flow"]


def vectors_to_flow(vector: np.ndarray, *, y_up: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Convert one frame's Blender Vector pass to flows towards the previous and next frames.

    With the pass's channels ``X, Y, Z, W`` (see the module docstring for how this was
    established)::

        flow_t_to_prev = ( X, -Y)      flow_t_to_next = (-Z,  W)      (y_up=True)
        flow_t_to_prev = ( X,  Y)      flow_t_to_next = (-Z, -W)      (y_up=False)

    Args:
        vector: The Vector pass of frame ``t`` as read from the EXR, rows top-down as in the
            image file (e.g. via :func:`core.io.exr.read_exr_channels` and
            :func:`exr_vector_pass`).
        y_up: The y components count upwards (Blender's pixel convention, the default). Pass
            ``False`` only for vectors whose y components already count down the rows.

    Returns:
        ``(flow_t_to_prev, flow_t_to_next)``, ``float32`` in this module's convention.

    Raises:
        InputError: ``vector`` is not ``(H, W, 4)`` or holds NaN/Inf.

    Shape:
        - vector: ``(H, W, 4)``
        - Output: two ``(H, W, 2)`` arrays
    """
    v = np.asarray(vector)
    if v.ndim != 3 or v.shape[2] != 4 or v.shape[0] < 1 or v.shape[1] < 1:
        raise InputError(
            f"the Vector pass must be an (H, W, 4) array of X, Y, Z, W motion, got shape {v.shape}"
        )
    if v.dtype.kind not in "fiu":
        raise InputError(f"the Vector pass must hold numbers, got {v.dtype}")
    from .flow import all_finite  # (flow imports this module)

    v = v.astype(np.float32, copy=False)
    if not all_finite(v):
        raise InputError("the Vector pass holds NaN or Inf values")
    sign = np.float32(-1.0 if y_up else 1.0)
    to_prev = np.empty(v.shape[:2] + (2,), np.float32)
    to_next = np.empty_like(to_prev)
    to_prev[..., 0] = v[..., 0]
    np.multiply(v[..., 1], sign, out=to_prev[..., 1])
    np.negative(v[..., 2], out=to_next[..., 0])
    np.multiply(v[..., 3], -sign, out=to_next[..., 1])
    return to_prev, to_next


def exr_vector_pass(channels: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pick the Vector pass out of an EXR's channels.

    Looks for ``<prefix>Vector.X/Y/Z/W`` (a multilayer render, e.g. ``ViewLayer.Vector.X``),
    else plain ``X, Y, Z, W`` (a File Output node slot fed by the Vector socket).

    Args:
        channels: Channel name → ``(H, W)`` array, e.g. from
            :func:`core.io.exr.read_exr_channels`.

    Returns:
        ``float32`` array of ``X, Y, Z, W`` motion.

    Raises:
        InputError: No such channels.

    Shape:
        Output: ``(H, W, 4)``
    """
    names = _find_components(channels, "vector", "XYZW")
    if names is None:
        raise InputError(
            "no Vector pass in the EXR (expected channels ViewLayer.Vector.X/Y/Z/W or X, Y, Z, W; "
            f"found {', '.join(sorted(channels)) or 'none'}); enable the Vector pass and turn "
            "motion blur off"
        )
    return np.stack([np.asarray(channels[n], dtype=np.float32) for n in names], axis=-1)


def exr_depth_pass(channels: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pick the Depth pass out of an EXR's channels.

    Looks for ``<prefix>Depth.Z`` (multilayer render), else ``<prefix>Depth.V``, else a file
    whose only channel is ``Z`` or ``V`` (a File Output node slot fed by the Depth socket).

    Args:
        channels: Channel name → ``(H, W)`` array.

    Returns:
        ``float32`` depth.

    Raises:
        InputError: No such channel.

    Shape:
        Output: ``(H, W)``
    """
    for component in "ZV":
        names = _find_components(channels, "depth", component, allow_bare=False)
        if names is not None:
            return np.asarray(channels[names[0]], dtype=np.float32)
    if len(channels) == 1 and next(iter(channels)) in ("Z", "V"):
        return np.asarray(next(iter(channels.values())), dtype=np.float32)
    raise InputError(
        "no Depth pass in the EXR (expected a channel ViewLayer.Depth.Z, or a single Z or V "
        f"channel; found {', '.join(sorted(channels)) or 'none'}); enable the Z pass"
    )


def _vectors_from(channels: Mapping[str, np.ndarray], path: Path) -> np.ndarray:
    if not {"X", "Y", "Z", "W"} <= set(channels) and {"R", "G", "B", "A"} <= set(channels) \
            and _find_components(channels, "vector", "XYZW") is None:
        # Blender 4.2 captures the pass through a colour socket (addon/blender_compat.vector_pass_socket_type).
        channels = {xyzw: channels[rgba] for xyzw, rgba in zip("XYZW", "RGBA")}
    try:
        return exr_vector_pass(channels)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _depth_from(channels: Mapping[str, np.ndarray], *, gray: bool) -> np.ndarray | None:
    try:
        depth = exr_depth_pass(channels)
    except InputError:
        # A File Output slot fed the Depth socket (a file of its own) writes it as gray R, G, B (A).
        value = next((channels[n] for n in ("R", "Y") if n in channels), None) if gray else None
        if value is None:
            return None
        depth = np.asarray(value, dtype=np.float32)
    return np.nan_to_num(depth, nan=1e10, posinf=1e10, neginf=0.0)


def read_vector_file(path: Path) -> np.ndarray:
    """The Vector pass of an EXR: a ``Vector`` layer, bare ``X, Y, Z, W``, or ``R, G, B, A`` standing for them.

    Returns:
        ``float32 (H, W, 4)``, exactly as stored (NaN/Inf included: whether the motion is usable
        is :class:`core.engine.motion.PassMotion`'s decision).

    Raises:
        core.foundation.errors.ImageReadError: The file cannot be read.
        InputError: No vector channels (the message names the file and what it holds).
    """
    return _vectors_from(read_exr_channels(path), Path(path))


def read_depth_file(path: Path) -> np.ndarray:
    """The Depth pass of an EXR (a ``Depth`` layer, a single ``Z``/``V`` channel, or a gray capture).

    Returns:
        ``float32 (H, W)``; NaN and +Inf (nothing hit) become ``1e10`` as Blender writes the background.

    Raises:
        InputError: No depth channel.
    """
    channels = read_exr_channels(path)
    depth = _depth_from(channels, gray=True)
    if depth is None:
        raise InputError(f"{path}: no Depth pass (found {', '.join(sorted(channels)) or 'no channels'}); "
                         "enable the Z pass")
    return depth


def read_pass_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(vectors (H, W, 4), depth (H, W) or None)`` of one EXR holding the Vector (and maybe Depth) pass.

    Raises:
        InputError: No vector channels in the file.
    """
    channels = read_exr_channels(path)
    return _vectors_from(channels, Path(path)), _depth_from(channels, gray=False)


def read_mask_file(path: Path) -> np.ndarray:
    """A mask pass (an ID mask, a cryptomatte matte) as ``float32 (H, W)`` weights in [0, 1].

    Masks are data: their values are used as they are, without any colour conversion; NaN
    counts as 0. The first of ``R, Y, V, Z, A`` (or the only channel) is the mask.

    Raises:
        InputError: No usable channel.
    """
    channels = read_exr_channels(path)
    value = next((channels[n] for n in ("R", "Y", "V", "Z", "A") if n in channels), None)
    if value is None and len(channels) == 1:
        value = next(iter(channels.values()))
    if value is None:
        raise InputError(f"{path}: no mask channel (found {', '.join(sorted(channels)) or 'no channels'})")
    arr = np.nan_to_num(np.asarray(value, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


def _find_components(
    channels: Mapping[str, np.ndarray], layer: str, components: str, *, allow_bare: bool = True
) -> list[str] | None:
    by_layer: dict[str, dict[str, str]] = {}
    for name in channels:
        prefix, _, suffix = name.rpartition(".")
        by_layer.setdefault(prefix, {})[suffix] = name
    for prefix in sorted(by_layer):
        if prefix.rpartition(".")[2].lower() == layer:
            found = by_layer[prefix]
            if all(c in found for c in components):
                return [found[c] for c in components]
    bare = by_layer.get("", {})
    if allow_bare and all(c in bare for c in components):
        return [bare[c] for c in components]
    return None


class VectorFrames:
    """Blender Vector (and optional Depth) passes, one EXR per frame, matched by frame number.

    Channel names accepted: a ``Vector`` layer (``ViewLayer.Vector.X``…, ``Vector.X``…) or plain
    ``X, Y, Z, W`` (a File Output slot); depth from a ``Depth`` layer (``….Depth.Z``, ``Depth.V``…).
    """

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"vectors folder {folder} does not exist")
        self.folder = folder
        self.by_number: dict[int, Path] = {}
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() != ".exr":
                continue
            digits = "".join(ch if ch.isdigit() else " " for ch in p.stem).split()
            if digits:
                self.by_number.setdefault(int(digits[-1]), p)

    def check(self, frames: list[FrameInfo]) -> None:
        """Every frame after the first needs its vectors.

        Raises:
            InputError: Listing the frame numbers without a vectors file.
        """
        missing = [f.number for f in frames[1:] if f.number not in self.by_number]
        if missing:
            raise InputError(f"no Vector-pass EXR for frame(s) {format_ranges(missing)} in {self.folder}")

    def read(self, number: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(vector (H, W, 4), depth (H, W) or None)`` of one frame.

        Raises:
            InputError: No vector channels in the file.
        """
        return read_pass_file(self.by_number[number])
