"""One job per output: an exclusive lock held for the job's whole life.

Two jobs writing to one output at the same time would mix their frames silently (issue 18,
class 1). Every job takes :func:`output_lock` on its output before it writes or deletes anything
there; a second job on the same output fails at once with one :class:`OutputError` line and
writes nothing.

The lock is ``fcntl.flock`` on a hidden file in the output's folder (``.nst-job.lock`` for a
folder of frames, ``.<name>.nst-lock`` beside a single output file), so it

* is stale-safe: the kernel releases it when the process dies, however it dies (``kill -9``
  included), and a leftover lock file is simply locked again by the next job;
* works between any processes of the machine (CLI, Blender, scripts) and on local file systems;
  on network file systems it is as good as their ``flock`` (NFSv4 maps it to byte-range locks).

When the job ends the lock file is removed, and so is every folder the lock created that is
still empty (a job refused on its input leaves no output folder). Deleting a held lock file would
let a third job lock a fresh file while a second still waits on the old one, so after locking,
the file's identity is compared with what the path names now and the lock is retaken if they
differ. Where ``fcntl`` is missing (Windows) ``msvcrt.locking`` on the file's first byte is used.

Tested by ``tests/reliability/test_concurrent_jobs.py``.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FOLDER_LOCK_NAME", "lock_path_for_file", "output_lock"]

#: The lock of a folder output (frames, a model, analogy results).
FOLDER_LOCK_NAME = ".nst-job.lock"


def lock_path_for_file(path: str | os.PathLike[str]) -> Path:
    """The lock of a single-file output: ``.<name>.nst-lock`` beside it (a hashed name if too long)."""
    path = Path(path)
    name = f".{path.name}.nst-lock"
    if len(os.fsencode(name)) > 255:
        name = f".~{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]}.nst-lock"
    return path.with_name(name)


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True
    import msvcrt  # pragma: no cover - Windows

    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, deepest first."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from .atomic_write import _output_error

        raise _output_error(exc, folder / FOLDER_LOCK_NAME) from exc
    return missing


@contextmanager
def output_lock(lock: str | os.PathLike[str], output: str) -> Iterator[Path]:
    """Hold the exclusive lock file ``lock`` for the block (see the module docstring).

    Args:
        lock: The lock file: ``folder / FOLDER_LOCK_NAME`` or :func:`lock_path_for_file`.
        output: The output as the user named it, for the message.

    Yields:
        The lock file.

    Raises:
        OutputError: Another job holds the lock, or the folder cannot be created or written.
    """
    lock = Path(lock)
    created = _make_folder(lock.parent)
    fd = -1
    try:
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError as exc:
                from .atomic_write import _output_error

                raise _output_error(exc, lock) from exc
            if not _try_lock(fd):
                os.close(fd)
                fd = -1
                raise OutputError(
                    f"{output} is in use by another job{_holder(lock)}; wait for it to finish or choose "
                    "another output"
                )
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file was removed by the job that held it: lock the new one
            fd = -1
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        if fd >= 0:
            try:
                os.unlink(lock)
            except OSError:
                pass
            os.close(fd)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
