"""Frame sources: an ordered sequence of frames read one at a time (:class:`FrameSource`).

:class:`ImageSequenceSource` reads numbered image files; :class:`~core.io.video_files.VideoSource`
decodes a video file. Open either with :func:`~core.io.sequences.open_frames`.

Pixel contract: frames come back as :class:`~core.io.images.ImageData` (``rgb`` is ``float32``
``(1, 3, H, W)``). Image files keep their own colour space (``"linear"`` for EXR and float TIFF,
``"srgb"`` otherwise); video frames are display sRGB in ``[0, 1]`` with ``format="video"`` and
``bit_depth=8``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ..foundation.errors import InputError
from .formats import check_complete, probe_image
from .frame_names import FrameInfo, FramePattern, format_ranges, size_text
from .images import ImageData, read_image

__all__ = ["FrameSource", "ImageSequenceSource"]


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
                f"{self.frame_label(info)}{shown} is {size_text(size)}, "
                f"the sequence is {size_text(self.size)}"
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
            f"{count} frame{'s' if count != 1 else ''} ({first}–{last}) {size_text(self.size)}"
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
