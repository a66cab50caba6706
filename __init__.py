"""Neural Style Transfer, a Blender extension.

Blender imports this package as ``bl_ext.<repository>.neural_style_transfer``; everything
Blender-specific lives in :mod:`.addon`, the algorithms in :mod:`.core`.

:mod:`.addon` is imported when Blender calls :func:`register`, not when this package is imported:
pytest imports this file too (the repository root is a package), and importing it must not load
``bpy`` into the test process or fail where ``bpy`` is absent.
"""


def register() -> None:
    """Called by Blender when the extension is enabled."""
    from . import addon

    addon.register()


def unregister() -> None:
    """Called by Blender when the extension is disabled."""
    from . import addon

    addon.unregister()
