"""``core`` never imports Blender: every module imports with bpy & co. blocked, and no source names them.

Convention 1 of ``docs/STYLE.md``: core is pure Python + torch/numpy/OpenCV, so it runs standalone
(CLI, tests, a lent GPU) as well as inside the packaged extension.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE_DIR = REPO_ROOT / "core"
BLOCKED = ("bpy", "mathutils", "gpu", "bmesh", "bpy_extras", "addon")

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None  # any `import name` now raises ImportError
import core
imported = []
for info in sorted(pkgutil.walk_packages(core.__path__, "core."), key=lambda i: i.name):
    if info.name == "core.__main__":
        # Importing it runs the CLI; with --help argparse prints usage and exits 0.
        sys.argv = ["core", "--help"]
        try:
            importlib.import_module(info.name)
        except SystemExit as exc:
            assert exc.code in (0, None), f"python -m core --help exited {exc.code}"
    else:
        importlib.import_module(info.name)
    imported.append(info.name)
still_blocked = [n for n in blocked if sys.modules.get(n, None) is not None]
print(json.dumps({"imported": imported, "leaked": still_blocked}))
"""


def _core_sources() -> list[Path]:
    return sorted(CORE_DIR.rglob("*.py"))


def _module_name(path: Path) -> str:
    """``core/io/images.py`` → ``core.io.images``; ``core/io/__init__.py`` → ``core.io``."""
    parts = path.relative_to(CORE_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("core", *parts))


def test_every_core_module_imports_without_blender() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps(BLOCKED)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {_module_name(p) for p in _core_sources()} - {"core"}
    assert len(expected) > 40 and any(name.count(".") >= 2 for name in expected)  # subpackages are walked
    assert expected <= set(result["imported"]), expected - set(result["imported"])
    assert result["leaked"] == []


def _blender_imports(source: str, package_depth: int = 0) -> list[str]:
    """Blender/add-on modules a source imports, statically (``import``, ``from``, ``__import__``).

    ``package_depth`` is how far below ``core`` the source's package is (0 for ``core/x.py``, 1 for
    ``core/io/x.py``): a relative import with more dots than that plus one leaves ``core``.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in BLOCKED]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] in BLOCKED:
                found.append(node.module)
            elif node.level >= package_depth + 2:  # `from ... import addon` from core/io/x.py leaves core
                found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(arg, str) and arg.split(".")[0] in BLOCKED:
                found.append(arg)
    return found


def test_no_core_source_imports_blender() -> None:
    sources = _core_sources()
    assert len(sources) > 10
    offenders = {
        str(p.relative_to(REPO_ROOT)): hits
        for p in sources
        if (hits := _blender_imports(p.read_text(encoding="utf-8"), len(p.relative_to(CORE_DIR).parts) - 1))
    }
    assert offenders == {}


def test_static_check_catches_what_it_should() -> None:
    caught = [
        "import bpy",
        "import bpy.types",
        "from bpy.props import FloatProperty",
        "import mathutils as mu",
        "from addon import preferences",
        "from .. import addon",
        "import importlib\nimportlib.import_module('bpy')",
        "__import__('gpu')",
    ]
    for source in caught:
        assert _blender_imports(source), source
    # one package deeper (core/io/x.py): `..` stays in core, `...` leaves it
    assert not _blender_imports("from ..foundation.errors import InputError", 1)
    assert _blender_imports("from ... import addon", 1)
    assert _blender_imports("from ...addon import jobs", 1)
    fine = ["import torch", "from .errors import InputError", "x = 'import bpy'", "import bpycompat_unrelated"]
    for source in fine:
        assert not _blender_imports(source), source
