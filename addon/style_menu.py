"""Style fields as menus: pick a StyleBank style from a list, with readable names and thumbnails.

Each style setting is stored as a plain string (``node.style``, ``strip.nst.style_1`` …): the
style's identifier, so a saved .blend keeps its choice whatever the model lists, and every reader
(``node_settings``, scripts, older files) sees the same string as before. What the panels draw is
a companion :func:`menu_property` — an ``EnumProperty`` whose items come from the model in the
Preferences (:func:`.model_styles.style_entries`), with ``get``/``set`` that read and write the
string. Nothing of the menu itself is stored (a dynamic enum would store an item's number, which
changes when the model's list does).

* An empty string means the slot's default style (``la_muse`` when the model has it, else the
  first; fusion slots take the next styles in turn), so a first render never stops for lack of a
  style (:func:`resolved`).
* A stored name the model does not have is shown as "<name> (not in the model)": never replaced
  silently; the render then names it in its error.
* Item numbers are a hash of the identifier (stable while the list changes), and the item lists
  are kept referenced in :data:`_ITEMS` (Blender keeps only pointers to their strings).
* Thumbnails go through ``bpy.utils.previews`` when the model folder has them; otherwise no icon.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import bpy

from . import model_styles
from .preferences import get_preferences

_ITEMS: dict[tuple[int, str], list[tuple]] = {}
"""The last item list per (owner, property): Blender needs the strings kept alive."""
_ENTRIES: dict[str, tuple[int, list[model_styles.StyleEntry]]] = {}
"""Model folder → (manifest mtime, its styles): reading ``model.toml`` once per change."""
_PREVIEWS = None
"""The ``bpy.utils.previews`` collection of style thumbnails (created on first use)."""

NO_STYLES = "NONE"


def model_folder(context: bpy.types.Context | None = None) -> Path | None:
    """The model folder of the Preferences (None: the vendored model)."""
    prefs = get_preferences(context or bpy.context)
    return model_styles.model_dir(bpy.path.abspath(prefs.model_folder) if prefs is not None else "")


def entries(context: bpy.types.Context | None = None) -> list[model_styles.StyleEntry]:
    """The model's styles (cached until its ``model.toml`` changes)."""
    folder = model_folder(context)
    key = str(folder or model_styles.VENDORED_MODEL_DIR)
    try:
        stamp = (Path(key) / "model.toml").stat().st_mtime_ns
    except OSError:
        stamp = -1
    cached = _ENTRIES.get(key)
    if cached is None or cached[0] != stamp:
        cached = _ENTRIES[key] = (stamp, model_styles.style_entries(folder))
    return cached[1]


def style_names(context: bpy.types.Context | None = None) -> list[str]:
    """Identifiers of the model's styles, sorted."""
    return [entry.name for entry in entries(context)]


def item_number(name: str) -> int:
    """The enum number of a style: a hash of its name, the same in every list."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def resolved(owner, storage: str, slot: int = 1, context: bpy.types.Context | None = None) -> str:
    """The style a setting means: the stored name, or the slot's default when it is empty."""
    return model_styles.resolve_style(getattr(owner, storage), style_names(context), slot)


def _icon(path: Path | None):
    global _PREVIEWS
    if path is None:
        return "NONE"
    try:
        if _PREVIEWS is None:
            import bpy.utils.previews  # noqa: PLC0415 - only when a thumbnail exists

            _PREVIEWS = bpy.utils.previews.new()
        key = str(path)
        preview = _PREVIEWS.get(key) or _PREVIEWS.load(key, key, "IMAGE")
        return preview.icon_id
    except (OSError, RuntimeError, KeyError):  # an unreadable thumbnail: no icon, the menu still works
        return "NONE"


def has_thumbnails(context: bpy.types.Context | None = None) -> bool:
    """Whether any style of the model has a thumbnail (the panels then show a picture grid)."""
    return any(entry.thumbnail is not None for entry in entries(context))


def menu_property(storage: str, slot: int = 1, *, name: str = "Style",
                  description: str = "Style of the StyleBank model (Preferences: Model Folder)"):
    """An ``EnumProperty`` listing the model's styles that reads and writes the string ``storage``.

    Args:
        storage: Name of the ``StringProperty`` holding the style's identifier.
        slot: Fusion slot (1-based): which default an empty string stands for.
        name: The field's label.
        description: Its tooltip.
    """

    def items(self, context):
        stored = getattr(self, storage).strip()
        found = entries(context)
        listed = [(e.name, e.label, f"{e.label} ({e.name})", _icon(e.thumbnail), item_number(e.name)) for e in found]
        if stored and stored not in {e.name for e in found}:
            listed.append((stored, f"{stored} (not in the model)", "This style is not in the model of the "
                           "Preferences' Model Folder: pick another", "ERROR", item_number(stored)))
        if not listed:
            listed = [(NO_STYLES, "No styles found", "The model folder in the Preferences has no styles",
                       "ERROR", 0)]
        _ITEMS[(self.as_pointer(), storage)] = listed
        return listed

    def get(self) -> int:
        chosen = resolved(self, storage, slot)
        return item_number(chosen) if chosen else 0

    def set(self, value: int) -> None:
        candidates = [*style_names(), getattr(self, storage).strip()]
        match = next((n for n in candidates if n and item_number(n) == value), None)
        if match is not None:
            setattr(self, storage, match)

    return bpy.props.EnumProperty(name=name, description=description, items=items, get=get, set=set)


class FusionSlots:
    """Styles 2–4 of a fusion and the four weights: what the Fusion node and the sequencer/Image Editor
    settings share (a mixin of property annotations; each keeps its own style 1 and style count)."""

    style_2: bpy.props.StringProperty(name="Style 2 Name", description="Identifier of style 2 (empty = a default)")
    style_3: bpy.props.StringProperty(name="Style 3 Name", description="Identifier of style 3 (empty = a default)")
    style_4: bpy.props.StringProperty(name="Style 4 Name", description="Identifier of style 4 (empty = a default)")
    style_2_menu: menu_property("style_2", 2, name="Style 2")
    style_3_menu: menu_property("style_3", 3, name="Style 3")
    style_4_menu: menu_property("style_4", 4, name="Style 4")
    weight_1: bpy.props.FloatProperty(name="Weight 1", default=1.0, min=0.0, soft_max=1.0)
    weight_2: bpy.props.FloatProperty(name="Weight 2", default=1.0, min=0.0, soft_max=1.0)
    weight_3: bpy.props.FloatProperty(name="Weight 3", default=1.0, min=0.0, soft_max=1.0)
    weight_4: bpy.props.FloatProperty(name="Weight 4", default=1.0, min=0.0, soft_max=1.0)


def draw(layout: bpy.types.UILayout, owner, menu: str, text: str | None = None) -> None:
    """Draw a style menu: a picture grid when the model has thumbnails, else a drop-down."""
    if has_thumbnails() and hasattr(layout, "template_icon_view"):
        column = layout.column(align=True)
        column.template_icon_view(owner, menu, show_labels=True, scale=4.0, scale_popup=5.0)
        column.prop(owner, menu, text="" if text is None else text)
        return
    if text is None:
        layout.prop(owner, menu)
    else:
        layout.prop(owner, menu, text=text)


def forget_cache() -> None:
    """Read every model's ``model.toml`` again at the next draw (a style was added or removed)."""
    _ENTRIES.clear()


def unregister() -> None:
    """Free the thumbnails and forget the caches (add-on unregister)."""
    global _PREVIEWS
    if _PREVIEWS is not None:
        import bpy.utils.previews  # noqa: PLC0415

        bpy.utils.previews.remove(_PREVIEWS)
        _PREVIEWS = None
    _ITEMS.clear()
    _ENTRIES.clear()
