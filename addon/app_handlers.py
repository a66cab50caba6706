"""Installing and removing ``bpy.app.handlers`` entries, once each, for the add-on's modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import bpy


def install(pairs: Iterable[tuple[str, Callable]]) -> None:
    """Append each ``(handler list name, function)`` not yet installed (register is idempotent)."""
    for name, function in pairs:
        handlers = getattr(bpy.app.handlers, name)
        if function not in handlers:
            handlers.append(function)


def uninstall(pairs: Iterable[tuple[str, Callable]]) -> None:
    """Remove every occurrence of each ``(handler list name, function)``."""
    for name, function in pairs:
        handlers = getattr(bpy.app.handlers, name)
        while function in handlers:
            handlers.remove(function)
