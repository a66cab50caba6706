"""Temporal consistency of a stylised video: the warping error of Lai et al. (ECCV 2018).

For outputs ``O_1 … O_T`` of inputs ``I_1 … I_T``::

    E_t = Σ_p M_t(p) ‖O_t(p) − Ô_{t−1}(p)‖² / Σ_p M_t(p),   Ô_{t−1} = warp(O_{t−1}, F_{t→t−1})
    E   = mean of E_t over t = 2 … T

``F_{t→t−1}`` is the optical flow from frame ``t`` to ``t−1`` estimated on the **input** frames
(DIS here, FlowNet2 in the paper), and ``M_t`` the binary non-occlusion mask from the
forward–backward consistency of the input flows (:func:`core.video.flow.confidence` with
``soft=False``). ``‖·‖²`` is the squared difference **summed over the three channels** of a
pixel; with outputs in display sRGB ``[0, 1]`` the value is in ``(sRGB units)²`` per pixel and
lies in ``[0, 3]`` (lower is more stable; compare only values computed with the same flow
method and resolution).

Reference:
    Lai, Huang, Wang, Shechtman, Yumer, Yang. "Learning Blind Video Temporal Consistency",
    ECCV 2018.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from ..foundation.errors import InputError
from .flow import DISFlow, confidence, inside_frame, to_gray_u8, warp

__all__ = ["WarpingErrorMeter", "warping_error"]


class WarpingErrorMeter:
    """Streaming warping error: feed frames one by one; only the previous pair is kept.

    Example:
        >>> meter = WarpingErrorMeter()              # doctest: +SKIP
        >>> for out, inp in zip(outputs, inputs):    # doctest: +SKIP
        ...     meter.update(out, inp)
        >>> meter.value                              # doctest: +SKIP

    Args:
        flow: The optical-flow estimator to run on the input frames; default
            ``DISFlow("medium")``. Not used for pairs given an external flow.

    Attributes:
        count: Frames passed to :meth:`update`.
        pairs: Consecutive pairs that contributed an error (a pair whose mask is empty
            contributes nothing).
        per_pair: The error ``E_t`` of each contributing pair, in order.
    """

    def __init__(self, flow: DISFlow | None = None) -> None:
        self._flow = flow if flow is not None else DISFlow("medium")
        self._prev_output: np.ndarray | None = None
        self._prev_gray: np.ndarray | None = None
        self.count = 0
        self.per_pair: list[float] = []

    @property
    def pairs(self) -> int:
        """Number of frame pairs averaged in :attr:`value`."""
        return len(self.per_pair)

    @property
    def value(self) -> float:
        """Mean warping error over the pairs so far; ``nan`` before any pair contributed."""
        return math.fsum(self.per_pair) / len(self.per_pair) if self.per_pair else math.nan

    def reset(self) -> None:
        """Forget every frame and error (e.g. at a shot cut)."""
        self._prev_output = None
        self._prev_gray = None
        self.count = 0
        self.per_pair = []

    def update(
        self,
        output_t: np.ndarray | torch.Tensor,
        input_t: np.ndarray | torch.Tensor,
        *,
        flow: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> float:
        """Add frame ``t`` and return its error ``E_t`` against frame ``t−1``.

        Args:
            output_t: Stylised frame ``t``, display sRGB ``[0, 1]``: numpy ``(H, W, 3)``
                float or torch ``(1, 3, H, W)`` / ``(3, H, W)``.
            input_t: Input frame ``t``, same layouts and size.
            flow: Optional ``flow_t_to_prev`` (e.g. from Blender's Vector pass via
                :func:`core.video.render_passes.vectors_to_flow`) to use instead of estimating one on the
                inputs.
            mask: Optional weights ``M_t`` in ``[0, 1]`` (e.g. from
                :func:`core.video.flow.vector_confidence`); only with ``flow``. Without it, pixels
                whose ``p + flow(p)`` lies inside the frame get 1, the others 0.

        Returns:
            ``E_t``, or ``nan`` for the first frame and for a pair whose mask is empty.

        Raises:
            InputError: Frames of unsupported layout, output and input (or consecutive frames)
                of different sizes, a mask without a flow, or a flow/mask of the wrong shape.

        Shape:
            - flow: ``(H, W, 2)``
            - mask: ``(H, W)``
        """
        out = _rgb(output_t, "output_t")
        inp = _rgb(input_t, "input_t")
        if out.shape != inp.shape:
            raise InputError(
                f"output frame is {_size(out)} but input frame is {_size(inp)} (W×H); they must match"
            )
        if mask is not None and flow is None:
            raise InputError("a mask can only be given together with its flow")
        height, width = out.shape[:2]
        external = None if flow is None else _check_external(flow, mask, height, width)
        prev_out, prev_gray = self._prev_output, self._prev_gray
        if prev_out is not None and prev_out.shape != out.shape:
            raise InputError(
                f"frame {self.count + 1} is {_size(out)} but the previous frame is "
                f"{_size(prev_out)} (W×H); every frame must have the same size"
            )
        gray = to_gray_u8(inp)
        self._prev_output, self._prev_gray = out, gray
        self.count += 1
        if prev_out is None or prev_gray is None:
            return math.nan

        if external is None:
            flow_t_to_prev = self._flow(gray, prev_gray)
            weights = confidence(flow_t_to_prev, self._flow(prev_gray, gray), soft=False)
        else:
            flow_t_to_prev, weights = external
        total = float(weights.sum(dtype=np.float64))
        if total <= 0.0:
            return math.nan
        carried = warp(prev_out, flow_t_to_prev)
        sq = np.sum((out - carried).astype(np.float64) ** 2, axis=-1)
        error = float(np.sum(weights * sq) / total)
        self.per_pair.append(error)
        return error


def warping_error(
    outputs: Iterable[np.ndarray | torch.Tensor],
    inputs: Iterable[np.ndarray | torch.Tensor],
    *,
    flow: DISFlow | None = None,
) -> float:
    """Mean warping error of a stylised sequence (Lai et al., ECCV 2018); see the module docstring.

    Frames are consumed lazily, two at a time, so generators over long videos are fine.

    Args:
        outputs: Stylised frames ``O_1 … O_T``, display sRGB ``[0, 1]``, each numpy
            ``(H, W, 3)`` float or torch ``(1, 3, H, W)``.
        inputs: The input frames ``I_1 … I_T`` the flow is estimated on, same layouts.
        flow: The flow estimator; default ``DISFlow("medium")``.

    Returns:
        ``E`` in ``(sRGB units)²`` per pixel (squared error summed over channels), in ``[0, 3]``;
        ``nan`` for fewer than two frames.

    Raises:
        InputError: The sequences differ in length, frames differ in size, or a frame has an
            unsupported layout.
    """
    meter = WarpingErrorMeter(flow)
    try:
        for output_t, input_t in zip(outputs, inputs, strict=True):
            meter.update(output_t, input_t)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"outputs and inputs differ in length (they diverge after {meter.count} frames)"
        ) from exc
    return meter.value


def _rgb(frame: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """``float32`` numpy ``(H, W, 3)`` from a numpy ``(H, W, 3)`` or torch ``(1, 3, H, W)`` frame."""
    if isinstance(frame, torch.Tensor):
        t = frame.detach()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3 or not t.is_floating_point():
            raise InputError(
                f"{name} must be a float (1, 3, H, W) or (3, H, W) tensor, got "
                f"{t.dtype} {tuple(frame.shape)}"
            )
        arr = t.to(device="cpu", dtype=torch.float32).permute(1, 2, 0).numpy()
    elif isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype.kind != "f":
            raise InputError(f"{name} must be a float (H, W, 3) array, got {frame.dtype} {frame.shape}")
        arr = frame.astype(np.float32, copy=False)
    else:
        raise InputError(f"{name} must be a numpy array or a torch tensor, got {type(frame).__name__}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds NaN or Inf values")
    return np.ascontiguousarray(arr)


def _size(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}×{frame.shape[0]}"


def _check_external(
    flow: np.ndarray, mask: np.ndarray | None, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an externally supplied ``(flow_t_to_prev, mask)``; default the mask."""
    f = np.asarray(flow, dtype=np.float32)
    if f.shape != (height, width, 2):
        raise InputError(f"flow is {f.shape}; expected (H, W, 2) = ({height}, {width}, 2)")
    if not np.isfinite(f).all():
        raise InputError("flow holds NaN or Inf values")
    if mask is None:
        return f, inside_frame(f).astype(np.float32)
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != (height, width):
        raise InputError(f"mask is {m.shape}; expected (H, W) = ({height}, {width})")
    if not np.isfinite(m).all() or m.min() < 0.0 or m.max() > 1.0:
        raise InputError("mask values must be finite and in [0, 1]")
    return f, m
