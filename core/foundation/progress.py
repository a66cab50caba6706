"""Progress reporting with cancellation for long algorithms.

A progress callback receives a :class:`ProgressEvent` after each unit of work and may return
``False`` to stop; the algorithm then raises :class:`~core.foundation.errors.Cancelled` and writes nothing.
The CLI turns events into a tqdm bar; the Blender add-on into its progress UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    """One unit of work done.

    Attributes:
        stage: What is running (``"level 2/3 (256×171)"``, ``"tile 4/12"``, ...).
        step: Units done so far over the whole job (1-based).
        total: Units the whole job will take.
        loss: Current objective value, when there is one.
    """

    stage: str
    step: int
    total: int
    loss: float | None = None


ProgressCallback = Callable[[ProgressEvent], "bool | None"]


class ProgressTracker:
    """Counts steps across the stages of a job and forwards them to a callback.

    Args:
        callback: Called after every step; returning ``False`` cancels.
        total: Steps the whole job will take.
    """

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = max(int(total), 1)
        self.step = 0

    def advance(self, stage: str, loss: float | None = None, n: int = 1) -> None:
        """Record ``n`` steps done.

        Raises:
            Cancelled: The callback returned ``False``.
        """
        self.step += n
        if self.callback is not None and self.callback(ProgressEvent(stage, self.step, self.total, loss)) is False:
            raise Cancelled(f"cancelled at step {self.step}/{self.total} ({stage})")
