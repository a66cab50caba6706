"""Frame sinks: where processed frames go, written atomically and resumable (:class:`FrameSink`).

Sinks keep the *source* frame number in every output name, write every frame atomically and can
tell which frames a killed run already finished, so a rerun resumes at
:meth:`FrameSink.first_missing` instead of starting over. No sink ever writes over one of its
source's files. :class:`ImageSequenceSink` writes numbered images;
:class:`~core.io.video_files.VideoSink` a video. Open either with :func:`~core.io.sequences.open_sink`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..foundation.atomic_write import temporaries_among
from ..foundation.errors import InputError, OutputError
from .formats import SUPPORTED_EXTENSIONS, probe_image
from .frame_names import FOLDER_DIGITS, FOLDER_PREFIX, FOLDER_SUFFIX, FrameInfo, FramePattern, format_ranges, same_file_key
from .frame_sources import FrameSource
from .images import ImageData, read_image, write_image

if TYPE_CHECKING:
    import torch

__all__ = [
    "output_complete",
    "FrameSink",
    "ImageSequenceSink",
    "refuse_source_overlap",
    "remove_file",
    "remove_stale_temporaries",
    "remove_work_dir",
]


_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_TAIL = 64  # bytes searched for the end-of-image marker (encoders may pad after it)


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
        return output_complete(self.path_for(info))

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
            :func:`~core.io.images.write_image` writes them); ``None`` for EXR (float). JPEG
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
        refuse_source_overlap(like, outputs, pattern.display())
        remove_stale_temporaries(pattern.directory, {self.path_for(i).name for i in like.frames})
        if overwrite:
            for info in like.frames:
                remove_file(self.path_for(info))

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


def refuse_source_overlap(like: FrameSource, outputs: Sequence[Path], target: str) -> None:
    """OutputError when any output path is one of ``like``'s files (never overwrite sources).

    Paths are compared resolved (symlinks, ``..``, case on case-insensitive systems) and, for
    outputs that already exist, by device and inode (hard links, other spellings).
    """
    sources = like.source_files()
    by_name = {same_file_key(p): p for p in sources}
    by_inode: dict[tuple[int, int], Path] = {}
    for src in sources:
        inode = _inode(src)
        if inode is not None:
            by_inode[inode] = src
    for out in outputs:
        hit = by_name.get(same_file_key(out))
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


def output_complete(path: Path) -> bool:
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


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot remove old output {path}: {exc.strerror or exc}") from exc


def remove_stale_temporaries(folder: Path, names: set[str]) -> None:
    """Delete temporaries a killed run left for the files ``names`` in ``folder``."""
    if not folder.is_dir():
        return
    for name in temporaries_among([entry.name for entry in folder.iterdir()], names):
        remove_file(folder / name)


def remove_work_dir(work_dir: Path, frame_paths: Sequence[Path]) -> None:
    """Delete a video's work folder: frames, temporaries and hidden state files, then the folder.

    Other (non-hidden, not frame) files are left alone, and the folder with them.
    """
    if not work_dir.is_dir():
        return
    names = {p.name for p in frame_paths}
    pattern = FramePattern(work_dir, FOLDER_PREFIX, FOLDER_DIGITS, FOLDER_SUFFIX)
    for entry in work_dir.iterdir():
        ours = (
            entry.name in names
            or entry.name.startswith(".")
            or pattern.match(entry.name) is not None
        )
        if ours and entry.is_file():
            remove_file(entry)
    try:
        work_dir.rmdir()
    except OSError:
        pass  # it holds someone else's files: keep them
