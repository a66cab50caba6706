"""Real-world files (issue 18, class 6).

* A JPEG followed by other data — a phone's "motion photo" appends its MP4 after the end-of-image
  marker — is a whole JPEG: ``core/io/formats.py::jpeg_end`` walks the marker segments to the
  *first* EOI, so bytes after it (even ``FF DA`` ones) no longer look like a cut-off scan.
* A JPEG whose scan data is damaged decodes to a picture with grey or smeared blocks, and libjpeg
  says so only on stderr ("Corrupt JPEG data: …"): ``core/io/images.py::libjpeg_messages``
  captures those lines while decoding and the image is refused.
* Truncated tiled and multi-part OpenEXR files: every chunk of every part is checked against the
  file size (``core/io/formats.py::exr_is_truncated``) before OpenEXR sees the file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from core.foundation.errors import ImageReadError
from core.io.exr import read_exr_channels
from core.io.formats import check_complete
from core.io.images import read_image
from tests.reliability.helpers import REPO, H, W, cli, cli_env, make_model, pan_frame


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "m")


def _jpeg(k: int = 0) -> bytes:
    bgr = (pan_frame(k).transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def _motion_photo(k: int = 0) -> bytes:
    """The JPEG, then an MP4-like tail holding FF DA (a fake scan start) and no FF D9 after it."""
    rng = np.random.default_rng(k)
    tail = bytearray(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + rng.integers(0, 256, 30000,
                                                                                          dtype=np.uint8).tobytes())
    tail = tail.replace(b"\xff\xd9", b"\xff\x00")
    tail[5000:5002] = b"\xff\xda"
    return _jpeg(k) + bytes(tail)


def _scan_start(data: bytes) -> int:
    return data.index(b"\xff\xda") + 2 + int.from_bytes(data[data.index(b"\xff\xda") + 2:][:2], "big")


CORRUPTIONS = {  # on a 256×256 photo (about 20 KB of scan data)
    "a zeroed stretch of the scan": lambda d, s: d[: s + 1000] + b"\x00" * 100 + d[s + 1100 :],
    "random bytes in the scan": lambda d, s: d[: s + 2000] + bytes(np.random.default_rng(0).integers(0, 255, 50,
                                                                                                    dtype=np.uint8))
    + d[s + 2050 :],
    "a piece of the scan cut out": lambda d, s: d[: s + 3000] + d[s + 6000 :],
    "a marker inside the scan": lambda d, s: d[: s + 800] + b"\xff\xc4" + d[s + 802 :],
}


def _photo_jpeg() -> bytes:
    from tests.conftest import photo

    bgr = (photo("astronaut", 256)[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def test_a_motion_photo_is_a_whole_jpeg(tmp_path):
    plain, motion = tmp_path / "plain.jpg", tmp_path / "motion.jpg"
    plain.write_bytes(_jpeg())
    motion.write_bytes(_motion_photo())
    check_complete(motion)
    assert np.array_equal(read_image(motion).rgb.numpy(), read_image(plain).rgb.numpy())


def test_a_motion_photo_sequence_and_still_are_stylised(tmp_path, model):
    seq = tmp_path / "phone"
    seq.mkdir()
    for k in range(3):
        (seq / f"PXL_{k + 1:04d}.jpg").write_bytes(_motion_photo(k))
    run = subprocess.run(cli("video", seq, "-o", tmp_path / "out", "--model", model, "--style", "a",
                             "--device", "cpu", "--quiet"), cwd=REPO, env=cli_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(cli("stylize", seq / "PXL_0001.jpg", "--method", "stylebank", "--model", model, "--style",
                             "a", "-o", tmp_path / "still.png", "--size", "32", "--device", "cpu", "--quiet"),
                         cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr.startswith("wrote ") and len(run.stderr.splitlines()) == 1, run.stderr


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_jpeg_with_a_corrupt_scan_is_refused_with_one_line(tmp_path, model, case):
    data = _photo_jpeg()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(CORRUPTIONS[case](data, _scan_start(data)))
    with pytest.raises(ImageReadError, match="is corrupt|is truncated"):
        read_image(bad)
    run = subprocess.run(cli("stylize", bad, "--method", "stylebank", "--model", model, "--style", "a",
                             "-o", tmp_path / "out.png", "--size", "32", "--device", "cpu", "--quiet"),
                         cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.jpg is" in lines[0], run.stderr
    assert not (tmp_path / "out.png").exists()


def _rgb() -> np.ndarray:
    return np.ascontiguousarray(pan_frame(0).transpose(1, 2, 0))


def _tiled(path: Path) -> None:
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 16, 16, OpenEXR.ONE_LEVEL
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.tiledimage, "tiles": tiles},
                 {"RGB": _rgb()}).write(str(path))


def _multipart(path: Path) -> None:
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 32, 32, OpenEXR.ONE_LEVEL
    parts = [
        OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"RGB": _rgb()},
                     name="beauty"),
        OpenEXR.Part({"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.tiledimage, "tiles": tiles},
                     {"Z": _rgb()[..., 0].copy()}, name="depth"),
    ]
    OpenEXR.File(parts).write(str(path))


@pytest.mark.parametrize("make", [_tiled, _multipart], ids=["tiled", "multi-part"])
def test_truncated_tiled_and_multi_part_exrs_are_refused(tmp_path, model, make):
    whole = tmp_path / "whole.exr"
    make(whole)
    check_complete(whole)
    assert read_image(whole).size == (H, W)
    assert len(read_exr_channels(whole)) >= 3
    data = whole.read_bytes()
    for cut in (1, 100, len(data) // 3, len(data) // 2):
        bad = tmp_path / f"cut{cut}.exr"
        bad.write_bytes(data[:-cut])
        for reader in (check_complete, read_image, read_exr_channels):
            with pytest.raises(ImageReadError, match="truncated"):
                reader(bad)
    seq = tmp_path / "seq"
    seq.mkdir()
    for k in (1, 2, 3):
        (seq / f"frame_{k:04d}.exr").write_bytes(data if k != 3 else data[:-100])
    run = subprocess.run(cli("video", seq, "-o", tmp_path / "out", "--model", model, "--style", "a", "--device",
                             "cpu", "--quiet"), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: {seq / 'frame_0003.exr'} is truncated (the OpenEXR data "
                                               "ends before its last block)"], run.stderr
    assert not (tmp_path / "out").exists()
