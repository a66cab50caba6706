"""Atomic file writes: a reader sees either the old file or the complete new one, never half.

Data is written to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is atomic), flushed to disk with ``fsync`` and then renamed over the destination.
On any failure the temporary file is removed and the destination is left untouched.

Example:
    >>> with atomic_path("out/frame_0001.png") as tmp:   # doctest: +SKIP
    ...     cv2.imwrite(str(tmp), pixels)
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import NSTError, OutputError

__all__ = ["atomic_path", "atomic_write_bytes"]

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EROFS}
_NO_PERMISSION = {errno.EACCES, errno.EPERM}


@contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; move it onto ``dest`` when the block succeeds.

    The temporary file is named ``.{dest.name}.{random}.tmp{dest.suffix}``: hidden, unique, and
    with the real suffix last so encoders that choose the format from the extension still work.
    The block must create the file at the yielded path. On success the file is fsynced and
    ``os.replace``-d onto ``dest`` (replacing an existing file atomically). On any exception,
    including ``KeyboardInterrupt``, the temporary file is removed and the exception re-raised;
    ``dest`` keeps its previous content. The parent folder is created when missing.

    Args:
        dest: Final path of the file.

    Yields:
        The temporary path to write to.

    Raises:
        OutputError: The disk is full, the output folder is read-only or not writable, or
            another OS-level error (one that carries an ``errno``) happened while creating the
            folder, writing, syncing or renaming. The original ``OSError`` is chained as
            ``__cause__`` and its ``errno`` is copied onto the ``OutputError``.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(exc, dest) from exc
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp{dest.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        # Some writers (safetensors, mkstemp) create 0600 files; give the result the mode a plain
        # open() would, so frames and models stay readable by other users and render nodes.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, NSTError) and exc.errno is not None:
            raise _output_error(exc, dest) from exc
        raise
    _fsync_dir(dest.parent)


def _umask() -> int:
    """The process umask, read without changing it (Linux ``/proc``; 0o022 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_path`).

    Args:
        dest: Final path of the file; its parent folder is created when missing.
        data: The complete file content.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: The file cannot be written (disk full, read-only or non-writable folder).
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with open(tmp, "xb") as fh:
            fh.write(data)
    return dest


def _output_error(exc: OSError, dest: Path) -> OutputError:
    """Translate an ``OSError`` raised while writing ``dest`` into a one-sentence OutputError."""
    folder = dest.parent
    if exc.errno in _DISK_FULL:
        message = f"disk full while writing {dest}"
    elif exc.errno in _READ_ONLY:
        message = f"output folder {folder} is read-only; cannot write {dest}"
    elif exc.errno in _NO_PERMISSION:
        message = f"permission denied writing {dest}; check that the output folder {folder} is writable"
    elif exc.errno == errno.EISDIR:
        message = f"cannot write {dest}: a folder with that name already exists"
    elif exc.errno == errno.ENOTDIR:
        message = f"cannot write {dest}: a part of the output folder path {folder} is a file"
    else:
        reason = exc.strerror or str(exc)
        message = f"cannot write {dest}: {reason}"
    err = OutputError(message)
    err.errno = exc.errno
    return err


def _fsync_file(path: Path) -> None:
    # O_RDWR: on Windows os.fsync (_commit) needs a handle opened for writing.
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        # Nothing sensible to do: the original exception is more useful than this one.
        pass
