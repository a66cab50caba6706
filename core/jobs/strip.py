"""Stylise the frames of one sequencer strip: coherent, resumable, only what changed.

The Blender side (``addon/vse.py``) turns a strip into a :class:`StripPlan`: its visible source
frames in content order (a movie's frame indices, an image strip's files, or the frames the
add-on rendered from a scene strip) and the settings. :func:`stylise_strip` then

1. checks every source frame (missing files, unreadable movie) before anything is written;
2. fingerprints the frames (file hashes; decoded pixels for movies) and finds where to start
   with :func:`core.jobs.strip_record.resume_point`: finished frames of an identical chain are kept,
   so a rerun after a cancel, crash or kill continues, and an Update after the source
   changed recomputes from the first changed frame on (coherence chains every frame to the
   ones before it);
3. stylises the rest with the frame engine (:class:`core.engine.frames.FrameEngine`; Chen et al.,
   "Coherent Online Video Style Transfer", ICCV 2017): DIS optical flow between footage frames,
   or Blender's Vector and Depth passes for rendered scene strips; the temporal state at the
   restart is re-created from the last kept frame, exactly (the engine's state is the 8-bit
   picture a PNG holds, kept beside the output when colour preservation changed it);
4. writes each frame atomically as ``frame_####.png`` (content position + 1) in the strip's
   folder, at the source's resolution.

PyTorch is imported when a strip is stylised, never at import (the add-on imports the plan's
classes while it registers, in a Blender that may have no PyTorch yet).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from ..engine.read_ahead import with_next
from ..engine.settings import FrameSettings
from ..foundation.errors import Cancelled, InputError, SettingsError
from . import strip_record as rec

KINDS = ("movie", "images", "scene")
MOTIONS = ("dis", "vectors")

Progress = Callable[[float, str], bool]
"""``progress(fraction, stage) -> keep going``: False cancels after the current unit of work."""


@dataclass(frozen=True)
class StripFrame:
    """One visible source frame of a strip.

    Attributes:
        position: Position in the strip's content (0 = its first frame).
        image: The frame's file (image strips; rendered scene frames as display PNGs).
        movie_index: The frame's index in the movie file (movie strips).
        vectors: Rendered scene frames: an OpenEXR holding the Vector (and Depth) passes.
    """

    position: int
    image: Path | None = None
    movie_index: int | None = None
    vectors: Path | None = None


@dataclass(frozen=True)
class StripPlan:
    """Everything one stylisation of a strip needs; the boundary between Blender and the engine.

    Attributes:
        strip: The source strip's name (messages).
        kind: ``"movie"``, ``"images"`` or ``"scene"``.
        folder: Where the stylised frames and the record go.
        frames: The visible source frames in content order (contiguous positions).
        settings: Method, styles, coherence (``FrameSettings.kind`` is ``"strip"``).
        movie: The movie file (``kind == "movie"``).
        motion: ``"dis"`` (optical flow from the frames) or ``"vectors"`` (rendered passes).
    """

    strip: str
    kind: str
    folder: Path
    frames: tuple[StripFrame, ...]
    settings: FrameSettings
    movie: Path | None = None
    motion: str = "dis"

    def output(self, position: int) -> Path:
        """The stylised frame of content ``position``."""
        return self.folder / rec.output_name(position)

    def state(self, position: int) -> Path:
        """The engine's state after ``position`` (kept only when it differs from the output)."""
        return self.folder / rec.state_name(position)


@dataclass
class StripOutcome:
    """What :func:`stylise_strip` did.

    Attributes:
        folder: The strip's folder.
        frames: Visible frames.
        computed: Frames stylised by this run.
        start: Index (into the plan's frames) of the first computed frame.
        seconds: Wall time.
        details: Size, motion, settings fingerprint.
    """

    folder: Path
    frames: int
    computed: int
    start: int
    seconds: float
    details: dict = field(default_factory=dict)


def settings_fingerprint(plan: StripPlan) -> dict:
    """The settings that change the pictures, JSON-ready (style images by content hash)."""
    s = plan.settings
    record = asdict(s)
    for key in ("node", "device", "kind", "fix_in", "masks"):
        record.pop(key, None)
    record["style_images"] = [rec.file_digest(Path(p))[:16] for p in s.style_images]
    record["model_dir"] = str(s.model_dir) if s.model_dir else "vendored"
    record["motion"] = plan.motion if s.coherent else None
    return json.loads(json.dumps(record, default=list))


# ------------------------------------------------------------------------------------------
# Source frames
# ------------------------------------------------------------------------------------------


class _Frames:
    """Reads a plan's source frames; checks them before anything is written."""

    def __init__(self, plan: StripPlan) -> None:
        self.plan = plan
        where = f"strip '{plan.strip}'"
        if not plan.frames:
            raise SettingsError(f"{where}: no visible frames (its offsets hide all of its content)")
        self.video = None
        if plan.kind == "movie":
            from ..io.video_files import VideoSource

            if plan.movie is None or not plan.movie.is_file():
                raise SettingsError(f"{where}: its movie file {plan.movie} does not exist")
            try:
                self.video = VideoSource(plan.movie)
            except InputError as exc:
                raise SettingsError(f"{where}: cannot read its movie: {exc}") from None
            last = max(f.movie_index for f in plan.frames)
            if last >= len(self.video.frames):
                raise SettingsError(f"{where}: it shows movie frame {last + 1} but {plan.movie.name} has only "
                                    f"{len(self.video.frames)} frames (the file changed since the strip was added; "
                                    "reload the strip)")
        else:
            from ..io.images import probe_image

            missing = [f for f in plan.frames if f.image is None or not f.image.is_file()]
            if missing:
                first = missing[0].image
                raise SettingsError(f"{where}: missing frame file(s) at strip frame(s) "
                                    f"{rec.format_positions(f.position for f in missing)} "
                                    f"(first: {first.name if first else '?'} in {first.parent if first else '?'})")
            for f in plan.frames:
                try:
                    probe_image(f.image)
                except InputError as exc:
                    raise SettingsError(f"{where}: cannot read frame {f.position + 1}: {exc}") from None

    def read(self, frame: StripFrame):
        """The frame as :class:`core.io.images.ImageData`."""
        from ..io.images import read_image

        try:
            if self.video is not None:
                return self.video.read(frame.movie_index)
            return read_image(frame.image)
        except InputError as exc:
            raise SettingsError(f"strip '{self.plan.strip}': cannot read frame {frame.position + 1}: {exc}") from None

    def digests(self, old: dict | None, progress: Progress) -> tuple[list[str], dict]:
        """A digest per frame and the cache to record (see :mod:`.strip_record`)."""
        import numpy as np

        old = old or {}
        plan = self.plan
        if self.video is None:
            cache = dict(old.get("digests") or {})
            out = []
            for i, f in enumerate(plan.frames):
                out.append(rec.file_digest(f.image, cache))
                if i % 16 == 0:
                    _check(progress, 0.0, f"checking frame {f.position + 1}")
            return out, {"digests": cache}
        st = plan.movie.stat()
        stamp = [str(plan.movie), st.st_size, st.st_mtime_ns]
        movie = old.get("movie") or {}
        known = {int(k): v for k, v in (movie.get("frames") or {}).items()} if movie.get("stamp") == stamp else {}
        wanted = sorted({f.movie_index for f in plan.frames} - set(known))
        for index in wanted:
            image = self.video.read(index)
            pixels = np.rint(image.rgb[0].numpy() * 255.0).astype(np.uint8)
            known[index] = rec.bytes_digest(pixels.tobytes())
            _check(progress, 0.0, f"checking frame {index + 1}")
        return [known[f.movie_index] for f in plan.frames], {"movie": {"stamp": stamp,
                                                                       "frames": {str(k): v for k, v in known.items()}}}


def _check(progress: Progress, fraction: float, stage: str) -> None:
    if progress(fraction, stage) is False:
        raise Cancelled(f"cancelled ({stage})")


def _read_passes(path: Path | None):
    """A rendered scene frame's passes (:class:`core.engine.motion.FramePasses`), or None without a file."""
    if path is None or not path.is_file():
        return None
    from ..engine.motion import FramePasses
    from ..video.render_passes import read_pass_file

    # A plan takes its motion from the passes only when the scene renders without motion blur.
    return FramePasses(*read_pass_file(path), exact=True)


# ------------------------------------------------------------------------------------------
# The job
# ------------------------------------------------------------------------------------------


def stylise_strip(plan: StripPlan, progress: Progress | None = None) -> StripOutcome:
    """Stylise the plan's frames that are not up to date (see the module docstring).

    Args:
        plan: What to do.
        progress: Called with the fraction done and a stage; returning False cancels (the
            finished frames stay, a rerun continues).

    Returns:
        :class:`StripOutcome`.

    Raises:
        SettingsError: Bad settings, missing or unreadable source frames (nothing written).
        core.foundation.errors.ModelError, core.foundation.errors.DeviceError: No usable model or device.
        core.foundation.errors.OutputError: Another job is stylising this strip's folder.
        core.foundation.errors.Cancelled: ``progress`` returned False.
    """
    from ..engine.frames import FrameEngine
    from ..foundation.output_lock import FOLDER_LOCK_NAME, output_lock
    from ..io.frame_sinks import output_complete

    started = time.perf_counter()
    progress = progress or (lambda _f, _s: True)
    s = plan.settings
    s.validate()
    if plan.kind not in KINDS or plan.motion not in MOTIONS:
        raise SettingsError(f"strip '{plan.strip}': unknown kind {plan.kind!r} or motion {plan.motion!r}")
    source = _Frames(plan)
    fingerprint = settings_fingerprint(plan)
    old = rec.load_record(plan.folder)
    digests, caches = source.digests(old, progress)
    positions = [f.position for f in plan.frames]
    chain = rec.chain(positions, digests)
    start = rec.resume_point(old, fingerprint, chain, lambda pos: output_complete(plan.output(pos)))
    n = len(plan.frames)
    # Load the model before anything is removed: a missing one leaves the previous frames alone.
    engine = FrameEngine(s.to_request(), quantisation_bits=8) if start < n else None
    # One job per strip folder (a second Stylize Strip of it, from another Blender, is refused at once).
    with output_lock(plan.folder / FOLDER_LOCK_NAME, f"the stylised frames of strip '{plan.strip}'"):
        return _stylise_locked(plan, source, engine, start, positions, chain, caches, fingerprint, progress,
                               started)


def _stylise_locked(plan: StripPlan, source, engine, start: int, positions: list[int], chain: list, caches: dict,
                    fingerprint: dict, progress: Progress, started: float) -> StripOutcome:
    from ..io.images import read_image, write_image

    s = plan.settings
    n = len(plan.frames)
    # Outputs from ``start`` on (and any of other positions) are out of date: remove them before
    # the new record says which chain the folder holds, so no stale frame ever counts as done.
    for path in rec.stale_outputs(plan.folder, set(positions[:start])) + rec.stale_temporaries(plan.folder):
        path.unlink(missing_ok=True)
    rec.save_record(plan.folder, {"version": 1, "strip": plan.strip, "kind": plan.kind, "settings": fingerprint,
                                  "frames": chain, **caches})
    if engine is None:
        return StripOutcome(plan.folder, n, 0, start, time.perf_counter() - started, {"up_to_date": True})

    # The written frame is not the engine's own result (the next frame's state): keep that beside it.
    post_processed = s.size is not None or (s.method != "gatys" and s.preserve_color != "none")
    vectors = s.coherent and plan.motion == "vectors"
    how = None
    if s.coherent and start > 0:
        before = plan.frames[start - 1]
        state = plan.state(before.position)
        kept = read_image(state if state.is_file() else plan.output(before.position)).srgb()
        how = engine.restore(before.position, source.read(before).srgb(), kept,
                             passes=_read_passes(before.vectors) if vectors else None)

    motion_used = set()
    total = n - start

    def frames_in():
        for j in range(start, n):
            f = plan.frames[j]
            image = source.read(f)
            # read when the engine needs them: the next frame's on its worker thread
            yield j, f, image, image.srgb(), partial(_read_passes, f.vectors) if vectors else None

    for (j, f, image, rgb, frame_passes), upcoming in with_next(frames_in()):
        done = j - start
        if progress(done / total, f"frame {f.position + 1} ({done + 1}/{total})") is False:
            raise Cancelled(f"stopped before frame {f.position + 1}; {done} of {total} frame(s) finished — "
                            "run it again to continue")

        def inner(event, done=done, position=f.position):
            fraction = (done + event.step / max(event.total, 1)) / total
            return progress(fraction, f"frame {position + 1}: {event.stage}") is not False

        try:
            result = engine.step(rgb, f.position, passes=frame_passes, progress=inner,
                                 where=f"strip frame {f.position + 1}")
        except Cancelled:
            raise Cancelled(f"stopped at frame {f.position + 1}; {done} of {total} frame(s) finished — "
                            "run it again to continue") from None
        if upcoming is not None:  # its motion is found while this frame is written
            engine.prepare(upcoming[3], upcoming[1].position, passes=upcoming[4])
        if result.motion:
            motion_used.add(result.motion)
        if post_processed and s.coherent:
            write_image(plan.state(f.position), result.raw, colorspace="srgb", bit_depth=8)
        write_image(plan.output(f.position), result.image, image.alpha, colorspace="srgb", bit_depth=8)
    progress(1.0, "done")
    return StripOutcome(plan.folder, n, total, start, time.perf_counter() - started,
                        {"motion": sorted(motion_used), "restored": how, "settings": fingerprint})
