"""Colour management of captured frames, done by Blender's own OpenColorIO pipeline.

Render passes are scene-linear (any range, possibly NaN/Inf); style networks expect
display-referred sRGB in [0, 1]. So:

* **to display** (:func:`capture_to_display`): the captured EXR is loaded as an image
  datablock (Blender reads float files as scene-linear) and saved as a 16-bit PNG with ``Image.save_render(scene=...)``
  through a temporary scene that carries the render scene's display device, view transform,
  look, exposure and gamma. The PNG therefore holds exactly what Blender would show and save
  for that render (AgX, Filmic, Standard, …). Values above 1 are compressed or clipped by the
  view transform as in any saved render; NaN becomes 0 and +Inf the display's maximum.
* **back** (:func:`load_result`): the stylised PNG is loaded into an image datablock whose
  colour space is the one the view encodes into (``AgX`` → ``AgX Base sRGB``, ``Standard`` →
  ``sRGB``, looked up in the OCIO config, see :mod:`.ocio_views`), so Blender decodes it to
  scene-linear values that look like the PNG under the same view: in the Image Editor, in a
  compositor Image node, and when :func:`write_like_render` saves it in the user's output
  format (an EXR then gets linear values).

The temporary scene and the capture's image datablock exist only while
:func:`capture_to_display` runs, except during a render: removing datablocks inside a render
handler crashed Blender 5.2, so while a render runs (:func:`render_started` …
:func:`render_ended`) they are kept, reused for the next frame, and removed on the main thread once the
render has ended (with Blender's UI; a ``blender -b`` run exits with them unsaved).
Main thread only.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import bpy

from . import blender_compat as compat
from . import ocio_views

_HELPER_SCENE = ".NST colour"
_CAPTURE_IMAGE = ".NST capture"
_FALLBACK_COLORSPACE = "sRGB"
_rendering = False


def render_started() -> None:
    """A render began: datablocks made from now on are kept until :func:`render_ended` (any thread)."""
    global _rendering
    _rendering = True


def render_ended() -> None:
    """The render ended: datablocks may be removed again (any thread).

    The caller schedules :func:`remove_helpers` on the main thread outside the render's
    handlers (with Blender's UI); under ``-b`` the process ends with the render.
    """
    global _rendering
    _rendering = False


def remove_helpers() -> None:
    """Remove the helper scene and capture image unless a render is running (main thread)."""
    if _rendering:
        return
    scene = bpy.data.scenes.get(_HELPER_SCENE)
    if scene is not None:
        bpy.data.scenes.remove(scene)
    image = bpy.data.images.get(_CAPTURE_IMAGE)
    if image is not None:
        bpy.data.images.remove(image)


@cache
def _config_text() -> str:
    """Text of the OCIO config Blender uses (``$OCIO`` when set, else the bundled one)."""
    env = os.environ.get("OCIO")
    candidates = [env] if env else []
    datafiles = bpy.utils.system_resource("DATAFILES")  # with path=…, bpy 4.5 answers "" here
    if datafiles:
        candidates.append(os.path.join(datafiles, "colormanagement", "config.ocio"))
    for path in candidates:
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read()
    return ""


def _input_colorspaces() -> set[str]:
    prop = bpy.types.ColorManagedInputColorspaceSettings.bl_rna.properties["name"]
    return {item.identifier for item in prop.enum_items}


def display_colorspace(scene: bpy.types.Scene) -> str:
    """The colour space the scene's view transform encodes into, as an image colour space name.

    Falls back to ``sRGB`` when the config does not say or Blender does not offer that space
    as an image colour space.
    """
    name = ocio_views.view_colorspace(_config_text(), scene.display_settings.display_device,
                                      scene.view_settings.view_transform)
    return name if name and name in _input_colorspaces() else _FALLBACK_COLORSPACE


@contextmanager
def _display_scene(scene: bpy.types.Scene, *, file_format: str = "PNG", depth: str = "16"):
    """A temporary scene with ``scene``'s colour management and a PNG (RGBA) output format."""
    helper = bpy.data.scenes.get(_HELPER_SCENE) or bpy.data.scenes.new(_HELPER_SCENE)
    try:
        helper.display_settings.display_device = scene.display_settings.display_device
        view, src = helper.view_settings, scene.view_settings
        view.view_transform = src.view_transform
        view.look = src.look
        view.exposure = src.exposure
        view.gamma = src.gamma
        settings = helper.render.image_settings
        compat.set_file_format(settings, file_format)
        settings.color_mode = "RGBA"
        settings.color_depth = depth
        yield helper
    finally:
        remove_helpers()


def _load_capture(path: Path) -> bpy.types.Image:
    """The capture as the helper image datablock (reused, repointed and reloaded during a render)."""
    image = bpy.data.images.get(_CAPTURE_IMAGE)
    if image is None:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = _CAPTURE_IMAGE
    else:
        image.filepath = str(path)
        image.reload()
    return image


def capture_to_display(scene: bpy.types.Scene, capture: Path, display_png: Path) -> Path:
    """Save a scene-linear capture through the scene's view transform as a display-referred PNG.

    Args:
        scene: The render scene (its display device, view transform, look, exposure, gamma).
        capture: The captured OpenEXR.
        display_png: Where the 16-bit RGBA PNG goes (folders are created; the file appears
            atomically).

    Returns:
        ``display_png``.

    Raises:
        FileNotFoundError: ``capture`` does not exist.
    """
    if not capture.is_file():
        raise FileNotFoundError(capture)
    display_png.parent.mkdir(parents=True, exist_ok=True)
    image = _load_capture(capture)
    tmp = display_png.with_name(f".{display_png.stem}.tmp{os.getpid()}.png")
    try:
        with _display_scene(scene) as helper:
            image.save_render(str(tmp), scene=helper)
        os.replace(tmp, display_png)
    finally:
        remove_helpers()
        if tmp.exists():
            tmp.unlink()
    return display_png


def load_result(scene: bpy.types.Scene, png: Path, name: str) -> bpy.types.Image:
    """Show a stylised PNG in the image datablock ``name`` (created or repointed and reloaded).

    The datablock's colour space is the view's (see the module docstring), so it looks like the
    PNG in the Image Editor and gives scene-linear values to compositor Image nodes.
    """
    return show_image(png, name, display_colorspace(scene))


def show_image(path: Path, name: str, colorspace: str) -> bpy.types.Image:
    """Load ``path`` into the image datablock ``name`` (created, or repointed and reloaded).

    A datablock of that name that is not a plain file (generated, packed) is renamed, never
    overwritten. ``colorspace`` falls back to sRGB where the OCIO config lacks it.
    """
    image = bpy.data.images.get(name)
    if image is not None and (image.source != "FILE" or image.packed_file is not None):
        image.name = f"{name} (old)"
        image = None
    if image is None:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = name
    else:
        image.filepath = str(path)
    try:
        image.colorspace_settings.name = colorspace
    except TypeError:
        image.colorspace_settings.name = "sRGB"
    image.alpha_mode = "STRAIGHT"
    image.reload()
    return image


def write_like_render(scene: bpy.types.Scene, image: bpy.types.Image, path: Path) -> Path:
    """Save ``image`` in the scene's own output format and colour management (Replace Output).

    Integer formats get the display-referred result again (the view transform is applied to
    the decoded values), float formats scene-linear values. Written to a temporary name in the
    same folder and renamed, so a failure leaves the previous file.
    """
    tmp = path.with_name(f".{path.stem}.nst-tmp{os.getpid()}{path.suffix}")
    try:
        image.save_render(str(tmp), scene=scene)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
