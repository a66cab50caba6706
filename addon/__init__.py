"""Blender side of the extension: registers the preferences and the scene settings.

Registration needs only ``bpy``: PyTorch and the other dependencies may be missing, and the
preferences then say so.
"""

import bpy

from . import preferences, properties

_MODULES = (preferences, properties)


def _classes() -> tuple[type, ...]:
    return tuple(cls for module in _MODULES for cls in module.CLASSES)


def register() -> None:
    """Register the classes in order, add ``Scene.nst`` and put known site folders on sys.path."""
    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.nst = bpy.props.PointerProperty(
        type=properties.NST_PG_settings,
        name="Neural Style Transfer",
        description="Style transfer settings of this scene",
    )
    preferences.add_site_dirs(preferences.get_preferences(bpy.context))


def unregister() -> None:
    """Remove ``Scene.nst`` and unregister the classes in reverse order."""
    del bpy.types.Scene.nst
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
