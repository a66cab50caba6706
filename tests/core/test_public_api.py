"""``import core``: a lazy public API; requests, settings, errors and the CLI load without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "cv2", "OpenEXR", "PIL")

_PROBE = """
import json, sys
import core
from core import AnalogyRequest, NSTError, SettingsError, StylizeRequest, VideoRequest
import core.cli, core.requests, core.foundation.errors, core.foundation.progress
from pathlib import Path
for bad in (StylizeRequest(content=Path("c.png"), output=Path("o.png")),
            VideoRequest(source=Path("s"), output=Path("o"), keep=2.0),
            AnalogyRequest(a=Path("a.png"), b_prime=Path("b.png"), output=Path("o"), result_size=0),
            core.LearnStyleRequest(name="../x", style_image=Path("p.png"), model_dir=Path("m"), content=Path("c"))):
    try:
        bad.validate()
    except NSTError as exc:
        assert exc.setting, exc
    else:
        raise AssertionError(bad)
assert issubclass(SettingsError, core.InputError)
try:
    core.cli.app.build_parser().parse_args(["stylize", "--help"])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in json.loads(sys.argv[1]))))
"""


def test_requests_errors_and_the_cli_need_no_torch() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_every_public_name_resolves() -> None:
    import core

    assert "run_stylize" in dir(core) and set(core.__all__) <= set(dir(core))
    for name in core.__all__:
        assert getattr(core, name) is not None, name
    assert core.load_stylebank.__name__ == "load_model"
    assert core.run_analogy.__module__ == "core.jobs.analogy"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        core.nope  # noqa: B018


def test_cli_hint_names_the_option(capsys, tmp_path: Path) -> None:
    from core.cli import main

    content = tmp_path / "c.png"
    assert main(["stylize", str(content), "-o", str(tmp_path / "o.png"), "--method", "stylebank", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the stylebank method needs at least one style name (--style NAME")
    assert len(err.strip().splitlines()) == 1


def test_pip_installs_every_package_as_blender_nst() -> None:
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"blender_nst": "core"}
    packages = {"blender_nst" + "".join("." + part for part in p.parent.relative_to(REPO / "core").parts)
                for p in (REPO / "core").rglob("__init__.py")}
    assert set(setuptools["packages"]) == packages
