"""Stylize Strip and Update in the Video Sequencer, and the sidebar panel that shows them.

**Stylize Strip** (``nst.stylize_strip``) on a movie, image or scene strip stylises its visible
frames into ``//nst_strips/<strip name>/`` and adds an image strip in the channel above with the
same timing; run on a strip that already has its stylised strip, it updates that one.
**Update** (``nst.update_strip``) on either strip of a pair does the same for the existing
pair. Both are one job of the add-on's runner (:mod:`.jobs`): scene strips render their frames
first (main thread, one frame per step, so the UI stays responsive), then the frames are
stylised on the worker thread with a progress bar; Esc or *Cancel* stops after the current
frame and a rerun continues where it stopped. Nothing in the sequencer changes until the job
has finished.
"""

from __future__ import annotations

import bpy

from ..core.foundation.errors import SettingsError
from ..core.jobs import strip as strip_job
from . import jobs, vse
from .job_operator import JobOperator
from .ui import SidebarPanel
from .jobs import MAIN, RUNNER, WORKER, Job

GROUP_PREFIX = "strip:"


class _StripOperator(JobOperator):
    """Shared by Stylize Strip and Update."""

    REQUIRE_OUTPUT = False
    _notes: list

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return vse.active_strip(context) is not None

    def make_job(self, context: bpy.types.Context) -> Job | None:
        self._notes = []
        scene = vse.sequencer_scene(context)
        source, output = vse.find_pair(scene, vse.active_strip(context))
        if source is None:
            record = vse.record_of(vse.active_strip(context)) or {}
            self.report({"ERROR"}, f"the source strip '{record.get('source', '?')}' of this stylised strip is gone")
            return None
        if self.REQUIRE_OUTPUT and output is None:
            self.report({"ERROR"}, f"strip '{source.name}' has no stylised strip yet; use Stylize Strip")
            return None
        folder = vse.record_folder(vse.record_of(output)) or vse.strip_folder(source.name)
        try:
            plan, warnings = vse.strip_plan(context, source, folder)
        except SettingsError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        if any(j.group == GROUP_PREFIX + source.name for j in RUNNER.active_jobs()):
            self.report({"ERROR"}, f"strip '{source.name}' is already being stylised")
            return None
        self._notes.extend(("WARNING", w) for w in warnings)
        scene_name, source_name = scene.name, source.name
        output_name = output.name if output is not None else None
        steps: list = []
        if plan.kind == "scene":
            render_scene = source.scene.name
            camera = source.scene_camera.name if getattr(source, "scene_camera", None) is not None else None
            passes = plan.motion == "vectors"
            count = len(plan.frames)
            for i, frame in enumerate(plan.frames):
                def render(job: Job, _value, i=i, frame=frame) -> None:
                    job.update(0.3 * i / count, f"rendering frame {frame.position + 1} ({i + 1}/{count})")
                    vse.render_scene_frame(render_scene, camera, frame, passes)
                steps.append((MAIN, render))
        share = 0.3 if plan.kind == "scene" else 0.0

        def stylise(job: Job, _value):
            def progress(fraction: float, stage: str) -> bool:
                job.update(share + (1.0 - share) * fraction, stage)
                return not job.cancelled
            return strip_job.stylise_strip(plan, progress)

        notes = self._notes

        def place(_job: Job, outcome):
            target = bpy.data.scenes[scene_name]
            strips = vse.all_strips(target.sequence_editor)
            src = strips.get(source_name)
            out = strips.get(output_name) if output_name else None
            if src is None:
                raise SettingsError(f"strip '{source_name}' was deleted while it was being stylised")
            up_to_date = outcome.computed == 0
            strip = vse.place_output(target, src, out, plan, outcome.details.get("settings")
                                     or strip_job.settings_fingerprint(plan),
                                     None if up_to_date else outcome.details.get("motion", []))
            kept = outcome.frames - outcome.computed
            text = (f"strip '{strip.name}': {outcome.computed} frame(s) stylised"
                    + (f", {kept} up to date" if kept else "") + f" ({outcome.seconds:.1f} s) in {plan.folder}")
            notes.append(("INFO", text))
            return strip.name

        steps += [(WORKER, stylise), (MAIN, place)]
        return Job(title=f"Stylize '{source.name}'", steps=steps, group=GROUP_PREFIX + source.name)

    def job_result(self, job: Job) -> set[str]:
        for level, text in getattr(self, "_notes", []):
            self.report({level}, text)
        return super().job_result(job)


class NST_OT_stylize_strip(_StripOperator, bpy.types.Operator):
    """Stylise the active movie, image or scene strip into a new image strip in the channel above
    (or update its stylised strip). Esc cancels; running it again continues"""

    bl_idname = "nst.stylize_strip"
    bl_label = "Stylize Strip"
    bl_options = {"REGISTER", "UNDO"}


class NST_OT_update_strip(_StripOperator, bpy.types.Operator):
    """Stylise the active strip pair again: everything after a settings change, only the frames from the
    first changed one on when the source changed"""

    bl_idname = "nst.update_strip"
    bl_label = "Update"
    bl_options = {"REGISTER", "UNDO"}
    REQUIRE_OUTPUT = True


class NST_OT_select_strip(bpy.types.Operator):
    """Make the named strip the active one"""

    bl_idname = "nst.select_strip"
    bl_label = "Select Strip"
    bl_options = {"INTERNAL", "UNDO"}

    name: bpy.props.StringProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = vse.sequencer_scene(context)
        editor = scene.sequence_editor if scene is not None else None
        strip = vse.all_strips(editor).get(self.name) if editor is not None else None
        if strip is None:
            self.report({"ERROR"}, f"no strip named '{self.name}'")
            return {"CANCELLED"}
        editor.active_strip = strip
        return {"FINISHED"}


class NST_OT_cancel_strip(bpy.types.Operator):
    """Stop stylising this strip after the current frame (finished frames are kept)"""

    bl_idname = "nst.cancel_strip"
    bl_label = "Cancel"

    name: bpy.props.StringProperty()

    def execute(self, _context: bpy.types.Context) -> set[str]:
        RUNNER.cancel(GROUP_PREFIX + self.name)
        return {"FINISHED"}


class NST_PT_sequencer(SidebarPanel, bpy.types.Panel):
    """Style Transfer in the sequencer's sidebar (N)"""

    bl_idname = "NST_PT_sequencer"
    bl_space_type = "SEQUENCE_EDITOR"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = vse.sequencer_scene(context)
        return scene is not None and scene.sequence_editor is not None

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        strip = vse.active_strip(context)
        if strip is None:
            layout.label(text="Select a movie, image or scene strip")
            _draw_jobs(layout, None)
            return
        source, output = vse.find_pair(vse.sequencer_scene(context), strip)
        if source is None:
            layout.label(text=f"Source strip '{(vse.record_of(strip) or {}).get('source', '?')}' is gone",
                         icon="ERROR")
            return
        if source.type not in vse.KIND_OF_TYPE:
            layout.label(text="Works on movie, image and scene strips", icon="INFO")
            return
        box = layout.box()
        row = box.row()
        row.label(text=source.name, icon="SEQUENCE")
        if output is not None:
            other = output if strip == source else source
            row.operator("nst.select_strip", text="", icon="RESTRICT_SELECT_OFF").name = other.name
            box.label(text=f"Stylised: {output.name}" if strip == source else f"From: {source.name}")
        source.nst.draw(layout)
        row = layout.row(align=True)
        if output is None:
            row.operator("nst.stylize_strip", icon="BRUSH_DATA")
        else:
            row.operator("nst.update_strip", icon="FILE_REFRESH")
        folder = vse.record_folder(vse.record_of(output)) or vse.strip_folder(source.name)
        layout.label(text=f"Files: {folder}")
        _draw_jobs(layout, source.name)


def _draw_jobs(layout: bpy.types.UILayout, name: str | None) -> None:
    active = jobs.active_jobs()
    mine = [j for j in active if name is not None and j.group == GROUP_PREFIX + name]
    for job in mine:
        layout.progress(factor=job.progress, type="BAR", text=job.stage or job.title)
        layout.operator("nst.cancel_strip", icon="CANCEL").name = name
    others = [j for j in active if j not in mine]
    if others:
        layout.label(text=f"{len(others)} other style transfer job(s) running")
        layout.operator("nst.cancel_jobs", icon="CANCEL")


CLASSES = (NST_OT_stylize_strip, NST_OT_update_strip, NST_OT_select_strip, NST_OT_cancel_strip, NST_PT_sequencer)
