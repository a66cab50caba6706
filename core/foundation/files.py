"""Regular files only: never open a FIFO, a device or a folder as if it were data.

Opening a FIFO for reading blocks until some other process writes to it, a character device
(``/dev/zero``, ``/dev/random``) never ends, and a folder cannot be read at all; given as a
manifest, an image or a weights file, each used to hang the job (or freeze the add-on's style
list) instead of failing (issue 18, class 4). :func:`require_regular_file` looks at the file with
``os.stat`` (which never blocks) and refuses anything but a regular file *before* it is opened,
and refuses files larger than a limit where a small one is expected (a manifest).

Tested by ``tests/reliability/test_validation.py``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError, NSTError

__all__ = ["read_small_text", "require_regular_file"]


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def require_regular_file(path: str | os.PathLike[str], what: str = "file", *,
                         error: type[NSTError] = InputError, max_bytes: int | None = None) -> os.stat_result:
    """``os.stat`` of ``path`` after checking it is a regular file (symlinks followed).

    Args:
        path: The file.
        what: What it is, for the message (``"model manifest"``, ``"style image"``).
        error: The error type to raise.
        max_bytes: Refuse larger files (``None``: any size).

    Returns:
        The file's ``os.stat_result``.

    Raises:
        error: Missing, not a regular file, or larger than ``max_bytes``.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{what} {path} is {st.st_size} bytes; at most {max_bytes} are expected")
    return st


def read_small_text(path: str | os.PathLike[str], what: str, *, error: type[NSTError] = InputError,
                    max_bytes: int = 1 << 20) -> str:
    """The UTF-8 text of a small regular file (see :func:`require_regular_file`).

    Opened with ``O_NONBLOCK`` as well, so even a file swapped for a FIFO after the check cannot
    block the read.
    """
    require_regular_file(path, what, error=error, max_bytes=max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise error(f"{what} {path} is not a regular file")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {Path(path)} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
