"""The extension registers in headless Blender with and without PyTorch and reports what is missing.

The Blender checks run ``blender_scripts/register_check.py`` with PyPI ``bpy`` in a subprocess with
a timeout (``bpy`` can hang at interpreter exit). ``addon/dependencies.py`` is tested in plain
Python.
"""

import functools
import importlib.util
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import numpy
import pytest

from tests import blender_pythons

REPO = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "register_check.py"
RESULT_PREFIX = "NST_RESULT "
TIMEOUT_S = 60


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def run_register_check(user_resources: Path, *extra_args: str) -> dict:
    """Run the check script under bpy and return its checks; on failure, fail with its output."""
    python = blender_pythons.current()
    if blender_pythons.bpy_version(python) is None:
        pytest.skip(f"PyPI bpy is not installed for {python}: make setup")
    command = [
        str(python),
        str(CHECK_SCRIPT),
        "--repo",
        str(REPO),
        "--user-resources",
        str(user_resources),
        *extra_args,
    ]
    try:
        proc = _run(command)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"register_check.py ran past {TIMEOUT_S} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None
    if proc.returncode != 0 or result is None or not result["ok"]:
        failed = {} if result is None else {k: v for k, v in result["checks"].items() if not v[0]}
        pytest.fail(
            f"register_check.py exited {proc.returncode}; "
            f"failed checks: {json.dumps(failed, indent=1)}\n"
            f"error: {None if result is None else result['error']}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return result["checks"]


@pytest.mark.blender
def test_registers_and_unregisters_in_blender(tmp_path: Path) -> None:
    checks = run_register_check(tmp_path)
    assert checks["defaults"][1]["iterations"] == 300
    assert checks["torch_status"][1] == {"torch_found": True}
    assert "PyTorch" in " ".join(checks["draw"][1])
    assert checks["device_line"][1] == "Device: CPU"  # no GPU on the test machines
    assert checks["draw"][1][:2] == ["operator:nst.learn_style:Learn Style from Image", "Dependencies: everything found"]


@pytest.mark.blender
def test_registers_without_torch(tmp_path: Path) -> None:
    checks = run_register_check(tmp_path, "--without-torch")
    assert checks["torch_status"][1] == {"torch_found": False}
    assert "PyTorch: missing" in checks["draw"][1]
    assert checks["device_line"][1] == "Device: PyTorch not installed"
    assert checks["install_buttons"][1]["buttons"]  # one per build this computer can use, with its size
    assert checks["learn_style_install_hint"][0]


FAILING_PIP = """#!/bin/sh
case "$2" in ensurepip) exit 0;; esac
echo "Looking in indexes: https://download.pytorch.org/whl/cpu" >&2
echo "ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)" >&2
echo "ERROR: No matching distribution found for torch==2.13.0" >&2
exit 1
"""


@pytest.mark.blender
def test_preferences_show_a_failed_install_in_one_sentence(tmp_path: Path) -> None:
    fake = tmp_path / "fake_python"
    fake.write_text(FAILING_PIP, encoding="utf-8")
    fake.chmod(0o755)
    user = tmp_path / "user"
    user.mkdir()
    checks = run_register_check(user, "--without-torch", "--failing-pip", str(fake))
    assert checks["install_failed_state"][0] and checks["install_error_in_preferences"][0]
    assert "no build of it for this Python and platform" in checks["install_error_one_sentence"][1]["message"]


@pytest.mark.blender
def test_missing_encoder_weights_are_not_green(tmp_path: Path) -> None:
    checks = run_register_check(tmp_path, "--without-hed")
    assert checks["encoder_weights_listed"][1].endswith("missing (needed by Gatys and Analogy)")
    assert checks["install_buttons"][1]["buttons"] == [
        ["operator:nst.install_dependencies:Install Encoder Weights", "WEIGHTS"]]


def _extension_cli() -> Path:
    """Blender's own extension tool (``blender -c extension``), shipped inside the bpy wheel of the
    Blender version the test runs under."""
    python = blender_pythons.current()
    if blender_pythons.bpy_version(python) is None:
        pytest.skip(f"PyPI bpy is not installed for {python}: make setup")
    found = [path for site in blender_pythons.site_packages(python)
             for path in sorted((site / "bpy").glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))]
    assert found, f"blender_ext.py not found for {python}"
    return found[-1]


@pytest.mark.blender
def test_manifest_validates_and_build_leaves_out_dev_files(tmp_path: Path) -> None:
    cli = _extension_cli()
    for args in (
        ["validate", str(REPO)],
        ["build", "--source-dir", str(REPO), "--output-dir", str(tmp_path)],
    ):
        proc = _run([str(blender_pythons.current()), str(cli), *args])
        assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
    with zipfile.ZipFile(tmp_path / f"{manifest['id']}-{manifest['version']}.zip") as archive:
        names = set(archive.namelist())
    assert {"blender_manifest.toml", "__init__.py", "addon/__init__.py"} <= names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"tests", "docs", "bench", ".venv", ".git", ".ci", "out", "Makefile"}
    assert not [name for name in names if "__pycache__" in name]


@functools.cache
def _load_dependencies() -> ModuleType:
    """Load ``addon/dependencies.py`` alone: importing the ``addon`` package needs bpy."""
    name = "nst_addon_dependencies"
    spec = importlib.util.spec_from_file_location(name, REPO / "addon" / "dependencies.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_dependency_status_without_blender(monkeypatch: pytest.MonkeyPatch) -> None:
    deps = _load_dependencies()
    numpy_dep = deps.Dependency("numpy", "NumPy", ("numpy",))
    absent = deps.Dependency("nst_no_such_module", "Absent", ("nst-no-such-dist",))
    torch_dep = next(d for d in deps.DEPENDENCIES if d.module == "torch")

    numpy_status, absent_status = deps.dependency_status((numpy_dep, absent))
    assert numpy_status.text == f"NumPy {numpy.__version__}: found"
    assert (absent_status.found, absent_status.version, absent_status.text) == (
        False,
        None,
        "Absent: missing",
    )
    assert deps.missing_modules((numpy_dep, absent)) == ("nst_no_such_module",)
    with pytest.raises(ValueError, match="top-level"):
        deps.is_installed("torch.nn")

    monkeypatch.setitem(sys.modules, "torch", None)  # as `import torch` failing
    assert deps.missing_modules((torch_dep, numpy_dep)) == ("torch",)
    assert deps.dependency_status((torch_dep,))[0].text == "PyTorch: missing"
    with pytest.raises(ModuleNotFoundError, match="PyTorch is not installed: install it from"):
        deps.torch_info()


def test_torch_info_imports_torch_when_asked() -> None:
    torch = pytest.importorskip("torch")
    info = _load_dependencies().torch_info()
    assert info.version == torch.__version__
    assert info.cuda_available == torch.cuda.is_available()
    assert info.cuda_version == torch.version.cuda


def test_private_site_dir_is_added_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = _load_dependencies()
    site = deps.private_site_dir(tmp_path)
    assert site == tmp_path / "site-packages"
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(NotADirectoryError, match="site-packages"):
        deps.add_private_site(site)
    site.mkdir()
    assert deps.add_private_site(site) is True
    assert deps.add_private_site(f"{site}/") is False
    assert sys.path.count(str(site)) == 1
