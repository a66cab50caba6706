"""The compositor node's frames through the one engine: captures in, stylised PNGs out (no Blender)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.engine.settings import FrameSettings
from core.foundation.errors import InputError, ModelError, NSTError, SettingsError
from core.jobs import render_frames as fs
from core.video.render_passes import read_depth_file, read_mask_file, read_vector_file
from tests.addon.helpers import tiny_model




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
    stylizer = stylizer_module.RenderFrameStylizer(settings)
    outcomes = []
    for i, (png, vec, depth) in enumerate(pan):
        number = numbers[i] if numbers else i + 1
        files = stylizer_module.FrameFiles(frame=number, display_input=png, output=out / f"out_{i + 1:04d}.png",
                                           vectors=vec, depth=depth)
        outcomes.append(stylizer.process(files))
    return outcomes


def test_settings_errors_name_the_node_and_the_fix() -> None:
    cases = [
        (FrameSettings("N"), "node 'N': no style chosen"),
        (FrameSettings("N", style_names=("a", "")), "no style chosen"),
        (FrameSettings("N", style_names=("a", "b"), style_weights=(1.0,)), "1 weights for 2 styles"),
        (FrameSettings("N", style_names=("a",), style_weights=(0.0,)), "not all 0"),
        (FrameSettings("N", method="gatys"), "no style image chosen"),
        (FrameSettings("N", method="gatys", style_images=(Path("/no/such.png"),)), "does not exist"),
        (FrameSettings("N", style_names=("a",), size=8), "at least 16 px"),
        (FrameSettings("N", style_names=("a",), keep=2.0), "keep must be in [0, 1]"),
    ]
    for settings, words in cases:
        with pytest.raises(SettingsError) as info:
            settings.validate()
        assert words in str(info.value)
        # one error vocabulary: the add-on's settings errors are core's input errors
        assert isinstance(info.value, InputError) and isinstance(info.value, NSTError)
    FrameSettings("N", style_names=("a",)).validate()


def test_missing_model_is_a_clear_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        fs.RenderFrameStylizer(FrameSettings("N", style_names=("a",), model_dir=tmp_path / "nothing", device="cpu"))


def test_coherence_with_render_vectors_lowers_the_warping_error(tmp_path: Path, model: Path) -> None:
    from core.io.images import read_image
    from core.video.temporal_metrics import warping_error
    pan = _pan(tmp_path)
    errors = {}
    for coherent in (False, True):
        out = tmp_path / f"coherent_{coherent}"
        settings = FrameSettings("N", style_names=("a",), model_dir=model, device="cpu", coherent=coherent)
        outcomes = _run(fs, settings, pan, out)
        assert [o.motion for o in outcomes] == ([None] + ["vectors"] * 5 if coherent else [None] * 6)
        outputs = [read_image(o.output).srgb() for o in outcomes]
        inputs = [read_image(p).srgb() for p, _v, _d in pan]
        errors[coherent] = warping_error(outputs, inputs)
    assert errors[True] < 0.5 * errors[False], errors


def test_a_frame_that_does_not_follow_starts_fresh(tmp_path: Path, model: Path) -> None:
    pan = _pan(tmp_path, frames=3)
    settings = FrameSettings("N", style_names=("a",), model_dir=model, device="cpu")
    outcomes = _run(fs, settings, pan, tmp_path / "out", numbers=[1, 2, 5])
    assert [o.motion for o in outcomes] == [None, "vectors", None]
    # without vectors a following frame uses optical flow
    stylizer = fs.RenderFrameStylizer(settings)
    for i, (png, _vec, _depth) in enumerate(pan):
        outcome = stylizer.process(fs.FrameFiles(frame=i + 1, display_input=png, output=tmp_path / f"dis_{i}.png"))
    assert outcome.motion == "optical flow"


def test_working_size_and_region_masks(tmp_path: Path, model: Path) -> None:
    from core.io.images import read_image
    (png, vec, depth), = _pan(tmp_path, frames=1)
    left = np.zeros((48, 64), np.float32)
    left[:, :32] = 1.0
    _write_exr(tmp_path / "mask1.exr", {c: left for c in "RGB"} | {"A": np.ones((48, 64))})
    _write_exr(tmp_path / "mask2.exr", {c: 1.0 - left for c in "RGB"} | {"A": np.ones((48, 64))})
    small = fs.RenderFrameStylizer(FrameSettings("N", style_names=("a",), model_dir=model, device="cpu", size=32))
    outcome = small.process(fs.FrameFiles(1, png, tmp_path / "small.png"))
    assert outcome.size == (24, 32) and read_image(outcome.output).size == (48, 64)

    results = {}
    for name, settings, masks in (
        ("a", FrameSettings("N", style_names=("a",), model_dir=model, device="cpu"), ()),
        ("b", FrameSettings("N", style_names=("b",), model_dir=model, device="cpu"), ()),
        ("ab", FrameSettings("N", style_names=("a", "b"), model_dir=model, device="cpu", masks=2),
         (tmp_path / "mask1.exr", tmp_path / "mask2.exr")),
    ):
        out = fs.RenderFrameStylizer(settings).process(fs.FrameFiles(1, png, tmp_path / f"{name}.png", masks=masks))
        results[name] = read_image(out.output).srgb()[0].numpy()
    diff_a = np.abs(results["ab"] - results["a"]).mean(0)
    diff_b = np.abs(results["ab"] - results["b"]).mean(0)
    assert diff_a[:, :16].mean() < diff_b[:, :16].mean() and diff_b[:, 48:].mean() < diff_a[:, 48:].mean()


def test_motion_is_scaled_with_the_working_size() -> None:
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0, -2.0
    conf = np.ones((48, 64), np.float32)
    from core.video.flow import resize_motion

    small, small_conf = resize_motion(flow, conf, (24, 32))
    assert small.shape == (24, 32, 2) and small_conf.shape == (24, 32)
    np.testing.assert_allclose(small[..., 0], 2.0)
    np.testing.assert_allclose(small[..., 1], -1.0)


def test_depth_and_mask_captures_are_read_as_data(tmp_path: Path) -> None:
    d = np.full((8, 8), 3.0, np.float32)
    d[0, 0] = np.inf
    _write_exr(tmp_path / "depth.exr", {"R": d, "G": d, "B": d, "A": np.ones((8, 8))})
    depth = read_depth_file(tmp_path / "depth.exr")
    assert depth.shape == (8, 8) and depth[1, 1] == 3.0 and depth[0, 0] == 1e10
    m = np.full((8, 8), 0.25, np.float32)
    m[0, 0], m[0, 1] = np.nan, 7.0
    _write_exr(tmp_path / "mask.exr", {"R": m, "G": m, "B": m, "A": np.ones((8, 8))})
    mask = read_mask_file(tmp_path / "mask.exr")
    assert mask.shape == (8, 8)
    assert float(mask[0, 0]) == 0.0 and float(mask[0, 1]) == 1.0 and float(mask[2, 2]) == 0.25


def test_vector_captures_in_both_channel_namings(tmp_path: Path) -> None:
    """X,Y,Z,W (Blender 4.5+) and R,G,B,A (4.2's capture through a colour socket) give the same pass."""
    rng = np.random.default_rng(0)
    planes = [rng.normal(size=(6, 8)).astype(np.float32) for _ in range(4)]
    _write_exr(tmp_path / "xyzw.exr", dict(zip("XYZW", planes)))
    _write_exr(tmp_path / "rgba.exr", dict(zip("RGBA", planes)))
    xyzw, rgba = read_vector_file(tmp_path / "xyzw.exr"), read_vector_file(tmp_path / "rgba.exr")
    assert xyzw.shape == (6, 8, 4) and np.array_equal(xyzw, rgba) and np.array_equal(xyzw[..., 3], planes[3])
    _write_exr(tmp_path / "xyz.exr", dict(zip("XYZ", planes)))  # what a 3-D vector socket wrote on 4.2
    with pytest.raises(InputError, match="no Vector pass"):
        read_vector_file(tmp_path / "xyz.exr")
