"""SIGTERM as an exception, so a terminated job cleans up like a cancelled one.

Python's default SIGTERM action ends the process at once: no ``finally`` block runs, so a write
that :func:`~core.foundation.atomic_write.atomic_path` had in progress leaves its hidden
temporary for good (issue 18, class 5). :func:`sigterm_raises` turns SIGTERM into
:class:`Terminated` for the duration of a job: the exception unwinds through the atomic writer
(which removes its temporary), the output lock (which is released) and the CLI prints one
``cancelled: terminated`` line and exits 143 (128 + SIGTERM, what shells report). The handler
runs between Python bytecodes, so a write inside a C call (an encoder) finishes that call first;
further SIGTERMs while the job unwinds are ignored. An exit hook also removes any temporary
still registered as live (:func:`~core.foundation.atomic_write.remove_live_temporaries`).

:class:`Terminated` derives from :class:`BaseException`, as :class:`KeyboardInterrupt` does, not
from :class:`~core.foundation.errors.Cancelled`: the signal lands between any two bytecodes, also
inside a ``try … except Exception`` that reports a decoder's failure as a damaged input. Derived
from ``Exception`` it was caught there once and a SIGTERM during a PNG header read ended the job
as ``error: … has a corrupt or truncated PNG header`` (exit 2) — or, where a handler tolerates a
damaged file, the job simply went on with SIGTERM ignored. A ``BaseException`` passes every such
handler; the atomic writer and the output lock clean up in ``finally`` / ``except BaseException``.

Only the main thread can install signal handlers; elsewhere (a Blender worker thread) the
context manager does nothing.

Tested by ``tests/reliability/test_names_and_signals.py``.
"""

from __future__ import annotations

import atexit
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .atomic_write import remove_live_temporaries

__all__ = ["Terminated", "sigterm_raises"]


class Terminated(BaseException):
    """The process received SIGTERM (exit code 143); not an ``Exception`` (see the module docstring)."""

    exit_code = 143


def _raise_terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwind; a second SIGTERM must not cut it short
    raise Terminated("terminated")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; see the module docstring)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


atexit.register(remove_live_temporaries)
