"""The Video Sequencer side of Stylize Strip: read a strip, render scene strips, place the result.

* :func:`strip_plan` turns a movie, image or scene strip into a
  :class:`core.jobs.strip.StripPlan`: its visible source frames (content positions from
  ``frame_duration`` and the offsets), the settings on the strip (``strip.nst``) and its
  folder ``//nst_strips/<strip name>/`` (the system's temporary folder while the .blend is
  unsaved).
* :func:`render_scene_frame` renders one frame of a scene strip's scene as a multilayer
  OpenEXR (Combined, Vector, Depth) and saves it through that scene's view transform as the
  display PNG the network sees.
* :func:`place_output` adds (or updates) the stylised image strip: in the first free channel
  above the source, with the source's start, offsets and content length (frames outside the
  source's visible range hold the nearest stylised frame), its transform, crop, flips,
  reverse and strobe, and a record of what it was made from (``strip["nst_strip"]``).

Main thread only (Blender data).
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import bpy

from ..core.foundation.errors import SettingsError
from . import blender_compat as compat
from . import colour, node_files
from ..core.engine.settings import FrameSettings
from ..core.jobs import strip_record as rec
from ..core.jobs.strip import StripFrame, StripPlan

RECORD_KEY = "nst_strip"
#: A source strip's pair key (custom property): its stylised strip's record holds the same key, so
#: the pair survives renaming either strip.
PAIR_KEY = "nst_pair"
"""Custom property of a stylised strip: JSON with its source, folder and settings."""
STRIPS_FOLDER = "//nst_strips/"
RENDER_DIR = "render"
KIND_OF_TYPE = {"MOVIE": "movie", "IMAGE": "images", "SCENE": "scene"}
_FLOAT_SUFFIXES = (".exr", ".hdr")


# ------------------------------------------------------------------------------------------
# Strips (across Blender versions: see blender_compat)
# ------------------------------------------------------------------------------------------

top_strips = compat.top_strips
all_strips = compat.all_strips


def sequencer_scene(context: bpy.types.Context) -> bpy.types.Scene | None:
    """The scene whose strips the sequencer shows (5.x: the workspace's sequencer scene)."""
    return compat.sequencer_scene(context)


def active_strip(context: bpy.types.Context):
    """The sequencer's active strip, or None."""
    scene = sequencer_scene(context)
    editor = scene.sequence_editor if scene is not None else None
    return None if editor is None else editor.active_strip


def record_of(strip) -> dict | None:
    """What a stylised strip was made from, or None for other strips."""
    text = strip.get(RECORD_KEY) if strip is not None else None
    if not isinstance(text, str):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def find_pair(scene: bpy.types.Scene, strip) -> tuple[object | None, object | None]:
    """``(source, stylised)`` for a strip that is either; a missing side is None.

    The stylised strip's record names its source and holds the source's pair key: the name is
    tried first, then the key, so renaming the source keeps the pair.
    """
    editor = scene.sequence_editor
    strips = all_strips(editor)
    record = record_of(strip)
    if record is not None:
        source = strips.get(record.get("source", ""))
        key = record.get("pair")
        if key and (source is None or source.get(PAIR_KEY) != key):
            source = next((s for s in strips if s.get(PAIR_KEY) == key and record_of(s) is None), source)
        return source, strip
    output = strips.get(strip.nst.output) if strip.nst.output else None
    if output is not None and not _pairs(strip, record_of(output) or {}, strips):
        output = None
    return strip, output


def _pairs(source, record: dict, strips) -> bool:
    """Whether a stylised strip's ``record`` belongs to ``source`` (by name, else by its pair key)."""
    if record.get("source") == source.name:
        return True
    key = record.get("pair")
    # a renamed source: same key, and no strip of the recorded name (a duplicate copies the key)
    return bool(key) and source.get(PAIR_KEY) == key and strips.get(record.get("source", "")) is None


def record_folder(record: dict | None) -> Path | None:
    """The folder a stylised strip's record names, absolute (``//`` = the .blend's folder)."""
    folder = (record or {}).get("folder")
    return Path(bpy.path.abspath(folder)) if folder else None


def strip_folder(strip_name: str) -> Path:
    """``//nst_strips/<strip name>/`` made absolute (the unsaved file's own temporary folder)."""
    root = node_files.output_root_for(STRIPS_FOLDER, bpy.data.filepath)
    return root / node_files.folder_name(strip_name)


# ------------------------------------------------------------------------------------------
# Source → plan
# ------------------------------------------------------------------------------------------


def strip_plan(context: bpy.types.Context, source, folder: Path) -> tuple[StripPlan, list[str]]:
    """The plan for stylising ``source`` into ``folder``, and warnings for the user.

    Checks what is cheap to check here (type, files present, settings); the job checks that the
    frames can be read before it writes anything.

    Raises:
        SettingsError: No style chosen, an unsupported strip, missing files.
    """
    where = f"strip '{source.name}'"
    kind = KIND_OF_TYPE.get(source.type)
    if kind is None:
        raise SettingsError(f"{where} is a {source.type.lower()} strip; Stylize Strip works on movie, image and "
                            "scene strips")
    settings: FrameSettings = source.nst.node_settings(context, source.name)
    settings.validate()
    warnings = []
    if len(getattr(source, "retiming_keys", ())) > 0:
        warnings.append(f"{where} has speed changes (retiming keys): they are ignored — every visible source frame "
                        "is stylised once and the stylised strip plays them at normal speed")
    duration = int(source.frame_duration)
    shown = rec.visible_positions(duration, source.frame_offset_start, source.frame_offset_end)
    if not shown:
        raise SettingsError(f"{where}: its offsets hide all of its content")
    movie = None
    motion = "dis"
    if kind == "movie":
        movie = Path(bpy.path.abspath(source.filepath))
        if not movie.is_file():
            raise SettingsError(f"{where}: its movie file {movie} does not exist")
        skip = int(getattr(source, "animation_offset_start", 0))
        frames = tuple(StripFrame(p, movie_index=p + skip) for p in shown)
    elif kind == "images":
        directory = Path(bpy.path.abspath(source.directory))
        elements = source.elements
        frames = tuple(StripFrame(p, image=directory / elements[min(p, len(elements) - 1)].filename) for p in shown)
        missing = [f for f in frames if not f.image.is_file()]
        if missing:
            raise SettingsError(f"{where}: missing frame file(s) at strip frame(s) "
                                f"{rec.format_positions(f.position for f in missing)} "
                                f"(first: {missing[0].image.name} in {missing[0].image.parent})")
    else:
        scene = source.scene
        if scene is None:
            raise SettingsError(f"{where} has no scene")
        if getattr(source, "scene_input", "CAMERA") != "CAMERA":
            raise SettingsError(f"{where} shows its scene's sequencer; set its Input to Camera to stylise it")
        if scene.camera is None and getattr(source, "scene_camera", None) is None:
            raise SettingsError(f"{where}: scene '{scene.name}' has no camera")
        render_dir = folder / RENDER_DIR
        frames = tuple(StripFrame(p, image=render_dir / rec.output_name(p),
                                  vectors=render_dir / f"passes_{p + 1:04d}.exr") for p in shown)
        if settings.coherent and not scene.render.use_motion_blur:
            motion = "vectors"
        elif settings.coherent:
            warnings.append(f"scene '{scene.name}' renders with motion blur, which empties the Vector pass: "
                            "motion is estimated by optical flow instead")
    return StripPlan(strip=source.name, kind=kind, folder=folder, frames=frames, settings=settings, movie=movie,
                     motion=motion), warnings


# ------------------------------------------------------------------------------------------
# Scene strips: render first
# ------------------------------------------------------------------------------------------


@contextmanager
def _render_settings(scene: bpy.types.Scene, camera, exr: Path, passes: bool):
    """Temporarily: write a multilayer 32-bit EXR to ``exr``, with the Vector and Depth passes."""
    render, fmt = scene.render, scene.render.image_settings
    saved = (render.filepath, render.use_file_extension, scene.camera, scene.frame_current)
    saved_format = compat.image_format_state(fmt)
    layers = [(layer, layer.use_pass_vector, layer.use_pass_z) for layer in scene.view_layers]
    try:
        render.filepath = str(exr)
        render.use_file_extension = False
        compat.set_file_format(fmt, "OPEN_EXR_MULTILAYER")
        fmt.color_depth = "32"
        fmt.color_mode = "RGBA"
        fmt.exr_codec = "ZIP"
        if camera is not None:
            scene.camera = camera
        if passes:
            for layer, _vector, _z in layers:
                layer.use_pass_vector = True
                layer.use_pass_z = True
        yield
    finally:
        render.filepath, render.use_file_extension, scene.camera, frame = saved
        compat.restore_image_format(fmt, saved_format)
        for layer, vector, z in layers:
            layer.use_pass_vector, layer.use_pass_z = vector, z
        scene.frame_set(frame)


def render_scene_frame(scene_name: str, camera_name: str | None, frame: StripFrame, passes: bool) -> None:
    """Render content position ``frame.position`` of a scene strip's scene (main thread).

    Writes ``frame.vectors`` (multilayer EXR: Combined, Vector, Depth) and ``frame.image``
    (the Combined pass through the scene's view transform, a 16-bit PNG).

    Raises:
        SettingsError: The scene is gone or the render wrote nothing.
    """
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        raise SettingsError(f"scene '{scene_name}' no longer exists")
    camera = bpy.data.objects.get(camera_name) if camera_name else None
    frame.vectors.parent.mkdir(parents=True, exist_ok=True)
    # The scene must be the context's while its frame changes and it renders: with another scene
    # in the context (the editing scene), bpy 4.5 rendered every frame as the first one.
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]), \
            _render_settings(scene, camera, frame.vectors, passes):
        scene.frame_set(scene.frame_start + frame.position)
        bpy.ops.render.render(write_still=True, scene=scene.name)
    if not frame.vectors.is_file():
        raise SettingsError(f"rendering frame {scene.frame_start + frame.position} of scene '{scene_name}' "
                            f"wrote nothing to {frame.vectors}")
    colour.capture_to_display(scene, frame.vectors, frame.image)


# ------------------------------------------------------------------------------------------
# The stylised strip
# ------------------------------------------------------------------------------------------


def _free_channel(editor, source, start: int, end: int, ignore) -> int:
    """The first channel above ``source`` with no strip in ``[start, end)`` (``ignore`` aside)."""
    taken = {}
    for strip in top_strips(editor):
        if strip == ignore or strip == source:
            continue
        taken.setdefault(strip.channel, []).append((strip.frame_final_start, strip.frame_final_end))
    channel = source.channel + 1
    while any(a < end and start < b for a, b in taken.get(channel, ())):
        channel += 1
    return min(channel, 128)


def _colorspace(source, plan: StripPlan) -> str:
    if plan.kind == "scene":
        return colour.display_colorspace(source.scene)
    if plan.kind == "images" and plan.frames[0].image.suffix.lower() in _FLOAT_SUFFIXES:
        return "sRGB"  # float frames were read as linear and encoded with the sRGB curve
    return source.colorspace_settings.name


def _copy_look(source, strip) -> None:
    """What the sequencer applies on top of the pixels: transform, crop, flips, reverse, strobe."""
    for name in ("scale_x", "scale_y", "offset_x", "offset_y", "rotation", "origin", "filter"):
        if hasattr(source.transform, name):
            setattr(strip.transform, name, getattr(source.transform, name))
    for name in ("min_x", "max_x", "min_y", "max_y"):
        setattr(strip.crop, name, getattr(source.crop, name))
    for name in ("use_flip_x", "use_flip_y", "use_reverse_frames", "strobe", "color_saturation", "color_multiply"):
        if hasattr(source, name) and hasattr(strip, name):
            setattr(strip, name, getattr(source, name))


def place_output(scene: bpy.types.Scene, source, output, plan: StripPlan, fingerprint: dict,
                 motion: list[str] | None = None):
    """Add or update the stylised strip of ``source`` (see the module docstring); returns it."""
    editor = scene.sequence_editor
    duration = int(source.frame_duration)
    shown = [f.position for f in plan.frames]
    names = [rec.output_name(p) for p in rec.hold_positions(duration, shown)]
    start = int(source.frame_start)
    span = (min(start, source.frame_final_start), max(start + duration, source.frame_final_end))
    channel = _free_channel(editor, source, *span, ignore=output)
    folder = plan.folder
    old = record_of(output) or {}
    if output is not None and output.type == "IMAGE":
        strip = output
        strip.frame_offset_start = strip.frame_offset_end = 0
        while len(strip.elements) > len(names):
            strip.elements.pop(len(strip.elements) - 1)
        while len(strip.elements) < len(names):
            strip.elements.append(names[len(strip.elements)])
        for element, name in zip(strip.elements, names):
            element.filename = name
    else:
        if output is not None:
            top_strips(editor).remove(output)
        kwargs = {"fit_method": "ORIGINAL"}
        strip = top_strips(editor).new_image(name=f"{source.name} stylized", filepath=str(folder / names[0]),
                                             channel=channel, frame_start=start, **kwargs)
        for name in names[1:]:
            strip.elements.append(name)
    strip.directory = (bpy.path.relpath(str(folder)) if bpy.data.filepath else str(folder)).rstrip("/\\") + os.sep
    strip.frame_start = start
    strip.frame_offset_start = source.frame_offset_start
    strip.frame_offset_end = source.frame_offset_end
    if strip.channel != channel and output is None:
        strip.channel = channel
    _copy_look(source, strip)
    try:
        strip.colorspace_settings.name = _colorspace(source, plan)
    except TypeError:
        strip.colorspace_settings.name = "sRGB"
    stored = bpy.path.relpath(str(folder)) if bpy.data.filepath else str(folder)  # follows the .blend when moved
    key = source.get(PAIR_KEY) if isinstance(source.get(PAIR_KEY), str) else uuid.uuid4().hex
    source[PAIR_KEY] = key
    strip[RECORD_KEY] = json.dumps({"version": 1, "source": source.name, "pair": key, "kind": plan.kind,
                                    "folder": stored,
                                    "settings": fingerprint, "frames": [shown[0], shown[-1]],
                                    "motion": motion if motion is not None else old.get("motion", [])},
                                   sort_keys=True)
    source.nst.output = strip.name
    strip.invalidate_cache("RAW")
    return strip
