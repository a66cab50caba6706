"""Which StyleBank model the nodes use and which styles it offers; no ``bpy``, no PyTorch.

The style list is read from the model folder's ``model.toml`` by core's torch-free, schema-checked
reader (:mod:`core.stylebank.manifest`), so the node's style menu works in a Blender
whose Python has no PyTorch yet. The weights are loaded, and checked, only when a frame is
stylised.
"""

from __future__ import annotations

from pathlib import Path

VENDORED_MODEL_DIR = Path(__file__).resolve().parent.parent / "vendored_models" / "stylebank"
"""The model shipped inside the extension (``core.stylebank.model.DEFAULT_MODEL_DIR``)."""


def model_dir(preference: str) -> Path | None:
    """The model folder to use: the preference when set, None for the vendored model.

    Args:
        preference: The add-on preference *Model Folder* (``""`` when unset), already made
            absolute (``bpy.path.abspath``).
    """
    return Path(preference) if preference else None


def available_styles(folder: Path | None) -> list[str]:
    """Style names listed in a model folder's ``model.toml`` (vendored model when None).

    Returns:
        The names, sorted; empty when the folder or its manifest is missing or unreadable
        (the error is reported when a frame is stylised, with the reason).
    """
    from ..core.foundation.errors import NSTError
    from ..core.stylebank.manifest import read_manifest  # torch-free; never opens a FIFO or device

    folder = VENDORED_MODEL_DIR if folder is None else folder
    try:
        manifest = read_manifest(folder)
    except NSTError:
        return []
    return sorted(manifest["styles"])
