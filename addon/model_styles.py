"""Which StyleBank model the nodes use and which styles it offers; no ``bpy``, no PyTorch.

The style list is read from the model folder's ``model.toml`` by core's torch-free, schema-checked
reader (:mod:`core.stylebank.manifest`), so the node's style menu works in a Blender
whose Python has no PyTorch yet. The weights are loaded, and checked, only when a frame is
stylised.

For the style menus (:mod:`.style_menu`): a label per style (``label`` in the style's table of
``model.toml``, else the name made readable: ``la_muse`` → "La Muse"), a thumbnail when the model
folder has one (``thumbnails/<name>.png`` or ``.jpg``, else the style's ``image`` when that file is
in the folder), and the default style (``la_muse`` when the model has it, else the first).
"""

from __future__ import annotations

from dataclasses import dataclass
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


PREFERRED_DEFAULT = "la_muse"
"""The style a new node, strip or image starts with when the model has it."""

THUMBNAIL_DIR = "thumbnails"
THUMBNAIL_EXTENSIONS = (".png", ".jpg", ".jpeg")
_SMALL_WORDS = {"de", "du", "des", "la", "le", "les", "of", "the", "and", "a", "an", "in", "on", "at"}


@dataclass(frozen=True)
class StyleEntry:
    """One style as a menu shows it.

    Attributes:
        name: The identifier stored in settings, e.g. ``"la_muse"``.
        label: Readable name, e.g. ``"La Muse"``.
        thumbnail: A small picture of the style, or None.
    """

    name: str
    label: str
    thumbnail: Path | None = None


def style_label(name: str) -> str:
    """A style's readable name: ``la_muse`` → ``"La Muse"``, ``scene_de_rue`` → ``"Scene de Rue"``."""
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w]
    return " ".join(w.capitalize() if i == 0 or w.lower() not in _SMALL_WORDS else w.lower()
                    for i, w in enumerate(words)) or name


def default_style(names: list[str] | tuple[str, ...]) -> str:
    """The style a first render uses: :data:`PREFERRED_DEFAULT` when present, else the first; ``""`` for none."""
    if PREFERRED_DEFAULT in names:
        return PREFERRED_DEFAULT
    return names[0] if names else ""


def default_styles(names: list[str] | tuple[str, ...], count: int) -> list[str]:
    """Defaults of ``count`` fusion slots: the default style first, then the others in order (cycling)."""
    if not names:
        return [""] * count
    first = default_style(names)
    ordered = [first, *(n for n in names if n != first)]
    return [ordered[i % len(ordered)] for i in range(count)]


def resolve_style(chosen: str, names: list[str] | tuple[str, ...], slot: int = 1) -> str:
    """The style to use: the chosen one, or for an empty choice the slot's default.

    An unknown name is returned as it is, so validation names it (never silently replaced).
    """
    chosen = chosen.strip()
    if chosen:
        return chosen
    return default_styles(names, slot)[slot - 1] if names else ""


def _thumbnail(folder: Path, name: str, entry: dict) -> Path | None:
    for extension in THUMBNAIL_EXTENSIONS:
        candidate = folder / THUMBNAIL_DIR / f"{name}{extension}"
        if candidate.is_file():
            return candidate
    image = entry.get("image")
    if isinstance(image, str) and image and "/" not in image and "\\" not in image and image not in (".", ".."):
        candidate = folder / image
        if candidate.is_file():
            return candidate
    return None


def style_entries(folder: Path | None) -> list[StyleEntry]:
    """The styles of a model folder (vendored model when None) with labels and thumbnails.

    Returns:
        Sorted by name; empty when the folder or its manifest is missing or unreadable.
    """
    from ..core.foundation.errors import NSTError
    from ..core.stylebank.manifest import read_manifest

    folder = VENDORED_MODEL_DIR if folder is None else folder
    try:
        manifest = read_manifest(folder)
    except NSTError:
        return []
    entries = []
    for name in sorted(manifest["styles"]):
        entry = manifest["styles"][name]
        label = entry.get("label")
        label = label if isinstance(label, str) and label.strip() else style_label(name)
        entries.append(StyleEntry(name, label.strip(), _thumbnail(folder, name, entry)))
    return entries
