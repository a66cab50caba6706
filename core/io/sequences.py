"""Open frame sequences: :func:`open_frames` (sources) and :func:`open_sink` (outputs).

Numbered image files and video files, streamed one frame at a time. Names and patterns live in
:mod:`.frame_names`, sources in :mod:`.frame_sources`, sinks in :mod:`.frame_sinks`, video files in
:mod:`.video_files`.

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

Pixel contract: frames come back as :class:`~core.io.images.ImageData` (``rgb`` is ``float32``
``(1, 3, H, W)``). Image files keep their own colour space (``"linear"`` for EXR and float
TIFF, ``"srgb"`` otherwise); video frames are display sRGB in ``[0, 1]`` with
``format="video"`` and ``bit_depth=8``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..foundation.errors import InputError, OutputError
from .formats import SUPPORTED_EXTENSIONS
from .frame_names import (
    FOLDER_DIGITS,
    FOLDER_PREFIX,
    FOLDER_SUFFIX,
    FramePattern,
    check_fps,
    has_placeholder,
    parse_pattern,
    scan_folder,
    scan_pattern,
)
from .frame_sinks import FrameSink, ImageSequenceSink
from .frame_sources import FrameSource, ImageSequenceSource
from .video_files import VIDEO_EXTENSIONS, WORK_SUFFIX, VideoSink, VideoSource

__all__ = ["open_frames", "open_sink", "output_location"]


def open_frames(spec: str | os.PathLike[str], *, fps: float | None = None) -> FrameSource:
    """Open a video file, a folder of numbered images or a frame-name pattern.

    Args:
        spec: One of

            * a video file whose extension is in :data:`VIDEO_EXTENSIONS`;
            * a folder: every non-hidden file in it with an image extension
              (:data:`~core.io.images.SUPPORTED_EXTENSIONS`) must belong to one numbered
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
    fps = check_fps(fps)
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix.lower() in VIDEO_EXTENSIONS and not has_placeholder(path.name):
        return VideoSource(path, fps=fps)
    if path.is_dir():
        pattern, files = scan_folder(path)
        return ImageSequenceSource(pattern, files, fps=fps)
    if has_placeholder(path.name):
        pattern = parse_pattern(path)
        ext = Path(f"{pattern.prefix}0{pattern.suffix}").suffix.lower()
        if ext not in SUPPORTED_EXTENSIONS:
            raise InputError(
                f"{text}: {ext or 'no'} extension is not a supported image type "
                f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
            )
        if not pattern.directory.is_dir():
            raise InputError(f"folder {pattern.directory} does not exist (from {text})")
        return ImageSequenceSource(pattern, scan_pattern(pattern), fps=fps)
    if not path.exists():
        raise InputError(f"{text} does not exist")
    raise InputError(
        f"{text} is a single file, not a frame sequence; pass a video "
        f"({', '.join(VIDEO_EXTENSIONS)}), a folder of numbered frames or a pattern such as "
        "frame_####.png"
    )


def output_location(spec: str | os.PathLike[str]) -> tuple[Path, Path | None] | None:
    """Where :func:`open_sink` would write, without touching the disk beyond ``stat``.

    Returns:
        ``(folder, video)``: the folder the frames (and the job's hidden state) go in, and the
        video file for a video output (``None`` for image sequences); ``None`` when ``spec`` is
        not a valid output (:func:`open_sink` then raises the error).
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix.lower() in VIDEO_EXTENSIONS and not has_placeholder(path.name):
        return path.with_name(path.name + WORK_SUFFIX), path
    if path.is_dir() or (not path.exists() and path.suffix == ""):
        return path, None
    if has_placeholder(path.name) and "*" not in path.name:
        try:
            return parse_pattern(path).directory, None
        except InputError:
            return None
    return None


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
    fps = check_fps(fps)
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix.lower() in VIDEO_EXTENSIONS and not has_placeholder(path.name):
        return VideoSink(path, like=like, fps=fps, overwrite=overwrite)
    if path.is_dir():
        pattern = FramePattern(path, FOLDER_PREFIX, FOLDER_DIGITS, FOLDER_SUFFIX)
        return ImageSequenceSink(pattern, like=like, overwrite=overwrite)
    if has_placeholder(path.name):
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
        pattern = FramePattern(path, FOLDER_PREFIX, FOLDER_DIGITS, FOLDER_SUFFIX)
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
