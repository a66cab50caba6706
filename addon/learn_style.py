"""Learn Style from Image: a new StyleBank style from the artist's own painting, in minutes.

The operator (*Image Editor › sidebar › Style Transfer*, and *Preferences › Add-ons › Neural
Style Transfer* beside *Model Folder*) asks for the painting (an image datablock, by default
the Image Editor's, or a file), the new style's name, a folder of content photos and the number
of steps, then runs core's :func:`~core.jobs.learn_style.run_learn_style` on the job runner's
worker: the status bar shows the step, the seconds per step and the time left; *Esc* stops it
after the current step and keeps its state, so running it again with the same name continues
where it stopped.

Where the style goes: the *Model Folder* of the Preferences when it names a model folder of the
user's; when it is empty (the shipped model), a folder of the user's own —
``<extension user folder>/models/user`` (``bpy.utils.extension_path_user``), or
``<Blender config>/neural_style_transfer/models/user`` outside an extension — made on the first
run as a copy of the shipped model, never changed itself. After success the Preferences point
at that folder, so every style menu lists the new style along with the shipped ones.

Content photos: the *Content Folder* when set; else the frames the scene's style nodes last
captured (their ``input/`` PNGs); else one error asking for a folder of photos.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.foundation.errors import InputError, SettingsError
from ..core.jobs.learn_style import (DEFAULT_SIZE, DEFAULT_STEPS, LearnStyleRequest, run_learn_style,
                                     style_name_from_file, style_name_from_text)
from . import dependencies, model_styles, node_files, nodes, style_menu
from .image_tools import _input_file, active_image, images_folder
from .job_operator import JobOperator
from .jobs import MAIN, RUNNER, WORKER, Job
from .preferences import EXTENSION_PACKAGE, get_preferences

USER_MODELS = "models/user"
"""The per-user model folder, relative to the extension's user folder."""


def user_models_dir() -> Path:
    """Where styles go while the Preferences' Model Folder is empty (see the module docstring)."""
    if EXTENSION_PACKAGE.startswith("bl_ext.") and hasattr(bpy.utils, "extension_path_user"):
        return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, path=USER_MODELS, create=False))
    return Path(bpy.utils.user_resource("CONFIG")) / "neural_style_transfer" / USER_MODELS


def target_folder(context: bpy.types.Context) -> tuple[Path, bool]:
    """``(model folder the style goes into, whether to point the preference at it after success)``.

    The Preferences' Model Folder when it is the user's own (a copy of the shipped model is made
    there when it is missing or empty); else :func:`user_models_dir`, and the preference is
    pointed at it after success.
    """
    prefs = get_preferences(context)
    chosen = bpy.path.abspath(prefs.model_folder) if prefs is not None and prefs.model_folder else ""
    vendored = model_styles.VENDORED_MODEL_DIR.resolve()
    if chosen and Path(chosen).resolve() != vendored:
        return Path(chosen), False
    return user_models_dir(), True


def captured_inputs(scene: bpy.types.Scene) -> tuple[Path, ...]:
    """The display-referred frames the scene's style nodes last captured (``input/frame_*.png``)."""
    found = []
    for node in nodes.stylize_nodes(scene):
        folder = nodes.node_folders(scene, node).root / node_files.INPUT_DIR
        if folder.is_dir():
            found += sorted(folder.glob("frame_*.png"))
    return tuple(found)


def _style_name_of(image: bpy.types.Image | None, filepath: str) -> str:
    if image is not None:
        return style_name_from_file(bpy.path.abspath(image.filepath) if image.filepath else image.name)
    return style_name_from_file(filepath) if filepath else ""


class NST_OT_learn_style(JobOperator, bpy.types.Operator):
    """Learn a new StyleBank style from a painting (a few minutes on a CPU, seconds on a GPU) and add it
    to the style menus. Esc stops it; running it again with the same name continues"""

    bl_idname = "nst.learn_style"
    bl_label = "Learn Style from Image"
    bl_options = {"REGISTER"}

    image: bpy.props.StringProperty(
        name="Image", description="Image datablock to learn the style of; empty = the file below",
        options={"SKIP_SAVE"})
    filepath: bpy.props.StringProperty(
        name="Style Image File", description="The painting's file (used when no image datablock is chosen)",
        subtype="FILE_PATH", options={"SKIP_SAVE"})
    style_name: bpy.props.StringProperty(
        name="Style Name", description="Name of the new style: letters, digits, '_' and '-' "
        "(default: from the image's file name)", options={"SKIP_SAVE"})
    content_folder: bpy.props.StringProperty(
        name="Content Folder", description="Folder of photos the style is learnt on (landscapes, people, "
        "objects: what you will stylise); empty = the frames the scene's style nodes last captured",
        subtype="DIR_PATH")
    steps: bpy.props.IntProperty(
        name="Steps", description="Training steps: more learns the style better and takes longer "
        "(the default: about 4 minutes on a free 2-core CPU, seconds on a GPU)", default=DEFAULT_STEPS, min=1, soft_max=2000)
    size: bpy.props.IntProperty(
        name="Crop Size", description="Side of the training crops in pixels (multiple of 8)",
        default=DEFAULT_SIZE, min=16, max=1024, step=8, options={"HIDDEN"})
    start_over: bpy.props.BoolProperty(
        name="Start Over", description="Discard an unfinished run of this name instead of continuing it",
        default=False, options={"SKIP_SAVE"})

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        missing = dependencies.missing_message()
        if missing:
            self.report({"ERROR"}, missing)
            return {"CANCELLED"}
        if not self.image and not self.filepath:
            image = active_image(context)
            self.image = image.name if image is not None else ""
        if not self.style_name:
            self.style_name = _style_name_of(bpy.data.images.get(self.image) if self.image else None, self.filepath)
        if RUNNER.synchronous or context.window is None:
            return self.execute(context)
        return context.window_manager.invoke_props_dialog(self, width=420)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop_search(self, "image", bpy.data, "images")
        if not self.image:
            layout.prop(self, "filepath")
        layout.prop(self, "style_name")
        layout.prop(self, "content_folder")
        layout.prop(self, "steps")
        layout.prop(self, "start_over")
        layout.label(text=f"Saved into: {target_folder(context)[0]}", icon="FILE_FOLDER")

    def execute(self, context: bpy.types.Context) -> set[str]:
        if RUNNER.synchronous or context.window is None:
            return JobOperator.execute(self, context)
        # After the dialog: run modal like JobOperator.invoke (a blocking run would freeze Blender for minutes).
        self._job = self._new_job(context)
        if self._job is None:
            return {"CANCELLED"}
        RUNNER.submit(self._job)
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _request(self, context: bpy.types.Context) -> tuple[LearnStyleRequest, bool]:
        scene = context.scene
        image = bpy.data.images.get(self.image) if self.image else None
        if self.image and image is None:
            raise SettingsError(f"no image named '{self.image}'")
        if image is not None:
            style_image = _input_file(scene, image, images_folder(image.name) / "style_source.png", "image")
        elif self.filepath:
            style_image = Path(bpy.path.abspath(self.filepath))
        else:
            raise SettingsError("no style image: open the painting in the Image Editor or choose its file")
        # A typed name is made valid ("My Style" -> "my_style") rather than refused.
        typed = self.style_name.strip()
        name = style_name_from_text(typed) if typed else _style_name_of(image, self.filepath)
        if self.content_folder:
            content: Path | tuple[Path, ...] = Path(bpy.path.abspath(self.content_folder))
        else:
            content = captured_inputs(scene)
            if not content:
                raise SettingsError("no content photos: choose a Content Folder of photos (landscapes, people, "
                                    "objects: what the style will be used on), or render with a style node first")
        model_dir, set_preference = target_folder(context)
        prefs = get_preferences(context)
        request = LearnStyleRequest(name=name, style_image=style_image, model_dir=model_dir, content=content,
                                    steps=self.steps, size=self.size,
                                    device=prefs.device.lower() if prefs is not None else "auto",
                                    restart=self.start_over)
        request.validate()
        return request, set_preference

    def make_job(self, context: bpy.types.Context) -> Job | None:
        try:
            request, set_preference = self._request(context)
        except InputError as exc:  # the add-on's SettingsError among them
            self.report({"ERROR"}, str(exc))
            return None
        notes = self._notes = []

        def compute(job: Job, _value):  # torch is imported here, on the worker, by the job
            return run_learn_style(request, job.progress_callback)

        def finish(_job: Job, outcome) -> None:
            prefs = get_preferences(bpy.context)
            if set_preference and prefs is not None:
                prefs.model_folder = str(outcome.model_dir)
            style_menu.forget_cache()
            where = "copied the shipped model into " if outcome.created_model else ""
            resumed = f", continued from step {outcome.resumed_from}" if outcome.resumed_from else ""
            start = "" if outcome.started_from == "fresh" else f", started from '{outcome.started_from}'"
            notes.append(("INFO", f"Learnt style '{outcome.name}' ({outcome.steps} steps{resumed}{start}, "
                                  f"{outcome.seconds / 60:.1f} min on {outcome.device}); {where}{outcome.model_dir}"))

        return Job(title=f"Learn style '{request.name}'", steps=[(WORKER, compute), (MAIN, finish)],
                   group=f"learn:{request.name}")

    def job_result(self, job: Job) -> set[str]:
        for level, text in getattr(self, "_notes", []):
            self.report({level}, text)
        if job.state == "cancelled":
            self.report({"WARNING"}, f"{job.title}: stopped; its progress is kept — Learn Style from Image again "
                                     "with the same name and settings continues it")
            return {"CANCELLED"}
        return super().job_result(job)


def draw_button(layout: bpy.types.UILayout) -> None:
    """The operator's button, with the progress of a running run and its Cancel (panels)."""
    layout.operator(NST_OT_learn_style.bl_idname, icon="BRUSH_DATA")
    for job in RUNNER.active_jobs():
        if job.group.startswith("learn:"):
            layout.progress(factor=job.progress, type="BAR", text=f"{job.title}: {job.stage}")
            layout.operator("nst.cancel_jobs", icon="CANCEL")
            break


CLASSES = (NST_OT_learn_style,)
