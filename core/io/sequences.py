"""Frame sequences in and out: numbered image files and video files, streamed one frame at a time.

Sources (:func:`open_frames`):
    * a video file (``.mp4``, ``.mov``, ``.avi``, ``.mkv``, ``.webm``, ``.m4v``), decoded with
      OpenCV's FFmpeg backend;
    * a folder holding exactly one numbered image sequence (``frame_0001.png`` …);
    * a pattern: Blender-style ``render/frame_####.exr`` (``####`` = zero padded to four digits,
      a single ``#`` = unpadded), printf-style ``frame_%04d.png`` / ``frame_%d.png`` or a glob
      ``frame_*.png`` (the ``*`` must stand for the frame number).

Sinks (:func:`open_sink`) keep the *source* frame number in every output name, write every
frame atomically and can tell which frames a killed run already finished, so a rerun resumes
at :meth:`FrameSink.first_missing` instead of starting over. A video output is first written as
PNG frames to a sibling work folder ``<out>.frames/`` (resumable) and encoded by
:meth:`FrameSink.finish`. No sink ever writes over one of its source's files.

Pixel contract: frames come back as :class:`~core.image_io.ImageData` (``rgb`` is ``float32``
``(1, 3, H, W)``). Image files keep their own colour space (``"linear"`` for EXR and float
TIFF, ``"srgb"`` otherwise); video frames are display sRGB in ``[0, 1]`` with
``format="video"`` and ``bit_depth=8``.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from ..foundation.atomic_write import atomic_path
from ..foundation.errors import ImageReadError, InputError, OutputError
from .images import (
    SUPPORTED_EXTENSIONS,
    ImageData,
    _quiet_opencv,  # one shared, reference-counted switch for OpenCV's log output
    check_complete,
    probe_image,
    read_image,
    write_image,
)

__all__ = [
    "DEFAULT_FPS",
    "VIDEO_CODECS",
    "VIDEO_EXTENSIONS",
    "FrameInfo",
    "FramePattern",
    "FrameSink",
    "FrameSource",
    "ImageSequenceSink",
    "ImageSequenceSource",
    "VideoSink",
    "VideoSource",
    "format_ranges",
    "open_frames",
    "open_sink",
    "parse_pattern",
]

#: File extensions (lower case) read and written as video.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
#: Frame rate of a video output when neither the caller nor the source gives one.
DEFAULT_FPS = 24.0
#: FourCC used to encode each video container. ``avc1`` (H.264) is not in the OpenCV wheels,
#: so MPEG-4 Part 2 is used for the MP4 family, Motion-JPEG for AVI, lossless FFV1 for
#: Matroska (an intermediate for further editing) and VP8 for WebM.
VIDEO_CODECS: dict[str, str] = {
    ".mp4": "mp4v",
    ".m4v": "mp4v",
    ".mov": "mp4v",
    ".avi": "MJPG",
    ".mkv": "FFV1",
    ".webm": "VP80",
}

#: Name of each frame in a folder output and in a video's work folder.
_FOLDER_PREFIX, _FOLDER_DIGITS, _FOLDER_SUFFIX = "frame_", 4, ".png"
_WORK_SUFFIX = ".frames"
_NUMBERED_NAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")
_PRINTF = re.compile(r"%(?P<zero>0?)(?P<width>\d*)d")
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_TAIL = 64  # bytes searched for the end-of-image marker (encoders may pad after it)


# --------------------------------------------------------------------------------------------
# Frame numbers and patterns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameInfo:
    """One frame of a sequence.

    Attributes:
        index: 0-based position in the sequence.
        number: Frame number from the file name (image sequences) or ``index`` (videos).
        path: The image file, or ``None`` for a video frame.
    """

    index: int
    number: int
    path: Path | None


@dataclass(frozen=True)
class FramePattern:
    """A numbered file name: ``directory / (prefix + number + suffix)``.

    Attributes:
        directory: Folder of the files.
        prefix: File name text before the number.
        digits: Zero padding of the number (``4`` for ``####`` / ``%04d``), or ``None`` for an
            unpadded number (single ``#``, ``%d``, ``*``): reading then accepts any run of
            digits, writing uses the plain number.
        suffix: File name text after the number, normally the extension (``.png``).
    """

    directory: Path
    prefix: str
    digits: int | None
    suffix: str

    def name_for(self, number: int) -> str:
        """File name of frame ``number`` (more digits than ``digits`` when it needs them)."""
        if number < 0:
            raise InputError(f"negative frame number {number} is not supported")
        return f"{self.prefix}{self.number_text(number)}{self.suffix}"

    def path_for(self, number: int) -> Path:
        """Path of frame ``number``."""
        return self.directory / self.name_for(number)

    def number_text(self, number: int) -> str:
        """``number`` padded as in this pattern."""
        return f"{number:0{self.digits}d}" if self.digits else str(number)

    def match(self, name: str) -> int | None:
        """Frame number held by file name ``name``, or ``None`` when it does not fit.

        The prefix must match exactly, the suffix case-insensitively; with ``digits`` set, the
        number must be written with exactly that padding (``0012`` for ``####``; numbers
        needing more digits, like ``12345``, are accepted unpadded, as Blender writes them).
        """
        if not (name.startswith(self.prefix) and name.lower().endswith(self.suffix.lower())):
            return None
        middle = name[len(self.prefix) : len(name) - len(self.suffix)]
        if not middle.isascii() or not middle.isdigit():
            return None
        number = int(middle)
        if self.digits is not None and middle != self.number_text(number):
            return None
        return number

    def display(self) -> str:
        """The pattern with ``#`` runs for the number, e.g. ``render/frame_####.exr``."""
        hashes = "#" * (self.digits or 1)
        return str(self.directory / f"{self.prefix}{hashes}{self.suffix}")


def parse_pattern(spec: str | os.PathLike[str]) -> FramePattern:
    """Split a frame-name pattern into folder, prefix, padding and suffix.

    Accepted placeholders, in the file name only (never in the folder part):
    ``####`` (one run of ``#``: zero padded to its length; a single ``#`` means unpadded),
    ``%04d`` / ``%d`` (printf) and ``*`` (glob; the frame number, unpadded).

    Args:
        spec: Pattern such as ``render/frame_####.exr``, ``out/f_%04d.png`` or ``frame_*.png``.

    Returns:
        The :class:`FramePattern`.

    Raises:
        InputError: No placeholder, more than one, a placeholder in the folder part, or glob
            characters other than a single ``*``.
    """
    path = Path(spec)
    name = path.name
    for part in path.parent.parts:
        if "#" in part or "*" in part or _PRINTF.search(part):
            raise InputError(
                f"{spec}: the frame-number placeholder must be in the file name, not the folder"
            )
    found: list[tuple[int, int, int | None]] = []  # (start, end, digits)
    for m in re.finditer(r"#+", name):
        run = m.end() - m.start()
        found.append((m.start(), m.end(), None if run == 1 else run))
    for m in _PRINTF.finditer(name):
        width = int(m["width"]) if m["width"] else 0
        if width and not m["zero"]:
            raise InputError(
                f"{spec}: space padding ({m.group()}) is not supported; use %0{width}d or %d"
            )
        found.append((m.start(), m.end(), width if width > 1 else None))
    for m in re.finditer(r"\*", name):
        found.append((m.start(), m.end(), None))
    if any(c in name for c in "?[]"):
        raise InputError(f"{spec}: only a single '*' is supported as a glob (no '?' or '[...]')")
    if not found:
        raise InputError(
            f"{spec} has no frame-number placeholder; use #### (e.g. frame_####.png), "
            "%04d or *"
        )
    if len(found) > 1:
        raise InputError(f"{spec} has more than one frame-number placeholder")
    start, end, digits = found[0]
    return FramePattern(path.parent, name[:start], digits, name[end:])


def format_ranges(numbers: Iterable[int], *, max_ranges: int | None = 12) -> str:
    """Write frame numbers compactly: ``[12, 13, 14, 20]`` → ``"12–14, 20"``.

    Args:
        numbers: Frame numbers, in any order; duplicates are ignored.
        max_ranges: Show at most this many ranges, then ``"… (N more frames)"``; ``None``
            shows all.

    Returns:
        Comma-separated numbers and en-dash ranges in ascending order (``""`` when empty).
    """
    ordered = sorted(set(numbers))
    ranges: list[tuple[int, int]] = []
    for n in ordered:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    shown = ranges if max_ranges is None else ranges[:max_ranges]
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in shown)
    if len(shown) < len(ranges):
        rest = sum(b - a + 1 for a, b in ranges[len(shown) :])
        text += f", … ({rest} more frame{'s' if rest != 1 else ''})"
    return text


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[1]}×{size[0]}"


def _same_file_key(path: Path) -> str:
    """A comparable form of ``path`` (absolute, symlinks resolved, case folded where needed)."""
    return os.path.normcase(str(path.resolve()))


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


class FrameSource:
    """An ordered sequence of frames, read one at a time.

    Attributes:
        frames: One :class:`FrameInfo` per frame, in order.
        fps: Frames per second (a video's own rate, or the one given to :func:`open_frames`;
            ``None`` for an image sequence without one).
        size: ``(height, width)`` of every frame.
        kind: ``"video"`` or ``"images"``.
    """

    kind: Literal["video", "images"]
    frames: list[FrameInfo]
    fps: float | None
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.frames)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release any open decoder (only video sources hold one, for :meth:`read`)."""

    def describe(self) -> str:
        """One line for logs and progress bars, e.g. ``120 frames 1280×720 from …``."""
        raise NotImplementedError

    def source_files(self) -> list[Path]:
        """The files this source reads (frame files, or the single video file)."""
        raise NotImplementedError

    def frame_label(self, info: FrameInfo) -> str:
        """How messages name a frame, e.g. ``frame 0012``."""
        return f"frame {info.number:04d}"

    def iter_frames(self, start: int = 0) -> Iterator[tuple[FrameInfo, ImageData]]:
        """Yield ``(info, image)`` for every frame from position ``start`` on, in order.

        Streaming: only the frame being yielded is held in memory.

        Args:
            start: Position (``FrameInfo.index``) of the first frame to yield.

        Yields:
            The frame's :class:`FrameInfo` and its decoded :class:`ImageData`.

        Raises:
            InputError: ``start`` is out of range, or a frame's size differs from ``size``.
            ImageReadError: A frame cannot be decoded.
        """
        raise NotImplementedError

    def read(self, index: int) -> ImageData:
        """Decode the frame at position ``index`` (random access).

        Raises:
            InputError: ``index`` is out of range, or the frame's size differs from ``size``.
            ImageReadError: The frame cannot be decoded.
        """
        raise NotImplementedError

    def _check_index(self, index: int, *, allow_end: bool = False) -> None:
        limit = len(self.frames) + (1 if allow_end else 0)
        if not 0 <= index < limit:
            raise InputError(
                f"frame position {index} is out of range; {self.describe()} has positions "
                f"0–{len(self.frames) - 1}"
            )

    def _check_size(self, info: FrameInfo, size: tuple[int, int], where: Path | None) -> None:
        if size != self.size:
            shown = f" ({where})" if where is not None else ""
            raise InputError(
                f"{self.frame_label(info)}{shown} is {_size_text(size)}, "
                f"the sequence is {_size_text(self.size)}"
            )


class ImageSequenceSource(FrameSource):
    """Numbered image files (PNG, JPEG, TIFF, EXR), sorted by frame number.

    Every frame's header is read and checked for truncation when the source is opened (no
    pixels are decoded), so a missing, empty, truncated, corrupt or differently sized frame is
    reported before any work starts.

    Attributes:
        pattern: The file-name pattern of the frames.
    """

    kind: Literal["video", "images"] = "images"

    def __init__(
        self, pattern: FramePattern, files: dict[int, Path], *, fps: float | None = None
    ) -> None:
        """Build a source from already-matched files (use :func:`open_frames`).

        Args:
            pattern: Pattern the files were matched with (used in messages).
            files: Frame number → file; must be non-empty and without gaps.
            fps: Frame rate to report, if known.

        Raises:
            InputError: No files, gaps in the numbering, or a frame whose size differs from the
                first one.
            ImageReadError: A frame file is empty, truncated, corrupt or not what its extension
                says.
        """
        self.pattern = pattern
        if not files:
            raise InputError(f"no frames found for {pattern.display()}")
        numbers = sorted(files)
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            raise InputError(
                f"missing frame{'s' if len(missing) > 1 else ''} {format_ranges(missing)} "
                f"in {pattern.display()} (found {format_ranges(numbers)})"
            )
        self.frames = [FrameInfo(i, n, files[n]) for i, n in enumerate(numbers)]
        self.fps = fps
        first = self.frames[0]
        height, width, _ = probe_image(first.path)  # type: ignore[arg-type]
        check_complete(first.path)  # type: ignore[arg-type]
        self.size = (height, width)
        for info in self.frames[1:]:
            h, w, _ = probe_image(info.path)  # type: ignore[arg-type]
            self._check_size(info, (h, w), info.path)
            check_complete(info.path)  # type: ignore[arg-type]

    def frame_label(self, info: FrameInfo) -> str:
        """``frame 0012``, padded as in the file names."""
        return f"frame {self.pattern.number_text(info.number)}"

    def describe(self) -> str:
        """E.g. ``120 frames (1–120) 1280×720 from render/frame_####.exr``."""
        first, last = self.frames[0].number, self.frames[-1].number
        count = len(self.frames)
        rate = f" at {self.fps:g} fps" if self.fps else ""
        return (
            f"{count} frame{'s' if count != 1 else ''} ({first}–{last}) {_size_text(self.size)}"
            f"{rate} from {self.pattern.display()}"
        )

    def source_files(self) -> list[Path]:
        """The frame files, in order."""
        return [info.path for info in self.frames]  # type: ignore[misc]

    def iter_frames(self, start: int = 0) -> Iterator[tuple[FrameInfo, ImageData]]:
        """See :meth:`FrameSource.iter_frames`."""
        self._check_index(start, allow_end=True)
        for info in self.frames[start:]:
            yield info, self.read(info.index)

    def read(self, index: int) -> ImageData:
        """See :meth:`FrameSource.read`."""
        self._check_index(index)
        info = self.frames[index]
        image = read_image(info.path)  # type: ignore[arg-type]
        self._check_size(info, image.size, info.path)
        return image


class VideoSource(FrameSource):
    """A video file decoded with OpenCV's FFmpeg backend.

    The frame count in a video's header (``CAP_PROP_FRAME_COUNT``) is only an estimate for many
    files (variable frame rate, truncated downloads, streams muxed without an index). When the
    source is opened it is verified: the frame at ``count - 1`` must decode and the one after
    it must not. If that fails, the frames are counted by decoding the whole file once
    (``grab``, no colour conversion). ``header_frame_count`` keeps what the header said.
    ``size`` is taken from the first decoded frame (one frame; it reflects any rotation the
    decoder applies, which ``CAP_PROP_FRAME_WIDTH/HEIGHT`` may not).

    :meth:`iter_frames` decodes sequentially from the start (frame-exact; the frames before
    ``start`` are grabbed, not converted). :meth:`read` seeks with ``CAP_PROP_POS_FRAMES`` and
    checks the decoder's position afterwards, falling back to decoding from the start; it is
    much slower than iterating and meant for a few frames (e.g. rebuilding state on resume).

    Attributes:
        path: The video file.
        header_frame_count: Frame count stated in the file's header (may differ from
            ``len(self)``).
    """

    kind: Literal["video", "images"] = "video"

    def __init__(self, path: Path, *, fps: float | None = None) -> None:
        """Open ``path`` and establish its frame count, rate and size (use :func:`open_frames`).

        Raises:
            ImageReadError: The file is missing, empty, not a video OpenCV can decode, or holds
                no frames.
        """
        self.path = path
        if not path.exists():
            raise ImageReadError(f"{path} does not exist")
        if not path.is_file():
            raise ImageReadError(f"{path} is not a video file")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path} is empty (0 bytes)")
        cap = self._open()
        try:
            ok, first = cap.read()
            if not ok or first is None:
                raise ImageReadError(f"{path} holds no decodable video frames")
            self.size = (int(first.shape[0]), int(first.shape[1]))
            header_fps = cap.get(cv2.CAP_PROP_FPS)
            self.header_frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
        finally:
            cap.release()
        self.fps = fps if fps is not None else (
            float(header_fps) if math.isfinite(header_fps) and header_fps > 0 else None
        )
        count = self.header_frame_count
        if count < 1 or not self._count_is_exact(count):
            count = self._count_by_decoding()
        self.frames = [FrameInfo(i, i, None) for i in range(count)]
        self._reader: cv2.VideoCapture | None = None
        self._reader_next = 0  # position the cached reader decodes next

    def _open(self) -> cv2.VideoCapture:
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise ImageReadError(
                f"{self.path} cannot be opened as a video (corrupt, truncated or not a "
                "video format FFmpeg can decode)"
            )
        return cap

    def _count_is_exact(self, count: int) -> bool:
        cap = self._open()
        try:
            if not self._seek(cap, count - 1):
                return False
            if not cap.grab():
                return False
            return not cap.grab()
        finally:
            cap.release()

    def _count_by_decoding(self) -> int:
        cap = self._open()
        try:
            count = 0
            while cap.grab():
                count += 1
        finally:
            cap.release()
        if count == 0:
            raise ImageReadError(f"{self.path} holds no decodable video frames")
        return count

    @staticmethod
    def _seek(cap: cv2.VideoCapture, index: int) -> bool:
        """Seek ``cap`` so that the next decoded frame is ``index``; False if unverifiable."""
        if index == 0:
            return True
        with _quiet_opencv():
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        return int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) == index

    def describe(self) -> str:
        """E.g. ``clip.mp4: 120 frames 1280×720 at 24 fps``."""
        count = len(self.frames)
        rate = f" at {self.fps:g} fps" if self.fps else ""
        note = ""
        if self.header_frame_count != count:
            note = f" (its header says {self.header_frame_count})"
        plural = "s" if count != 1 else ""
        return f"{self.path}: {count} frame{plural}{note} {_size_text(self.size)}{rate}"

    def source_files(self) -> list[Path]:
        """The video file."""
        return [self.path]

    def close(self) -> None:
        """Release the decoder kept for :meth:`read`."""
        if self._reader is not None:
            self._reader.release()
            self._reader = None

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.release()

    def iter_frames(self, start: int = 0) -> Iterator[tuple[FrameInfo, ImageData]]:
        """See :meth:`FrameSource.iter_frames` (frames before ``start`` are grabbed)."""
        self._check_index(start, allow_end=True)
        cap = self._open()
        try:
            for info in self.frames[:start]:
                if not cap.grab():
                    raise self._decode_error(info)
            for info in self.frames[start:]:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    raise self._decode_error(info)
                yield info, self._to_image(info, bgr)
        finally:
            cap.release()

    def read(self, index: int) -> ImageData:
        """See :meth:`FrameSource.read`; reading the next frame after the last one is fast."""
        self._check_index(index)
        info = self.frames[index]
        if self._reader is None or index != self._reader_next:
            self.close()
            self._reader = self._open()
            if not self._seek(self._reader, index):
                # The container cannot seek exactly: decode from the start instead.
                self._reader.release()
                self._reader = self._open()
                for _ in range(index):
                    if not self._reader.grab():
                        self.close()
                        raise self._decode_error(info)
        ok, bgr = self._reader.read()
        if not ok or bgr is None:
            self.close()
            raise self._decode_error(info)
        self._reader_next = index + 1
        return self._to_image(info, bgr)

    def _decode_error(self, info: FrameInfo) -> ImageReadError:
        return ImageReadError(
            f"{self.path}: {self.frame_label(info)} could not be decoded (the file may be "
            "truncated or corrupt)"
        )

    def _to_image(self, info: FrameInfo, bgr: np.ndarray) -> ImageData:
        if bgr.ndim == 2:
            bgr = np.repeat(bgr[:, :, None], 3, axis=2)
        self._check_size(info, (int(bgr.shape[0]), int(bgr.shape[1])), None)
        rgb = bgr[:, :, 2::-1].astype(np.float32) / 255.0
        tensor = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        return ImageData(
            rgb=tensor,
            alpha=None,
            colorspace="srgb",
            bit_depth=8,
            format="video",
            path=self.path,
        )


def open_frames(spec: str | os.PathLike[str], *, fps: float | None = None) -> FrameSource:
    """Open a video file, a folder of numbered images or a frame-name pattern.

    Args:
        spec: One of

            * a video file whose extension is in :data:`VIDEO_EXTENSIONS`;
            * a folder: every non-hidden file in it with an image extension
              (:data:`~core.image_io.SUPPORTED_EXTENSIONS`) must belong to one numbered
              sequence (same prefix and extension);
            * a pattern: ``render/frame_####.exr``, ``frame_%04d.png``, ``frame_*.png``
              (see :func:`parse_pattern`).

        fps: Frame rate to report; overrides a video's own rate.

    Returns:
        A :class:`VideoSource` or an :class:`ImageSequenceSource`.

    Raises:
        InputError: Nothing at ``spec``, no frames, gaps in the numbering, several sequences
            in one folder, frames of different sizes, a bad ``fps``, or a single image file.
        ImageReadError: The video or a frame file cannot be read.
    """
    fps = _check_fps(fps)
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix.lower() in VIDEO_EXTENSIONS and not _has_placeholder(path.name):
        return VideoSource(path, fps=fps)
    if path.is_dir():
        pattern, files = _scan_folder(path)
        return ImageSequenceSource(pattern, files, fps=fps)
    if _has_placeholder(path.name):
        pattern = parse_pattern(path)
        ext = Path(f"{pattern.prefix}0{pattern.suffix}").suffix.lower()
        if ext not in SUPPORTED_EXTENSIONS:
            raise InputError(
                f"{text}: {ext or 'no'} extension is not a supported image type "
                f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
            )
        if not pattern.directory.is_dir():
            raise InputError(f"folder {pattern.directory} does not exist (from {text})")
        return ImageSequenceSource(pattern, _scan_pattern(pattern), fps=fps)
    if not path.exists():
        raise InputError(f"{text} does not exist")
    raise InputError(
        f"{text} is a single file, not a frame sequence; pass a video "
        f"({', '.join(VIDEO_EXTENSIONS)}), a folder of numbered frames or a pattern such as "
        "frame_####.png"
    )


def _has_placeholder(name: str) -> bool:
    return "#" in name or "*" in name or _PRINTF.search(name) is not None


def _check_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    valid = isinstance(fps, (int, float)) and not isinstance(fps, bool)
    if not valid or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _image_files(folder: Path) -> Iterator[Path]:
    """Non-hidden regular files with an image extension (hidden = in-flight temporary files)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc
    for entry in entries:
        if entry.name.startswith(".") or entry.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        if entry.is_file():
            yield entry


def _scan_pattern(pattern: FramePattern) -> dict[int, Path]:
    files: dict[int, Path] = {}
    for entry in _image_files(pattern.directory):
        number = pattern.match(entry.name)
        if number is None:
            continue
        if number in files:
            raise InputError(
                f"{files[number].name} and {entry.name} both hold frame {number} "
                f"of {pattern.display()}"
            )
        files[number] = entry
    if not files:
        raise InputError(f"no frames match {pattern.display()}")
    return files


def _scan_folder(folder: Path) -> tuple[FramePattern, dict[int, Path]]:
    groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    unnumbered: list[str] = []
    for entry in _image_files(folder):
        m = _NUMBERED_NAME.match(entry.name)
        if m is None:
            unnumbered.append(entry.name)
            continue
        key = (m["prefix"], m["suffix"].lower())
        groups.setdefault(key, []).append((m["number"], entry))
    if not groups and not unnumbered:
        raise InputError(
            f"folder {folder} holds no image files ({', '.join(SUPPORTED_EXTENSIONS)})"
        )
    if unnumbered:
        shown = ", ".join(unnumbered[:3]) + (" …" if len(unnumbered) > 3 else "")
        raise InputError(
            f"folder {folder} holds image files without a frame number ({shown}); move them "
            "away or pass a pattern such as frame_####.png"
        )
    if len(groups) > 1:
        listed = "; ".join(
            f"{prefix}#{suffix} ({len(items)} files)"
            for (prefix, suffix), items in sorted(groups.items())
        )
        raise InputError(
            f"folder {folder} holds several numbered sequences ({listed}); pass a pattern "
            "such as frame_####.png to choose one"
        )
    (prefix, _), items = next(iter(groups.items()))
    suffix = items[0][1].suffix
    widths = {len(text) for text, _ in items}
    narrowest = min(widths)
    padded = all(text == f"{int(text):0{narrowest}d}" for text, _ in items)
    digits = narrowest if padded and narrowest > 1 else None
    pattern = FramePattern(folder, prefix, digits, suffix)
    files: dict[int, Path] = {}
    for text, entry in items:
        number = int(text)
        if number in files:
            raise InputError(
                f"{files[number].name} and {entry.name} both hold frame {number} in folder {folder}"
            )
        files[number] = entry
    return pattern, files


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class FrameSink:
    """Where processed frames go; knows which frames a previous (killed) run finished.

    Resume protocol::

        sink = open_sink(out, like=source)
        start = sink.first_missing()           # len(source) when everything is done
        # (rebuild temporal state from sink.read_done(source.frames[start - 1]) if start > 0)
        for info, image in source.iter_frames(start):
            sink.write(info, stylise(image))
        sink.finish()

    Attributes:
        like: The source whose frames this sink receives.
    """

    like: FrameSource

    def path_for(self, info: FrameInfo) -> Path:
        """The file frame ``info`` is written to (it keeps the source frame number)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the output, for logs."""
        raise NotImplementedError

    def is_done(self, info: FrameInfo) -> bool:
        """Whether frame ``info`` has a complete output file.

        A missing, zero-byte or truncated file (PNG without its final ``IEND`` chunk, JPEG
        without its end-of-image marker, TIFF/EXR with an unreadable header) is not done; it
        is replaced when the frame is written again. Frames are written atomically, so a kill
        normally leaves only hidden temporary files, which are removed when the sink opens.
        """
        return _is_complete(self.path_for(info))

    def done_indices(self) -> list[int]:
        """Positions of the frames that are done, ascending."""
        return [info.index for info in self.like.frames if self.is_done(info)]

    def first_missing(self) -> int:
        """Position of the first frame not done (the resume point); ``len(like)`` if all are."""
        for info in self.like.frames:
            if not self.is_done(info):
                return info.index
        return len(self.like.frames)

    def write(
        self,
        info: FrameInfo,
        rgb: torch.Tensor,
        alpha: torch.Tensor | None = None,
        *,
        colorspace: str = "srgb",
    ) -> Path:
        """Write frame ``info`` atomically (temporary file + rename); replaces an old one.

        Args:
            info: The source frame this output belongs to.
            rgb: Colour in ``colorspace``.
            alpha: Optional alpha (dropped for JPEG and video outputs).
            colorspace: ``"srgb"`` (display values in ``[0, 1]``) or ``"linear"``.

        Returns:
            The written file.

        Raises:
            OutputError: The file cannot be written, or ``info`` is not a frame of ``like``.
            ValueError: ``rgb``/``alpha`` have the wrong shape.

        Shape:
            - rgb: ``(1, 3, H, W)``
            - alpha: ``(1, 1, H, W)``
        """
        self._check_info(info)
        return write_image(self.path_for(info), rgb, alpha, colorspace=colorspace)

    def read_done(self, info: FrameInfo) -> ImageData:
        """Read back a finished output frame (to rebuild temporal state when resuming).

        Raises:
            ImageReadError: The frame's output is missing or unreadable.
        """
        self._check_info(info)
        return read_image(self.path_for(info))

    def finish(self) -> Path:
        """Check that every frame is done (and encode a video output).

        Returns:
            The output: the pattern (``out/frame_####.png``) or the video file.

        Raises:
            OutputError: Some frames are missing (their numbers are listed).
        """
        raise NotImplementedError

    def _check_info(self, info: FrameInfo) -> None:
        frames = self.like.frames
        if not (0 <= info.index < len(frames) and frames[info.index] == info):
            raise OutputError(f"{info} is not a frame of {self.like.describe()}")

    def _missing_error(self, target: str) -> OutputError | None:
        missing = [info.number for info in self.like.frames if not self.is_done(info)]
        if not missing:
            return None
        return OutputError(
            f"cannot finish {target}: frame{'s' if len(missing) > 1 else ''} "
            f"{format_ranges(missing)} {'are' if len(missing) > 1 else 'is'} not done yet"
        )


class ImageSequenceSink(FrameSink):
    """Numbered image files; the format follows the extension (PNG, JPEG, TIFF, EXR).

    Attributes:
        pattern: The output file-name pattern.
        state_dir: The output folder: callers keep resume state there as hidden files (names
            starting with ``.``, which :func:`open_frames` ignores); they are left in place.
        quantisation_bits: Bits per channel the files store (8 for PNG, JPEG and TIFF, as
            :func:`~core.image_io.write_image` writes them); ``None`` for EXR (float). JPEG
            is lossy on top of that.
    """

    def __init__(
        self, pattern: FramePattern, *, like: FrameSource, overwrite: bool = False
    ) -> None:
        """Prepare the output (use :func:`open_sink`).

        With ``overwrite=False`` existing complete output frames count as done (resume).
        With ``overwrite=True`` the existing output files of this job's frames are deleted
        here, so a later resume never mixes frames of two runs.

        Raises:
            OutputError: Unsupported extension, a frame would overwrite a source file, or the
                output folder is a file.
        """
        self.like = like
        self.pattern = pattern
        self.state_dir = pattern.directory
        fmt = SUPPORTED_EXTENSIONS.get(Path(pattern.name_for(0)).suffix.lower())
        self.quantisation_bits: int | None = None if fmt == "exr" else 8
        if fmt is None:
            raise OutputError(
                f"cannot write {pattern.display()}: {pattern.suffix or 'no'} extension is not a "
                f"supported image type (supported: {', '.join(SUPPORTED_EXTENSIONS)})"
            )
        if pattern.directory.exists() and not pattern.directory.is_dir():
            raise OutputError(f"cannot write {pattern.display()}: {pattern.directory} is a file")
        outputs = [self.path_for(info) for info in like.frames]
        _refuse_source_overlap(like, outputs, pattern.display())
        remove_stale_temporaries(pattern.directory, {self.path_for(i).name for i in like.frames})
        if overwrite:
            for info in like.frames:
                _remove_file(self.path_for(info))

    def path_for(self, info: FrameInfo) -> Path:
        """``pattern`` with the source frame number."""
        return self.pattern.path_for(info.number)

    def describe(self) -> str:
        """The output pattern."""
        return self.pattern.display()

    def finish(self) -> Path:
        """Check that every frame is done; return the pattern as a path (``out/frame_####.png``)."""
        error = self._missing_error(self.pattern.display())
        if error is not None:
            raise error
        return Path(self.pattern.display())


class VideoSink(FrameSink):
    """A video file, built from PNG frames kept in the work folder ``<out>.frames/``.

    States when opened:
        * ``overwrite=False`` and the video exists → the job is already done: every frame is
          done and :meth:`finish` returns the video without re-encoding (its frame count must
          match the source's, else :class:`OutputError`); a leftover work folder is removed;
        * ``overwrite=False`` and no video → a new or resumed run: the complete frames in the
          work folder count as done;
        * ``overwrite=True`` → the video and the work folder are deleted now (after the codec
          check), so an interrupted redo can never pass for a finished one.

    :meth:`finish` encodes the frames in order (``fps`` = the given rate, else the source's,
    else :data:`DEFAULT_FPS`) to a hidden temporary file next to the output, re-opens it to
    check every frame is there, renames it onto the output and then deletes the work folder.
    Codecs need an even width and height: an odd-sized frame is padded by repeating its last
    row / column.

    Attributes:
        path: The video file.
        work_dir: The work folder of PNG frames.
        state_dir: ``work_dir``: callers keep resume state there as hidden files (names
            starting with ``.``); they are deleted with the work folder.
        quantisation_bits: 8: frames are stored as 8-bit PNGs.
        fps: Frame rate of the encoded video.
    """

    quantisation_bits: int | None = 8

    def __init__(
        self, path: Path, *, like: FrameSource, fps: float | None = None, overwrite: bool = False
    ) -> None:
        """Prepare the output (use :func:`open_sink`).

        The encoder is tried once here (on an empty file in the system's temporary folder), so
        a missing codec is reported before any frame is processed.

        Raises:
            OutputError: The output is the source, a folder, its codec is unavailable, the
                existing video does not match the source, or the work folder is a file.
        """
        self.like = like
        self.path = path
        self.work_dir = path.with_name(path.name + _WORK_SUFFIX)
        self.state_dir = self.work_dir
        self.fps = fps if fps is not None else (like.fps or DEFAULT_FPS)
        self._pattern = FramePattern(self.work_dir, _FOLDER_PREFIX, _FOLDER_DIGITS, _FOLDER_SUFFIX)
        if path.is_dir():
            raise OutputError(f"cannot write video {path}: a folder with that name exists")
        if self.work_dir.exists() and not self.work_dir.is_dir():
            raise OutputError(f"cannot use work folder {self.work_dir}: it is a file")
        work_paths = [self.path_for(info) for info in like.frames]
        _refuse_source_overlap(like, [path, *work_paths], str(path))
        remove_stale_temporaries(path.parent, {path.name})  # an encode a kill interrupted
        self._complete = not overwrite and path.exists()
        if self._complete:
            self._check_existing(path)
            _remove_work_dir(self.work_dir, work_paths)  # left by a kill right after the rename
            return
        with tempfile.TemporaryDirectory(prefix="nst-codec-") as scratch:
            probe = Path(scratch) / f"probe{path.suffix}"
            _open_writer(probe, path, like.size, self.fps).release()
        if overwrite:
            _remove_file(path)
            _remove_work_dir(self.work_dir, work_paths)
        else:
            remove_stale_temporaries(self.work_dir, {p.name for p in work_paths})

    def _check_existing(self, path: Path) -> None:
        try:
            existing = VideoSource(path)
        except InputError as exc:
            raise OutputError(
                f"{path} already exists but cannot be read as a video ({exc}); pass "
                "overwrite=True to replace it"
            ) from exc
        if len(existing) != len(self.like):
            raise OutputError(
                f"{path} already exists and holds {len(existing)} frames, the source has "
                f"{len(self.like)}; pass overwrite=True to replace it"
            )

    def path_for(self, info: FrameInfo) -> Path:
        """The work-folder PNG of frame ``info`` (``<out>.frames/frame_0012.png``)."""
        return self._pattern.path_for(info.number)

    def describe(self) -> str:
        """The video file, its codec and rate."""
        return f"{self.path} ({VIDEO_CODECS[self.path.suffix.lower()]}, {self.fps:g} fps)"

    def is_done(self, info: FrameInfo) -> bool:
        """See :meth:`FrameSink.is_done`; every frame is done once the video is complete."""
        return self._complete or super().is_done(info)

    def write(
        self,
        info: FrameInfo,
        rgb: torch.Tensor,
        alpha: torch.Tensor | None = None,
        *,
        colorspace: str = "srgb",
    ) -> Path:
        """See :meth:`FrameSink.write`; alpha is dropped (the video has none).

        Raises:
            OutputError: Also when the video is already complete (open with
                ``overwrite=True`` to redo it).
        """
        if self._complete:
            raise OutputError(
                f"{self.path} is already complete; pass overwrite=True to make it again"
            )
        return super().write(info, rgb, None, colorspace=colorspace)

    def read_done(self, info: FrameInfo) -> ImageData:
        """See :meth:`FrameSink.read_done`; reads from the video once it is complete."""
        self._check_info(info)
        if not self._complete:
            return read_image(self.path_for(info))
        with VideoSource(self.path) as video:
            image = video.read(info.index)
        height, width = self.like.size
        if image.size != (height, width) and image.size == (height + height % 2, width + width % 2):
            image = ImageData(
                rgb=image.rgb[..., :height, :width].contiguous(),
                alpha=None,
                colorspace=image.colorspace,
                bit_depth=image.bit_depth,
                format=image.format,
                path=image.path,
            )
        return image

    def finish(self) -> Path:
        """Encode the work-folder frames to the video, atomically; then remove the work folder.

        Returns:
            The video file.

        Raises:
            OutputError: Frames are missing, differ in size, the encoder cannot be opened, or
                the encoded file does not hold every frame (the output is then left untouched
                and the work folder kept).
        """
        if self._complete:
            return self.path
        error = self._missing_error(str(self.path))
        if error is not None:
            raise error
        with atomic_path(self.path) as tmp:
            self._encode(tmp)
        self._complete = True
        _remove_work_dir(self.work_dir, [self.path_for(info) for info in self.like.frames])
        return self.path

    def _encode(self, tmp: Path) -> None:
        frames = self.like.frames
        size: tuple[int, int] | None = None
        writer: cv2.VideoWriter | None = None
        try:
            for info in frames:
                image = read_image(self.path_for(info))
                if size is None:
                    size = image.size
                    writer = _open_writer(tmp, self.path, size, self.fps)
                elif image.size != size:
                    raise OutputError(
                        f"cannot encode {self.path}: {self.path_for(info).name} is "
                        f"{_size_text(image.size)}, the first frame is {_size_text(size)}"
                    )
                writer.write(_to_bgr8(image.srgb(), size))  # type: ignore[union-attr]
        finally:
            if writer is not None:
                writer.release()
        try:
            written = VideoSource(tmp)
        except InputError as exc:
            raise OutputError(
                f"encoding {self.path} failed: the result cannot be read ({exc})"
            ) from exc
        if len(written) != len(frames):
            raise OutputError(
                f"encoding {self.path} failed: it holds {len(written)} of {len(frames)} frames "
                "(is the disk full?)"
            )


def open_sink(
    spec: str | os.PathLike[str],
    *,
    like: FrameSource,
    fps: float | None = None,
    overwrite: bool = False,
) -> FrameSink:
    """Open an output for the frames of ``like``.

    Args:
        spec: One of

            * a video file (extension in :data:`VIDEO_EXTENSIONS`) → :class:`VideoSink`;
            * a pattern (``out/frame_####.png``, ``out/frame_%04d.exr``) → numbered images
              whose format follows the extension;
            * a folder (existing, or a path without extension) → ``<folder>/frame_0001.png`` …

            Output names keep the source frame number (source frame 101 → ``frame_0101.png``).
        like: The source being processed.
        fps: Frame rate of a video output (default: the source's, else 24).
        overwrite: ``False`` resumes: complete frames already written count as done, and an
            existing video counts as finished. ``True`` starts over: this job's existing
            output frames, or the existing video and its work folder, are deleted now, so an
            interrupted redo can never be mistaken for a finished job.

    Returns:
        A :class:`FrameSink`.

    Raises:
        OutputError: A glob pattern, a single image name without a placeholder, an unsupported
            extension, an output that is or would overwrite a source file.
        InputError: ``fps`` is not a positive number.
    """
    fps = _check_fps(fps)
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix.lower() in VIDEO_EXTENSIONS and not _has_placeholder(path.name):
        return VideoSink(path, like=like, fps=fps, overwrite=overwrite)
    if path.is_dir():
        pattern = FramePattern(path, _FOLDER_PREFIX, _FOLDER_DIGITS, _FOLDER_SUFFIX)
        return ImageSequenceSink(pattern, like=like, overwrite=overwrite)
    if _has_placeholder(path.name):
        if "*" in path.name:
            raise OutputError(
                f"{text}: a glob cannot name output files; use #### (e.g. frame_####.png) or %04d"
            )
        try:
            pattern = parse_pattern(path)
        except InputError as exc:
            raise OutputError(str(exc)) from exc
        return ImageSequenceSink(pattern, like=like, overwrite=overwrite)
    if not path.exists() and path.suffix == "":
        pattern = FramePattern(path, _FOLDER_PREFIX, _FOLDER_DIGITS, _FOLDER_SUFFIX)
        return ImageSequenceSink(pattern, like=like, overwrite=overwrite)
    if path.suffix.lower() in SUPPORTED_EXTENSIONS:
        raise OutputError(
            f"{text} names a single image; a frame sequence needs a frame-number placeholder, "
            f"e.g. {path.with_name(path.stem + '_####' + path.suffix)}"
        )
    raise OutputError(
        f"cannot write {text}: {path.suffix or 'no'} extension is neither an image type "
        f"({', '.join(SUPPORTED_EXTENSIONS)}) nor a video type ({', '.join(VIDEO_EXTENSIONS)})"
    )


# --------------------------------------------------------------------------------------------
# Sink helpers
# --------------------------------------------------------------------------------------------


def _refuse_source_overlap(like: FrameSource, outputs: Sequence[Path], target: str) -> None:
    """OutputError when any output path is one of ``like``'s files (never overwrite sources).

    Paths are compared resolved (symlinks, ``..``, case on case-insensitive systems) and, for
    outputs that already exist, by device and inode (hard links, other spellings).
    """
    sources = like.source_files()
    by_name = {_same_file_key(p): p for p in sources}
    by_inode: dict[tuple[int, int], Path] = {}
    for src in sources:
        inode = _inode(src)
        if inode is not None:
            by_inode[inode] = src
    for out in outputs:
        hit = by_name.get(_same_file_key(out))
        if hit is None:
            inode = _inode(out)
            hit = by_inode.get(inode) if inode is not None else None
        if hit is not None:
            raise OutputError(
                f"refusing to write {target}: {out} is a source file ({hit}); choose another "
                "output folder or name"
            )


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_complete(path: Path) -> bool:
    """Cheap completeness check of an output frame (see :meth:`FrameSink.is_done`)."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if size == 0 or not path.is_file():
        return False
    fmt = SUPPORTED_EXTENSIONS.get(path.suffix.lower())
    try:
        if fmt == "png":
            with open(path, "rb") as fh:
                head = fh.read(8)
                fh.seek(max(size - len(_PNG_IEND), 0))
                tail = fh.read()
            return head == b"\x89PNG\r\n\x1a\n" and tail == _PNG_IEND
        if fmt == "jpeg":
            with open(path, "rb") as fh:
                head = fh.read(3)
                fh.seek(max(size - _JPEG_TAIL, 0))
                tail = fh.read()
            return head == b"\xff\xd8\xff" and b"\xff\xd9" in tail
        probe_image(path)
        return True
    except (OSError, InputError):
        return False


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot remove old output {path}: {exc.strerror or exc}") from exc


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc


#: Name :func:`core.atomic_write.atomic_path` gives the temporary of ``<name>``.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp(?P<suffix>\.[A-Za-z0-9]+)?$")


def remove_stale_temporaries(folder: Path, names: set[str]) -> None:
    """Delete temporaries a killed run left for the files ``names`` in ``folder``."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        m = _TEMPORARY.match(entry.name)
        if m and m["name"] in names and (m["suffix"] or "") == Path(m["name"]).suffix:
            _remove_file(entry)


def _remove_work_dir(work_dir: Path, frame_paths: Sequence[Path]) -> None:
    """Delete a video's work folder: frames, temporaries and hidden state files, then the folder.

    Other (non-hidden, not frame) files are left alone, and the folder with them.
    """
    if not work_dir.is_dir():
        return
    names = {p.name for p in frame_paths}
    pattern = FramePattern(work_dir, _FOLDER_PREFIX, _FOLDER_DIGITS, _FOLDER_SUFFIX)
    for entry in work_dir.iterdir():
        ours = (
            entry.name in names
            or entry.name.startswith(".")
            or pattern.match(entry.name) is not None
        )
        if ours and entry.is_file():
            _remove_file(entry)
    try:
        work_dir.rmdir()
    except OSError:
        pass  # it holds someone else's files: keep them


def _open_writer(tmp: Path, final: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    ext = final.suffix.lower()
    fourcc = VIDEO_CODECS[ext]
    height, width = size
    even = (width + width % 2, height + height % 2)
    # WebM has no FourCC table in FFmpeg: OpenCV prints a harmless "tag is not supported"
    # line straight to the C stderr while it picks VP8 from the FourCC.
    quiet = _silenced_c_stderr() if ext == ".webm" else _nothing()
    with quiet, _quiet_opencv():
        writer = cv2.VideoWriter(
            str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, even
        )
    if not writer.isOpened():
        writer.release()
        raise OutputError(
            f"cannot encode {final}: OpenCV's FFmpeg backend has no {fourcc} encoder for "
            f"{ext} here; write an image sequence or another container "
            f"({', '.join(VIDEO_EXTENSIONS)})"
        )
    return writer


def _to_bgr8(rgb: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(1, 3, H, W)`` sRGB → ``(H', W', 3)`` uint8 BGR, padded to even H' and W'."""
    arr = rgb[0].detach().to("cpu", torch.float32).numpy().transpose(1, 2, 0)[:, :, ::-1]
    bgr = np.rint(np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)
    height, width = size
    if height % 2 or width % 2:
        bgr = cv2.copyMakeBorder(bgr, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(bgr)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _silenced_c_stderr() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the duration (C-level prints only)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)

