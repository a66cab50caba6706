"""Which colour space a display's view encodes to, read from an OpenColorIO config; no ``bpy``.

Blender's view transforms are OCIO views: under ``displays:`` each display lists its views and
the colour space each view encodes scene-linear values into, e.g. on the ``sRGB`` display
``Standard`` → ``sRGB`` and ``AgX`` → ``AgX Base sRGB``. An image saved through a view holds
values in that colour space; loading it back with that colour space (Blender's
``image.colorspace_settings.name``) makes Blender decode it to scene-linear values that look
the same under the same view. This module only reads the mapping; Blender does the maths.

Two forms of view, one per config generation:

* Blender 4.x (OCIO v1 style): ``- !<View> {name: AgX, colorspace: AgX Base sRGB}``: the view
  names its colour space.
* Blender 5.x (OCIO v2 display/view transforms): ``- !<View> {name: AgX, view_transform:
  AgX Base Rec.1886, display_colorspace: sRGB}``: a view transform (made for a reference
  display) followed by the display's colour space. The equivalent image colour space is
  found among the config's colour spaces, which still hold the 4.x encodings ("Legacy"
  family): ``Standard`` on display D is D's own space (``sRGB``); a view transform that is a
  colour space itself is that space (``Filmic sRGB``); else the view transform with its
  reference display swapped for the display colour space (``AgX Base Rec.1886`` on ``sRGB``
  → ``AgX Base sRGB``, ``ACES 1.3 Rec.1886`` → ``ACES 1.3 sRGB``). Without such a space the
  answer is None and the caller falls back to plain sRGB.

Only the ``displays:`` block and the colour space names of the config are parsed, which is
all that is needed and keeps this free of a YAML dependency Blender's Python lacks.
"""

from __future__ import annotations

import re

_VIEW = re.compile(r"^\s*-\s*!<View>\s*\{(?P<body>.*)\}\s*$")
_FIELD = re.compile(r"(\w+)\s*:\s*([^,]+?)\s*(?:,|$)")
_COLORSPACE_NAME = re.compile(r"^\s+name:\s*(?P<name>.+?)\s*$")


def parse_display_views(config_text: str) -> dict[str, dict[str, str | tuple[str, str]]]:
    """Map display → view → colour space (4.x) or (view transform, display colour space) (5.x).

    Args:
        config_text: The content of a ``config.ocio`` file.

    Returns:
        E.g. ``{"sRGB": {"Standard": "sRGB", "AgX": "AgX Base sRGB", …}, …}`` (4.x) or
        ``{"sRGB": {"AgX": ("AgX Base Rec.1886", "sRGB"), …}, …}`` (5.x); empty when the config
        has no ``displays:`` block.
    """
    displays: dict[str, dict[str, str]] = {}
    inside = False
    current: str | None = None
    for raw in config_text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            inside = line.strip() == "displays:"
            current = None
            continue
        if not inside:
            continue
        view = _VIEW.match(line)
        if view is None:
            if line.strip().endswith(":"):
                current = line.strip()[:-1].strip().strip("\"'")
                displays.setdefault(current, {})
            continue
        if current is None:
            continue
        fields = {k: v.strip().strip("\"'") for k, v in _FIELD.findall(view.group("body"))}
        if "name" in fields and "colorspace" in fields:
            displays[current][fields["name"]] = fields["colorspace"]
        elif "name" in fields and "view_transform" in fields and "display_colorspace" in fields:
            displays[current][fields["name"]] = (fields["view_transform"], fields["display_colorspace"])
    return displays


def colorspace_names(config_text: str) -> set[str]:
    """Names of the ``colorspaces:`` and ``display_colorspaces:`` of an OCIO config."""
    names: set[str] = set()
    inside = expect_name = False
    for raw in config_text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            inside = line.strip() in ("colorspaces:", "display_colorspaces:")
            continue
        if not inside:
            continue
        if line.strip().startswith("- !<ColorSpace>"):
            expect_name = True
            continue
        match = _COLORSPACE_NAME.match(line)
        if expect_name and match:
            names.add(match.group("name").strip("\"'"))
            expect_name = False
    return names


def _equivalent_colorspace(view_transform: str, display_colorspace: str, displays: set[str],
                           spaces: set[str]) -> str | None:
    """The image colour space a 5.x view (view transform + display colour space) encodes into."""
    if view_transform == "Standard":
        candidates = [display_colorspace]
    else:
        candidates = [view_transform]
        for reference in sorted(displays | {"sRGB", "Rec.1886"}, key=len, reverse=True):
            if view_transform.endswith(" " + reference):
                candidates.append(f"{view_transform[:-len(reference)]}{display_colorspace}")
                break
    return next((name for name in candidates if name in spaces), None)


def view_colorspace(config_text: str, display: str, view: str) -> str | None:
    """The colour space ``view`` on ``display`` encodes into, or None when the config lacks it.

    >>> view_colorspace("displays:\\n  sRGB:\\n    - !<View> {name: AgX, colorspace: AgX Base sRGB}\\n",
    ...                 "sRGB", "AgX")
    'AgX Base sRGB'
    """
    displays = parse_display_views(config_text)
    found = displays.get(display, {}).get(view)
    if isinstance(found, tuple):
        return _equivalent_colorspace(*found, set(displays), colorspace_names(config_text))
    return found
