"""The style nodes' files per .blend: which file owns the captures, and keeping them bounded.

Render handlers beside :mod:`.render_stylize` (added after its own, so they run after it):

* ``render_pre``: each style node's folder records the .blend that renders into it
  (:meth:`.node_files.NodeFolders.claim`), so *Stylise Captured Frames* never takes another
  file's captures (:func:`check_owner`).
* ``render_post``: intermediates of the frames already stylised are deleted
  (:meth:`.node_files.NodeFolders.prune`: the network's input PNGs, and captures beyond the
  scene's *Keep Captures*). With Blender's UI frames are stylised in the background, so after the
  render ends a timer prunes again once no job runs.

The layout itself is :mod:`.node_files`; the unsaved file's own folder is
:data:`.node_files.UNSAVED`.
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from . import app_handlers
from . import node_files, nodes
from .jobs import RUNNER

_RETRY_S = 1.0


def file_identity() -> str:
    """This .blend as the owner files record it (its path, or its unsaved folder)."""
    blend = bpy.data.filepath
    return node_files.file_identity(blend, None if blend else node_files.UNSAVED.path())


def check_owner(folders: node_files.NodeFolders, node_name: str) -> str | None:
    """Why the captures in ``folders`` cannot be used by this file, or None when they can.

    Returns:
        One sentence naming the other file and the fix, or None.
    """
    owner, mine = folders.owner(), file_identity()
    if owner == mine:
        return None
    if owner is None:
        return (f"node '{node_name}': the captures in {folders.capture} do not say which file rendered them; "
                "render this file first")
    who = "an unsaved file" if owner.startswith("unsaved:") else owner
    return (f"node '{node_name}': the captures in {folders.capture} were rendered by {who}, not this file; "
            "render this file first, or give the node another Folder")


def prune_scene(scene: bpy.types.Scene) -> int:
    """Prune every style node's folder of ``scene``; returns how many files were deleted."""
    keep = scene.nst.keep_captures if hasattr(scene, "nst") else 0
    identity = file_identity()
    removed = 0
    for node in nodes.stylize_nodes(scene):
        folders = nodes.node_folders(scene, node)
        if folders.owner() != identity:  # never delete another file's files
            continue
        removed += len(folders.prune(keep, node.MASKS))
    return removed


@persistent
def on_render_pre(scene: bpy.types.Scene, *_args) -> None:
    identity = file_identity()
    for node in nodes.stylize_nodes(scene):
        nodes.node_folders(scene, node).claim(identity)


@persistent
def on_render_post(scene: bpy.types.Scene, *_args) -> None:
    prune_scene(scene)


def _prune_when_idle(scene_name: str):
    def prune() -> float | None:
        if RUNNER.active_jobs():
            return _RETRY_S
        scene = bpy.data.scenes.get(scene_name)
        if scene is not None:
            prune_scene(scene)
        return None

    return prune


@persistent
def on_render_end(scene: bpy.types.Scene, *_args) -> None:
    if bpy.app.background:
        prune_scene(scene)
        return
    # Frames may still be stylised by the add-on's jobs: prune once they are done (main thread).
    RUNNER.call_main(lambda: bpy.app.timers.register(_prune_when_idle(scene.name), first_interval=_RETRY_S),
                     "prune captures", later=True)


HANDLERS = (("render_pre", on_render_pre), ("render_post", on_render_post),
            ("render_complete", on_render_end), ("render_cancel", on_render_end))


def add_handlers() -> None:
    """Install the handlers (after :func:`.render_stylize.add_handlers`)."""
    app_handlers.install(HANDLERS)


def remove_handlers() -> None:
    """Remove the handlers (add-on unregister)."""
    app_handlers.uninstall(HANDLERS)
