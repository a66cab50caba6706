"""Reading frames one step ahead (torch-free): :func:`with_next`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["with_next"]

T = TypeVar("T")
_END = object()


def with_next(items: Iterable[T]) -> Iterator[tuple[T, T | None]]:
    """Each item with the one after it (None after the last), read one step ahead.

    Batch front ends read frame ``t + 1`` before they write frame ``t``, so that
    :meth:`~.frames.FrameEngine.prepare` can start on its motion while they write. A failure while reading
    the next item is raised only when that item is due — after the caller is done with this one —
    exactly where it was raised without the look-ahead.
    """
    def pull():
        try:
            return next(source), None
        except StopIteration:
            return _END, None
        except Exception as exc:  # noqa: BLE001 - raised unchanged when it is due
            return None, exc

    source = iter(items)
    item, error = pull()
    while item is not _END:
        if error is not None:
            raise error
        upcoming, later_error = pull()
        yield item, None if upcoming is _END or later_error is not None else upcoming
        item, error = upcoming, later_error
