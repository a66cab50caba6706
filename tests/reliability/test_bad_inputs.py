"""Bad input to ``python -m core video`` (and the few image cases the image tests lack).

Each case: exit ≠ 0 (2 for input, 4 for model), exactly one ``error:`` line naming the file and
the problem, nothing on stdout, and no output at all: not a frame, not the settings record, not
even the output folder. The image-level cases of ``stylize`` (missing, zero bytes, truncated
JPEG/PNG, wrong extension, 1×1, 20000×20000 header, mask size, encoder weights with a wrong
hash, 16-bit/alpha/gray, EXR NaN/Inf) are proven by ``tests/core/cli/test_cli.py``; this file adds
their sequence and video counterparts and what must work for sequences.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.io.images import read_image, write_image
from tests.conftest import png_header_only
from tests.reliability.helpers import REPO, H, W, cli, cli_env, make_model, pan_frame, write_pan


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "m")


def _avi(path: Path, frames: int) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (W, H))
    assert writer.isOpened()
    for k in range(frames):
        bgr = (pan_frame(k).transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
        writer.write(np.ascontiguousarray(bgr))
    writer.release()
    return path


def _sequence(folder: Path, frames: int = 3, ext: str = "png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        write_image(folder / f"frame_{k + 1:04d}.{ext}", pan_frame(k))
    return folder


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _replace_frame(folder: Path, number: int, make) -> Path:
    """Replace frame ``number`` of a 3-frame sequence by ``make(path)``; returns the folder."""
    _sequence(folder)
    make(folder / f"frame_{number:04d}.png")
    return folder


def _truncate(fraction: float):
    def cut(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
    return cut


def _exr_sequence_with_a_truncated_frame(folder: Path) -> Path:
    _sequence(folder, ext="exr")
    frame = folder / "frame_0002.exr"
    frame.write_bytes(frame.read_bytes()[:-200])
    return folder


def _png_as_jpg(folder: Path) -> Path:
    _sequence(folder, frames=2, ext="jpg")
    (folder / "frame_0002.jpg").write_bytes((_sequence(folder.parent / "pngs", 1) / "frame_0001.png").read_bytes())
    return folder


def _other_size(folder: Path) -> Path:
    _sequence(folder)
    write_image(folder / "frame_0003.png", pan_frame(2)[:, :, : W - 1].copy())
    return folder


# case -> (build the source under folder d, exit code, words the one error line must contain)
CASES = {
    "missing video file": (lambda d: d / "nope.mp4", 2, "does not exist"),
    "zero-byte video": (lambda d: _file(d / "empty.mp4", b""), 2, "empty (0 bytes)"),
    "video with no frames": (lambda d: _avi(d / "none.avi", 0), 2, "holds no decodable video frames"),
    "video that is not a video": (lambda d: _file(d / "junk.mov", os.urandom(3000)), 2, "cannot be opened as a video"),
    "video cut to its first 2 KB": (lambda d: _file(d / "cut.avi", _avi(d / "whole.avi", 6).read_bytes()[:2048]), 2,
                                    "cut.avi cannot be opened as a video"),
    "missing folder": (lambda d: d / "nowhere" / "frame_####.png", 2, "does not exist"),
    "sequence with a missing frame": (lambda d: _replace_frame(d / "seq", 2, Path.unlink), 2, "missing frame 2"),
    "zero-byte frame": (lambda d: _replace_frame(d / "seq", 2, lambda p: p.write_bytes(b"")), 2, "empty (0 bytes)"),
    "truncated PNG frame (first)": (lambda d: _replace_frame(d / "seq", 1, _truncate(0.6)), 2, "frame_0001.png"),
    "truncated PNG frame (header cut)": (lambda d: _replace_frame(d / "seq", 2, _truncate(0.02)), 2, "frame_0002.png"),
    "truncated JPEG frame": (lambda d: _truncate(0.5)(_sequence(d / "seq", 1, "jpg") / "frame_0001.jpg")
                             or d / "seq", 2, "truncated"),
    "truncated EXR frame": (lambda d: _exr_sequence_with_a_truncated_frame(d / "seq"), 2, "frame_0002.exr"),
    "wrong extension": (lambda d: _png_as_jpg(d / "seq"), 2, "holds PNG data"),
    "frames of different sizes": (lambda d: _other_size(d / "seq"), 2, "63×48, the sequence is 64×48"),
    "1×1 frames": (lambda d: [write_image(d / f"f_{k}.png", torch.rand(1, 3, 1, 1)) for k in (1, 2)]
                   and d / "f_#.png", 2, "1×1"),
    "20000×20000 header": (lambda d: [png_header_only(d / f"big_{k}.png", 20000, 20000) for k in (1, 2)]
                           and d / "big_#.png", 2, "20000×20000"),
    "a single image, not a sequence": (lambda d: _sequence(d / "seq", 1) / "frame_0001.png", 2, "single file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_video_input_gives_one_error_line_and_no_output(case, model, tmp_path, capsys):
    make, code, words = CASES[case]
    (tmp_path / "src").mkdir()
    src = make(tmp_path / "src")  # outputs may not lie inside an input folder (issue 18, class 2)
    out = tmp_path / "styled"
    status = main(["video", str(src), "-o", str(out), "--model", str(model), "--style", "a", "--device", "cpu",
                   "--quiet"])
    captured = capsys.readouterr()
    assert status == code, (status, captured.err)
    assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1, captured.err
    assert words in captured.err, captured.err
    assert captured.out == ""
    assert not out.exists(), f"output left behind: {sorted(p.name for p in out.rglob('*'))}"


def test_bad_settings_give_one_error_line_and_no_output(model, tmp_path, capsys):
    src = write_pan(tmp_path / "in", 2)
    out = tmp_path / "styled"
    cases = {
        "unknown style": (["--style", "nope"], 2, "unknown style"),
        "missing model": (["--model", tmp_path / "no-model", "--style", "a"], 4, "does not exist"),
        "bad --size": (["--style", "a", "--size", "8"], 2, "at least 16"),
        "vectors without a folder": (["--style", "a", "--flow", "vectors"], 2, "--vectors-dir"),
        "output is a source frame": (["--style", "a", "-o", tmp_path / "in" / "frame_####.png"], 3, "one of the inputs"),
        "output with a gif extension": (["--style", "a", "-o", tmp_path / "o" / "f_####.gif"], 3, "gif"),
    }
    for name, (extra, code, words) in cases.items():
        argv = ["video", src, "-o", out, "--device", "cpu", "--quiet"]
        if "--model" not in extra:
            argv += ["--model", model]
        status = main([str(a) for a in argv + extra])
        err = capsys.readouterr().err
        assert status == code, (name, status, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and words in err, (name, err)
        assert not out.exists() and not (tmp_path / "o").exists(), name


def test_sixteen_bit_alpha_and_grayscale_sequences_work(model, tmp_path, capsys):
    rgba = tmp_path / "rgba16"
    rgba.mkdir()
    alpha = torch.linspace(0, 1, W).view(1, 1, 1, W).expand(1, 1, H, W).contiguous()
    for k in range(3):
        write_image(rgba / f"frame_{k + 1:04d}.png", pan_frame(k), alpha, bit_depth=16)
    gray = tmp_path / "gray"
    gray.mkdir()
    for k in range(3):
        write_image(gray / f"frame_{k + 1:04d}.jpg", torch.from_numpy(pan_frame(k)[:1].repeat(3, 0)))
    gray_alpha = tmp_path / "gray_alpha"
    gray_alpha.mkdir()
    from PIL import Image

    for k in range(3):
        la = np.stack([pan_frame(k)[1], np.linspace(0, 1, W)[None].repeat(H, 0)], -1)
        Image.fromarray((la * 255).round().astype(np.uint8), "LA").save(gray_alpha / f"frame_{k + 1:04d}.png")
    assert (gray_alpha / "frame_0001.png").read_bytes()[25] == 4  # IHDR colour type 4: gray + alpha
    assert read_image(gray_alpha / "frame_0001.png").alpha is not None
    for src in (rgba, gray, gray_alpha):
        out = tmp_path / f"out_{src.name}"
        assert main(["video", str(src), "-o", str(out), "--model", str(model), "--style", "a", "--device", "cpu",
                     "--quiet"]) == 0, capsys.readouterr().err
        frames = sorted(out.glob("frame_*.png"))
        assert len(frames) == 3
        result = read_image(frames[1])
        assert result.size == (H, W)
        if src is not gray:  # the alpha channel is carried through
            assert result.alpha is not None
            assert torch.allclose(result.alpha, read_image(sorted(src.iterdir())[1]).alpha, atol=1 / 255 + 1e-6)


def test_exr_sequence_with_nan_and_inf_works(model, tmp_path):
    """In a real process: the CLI shows each replacement as one ``warning:`` line and succeeds."""
    import OpenEXR

    src = tmp_path / "render"
    src.mkdir()
    for k in range(3):
        linear = np.power(pan_frame(k), 2.2).astype(np.float32)
        linear[0, 3, 3], linear[1, 5, 7], linear[2, 9, 2] = np.nan, np.inf, -np.inf
        channels = {c: np.ascontiguousarray(linear[i]) for i, c in enumerate("RGB")}
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, channels).write(str(src / f"frame_{k + 1:04d}.exr"))
    out = tmp_path / "out" / "frame_####.exr"
    proc = subprocess.run(cli("video", src, "-o", out, "--model", model, "--style", "a", "--device", "cpu", "--quiet"),
                          cwd=REPO, env={**cli_env(), "PYTHONWARNINGS": ""}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and all("NaN/Inf" in line for line in warnings), proc.stderr
    results = sorted((tmp_path / "out").glob("frame_*.exr"))
    assert len(results) == 3
    for path in results:
        image = read_image(path)
        assert image.colorspace == "linear" and torch.isfinite(image.rgb).all()


def test_truncated_exr_image_gives_one_error_line(tmp_path, capsys):
    """The one image format test_cli.py does not truncate through the CLI."""
    exr = tmp_path / "render.exr"
    write_image(exr, torch.from_numpy(pan_frame(0)), colorspace="linear")
    exr.write_bytes(exr.read_bytes()[:-300])
    style = tmp_path / "style.png"
    write_image(style, pan_frame(7))
    out = tmp_path / "out.exr"
    status = main(["stylize", str(exr), str(style), "-o", str(out), "--size", "32", "--iterations", "1", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "render.exr" in err and "truncated" in err, err
    assert not out.exists()


def test_a_corrupt_video_gives_exactly_one_stderr_line_in_a_real_process(model, tmp_path):
    """FFmpeg's own "moov atom not found" must not join the CLI's one error line (C-level stderr,
    which the in-process tests above cannot see)."""
    junk = _file(tmp_path / "junk.mov", np.random.default_rng(0).bytes(3000))
    proc = subprocess.run(cli("video", junk, "-o", tmp_path / "out", "--model", model, "--style", "a", "--device",
                              "cpu", "--quiet"), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {junk} cannot be opened as a video (corrupt, truncated or not a "
                                        "video format FFmpeg can decode)"], proc.stderr
    assert proc.stdout == "" and not (tmp_path / "out").exists()
