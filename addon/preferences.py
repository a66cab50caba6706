"""Add-on preferences: compute device, model folder, Python environment and dependency status."""

import os
from pathlib import Path

import bpy

from . import dependencies


def _extension_package(package: str | None) -> str:
    """Name of the extension package from the package of this module.

    Args:
        package: ``__package__`` of this module, e.g.
            ``"bl_ext.user_default.neural_style_transfer.addon"``.

    Returns:
        The extension package, e.g. ``"bl_ext.user_default.neural_style_transfer"``: what Blender
        looks preferences up by.

    Raises:
        ImportError: If this module was not imported as ``<extension package>.addon.preferences``.
    """
    root, _, leaf = (package or "").rpartition(".")
    if not root or leaf != "addon":
        raise ImportError(
            "addon.preferences must be imported as <extension package>.addon.preferences, "
            f"got package {package!r}: load the extension through Blender "
            "or import its root package"
        )
    return root


EXTENSION_PACKAGE = _extension_package(__package__)
"""Package Blender loaded the extension as; the ``bl_idname`` of the preferences."""


def extension_user_dir() -> Path | None:
    """The extension's user folder, where Blender lets it keep files across upgrades.

    Returns:
        The folder (it may not exist yet), or None when the package was not loaded as an extension
        (``bl_ext.<repository>.<id>``), e.g. when imported directly in a test.
    """
    if not EXTENSION_PACKAGE.startswith("bl_ext."):
        return None
    return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, create=False))


def private_site_dir() -> Path | None:
    """The site folder the add-on installs packages into, or None outside an extension."""
    user_dir = extension_user_dir()
    return None if user_dir is None else dependencies.private_site_dir(user_dir)


def get_preferences(context: bpy.types.Context) -> "NST_AP_preferences | None":
    """The add-on's preferences, or None when the add-on is not enabled in the Preferences."""
    addon = context.preferences.addons.get(EXTENSION_PACKAGE)
    return None if addon is None else addon.preferences


def add_site_dirs(prefs: "NST_AP_preferences | None") -> list[Path]:
    """Put the private site folder and the chosen Python environment on ``sys.path``.

    Folders that do not exist are skipped: before anything is installed the private folder is
    absent, and the preferences panel shows a chosen environment that is missing.

    Args:
        prefs: The add-on's preferences, or None to add only the private site folder.

    Returns:
        The folders appended to ``sys.path`` by this call.
    """
    candidates = [private_site_dir()]
    if prefs is not None and prefs.python_env:
        candidates.append(Path(prefs.python_env))
    return [
        folder
        for folder in candidates
        if folder is not None and folder.is_dir() and dependencies.add_private_site(folder)
    ]


def _python_env_changed(prefs: "NST_AP_preferences", _context: bpy.types.Context) -> None:
    add_site_dirs(prefs)


class NST_AP_preferences(bpy.types.AddonPreferences):
    """Preferences of the extension, under Preferences > Add-ons."""

    bl_idname = EXTENSION_PACKAGE

    device: bpy.props.EnumProperty(
        name="Device",
        description="Where PyTorch runs the networks",
        items=(
            ("AUTO", "Auto", "CUDA when PyTorch sees an NVIDIA GPU, otherwise the CPU"),
            ("CUDA", "CUDA", "NVIDIA GPU; an error when PyTorch has no CUDA device"),
            ("CPU", "CPU", "Processor only: slower, works everywhere"),
        ),
        default="AUTO",
    )
    model_folder: bpy.props.StringProperty(
        name="Model Folder",
        description="Folder searched for the weight files listed in the model registry",
        subtype="DIR_PATH",
    )
    python_env: bpy.props.StringProperty(
        name="Python Environment",
        description=(
            "site-packages folder of an existing Python environment with PyTorch, of the same Python "
            "version as this Blender (3.11 for Blender 4.2-5.0, 3.13 for 5.1 and later), "
            "used instead of installing into the add-on's private folder"
        ),
        subtype="DIR_PATH",
        update=_python_env_changed,
    )

    def draw(self, _context: bpy.types.Context) -> None:
        """Draw the settings and one status row per dependency; never imports PyTorch."""
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "model_folder")
        layout.prop(self, "python_env")
        if self.python_env and not os.path.isdir(self.python_env):
            layout.label(text=f"Folder not found: {self.python_env}", icon="ERROR")

        box = layout.box()
        box.label(text="Dependencies")
        for status in dependencies.dependency_status():
            box.label(text=status.text, icon="CHECKMARK" if status.found else "ERROR")
        site = private_site_dir()
        if site is None:
            box.label(text="Private install folder: none (not loaded as an extension)")
        else:
            box.label(text=f"Private install folder: {site}")
        if isinstance(box, bpy.types.UILayout):  # draw() also runs headless with a recording stand-in
            _draw_install(box)


def _draw_install(layout: bpy.types.UILayout) -> None:
    """Install buttons, or why they are disabled (Blender's online access setting)."""
    if not dependencies.missing_modules():
        return
    row = layout.row(align=True)
    row.enabled = bpy.app.online_access
    row.operator("nst.install_dependencies", text="Install (CPU)", icon="IMPORT").build = "CPU"
    row.operator("nst.install_dependencies", text="Install (CUDA)", icon="IMPORT").build = "CUDA"
    if not bpy.app.online_access:
        layout.label(text="Online access is off (Preferences > System > Network)", icon="INFO")


CLASSES = (NST_AP_preferences,)
