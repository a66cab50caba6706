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
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import NSTError, OutputError

__all__ = ["atomic_path", "atomic_write_bytes", "hidden_sidecar", "is_temporary_of", "temporaries_among", "live_temporaries", "remove_live_temporaries",
           "temporary_name"]

#: Longest file name when the file system cannot say (every common Linux/macOS/Windows one: 255).
NAME_MAX = 255
#: Longest suffix a shortened temporary keeps (image and video extensions are far shorter).
_MAX_SUFFIX = 16
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,%d}$" % (_MAX_SUFFIX - 1))
#: Temporaries now being written by this process (removed on SIGTERM or at exit; see
#: :func:`remove_live_temporaries` and :mod:`core.foundation.termination`).
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EROFS}
_NO_PERMISSION = {errno.EACCES, errno.EPERM}


@contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; move it onto ``dest`` when the block succeeds.

    The temporary file is named ``.{dest.name}.{random}.tmp{dest.suffix}``: hidden, unique, and
    with the real suffix last so encoders that choose the format from the extension still work.
    When that name would exceed the file system's name limit (a legal 240-byte name plus 19
    bytes of decoration), it is ``.~{hash of dest.name}.{random}.tmp{dest.suffix}`` instead
    (:func:`temporary_name`). While the block runs the temporary is registered as live, so a
    SIGTERM handler or an exit hook can remove it (:func:`remove_live_temporaries`).
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
    tmp = dest.with_name(temporary_name(dest))
    with _LIVE_LOCK:
        _LIVE.add(str(tmp))
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
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(str(tmp))
    _fsync_dir(dest.parent)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _short_key(name: str) -> str:
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:16]


def temporary_name(dest: str | os.PathLike[str]) -> str:
    """The name of a fresh temporary for ``dest``: ``.{name}.{12 hex}.tmp{suffix}``, always ≤ NAME_MAX.

    A name too long for that form (any legal name over ~236 bytes) gets ``.~{16 hex of sha256(name)}
    .{12 hex}.tmp{suffix}`` (the suffix kept when it is a short alphanumeric extension), in the
    same folder, so the rename stays atomic. :func:`is_temporary_of` recognises both forms.
    """
    dest = Path(dest)
    token = secrets.token_hex(6)
    name = f".{dest.name}.{token}.tmp{dest.suffix}"
    if len(os.fsencode(name)) <= min(_name_max(dest.parent), NAME_MAX):
        return name
    suffix = dest.suffix if _SUFFIX.match(dest.suffix) else ""
    return f".~{_short_key(dest.name)}.{token}.tmp{suffix}"


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp(?P<suffix>\.[^.]+)?$")


def is_temporary_of(entry: str, name: str) -> bool:
    """Whether the file name ``entry`` is a temporary :func:`atomic_path` made for the file ``name``."""
    return temporaries_among([entry], {name}) == [entry]


def temporaries_among(entries: list[str], names: set[str]) -> list[str]:
    """The file names in ``entries`` that are temporaries :func:`atomic_path` made for one of ``names``."""
    found, short = [], None
    for entry in entries:
        m = _TEMPORARY.match(entry)
        if m is None:
            continue
        suffix = m["suffix"] or ""
        if m["name"] in names:
            if suffix == Path(m["name"]).suffix:
                found.append(entry)
        elif m["name"].startswith("~"):
            if short is None:
                short = {"~" + _short_key(n): n for n in names}
            target = short.get(m["name"])
            if target is not None and suffix in ("", Path(target).suffix):
                found.append(entry)
    return found


def hidden_sidecar(path: str | os.PathLike[str], tag: str) -> Path:
    """``.<name><tag>`` beside ``path`` (e.g. a video's job record); a hashed name when that is too long."""
    path = Path(path)
    name = f".{path.name}{tag}"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f".~{_short_key(path.name)}{tag}"
    return path.with_name(name)


def live_temporaries() -> list[Path]:
    """Temporaries this process is writing right now."""
    with _LIVE_LOCK:
        return [Path(p) for p in sorted(_LIVE)]


def remove_live_temporaries() -> None:
    """Delete every temporary this process is writing (for SIGTERM handlers and exit hooks).

    A write whose temporary is removed under it fails its rename; the destination keeps its old
    content.
    """
    with _LIVE_LOCK:
        paths = list(_LIVE)
        _LIVE.clear()
    for p in paths:
        _remove_quietly(Path(p))


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
