"""Which colour space a display's view encodes to, read from an OpenColorIO config; no ``bpy``.

Blender's view transforms are OCIO views: under ``displays:`` each display lists its views and
the colour space each view encodes scene-linear values into, e.g. on the ``sRGB`` display
``Standard`` → ``sRGB`` and ``AgX`` → ``AgX Base sRGB``. An image saved through a view holds
values in that colour space; loading it back with that colour space (Blender's
``image.colorspace_settings.name``) makes Blender decode it to scene-linear values that look
the same under the same view. This module only reads the mapping; Blender does the maths.

Only the ``displays:`` block of the config is parsed (lines such as
``- !<View> {name: AgX, colorspace: AgX Base sRGB}``), which is all that is needed and keeps
this free of a YAML dependency Blender's Python lacks.
"""

from __future__ import annotations

import re

_VIEW = re.compile(r"^\s*-\s*!<View>\s*\{(?P<body>.*)\}\s*$")
_FIELD = re.compile(r"(\w+)\s*:\s*([^,]+?)\s*(?:,|$)")


def parse_display_views(config_text: str) -> dict[str, dict[str, str]]:
    """Map display → view → colour space from the text of an OCIO config.

    Args:
        config_text: The content of a ``config.ocio`` file.

    Returns:
        E.g. ``{"sRGB": {"Standard": "sRGB", "AgX": "AgX Base sRGB", …}, …}``; empty when the
        config has no ``displays:`` block.
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
    return displays


def view_colorspace(config_text: str, display: str, view: str) -> str | None:
    """The colour space ``view`` on ``display`` encodes into, or None when the config lacks it.

    >>> view_colorspace("displays:\\n  sRGB:\\n    - !<View> {name: AgX, colorspace: AgX Base sRGB}\\n",
    ...                 "sRGB", "AgX")
    'AgX Base sRGB'
    """
    return parse_display_views(config_text).get(display, {}).get(view)
