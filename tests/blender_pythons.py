"""The Pythons with PyPI ``bpy`` that the Blender tests run under, one per Blender version.

A Blender test runs its Blender side in a subprocess: ``<python> script.py …`` where
``<python>`` can ``import bpy``. ``make setup`` makes two: ``.venv`` (bpy 4.5.15, the test
runner's own) and ``.venv-bpy5`` (bpy 5.0.1); ``make setup-bpy42`` adds ``.venv-bpy42``
(bpy 4.2.23 LTS), used whenever it exists. More can be named in ``NST_BPY_PYTHONS``
(executables separated by ``os.pathsep``).

Each Python's Blender version is read from its ``bpy-X.Y.Z.dist-info`` folder, without
importing ``bpy`` (seconds, and it may hang at exit). The first Python found for a version
wins, the test runner's own first.

The tests in ``tests/addon`` marked ``blender`` run once per version (ids ``[bpy4.5]``,
``[bpy5.0]``); ``pytest --bpy 5.0`` picks versions, and ``@pytest.mark.bpy_versions("4.5")``
limits a test to some (see ``tests/addon/conftest.py``). Inside a test,
:func:`current` is the Python of the version being run.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENVS = (".venv", ".venv-bpy5", ".venv-bpy42")
"""The repository's bpy venvs (``make setup``; ``.venv-bpy42``: ``make setup-bpy42``), in order."""

_DIST_INFO = re.compile(r"^bpy-(\d+)\.(\d+)\.(\d+)\.dist-info$")
_current: Path | None = None


def site_packages(python: Path) -> list[Path]:
    """The site-packages folders of the venv (or installation) whose executable is ``python``."""
    root = Path(os.path.abspath(python)).parent.parent
    return sorted(root.glob("lib/python3*/site-packages")) + sorted(root.glob("Lib/site-packages"))


def bpy_version(python: str | os.PathLike[str]) -> str | None:
    """``"major.minor"`` of the bpy installed for ``python``, or None when it has none."""
    for site in site_packages(Path(python)):
        for entry in site.iterdir():
            match = _DIST_INFO.match(entry.name)
            if match and (site / "bpy").is_dir():
                return f"{match.group(1)}.{match.group(2)}"
    return None


def candidates() -> list[Path]:
    """Pythons to look at: the test runner's, the repository's venvs, ``NST_BPY_PYTHONS``."""
    found = [Path(sys.executable)] + [REPO / venv / "bin" / "python" for venv in VENVS]
    found += [Path(p) for p in os.environ.get("NST_BPY_PYTHONS", "").split(os.pathsep) if p]
    return [p for p in found if p.is_file() and os.access(p, os.X_OK)]


@cache
def available() -> dict[str, Path]:
    """Blender version → a Python with that bpy, e.g. ``{"4.5": …/.venv/bin/python, "5.0": …}``."""
    pythons: dict[str, Path] = {}
    for python in candidates():
        version = bpy_version(python)
        if version is not None and version not in pythons:
            pythons[version] = python
    return dict(sorted(pythons.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))


def current() -> Path:
    """The Python of the Blender version the running test uses (the test runner's outside tests)."""
    return _current if _current is not None else Path(sys.executable)


@contextmanager
def use(version: str):
    """Make :func:`current` the Python of ``version`` inside the block."""
    global _current
    previous, _current = _current, available()[version]
    try:
        yield _current
    finally:
        _current = previous
