"""Coherent video stylisation end to end on tiny sequences: coherence, resume after a stop, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.foundation.errors import Cancelled, InputError, OutputError
from core.io.images import read_image, write_image
from core.requests.video import VideoRequest
from core.stylebank.model import save_model
from core.stylebank.net import StyleBankNet
from core.video.temporal_metrics import warping_error
from core.jobs.video import run_video
from tests.conftest import photo

H, W, FRAMES, STEP = 48, 64, 6, (3, 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = StyleBankNet(width=4, styles=("a", "b"))
    for bank in net.banks.values():  # a new bank is the identity; give it a style-like residual
        torch.nn.init.normal_(bank.layers[-1].weight, std=0.2)
    return save_model(net, tmp_path_factory.mktemp("model") / "m", base_info={"steps": 0})


@pytest.fixture(scope="module")
def stroked_model_dir(model_dir, tmp_path_factory) -> Path:
    """The same model with a stroke reference: frames run as a pyramid of three passes."""
    import shutil

    folder = tmp_path_factory.mktemp("stroked") / "m"
    shutil.copytree(model_dir, folder)
    manifest = folder / "model.toml"
    manifest.write_text("stroke_reference = 24\n" + manifest.read_text())
    return folder


def _pan(folder: Path, frames: int = FRAMES, ext: str = "png", first: int = 1) -> Path:
    """A camera pan over a real photo: frame k is the window shifted by k·STEP pixels."""
    big = photo("astronaut", 160)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        y, x = 20 + k * STEP[1], 20 + k * STEP[0]
        write_image(folder / f"frame_{first + k:04d}.{ext}", big[..., y : y + H, x : x + W].contiguous())
    return folder / f"frame_####.{ext}"


def _read_all(folder: Path) -> list[torch.Tensor]:
    return [read_image(p).srgb() for p in sorted(folder.glob("frame_*.png"))]


def _request(src, out, model_dir, **kw) -> VideoRequest:
    return VideoRequest(source=src, output=out, model=model_dir, style_names=("a",), device="cpu", **kw)


def test_coherent_output_has_a_lower_warping_error_than_per_frame(model_dir, tmp_path):
    src = _pan(tmp_path / "in")
    inputs = [read_image(p).srgb() for p in sorted((tmp_path / "in").glob("*.png"))]
    per = run_video(_request(src, tmp_path / "per", model_dir, coherent=False))
    coh = run_video(_request(src, tmp_path / "coh", model_dir, report=True))
    assert per.computed == coh.computed == FRAMES
    e_per = warping_error(_read_all(tmp_path / "per"), inputs)
    e_coh = warping_error(_read_all(tmp_path / "coh"), inputs)
    assert e_coh < 0.5 * e_per, (e_coh, e_per)
    assert coh.warping_error == pytest.approx(e_coh, rel=1e-4)
    # the first frame has nothing to propagate: both modes agree there
    assert torch.equal(_read_all(tmp_path / "per")[0], _read_all(tmp_path / "coh")[0])


@pytest.mark.parametrize("blend, preserve, stroked", [("image", "none", False), ("feature", "none", False),
                                                      ("image", "luminance", False), ("feature", "none", True)])
def test_a_stopped_run_resumes_without_losing_or_changing_a_frame(model_dir, stroked_model_dir, tmp_path, blend,
                                                                   preserve, stroked):
    """Also with colour preservation (the written frames then differ from the engine's own results) and
    with a stroke reference (the feature state is one tensor per pass of the pyramid)."""
    src = _pan(tmp_path / "in")
    model_dir = stroked_model_dir if stroked else model_dir
    run_video(_request(src, tmp_path / "full", model_dir, blend=blend, preserve_color=preserve))

    def stop_after_three(event):
        return event.step < 3

    with pytest.raises(Cancelled):
        run_video(_request(src, tmp_path / "part", model_dir, blend=blend, preserve_color=preserve), stop_after_three)
    done = sorted(p.name for p in (tmp_path / "part").glob("frame_*.png"))
    assert done == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    # a kill can leave a torn file behind: it must be redone, not trusted
    (tmp_path / "part" / "frame_0004.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    again = run_video(_request(src, tmp_path / "part", model_dir, blend=blend, preserve_color=preserve))
    assert again.computed == FRAMES - 3 and again.details["resumed_from"] == 3
    full, part = _read_all(tmp_path / "full"), _read_all(tmp_path / "part")
    assert len(part) == FRAMES
    for a, b in zip(full, part):
        assert torch.equal(a, b)
    assert not list((tmp_path / "part").glob("*.tmp*"))


def test_rerun_with_other_settings_is_refused_instead_of_mixing(model_dir, tmp_path):
    src = _pan(tmp_path / "in")
    with pytest.raises(Cancelled):
        run_video(_request(src, tmp_path / "out", model_dir), lambda e: e.step < 2)
    with pytest.raises(OutputError, match="another job .*other settings"):
        run_video(VideoRequest(source=src, output=tmp_path / "out", model=model_dir, style_names=("b",),
                               device="cpu"))
    out = run_video(VideoRequest(source=src, output=tmp_path / "out", model=model_dir, style_names=("b",),
                                 device="cpu", overwrite=True))
    assert out.computed == FRAMES


def test_video_file_in_and_out(model_dir, tmp_path):
    import cv2

    src = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (W, H))
    big = (photo("astronaut", 160)[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).astype(np.uint8)
    for k in range(4):
        writer.write(np.ascontiguousarray(big[20 + k : 20 + k + H, 20 + 2 * k : 20 + 2 * k + W]))
    writer.release()
    out = run_video(_request(src, tmp_path / "styled.avi", model_dir))
    cap = cv2.VideoCapture(str(out.output))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 4 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert out.details["fps"] == pytest.approx(12.0)


def test_gatys_video_is_warm_started_and_coherent(encoder, tmp_path):
    from core.requests.gatys import GatysConfig

    src = _pan(tmp_path / "in", frames=4)
    style = tmp_path / "style.png"
    write_image(style, photo("coffee", 64))
    common = dict(source=src, method="gatys", styles=(style,), device="cpu", report=True,
                  gatys=GatysConfig(iterations=10, pyramid_levels=1, init="noise"))
    per = run_video(VideoRequest(output=tmp_path / "per", coherent=False, **common))
    coh = run_video(VideoRequest(output=tmp_path / "coh", gatys_next_iterations=4, **common))
    assert coh.computed == per.computed == 4
    assert coh.warping_error < 0.5 * per.warping_error, (coh.warping_error, per.warping_error)


def _write_vectors(path: Path, vec: np.ndarray) -> None:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    channels = {c: np.ascontiguousarray(vec[..., i]).astype(np.float32) for i, c in enumerate("XYZW")}
    with OpenEXR.File(header, channels) as f:
        f.write(str(path))


def test_bad_inputs_give_one_clear_error(model_dir, tmp_path):
    src = _pan(tmp_path / "in")
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(Exception, match="broken.mp4"):
        run_video(_request(bad_video, tmp_path / "o1", model_dir))
    (tmp_path / "in" / "frame_0003.png").unlink()
    with pytest.raises(InputError, match="missing"):
        run_video(_request(src, tmp_path / "o2", model_dir))
    src = _pan(tmp_path / "in2")
    with pytest.raises(InputError, match="unknown style"):
        run_video(VideoRequest(source=src, output=tmp_path / "o3", model=model_dir, style_names=("nope",),
                               device="cpu"))
    with pytest.raises(InputError, match="Vector-pass EXRs"):
        run_video(_request(src, tmp_path / "o4", model_dir, flow="vectors"))
    vec_dir = tmp_path / "vec"
    vec_dir.mkdir()
    for k in range(1, FRAMES + 1):
        _write_vectors(vec_dir / f"vector_{k:04d}.exr", np.zeros((H // 2, W // 2, 4), np.float32))
    with pytest.raises(InputError, match="Vector pass of frame 2 is"):
        run_video(_request(src, tmp_path / "o5", model_dir, flow="vectors", vectors_dir=vec_dir))
    for out in ("o1", "o2", "o3", "o4", "o5"):
        assert not list((tmp_path / out).glob("frame_*")) if (tmp_path / out).exists() else True


def test_renderer_vectors_drive_the_propagation(model_dir, tmp_path):
    """With exact vectors of the pan, coherent output is far more stable than per-frame."""
    src = _pan(tmp_path / "in")
    vec_dir = tmp_path / "vec"
    vec_dir.mkdir()
    # Blender convention (see core.video.flow): flow_t_to_prev = (X, −Y), flow_t_to_next = (−Z, W), y up.
    # The window pans right/down by STEP, so a pixel of frame t sat at p + STEP in frame t−1.
    vec = np.zeros((H, W, 4), np.float32)
    vec[..., 0], vec[..., 1] = STEP[0], -STEP[1]
    vec[..., 2], vec[..., 3] = STEP[0], -STEP[1]
    for k in range(1, FRAMES + 1):
        _write_vectors(vec_dir / f"vector_{k:04d}.exr", vec)
    inputs = [read_image(p).srgb() for p in sorted((tmp_path / "in").glob("*.png"))]
    run_video(_request(src, tmp_path / "per", model_dir, coherent=False))
    run_video(_request(src, tmp_path / "vec_out", model_dir, flow="vectors", vectors_dir=vec_dir))
    e_per = warping_error(_read_all(tmp_path / "per"), inputs)
    e_vec = warping_error(_read_all(tmp_path / "vec_out"), inputs)
    assert e_vec < 0.5 * e_per, (e_vec, e_per)


@pytest.mark.slow
def test_kill_minus_nine_mid_sequence_then_rerun_loses_nothing(model_dir, tmp_path):
    """A real SIGKILL of the CLI while it writes frames; the rerun completes identically."""
    import os
    import signal
    import subprocess
    import sys
    import time

    big = photo("astronaut", 512)
    (tmp_path / "in").mkdir()
    for k in range(30):
        write_image(tmp_path / "in" / f"frame_{k + 1:04d}.png", big[..., 40 + k : 40 + k + 192, 40 + 2 * k : 40 + 2 * k + 256])
    src = str(tmp_path / "in" / "frame_####.png")
    root = Path(__file__).resolve().parents[3]

    def args(out: Path) -> list[str]:
        return [sys.executable, "-m", "core", "video", src, "-o", str(out), "--model", str(model_dir), "--style", "a",
                "--device", "cpu", "--quiet"]

    full = subprocess.run(args(tmp_path / "full"), cwd=root, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    victim = subprocess.Popen(args(tmp_path / "killed"), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((tmp_path / "killed").glob("frame_*.png"))) < 4:
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    done_before = len(list((tmp_path / "killed").glob("frame_*.png")))
    assert 0 < done_before < 30, "the kill did not land mid-sequence"
    rerun = subprocess.run(args(tmp_path / "killed"), cwd=root, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    names = sorted(p.name for p in (tmp_path / "full").glob("frame_*.png"))
    assert names == sorted(p.name for p in (tmp_path / "killed").glob("frame_*.png")) and len(names) == 30
    for name in names:
        assert torch.equal(read_image(tmp_path / "full" / name).rgb, read_image(tmp_path / "killed" / name).rgb), name
    leftovers = [p.name for p in (tmp_path / "killed").iterdir() if p.name.startswith(".") and "tmp" in p.name]
    assert not leftovers


def test_analogy_video_is_coherent(encoder, tmp_path):
    """Deep Image Analogy per frame (A = frame, B′ = reference), with and without propagation."""
    from core.requests.analogy import AnalogyConfig

    big = photo("astronaut", 200)
    (tmp_path / "in").mkdir()
    for k in range(3):
        write_image(tmp_path / "in" / f"frame_{k + 1:04d}.png", big[..., 30 + k : 30 + k + 64, 40 + 2 * k : 40 + 2 * k + 80])
    ref = tmp_path / "ref.png"
    write_image(ref, photo("coffee", 96))
    cfg = AnalogyConfig(iterations=(4, 2, 2, 1, 1), deconv_iterations=(3, 3, 2, 2))
    common = dict(source=tmp_path / "in" / "frame_####.png", method="analogy", styles=(ref,), analogy=cfg,
                  device="cpu", report=True)
    per = run_video(VideoRequest(output=tmp_path / "per", coherent=False, **common))
    coh = run_video(VideoRequest(output=tmp_path / "coh", **common))
    assert per.computed == coh.computed == 3
    assert read_image(tmp_path / "coh" / "frame_0002.png").size == (64, 80)
    assert coh.warping_error < per.warping_error, (coh.warping_error, per.warping_error)
    with pytest.raises(InputError, match="exactly one reference"):
        run_video(VideoRequest(output=tmp_path / "bad", **{**common, "styles": (ref, ref)}))


def test_feature_blending_carries_every_pass_of_the_stroke_pyramid(stroked_model_dir, model_dir, tmp_path):
    """With a stroke reference each pass blends its own features: coherent beats per-frame there too."""
    src = _pan(tmp_path / "in")
    inputs = [read_image(p).srgb() for p in sorted((tmp_path / "in").glob("*.png"))]
    per = run_video(_request(src, tmp_path / "per", stroked_model_dir, coherent=False))
    coh = run_video(_request(src, tmp_path / "coh", stroked_model_dir, blend="feature", restore_detail=False))
    plain = run_video(_request(src, tmp_path / "plain", model_dir, coherent=False))
    assert per.computed == coh.computed == plain.computed == FRAMES
    e_per = warping_error(_read_all(tmp_path / "per"), inputs)
    e_coh = warping_error(_read_all(tmp_path / "coh"), inputs)
    assert e_coh < 0.7 * e_per, (e_coh, e_per)
    # the stroke reference changes the pictures (three passes instead of one)
    assert not torch.equal(_read_all(tmp_path / "per")[0], _read_all(tmp_path / "plain")[0])
