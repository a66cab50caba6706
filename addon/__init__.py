"""Blender side of the extension: preferences, scene settings, compositor nodes, render handlers,
the Video Sequencer's Stylize Strip, the Image Editor's Stylize Image and Learn Style from Image.

Registration needs only ``bpy``: PyTorch and the other dependencies may be missing, and the
preferences then say so. Core (which needs them) is imported only when a frame is stylised.
"""

import bpy
from bpy.app.handlers import persistent

from . import (
    app_handlers,
    capture_files,
    image_tools,
    jobs,
    learn_style,
    node_files,
    nodes,
    operators,
    preferences,
    properties,
    render_stylize,
    strip_settings,
    style_menu,
    ui,
    vse_operators,
)

# strip_settings first: its property groups are used by properties (scene.nst.image_tool)
_MODULES = (preferences, strip_settings, properties, nodes, operators, ui, vse_operators, image_tools, learn_style)


def _classes() -> tuple[type, ...]:
    return tuple(cls for module in _MODULES for cls in module.CLASSES)


@persistent
def _sync_capture_folders(*_args) -> None:
    """After a load or a save the .blend's folder (and so ``//``) may have changed."""
    for scene in bpy.data.scenes:
        if hasattr(scene, "nst"):
            nodes.sync_all(scene)


@persistent
def _new_file_loaded(*_args) -> None:
    """Another file was loaded: an unsaved one gets its own temporary folder, not the last one's."""
    node_files.UNSAVED.reset()
    _sync_capture_folders()


_FILE_HANDLERS = (("load_post", _new_file_loaded), ("save_post", _sync_capture_folders))


def register() -> None:
    """Register the classes in order, add ``Scene.nst``, the handlers and the Add menu entries."""
    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.nst = bpy.props.PointerProperty(
        type=properties.NST_PG_settings,
        name="Neural Style Transfer",
        description="Style transfer settings of this scene",
    )
    strip_settings.register_pointers()
    preferences.add_site_dirs(preferences.get_preferences(bpy.context))
    render_stylize.add_handlers()
    capture_files.add_handlers()
    if jobs.draw_status_bar not in bpy.types.STATUSBAR_HT_header._dyn_ui_initialize():
        bpy.types.STATUSBAR_HT_header.append(jobs.draw_status_bar)
    app_handlers.install(_FILE_HANDLERS)
    nodes.add_menu()
    jobs.RUNNER.start()


def unregister() -> None:
    """Undo :func:`register` in reverse order; running jobs are cancelled."""
    jobs.RUNNER.shutdown()
    bpy.types.STATUSBAR_HT_header.remove(jobs.draw_status_bar)
    nodes.remove_menu()
    app_handlers.uninstall(_FILE_HANDLERS)
    capture_files.remove_handlers()
    render_stylize.remove_handlers()
    strip_settings.unregister_pointers()
    del bpy.types.Scene.nst
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    style_menu.unregister()
