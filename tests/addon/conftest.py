"""Run each Blender test of ``tests/addon`` once per Blender version (see ``tests/blender_pythons.py``).

Tests marked ``blender`` are parametrised by the autouse fixture ``bpy_python`` over the
versions found (or those named with ``--bpy``), ids ``[bpy4.5]``, ``[bpy5.0]``;
``@pytest.mark.bpy_versions("4.5", …)`` keeps a test to the versions it names (skipped with a
reason when none of them is available). Tests without the ``blender`` mark are not parametrised.
"""

from __future__ import annotations

import pytest

from tests import blender_pythons


def _selected(config: pytest.Config) -> list[str]:
    available = blender_pythons.available()
    wanted = [v.strip() for v in (config.getoption("--bpy") or "").split(",") if v.strip()]
    unknown = [v for v in wanted if v not in available]
    if unknown:
        raise pytest.UsageError(f"--bpy {','.join(unknown)}: no Python with that bpy; found "
                                f"{', '.join(available) or 'none'} (make setup makes .venv and .venv-bpy5)")
    return wanted or list(available)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bpy_python" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("blender") is None:
        return
    versions = _selected(metafunc.config)
    only = metafunc.definition.get_closest_marker("bpy_versions")
    if only is not None:
        versions = [v for v in versions if v in only.args]
    if not versions:
        reason = (f"needs bpy {', '.join(only.args)}" if only is not None else "no Python with bpy found") \
            + f" (available: {', '.join(blender_pythons.available()) or 'none'})"
        metafunc.parametrize("bpy_python", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             indirect=True, ids=["bpy-none"])
        return
    metafunc.parametrize("bpy_python", versions, indirect=True, ids=[f"bpy{v}" for v in versions])


@pytest.fixture(autouse=True)
def bpy_python(request: pytest.FixtureRequest):
    """The Python whose bpy the test's Blender side runs under (None for tests without Blender)."""
    version = getattr(request, "param", None)
    if version is None:
        yield None
        return
    with blender_pythons.use(version) as python:
        yield python
