"""The coherent frame engine: :class:`OnlineStylizer` (flow propagation + confidence blending).

Per-frame stylisation flickers: a feed-forward network answers tiny input changes (noise, moving
light) with different strokes. Following Chen et al., "Coherent Online Video Style Transfer" (ICCV
2017), frame ``t`` takes the previous frame's result carried along the motion wherever the motion is
trusted, and the fresh stylisation elsewhere (occlusions, disocclusions, motion boundaries), so
errors do not accumulate:

    W_t = warp(R_{t−1}, flow_{t→t−1})              (R: the previous result: image or features)
    R_t = fresh_t + keep · c_t ⊙ (W_t − fresh_t)   (c_t ∈ [0, 1]: flow confidence)

Only the previous frame is needed (online), so memory is constant over the clip.

* Flow: OpenCV DIS on the input frames (forward and backward, confidence from their consistency
  and from motion boundaries), or Blender's Vector pass (exact for rendered animation; the Depth
  pass marks occlusion). See :mod:`core.video.flow`.
* StyleBank: the blend happens on the decoder's input features (the paper's choice), on the output
  image, or both (``blend``). Measured on ``cutBunny.mp4`` (``bench/video.py``, ``docs/video.md``).
* Gatys: every frame after the first starts from the warped previous result and adds a temporal
  term (Ruder et al. 2016), so the slow method is coherent too and needs far fewer iterations.

The job around it (reading a source, writing a sink, resuming) is :func:`core.jobs.video.run_video`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..foundation.device import autocast_context, resolve_device
from ..foundation.errors import InputError
from ..foundation.progress import ProgressCallback
from ..imaging.resize import resize
from ..requests.video import VideoRequest
from . import flow as flowlib
from .consistency import photometric_confidence
from .detail import restore_detail_hwc
from .motion import FrameAnalysis, analyse, dis_motion

__all__ = ["OnlineStylizer", "quantise"]


def _flow_tensor(flow: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1).unsqueeze(0).to(device)


def _feature_flow(flow: np.ndarray, conf: np.ndarray, feat_hw: tuple[int, int], pad: tuple[int, int],
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow and confidence at the feature resolution (the padded frame downsampled by 8)."""
    ft = _flow_tensor(flow, device)
    ct = torch.from_numpy(np.ascontiguousarray(conf)).to(device)[None, None]
    if pad[0] or pad[1]:
        ft = F.pad(ft, (0, pad[1], 0, pad[0]), mode="replicate")
        ct = F.pad(ct, (0, pad[1], 0, pad[0]), mode="replicate")
    scale_y, scale_x = feat_hw[0] / ft.shape[-2], feat_hw[1] / ft.shape[-1]
    small = F.interpolate(ft, size=feat_hw, mode="area")
    small = torch.stack([small[:, 0] * scale_x, small[:, 1] * scale_y], dim=1)
    # a feature cell is trusted only as much as its least trusted pixel (occlusion borders stay fresh)
    c_small = -F.adaptive_max_pool2d(-ct, feat_hw)
    return small, c_small


class _StyleBankFrames:
    """StyleBank per frame, with the stroke-size pyramid of :mod:`core.stylebank.scales`.

    With feature blending, each pass of the pyramid blends its own features with the previous
    frame's features of the same pass, so the state is a list with one tensor per pass.
    """

    def __init__(self, request: VideoRequest, device: torch.device) -> None:
        from ..stylebank.manifest import stroke_reference
        from ..stylebank.model import load_model
        from ..stylebank.scales import reference_long_side

        self.net, self.manifest = load_model(request.model, list(request.style_names), device=device)
        self.reference = reference_long_side(stroke_reference(self.manifest), request.stroke)
        self.request, self.device = request, device
        self.amp = autocast_context(device) if device.type == "cuda" else None

    def __call__(self, frame: torch.Tensor, prev: dict | None, flow: np.ndarray | None,
                 conf: np.ndarray | None, progress: Callable | None,
                 masks: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
        from contextlib import nullcontext

        from ..stylebank.fusion import padding_for, stylebank_decode, stylebank_features
        from ..stylebank.scales import multiscale, resize_to

        r = self.request
        keep_features = r.blend in ("feature", "both")
        previous = prev.get("features") if prev is not None and keep_features else None
        masks = None if masks is None else [m.to(self.device) for m in masks]
        features: list[torch.Tensor] = []

        def run_pass(index: int, image: torch.Tensor) -> torch.Tensor:
            pass_hw = tuple(image.shape[-2:])
            feats, size = stylebank_features(
                self.net, image, list(r.style_names),
                weights=None if r.style_weights is None else list(r.style_weights),
                masks=None if masks is None else [resize_to(m, pass_hw) for m in masks], strength=r.strength)
            if previous is not None and flow is not None and index < len(previous) \
                    and tuple(previous[index].shape) == tuple(feats.shape):
                pass_flow, pass_conf = (flow, conf) if pass_hw == tuple(flow.shape[:2]) \
                    else flowlib.resize_motion(flow, conf, pass_hw)
                fflow, fconf = _feature_flow(pass_flow, pass_conf, tuple(feats.shape[-2:]), padding_for(*size),
                                             self.device)
                warped = flowlib.warp(previous[index].to(self.device, feats.dtype), fflow.to(feats.dtype))
                feats = feats + (r.keep * fconf.to(feats.dtype)) * (warped - feats)
            if keep_features:
                features.append(feats.float())
            return stylebank_decode(self.net, feats, size).float()

        with torch.inference_mode(), (self.amp() if self.amp else nullcontext()):
            out = multiscale(frame.to(self.device), self.reference, run_pass)
        return out.clamp(0, 1).cpu(), {"features": features if keep_features else None}


class _GatysFrames:
    def __init__(self, request: VideoRequest, device: torch.device) -> None:
        from ..io.images import read_image
        from ..nn.vgg import get_encoder

        self.request = request
        self.encoder = get_encoder(request.encoder_weights, pooling=request.gatys.pooling, device=device)
        self.styles = [read_image(p).srgb() for p in request.styles]

    def __call__(self, frame: torch.Tensor, prev: dict | None, flow: np.ndarray | None,
                 conf: np.ndarray | None, progress: Callable | None,
                 masks: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
        from dataclasses import replace

        from ..gatys.solver import TemporalTarget, stylize_gatys

        r = self.request
        weights = None if r.style_weights is None else list(r.style_weights)
        if prev is None or flow is None:
            res = stylize_gatys(frame, self.styles, self.encoder, config=r.gatys, style_weights=weights,
                                masks=masks, progress=progress)
            return res.image, {}
        warped = flowlib.warp_cubic(prev["image"], flow).clamp(0, 1)
        c = torch.from_numpy(np.ascontiguousarray(conf))[None, None].float()
        init = frame + c * (warped - frame)  # disoccluded regions start from the content
        cfg = replace(r.gatys, iterations=r.gatys_next_iterations, pyramid_levels=1)
        res = stylize_gatys(frame, self.styles, self.encoder, config=cfg, style_weights=weights, masks=masks,
                            progress=progress, init_image=init,
                            temporal=TemporalTarget(warped, c * r.keep, r.temporal_weight))
        return res.image, {}


class _AnalogyFrames:
    """Deep Image Analogy per frame: the frame is A, the reference image is B′, the result is A′."""

    def __init__(self, request: VideoRequest, device: torch.device) -> None:
        from dataclasses import replace

        from ..io.images import read_image
        from ..nn.vgg import get_encoder

        self.encoder = get_encoder(request.encoder_weights, device=device)
        self.reference = read_image(request.styles[0]).srgb()
        self.config = replace(request.analogy, size=None)

    def __call__(self, frame: torch.Tensor, prev: dict | None, flow: np.ndarray | None,
                 conf: np.ndarray | None, progress: Callable | None,
                 masks: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
        from ..analogy.deep_analogy import deep_image_analogy
        from ..imaging.resize import resize_long_side
        from ..requests.analogy import MAX_SIDE, min_side

        if masks is not None:
            raise InputError("region masks are not supported by the analogy method")
        rh, rw = self.reference.shape[-2:]
        # B′ at the frame's scale, but never thinner than the pyramid needs
        long_side = max(max(frame.shape[-2:]), math.ceil(min_side(self.config.levels) * max(rh, rw) / min(rh, rw)))
        ref = resize_long_side(self.reference, min(long_side, MAX_SIDE))
        res = deep_image_analogy(frame, ref, self.encoder, config=self.config, progress=progress)
        out = res.a_prime
        if tuple(out.shape[-2:]) != tuple(frame.shape[-2:]):
            out = resize(out, tuple(frame.shape[-2:]))
        return out.clamp(0, 1), {"features": None}


def quantise(img: torch.Tensor, bits: int | None) -> torch.Tensor:
    """What the output file will hold, so the temporal state after a resume is identical."""
    if bits is None:
        return img
    levels = float(2**bits - 1)
    return torch.round(img.clamp(0, 1) * levels) / levels


def _quantise_hwc(img: np.ndarray, bits: int | None) -> np.ndarray:
    """:func:`quantise` of a float32 ``(H, W, C)`` array, in place (same values: round half to even)."""
    flowlib.clip_unit(img)
    if bits is not None:
        levels = np.float32(2**bits - 1)
        np.multiply(img, levels, out=img)
        np.rint(img, out=img)
        np.divide(img, levels, out=img)
    return img


#: Fast surfaces are carried for fewer frames (StyleBank and Analogy, image or feature blend: the
#: confidence of the motion is lowered). ``keep`` applies in full up to a motion of
#: :data:`SPEED_FULL` of the frame's long side per frame and falls linearly to ``keep ·``
#: :data:`SPEED_FLOOR` at :data:`SPEED_ZERO` (4 and 24 px a frame at 640 × 360). The fresh strokes
#: of a feed-forward network are not attached to the surface, so each frame's 10 % travels along
#: the motion and the sum streaks along it: on the Blender clip (a torus turning at up to 25 px a
#: frame, exact render vectors) the plain ``keep`` 0.9 left a fine hatch along the rotation
#: (``docs/video.md``). Motion hides flicker, so the steadiness given up there is little:
#: ``cutBunny.mp4``'s warping error 0.297× per-frame either way (2–16 px and a floor of 0.3: 0.304×).
SPEED_FULL, SPEED_ZERO, SPEED_FLOOR = 4.0 / 640.0, 24.0 / 640.0, 0.5


def _speed_factor(flow: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 in [:data:`SPEED_FLOOR`, 1]: how much of ``keep`` a pixel moving by ``flow`` gets."""
    long_side = max(flow.shape[:2])
    lo, hi = SPEED_FULL * long_side, SPEED_ZERO * long_side
    speed = cv2.magnitude(np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1]))
    # 1 − (speed − lo) · (1 − floor) / (hi − lo), then kept within [floor, 1]
    slope = (1.0 - SPEED_FLOOR) / (hi - lo)
    factor = cv2.addWeighted(speed, -slope, speed, 0.0, 1.0 + slope * lo)
    cv2.threshold(factor, 1.0, 1.0, cv2.THRESH_TRUNC, dst=factor)
    return cv2.max(factor, SPEED_FLOOR)


#: A frame's motion as the stylizer uses it: ``(flow t → t−1 (H, W, 2), confidence (H, W), the frame's
#: :class:`~.motion.FrameAnalysis` for the next frame's DIS or None)``.
Motion = tuple[np.ndarray, np.ndarray, "FrameAnalysis | None"]


class OnlineStylizer:
    """Frame-by-frame coherent stylisation with its temporal state: the engine of :func:`~core.jobs.video.run_video`.

    Front ends that receive frames one at a time (the Blender add-on's render handler) drive it
    directly: call :meth:`step` with each frame in order, giving the motion when they have it
    (renderer vectors) or letting it estimate DIS flow from the previous frame.

    Args:
        request: Method, styles, coherence and blend settings (``source``/``output`` are not used).
        device: Where to compute; resolved from ``request.device`` when omitted.
        quantisation_bits: Round every result to this many bits (what an 8-bit output file will
            hold), so a resumed run continues from exactly the state an uninterrupted one had.

    Raises:
        InputError: Invalid settings. ModelError: Missing or corrupt weights.
    """

    def __init__(self, request: VideoRequest, *, device: torch.device | None = None,
                 quantisation_bits: int | None = 8) -> None:
        request.validate_engine()
        self.request = request
        self.device = device if device is not None else resolve_device(request.device)
        kinds = {"stylebank": _StyleBankFrames, "gatys": _GatysFrames, "analogy": _AnalogyFrames}
        self.stylise = kinds[request.method](request, self.device)
        self.dis = flowlib.DISFlow(request.dis_preset) if request.coherent else None
        self.bits = quantisation_bits
        self.prev: dict | None = None
        self.prev_frame: torch.Tensor | None = None
        # copies made from the last frame and result, reused by the next step while they still
        # belong to ``prev_frame`` / ``prev["image"]`` (checked by identity: both are public)
        self._frame_analysis: FrameAnalysis | None = None
        self._image_hwc: tuple[torch.Tensor, np.ndarray] | None = None

    @property
    def uses_features(self) -> bool:
        """Whether the temporal state includes decoder features (StyleBank feature blending)."""
        return self.request.method == "stylebank" and self.request.blend in ("feature", "both")

    def reset(self) -> None:
        """Forget the previous frame (a cut: the next frame is stylised fresh)."""
        self.prev, self.prev_frame = None, None

    def motion_estimator(self, frame: torch.Tensor) -> Callable[..., Motion] | None:
        """A function ``(flow, confidence) → motion`` of ``frame`` for :meth:`step`'s ``motion``.

        It finds what :meth:`step` would find for ``frame`` (the given ``flow``, ``(H, W, 2)``, with
        its ``confidence``, checked against the inputs; or DIS optical flow when ``flow`` is None),
        against the previous frame as it is now, and may run on another thread while this one does
        other work — not another :meth:`step`, :meth:`reset` or :meth:`restore`, and one estimate at
        a time (the DIS estimator is shared). None when ``frame`` would be stylised fresh.
        """
        if not self.request.coherent or self.prev is None:
            return None
        if tuple(frame.shape[-2:]) != tuple(self.prev_frame.shape[-2:]):
            return None
        prev_frame, prev_analysis = self.prev_frame, self._frame_analysis

        def estimate(flow: np.ndarray | None, confidence: np.ndarray | None) -> Motion:
            if flow is not None and confidence is None:
                raise InputError("a flow needs its confidence map")
            known = prev_analysis if prev_analysis is not None and prev_analysis.source is prev_frame else None
            if flow is None and known is None:
                known = analyse(prev_frame)
            return self._motion(prev_frame, known, frame, flow, confidence)

        return estimate

    def restore(self, prev_frame: torch.Tensor, prev_output: torch.Tensor,
                features: list[torch.Tensor] | None = None) -> str:
        """Re-create the state after frame ``t−1`` from its input and its finished output.

        Returns:
            ``"exact"``, or for feature blending without saved ``features``, ``"re-created from the
            last finished frame"`` (the fresh features of ``prev_frame`` are used).
        """
        self.prev_frame = prev_frame
        self.prev = {"image": quantise(prev_output, self.bits), "features": None}
        how = "exact"
        if self.uses_features:
            if features is None:
                with torch.inference_mode():
                    features = self.stylise(prev_frame, None, None, None, None)[1]["features"]
                how = "re-created from the last finished frame"
            self.prev["features"] = features
        return how

    def motion(self, frame: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """DIS flow ``t → t−1`` and its soft confidence, from the previous input frame.

        The flow is estimated at :data:`~core.video.motion.MOTION_LONG_SIDE` (960 px) at most and
        checked at half that size, then scaled to the frame (:mod:`core.video.motion`, where the
        sizes are measured); :meth:`step` multiplies in the photometric check as well.
        """
        return dis_motion(self.dis, analyse(frame), self._prev_analysis(), photometric=False)

    def _prev_analysis(self) -> FrameAnalysis:
        cached = self._frame_analysis
        if cached is None or cached.source is not self.prev_frame:
            cached = analyse(self.prev_frame)
        return cached

    def _prev_image_hwc(self) -> np.ndarray:
        cached = self._image_hwc
        if cached is None or cached[0] is not self.prev["image"]:
            cached = (self.prev["image"], flowlib.to_hwc(self.prev["image"]))
        return cached[1]

    def step(self, frame: torch.Tensor, *, flow: np.ndarray | None = None,
             confidence: np.ndarray | None = None, masks: list[torch.Tensor] | None = None,
             progress: ProgressCallback | None = None, motion: Motion | None = None) -> tuple[torch.Tensor, dict]:
        """Stylise the next frame.

        Args:
            frame: ``(1, 3, H, W)`` display sRGB in [0, 1] (all frames the same size).
            flow: Optional flow ``t → t−1`` ``(H, W, 2)`` (e.g. from renderer vectors); DIS is
                used when omitted.
            confidence: ``(H, W)`` in [0, 1] for ``flow`` (required with it).
            masks: Optional region masks ``(1, 1, H, W)``, one per style (region-wise fusion for
                StyleBank, guided Gram for Gatys).
            progress: Gatys reports its iterations here; returning ``False`` cancels
                (:class:`~core.foundation.errors.Cancelled`, the state is left as it was).
            motion: This frame's motion found beforehand by :meth:`motion_estimator` (then
                ``flow`` and ``confidence`` are not looked at); ignored when the frame starts fresh.

        Returns:
            ``(output (1, 3, H, W) in [0, 1] on the CPU, state)``; ``state["features"]`` is what
            :meth:`restore` needs for exact resumption with feature blending (``None`` otherwise).

        Raises:
            InputError: A frame of a different size than the previous one, or ``flow`` without
                ``confidence``.
        """
        r = self.request
        fl = conf = None
        coherent = r.coherent and self.prev is not None
        analysis = None  # the grey and small copies for DIS: this frame's motion, and kept for the next frame's
        if coherent:
            if tuple(frame.shape[-2:]) != tuple(self.prev_frame.shape[-2:]):
                raise InputError(f"frame size {tuple(frame.shape[-2:])} differs from the previous "
                                 f"{tuple(self.prev_frame.shape[-2:])}")
            if flow is not None and confidence is None:
                raise InputError("a flow needs its confidence map")
            if motion is not None:
                fl, conf, analysis = motion
            else:
                prev_analysis = self._prev_analysis() if flow is None else None
                fl, conf, analysis = self._motion(self.prev_frame, prev_analysis, frame, flow, confidence)
        elif r.coherent and flow is None:
            analysis = analyse(frame)
        out, state = self.stylise(frame, self.prev if coherent else None, fl, conf, progress, masks)
        if coherent and r.method != "gatys" and r.blend in ("image", "both"):
            result = self._blend_image(flowlib.to_hwc(out), fl, conf)
            out = torch.from_numpy(result).permute(2, 0, 1)[None].contiguous()
        else:
            result = None
            out = quantise(out.clamp(0, 1), self.bits)
        if r.coherent:
            self.prev = {"image": out, **state}
            self.prev_frame = frame
            self._frame_analysis = analysis
            self._image_hwc = None if result is None else (out, result)
        return out, state

    def _motion(self, prev_frame: torch.Tensor, prev_analysis: FrameAnalysis | None, frame: torch.Tensor,
                flow: np.ndarray | None, confidence: np.ndarray | None) -> Motion:
        """``(flow t → t−1, its confidence, this frame's analysis or None)``, from ``flow`` or DIS."""
        analysis = None
        # whatever the motion's source, it must explain the inputs, or its result is not carried
        if flow is not None:
            fl, conf = flow, confidence * photometric_confidence(prev_frame, frame, flow)
        else:
            analysis = analyse(frame)
            fl, conf = dis_motion(self.dis, analysis, prev_analysis)
        if self.request.method != "gatys" and SPEED_FLOOR < 1.0:
            # feed-forward strokes are not attached to the surface: trust them less the faster it moves
            # (Gatys re-optimises from the carried strokes, so they stay on the surface)
            conf = cv2.multiply(np.ascontiguousarray(conf, dtype=np.float32), _speed_factor(fl))
        return fl, conf, analysis

    def _blend_image(self, fresh: np.ndarray, fl: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """``fresh + keep · c ⊙ (warp(R_{t−1}) − fresh)``, detail restored, quantised: ``(H, W, 3)``."""
        warped = flowlib.clip_unit(flowlib.warp_cubic(self._prev_image_hwc(), fl))
        weight = np.ascontiguousarray(conf, dtype=np.float32) * np.float32(self.request.keep)
        # (w · warped + (1 − w) · fresh) / (1 + 1e-5): one pass; the 1e-5 of OpenCV's normalisation is far
        # below the 8-bit step the result is quantised to
        blended = cv2.blendLinear(warped, fresh, weight, 1.0 - weight)
        out = restore_detail_hwc(blended, fresh) if self.request.restore_detail else blended
        return _quantise_hwc(out, self.bits)
