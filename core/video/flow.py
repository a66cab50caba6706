"""Optical flow between frames: estimation (DIS), backward warping, and trust masks.

Flow convention (everywhere in ``core``):
    A flow is a ``float32`` numpy array of shape ``(H, W, 2)`` in pixels; channel 0 is x
    (columns, right positive) and channel 1 is y (rows, **down** positive). ``flow_a_to_b``
    means that the content at pixel ``p`` of frame ``a`` is at ``p + flow(p)`` in frame ``b``:
    ``a(p) ≈ b(p + flow_a_to_b(p))``. This is OpenCV's convention. Pixel ``(x, y)`` is the
    centre of column ``x``, row ``y``; the frame covers ``[-0.5, W - 0.5] × [-0.5, H - 0.5]``.

    To carry the previous stylised frame ``O_{t-1}`` into frame ``t`` warp it *backward*:
    ``warp(O_prev, flow_t_to_prev)``.

Blender's Vector and Depth passes (their conventions, and how they were established) are read in
:mod:`core.video.render_passes`; :func:`vector_confidence` turns them into a flow and its
confidence.

Every function accepts frames either as numpy ``(H, W, 3)`` ``float32`` display sRGB in
``[0, 1]`` or as torch ``(1, 3, H, W)`` / ``(3, H, W)`` tensors in ``[0, 1]``.

References:
    Kroeger, Timofte, Dai, Van Gool. "Fast Optical Flow using Dense Inverse Search", ECCV 2016.
    Sundaram, Brox, Keutzer. "Dense Point Trajectories by GPU-accelerated Large Displacement
    Optical Flow", ECCV 2010.
    Ruder, Dosovitskiy, Brox. "Artistic Style Transfer for Videos", GCPR 2016.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..foundation.errors import InputError
from ..requests.video import DIS_PRESETS
from .render_passes import vectors_to_flow

__all__ = [
    "DIS_PRESETS",
    "DISFlow",
    "confidence",
    "depth_occlusion",
    "inside_frame",
    "all_finite",
    "clip_unit",
    "to_gray_u8",
    "to_hwc",
    "vector_confidence",
    "warp",
]


_CV2_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

# Forward-backward and motion-boundary thresholds of Sundaram et al. (2010).
_FB_REL, _FB_ABS = 0.01, 0.5
_MB_REL, _MB_ABS = 0.01, 0.002
# Soft masks: confidence falls linearly from 1 at half a threshold to 0 at 1.5 thresholds.
_RAMP_LOW, _RAMP_HIGH = 0.5, 1.5
# Gaussian that feathers soft masks: standard deviation and kernel radius in pixels.
_FEATHER_SIGMA, _FEATHER_RADIUS = 1.0, 2
# Blender writes 1e10 where a ray hits nothing; depths at or beyond this count as "infinitely far".
_FAR_DEPTH = 1e9


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def to_hwc(image: torch.Tensor) -> np.ndarray:
    """A ``(1, C, H, W)`` image as a new float32 ``(H, W, C)`` array (OpenCV's layout).

    Interleaving the channel planes with ``cv2.merge`` takes a quarter of the time of a strided
    copy (0.27 ms instead of 1.0 ms for a 640 × 360 frame), and the video engine makes several such
    copies per frame.
    """
    planes = image[0].detach().to(device="cpu", dtype=torch.float32).numpy()
    if planes.shape[0] == 1:
        return np.array(planes[0][:, :, None])
    return cv2.merge([np.ascontiguousarray(p) for p in planes])


def all_finite(values: np.ndarray) -> bool:
    """Whether an array holds no NaN or ±Inf.

    float32 (every frame, flow and render pass here) is checked by ``cv2.checkRange`` in one pass,
    about a quarter of ``np.isfinite(values).all()``'s time; other types by numpy.
    """
    a = np.asarray(values)
    if a.dtype != np.float32:
        return bool(np.isfinite(a).all())
    return bool(cv2.checkRange(np.ascontiguousarray(a), True)[0])


def clip_unit(image: np.ndarray) -> np.ndarray:
    """Clip a float32 array to [0, 1] in place and return it (two OpenCV passes: half ``np.clip``'s time)."""
    cv2.threshold(image, 1.0, 1.0, cv2.THRESH_TRUNC, dst=image)
    cv2.threshold(image, 0.0, 0.0, cv2.THRESH_TOZERO, dst=image)
    return image


def to_gray_u8(frame: np.ndarray | torch.Tensor) -> np.ndarray:
    """Convert a frame to 8-bit luma for flow estimation.

    Luma is ``0.299 R + 0.587 G + 0.114 B`` of the display sRGB values (ITU-R BT.601, as
    OpenCV's ``COLOR_RGB2GRAY``), clipped to ``[0, 1]`` and rounded to ``0..255``.

    Args:
        frame: Display sRGB in ``[0, 1]``: numpy ``(H, W, 3)`` or ``(H, W)`` float, torch
            ``(1, 3, H, W)``, ``(3, H, W)`` or ``(H, W)`` float; or an already gray ``uint8``
            numpy ``(H, W)`` array, returned unchanged.

    Returns:
        A ``uint8`` array.

    Raises:
        InputError: The frame has another shape or dtype, or holds NaN/Inf.

    Shape:
        Output: ``(H, W)``
    """
    if isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 2:
        return frame
    rgb = _frame_to_numpy(frame, "frame")
    gray = rgb if rgb.ndim == 2 else rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.rint(np.clip(gray, 0.0, 1.0) * 255.0).astype(np.uint8)


def _frame_to_numpy(frame: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """``float32`` numpy ``(H, W, 3)`` or ``(H, W)`` from the accepted frame layouts."""
    if isinstance(frame, torch.Tensor):
        t = frame.detach()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 3 and t.shape[0] == 3:
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise InputError(
                f"{name} must be a (1, 3, H, W), (3, H, W) or (H, W) tensor, got {tuple(frame.shape)}"
            )
        if not t.is_floating_point():
            raise InputError(f"{name} must be a floating-point tensor in [0, 1], got {t.dtype}")
        arr = t.to(device="cpu", dtype=torch.float32).numpy()
    elif isinstance(frame, np.ndarray):
        if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
            raise InputError(f"{name} must be an (H, W, 3) or (H, W) array, got {frame.shape}")
        if frame.dtype.kind != "f":
            raise InputError(
                f"{name} must be a float array in [0, 1] (or a gray uint8 (H, W) array), "
                f"got {frame.dtype} {frame.shape}"
            )
        arr = frame.astype(np.float32, copy=False)
    else:
        raise InputError(f"{name} must be a numpy array or a torch tensor, got {type(frame).__name__}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{name} is empty ({arr.shape})")
    if not all_finite(arr):
        raise InputError(f"{name} holds NaN or Inf values")
    return arr


# --------------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------------


class DISFlow:
    """Dense Inverse Search optical flow (Kroeger et al., ECCV 2016) through OpenCV.

    One OpenCV ``DISOpticalFlow`` object is created per instance and reused for every call, so
    keep one instance per video (it is not safe to share between threads).

    Example:
        >>> dis = DISFlow("fast")                     # doctest: +SKIP
        >>> flow = dis(frame_t, frame_prev)           # doctest: +SKIP  (flow_t_to_prev)
        >>> carried = warp(output_prev, flow)         # doctest: +SKIP

    Args:
        preset: One of :data:`DIS_PRESETS`: ``"ultrafast"``, ``"fast"`` (default) or
            ``"medium"`` (slower, more accurate).

    Raises:
        InputError: Unknown preset.
    """

    def __init__(self, preset: str = "fast") -> None:
        if preset not in _CV2_PRESETS:
            raise InputError(
                f"unknown DIS optical-flow preset {preset!r}; choose one of {', '.join(DIS_PRESETS)}"
            )
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(_CV2_PRESETS[preset])

    def __repr__(self) -> str:
        return f"DISFlow(preset={self.preset!r})"

    def __call__(self, a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
        """Estimate ``flow_a_to_b``: ``a(p) ≈ b(p + flow(p))``.

        Args:
            a: Source frame (see :func:`to_gray_u8` for accepted layouts).
            b: Target frame, same size.

        Returns:
            ``float32`` flow in pixels (x right, y down).

        Raises:
            InputError: The frames differ in size, have an unsupported layout, hold NaN/Inf,
                or are too small for DIS (a few ten pixels per side are needed).

        Shape:
            Output: ``(H, W, 2)``
        """
        gray_a = to_gray_u8(a)
        gray_b = to_gray_u8(b)
        if gray_a.shape != gray_b.shape:
            raise InputError(
                f"frames for optical flow differ in size: {gray_a.shape[1]}×{gray_a.shape[0]} "
                f"and {gray_b.shape[1]}×{gray_b.shape[0]} (W×H)"
            )
        try:
            flow = self._dis.calc(gray_a, gray_b, None)
        except cv2.error as exc:
            height, width = gray_a.shape
            raise InputError(
                f"optical flow failed on {width}×{height} frames; DIS needs frames of at least "
                "a few ten pixels per side"
            ) from exc
        return np.ascontiguousarray(flow, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Warping
# --------------------------------------------------------------------------------------------


def warp(
    image: torch.Tensor | np.ndarray, flow: np.ndarray | torch.Tensor, *, mode: str = "bilinear"
) -> torch.Tensor | np.ndarray:
    """Backward-warp an image with a flow: ``out(p) = image(p + flow(p))``.

    Sampling is bilinear by default, or ``mode="bicubic"``: video propagation resamples the same
    picture frame after frame, and bilinear sampling at fractional offsets blurs a little every
    time, which adds up; bicubic keeps strokes sharp (values may overshoot, clamp afterwards).
    (``grid_sample`` with ``align_corners=True``, pixel ``x`` mapped to
    ``2x / (W - 1) - 1``, so an integer flow copies pixels exactly); positions outside the
    frame take the nearest border pixel (replicate). Grid coordinates are computed in
    ``float32`` at least, even for half-precision images (half cannot address pixels of a
    1080p frame exactly). Differentiable with respect to ``image`` and a torch ``flow``.

    To carry frame ``t-1`` into frame ``t``: ``warp(frame_prev, flow_t_to_prev)``.

    Args:
        image: torch ``(B, C, H, W)`` floating tensor on any device, or numpy ``(H, W, C)``
            or ``(H, W)`` float array.
        flow: numpy or torch ``(H, W, 2)``, or torch ``(1, 2, H, W)`` / ``(B, 2, H, W)``;
            x then y, in pixels, y down.

    Returns:
        The warped image, same type, shape, dtype and device as ``image``.

    Raises:
        InputError: Shapes do not match or the image is not floating point.

    Shape:
        - image: ``(B, C, H, W)`` (torch) or ``(H, W, C)`` / ``(H, W)`` (numpy)
        - flow: ``(H, W, 2)``, ``(1, 2, H, W)`` or ``(B, 2, H, W)``
        - Output: same as ``image``
    """
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.dtype.kind != "f":
            raise InputError(
                f"a numpy image to warp must be a float (H, W, C) or (H, W) array, "
                f"got {image.dtype} {image.shape}"
            )
        planes = image[:, :, None] if image.ndim == 2 else image
        t = torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))[None]
        out = warp(t, flow, mode=mode)[0].numpy().transpose(1, 2, 0)
        out = out[:, :, 0] if image.ndim == 2 else out
        return np.ascontiguousarray(out, dtype=image.dtype)

    if mode not in ("bilinear", "bicubic", "nearest"):
        raise InputError(f"warp mode must be bilinear, bicubic or nearest, got {mode!r}")
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or not image.is_floating_point():
        shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
        raise InputError(f"the image to warp must be a floating (B, C, H, W) tensor, got {shape}")
    batch, _, height, width = image.shape
    work_dtype = image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32
    f = _flow_to_tensor(flow, height, width).to(device=image.device, dtype=work_dtype)
    if f.shape[0] not in (1, batch):
        raise InputError(f"flow batch {f.shape[0]} does not match image batch {batch}")

    ys = torch.arange(height, device=image.device, dtype=work_dtype).view(1, height, 1)
    xs = torch.arange(width, device=image.device, dtype=work_dtype).view(1, 1, width)
    gx = (xs + f[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    gy = (ys + f[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).expand(batch, height, width, 2)
    out = F.grid_sample(
        image.to(work_dtype), grid, mode=mode, padding_mode="border", align_corners=True
    )
    return out.to(image.dtype)


def _flow_to_tensor(flow: np.ndarray | torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(N, 2, H, W)`` tensor from a numpy/torch ``(H, W, 2)`` or torch ``(N, 2, H, W)`` flow."""
    f = torch.from_numpy(np.asarray(flow)) if isinstance(flow, np.ndarray) else flow
    if not isinstance(f, torch.Tensor):
        raise InputError(f"flow must be a numpy array or a torch tensor, got {type(flow).__name__}")
    if f.ndim == 3 and f.shape[-1] == 2:
        f = f.permute(2, 0, 1)[None]
    if f.ndim != 4 or f.shape[1] != 2 or tuple(f.shape[-2:]) != (height, width):
        raise InputError(
            f"flow of shape {tuple(flow.shape)} does not fit a {width}×{height} image "
            f"(expected (H, W, 2) or (N, 2, H, W) with H={height}, W={width})"
        )
    return f


# --------------------------------------------------------------------------------------------
# Trust masks
# --------------------------------------------------------------------------------------------


def confidence(
    flow_t_to_prev: np.ndarray, flow_prev_to_t: np.ndarray, *, soft: bool = True, scale: float = 1.0
) -> np.ndarray:
    """How far the previous frame, warped into frame ``t``, can be trusted at each pixel.

    Two criteria of Sundaram et al. (2010), as used for video style transfer by Ruder et al.
    (2016). With ``w = flow_t_to_prev(p)`` and ``ŵ = flow_prev_to_t(p + w)`` (bilinear lookup):

    1. Forward-backward consistency (occlusion / disocclusion): a pixel is inconsistent where
       ``d₁ = |w + ŵ|² > t₁ = 0.01 (|w|² + |ŵ|²) + 0.5``.
    2. Motion boundaries: inconsistent where
       ``d₂ = |∇u|² + |∇v|² > t₂ = 0.01 |w|² + 0.002``, with ``(u, v) = flow_t_to_prev`` and
       central-difference gradients.
    3. Pixels whose ``p + w`` lies outside the frame (``[-0.5, W - 0.5] × [-0.5, H - 0.5]``)
       get 0.

    ``soft=False`` returns the binary mask ``[d₁ ≤ t₁] · [d₂ ≤ t₂] · [inside]``.
    ``soft=True`` replaces each step by a ramp ``clip(1.5 - dᵢ / tᵢ, 0, 1)`` (1 up to half the
    threshold, 0.5 at the threshold, 0 from 1.5 thresholds), multiplies the criteria and then
    feathers the result as ``min(c, G_σ * c)`` with a 5×5 Gaussian of σ = 1 px: confidence only
    ever decreases next to untrusted pixels (within 2 px), so occlusion borders fade out instead
    of stopping hard, and untrusted pixels are never made more trusted.

    Args:
        flow_t_to_prev: Flow from frame ``t`` to frame ``t-1``.
        flow_prev_to_t: Flow from frame ``t-1`` to frame ``t``.
        soft: Smooth mask (default) or binary 0/1 mask.
        scale: The flows' size ÷ the size whose pixels the thresholds count in (e.g. 0.5 for
            flows area-downsampled to half size, in half-size pixels): the check then judges a
            downsampled flow as it judges the same flow at full size (the gradients of a resampled
            flow are unchanged, its vectors scale with it).

    Returns:
        ``float32`` confidence in ``[0, 1]``; 1 = trust the warped previous frame.

    Raises:
        InputError: Flows of another shape, of different sizes, or holding NaN/Inf.

    Shape:
        - flows: ``(H, W, 2)``
        - Output: ``(H, W)``
    """
    w = _check_flow(flow_t_to_prev, "flow_t_to_prev")
    back = _check_flow(flow_prev_to_t, "flow_prev_to_t")
    if back.shape != w.shape:
        raise InputError(f"flow_t_to_prev is {w.shape} but flow_prev_to_t is {back.shape}; both must be (H, W, 2)")
    if not scale > 0:
        raise InputError(f"scale must be positive, got {scale}")
    w_hat = _remap(back, w)
    wx, wy, hx, hy = w[..., 0], w[..., 1], w_hat[..., 0], w_hat[..., 1]
    # in full-size pixels (vectors ÷ scale), both sides times scale²
    d_fb = (wx + hx) ** 2 + (wy + hy) ** 2
    t_fb = _FB_REL * (wx * wx + wy * wy + hx * hx + hy * hy) + _FB_ABS * scale * scale
    d_mb, t_mb = _motion_boundary_terms(w, scale)
    inside = inside_frame(w)
    if not soft:
        return ((d_fb <= t_fb) & (d_mb <= t_mb) & inside).astype(np.float32)
    conf = _ramp(d_fb, t_fb) * _ramp(d_mb, t_mb) * inside
    return _feather(conf)


def depth_occlusion(
    depth_t: np.ndarray,
    depth_prev: np.ndarray,
    flow_t_to_prev: np.ndarray,
    *,
    rel_tol: float = 0.05,
) -> np.ndarray:
    """Which pixels of frame ``t`` were visible in the previous frame, from rendered depth.

    ``q = p + flow_t_to_prev(p)`` is rounded to the nearest pixel (bilinear interpolation would
    invent depths between a foreground edge and the background) and ``d' = depth_prev(q)`` is
    looked up. Pixel ``p`` was hidden in the previous frame when something was nearer there:
    ``d' < (1 - rel_tol) · depth_t(p)``. Pixels with ``q`` outside the frame get 0.

    Depths at or beyond ``1e9`` (Blender writes ``1e10`` where a ray hits nothing) and ``+inf``
    count as infinitely far: two such depths compare equal, and any finite depth is nearer.

    Args:
        depth_t: Depth of frame ``t`` (Blender's Depth/Z pass: distance from the camera plane).
        depth_prev: Depth of frame ``t-1``.
        flow_t_to_prev: Flow from frame ``t`` to ``t-1`` (e.g. from :func:`vectors_to_flow`).
        rel_tol: Relative depth difference tolerated before a pixel counts as hidden.

    Returns:
        ``float32`` mask in ``{0, 1}``: 1 = visible in the previous frame.

    Raises:
        InputError: Shapes do not match, depths hold NaN or negative values, ``rel_tol`` is
            not in ``[0, 1)``.

    Shape:
        - depth_t, depth_prev: ``(H, W)`` (or ``(H, W, 1)``)
        - flow_t_to_prev: ``(H, W, 2)``
        - Output: ``(H, W)``
    """
    if not 0.0 <= rel_tol < 1.0:
        raise InputError(f"rel_tol must be in [0, 1), got {rel_tol}")
    w = _check_flow(flow_t_to_prev, "flow_t_to_prev")
    d_t = _check_depth(depth_t, "depth_t", w.shape[:2])
    d_prev = _check_depth(depth_prev, "depth_prev", w.shape[:2])
    # nearest-pixel lookup (OpenCV rounds half to even like np.rint; outside: the border pixel, and
    # inside_frame zeroes those pixels anyway): a tenth of the time of numpy fancy indexing
    seen = cv2.remap(d_prev, _sample_map(w), None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    hidden = seen < (1.0 - rel_tol) * d_t
    return ((~hidden) & inside_frame(w)).astype(np.float32)


def _check_depth(depth: np.ndarray, name: str, size: tuple[int, int]) -> np.ndarray:
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.shape != size:
        raise InputError(f"{name} is {d.shape}; expected (H, W) = {size} like the flow")
    d = np.minimum(d, np.float32(_FAR_DEPTH))  # (+inf becomes far; NaN stays NaN)
    if not cv2.checkRange(d, True, 0.0, 2 * _FAR_DEPTH)[0]:  # one pass: NaN or negative
        raise InputError(f"{name} holds NaN or negative values; expected distances from the camera")
    return d


# --------------------------------------------------------------------------------------------
# Confidence from Blender's passes
# --------------------------------------------------------------------------------------------


def vector_confidence(
    vector_t: np.ndarray,
    depth_t: np.ndarray | None = None,
    depth_prev: np.ndarray | None = None,
    *,
    vector_prev: np.ndarray | None = None,
    rel_tol: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Flow to the previous frame and a soft confidence, from Blender's Vector (and Depth) passes.

    The confidence is the product of:

    * the soft motion-boundary ramp of :func:`confidence` (criterion 2) on ``flow_t_to_prev``;
    * 0 where ``p + flow_t_to_prev(p)`` leaves the frame;
    * :func:`depth_occlusion` when both depths are given (catches disocclusions, e.g. the
      background uncovered behind a moving object);
    * the soft forward-backward ramp of :func:`confidence` (criterion 1) when ``vector_prev``
      (frame ``t-1``'s Vector pass, whose ``(Z, W)`` give ``flow_prev_to_t``) is given;

    feathered like :func:`confidence` (``min(c, G_σ * c)``, σ = 1 px, 5×5 kernel). Without depth or
    ``vector_prev``, uncovered background cannot be detected (the pass only says where each
    visible pixel came from), so pass at least one of them when you have it.

    Args:
        vector_t: Frame ``t``'s Vector pass (see :func:`vectors_to_flow`).
        depth_t: Frame ``t``'s Depth pass, or ``None``.
        depth_prev: Frame ``t-1``'s Depth pass, or ``None`` (give both depths or neither).
        vector_prev: Frame ``t-1``'s Vector pass, or ``None``.
        rel_tol: Relative depth tolerance of :func:`depth_occlusion`.

    Returns:
        ``(flow_t_to_prev, confidence)``: the flow to warp the previous output with
        (``warp(O_prev, flow_t_to_prev)``) and a ``float32`` confidence in ``[0, 1]``.

    Raises:
        InputError: Bad vector or depth shapes/values, or only one of the two depths given.

    Shape:
        - vector_t, vector_prev: ``(H, W, 4)``
        - depth_t, depth_prev: ``(H, W)``
        - Output: ``(H, W, 2)`` and ``(H, W)``
    """
    if (depth_t is None) != (depth_prev is None):
        raise InputError("give both depth_t and depth_prev, or neither")
    flow_t_to_prev, _ = vectors_to_flow(vector_t)
    d_mb, t_mb = _motion_boundary_terms(flow_t_to_prev)
    conf = _ramp(d_mb, t_mb) * inside_frame(flow_t_to_prev)
    if depth_t is not None and depth_prev is not None:
        conf = conf * depth_occlusion(depth_t, depth_prev, flow_t_to_prev, rel_tol=rel_tol)
    if vector_prev is not None:
        _, flow_prev_to_t = vectors_to_flow(vector_prev)
        if flow_prev_to_t.shape != flow_t_to_prev.shape:
            raise InputError(
                f"vector_prev is {np.shape(vector_prev)} but vector_t is {np.shape(vector_t)}"
            )
        w_hat = _remap(flow_prev_to_t, flow_t_to_prev)
        w = flow_t_to_prev
        d_fb = _squared_norm(cv2.add(w, w_hat))
        t_fb = cv2.add(_squared_norm(w), _squared_norm(w_hat))
        t_fb *= _FB_REL
        t_fb += _FB_ABS
        conf = conf * _ramp(d_fb, t_fb)
    return flow_t_to_prev, _feather(conf.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


_PAIR_SUM = np.ones((1, 2), np.float32)


def _squared_norm(flow: np.ndarray) -> np.ndarray:
    """``u² + v²`` of an ``(H, W, 2)`` float32 flow (OpenCV: a fifth of numpy's ``sum(axis=-1)``)."""
    return cv2.transform(cv2.multiply(flow, flow), _PAIR_SUM)


def _check_flow(flow: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().to("cpu").numpy()
    f = np.asarray(flow)
    if f.ndim != 3 or f.shape[2] != 2 or f.shape[0] < 1 or f.shape[1] < 1:
        raise InputError(f"{name} must be an (H, W, 2) array, got shape {f.shape}")
    f = f.astype(np.float32, copy=False)
    if not all_finite(f):
        raise InputError(f"{name} holds NaN or Inf values")
    return f


def _remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinear backward warp of a float numpy image by a flow (OpenCV; edges replicate).

    The fast path for flows and masks inside this module; same convention as :func:`warp`
    (OpenCV interpolates with 1/32-pixel weights, plenty for trust masks).
    """
    return cv2.remap(np.ascontiguousarray(image, dtype=np.float32), _sample_map(flow), None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_cubic(image: torch.Tensor | np.ndarray, flow: np.ndarray) -> torch.Tensor | np.ndarray:
    """Bicubic backward warp of one CPU image ``(1, C, H, W)`` or array ``(H, W, C)`` by a numpy flow, via OpenCV.

    The same convention as :func:`warp` with ``mode="bicubic"`` (edges replicate, values may
    overshoot: clamp afterwards), several times faster on a CPU; other tensors go to :func:`warp`.
    A float32 array comes back as a float32 ``(H, W, C)`` array (no conversion to torch and back).
    """
    if isinstance(image, np.ndarray):
        out = cv2.remap(np.ascontiguousarray(image, dtype=np.float32), _sample_map(flow), None, cv2.INTER_CUBIC,
                        borderMode=cv2.BORDER_REPLICATE)
        return out[:, :, None] if out.ndim == 2 and image.ndim == 3 else out
    if image.device.type != "cpu" or image.shape[0] != 1 or not isinstance(flow, np.ndarray):
        return warp(image, flow, mode="bicubic")
    out = cv2.remap(to_hwc(image), _sample_map(flow), None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if out.ndim == 2:
        out = out[:, :, None]
    return torch.from_numpy(out).permute(2, 0, 1)[None].to(image.dtype)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> np.ndarray:
    """``(H, W, 2)`` float32 pixel coordinates ``(x, y)``, read-only, cached per size."""
    grid = np.empty((height, width, 2), np.float32)
    grid[..., 0] = np.arange(width, dtype=np.float32)[None, :]
    grid[..., 1] = np.arange(height, dtype=np.float32)[:, None]
    grid.flags.writeable = False
    return grid


def _sample_map(flow: np.ndarray) -> np.ndarray:
    """``p + flow(p)`` as OpenCV's two-channel ``(H, W, 2)`` float32 remap map."""
    height, width = flow.shape[:2]
    return cv2.add(np.ascontiguousarray(flow, dtype=np.float32), _pixel_grid(height, width))


def _motion_boundary_terms(flow: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(|∇u|² + |∇v|², 0.01 |w|² + 0.002)`` with central differences (one-sided at borders).

    ``scale``: as in :func:`confidence` (``|w|`` counts in full-size pixels: ``|w| / scale``).
    """
    d = np.zeros(flow.shape[:2], dtype=np.float32)
    for c in range(2):
        comp = np.ascontiguousarray(flow[..., c])
        for axis in (0, 1):
            if comp.shape[axis] > 1:
                d += _central_difference(comp, axis) ** 2
    u, v = flow[..., 0], flow[..., 1]
    t = (_MB_REL / (scale * scale)) * (u * u + v * v) + _MB_ABS
    return d, t


def _central_difference(f: np.ndarray, axis: int) -> np.ndarray:
    """``np.gradient(f, axis=axis)`` (central inside, one-sided at the ends) without its overhead."""
    g = np.empty_like(f)
    if axis == 0:
        g[1:-1] = (f[2:] - f[:-2]) * 0.5
        g[0], g[-1] = f[1] - f[0], f[-1] - f[-2]
    else:
        g[:, 1:-1] = (f[:, 2:] - f[:, :-2]) * 0.5
        g[:, 0], g[:, -1] = f[:, 1] - f[:, 0], f[:, -1] - f[:, -2]
    return g


def inside_frame(flow: np.ndarray) -> np.ndarray:
    """Where ``p + flow(p)`` lies within the frame's pixel area ``[-0.5, W - 0.5] × [-0.5, H - 0.5]``.

    Args:
        flow: A flow in this module's convention.

    Returns:
        A ``bool`` mask.

    Shape:
        - flow: ``(H, W, 2)``
        - Output: ``(H, W)``
    """
    height, width = flow.shape[:2]
    return cv2.inRange(_sample_map(flow), (-0.5, -0.5), (width - 0.5, height - 0.5)) > 0


def _ramp(d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1 for ``d ≤ t/2``, 0 for ``d ≥ 1.5 t``, linear in between (0.5 at ``d = t``)."""
    r = cv2.divide(np.asarray(d, np.float32), np.asarray(t, np.float32), scale=-1.0 / (_RAMP_HIGH - _RAMP_LOW))
    r += _RAMP_HIGH / (_RAMP_HIGH - _RAMP_LOW)
    return np.clip(r, 0.0, 1.0, out=r)


#: The largest float32 below ``1 - 1e-6``: ``x > _ALMOST_ONE`` is ``x >= 1 - 1e-6``.
_ALMOST_ONE = float(np.nextafter(np.float32(1.0 - 1e-6), np.float32(0.0)))


def _feather(conf: np.ndarray) -> np.ndarray:
    """``min(c, gaussian(c))``: soften drops in confidence without ever raising it."""
    c = conf.astype(np.float32, copy=False)
    size = 2 * _FEATHER_RADIUS + 1
    blurred = cv2.GaussianBlur(
        c, (size, size), sigmaX=_FEATHER_SIGMA, sigmaY=_FEATHER_SIGMA, borderType=cv2.BORDER_REPLICATE
    )
    # A blur of an all-ones neighbourhood may round to 1 - 1 ulp: keep such pixels as they are
    # (raise the blur to 1 there, so the minimum takes c).
    _, ones = cv2.threshold(blurred, _ALMOST_ONE, 1.0, cv2.THRESH_BINARY)
    feathered = cv2.min(c, cv2.max(blurred, ones))
    return np.clip(feathered, 0.0, 1.0, out=feathered)


def resize_motion(flow: np.ndarray, confidence: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resample a flow and its confidence to ``size`` = ``(H, W)``, scaling the vectors with it.

    Area averaging when shrinking, bilinear when enlarging; the confidence stays in [0, 1].

    Args:
        flow: ``(h, w, 2)`` in pixels of the original size.
        confidence: ``(h, w)``.
        size: Target ``(H, W)``.

    Returns:
        ``(flow (H, W, 2), confidence (H, W))`` as ``float32``.
    """
    import cv2

    h, w = flow.shape[:2]
    if (h, w) == tuple(size):
        return flow.astype(np.float32), confidence.astype(np.float32)
    H, W = size
    interp = cv2.INTER_AREA if H * W < h * w else cv2.INTER_LINEAR
    scaled = cv2.resize(np.ascontiguousarray(flow, dtype=np.float32), (W, H), interpolation=interp)
    scaled[..., 0] *= W / w
    scaled[..., 1] *= H / h
    conf = cv2.resize(np.ascontiguousarray(confidence, dtype=np.float32), (W, H), interpolation=interp)
    return scaled.astype(np.float32), np.clip(conf, 0.0, 1.0).astype(np.float32)
