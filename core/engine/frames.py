"""The frame engine every front end drives: :class:`FrameEngine`.

One call per frame, in order: :meth:`FrameEngine.step` takes the frame at its own size, its
position in the sequence and its render passes, and returns the finished result. Between calls
the engine keeps what coherence needs (the previous frame, its result and its passes); a frame
that does not follow the previous one (a jump, a single F12, another size) starts fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

import torch

from ..foundation.device import resolve_device
from ..foundation.errors import NSTError
from ..foundation.progress import ProgressCallback
from ..imaging.resize import resize, size_for_long_side
from ..requests.video import VideoRequest
from ..video.online import OnlineStylizer
from .finish import finish_frame
from .motion import FramePasses, pass_motion

__all__ = ["FrameEngine", "FrameResult", "Passes"]

#: A frame's render passes, None, or a function that reads them (called once, when they are needed:
#: on the worker thread after :meth:`FrameEngine.prepare`).
Passes = FramePasses | Callable[[], FramePasses | None] | None


@dataclass
class FrameResult:
    """One stylised frame.

    Attributes:
        image: The finished frame ``(1, 3, H, W)`` in [0, 1]: colour preserved, at the frame's size
            (``scale_back``) or at the working size.
        raw: The engine's own result at the working size (what coherence carries to the next
            frame; a resumed run restores from it).
        motion: ``"vectors"``, ``"optical flow"`` or None (the frame was stylised fresh).
        size: ``(h, w)`` at which the network ran.
        state: The stylizer's state (``state["features"]`` for an exact resume of feature blending).
    """

    image: torch.Tensor
    raw: torch.Tensor
    motion: str | None
    size: tuple[int, int]
    state: dict


class FrameEngine:
    """Stylise a sequence frame by frame, coherently when asked: the one engine of every front end.

    Args:
        request: The settings (:class:`~core.requests.video.VideoRequest`; source, output and
            the flow source are the caller's business: passes are given per frame).
        quantisation_bits: The bit depth results are stored at (8 for PNG), so a resumed run
            continues from the state an uninterrupted one had; None keeps floats.
        scale_back: Return results at the frame's own size (the add-on) rather than at the
            working size (the CLI writes at ``size``).
        device: A resolved device; None resolves ``request.device``.

    Raises:
        core.foundation.errors.ModelError: Missing or corrupt weights.
        core.foundation.errors.InputError: A style the model lacks, bad settings.
        core.foundation.errors.DeviceError: CUDA asked for but unavailable.
    """

    def __init__(self, request: VideoRequest, *, quantisation_bits: int | None = 8, scale_back: bool = True,
                 device: torch.device | None = None) -> None:
        request.validate_engine()
        self.request = request
        self.scale_back = scale_back
        stylizer_request = request
        if request.method == "gatys" and request.preserve_color != "none":
            stylizer_request = replace(request, gatys=replace(request.gatys, preserve_color=request.preserve_color))
        self.stylizer = OnlineStylizer(stylizer_request, device=device or resolve_device(request.device),
                                       quantisation_bits=quantisation_bits)
        self._last: tuple[int, tuple[int, int], FramePasses | None] | None = None  # (position, size, passes)
        # (frame, position, passes, working-size frame, future of (passes read, motion found in them,
        # the stylizer's motion)) of :meth:`prepare`, and the thread that finds it
        self._prepared: tuple | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def device(self) -> torch.device:
        return self.stylizer.device

    @property
    def uses_features(self) -> bool:
        """Whether an exact resume needs the saved features (feature blending)."""
        return self.stylizer.uses_features

    def working_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """``(h, w)`` at which a frame of ``frame_size`` is stylised."""
        size = self.request.size
        return tuple(frame_size) if size is None else size_for_long_side(*frame_size, size)

    def _working(self, frame: torch.Tensor) -> torch.Tensor:
        size = self.working_size(tuple(frame.shape[-2:]))
        return frame if tuple(frame.shape[-2:]) == size else resize(frame, size).clamp(0, 1)

    def reset(self) -> None:
        """Forget the previous frame: the next one is stylised fresh."""
        self._drop_prepared()
        self.stylizer.reset()
        self._last = None

    def _plan(self, frame: torch.Tensor, position: int) -> tuple[torch.Tensor, bool]:
        """``(working-size frame, whether it follows the last one)``."""
        follows = (self._last is not None and self._last[0] == position - 1
                   and self._last[1] == tuple(frame.shape[-2:]))
        return self._working(frame), follows

    def prepare(self, frame: torch.Tensor, position: int, *, passes: Passes = None) -> None:
        """The frame the next :meth:`step` will get: its motion is found on a worker thread meanwhile.

        For callers that have the next frame in hand before they are done with this one's result
        (the CLI and Stylize Strip read the next frame, then write this one): reading the passes
        (when ``passes`` is a function), turning them into a flow and checking it, or estimating
        DIS optical flow, then run on the second core while the caller writes (OpenCV and the EXR
        reader release the GIL); the next :meth:`step` must get the same ``frame`` and ``passes``
        objects. Not beside the network, which already uses both cores: measured together, they were
        hardly faster than one after the other with passive OpenMP threads (80 vs 82 ms a frame at
        640 × 360) and slower with spinning ones (86 vs 82 ms). Anything wrong with the frame or its
        passes is reported by that step, as without this call.
        """
        self._drop_prepared()
        if not self.request.coherent:
            return
        small, follows = self._plan(frame, position)
        estimate = self.stylizer.motion_estimator(small) if follows else None
        if estimate is None:
            return
        full, size, previous = tuple(frame.shape[-2:]), tuple(small.shape[-2:]), self._last[2]

        def work():
            current = passes() if callable(passes) else passes
            found = pass_motion(current, previous, full, size)
            flow, conf = found if found is not None else (None, None)
            return current, found, estimate(flow, conf)

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nst-motion")
        self._prepared = (frame, position, passes, small, self._pool.submit(work))

    def _drop_prepared(self) -> None:
        if self._prepared is not None:
            future = self._prepared[4]
            self._prepared = None
            if not future.cancel():
                wait([future])  # the DIS estimator is shared: let a running estimate finish

    def _take_prepared(self, frame: torch.Tensor, position: int, passes: Passes) -> tuple | None:
        """``(working-size frame, (passes, found, motion))`` prepared for this call, or None."""
        prepared = self._prepared
        if prepared is None or prepared[0] is not frame or prepared[1] != position or prepared[2] is not passes:
            self._drop_prepared()
            return None
        self._prepared = None
        try:
            return prepared[3], prepared[4].result()
        except NSTError:
            return None  # the step does it again, and says what is wrong with this frame

    def restore(self, position: int, frame: torch.Tensor, result: torch.Tensor, *,
                passes: FramePasses | None = None, features: list[torch.Tensor] | None = None) -> str:
        """Continue after ``position`` as if it had just been stylised (a resumed run).

        Args:
            position: The finished frame's position in the sequence.
            frame: That frame as read ``(1, 3, H, W)``.
            result: Its result as the engine produced it (:attr:`FrameResult.raw`); resized to the
                working size if needed.
            passes: Its render passes.
            features: Saved features (feature blending: one tensor per pass of the stroke-size
                pyramid), else None.

        Returns:
            How the state was restored (the stylizer's words).
        """
        small = self._working(frame)
        if tuple(result.shape[-2:]) != tuple(small.shape[-2:]):
            result = resize(result, tuple(small.shape[-2:])).clamp(0, 1)
        self._drop_prepared()
        how = self.stylizer.restore(small, result, features)
        self._last = (position, tuple(frame.shape[-2:]), passes)
        return how

    def step(self, frame: torch.Tensor, position: int, *, passes: Passes = None,
             masks: list[torch.Tensor | None] | None = None, progress: ProgressCallback | None = None,
             where: str = "") -> FrameResult:
        """Stylise the frame at ``position`` (see the module docstring).

        Args:
            frame: ``(1, 3, H, W)`` display sRGB in [0, 1], at its own size.
            position: Its position in the sequence (a frame number); only ``previous + 1`` continues.
            passes: Its render passes (:mod:`.motion` decides whether they describe the motion), or a
                function that reads them (:data:`Passes`).
            masks: Region masks ``(1, 1, H', W')`` in [0, 1], one per style (None = everywhere),
                any size: resampled to the working size.
            progress: Slow methods report their iterations; returning False cancels.
            where: Words naming the frame in messages.

        Raises:
            core.foundation.errors.InputError: Passes of another size than the frame.
            core.foundation.errors.Cancelled: ``progress`` returned False.
        """
        full = tuple(frame.shape[-2:])
        prepared = self._take_prepared(frame, position, passes)
        estimated = None
        if prepared is not None:
            small, (passes, found, estimated) = prepared
            follows = True
        else:
            small, follows = self._plan(frame, position)
            if callable(passes):
                passes = passes()
        size = tuple(small.shape[-2:])
        if not follows:
            self.stylizer.reset()
        motion = flow = conf = None
        if self.request.coherent and follows:
            if prepared is None:
                found = pass_motion(passes, self._last[2], full, size, where=where)
            if found is not None:
                (flow, conf), motion = found, "vectors"
            else:
                motion = "optical flow"
        if masks is not None:
            masks = [torch.ones(1, 1, *size) if m is None else resize(m, size).clamp(0, 1) for m in masks]
        raw, state = self.stylizer.step(small, flow=flow, confidence=conf, masks=masks, motion=estimated,
                                        progress=progress if self.request.method != "stylebank" else None)
        self._last = (position, full, passes)
        image = finish_frame(raw, small, full if self.scale_back else size, method=self.request.method,
                             preserve_color=self.request.preserve_color)
        return FrameResult(image=image, raw=raw, motion=motion, size=size, state=state)
