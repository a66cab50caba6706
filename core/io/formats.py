"""Image file formats without decoding pixels: extensions, signatures, header sizes, truncation.

Everything here reads bytes and headers only (struct, Pillow's header parsers, OpenEXR's header), so
it is cheap and needs neither torch nor OpenCV. :mod:`.images` decodes and encodes the pixels;
:mod:`.exr` handles OpenEXR channels.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import OpenEXR
from PIL import JpegImagePlugin, PngImagePlugin

from ..foundation.errors import ImageReadError, ImageTooLargeError

__all__ = [
    "FORMAT_NAMES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "SUPPORTED_EXTENSIONS",
    "check_complete",
    "check_dimensions",
    "check_file",
    "exr_is_truncated",
    "header_size",
    "jpeg_complete",
    "png_complete",
    "probe_image",
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

#: Format name → how messages name it.
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "exr": "OpenEXR"}
#: Format name → the extension a misnamed file should have.
PREFERRED_EXTENSION = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "exr": ".exr"}


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
    fmt = check_file(path)
    height, width = header_size(path, fmt)
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
            if b"\xff\xd9" not in tail and not jpeg_complete(path.read_bytes()):
                raise ImageReadError(f"{path} is truncated (the JPEG data has no end-of-image marker)")
    except OSError as exc:
        raise ImageReadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if fmt == "exr" and exr_is_truncated(path):
        raise ImageReadError(f"{path} is truncated (the OpenEXR data ends before its last block)")


def check_file(path: Path) -> str:
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
                f"{FORMAT_NAMES[fmt]} data (unrecognised file signature)"
            )
        what = FORMAT_NAMES.get(actual, actual)
        hint = ""
        if actual in PREFERRED_EXTENSION:
            hint = f"; rename it to {path.with_suffix(PREFERRED_EXTENSION[actual]).name}"
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


def header_size(path: Path, fmt: str) -> tuple[int, int]:
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
            f"{path} has a corrupt or truncated {FORMAT_NAMES[fmt]} header"
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


def check_dimensions(path: Path, height: int, width: int, max_pixels: int) -> None:
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


def png_complete(data: bytes) -> bool:
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
    """:func:`png_complete` on a file, reading only the chunk headers."""
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


def jpeg_complete(data: bytes) -> bool:
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


# Scanlines per chunk for each compression code (OpenEXR file layout documentation). Codes not
# listed here skip the truncation pre-check rather than risk rejecting a valid file.
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_TILED, _EXR_DEEP, _EXR_MULTIPART = 0x200, 0x800, 0x1000


def exr_is_truncated(path: Path) -> bool:
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
