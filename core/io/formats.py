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
    "jpeg_end",
    "png_complete",
    "probe_image",
]


#: Largest image (width × height) that :func:`read_image` decodes by default (268 MP).
MAX_PIXELS = 16384 * 16384
#: Smallest accepted width and height.
MIN_SIDE = 2
#: File extension (lower case) -> format name.
SUPPORTED_EXTENSIONS: dict[str, str] = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff",
                                         ".exr": "exr"}

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


#: File signatures: (format, the bytes at offset 0 — any of them —, then optional (offset, bytes) checks).
_SIGNATURES: tuple[tuple[str, tuple[bytes, ...], tuple[tuple[int, tuple[bytes, ...]], ...]], ...] = (
    ("png", (b"\x89PNG\r\n\x1a\n",), ()),
    ("jpeg", (b"\xff\xd8\xff",), ()),
    ("tiff", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), ()),
    ("exr", (b"v/1\x01",), ()),
    ("GIF", (b"GIF87a", b"GIF89a"), ()),
    ("BMP", (b"BM",), ()),
    ("WebP", (b"RIFF",), ((8, (b"WEBP",)),)),
    ("HEIF/AVIF", (b"",), ((4, (b"ftyp",)), (8, (b"heic", b"heix", b"mif1", b"avif", b"avis")))),
    ("Photoshop (PSD)", (b"8BPS",), ()),
    ("Radiance HDR", (b"#?RADIANCE", b"#?RGBE"), ()),
    ("PDF", (b"%PDF",), ()),
)


def _sniff(head: bytes) -> str | None:
    """Format from the first bytes of a file (supported formats, plus a few for messages)."""
    for name, starts, more in _SIGNATURES:
        if head.startswith(starts) and all(head[at:at + len(m[0])] in m for at, m in more):
            return name
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


def _png_chunks_reach_iend(size: int, header_at) -> bool:
    """Walk a PNG's chunk list (``header_at(pos)`` gives the 8 bytes at ``pos``); True at a whole IEND chunk."""
    pos = 8
    while pos + 8 <= size:
        length, ctype = struct.unpack(">I4s", header_at(pos))
        if pos + 12 + length > size:
            return False
        if ctype == b"IEND":
            return True
        pos += 12 + length
    return False


def png_complete(data: bytes) -> bool:
    """Walk the PNG chunk list; True when an IEND chunk is reached within the data."""
    return _png_chunks_reach_iend(len(data), lambda pos: data[pos:pos + 8])


def _png_file_complete(path: Path) -> bool:
    """:func:`png_complete` on a file, reading only the chunk headers."""
    with open(path, "rb") as fh:
        def header_at(pos: int) -> bytes:
            fh.seek(pos)
            return fh.read(8)

        return _png_chunks_reach_iend(path.stat().st_size, header_at)


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the JPEG's end-of-image marker, found by walking its marker segments.

    Segments before a scan carry their length; a scan's entropy-coded data runs to the next
    marker that is neither byte stuffing (``FF 00``), a restart marker (``FF D0``–``D7``) nor a fill
    byte, after which the walk goes on (progressive JPEGs have many scans). The *first* EOI
    reached this way ends the image, so data appended after it — the video of a phone's "motion
    photo", a trailer — is ignored, and an ``FF D9`` pair inside appended data cannot fool it.

    Returns:
        The offset after ``FF D9``, or ``None`` when the data ends first (truncated) or a segment
        length is impossible.
    """
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while True:
        j = data.find(b"\xff", pos)
        if j < 0:
            return None
        while j + 1 < n and data[j + 1] == 0xFF:  # fill bytes before a marker
            j += 1
        if j + 1 >= n:
            return None
        marker = data[j + 1]
        pos = j + 2
        if marker == 0xD9:
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD8 or marker == 0x00:
            continue  # stand-alone markers (and a stray stuffed byte) carry no length
        if pos + 2 > n:
            return None
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            return None
        pos += length
        if pos > n:
            return None
        if marker == 0xDA:  # entropy-coded data up to the next real marker
            while True:
                j = data.find(b"\xff", pos)
                if j < 0 or j + 1 >= n:
                    return None
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos = j + 2
                    continue
                pos = j
                break


def jpeg_complete(data: bytes) -> bool:
    """True when the JPEG's marker walk reaches an end-of-image marker (:func:`jpeg_end`).

    Trailing data after the EOI (motion photos, padding, trailers) is accepted. OpenCV's
    ``imdecode`` returns None for most truncated JPEGs, but ``imread`` and older builds return a
    partly grey image, so this check is made before decoding.
    """
    return jpeg_end(data) is not None


# Scanlines per chunk for each compression code (OpenEXR file layout documentation). Codes not
# listed here skip the truncation pre-check rather than risk rejecting a valid file.
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_TILED, _EXR_DEEP, _EXR_MULTIPART = 0x200, 0x800, 0x1000


def exr_is_truncated(path: Path) -> bool:
    """True when any chunk of any part of an OpenEXR file lies (partly) past the end of the file.

    Reads the headers and every part's offset table, then each chunk's leader (part number for
    multi-part files, the scanline or tile coordinates, the packed size): every chunk must start
    after the offset tables and end within the file. Covers single- and multi-part files,
    scanline and tiled parts (one level, mipmaps, ripmaps); a zero offset (a table a killed
    writer never filled in) counts as truncated. The chunk count is the ``chunkCount`` attribute
    (mandatory in multi-part files) or computed from the data window, the compression's lines
    per chunk and the tile description. Conservative: what this parser does not understand
    (deep data, unknown compression without ``chunkCount``, odd headers) returns False and is
    left to the decoder.
    """
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh:
            (flags,) = struct.unpack("<I", fh.read(8)[4:8])
            if flags & _EXR_DEEP:
                return False
            multipart = bool(flags & _EXR_MULTIPART)
            headers = []
            for _ in range(1000):
                attributes = _read_exr_header(fh)
                if attributes is None:  # the empty header ending a multi-part list
                    break
                headers.append(attributes)
                if not multipart:
                    break
            if not headers:
                return False
            counts = []
            for attrs in headers:
                kind = attrs.get(b"type", b"").rstrip(b"\0")
                if kind.startswith(b"deep"):
                    return False
                tiled = kind == b"tiledimage" or (not multipart and bool(flags & _EXR_TILED))
                count = _exr_chunk_count(attrs, tiled)
                if count is None:
                    return False
                counts.append((count, tiled))
            tables = []
            for count, _ in counts:
                table = fh.read(8 * count)
                if len(table) != 8 * count:
                    return True
                tables.append(struct.unpack(f"<{count}Q", table))
            table_end = fh.tell()
            for part, ((_, tiled), offsets) in enumerate(zip(counts, tables)):
                leader = (4 if multipart else 0) + (16 if tiled else 4)
                for offset in offsets:
                    if offset < table_end or offset + leader + 4 > file_size:
                        return True
                    fh.seek(offset)
                    head = fh.read(leader + 4)
                    if multipart and struct.unpack_from("<i", head, 0)[0] != part:
                        return True
                    (packed,) = struct.unpack_from("<i", head, leader)
                    if packed < 0 or offset + leader + 4 + packed > file_size:
                        return True
            return False
    except Exception:  # noqa: BLE001 - unexpected layout: let the decoder decide
        return False


def _read_exr_header(fh) -> dict[bytes, bytes] | None:
    """One header's attributes (name → raw value); ``None`` for an empty header."""
    attributes: dict[bytes, bytes] = {}
    for _ in range(10000):
        name = _read_cstring(fh)
        if not name:
            return attributes or None
        _read_cstring(fh)  # attribute type
        (length,) = struct.unpack("<i", fh.read(4))
        if length < 0 or length > 1 << 24:
            raise ValueError("attribute too long")
        attributes[name] = fh.read(length)
    raise ValueError("too many attributes")


def _exr_chunk_count(attrs: dict[bytes, bytes], tiled: bool) -> int | None:
    if b"chunkCount" in attrs:
        (count,) = struct.unpack("<i", attrs[b"chunkCount"][:4])
        return count if count >= 0 else None
    x_min, y_min, x_max, y_max = struct.unpack("<4i", attrs[b"dataWindow"][:16])
    width, height = x_max - x_min + 1, y_max - y_min + 1
    if width < 1 or height < 1:
        return None
    if not tiled:
        lines = _EXR_LINES_PER_CHUNK.get(attrs[b"compression"][0])
        return None if lines is None else -(-height // lines)
    xs, ys, mode = struct.unpack("<IIB", attrs[b"tiles"][:9])
    if xs < 1 or ys < 1:
        return None
    level_mode, round_up = mode & 0x0F, bool(mode & 0x10)

    def levels(n: int) -> int:
        k = 0
        while (1 << (k + 1)) <= n:
            k += 1
        if round_up and (1 << k) < n:
            k += 1
        return k + 1

    def size(n: int, level: int) -> int:
        d = 1 << level
        return max(1, -(-n // d) if round_up else n // d)

    def tiles(w: int, h: int) -> int:
        return -(-w // xs) * -(-h // ys)

    if level_mode == 0:
        return tiles(width, height)
    if level_mode == 1:
        return sum(tiles(size(width, lv), size(height, lv)) for lv in range(levels(max(width, height))))
    if level_mode == 2:
        return sum(tiles(size(width, lx), size(height, ly))
                   for ly in range(levels(height)) for lx in range(levels(width)))
    return None


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
