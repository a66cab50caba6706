"""Stylize Strip (Video Sequencer) and Stylize Image (Image Editor) in headless Blender.

Each Blender run is ``blender_scripts/vse_checks.py MODE`` under PyPI ``bpy`` in a subprocess
with a timeout (``bpy`` can hang at interpreter exit). Footage is tiny (64×48 MJPG movie of 8
frames, 6 PNG frames), the StyleBank model a random one (width 4, styles ``a`` and ``b``) whose
banks get random residuals (a fresh bank is the identity).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.addon.helpers import run_check_script, tiny_model

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "vse_checks.py"



def run_mode(mode: str, tmp_path: Path, model: Path, media: Path, *, blend: Path | None = None, timeout: int = 180,
             expect_exit: int | None = None) -> tuple[dict, subprocess.CompletedProcess]:
    """Run one mode of vse_checks.py; return its checks (failing the test with its output otherwise)."""
    out = tmp_path / mode
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return run_check_script(SCRIPT, mode, ["--repo", str(REPO), "--user-resources", str(tmp_path / "user"),
                                           "--out", str(out), "--model", str(model), "--media", str(media),
                                           "--blend", str(blend or "")],
                            cwd=tmp_path, timeout=timeout, env=env, expect_exit=expect_exit)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StyleBank model with styles ``a`` and ``b`` whose banks change the image."""
    return tiny_model(tmp_path_factory.mktemp("model") / "stylebank", seed=0)


def _frame(i: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A textured frame whose content pans right by 3 px per frame; (H, W, 3) float32 in [0, 1]."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - 3 * i
    r = 0.5 + 0.5 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 0.5 + 0.5 * np.sin((x + y) / 9.0)
    b = ((np.floor(x / 8) + np.floor(y / 8)) % 2) * 0.6 + 0.2
    return np.stack([r, g, b], axis=-1)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clip.avi (8 frames, MJPG), seq/frame_0001–0006.png, broken.avi, style.png, reference.png, photo.png."""
    cv2 = pytest.importorskip("cv2")
    from core.io.images import write_image

    folder = tmp_path_factory.mktemp("media")
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 24, (64, 48))
    assert writer.isOpened()
    for i in range(8):
        writer.write(np.ascontiguousarray((_frame(i)[:, :, ::-1] * 255).round().astype(np.uint8)))
    writer.release()
    (folder / "seq").mkdir()
    for i in range(6):
        write_image(folder / "seq" / f"frame_{i + 1:04d}.png", np.transpose(_frame(i), (2, 0, 1)))
    (folder / "broken.avi").write_bytes(b"RIFF this is not a movie" * 40)
    stripes = np.zeros((3, 64, 64), np.float32)
    stripes[0, :, ::8] = 1.0
    stripes[2, ::6, :] = 0.8
    write_image(folder / "style.png", stripes)
    write_image(folder / "reference.png", np.ascontiguousarray(np.transpose(_frame(5, (80, 80))[:, :, ::-1], (2, 0, 1))))
    write_image(folder / "photo.png", np.transpose(_frame(2, (64, 96)), (2, 0, 1)))
    return folder


# ------------------------------------------------------------------------------------------


def test_stylize_movie_and_image_strips_update_and_errors(tmp_path: Path, model: Path, media: Path) -> None:
    checks, proc = run_mode("strips", tmp_path, model, media)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 4 and len(set(errors)) == 4, errors  # one line per failed run, nothing else
    movie = checks["movie_placed"][1]
    assert movie["final"] == [12, 17] and movie["channel"] == 2 and len(movie["elements"]) == 8
    # frames outside the visible range hold the nearest stylised frame
    assert movie["elements"][:3] == ["frame_0003.png"] * 3 and movie["elements"][-1] == "frame_0007.png"
    assert checks["images_placed"][1]["final"] == [40, 46]


def test_killed_job_resumes_and_equals_an_uninterrupted_run(tmp_path: Path, model: Path, media: Path) -> None:
    blend = tmp_path / "project" / "edit.blend"
    _, proc = run_mode("kill", tmp_path, model, media, blend=blend, expect_exit=3)
    folder = blend.parent / "nst_strips" / "clip"
    assert sorted(p.name for p in folder.glob("frame_*.png")) == [f"frame_{i:04d}.png" for i in (2, 3, 4)]
    checks, _ = run_mode("resume", tmp_path, model, media, blend=blend)
    assert Path(checks["paths"][1]["folder"]) == folder

    # the same strip, stylised in one go in another project
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    checks, _ = run_mode("whole", fresh, model, media, blend=fresh / "project" / "edit.blend")
    whole = sorted(Path(checks["paths"][1]["folder"]).glob("frame_*.png"))
    resumed = sorted(folder.glob("frame_*.png"))
    assert [p.name for p in resumed] == [p.name for p in whole] and len(resumed) == 7
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(resumed, whole))


def test_cancelled_job_continues(tmp_path: Path, model: Path, media: Path) -> None:
    run_mode("cancel", tmp_path, model, media)


def test_scene_strip_renders_with_vectors_then_stylises(tmp_path: Path, model: Path, media: Path) -> None:
    checks, _ = run_mode("scene", tmp_path, model, media)
    assert checks["scene_placed"][1]["final"] == [20, 23]


def test_image_editor_tools(tmp_path: Path, model: Path, media: Path) -> None:
    checks, _ = run_mode("image", tmp_path, model, media, timeout=400)
    results = checks["results"][1]
    for key in ("full", "fusion", "gatys"):
        assert Path(results[key][1]).is_file()
    assert Path(results["analogy"][0][1]).is_file() and Path(results["analogy"][1][1]).is_file()
