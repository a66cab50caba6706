"""``core``'s packages import only downwards: foundation ← requests ← imaging ← io, nn ← methods ← video ← engine ← jobs ← cli.

Every import statement of every core module (lazy ones inside functions too) is resolved to the
package it reaches; a package may import from itself and from packages of a lower layer only.
``docs/design.md`` draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"

#: Layer of each package, lowest first. Packages of one layer do not import each other.
LAYERS = {
    "foundation": 0,
    "requests": 1,
    "imaging": 2,
    "io": 3,
    "nn": 3,
    "gatys": 4,
    "stylebank": 4,
    "analogy": 4,
    "video": 5,
    "engine": 6,
    "jobs": 7,
    "cli": 8,
}
#: Leaf packages: no torch, numpy or OpenCV anywhere inside (front ends import them freely).
TORCH_FREE = ("foundation/errors.py", "foundation/progress.py", "foundation/atomic_write.py", "foundation/registry.py",
              "requests", "cli/__init__.py", "cli/app.py", "cli/common.py", "cli/stylize.py", "cli/video.py",
              "cli/analogy.py", "cli/stylebank.py", "engine/settings.py", "jobs/strip_record.py",
              "jobs/learn_style.py")
HEAVY = ("torch", "numpy", "cv2", "OpenEXR", "PIL", "h5py", "safetensors")


def _package_of(path: Path) -> str | None:
    parts = path.relative_to(CORE).parts
    return parts[0] if len(parts) > 1 else None


def _imported_packages(path: Path) -> set[tuple[str, int]]:
    """``(core package, line)`` of every relative import in ``path`` that reaches another package.

    Raises:
        AssertionError: ``path`` imports core absolutely (core must work under any package name).
    """
    depth = len(path.relative_to(CORE).parts) - 1  # 1 for core/io/x.py
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > depth:  # leaves the module's own package
            target = (node.module or "").split(".")[0]
            names = [target] if target else [a.name for a in node.names]
            found |= {(n, node.lineno) for n in names if n in LAYERS}
        absolute = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        assert not any(m.split(".")[0] == "core" for m in absolute), f"{path}:{node.lineno}: absolute import of core"
    return found


def test_layers_cover_every_package() -> None:
    packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)


def test_imports_only_go_downwards() -> None:
    wrong = []
    for path in sorted(CORE.rglob("*.py")):
        package = _package_of(path)
        if package is None:  # core/__init__.py (the lazy public API) and core/__main__.py sit on top
            continue
        for target, line in _imported_packages(path):
            if target != package and LAYERS[target] >= LAYERS[package]:
                wrong.append(f"{path.relative_to(CORE)}:{line} imports core.{target}")
    assert wrong == []


def test_leaf_modules_import_nothing_heavy() -> None:
    heavy = []
    for spec in TORCH_FREE:
        paths = sorted((CORE / spec).rglob("*.py")) if (CORE / spec).is_dir() else [CORE / spec]
        for path in paths:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                           for n in ast.walk(f)}
            for node in ast.walk(tree):
                if id(node) in in_function:
                    continue  # lazy imports inside functions are the point of the CLI's commands
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                heavy += [f"{path.relative_to(CORE)}:{node.lineno} {m}" for m in mods if m and m.split(".")[0] in HEAVY]
    assert heavy == []


def test_the_check_sees_what_it_should() -> None:
    found = {t for t, _ in _imported_packages(CORE / "jobs" / "stylize.py")}
    assert {"foundation", "gatys", "io", "nn", "requests", "imaging", "stylebank"} <= found
    assert {t for t, _ in _imported_packages(CORE / "requests" / "video.py")} == {"foundation"}
    assert {t for t, _ in _imported_packages(CORE / "gatys" / "tiling.py")} == {"foundation"}  # `.solver` stays inside
