"""The compositor nodes stylise renders in headless Blender: F12/-f stills, coherent -a sequences.

Each Blender run is ``blender_scripts/nst_checks.py MODE`` under PyPI ``bpy`` in a subprocess with
a timeout (``bpy`` can hang at interpreter exit); scenes are 64×48 (fusion 128×96), 1 Cycles
sample. The StyleBank model is a tiny random one (width 4, styles ``a`` and ``b``) whose banks get
random residuals (a fresh bank is the identity). The pictures the runs write are checked here with
core's readers and metrics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.imaging.color_space import linear_to_srgb
from core.io.images import read_image
from core.video.temporal_metrics import warping_error
from tests.addon.helpers import run_check_script, tiny_model

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "nst_checks.py"
ERROR_LINE = "Neural Style Transfer: error: "


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def run_checks(mode: str, tmp_path: Path, *, timeout: int = 120, repo: Path = REPO, model: Path | None = None,
               blend: Path | None = None, user: str = "user") -> tuple[dict, subprocess.CompletedProcess]:
    """Run one mode of nst_checks.py; return its checks (failing the test with its output otherwise)."""
    out = tmp_path / mode
    out.mkdir(exist_ok=True)
    return run_check_script(SCRIPT, mode, ["--repo", str(repo), "--user-resources", str(tmp_path / user),
                                           "--out", str(out), "--model", str(model or ""), "--blend", str(blend or "")],
                            cwd=tmp_path, timeout=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StyleBank model with styles ``a`` and ``b`` whose banks change the image."""
    return tiny_model(tmp_path_factory.mktemp("model") / "stylebank", seed=0)


def _srgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) display values in [0, 1]."""
    return read_image(path).srgb()[0].permute(1, 2, 0).numpy()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(ERROR_LINE)]


# ------------------------------------------------------------------------------------------


def test_blender_compat_helpers(tmp_path: Path) -> None:
    """addon/blender_compat.py: compositor tree and output, formats, File Output, sequencer, F-Curves."""
    checks, _ = run_checks("compat", tmp_path)
    assert checks["tree"][0] and checks["file_output"][0] and checks["effect"][0] and checks["curves"][0]


def test_register_unregister_twice_and_job_runner(tmp_path: Path) -> None:
    checks, _ = run_checks("register", tmp_path)
    assert checks["unregistered_2"][0] and checks["registered_2"][0]
    assert checks["jobs_order"][1] == ["job0", "job1", "job2"]


def test_registers_and_reports_missing_torch(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("without_torch", tmp_path, model=model)
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and "PyTorch" in errors[0] and "Preferences" in errors[0], errors
    assert checks["node_status"][1].startswith("Error: PyTorch")


def test_settings_survive_save_and_reload_and_f_writes_the_stylised_still(tmp_path: Path, model: Path) -> None:
    blend = tmp_path / "project" / "scene.blend"
    blend.parent.mkdir()
    run_checks("save", tmp_path, model=model, blend=blend)
    checks, proc = run_checks("reload_still", tmp_path, model=model, blend=blend)
    assert not _error_lines(proc.stderr)
    paths = checks["paths"][1]
    assert Path(paths["stylized"]).parent.parent == blend.parent / "nst" / "Paint"
    # The network's input is the render through the scene's view transform (AgX by default): the same
    # pixels Blender itself saved as the user's 8-bit PNG, up to its rounding and dither (intensity 1).
    display, render, stylized = _srgb(paths["display"]), _srgb(paths["render"]), _srgb(paths["stylized"])
    assert np.abs(display - render).max() <= 2.0 / 255
    assert np.abs(display - render).mean() <= 0.6 / 255  # 4.5/5.x: < 0.5/255; Blender 4.2 gave 0.53/255
    assert stylized.shape == render.shape
    assert np.abs(stylized - render).mean() > 0.02  # it was stylised


def test_coherent_sequence_has_lower_warping_error(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("coherence", tmp_path, model=model, timeout=240)
    assert not _error_lines(proc.stderr)
    errors = {}
    for label, result in checks["frames"][1].items():
        root = Path(result["root"])
        outputs = [_srgb(root / "stylized" / f"frame_{i:04d}.png") for i in range(1, 7)]
        inputs = [_srgb(root / "input" / f"frame_{i:04d}.png") for i in range(1, 7)]
        errors[label] = warping_error(outputs, inputs)
    assert errors["coherent"] < 0.5 * errors["per_frame"], errors


def test_render_with_the_threaded_runner_as_in_the_ui(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("threaded", tmp_path, model=model)
    assert not _error_lines(proc.stderr)
    assert checks["frames"][0]


@pytest.mark.slow
def test_gatys_method_through_the_node(tmp_path: Path) -> None:
    from core.io.images import write_image  # noqa: PLC0415

    (tmp_path / "gatys").mkdir()
    stripes = np.zeros((3, 32, 32), np.float32)
    stripes[0, :, ::4] = 1.0
    stripes[2, ::4, :] = 1.0
    write_image(tmp_path / "gatys" / "style.png", stripes)
    checks, proc = run_checks("gatys", tmp_path, timeout=240)
    assert not _error_lines(proc.stderr)
    root = Path(checks["paths"][1]["root"])
    for frame in (1, 2):
        stylized, display = (_srgb(root / d / f"frame_{frame:04d}.png") for d in ("stylized", "input"))
        assert np.abs(stylized - display).mean() > 0.01


def test_bad_cases_report_one_clear_error_and_keep_the_render_output(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("bad", tmp_path, model=model)
    expected = {
        "no_style": "no style chosen",
        "missing_model": "no_model",
        "unknown_style": "no_such_style",
        "unconnected": "Image input is not connected",
    }
    for case, words in expected.items():
        section = proc.stderr.split(f"NST_CASE {case}\n", 1)[1].split(f"NST_CASE_END {case}", 1)[0]
        errors = _error_lines(section)
        assert len(errors) == 1 and words in errors[0], (case, errors)
        assert words in checks[f"{case}_status"][1]
    paths = checks["paths"][1]
    reference = _srgb(paths["reference"])  # rendered with the node muted
    for case, render in paths["renders"].items():
        assert np.array_equal(_srgb(render), reference), case
    assert not os.path.isdir(paths["stylized_dir"]) or not os.listdir(paths["stylized_dir"])


def test_replace_render_output_writes_the_stylised_frames_in_the_users_format(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("replace", tmp_path, model=model)
    assert not _error_lines(proc.stderr)
    out = checks["replaced"][1]
    for path in out["png"]["render"]:
        stylized = _srgb(Path(out["png"]["stylized"]) / Path(path).name)
        assert np.abs(_srgb(path) - stylized).max() <= 2.0 / 255
    # The EXR holds scene-linear values; through the view transform again they give the stylised frame back
    # (AgX is inverted by the OCIO config's own inverse LUT: close, not exact).
    first = Path(out["exr"]["render"][0])
    stylized = _srgb(Path(out["exr"]["stylized"]) / (first.stem + ".png"))
    through_view = _srgb(checks["exr_view_png"][1])
    assert np.abs(through_view - stylized).mean() < 0.01
    assert read_image(first).colorspace == "linear"


def test_the_result_where_you_look(tmp_path: Path, model: Path) -> None:
    """A frame composites with the render itself (no stale stylised frame); a wired node writes stylised frames."""
    checks, proc = run_checks("routing", tmp_path, model=model)
    assert not _error_lines(proc.stderr)
    paths = checks["paths"][1]
    for raw, auto in zip(paths["renders"]["raw"], paths["renders"]["auto"]):
        rendered, written = _srgb(raw), _srgb(auto)
        stylized = _srgb(Path(paths["stylized"]) / Path(auto).name)
        assert (rendered[..., 0] - rendered[..., 1]).mean() < 0.5  # not the stale red image routed in before
        assert np.abs(written - stylized).max() <= 2.0 / 255  # wired: Blender's file is the stylised frame
        assert np.abs(rendered - stylized).mean() > 0.015  # the raw render is not the stylised frame


def test_colour_pipeline_uses_the_scene_view_transform(tmp_path: Path) -> None:
    checks, _ = run_checks("colour", tmp_path)
    results = checks["colorspaces"][1]
    from core.io.exr import decode_exr  # noqa: PLC0415 - raw values, NaN kept

    linear, _ = decode_exr(tmp_path / "colour" / "linear.exr")
    standard = _srgb(results["Standard"]["png"])
    assert np.isfinite(standard).all()
    import torch  # noqa: PLC0415

    expected = linear_to_srgb(torch.from_numpy(np.clip(linear[:4, :, :3], 0.0, 1.0))).numpy()
    assert np.abs(standard[:4] - expected).max() < 1e-4  # the sRGB curve, 16-bit PNG
    patches = standard[4:8]  # columns: NaN, +Inf, −Inf, −1 (16 each)
    assert patches[:, :16].max() == 0.0 and patches[:, 16:32].min() == 1.0  # NaN → 0, +Inf → 1
    assert patches[:, 32:].max() == 0.0  # −Inf and negative values → 0
    agx = _srgb(results["AgX"]["png"])
    assert np.isfinite(agx).all() and agx[0, -1, 0] < 1.0  # AgX compresses the HDR end instead of clipping
    for view, max_error, mean_error in (("Standard", 1e-4, 1e-5), ("Filmic", 5e-3, 1e-4), ("AgX", 0.06, 5e-3)):
        display, again = _srgb(results[view]["png"])[:4], _srgb(results[view]["again"])[:4]
        error = np.abs(display - again)
        assert error.max() < max_error and error.mean() < mean_error, (view, error.max(), error.mean())


def test_fusion_masks_choose_the_style_per_region(tmp_path: Path, model: Path) -> None:
    checks, proc = run_checks("fusion", tmp_path, model=model)
    assert not _error_lines(proc.stderr)
    paths = checks["paths"][1]
    import cv2  # noqa: PLC0415

    from core.io.exr import read_exr_channels  # noqa: PLC0415

    channels = read_exr_channels(paths["mask"])
    # R on 4.5 and 5.x (the capture's RGBA format); 4.2 named a float input's channel otherwise.
    name = next((c for c in ("R", "V", "Y") if c in channels), sorted(channels)[0])
    mask = (channels[name] > 0.5).astype(np.uint8)
    assert abs(mask[:, :64].mean() - 1.0) < 0.05 and mask[:, 64:].mean() < 0.05  # the left half
    # Compare away from the region border (the banks work on 1/8-resolution features).
    kernel = np.ones((33, 33), np.uint8)
    inside, outside = cv2.erode(mask, kernel) > 0, cv2.erode(1 - mask, kernel) > 0
    fusion, a, b = _srgb(paths["fusion"]), _srgb(paths["single_a"]), _srgb(paths["single_b"])
    diff_a, diff_b = np.abs(fusion - a).mean(-1), np.abs(fusion - b).mean(-1)
    assert inside.sum() > 1000 and outside.sum() > 1000
    # Not equal: the network's instance normalisation sees the whole image, so each region feels the other.
    assert diff_a[inside].mean() < 0.5 * diff_b[inside].mean(), (diff_a[inside].mean(), diff_b[inside].mean())
    assert diff_b[outside].mean() < 0.5 * diff_a[outside].mean(), (diff_b[outside].mean(), diff_a[outside].mean())


def test_make_addon_zip_registers_from_its_contents(tmp_path: Path, model: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dist = tmp_path / "dist"
    proc = subprocess.run(["make", "-s", "addon", f"ADDON_DIR={dist}"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
    archive = dist / f"{manifest['id']}-{manifest['version']}.zip"
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unpacked")
    top = {name.split("/")[0] for name in names}
    assert {"core", "addon", "vendored_models", "blender_manifest.toml", "__init__.py"} <= top
    assert not top & {"tests", "docs", "bench", ".venv", "Makefile", ".ruff_cache"}
    checks, _ = run_checks("zip", tmp_path, repo=tmp_path / "unpacked", model=model)
    assert checks["stylized_from_zip"][0]


@pytest.mark.slow
def test_analogy_node_gives_the_render_the_reference_look(tmp_path: Path) -> None:
    from core.io.images import write_image  # noqa: PLC0415
    from tests.conftest import photo  # noqa: PLC0415

    (tmp_path / "analogy").mkdir()
    write_image(tmp_path / "analogy" / "style.png", photo("coffee", 128))
    checks, proc = run_checks("analogy", tmp_path, timeout=300)
    assert not _error_lines(proc.stderr)
    root = Path(checks["paths"][1]["root"])
    for frame in (1, 2):
        stylized, display = (_srgb(root / d / f"frame_{frame:04d}.png") for d in ("stylized", "input"))
        assert stylized.shape == display.shape
        assert np.abs(stylized - display).mean() > 0.02
