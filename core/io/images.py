"""Image files to tensors and back: the only module in ``core`` that touches image files.

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
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import torch
from PIL import JpegImagePlugin, PngImagePlugin

from ..foundation.atomic_write import atomic_write_bytes
from ..foundation.errors import ImageReadError, ImageTooLargeError, OutputError
from ..imaging.color_space import linear_to_srgb, srgb_to_linear

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "SUPPORTED_EXTENSIONS",
    "ImageData",
    "NonFiniteWarning",
    "check_complete",
    "probe_image",
    "read_image",
    "write_image",
]

#: Largest image (width × height) that :func:`read_image` decodes by default (268 MP).
MAX_PIXELS = 16384 * 16384
#: Smallest accepted width and height.
MIN_SIDE = 2
#: File extension (lower case) -> format name.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".exr": "exr",
}

_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "exr": "OpenEXR"}
_PREFERRED_EXTENSION = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "exr": ".exr"}
_JPEG_QUALITY = 95
_HALF_MAX = 65504.0


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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def probe_image(path: str | os.PathLike[str]) -> tuple[int, int, str]:
    """Read an image's size from its header without decoding the pixels.

    The same checks as :func:`read_image` are made on the file itself (exists, is a file, not
    empty, supported extension, content matches the extension). For JPEG the EXIF orientation
    is taken into account, so the size is the one :func:`read_image` returns.

    Args:
        path: Image file.

    Returns:
        ``(height, width, format)`` with format one of ``"png"``, ``"jpeg"``, ``"tiff"``,
        ``"exr"``.

    Raises:
        ImageReadError: The file is missing, a folder, empty, of an unsupported type, does not
            hold what its extension says, or its header is corrupt.
    """
    path = Path(path)
    fmt = _check_file(path)
    height, width = _header_size(path, fmt)
    return height, width, fmt


def check_complete(path: str | os.PathLike[str]) -> None:
    """Find a PNG, JPEG or OpenEXR file that was cut short, without decoding its pixels.

    The same truncation checks :func:`read_image` makes before decoding, done cheaply (PNG: the
    chunk list is walked by seeking; JPEG: the end-of-image marker is looked for in the last
    bytes first; EXR: the offset table), so a sequence can be checked before any work starts.
    Conservative: what this cannot tell (TIFF, unusual layouts) is left to :func:`read_image`.

    Raises:
        ImageReadError: The file is truncated or cannot be opened.
    """
    path = Path(path)
    fmt = SUPPORTED_EXTENSIONS.get(path.suffix.lower())
    try:
        if fmt == "png" and not _png_file_complete(path):
            raise ImageReadError(f"{path} is truncated (the PNG data ends before its IEND chunk)")
        if fmt == "jpeg":
            with open(path, "rb") as fh:
                fh.seek(max(path.stat().st_size - 64, 0))
                tail = fh.read()
            if b"\xff\xd9" not in tail and not _jpeg_complete(path.read_bytes()):
                raise ImageReadError(f"{path} is truncated (the JPEG data has no end-of-image marker)")
    except OSError as exc:
        raise ImageReadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if fmt == "exr" and _exr_is_truncated(path):
        raise ImageReadError(f"{path} is truncated (the OpenEXR data ends before its last block)")


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
    fmt = _check_file(path)
    height, width = _header_size(path, fmt)
    _check_dimensions(path, height, width, max_pixels)

    if fmt == "exr":
        arr, bit_depth = _decode_exr(path)
        is_float = True
    else:
        arr, bit_depth, is_float = _decode_with_opencv(path, fmt)

    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{path} could not be decoded (unexpected pixel layout {arr.shape})")
    # Belt and braces: the decoded size is the one that matters (e.g. if a header lied).
    _check_dimensions(path, arr.shape[0], arr.shape[1], max_pixels)

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


def _check_file(path: Path) -> str:
    """Existence, type, size, extension and magic-byte checks; returns the format name."""
    if not path.exists():
        raise ImageReadError(f"{path} does not exist")
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ImageReadError(f"{path} is not a regular file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise ImageReadError(f"{path} cannot be opened: {exc.strerror or exc}") from exc
    if size == 0:
        raise ImageReadError(f"{path} is empty (0 bytes)")
    ext = path.suffix.lower()
    fmt = SUPPORTED_EXTENSIONS.get(ext)
    if fmt is None:
        shown = f"a {path.suffix}" if path.suffix else "no"
        raise ImageReadError(
            f"{path} has {shown} extension, which is not a supported image type "
            f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    actual = _sniff(head)
    if actual != fmt:
        if actual is None:
            raise ImageReadError(
                f"{path} has a {path.suffix} extension but its content is not "
                f"{_FORMAT_NAMES[fmt]} data (unrecognised file signature)"
            )
        what = _FORMAT_NAMES.get(actual, actual)
        hint = ""
        if actual in _PREFERRED_EXTENSION:
            hint = f"; rename it to {path.with_suffix(_PREFERRED_EXTENSION[actual]).name}"
        raise ImageReadError(f"{path} has a {path.suffix} extension but holds {what} data{hint}")
    return fmt


def _sniff(head: bytes) -> str | None:
    """Format from the first bytes of a file (supported formats, plus a few for messages)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"v/1\x01"):
        return "exr"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"avis"):
        return "HEIF/AVIF"
    if head.startswith(b"8BPS"):
        return "Photoshop (PSD)"
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return "Radiance HDR"
    if head.startswith(b"%PDF"):
        return "PDF"
    return None


def _header_size(path: Path, fmt: str) -> tuple[int, int]:
    """``(height, width)`` from the header only."""
    try:
        if fmt == "exr":
            header = OpenEXR.File(str(path), header_only=True).header()
            lo, hi = header["dataWindow"]
            width = int(hi[0]) - int(lo[0]) + 1
            height = int(hi[1]) - int(lo[1]) + 1
        elif fmt == "tiff":
            height, width = _tiff_header_size(path)
        else:
            # The plugin classes are used directly: Image.open() would run Pillow's own
            # decompression-bomb check (a warning, an error above 179 MP) before we can report
            # the size in our own terms. Neither path decodes pixel data.
            plugin = PngImagePlugin.PngImageFile if fmt == "png" else JpegImagePlugin.JpegImageFile
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with plugin(str(path)) as im:
                    width, height = im.size
                    if fmt == "jpeg" and _jpeg_orientation(im) in (5, 6, 7, 8):
                        width, height = height, width
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a corrupt header
        raise ImageReadError(
            f"{path} has a corrupt or truncated {_FORMAT_NAMES[fmt]} header"
        ) from exc
    return height, width


def _jpeg_orientation(im: JpegImagePlugin.JpegImageFile) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - corrupt EXIF: OpenCV ignores it too
        return 1


def _tiff_header_size(path: Path) -> tuple[int, int]:
    """Width/length tags of the first IFD of a classic or Big TIFF.

    Pillow cannot open float RGB TIFFs (which we support), so the first IFD is parsed here.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
        order = "<" if head[:2] == b"II" else ">"
        (magic,) = struct.unpack(order + "H", head[2:4])
        big = magic == 43
        if big:
            (offset,) = struct.unpack(order + "Q", head[8:16])
        else:
            (offset,) = struct.unpack(order + "I", head[4:8])
        fh.seek(offset)
        count_size, entry_size = (8, 20) if big else (2, 12)
        raw = fh.read(count_size)
        if len(raw) != count_size:
            raise ValueError("IFD offset beyond end of file")
        (count,) = struct.unpack(order + ("Q" if big else "H"), raw)
        if not 0 < count < 65536:
            raise ValueError(f"implausible IFD entry count {count}")
        entries = fh.read(count * entry_size)
        if len(entries) != count * entry_size:
            raise ValueError("IFD truncated")
    value_at = 12 if big else 8
    formats = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8
    found: dict[int, int] = {}
    for i in range(count):
        entry = entries[i * entry_size : (i + 1) * entry_size]
        tag, type_ = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257) and type_ in formats:
            code = formats[type_]
            (found[tag],) = struct.unpack_from(order + code, entry, value_at)
    if 256 not in found or 257 not in found:
        raise ValueError("ImageWidth/ImageLength tags missing")
    return found[257], found[256]


def _check_dimensions(path: Path, height: int, width: int, max_pixels: int) -> None:
    pixels = height * width
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"{path} is {width}×{height} ({_megapixels(pixels)} MP); "
            f"the limit is {_megapixels(max_pixels)} MP"
        )
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ImageReadError(
            f"{path} is {width}×{height}; at least {MIN_SIDE}×{MIN_SIDE} pixels are needed"
        )


def _megapixels(pixels: int) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.3g}"


def _decode_with_opencv(path: Path, fmt: str) -> tuple[np.ndarray, int, bool]:
    """Decode PNG/JPEG/TIFF to float32 ``(H, W, C)`` in RGB(A) order.

    Returns ``(array, bit_depth, is_float)``: integer samples are scaled to ``[0, 1]``.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    raw = data.tobytes() if fmt != "tiff" else b""
    if fmt == "png" and not _png_complete(raw):
        raise ImageReadError(f"{path} is truncated (the PNG data ends before its IEND chunk)")
    if fmt == "jpeg" and not _jpeg_complete(raw):
        raise ImageReadError(f"{path} is truncated (the JPEG data has no end-of-image marker)")

    # JPEG: IMREAD_ANYCOLOR|ANYDEPTH keeps gray as gray and applies the EXIF orientation
    # (IMREAD_UNCHANGED ignores it). PNG/TIFF: IMREAD_UNCHANGED keeps alpha and 16-bit/float.
    flags = (
        cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    )
    try:
        with _quiet_opencv():
            arr = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise ImageReadError(
            f"{path} could not be decoded (corrupt {_FORMAT_NAMES[fmt]} data)"
        ) from exc
    if arr is None:
        raise ImageReadError(
            f"{path} could not be decoded (truncated or corrupt {_FORMAT_NAMES[fmt]} data)"
        )

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


def _png_complete(data: bytes) -> bool:
    """Walk the PNG chunk list; True when an IEND chunk is reached within the data."""
    pos, end = 8, len(data)
    while pos + 8 <= end:
        (length,) = struct.unpack_from(">I", data, pos)
        ctype = data[pos + 4 : pos + 8]
        if pos + 12 + length > end:
            return False
        if ctype == b"IEND":
            return True
        pos += 12 + length
    return False


def _png_file_complete(path: Path) -> bool:
    """:func:`_png_complete` on a file, reading only the chunk headers."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 8
        while pos + 8 <= size:
            fh.seek(pos)
            length, ctype = struct.unpack(">I4s", fh.read(8))
            if pos + 12 + length > size:
                return False
            if ctype == b"IEND":
                return True
            pos += 12 + length
    return False


def _jpeg_complete(data: bytes) -> bool:
    """True when an end-of-image marker (FFD9) follows the last start-of-scan marker (FFDA).

    Entropy-coded data cannot contain either marker (0xFF is byte-stuffed), so a file cut
    anywhere in its last scan lacks the EOI. Trailing padding or trailers after the EOI are
    accepted. OpenCV's ``imdecode`` returns None for most truncated JPEGs, but ``imread`` and
    older builds return a partly grey image, so this check is made before decoding.
    """
    sos = data.rfind(b"\xff\xda")
    if sos < 0:
        return False
    return data.find(b"\xff\xd9", sos + 2) >= 0


def _decode_exr(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first part of an OpenEXR file to ``(H, W, C)`` float32 (C in 1..4)."""
    if _exr_is_truncated(path):
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


# Scanlines per chunk for each compression code (OpenEXR file layout documentation). Codes not
# listed here skip the truncation pre-check rather than risk rejecting a valid file.
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_TILED, _EXR_DEEP, _EXR_MULTIPART = 0x200, 0x800, 0x1000


def _exr_is_truncated(path: Path) -> bool:
    """True when a single-part scanline EXR's offset table points past the end of the file.

    Conservative: anything this parser does not understand (tiled, deep, multi-part files,
    unknown compression, odd headers) returns False and is left to the decoder.
    """
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh:
            (flags,) = struct.unpack("<I", fh.read(8)[4:8])
            if flags & (_EXR_TILED | _EXR_DEEP | _EXR_MULTIPART):
                return False
            attributes: dict[bytes, bytes] = {}
            for _ in range(10000):
                name = _read_cstring(fh)
                if not name:
                    break
                _read_cstring(fh)  # attribute type
                (length,) = struct.unpack("<i", fh.read(4))
                value = fh.read(length)
                if name in (b"compression", b"dataWindow"):
                    attributes[name] = value
            else:
                return False
            lines = _EXR_LINES_PER_CHUNK.get(attributes[b"compression"][0])
            if lines is None:
                return False
            _, y_min, _, y_max = struct.unpack("<4i", attributes[b"dataWindow"][:16])
            chunks = -(-(y_max - y_min + 1) // lines)
            table = fh.read(8 * chunks)
            if len(table) != 8 * chunks:
                return True
            offsets = struct.unpack(f"<{chunks}Q", table)
            table_end = fh.tell()
            if any(o < table_end or o + 8 > file_size for o in offsets):
                return True
            last = max(offsets)
            fh.seek(last)
            _, packed = struct.unpack("<ii", fh.read(8))
            return last + 8 + packed > file_size
    except Exception:  # noqa: BLE001 - unexpected layout: let the decoder decide
        return False


def _read_cstring(fh: object, limit: int = 256) -> bytes:
    out = bytearray()
    while len(out) <= limit:
        byte = fh.read(1)  # type: ignore[attr-defined]
        if not byte:
            raise ValueError("unexpected end of header")
        if byte == b"\0":
            return bytes(out)
        out += byte
    raise ValueError("header string too long")


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


_quiet_opencv = _OpenCVQuiet()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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
            f"cannot write {path} as {depth}-bit {_FORMAT_NAMES[fmt]}; "
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
            _write_exr(path, arr, half=depth == 16)
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
    _write_opencv(path, _PREFERRED_EXTENSION[fmt], arr, params)
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
        with _quiet_opencv():
            ok, encoded = cv2.imencode(ext, hwc, params)
    except cv2.error as exc:
        raise OutputError(f"cannot encode {path}: OpenCV failed ({exc.err})") from exc
    if not ok:
        raise OutputError(f"cannot encode {path}: OpenCV returned no data")
    atomic_write_bytes(path, encoded.tobytes())


def _write_exr(path: Path, planes: np.ndarray, *, half: bool) -> None:
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


# --------------------------------------------------------------------------------------------
# Render passes
# --------------------------------------------------------------------------------------------


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
    fmt = _check_file(path)
    if fmt != "exr":
        raise ImageReadError(f"{path} is not an OpenEXR file; render passes are read from .exr files")
    if _exr_is_truncated(path):
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
