"""The Style Transfer tab of the compositor's sidebar: output folder, running jobs, cancel."""

from __future__ import annotations

import bpy

from . import jobs


class SidebarPanel:
    """What every Style Transfer sidebar tab shares (the compositor's, the sequencer's, the Image Editor's)."""

    bl_label = "Style Transfer"
    bl_region_type = "UI"
    bl_category = "Style Transfer"


class NST_PT_compositor(SidebarPanel, bpy.types.Panel):
    """Style Transfer in the compositor's sidebar (N)"""

    bl_idname = "NST_PT_compositor"
    bl_space_type = "NODE_EDITOR"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return getattr(context.space_data, "tree_type", None) == "CompositorNodeTree"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(context.scene.nst, "output_folder")
        layout.prop(context.scene.nst, "keep_captures")
        layout.operator("nst.restylize", text="Stylise Current Frame Again").all_frames = False
        layout.operator("nst.restylize", text="Stylise All Captured Frames").all_frames = True
        active = jobs.active_jobs()
        if not active:
            layout.label(text="No style transfer running")
            return
        for job in active[:8]:
            layout.progress(factor=job.progress, type="BAR", text=f"{job.title}: {job.stage}")
        if len(active) > 8:
            layout.label(text=f"… and {len(active) - 8} more")
        layout.operator("nst.cancel_jobs", icon="CANCEL")


CLASSES = (NST_PT_compositor,)
