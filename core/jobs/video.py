"""Run a :class:`~core.requests.video.VideoRequest`: a sequence in, a stylised sequence out, resumable.

Frames stream from a source (:func:`~core.io.sequences.open_frames`) through the coherent engine
(:class:`~core.video.online.OnlineStylizer`) into a sink (:func:`~core.io.sequences.open_sink`);
motion comes from DIS optical flow or, for renders, from the Vector passes.

Resuming: every frame is written atomically as soon as it is done; a rerun skips the finished
frames and re-creates the temporal state from the last finished one (its output file, the input
frame, and for feature blending a small state file written just before every frame's output; it
holds that frame's features and the previous frame's, so a kill between the two writes still
resumes exactly).
A job record next to the output (settings, source files, model file hashes: :mod:`.identity`)
makes a rerun of another job an error instead of a silent mix of two runs, and the output is
locked for the job's life (:mod:`core.foundation.output_lock`), after the check that it overlaps
no input (:mod:`core.foundation.overlap`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..foundation.atomic_write import atomic_write_bytes, hidden_sidecar
from ..foundation.errors import Cancelled, InputError, OutputError
from ..foundation.output_lock import FOLDER_LOCK_NAME, lock_path_for_file, output_lock
from ..foundation.progress import ProgressCallback, ProgressTracker
from ..imaging.resize import resize, size_for_long_side
from ..io.frame_names import FrameInfo
from ..io.frame_sinks import remove_stale_temporaries
from ..io.frame_sources import FrameSource, ImageSequenceSource
from ..io.images import ImageData
from ..io.sequences import open_frames, open_sink, output_location
from ..io.video_files import VideoSink
from ..requests.video import VideoRequest
from ..engine.frames import FrameEngine
from ..engine.read_ahead import with_next
from ..engine.motion import FramePasses, pass_motion
from ..video.render_passes import VectorFrames
from ..video.temporal_metrics import WarpingErrorMeter
from ..requests.checks import check_memory
from .identity import folder_identity, model_identity, source_identity, stylebank_width
from .outputs import Place, refuse_output_overlap

__all__ = ["RECORD_NAME", "STATE_NAME", "VideoOutcome", "run_video"]

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


def _fingerprint(request: VideoRequest) -> dict:
    """The settings that change the pictures (a rerun must match them to resume)."""
    keys = ("method", "coherent", "flow", "dis_preset", "blend", "keep", "restore_detail", "size", "preserve_color",
            "style_names",
            "style_weights", "strength", "stroke", "gatys_next_iterations", "temporal_weight")
    record = {k: getattr(request, k) for k in keys}
    record["model"] = str(request.model) if request.model else "vendored"
    record["styles"] = [hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in request.styles]
    record["gatys"] = asdict(request.gatys) if request.method == "gatys" else None
    record["analogy"] = asdict(request.analogy) if request.method == "analogy" else None
    return json.loads(json.dumps(record, default=list))


def _record_path(sink) -> Path:
    """The job record: in the frames' folder, or beside a video (its work folder goes when it is done)."""
    if isinstance(sink, VideoSink):
        return hidden_sidecar(sink.path, RECORD_NAME)
    return sink.state_dir / RECORD_NAME


def _check_record(sink, fingerprint: dict, start: int, overwrite: bool) -> None:
    """Refuse to resume (or pass off as done) frames of another job; reads only (see :func:`_write_record`).

    Any finished frame (``start > 0``) must come with this job's record: the same source, settings
    and model files (:mod:`core.jobs.identity`). Frames with no record are another job's too.
    """
    if overwrite or start == 0:
        return
    path = _record_path(sink)
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        old = None
    except (OSError, ValueError):
        old = {}
    if old == fingerprint:
        return
    done = "the finished video" if start == len(sink.like.frames) and isinstance(sink, VideoSink) else \
        f"{start} finished frame{'s' if start != 1 else ''}"
    if old is None:
        why = f"no job record ({path.name}) says what made them"
    else:
        changed = sorted(k for k in set(fingerprint) | set(old) if old.get(k) != fingerprint.get(k))
        parts = [f"a different {_CHANGED[k]}" for k in changed if k in _CHANGED]
        settings = [k for k in changed if k not in _CHANGED]
        if settings:
            parts.append(f"other settings ({', '.join(settings)})")
        why = f"they were made from {' and '.join(parts)}"
    raise OutputError(
        f"{sink.describe()} holds {done} of another job ({why}); start again with overwrite on, or choose "
        "another output",
        setting="overwrite",
    )


#: Record keys → words for the message.
_CHANGED = {"source": "source", "models": "model files", "vectors": "Vector passes", "styles": "style images"}


def _write_record(sink, fingerprint: dict) -> None:
    """Written just before the first frame of a run, so a run that fails on its input writes nothing."""
    atomic_write_bytes(_record_path(sink), (json.dumps(fingerprint, indent=1, sort_keys=True) + "\n").encode())


def _save_state(sink, index: int, current: dict, previous: dict) -> None:
    """Keep frame ``index``'s resume state and that of ``index − 1`` (``previous``).

    The state is what the written frame does not hold: the features (feature blending; a list,
    one tensor per pass of the stroke-size pyramid) and the engine's own result when colour
    preservation changed the written one. Written before the frame's output: a kill after this
    write but before the output leaves ``index − 1`` as the resume point, and its state is in the
    file too.
    """
    if not current:
        return
    from safetensors.torch import save

    tensors = {**_flat_state(current, ""), **_flat_state(previous, "previous.")}
    atomic_write_bytes(sink.state_dir / STATE_NAME, save(tensors, metadata={"index": str(index)}))


def _flat_state(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    """``{"image": t, "features": [t0, t1]}`` → ``{prefix + "image": t, prefix + "features.0": t0, …}``."""
    flat = {}
    for key, value in state.items():
        for i, t in enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]:
            flat[prefix + key + ("" if i is None else f".{i}")] = t.contiguous().cpu()
    return flat


def _nested_state(flat: dict[str, torch.Tensor]) -> dict:
    """The inverse of :func:`_flat_state` (without its prefix)."""
    state: dict = {}
    for key in sorted(flat, key=lambda k: (k.split(".")[0], int(k.split(".")[1]) if "." in k else -1)):
        name, _, index = key.partition(".")
        if index:
            state.setdefault(name, []).append(flat[key])
        else:
            state[name] = flat[key]
    return state


def _load_state(sink, index: int) -> dict | None:
    path = sink.state_dir / STATE_NAME
    if not path.exists():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            saved = (f.metadata() or {}).get("index")
            if saved == str(index):
                return _nested_state({k: f.get_tensor(k) for k in f.keys() if not k.startswith("previous.")})
            if saved == str(index + 1):
                return _nested_state({k[9:]: f.get_tensor(k) for k in f.keys() if k.startswith("previous.")})
            return None
    except Exception:  # noqa: BLE001 - a damaged state file only costs exactness, never the run
        return None


def _working_size(source: FrameSource, size: int | None) -> tuple[int, int]:
    h, w = source.size
    return (h, w) if size is None else size_for_long_side(h, w, size)


def _alpha(image: ImageData, size: tuple[int, int]) -> torch.Tensor | None:
    alpha = image.alpha
    if alpha is not None and tuple(alpha.shape[-2:]) != size:
        alpha = resize(alpha, size).clamp(0, 1)
    return alpha


def _working_rgb(image: ImageData, size: tuple[int, int]) -> torch.Tensor:
    rgb = image.srgb()
    return rgb if tuple(rgb.shape[-2:]) == size else resize(rgb, size).clamp(0, 1)


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
    request.validate()
    source = open_frames(request.source, fps=request.fps)
    working = _working_size(source, request.size)
    width = stylebank_width(request.model) if request.method == "stylebank" else 32
    check_memory(request.method, *working, model_width=width, budget_mb=request.gatys.memory_budget_mb, video=True)
    location = output_location(request.output)
    if location is None:  # not a valid output: open_sink says why
        open_sink(request.output, like=source, fps=request.fps, overwrite=request.overwrite)
        raise OutputError(f"cannot write {request.output}: not a video file, folder or frame pattern")
    folder, video = location
    refuse_output_overlap(_output_places(folder, video), _input_places(request, source), str(request.output))
    lock = lock_path_for_file(video) if video is not None else folder / FOLDER_LOCK_NAME
    with output_lock(lock, str(request.output)):
        return _run_locked(request, source, progress, started)


def _input_places(request: VideoRequest, source: FrameSource) -> list[Place]:
    if isinstance(source, ImageSequenceSource):
        places = [Place(source.pattern.directory, folder=True, label="source frames folder")]
    else:
        places = [Place(p, label="source video") for p in source.source_files()]
    label = "reference image (B′)" if request.method == "analogy" else "style image"
    places += [Place(Path(p), label=label) for p in request.styles]
    if request.vectors_dir is not None:
        places.append(Place(Path(request.vectors_dir), folder=True, label="Vector-pass folder"))
    if request.model is not None and request.method == "stylebank":
        places.append(Place(Path(request.model), folder=True, label="StyleBank model folder"))
    if request.encoder_weights is not None:
        places.append(Place(Path(request.encoder_weights), label="encoder weights"))
    return places


def _output_places(folder: Path, video: Path | None) -> list[Place]:
    if video is None:
        return [Place(folder, folder=True)]
    return [Place(video), Place(folder, folder=True), Place(hidden_sidecar(video, RECORD_NAME))]


def _identity(request: VideoRequest, source: FrameSource) -> dict:
    """The settings record plus what the frames were made from (:mod:`core.jobs.identity`)."""
    record = _fingerprint(request)
    record["source"] = source_identity(source.source_files(), video=not isinstance(source, ImageSequenceSource))
    record["models"] = model_identity(request.method, request.model, request.style_names, request.encoder_weights)
    if request.coherent and request.flow == "vectors":
        record["vectors"] = folder_identity(Path(request.vectors_dir))
    return record


def _run_locked(request: VideoRequest, source: FrameSource, progress: ProgressCallback | None,
                started: float) -> VideoOutcome:
    sink = open_sink(request.output, like=source, fps=request.fps, overwrite=request.overwrite)
    # The sink removes its frames' temporaries; those of the record and state files are ours.
    remove_stale_temporaries(sink.state_dir, {RECORD_NAME, STATE_NAME})
    remove_stale_temporaries(_record_path(sink).parent, {_record_path(sink).name})
    frames = source.frames
    working = _working_size(source, request.size)
    vectors = VectorFrames(request.vectors_dir) if request.coherent and request.flow == "vectors" else None
    if vectors is not None:
        vectors.check(frames)
        if len(frames) > 1:  # the passes belong to these frames: checked before any work
            pass_motion(FramePasses(vectors.read(frames[1].number)[0]), None, source.size, working,
                        where=f"frame {frames[1].number}")

    def passes(info: FrameInfo) -> FramePasses | None:
        if vectors is None or info.number not in vectors.by_number:
            return None
        return FramePasses(*vectors.read(info.number))

    engine = FrameEngine(request, quantisation_bits=sink.quantisation_bits, scale_back=False)
    device = engine.device
    # The written frame is not the engine's own result when colour preservation follows the network.
    post_processed = request.method != "gatys" and request.preserve_color != "none"

    start = 0 if request.overwrite else sink.first_missing()
    fingerprint = _identity(request, source)
    _check_record(sink, fingerprint, start, request.overwrite)
    meter = WarpingErrorMeter() if request.report else None

    resumed_state = None
    if request.coherent and 0 < start < len(frames):
        state = _load_state(sink, start - 1) if engine.uses_features or post_processed else None
        before = frames[start - 1]
        kept = state["image"] if state and "image" in state else sink.read_done(before).srgb()
        resumed_state = engine.restore(before.index, source.read(start - 1).srgb(), kept, passes=passes(before),
                                       features=None if state is None else state.get("features"))
    if meter is not None and start > 0:
        for info, image in source.iter_frames(0):
            if info.index >= start:
                break
            meter.update(_working_rgb(sink.read_done(info), working), _working_rgb(image, working))

    tracker = ProgressTracker(progress, max(len(frames) - start, 1))
    computed, frame_seconds = 0, []
    previous: dict[str, torch.Tensor] = {}
    if resumed_state is not None and state:
        previous = state
    # the passes are read when the engine needs them: the next frame's on its worker thread
    frames_in = ((info, image, image.srgb(), partial(passes, info)) for info, image in source.iter_frames(start))
    for (info, image, rgb, frame_passes), upcoming in with_next(frames_in):
        t0 = time.perf_counter()
        result = engine.step(rgb, info.index, passes=frame_passes, where=f"frame {info.number}")
        if upcoming is not None:  # its motion is found while this frame is written
            engine.prepare(upcoming[2], upcoming[0].index, passes=upcoming[3])
        if computed == 0:
            _write_record(sink, fingerprint)
        if request.coherent:
            current = {}
            if result.state.get("features") is not None:
                current["features"] = result.state["features"]
            if post_processed:
                current["image"] = result.raw
            _save_state(sink, info.index, current, previous)  # before the frame: see _save_state
            previous = current
        sink.write(info, result.image, _alpha(image, working))
        if meter is not None:
            meter.update(result.image, _working_rgb(image, working))
        computed += 1
        frame_seconds.append(time.perf_counter() - t0)
        try:
            tracker.advance(f"frame {info.index + 1}/{len(frames)}")
        except Cancelled:
            raise Cancelled(f"stopped after frame {info.number}; {info.index + 1} of {len(frames)} frames are "
                            f"finished — run it again with the same settings to resume") from None
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
