"""Add-on preferences: compute device, model folder, Python environment, dependencies and set-up.

The *Dependencies* box is where an artist sets the add-on up: every package with its state, the
device the networks will run on, one *Install* button per PyTorch build this computer can use
with its approximate download, the install's progress while it runs and its result (or its error,
in one sentence) afterwards. Drawing never imports PyTorch: the device is found once, on a
thread, and the panel redrawn when it is known.
"""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import bpy

from . import dependencies, installer, jobs


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
    DEVICE_PROBE.reset()


# ------------------------------------------------------------------------------------------
# Install state and device probe, shown by the panel
# ------------------------------------------------------------------------------------------


@dataclass
class InstallStatus:
    """The last *Install* of this session, as the Preferences panel shows it.

    Attributes:
        state: ``"idle"`` (none yet), ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
        build: ``"CPU"``, ``"CUDA"`` or ``"WEIGHTS"``.
        message: While running, the step (``"PyTorch (2 of 4)"``); afterwards the result or the
            error, one sentence.
        progress: Fraction done while running.
        log: The file holding pip's full output, when there is one.
    """

    state: str = "idle"
    build: str = ""
    message: str = ""
    progress: float = 0.0
    log: str = ""

    def start(self, build: str, message: str, log: str = "") -> None:
        """An install begins."""
        self.state, self.build, self.message, self.progress, self.log = "running", build, message, 0.0, log

    def step(self, progress: float, message: str) -> None:
        """Progress of the running install (any thread: plain attribute writes)."""
        self.progress, self.message = progress, message

    def finish(self, state: str, message: str) -> None:
        """The install ended: ``"done"``, ``"failed"`` or ``"cancelled"`` with one sentence."""
        self.state, self.message, self.progress = state, message, 1.0 if state == "done" else self.progress
        tag_redraw()


INSTALL = InstallStatus()
"""The add-on's install state (one per Blender session)."""


class DeviceProbe:
    """Finds where PyTorch runs (its CUDA GPU's name, or the CPU) once, off the main thread.

    Importing PyTorch takes seconds: :meth:`line` starts a thread the first time PyTorch is found
    and says "checking…" until it answered; the panel is then redrawn.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.info: dependencies.TorchInfo | None = None
        self.error: str | None = None

    def reset(self) -> None:
        """Forget the answer (a new Python environment was chosen, or PyTorch was installed)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread, self.info, self.error = None, None, None

    def _probe(self) -> None:
        try:
            info, error = dependencies.torch_info(), None
        except Exception as exc:  # noqa: BLE001 - a broken PyTorch install is shown, never raised into the UI
            info, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        self.info, self.error = info, error
        from .jobs import RUNNER  # noqa: PLC0415 - jobs imports core; only needed once PyTorch was probed

        if not bpy.app.background:
            RUNNER.call_main(tag_redraw, "redraw preferences", later=True)

    def line(self, preference: str) -> str:
        """The device line for the panel; starts the probe when PyTorch is found and not asked yet."""
        found = dependencies.is_installed("torch")
        if found:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._probe, name="nst-device-probe", daemon=True)
                    self._thread.start()
        return dependencies.device_line(found, self.info, preference, self.error)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for a running probe (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


DEVICE_PROBE = DeviceProbe()


def tag_redraw() -> None:
    """Redraw the Preferences window (main thread)."""
    jobs.redraw_areas(("PREFERENCES",))


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
    model_folder: bpy.props.StringProperty(name="Model Folder", subtype="DIR_PATH",
                                           description="Folder searched for the weight files listed in the model "
                                           "registry")
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
        """Draw the settings, the dependencies and the set-up; never imports PyTorch here."""
        layout = self.layout
        layout.prop(self, "device")
        row = layout.row()
        row.prop(self, "model_folder")
        row.operator("nst.learn_style", text="Learn Style from Image", icon="BRUSH_DATA")
        layout.prop(self, "python_env")
        if self.python_env and not os.path.isdir(self.python_env):
            layout.label(text=f"Folder not found: {self.python_env}", icon="ERROR")

        box = layout.box()
        statuses = dependencies.dependency_status()
        complete = all(status.found for status in statuses)
        box.label(text="Dependencies: everything found" if complete else "Dependencies: something is missing",
                  icon="CHECKMARK" if complete else "ERROR")
        for status in statuses:
            box.label(text=status.text, icon="CHECKMARK" if status.found else "ERROR")
        torch_found = next(s.found for s in statuses if s.dependency.module == "torch")
        box.label(text=DEVICE_PROBE.line(self.device), icon="DESKTOP" if torch_found else "ERROR")
        site = private_site_dir()
        if site is None:
            box.label(text="Private install folder: none (not loaded as an extension)")
        else:
            box.label(text=f"Private install folder: {site}")
        draw_install(box, statuses)


def draw_install(layout, statuses) -> None:
    """The install buttons (only the builds this computer can use), the progress and the result.

    Args:
        layout: A ``bpy.types.UILayout`` (or a test's recording stand-in).
        statuses: :func:`.dependencies.dependency_status`.
    """
    if INSTALL.state == "running":
        label = f"Installing ({INSTALL.build}): {INSTALL.message}"
        if hasattr(layout, "progress"):
            layout.progress(factor=INSTALL.progress, type="BAR", text=label)
        else:
            layout.label(text=label, icon="SORTTIME")
        layout.operator("nst.cancel_jobs", text="Cancel Install", icon="CANCEL")
        return
    if INSTALL.state in ("done", "failed", "cancelled"):
        layout.label(text=INSTALL.message, icon={"done": "CHECKMARK", "failed": "ERROR"}.get(INSTALL.state, "INFO"))
        if INSTALL.state == "failed" and INSTALL.log:
            layout.label(text=f"pip's full output: {INSTALL.log}")
    missing = [s.dependency for s in statuses if not s.found]
    if not missing:
        return
    column = layout.column()
    column.enabled = bpy.app.online_access
    only_weights = all(not d.required for d in missing)
    if only_weights:
        column.label(text=f"Download: {installer.size_text(installer.ENCODER_DOWNLOAD_MB)} (approximate)")
        column.operator("nst.install_dependencies", text="Install Encoder Weights", icon="IMPORT").build = "WEIGHTS"
    else:
        for build in installer.available_builds():
            size = installer.download_estimate(build)
            text = f"Install ({build.upper()}, {size})" if len(installer.available_builds()) > 1 \
                else f"Install ({size})"
            column.operator("nst.install_dependencies", text=text, icon="IMPORT").build = build.upper()
        column.label(text="Sizes are approximate; CUDA needs an NVIDIA GPU and driver"
                     if "cuda" in installer.available_builds() else "The size is approximate")
    if not bpy.app.online_access:
        layout.label(text="Online access is off (Preferences > System > Network)", icon="INFO")


CLASSES = (NST_AP_preferences,)
