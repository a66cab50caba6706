"""Blender's Vector and Depth passes, rendered for real, against core.video.flow's documented convention.

A headless Cycles render (PyPI ``bpy``, CPU, 1 sample, motion blur off) of a textured cube
sliding over a textured static plane, seen by an orthographic camera at 10 pixels per Blender
unit, so every motion is a whole number of pixels. The cube is keyed linearly at
``(x, y) = (-2, -1), (0, 0), (1, 0)`` on frames 1, 2, 3: from frame 1 to 2 it moves 20 px right
and 10 px up the image, from 2 to 3 another 10 px right. Frames 1-3 are rendered to multilayer
EXRs (Combined, Vector, Depth) in a subprocess (``bpy`` can hang at interpreter exit), then read
with :func:`core.io.exr.read_exr_channels` and checked here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.io.exr import read_exr_channels
from core.video.flow import depth_occlusion, vector_confidence, warp
from core.video.render_passes import exr_depth_pass, exr_vector_pass, vectors_to_flow

pytestmark = pytest.mark.blender

TIMEOUT_S = 60
RESULT_PREFIX = "NST_RESULT "
NO_BPY = "NST_NO_BPY"
PX_PER_UNIT = 10.0
TO_PREV = (-20.0, 10.0)  # frame 2 -> 1 in our convention (x right, y down), pixels
TO_NEXT = (10.0, 0.0)  # frame 2 -> 3

RENDER_SCRIPT = r'''
import json, os, sys
try:
    import bpy
except ImportError as exc:
    print("NST_NO_BPY", exc, flush=True)
    os._exit(3)

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.cycles.use_adaptive_sampling = False
scene.cycles.use_denoising = False
scene.cycles.filter_width = 0.01  # point sampling: no anti-aliasing across the cube's edges
scene.cycles.seed = 0
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.render.resolution_percentage = 100
scene.render.use_motion_blur = False
layer = scene.view_layers[0]
layer.use_pass_vector = True
layer.use_pass_z = True

cam_data = bpy.data.cameras.new("cam")
cam_data.type = "ORTHO"
cam_data.ortho_scale = 6.4  # 64 px across 6.4 units: 10 px per unit
cam = bpy.data.objects.new("cam", cam_data)
cam.location = (0.0, 0.0, 10.0)  # looking down -Z, image up = +Y
scene.collection.objects.link(cam)
scene.camera = cam


def emission_checker(name, scale, c1, c2):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out_node = nodes.new("ShaderNodeOutputMaterial")
    emit = nodes.new("ShaderNodeEmission")
    coords = nodes.new("ShaderNodeTexCoord")
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = scale
    checker.inputs["Color1"].default_value = c1
    checker.inputs["Color2"].default_value = c2
    links.new(coords.outputs["Object"], checker.inputs["Vector"])  # texture moves with the object
    links.new(checker.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out_node.inputs["Surface"])
    return mat


bpy.ops.mesh.primitive_plane_add(size=20.0, location=(0.0, 0.0, 0.0))
bpy.context.active_object.data.materials.append(
    emission_checker("plane", 3.0, (0.8, 0.8, 0.1, 1.0), (0.05, 0.1, 0.6, 1.0))
)
bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.0, 0.0, 1.0))
cube = bpy.context.active_object
cube.data.materials.append(emission_checker("cube", 2.0, (1.0, 0.1, 0.1, 1.0), (0.2, 0.9, 0.3, 1.0)))
for frame, (x, y) in ((1, (-2.0, -1.0)), (2, (0.0, 0.0)), (3, (1.0, 0.0))):
    cube.location = (x, y, 1.0)
    cube.keyframe_insert("location", frame=frame)
for curve in cube.animation_data.action.fcurves:
    for key in curve.keyframe_points:
        key.interpolation = "LINEAR"

settings = scene.render.image_settings
settings.file_format = "OPEN_EXR_MULTILAYER"
settings.color_depth = "32"
files = []
for frame in (1, 2, 3):
    scene.frame_set(frame)
    scene.render.filepath = os.path.join(out, f"frame_{frame}.exr")
    bpy.ops.render.render(write_still=True)
    files.append(scene.render.filepath)
print("NST_RESULT " + json.dumps({"files": files, "version": bpy.app.version_string}), flush=True)
os._exit(0)
'''


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    """Render frames 1-3 and return each frame's EXR channels."""
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("PyPI bpy is not installed: pip install -e '.[test]'")
    root = tmp_path_factory.mktemp("vectors")
    script = root / "render_vectors.py"
    script.write_text(RENDER_SCRIPT, encoding="utf-8")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(root / "blender_user")}
    try:
        proc = subprocess.run(
            [sys.executable, str(script), str(root)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            env=env,
            cwd=root,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"the bpy render ran past {TIMEOUT_S} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        )
    if proc.returncode == 3 and NO_BPY in proc.stdout:
        pytest.skip(f"bpy cannot be imported: {proc.stdout.strip()}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        pytest.fail(
            f"the bpy render exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    files = json.loads(lines[-1][len(RESULT_PREFIX) :])["files"]
    return [read_exr_channels(Path(f)) for f in files]


def _rgb(channels: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([channels[f"ViewLayer.Combined.{c}"] for c in "RGB"], axis=-1)


def _cube(channels: dict[str, np.ndarray]) -> np.ndarray:
    """The cube's top face (depth 8.5; the plane is at 10)."""
    return exr_depth_pass(channels) < 9.0


def test_exr_holds_the_passes(render: list[dict[str, np.ndarray]]) -> None:
    names = set(render[1])
    assert {f"ViewLayer.Vector.{c}" for c in "XYZW"} <= names
    assert "ViewLayer.Depth.Z" in names
    vec = exr_vector_pass(render[1])
    assert vec.shape == (48, 64, 4) and np.isfinite(vec).all()
    depth = exr_depth_pass(render[1])
    assert sorted(np.unique(depth).tolist()) == pytest.approx([8.5, 10.0])


def test_vector_pass_matches_the_known_motion(render: list[dict[str, np.ndarray]]) -> None:
    to_prev, to_next = vectors_to_flow(exr_vector_pass(render[1]))
    cube = _cube(render[1])
    assert cube.sum() == 100  # a 10×10 px top face
    np.testing.assert_allclose(to_prev[cube], np.broadcast_to(TO_PREV, (100, 2)), atol=1e-3)
    np.testing.assert_allclose(to_next[cube], np.broadcast_to(TO_NEXT, (100, 2)), atol=1e-3)
    assert not to_prev[~cube].any() and not to_next[~cube].any()  # the plane does not move
    # The cube's footprint on frames 1 and 3 is its footprint on frame 2 moved by the flows.
    rows, cols = np.nonzero(cube)
    for frame, (dx, dy) in ((0, TO_PREV), (2, TO_NEXT)):
        other_rows, other_cols = np.nonzero(_cube(render[frame]))
        assert (other_rows.mean(), other_cols.mean()) == pytest.approx((rows.mean() + dy, cols.mean() + dx))
    # And the projection of the keyed motion: 20 px right and 10 px up (rows down) per 2 units / 1 unit.
    assert TO_PREV == (-2.0 * PX_PER_UNIT, 1.0 * PX_PER_UNIT)


def test_warping_the_previous_render_reproduces_the_current_one(
    render: list[dict[str, np.ndarray]],
) -> None:
    rgb_prev, rgb_t, rgb_next = (_rgb(c) for c in render)
    flow, conf = vector_confidence(
        exr_vector_pass(render[1]), exr_depth_pass(render[1]), exr_depth_pass(render[0])
    )
    err = np.abs(warp(rgb_prev, flow) - rgb_t).sum(axis=-1)
    cube = _cube(render[1])
    # The cube's core is fully trusted; its edge (a motion boundary) fades out over 3 px.
    assert conf[cube].max() == 1.0 and (cube & (conf == 1.0)).sum() >= 16
    assert (conf > 0.99).mean() > 0.6
    # Point-sampled render, whole-pixel motion: wherever the warp is trusted at all it is exact.
    assert err[conf > 0.0].max() < 1e-3
    assert np.abs(rgb_prev - rgb_t).sum(axis=-1)[cube].mean() > 0.3  # without the warp it differs
    # Where the cube was on frame 1 the plane is uncovered on frame 2: depth flags it and the
    # warped previous frame is indeed wrong there.
    uncovered = _cube(render[0]) & ~cube
    visible = depth_occlusion(exr_depth_pass(render[1]), exr_depth_pass(render[0]), flow)
    assert visible[uncovered].max() == 0.0 and conf[uncovered].max() == 0.0
    assert err[uncovered].mean() > 0.3
    # The flow towards the next frame pulls frame 3 back onto frame 2 on the cube.
    _, to_next = vectors_to_flow(exr_vector_pass(render[1]))
    err_next = np.abs(warp(rgb_next, to_next) - rgb_t).sum(axis=-1)
    assert err_next[cube].max() < 1e-3
