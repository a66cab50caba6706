"""Video files as frame sequences: :class:`VideoSource` (decode) and :class:`VideoSink` (encode).

Both use OpenCV's FFmpeg backend. A video output is first written as PNG frames to a sibling
work folder ``<out>.frames/`` (resumable like any image sequence) and encoded by
:meth:`VideoSink.finish`.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from ..foundation.atomic_write import atomic_path
from ..foundation.errors import ImageReadError, InputError, OutputError
from .frame_names import FOLDER_DIGITS, FOLDER_PREFIX, FOLDER_SUFFIX, FrameInfo, FramePattern, size_text
from .frame_sinks import FrameSink, refuse_source_overlap, remove_file, remove_stale_temporaries, remove_work_dir
from .frame_sources import FrameSource
from .images import ImageData, quiet_opencv, read_image

__all__ = ["DEFAULT_FPS", "VIDEO_CODECS", "VIDEO_EXTENSIONS", "VideoSink", "VideoSource"]


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
#: Suffix of a video output's work folder of PNG frames (``<out>.frames/``).
WORK_SUFFIX = ".frames"


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
        with quiet_opencv():
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
        with quiet_opencv():
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
        return f"{self.path}: {count} frame{plural}{note} {size_text(self.size)}{rate}"

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
        self.work_dir = path.with_name(path.name + WORK_SUFFIX)
        self.state_dir = self.work_dir
        self.fps = fps if fps is not None else (like.fps or DEFAULT_FPS)
        self._pattern = FramePattern(self.work_dir, FOLDER_PREFIX, FOLDER_DIGITS, FOLDER_SUFFIX)
        if path.is_dir():
            raise OutputError(f"cannot write video {path}: a folder with that name exists")
        if self.work_dir.exists() and not self.work_dir.is_dir():
            raise OutputError(f"cannot use work folder {self.work_dir}: it is a file")
        work_paths = [self.path_for(info) for info in like.frames]
        refuse_source_overlap(like, [path, *work_paths], str(path))
        remove_stale_temporaries(path.parent, {path.name})  # an encode a kill interrupted
        self._complete = not overwrite and path.exists()
        if self._complete:
            self._check_existing(path)
            remove_work_dir(self.work_dir, work_paths)  # left by a kill right after the rename
            return
        with tempfile.TemporaryDirectory(prefix="nst-codec-") as scratch:
            probe = Path(scratch) / f"probe{path.suffix}"
            open_writer(probe, path, like.size, self.fps).release()
        if overwrite:
            remove_file(path)
            remove_work_dir(self.work_dir, work_paths)
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

    def write(self, info: FrameInfo, rgb: torch.Tensor, alpha: torch.Tensor | None = None, *,
              colorspace: str = "srgb") -> Path:
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
        remove_work_dir(self.work_dir, [self.path_for(info) for info in self.like.frames])
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
                    writer = open_writer(tmp, self.path, size, self.fps)
                elif image.size != size:
                    raise OutputError(
                        f"cannot encode {self.path}: {self.path_for(info).name} is "
                        f"{size_text(image.size)}, the first frame is {size_text(size)}"
                    )
                writer.write(to_bgr8(image.srgb(), size))  # type: ignore[union-attr]
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


def open_writer(tmp: Path, final: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    ext = final.suffix.lower()
    fourcc = VIDEO_CODECS[ext]
    height, width = size
    even = (width + width % 2, height + height % 2)
    # WebM has no FourCC table in FFmpeg: OpenCV prints a harmless "tag is not supported"
    # line straight to the C stderr while it picks VP8 from the FourCC.
    quiet = _silenced_c_stderr() if ext == ".webm" else _nothing()
    with quiet, quiet_opencv():
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


def to_bgr8(rgb: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
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
