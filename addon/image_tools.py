"""Stylize Image in the Image Editor: every method on the active image, a preview, then full size.

The settings are the scene's (``scene.nst.image_tool``, drawn in the Image Editor's sidebar,
*Style Transfer* tab). **Preview** runs at *Preview Size* (long side, 256 px by default),
**Stylize Image** at the image's size (StyleBank, Gatys: *Size* when set, scaled back; Analogy:
*Analogy Size*, scaled back). Results are new image datablocks, replaced by the next run:

* ``<image> stylized`` (StyleBank one style or fusion, Gatys);
* Analogy: ``<image> A′`` (the image with the reference's look) and ``<reference> B`` (the
  reference with the image's look).

Their files are kept in ``//nst_images/<image>/`` beside the .blend (the system's temporary
folder while it is unsaved: pack them, *Image › Pack*, or save the .blend first to keep them).
Images without a readable file (generated, packed, edited, Render Result) are first saved there
as ``source.png`` (Render Result through the scene's view transform, others as plain sRGB).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import bpy

from ..core.foundation.errors import SettingsError
from . import blender_compat as compat
from . import colour, jobs, node_files
from ..core.jobs.image import ImageTask, stylise_image
from .job_operator import JobOperator
from .ui import SidebarPanel
from .jobs import MAIN, WORKER, Job

IMAGES_FOLDER = "//nst_images/"
_READABLE = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")
STYLIZED, A_PRIME, B = " stylized", " A′", " B"


def images_folder(image_name: str) -> Path:
    """``//nst_images/<image>/`` made absolute (the unsaved file's own temporary folder)."""
    root = node_files.output_root_for(IMAGES_FOLDER, bpy.data.filepath)
    return root / node_files.folder_name(image_name)


def _file_of(image: bpy.types.Image) -> Path | None:
    """The image's own file when core can read exactly what Blender shows, else None."""
    if image.source != "FILE" or image.packed_file is not None or image.is_dirty:
        return None
    path = Path(bpy.path.abspath(image.filepath, library=image.library))
    return path if path.suffix.lower() in _READABLE and path.is_file() else None


def _save_png(scene: bpy.types.Scene, image: bpy.types.Image, path: Path) -> Path:
    """Save ``image`` as a display PNG: Render Result through the view transform, others as sRGB.

    The Render Result holds the render of the scene that made it, so it is saved through that
    scene (its output format switched to a 16-bit PNG for the moment); another image goes through a
    helper scene with the Standard view.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.type == "RENDER_RESULT":
        fmt = scene.render.image_settings
        state = compat.image_format_state(fmt)
        try:
            compat.set_file_format(fmt, "PNG")
            fmt.color_mode, fmt.color_depth = "RGBA", "16"
            image.save_render(str(path), scene=scene)
        finally:
            compat.restore_image_format(fmt, state)
        return path
    helper = bpy.data.scenes.new(".NST image export")
    try:
        helper.view_settings.view_transform = "Standard"
        fmt = helper.render.image_settings
        compat.set_file_format(fmt, "PNG")
        fmt.color_mode, fmt.color_depth = "RGBA", "16"
        image.save_render(str(path), scene=helper)
    finally:
        bpy.data.scenes.remove(helper)
    return path


def _input_file(scene, image: bpy.types.Image, path: Path, what: str) -> Path:
    own = _file_of(image)
    if own is not None:
        return own
    try:
        return _save_png(scene, image, path)
    except RuntimeError as exc:
        raise SettingsError(f"{what} '{image.name}' cannot be read ({str(exc).strip()}); "
                            "render or load it first") from None


def active_image(context: bpy.types.Context, name: str = "") -> bpy.types.Image | None:
    """The image named ``name``, else the Image Editor's image."""
    if name:
        return bpy.data.images.get(name)
    space = getattr(context, "space_data", None)
    if space is not None and getattr(space, "type", "") == "IMAGE_EDITOR":
        return space.image
    return getattr(context, "edit_image", None)


class NST_OT_stylize_image(JobOperator, bpy.types.Operator):
    """Stylise the Image Editor's image with the Style Transfer settings into a new image
    (Analogy: A′ and B). Esc cancels"""

    bl_idname = "nst.stylize_image"
    bl_label = "Stylize Image"
    bl_options = {"REGISTER", "UNDO"}

    preview: bpy.props.BoolProperty(
        name="Preview", description="Run at the Preview Size instead of the image's size", default=False)
    image: bpy.props.StringProperty(
        name="Image", description="Image to stylise; empty = the Image Editor's image")

    def make_job(self, context: bpy.types.Context) -> Job | None:
        self._notes = []
        scene = context.scene
        image = active_image(context, self.image)
        if image is None:
            self.report({"ERROR"}, f"no image named '{self.image}'" if self.image else
                        "no image: open one in the Image Editor")
            return None
        tool = scene.nst.image_tool
        folder = images_folder(image.name)
        try:
            refs = ()
            reference = None
            if tool.method in ("GATYS", "ANALOGY"):
                reference = tool.style_image if tool.method == "GATYS" else tool.reference_image
                if reference is not None:
                    refs = (_input_file(scene, reference, folder / "reference.png", "image"),)
            settings = tool.node_settings(context, image.name, refs)
            settings.validate()
            content = _input_file(scene, image, folder / "source.png", "image")
        except SettingsError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        suffix = "_preview" if self.preview else ""
        if settings.method == "analogy":
            size = min(tool.preview_size, tool.analogy_size) if self.preview else tool.analogy_size
            outputs = {"a_prime": folder / f"a_prime{suffix}.png", "b": folder / f"b{suffix}.png"}
        else:
            size = tool.preview_size if self.preview else (tool.size or None)
            outputs = {"stylized": folder / f"stylized{suffix}.png"}
        task = ImageTask(content=content, settings=replace(settings, size=size), outputs=outputs,
                         scale_back=not self.preview)
        colorspace = colour.display_colorspace(scene) if image.type == "RENDER_RESULT" else "sRGB"
        names = {"stylized": image.name + STYLIZED, "a_prime": image.name + A_PRIME,
                 "b": (reference.name if reference is not None else "reference") + B}
        space = context.space_data if getattr(context.space_data, "type", "") == "IMAGE_EDITOR" else None
        notes = self._notes
        what = "preview" if self.preview else "full size"

        def compute(job: Job, _value):
            return stylise_image(task, job.progress_callback)

        def load(_job: Job, written: dict) -> list[str]:
            shown = [colour.show_image(written[key], names[key], colorspace).name for key in outputs]
            if space is not None:
                try:
                    space.image = bpy.data.images[shown[0]]
                except (ReferenceError, KeyError):
                    pass
            notes.append(("INFO", f"{', '.join(shown)} ({what}, {written['seconds']:.1f} s)"))
            return shown

        return Job(title=f"Stylize '{image.name}' ({what})", steps=[(WORKER, compute), (MAIN, load)],
                   group=f"image:{image.name}")

    def job_result(self, job: Job) -> set[str]:
        for level, text in getattr(self, "_notes", []):
            self.report({level}, text)
        return super().job_result(job)


class NST_PT_image_editor(SidebarPanel, bpy.types.Panel):
    """Style Transfer in the Image Editor's sidebar (N)"""

    bl_idname = "NST_PT_image_editor"
    bl_space_type = "IMAGE_EDITOR"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        tool = context.scene.nst.image_tool
        tool.draw(layout)
        row = layout.row(align=True)
        row.operator("nst.stylize_image", text="Preview", icon="HIDE_OFF").preview = True
        row.operator("nst.stylize_image", text="Full Size", icon="BRUSH_DATA").preview = False
        image = active_image(context)
        if image is not None:
            layout.label(text=f"Files: {images_folder(image.name)}")
        for job in jobs.active_jobs():
            if job.group.startswith("image:"):
                layout.progress(factor=job.progress, type="BAR", text=f"{job.title}: {job.stage}")
                layout.operator("nst.cancel_jobs", icon="CANCEL")
                break
        from .learn_style import draw_button  # noqa: PLC0415 - learn_style imports this module

        draw_button(layout.box())


CLASSES = (NST_OT_stylize_image, NST_PT_image_editor)
