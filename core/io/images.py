"""Image files to tensors and back: :func:`read_image`, :func:`write_image`, :class:`ImageData`.

Pixel contract:
    * RGB is a ``float32`` tensor of shape ``(1, 3, H, W)``.
    * Alpha, when the file has one, is a separate ``float32`` tensor of shape ``(1, 1, H, W)``;
      it is carried through untouched (never premultiplied, never colour-converted).
    * Integer files (PNG, JPEG, 8/16-bit TIFF) hold display sRGB values; they are scaled to
      ``[0, 1]`` (``/255`` or ``/65535``) and reported with ``colorspace="srgb"``.
    * Float files (OpenEXR, 32-bit float TIFF) hold scene-linear values, returned as they are
      (any range) with ``colorspace="linear"``. NaN/Inf values are replaced (see
      :func:`read_image`) and reported with one :class:`NonFiniteWarning`.
    * Grayscale is replicated to three channels.

Supported formats: PNG (8/16 bit; gray, gray+alpha, palette, RGB, RGBA), JPEG (gray/RGB; EXIF
orientation applied), TIFF (8/16-bit integer, 32-bit float; gray/RGB with optional alpha) and
OpenEXR (half/float, first part only). PNG/JPEG/TIFF are decoded with OpenCV, OpenEXR with the
``OpenEXR`` package. Every file is checked (existence, extension, magic bytes, header size,
truncation) before its pixels are decoded, and every failure is a typed error with one sentence
that names the file.

Byte-level checks (signatures, header sizes, truncation) are in :mod:`.formats`, OpenEXR channels in
:mod:`.exr`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..foundation.atomic_write import atomic_write_bytes
from ..foundation.errors import ImageReadError, OutputError
from ..imaging.color_space import linear_to_srgb, srgb_to_linear
from .exr import decode_exr, write_exr
from .formats import (
    FORMAT_NAMES,
    MAX_PIXELS,
    MIN_SIDE,
    PREFERRED_EXTENSION,
    SUPPORTED_EXTENSIONS,
    check_complete,
    check_dimensions,
    check_file,
    header_size,
    jpeg_end,
    png_complete,
    probe_image,
)

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "SUPPORTED_EXTENSIONS",
    "ImageData",
    "NonFiniteWarning",
    "check_complete",
    "probe_image",
    "quiet_opencv",
    "read_image",
    "write_image",
]

_JPEG_QUALITY = 95


class NonFiniteWarning(UserWarning):
    """A float image held NaN or ±Inf values, which were replaced by finite ones."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """A decoded image.

    Attributes:
        rgb: Colour, ``float32``, in ``colorspace``.
        alpha: Alpha (coverage, never premultiplied into ``rgb``) or ``None``.
        colorspace: ``"srgb"`` (display values in ``[0, 1]``) or ``"linear"`` (scene-linear,
            any range).
        bit_depth: Bits per sample in the file: 8, 16 (16-bit integer or half float) or 32.
        format: ``"png"``, ``"jpeg"``, ``"tiff"`` or ``"exr"``.
        path: The file it was read from.
        nonfinite_count: How many NaN/±Inf sample values were replaced while reading.

    Shape:
        - rgb: ``(1, 3, H, W)``
        - alpha: ``(1, 1, H, W)``
    """

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    colorspace: str
    bit_depth: int
    format: str
    path: Path
    nonfinite_count: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])

    def srgb(self) -> torch.Tensor:
        """Return the colour as display sRGB clamped to ``[0, 1]``.

        Linear data is encoded with the IEC 61966-2-1 curve first; values above 1 are clipped.

        Returns:
            A new ``float32`` tensor.

        Shape:
            ``(1, 3, H, W)``
        """
        rgb = linear_to_srgb(self.rgb) if self.colorspace == "linear" else self.rgb
        return rgb.clamp(0.0, 1.0)


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> ImageData:
    """Decode an image file into the pixel contract of this module.

    Float data (OpenEXR, float TIFF) may hold NaN or ±Inf. They are replaced: NaN → 0,
    +Inf → the largest finite value in the image (1.0 if there is none), −Inf → 0; the number
    of replaced values is stored in ``nonfinite_count`` and one :class:`NonFiniteWarning` is
    emitted.

    OpenEXR channel selection (first part only): ``R,G,B[,A]`` (also with a layer prefix such
    as Blender's ``ViewLayer.Combined.R``; an unprefixed or ``Combined`` layer is preferred),
    else ``X,Y,Z[,W]`` mapped to ``R,G,B[,A]``, else a luminance ``Y[,A]``, else the first
    three channels sorted by name, else the first channel as gray.

    Args:
        path: Image file (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``, ``.exr``).
        max_pixels: Refuse images with more pixels than this (checked from the header, before
            any pixel is decoded).

    Returns:
        The decoded :class:`ImageData`.

    Raises:
        ImageReadError: Missing, folder, empty, unsupported extension, content not matching the
            extension, truncated or corrupt data, smaller than 2×2 pixels.
        ImageTooLargeError: The header says the image has more than ``max_pixels`` pixels.

    Warns:
        NonFiniteWarning: NaN/Inf values were replaced.
    """
    path = Path(path)
    fmt = check_file(path)
    height, width = header_size(path, fmt)
    check_dimensions(path, height, width, max_pixels)

    if fmt == "exr":
        arr, bit_depth = decode_exr(path)
        is_float = True
    else:
        arr, bit_depth, is_float = _decode_with_opencv(path, fmt)

    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{path} could not be decoded (unexpected pixel layout {arr.shape})")
    # Belt and braces: the decoded size is the one that matters (e.g. if a header lied).
    check_dimensions(path, arr.shape[0], arr.shape[1], max_pixels)

    nonfinite = 0
    if is_float:
        arr, nonfinite = _replace_nonfinite(arr)
        if nonfinite:
            warnings.warn(
                NonFiniteWarning(f"{path}: replaced {nonfinite} NaN/Inf values"), stacklevel=2
            )

    channels = arr.shape[2]
    if channels in (1, 2):
        rgb = np.repeat(arr[:, :, :1], 3, axis=2)
        alpha = arr[:, :, 1] if channels == 2 else None
    else:
        rgb = arr[:, :, :3]
        alpha = arr[:, :, 3] if channels == 4 else None

    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    alpha_t = None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha))[None, None]
    return ImageData(
        rgb=rgb_t,
        alpha=alpha_t,
        colorspace="linear" if is_float else "srgb",
        bit_depth=bit_depth,
        format=fmt,
        path=path,
        nonfinite_count=nonfinite,
    )


def _decode_with_opencv(path: Path, fmt: str) -> tuple[np.ndarray, int, bool]:
    """Decode PNG/JPEG/TIFF to float32 ``(H, W, C)`` in RGB(A) order.

    Returns ``(array, bit_depth, is_float)``: integer samples are scaled to ``[0, 1]``.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    raw = data.tobytes() if fmt != "tiff" else b""
    if fmt == "png" and not png_complete(raw):
        raise ImageReadError(f"{path} is truncated (the PNG data ends before its IEND chunk)")
    if fmt == "jpeg":
        end = jpeg_end(raw)
        if end is None:
            raise ImageReadError(f"{path} is truncated (the JPEG data has no end-of-image marker)")
        data = data[:end]  # a motion photo's video (or any trailer) after the image is not decoded

    # JPEG: IMREAD_ANYCOLOR|ANYDEPTH keeps gray as gray and applies the EXIF orientation
    # (IMREAD_UNCHANGED ignores it). PNG/TIFF: IMREAD_UNCHANGED keeps alpha and 16-bit/float.
    flags = (
        cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    )
    try:
        with quiet_opencv(), (libjpeg_messages() if fmt == "jpeg" else _no_messages()) as messages:
            arr = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise ImageReadError(
            f"{path} could not be decoded (corrupt {FORMAT_NAMES[fmt]} data)"
        ) from exc
    if arr is None:
        raise ImageReadError(
            f"{path} could not be decoded (truncated or corrupt {FORMAT_NAMES[fmt]} data)"
        )
    corrupt = [m for m in messages if m.startswith(_LIBJPEG_CORRUPT)]
    if corrupt:
        reason = corrupt[0].split(":", 1)[-1].strip()
        raise ImageReadError(f"{path} is corrupt (the JPEG decoder reports: {reason})")

    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels == 3:
        arr = arr[:, :, ::-1]
    elif channels == 4:
        arr = arr[:, :, [2, 1, 0, 3]]
    elif channels not in (1, 2):
        raise ImageReadError(
            f"{path} has {channels} channels; only gray, gray+alpha, RGB and RGBA are supported"
        )

    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8, False
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16, False
    if arr.dtype == np.float16:
        return arr.astype(np.float32), 16, True
    if arr.dtype.kind == "f":
        return arr.astype(np.float32), 32, True
    raise ImageReadError(
        f"{path} stores {arr.dtype} samples; only 8/16-bit unsigned integer and float are supported"
    )


#: How libjpeg's warnings about damaged scan data begin (``jdmarker.c``/``jdhuff.c`` messages).
_LIBJPEG_CORRUPT = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid JPEG", "Bogus", "Huffman table")
_STDERR_LOCK = threading.Lock()


@contextmanager
def _no_messages() -> Iterator[list[str]]:
    yield []


@contextmanager
def libjpeg_messages() -> Iterator[list[str]]:
    """Collect what the decoder writes to file descriptor 2 during the block (one string per line).

    libjpeg reports a damaged scan ("Corrupt JPEG data: premature end of data segment",
    "… extraneous bytes before marker 0xd9") only as a *warning* printed to stderr, and still
    returns a picture with grey or smeared blocks; OpenCV passes neither on. The lines are
    captured through a temporary file put on fd 2 while the decoder runs (a lock keeps two
    decodes from interleaving) and lines that are not libjpeg's are written back to stderr.
    """
    lines: list[str] = []
    import sys
    import tempfile

    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield lines
            return
        try:
            with tempfile.TemporaryFile() as capture:
                os.dup2(capture.fileno(), 2)
                try:
                    yield lines
                finally:
                    os.dup2(saved, 2)
                    capture.seek(0)
                    text = capture.read().decode("utf-8", "replace")
                    lines.extend(line.strip() for line in text.splitlines() if line.strip())
                    other = [line for line in lines if not line.startswith(_LIBJPEG_CORRUPT)]
                    if other:
                        os.write(2, ("\n".join(other) + "\n").encode())
        finally:
            os.close(saved)


def _replace_nonfinite(arr: np.ndarray) -> tuple[np.ndarray, int]:
    finite = np.isfinite(arr)
    count = int(arr.size - np.count_nonzero(finite))
    if count == 0:
        return arr, 0
    largest = float(arr[finite].max()) if finite.any() else 1.0
    return np.nan_to_num(arr, nan=0.0, posinf=largest, neginf=0.0), count


class _OpenCVQuiet:
    """Reference-counted silencing of OpenCV's own log output (restored by the last user)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        get_level = getattr(cv2, "getLogLevel", None)
        set_level = getattr(cv2, "setLogLevel", None)
        if get_level is None or set_level is None:
            yield
            return
        with self._lock:
            if self._users == 0:
                self._saved = get_level()
                set_level(0)  # LOG_LEVEL_SILENT
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._saved is not None:
                    set_level(self._saved)
                    self._saved = None


#: Silences OpenCV's log output while in use (shared by every decoder and encoder in :mod:`core.io`).
quiet_opencv = _OpenCVQuiet()


def write_image(
    path: str | os.PathLike[str],
    rgb: torch.Tensor,
    alpha: torch.Tensor | None = None,
    *,
    colorspace: str = "srgb",
    bit_depth: int | None = None,
) -> Path:
    """Encode an image and write it atomically; the format follows the extension.

    * PNG / JPEG / TIFF (integer): linear input is encoded to sRGB, values are clipped to
      ``[0, 1]`` and rounded to 8 bits (default) or 16 bits (``bit_depth=16``, PNG/TIFF only).
      JPEG is written at quality 95 and has no alpha: ``alpha`` is silently dropped.
    * TIFF with ``bit_depth=32``: uncompressed float32, linear (sRGB input is decoded).
    * OpenEXR: linear float32 (default, ``bit_depth=32``) or half (``bit_depth=16``) channels
      ``R,G,B[,A]``, ZIP compressed; sRGB input is decoded to linear first. Values beyond the
      half range are clipped to ±65504 rather than becoming Inf.
    * Alpha is written as is (clipped to ``[0, 1]`` for integer formats), never converted.

    The extension and bit depth are validated before anything is written; the file appears
    atomically (temporary file + rename), so readers never see half a file.

    Args:
        path: Output file; parent folders are created.
        rgb: Colour values (torch tensor or numpy array), see ``colorspace``.
        alpha: Optional alpha, same height and width as ``rgb``.
        colorspace: What ``rgb`` holds: ``"srgb"`` display values or ``"linear"`` light.
        bit_depth: 8 or 16 for PNG/TIFF, 8 for JPEG, 32 for float TIFF, 16 (half) or 32 for
            EXR; ``None`` picks 8 for PNG/JPEG/TIFF and 32 for EXR.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: Unsupported extension or bit depth for the format (nothing is written),
            disk full, read-only or non-writable output folder.
        ValueError: ``rgb``/``alpha`` have the wrong shape, or ``colorspace`` is unknown.

    Shape:
        - rgb: ``(1, 3, H, W)`` or ``(3, H, W)``
        - alpha: ``(1, 1, H, W)``, ``(1, H, W)`` or ``(H, W)``
    """
    path = Path(path)
    fmt = SUPPORTED_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"cannot write {path}: {path.suffix or 'no'} extension is not a supported image "
            f"type (supported: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    allowed = {"png": (8, 16), "jpeg": (8,), "tiff": (8, 16, 32), "exr": (16, 32)}[fmt]
    depth = bit_depth if bit_depth is not None else (32 if fmt == "exr" else 8)
    if depth not in allowed:
        raise OutputError(
            f"cannot write {path} as {depth}-bit {FORMAT_NAMES[fmt]}; "
            f"supported bit depths: {', '.join(map(str, allowed))}"
        )
    if colorspace not in ("srgb", "linear"):
        raise ValueError(f"colorspace must be 'srgb' or 'linear', got {colorspace!r}")

    rgb_t = _as_planes(rgb, 3, "rgb")
    alpha_t = None if alpha is None else _as_planes(alpha, 1, "alpha")
    if alpha_t is not None and alpha_t.shape[-2:] != rgb_t.shape[-2:]:
        raise ValueError(
            f"alpha is {tuple(alpha_t.shape[-2:])} but rgb is {tuple(rgb_t.shape[-2:])} (H, W)"
        )
    if fmt == "jpeg":
        alpha_t = None

    if fmt == "exr" or depth == 32:
        linear = srgb_to_linear(rgb_t) if colorspace == "srgb" else rgb_t
        planes = torch.cat([linear, alpha_t], 0) if alpha_t is not None else linear
        arr = planes.numpy().astype(np.float32)
        if fmt == "exr":
            write_exr(path, arr, half=depth == 16)
        else:
            _write_opencv(path, ".tif", arr, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
        return path

    display = linear_to_srgb(rgb_t) if colorspace == "linear" else rgb_t
    planes = torch.cat([display, alpha_t], 0) if alpha_t is not None else display
    arr = np.nan_to_num(planes.numpy().astype(np.float32), nan=0.0)
    scale, dtype = (255.0, np.uint8) if depth == 8 else (65535.0, np.uint16)
    arr = np.rint(np.clip(arr, 0.0, 1.0) * scale).astype(dtype)
    params: list[int] = []
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]
        sampling = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR", None)
        factor_444 = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444", None)
        if sampling is not None and factor_444 is not None:
            params += [sampling, factor_444]
    elif fmt == "tiff":
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 5]  # LZW, lossless
    _write_opencv(path, PREFERRED_EXTENSION[fmt], arr, params)
    return path


def _as_planes(x: torch.Tensor | np.ndarray, channels: int, name: str) -> torch.Tensor:
    """``(channels, H, W)`` float32 CPU tensor from the accepted input shapes."""
    t = torch.as_tensor(x).detach()
    if channels == 1 and t.ndim == 2:
        t = t[None]
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != channels or t.shape[1] < 1 or t.shape[2] < 1:
        expected = "(1, 3, H, W) or (3, H, W)" if channels == 3 else "(1, 1, H, W) or (H, W)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype == torch.bool):
        raise ValueError(f"{name} must be floating point, got {t.dtype}")
    return t.to(device="cpu", dtype=torch.float32)


def _write_opencv(path: Path, ext: str, planes: np.ndarray, params: list[int]) -> None:
    """Encode ``(C, H, W)`` RGB(A) planes with OpenCV and write them atomically."""
    hwc = planes.transpose(1, 2, 0)
    if hwc.shape[2] == 3:
        hwc = hwc[:, :, ::-1]
    elif hwc.shape[2] == 4:
        hwc = hwc[:, :, [2, 1, 0, 3]]
    hwc = np.ascontiguousarray(hwc)
    try:
        with quiet_opencv():
            ok, encoded = cv2.imencode(ext, hwc, params)
    except cv2.error as exc:
        raise OutputError(f"cannot encode {path}: OpenCV failed ({exc.err})") from exc
    if not ok:
        raise OutputError(f"cannot encode {path}: OpenCV returned no data")
    atomic_write_bytes(path, encoded.tobytes())
