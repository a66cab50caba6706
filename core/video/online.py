"""Coherent online video stylisation: flow propagation + confidence blending, streaming, resumable.

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

Resuming: every frame is written atomically as soon as it is done; a rerun skips the finished
frames and re-creates the temporal state from the last finished one (its output file, the input
frame, and for feature blending a small state file written just before every frame's output; it
holds that frame's features and the previous frame's, so a kill between the two writes still
resumes exactly).
A settings record next to the output makes a rerun with different settings an error instead of a
silent mix of two runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..foundation.atomic_write import atomic_write_bytes
from ..foundation.device import autocast_context, resolve_device
from ..foundation.errors import Cancelled, InputError, OutputError
from ..foundation.progress import ProgressCallback, ProgressTracker
from ..imaging.resize import resize, size_for_long_side
from ..io.frame_names import FrameInfo
from ..io.frame_sinks import remove_stale_temporaries
from ..io.frame_sources import FrameSource
from ..io.images import ImageData
from ..io.sequences import open_frames, open_sink
from ..requests.video import VideoRequest
from . import flow as flowlib
from .render_passes import VectorFrames
from .temporal_metrics import WarpingErrorMeter

METHODS = ("stylebank", "gatys", "analogy")
FLOWS = ("dis", "vectors")
BLENDS = ("image", "feature", "both")
#: Settings record and feature state, kept beside the output (hidden files).
RECORD_NAME = ".nst-video.json"
STATE_NAME = ".nst-video-state.safetensors"


@dataclass
class VideoOutcome:
    """What a finished video job produced.

    Attributes:
        output: The output video file, folder or pattern.
        frames: Frames in the sequence.
        computed: Frames stylised by this run (the rest were already finished).
        seconds: Wall time of the whole job.
        seconds_per_frame: Mean time per computed frame (reading, flow, stylising, writing).
        warping_error: Temporal warping error of the whole output (``report``), else ``None``.
        details: Settings and facts (method, flow, blend, size, device, resumed-from index).
    """

    output: Path
    frames: int
    computed: int
    seconds: float
    seconds_per_frame: float | None
    warping_error: float | None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _validate(request: VideoRequest) -> None:
    _validate_method(request)
    if request.flow not in FLOWS:
        raise InputError(f"unknown flow source {request.flow!r}; available: {', '.join(FLOWS)}")
    if request.flow == "vectors" and request.vectors_dir is None:
        raise InputError("--flow vectors needs --vectors-dir (a folder of Vector-pass EXRs, one per frame)")
    if request.size is not None and request.size < 16:
        raise InputError(f"--size must be at least 16 px, got {request.size}")


def _validate_method(request: VideoRequest) -> None:
    """Checks of the settings :class:`OnlineStylizer` needs (no source/output involved)."""
    if request.method not in METHODS:
        raise InputError(f"unknown method {request.method!r}; available: {', '.join(METHODS)}")
    if request.blend not in BLENDS:
        raise InputError(f"unknown blend {request.blend!r}; available: {', '.join(BLENDS)}")
    if request.method != "stylebank" and request.blend != "image":
        raise InputError(f"--method {request.method} blends in image space only (it has no decoder features)")
    if request.dis_preset not in flowlib.DIS_PRESETS:
        raise InputError(f"unknown DIS preset {request.dis_preset!r}; available: {', '.join(flowlib.DIS_PRESETS)}")
    if not (0.0 <= request.keep <= 1.0) or not math.isfinite(request.keep):
        raise InputError(f"keep must be in [0, 1], got {request.keep}")
    if request.method == "gatys":
        if not request.styles:
            raise InputError("--method gatys needs at least one style image")
        request.gatys.validate()
        if request.gatys_next_iterations < 1:
            raise InputError("gatys_next_iterations must be at least 1")
        if request.temporal_weight < 0 or not math.isfinite(request.temporal_weight):
            raise InputError(f"temporal weight must be ≥ 0, got {request.temporal_weight}")
    elif request.method == "analogy":
        if len(request.styles) != 1:
            raise InputError(f"--method analogy needs exactly one reference image (B′), got {len(request.styles)}")
        request.analogy.validate()
    else:
        if request.styles:
            raise InputError("--method stylebank takes style names (--style NAME), not style images")
        if not request.style_names:
            raise InputError("--method stylebank needs at least one --style NAME (see `python -m core stylebank list`)")


def _fingerprint(request: VideoRequest) -> dict:
    """The settings that change the pictures (a rerun must match them to resume)."""
    keys = ("method", "coherent", "flow", "dis_preset", "blend", "keep", "size", "style_names", "style_weights",
            "strength", "gatys_next_iterations", "temporal_weight")
    record = {k: getattr(request, k) for k in keys}
    record["model"] = str(request.model) if request.model else "vendored"
    record["styles"] = [hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in request.styles]
    record["gatys"] = asdict(request.gatys) if request.method == "gatys" else None
    record["analogy"] = asdict(request.analogy) if request.method == "analogy" else None
    return json.loads(json.dumps(record, default=list))


# --------------------------------------------------------------------------------------------
# Renderer vectors
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Stylisers: fresh result of one frame + how to blend
# --------------------------------------------------------------------------------------------


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
    def __init__(self, request: VideoRequest, device: torch.device) -> None:
        from ..stylebank.model import load_model

        self.net, self.manifest = load_model(request.model, list(request.style_names), device=device)
        self.request, self.device = request, device
        self.amp = autocast_context(device) if device.type == "cuda" else None

    def __call__(self, frame: torch.Tensor, prev: dict | None, flow: np.ndarray | None,
                 conf: np.ndarray | None, progress: Callable | None,
                 masks: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
        from contextlib import nullcontext

        from ..stylebank.fusion import padding_for, stylebank_decode, stylebank_features

        r = self.request
        with torch.inference_mode(), (self.amp() if self.amp else nullcontext()):
            feats, size = stylebank_features(self.net, frame.to(self.device), list(r.style_names),
                                             weights=None if r.style_weights is None else list(r.style_weights),
                                             masks=None if masks is None else [m.to(self.device) for m in masks],
                                             strength=r.strength)
            if prev is not None and r.blend in ("feature", "both") and prev.get("features") is not None:
                pad = padding_for(*size)
                fflow, fconf = _feature_flow(flow, conf, tuple(feats.shape[-2:]), pad, self.device)
                warped = flowlib.warp(prev["features"].to(self.device, feats.dtype), fflow.to(feats.dtype))
                feats = feats + (r.keep * fconf.to(feats.dtype)) * (warped - feats)
            out = stylebank_decode(self.net, feats, size).float()
        state = {"features": feats.float() if r.blend in ("feature", "both") else None}
        return out.clamp(0, 1).cpu(), state


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
        from ..analogy.deep_analogy import MAX_SIDE, deep_image_analogy, min_side
        from ..imaging.resize import resize_long_side

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


# --------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------


def _record_path(sink) -> Path:
    return sink.state_dir / RECORD_NAME


def _check_record(sink, fingerprint: dict, start: int, overwrite: bool) -> None:
    """Refuse to resume frames made with other settings (reads only; see :func:`_write_record`)."""
    path = _record_path(sink)
    if path.exists() and start > 0 and not overwrite:
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old != fingerprint:
            changed = sorted(k for k in set(fingerprint) | set(old or {}) if (old or {}).get(k) != fingerprint.get(k))
            raise OutputError(
                f"{sink.describe()} already holds frames made with different settings ({', '.join(changed)}); "
                "pass --overwrite to start again or choose another output"
            )


def _write_record(sink, fingerprint: dict) -> None:
    """Written just before the first frame of a run, so a run that fails on its input writes nothing."""
    atomic_write_bytes(_record_path(sink), (json.dumps(fingerprint, indent=1, sort_keys=True) + "\n").encode())


def _save_state(sink, index: int, state: dict, previous: torch.Tensor | None) -> None:
    """Keep frame ``index``'s features and those of ``index − 1`` (``previous``).

    Written before the frame's output: a kill after this write but before the output leaves
    ``index − 1`` as the resume point, and its features are in the file too.
    """
    feats = state.get("features")
    if feats is None:
        return
    from safetensors.torch import save

    tensors = {"features": feats.contiguous().cpu()}
    if previous is not None:
        tensors["previous"] = previous.contiguous().cpu()
    atomic_write_bytes(sink.state_dir / STATE_NAME, save(tensors, metadata={"index": str(index)}))


def _load_state(sink, index: int) -> dict | None:
    path = sink.state_dir / STATE_NAME
    if not path.exists():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            saved = (f.metadata() or {}).get("index")
            if saved == str(index):
                return {"features": f.get_tensor("features")}
            if saved == str(index + 1) and "previous" in f.keys():
                return {"features": f.get_tensor("previous")}
            return None
    except Exception:  # noqa: BLE001 - a damaged state file only costs exactness, never the run
        return None


def _working_size(source: FrameSource, size: int | None) -> tuple[int, int]:
    h, w = source.size
    return (h, w) if size is None else size_for_long_side(h, w, size)


def _frame_rgb(image: ImageData, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    rgb = image.srgb()
    alpha = image.alpha
    if tuple(rgb.shape[-2:]) != size:
        rgb = resize(rgb, size).clamp(0, 1)
        alpha = None if alpha is None else resize(alpha, size).clamp(0, 1)
    return rgb, alpha


def _quantise(img: torch.Tensor, bits: int | None) -> torch.Tensor:
    """What the output file will hold, so the temporal state after a resume is identical."""
    if bits is None:
        return img
    levels = float(2**bits - 1)
    return torch.round(img.clamp(0, 1) * levels) / levels


class _Flow:
    """Flow ``t → t−1`` and its confidence from renderer vectors (Vector pass EXRs, optional Depth)."""

    def __init__(self, request: VideoRequest, working: tuple[int, int], source_size: tuple[int, int]) -> None:
        self.request, self.working, self.source_size = request, working, source_size
        self.vectors = VectorFrames(request.vectors_dir)

    def __call__(self, frame: torch.Tensor, prev_frame: torch.Tensor, info: FrameInfo,
                 prev_info: FrameInfo) -> tuple[np.ndarray, np.ndarray]:
        vec, depth = self.vectors.read(info.number)
        if vec.shape[:2] != self.source_size:
            raise InputError(
                f"vectors for frame {info.number} are {vec.shape[1]}×{vec.shape[0]} but the frames are "
                f"{self.source_size[1]}×{self.source_size[0]}"
            )
        prev_vec = prev_depth = None
        if prev_info.number in self.vectors.by_number:
            prev_vec, prev_depth = self.vectors.read(prev_info.number)
            if prev_vec.shape != vec.shape:
                raise InputError(f"vectors for frames {prev_info.number} and {info.number} differ in size")
        both_depths = depth is not None and prev_depth is not None
        flow, conf = flowlib.vector_confidence(vec, depth if both_depths else None, prev_depth if both_depths else None,
                                               vector_prev=prev_vec)
        return flowlib.resize_motion(flow, conf, self.working)


class OnlineStylizer:
    """Frame-by-frame coherent stylisation with its temporal state: the engine of :func:`run_video`.

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
        _validate_method(request)
        self.request = request
        self.device = device if device is not None else resolve_device(request.device)
        kinds = {"stylebank": _StyleBankFrames, "gatys": _GatysFrames, "analogy": _AnalogyFrames}
        self.stylise = kinds[request.method](request, self.device)
        self.dis = flowlib.DISFlow(request.dis_preset) if request.coherent else None
        self.bits = quantisation_bits
        self.prev: dict | None = None
        self.prev_frame: torch.Tensor | None = None

    @property
    def uses_features(self) -> bool:
        """Whether the temporal state includes decoder features (StyleBank feature blending)."""
        return self.request.method == "stylebank" and self.request.blend in ("feature", "both")

    def reset(self) -> None:
        """Forget the previous frame (a cut: the next frame is stylised fresh)."""
        self.prev, self.prev_frame = None, None

    def restore(self, prev_frame: torch.Tensor, prev_output: torch.Tensor, features: torch.Tensor | None = None) -> str:
        """Re-create the state after frame ``t−1`` from its input and its finished output.

        Returns:
            ``"exact"``, or for feature blending without saved ``features``, ``"re-created from the
            last finished frame"`` (the fresh features of ``prev_frame`` are used).
        """
        self.prev_frame = prev_frame
        self.prev = {"image": _quantise(prev_output, self.bits), "features": None}
        how = "exact"
        if self.uses_features:
            if features is None:
                with torch.inference_mode():
                    features = self.stylise(prev_frame, None, None, None, None)[1]["features"]
                how = "re-created from the last finished frame"
            self.prev["features"] = features
        return how

    def motion(self, frame: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """DIS flow ``t → t−1`` and its soft confidence, from the previous input frame."""
        a, b = flowlib.to_gray_u8(frame), flowlib.to_gray_u8(self.prev_frame)
        back, fwd = self.dis(a, b), self.dis(b, a)
        return back, flowlib.confidence(back, fwd, soft=True)

    def step(self, frame: torch.Tensor, *, flow: np.ndarray | None = None,
             confidence: np.ndarray | None = None, masks: list[torch.Tensor] | None = None,
             progress: ProgressCallback | None = None) -> tuple[torch.Tensor, dict]:
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
        if coherent:
            if tuple(frame.shape[-2:]) != tuple(self.prev_frame.shape[-2:]):
                raise InputError(f"frame size {tuple(frame.shape[-2:])} differs from the previous "
                                 f"{tuple(self.prev_frame.shape[-2:])}")
            if flow is not None and confidence is None:
                raise InputError("a flow needs its confidence map")
            fl, conf = (flow, confidence) if flow is not None else self.motion(frame)
        out, state = self.stylise(frame, self.prev if coherent else None, fl, conf, progress, masks)
        if coherent and r.method != "gatys" and r.blend in ("image", "both"):
            warped = flowlib.warp_cubic(self.prev["image"], fl).clamp(0, 1)
            c = torch.from_numpy(np.ascontiguousarray(conf))[None, None].float()
            out = out + (r.keep * c) * (warped - out)
        out = _quantise(out.clamp(0, 1), self.bits)
        if r.coherent:
            self.prev = {"image": out, **state}
            self.prev_frame = frame
        return out, state


def run_video(request: VideoRequest, progress: ProgressCallback | None = None) -> VideoOutcome:
    """Stylise a sequence end to end (see the module docstring).

    Args:
        request: What to do.
        progress: Called after every frame (stage ``"frame N/T"``); returning ``False`` stops after
            the current frame. Finished frames stay; a rerun resumes.

    Returns:
        :class:`VideoOutcome`.

    Raises:
        InputError, ImageReadError: Bad input (checked before the first frame is written).
        OutputError: Bad output, or an output holding frames from different settings.
        ModelError: Missing or corrupt model/encoder weights.
        Cancelled: ``progress`` returned ``False`` (finished frames are kept).
    """
    started = time.perf_counter()
    _validate(request)
    source = open_frames(request.source, fps=request.fps)
    sink = open_sink(request.output, like=source, fps=request.fps, overwrite=request.overwrite)
    # The sink removes its frames' temporaries; those of the record and state files are ours.
    remove_stale_temporaries(sink.state_dir, {RECORD_NAME, STATE_NAME})
    frames = source.frames
    working = _working_size(source, request.size)
    vectors = _Flow(request, working, source.size) if request.coherent and request.flow == "vectors" else None
    if vectors is not None:
        vectors.vectors.check(frames)
    engine = OnlineStylizer(request, quantisation_bits=sink.quantisation_bits)
    device = engine.device

    start = 0 if request.overwrite else sink.first_missing()
    fingerprint = _fingerprint(request)
    if start < len(frames):
        _check_record(sink, fingerprint, start, request.overwrite)
    meter = WarpingErrorMeter() if request.report else None

    resumed_state = None
    if request.coherent and 0 < start < len(frames):
        state = _load_state(sink, start - 1) if engine.uses_features else None
        resumed_state = engine.restore(_frame_rgb(source.read(start - 1), working)[0],
                                       _frame_rgb(sink.read_done(frames[start - 1]), working)[0],
                                       None if state is None else state["features"])
    if meter is not None and start > 0:
        for info, image in source.iter_frames(0):
            if info.index >= start:
                break
            meter.update(_frame_rgb(sink.read_done(info), working)[0], _frame_rgb(image, working)[0])

    tracker = ProgressTracker(progress, max(len(frames) - start, 1))
    computed, frame_seconds = 0, []
    previous = engine.prev.get("features") if engine.prev is not None else None
    for info, image in source.iter_frames(start):
        t0 = time.perf_counter()
        frame, alpha = _frame_rgb(image, working)
        fl = conf = None
        if vectors is not None and engine.prev is not None:
            fl, conf = vectors(frame, engine.prev_frame, info, frames[info.index - 1])
        out, state = engine.step(frame, flow=fl, confidence=conf)
        if computed == 0:
            _write_record(sink, fingerprint)
        if request.coherent:
            _save_state(sink, info.index, state, previous)  # before the frame: see _save_state
            previous = state.get("features")
        sink.write(info, out, alpha)
        if meter is not None:
            meter.update(out, frame)
        computed += 1
        frame_seconds.append(time.perf_counter() - t0)
        try:
            tracker.advance(f"frame {info.index + 1}/{len(frames)}")
        except Cancelled:
            raise Cancelled(f"stopped after frame {info.number}; {info.index + 1} of {len(frames)} frames are "
                            f"finished — run the same command again to resume") from None
    written = sink.finish()
    return VideoOutcome(
        output=Path(written),
        frames=len(frames),
        computed=computed,
        seconds=time.perf_counter() - started,
        seconds_per_frame=(sum(frame_seconds) / len(frame_seconds)) if frame_seconds else None,
        warping_error=None if meter is None or meter.count < 2 else float(meter.value),
        details={
            "method": request.method, "coherent": request.coherent, "flow": request.flow if request.coherent else None,
            "blend": request.blend if request.coherent else None, "keep": request.keep,
            "size": list(working), "device": str(device), "resumed_from": start if start else None,
            "resumed_state": resumed_state, "source": source.describe(), "fps": source.fps,
        },
    )
