"""OpenEXR pixels and channels: decoding (with channel selection), writing, and render passes.

:func:`read_exr_channels` returns every channel by name (Blender's Vector and Depth passes);
:func:`decode_exr` picks the colour channels :func:`~core.io.images.read_image` returns. Header
checks (truncation) live in :mod:`.formats`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import OpenEXR

from ..foundation.atomic_write import atomic_write_bytes
from ..foundation.errors import ImageReadError, OutputError
from .formats import check_file, exr_is_truncated

__all__ = ["decode_exr", "read_exr_channels", "write_exr"]

#: Largest magnitude a half float holds; larger values are clipped rather than becoming Inf.
_HALF_MAX = 65504.0


def decode_exr(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first part of an OpenEXR file to ``(H, W, C)`` float32 (C in 1..4)."""
    if exr_is_truncated(path):
        # Checked up front: OpenEXR prints warnings to stdout/stderr before raising on these.
        raise ImageReadError(f"{path} is truncated (the OpenEXR data ends before its last block)")
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
        channels = {name: ch.pixels for name, ch in exr.channels().items()}
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises RuntimeError/ValueError/...
        raise ImageReadError(
            f"{path} could not be decoded (truncated or corrupt OpenEXR data)"
        ) from exc
    if not channels:
        raise ImageReadError(f"{path} holds no image channels")
    names, _ = _select_exr_channels(list(channels))
    planes = [channels[n] for n in names]
    shapes = {p.shape for p in planes}
    if len(shapes) != 1 or any(p.ndim != 2 for p in planes):
        raise ImageReadError(
            f"{path} uses subsampled or deep channels ({', '.join(names)}), which are not supported"
        )
    bit_depth = 16 if all(p.dtype == np.float16 for p in planes) else 32
    return np.stack([p.astype(np.float32, copy=False) for p in planes], axis=-1), bit_depth


def _select_exr_channels(names: Sequence[str]) -> tuple[list[str], bool]:
    """Pick colour (and alpha) channels from an EXR channel list.

    Returns:
        ``(channel names, has_alpha)``: 3 or 4 names (RGB[A]) or 1 or 2 names (gray[+alpha]).
    """
    layers: dict[str, dict[str, str]] = {}
    for name in names:
        prefix, _, suffix = name.rpartition(".")
        layers.setdefault(prefix, {})[suffix.upper()] = name

    def layer_rank(prefix: str) -> tuple[int, str]:
        last = prefix.rpartition(".")[2].lower()
        if prefix == "":
            return 0, prefix
        if last in ("combined", "rgba", "rgb", "image", "composite"):
            return 1, prefix
        return 2, prefix

    ordered = sorted(layers, key=layer_rank)
    for colour, alpha_key in ((("R", "G", "B"), "A"), (("X", "Y", "Z"), "W")):
        for prefix in ordered:
            layer = layers[prefix]
            if all(c in layer for c in colour):
                chosen = [layer[c] for c in colour]
                if alpha_key in layer:
                    return [*chosen, layer[alpha_key]], True
                return chosen, False
    for prefix in ordered:
        layer = layers[prefix]
        if "Y" in layer:
            if "A" in layer:
                return [layer["Y"], layer["A"]], True
            return [layer["Y"]], False
    ranked = sorted(names, key=lambda n: (layer_rank(n.rpartition(".")[0]), n))
    if len(ranked) >= 3:
        return ranked[:3], False
    return ranked[:1], False


def write_exr(path: Path, planes: np.ndarray, *, half: bool) -> None:
    """Write ``(C, H, W)`` linear RGB(A) planes as a single-part scanline EXR."""
    if half:
        planes = np.clip(planes, -_HALF_MAX, _HALF_MAX).astype(np.float16)
    names = "RGBA"[: planes.shape[0]]
    channels = {n: np.ascontiguousarray(planes[i]) for i, n in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    # Encoded in memory, then written like every other format: Python's own file I/O reports
    # a full disk or a read-only folder as an OSError with an errno, which OpenEXR does not.
    buffer = io.BytesIO()
    try:
        OpenEXR.File(header, channels).write(buffer)
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises RuntimeError/ValueError/...
        raise OutputError(f"cannot encode {path}: OpenEXR failed ({exc})") from exc
    atomic_write_bytes(path, buffer.getvalue())


def read_exr_channels(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every channel of an OpenEXR file by name, e.g. Blender's Vector and Depth passes.

    Unlike :func:`read_image`, nothing is selected, converted or replaced: a multilayer render
    gives names such as ``ViewLayer.Vector.X`` or ``ViewLayer.Depth.Z``, a File Output node
    slot plain ``X, Y, Z, W``. Channels of every part are returned; a channel of a later part
    whose name is already taken is prefixed with that part's name (``part.channel``). Values
    (including NaN/Inf) are returned as stored, as ``float32``.

    Args:
        path: An ``.exr`` file.

    Returns:
        Channel name → ``float32`` array.

    Raises:
        ImageReadError: The file is missing, not an OpenEXR file, truncated or corrupt, holds
            no channels, or holds deep data.

    Shape:
        Each value: ``(H, W)`` (subsampled channels have their own, smaller size).
    """
    path = Path(path)
    fmt = check_file(path)
    if fmt != "exr":
        raise ImageReadError(f"{path} is not an OpenEXR file; render passes are read from .exr files")
    if exr_is_truncated(path):
        raise ImageReadError(f"{path} is truncated (the OpenEXR data ends before its last block)")
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
        parts = [(part.name(), dict(part.channels)) for part in exr.parts]
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises RuntimeError/ValueError/...
        raise ImageReadError(
            f"{path} could not be decoded (truncated or corrupt OpenEXR data)"
        ) from exc
    out: dict[str, np.ndarray] = {}
    for part_name, channels in parts:
        for name, channel in channels.items():
            pixels = np.asarray(channel.pixels)
            if pixels.ndim != 2 or pixels.dtype.kind not in "fiu":
                raise ImageReadError(
                    f"{path} channel {name} holds deep or non-image data, which is not supported"
                )
            key = name if name not in out else f"{part_name or 'part'}.{name}"
            out[key] = pixels.astype(np.float32, copy=False)
    if not out:
        raise ImageReadError(f"{path} holds no image channels")
    return out
