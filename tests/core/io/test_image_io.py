"""Tests for core.io.images and core.imaging.color_space."""

from __future__ import annotations

import dataclasses
import errno
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from core.foundation import atomic_write
from core.imaging.color_space import linear_to_srgb, srgb_to_linear
from core.foundation.errors import ImageReadError, ImageTooLargeError, InputError, OutputError
from core.io.images import (
    MAX_PIXELS,
    ImageData,
    NonFiniteWarning,
    probe_image,
    read_image,
    write_image,
)

# ----------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A non-square RGB uint8 crop (H=96, W=128) of scikit-image's astronaut."""
    return np.ascontiguousarray(skdata.astronaut()[40:136, 180:308])


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    """A non-square gray uint8 crop (H=80, W=112) of scikit-image's camera."""
    return np.ascontiguousarray(skdata.camera()[100:180, 200:312])


def _to_tensor(hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))[None].float()


def _encode(path: Path, bgr: np.ndarray, params: list[int] | None = None) -> Path:
    ok, buf = cv2.imencode(path.suffix, bgr, params or [])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _write_exr(path: Path, channels: dict[str, np.ndarray], compression=None) -> Path:
    header = {
        "compression": compression if compression is not None else OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
    }
    OpenEXR.File(header, channels).write(str(path))
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _tiny_png(width: int, height: int) -> bytes:
    """A structurally valid 8-bit RGB PNG whose IHDR says width×height; IDAT is tiny."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------ color space


def test_srgb_known_values() -> None:
    x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    lin = srgb_to_linear(x)
    assert lin[0] == 0.0
    assert lin[1].item() == pytest.approx(0.21404, abs=1e-5)
    assert lin[2].item() == pytest.approx(1.0, abs=1e-12)
    back = linear_to_srgb(torch.tensor([0.21404114, 0.0031308 / 2], dtype=torch.float64))
    assert back[0].item() == pytest.approx(0.5, abs=1e-6)
    assert back[1].item() == pytest.approx(12.92 * 0.0031308 / 2, rel=1e-12)  # linear toe


def test_srgb_round_trip_including_values_above_one() -> None:
    x = torch.linspace(0.0, 4.0, 4001, dtype=torch.float64)
    assert torch.allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-12)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    two = linear_to_srgb(torch.tensor([2.0], dtype=torch.float64))
    assert two.item() == pytest.approx(1.055 * 2.0 ** (1 / 2.4) - 0.055, rel=1e-12)
    assert two.item() > 1.0


def test_srgb_threshold_continuity_and_negatives() -> None:
    t = 0.0031308
    eps = 1e-9
    enc = linear_to_srgb(torch.tensor([t - eps, t, t + eps], dtype=torch.float64))
    assert (enc.max() - enc.min()).item() < 1e-6
    s = 0.04045
    dec = srgb_to_linear(torch.tensor([s - eps, s, s + eps], dtype=torch.float64))
    assert (dec.max() - dec.min()).item() < 1e-6
    neg = torch.tensor([-0.5, -1e-3])
    assert torch.equal(linear_to_srgb(neg), torch.zeros(2))
    assert torch.equal(srgb_to_linear(neg), torch.zeros(2))


def test_srgb_functions_keep_dtype_and_have_finite_gradients() -> None:
    x = torch.tensor([0.0, 1e-4, 0.5, 2.0], requires_grad=True)
    (linear_to_srgb(x).sum() + srgb_to_linear(x).sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert linear_to_srgb(x.detach().half()).dtype == torch.float16
    with pytest.raises(TypeError):
        linear_to_srgb(torch.tensor([1, 2]))


# ------------------------------------------------------------------------------ round trips


def test_png8_round_trip_is_exact(tmp_path: Path, astronaut: np.ndarray) -> None:
    rgb = _to_tensor(astronaut) / 255.0
    out = write_image(tmp_path / "a.png", rgb)
    assert out == tmp_path / "a.png"
    img = read_image(out)
    assert isinstance(img, ImageData)
    assert (img.format, img.bit_depth, img.colorspace) == ("png", 8, "srgb")
    assert img.size == (96, 128)
    assert img.rgb.shape == (1, 3, 96, 128) and img.rgb.dtype == torch.float32
    assert img.alpha is None and img.nonfinite_count == 0
    assert torch.equal((img.rgb * 255).round().to(torch.uint8), _to_tensor(astronaut).byte())
    assert _listing(tmp_path) == ["a.png"]


def test_written_png_is_rgb_not_bgr(tmp_path: Path) -> None:
    red = torch.zeros(3, 4, 5)
    red[0] = 1.0
    path = write_image(tmp_path / "red.png", red)
    bgr = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    assert bgr.shape == (4, 5, 3)
    assert (bgr[..., 2] == 255).all() and (bgr[..., :2] == 0).all()


def test_read_png_written_by_opencv_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    img = read_image(_encode(tmp_path / "blue.png", bgr))
    assert torch.equal(img.rgb[0, 2], torch.ones(4, 5))
    assert img.rgb[0, :2].abs().max() == 0


def test_png16_round_trip(tmp_path: Path) -> None:
    rgb = torch.rand(1, 3, 17, 23, generator=torch.Generator().manual_seed(1))
    path = write_image(tmp_path / "a.png", rgb, bit_depth=16)
    raw = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    img = read_image(path)
    assert img.bit_depth == 16
    assert (img.rgb - rgb).abs().max().item() <= 0.5 / 65535 + 1e-7


def test_jpeg_round_trip_within_tolerance_and_alpha_dropped(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    rgb = _to_tensor(astronaut) / 255.0
    alpha = torch.full((1, 1, 96, 128), 0.5)
    img = read_image(write_image(tmp_path / "a.jpg", rgb, alpha))
    assert (img.format, img.bit_depth, img.colorspace, img.alpha) == ("jpeg", 8, "srgb", None)
    assert (img.rgb - rgb).abs().mean().item() < 0.01
    # Channel order survives the lossy codec: a red picture stays red.
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 1.0
    back = read_image(write_image(tmp_path / "red.jpeg", red)).rgb
    assert back[0, 0].min() > 0.9 and back[0, 1:].max() < 0.1


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_tiff_integer_round_trip(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    rgb = torch.rand(1, 3, 9, 14, generator=torch.Generator().manual_seed(2))
    alpha = torch.rand(1, 1, 9, 14, generator=torch.Generator().manual_seed(3))
    img = read_image(write_image(tmp_path / f"a{suffix}", rgb, alpha, bit_depth=bit_depth))
    scale = 255 if bit_depth == 8 else 65535
    assert (img.format, img.bit_depth, img.colorspace) == ("tiff", bit_depth, "srgb")
    assert (img.rgb - rgb).abs().max().item() <= 0.5 / scale + 1e-7
    assert (img.alpha - alpha).abs().max().item() <= 0.5 / scale + 1e-7


@pytest.mark.parametrize("with_alpha", [False, True])
def test_tiff_float_is_linear_and_exact(tmp_path: Path, with_alpha: bool) -> None:
    # Without an explicit compression OpenCV stores 3-channel float TIFFs as lossy SGILOG.
    linear = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(4)) * 3.0
    alpha = torch.rand(1, 1, 10, 12, generator=torch.Generator().manual_seed(5)) if with_alpha else None
    path = write_image(tmp_path / "f.tif", linear, alpha, colorspace="linear", bit_depth=32)
    img = read_image(path)
    assert (img.format, img.bit_depth, img.colorspace) == ("tiff", 32, "linear")
    assert torch.equal(img.rgb, linear)
    if with_alpha:
        assert torch.equal(img.alpha, alpha)
    else:
        assert img.alpha is None
    assert probe_image(path) == (10, 12, "tiff")


def test_exr_float_round_trip_is_exact(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(6)
    linear = torch.randn(1, 3, 11, 13, generator=gen) * 5.0
    alpha = torch.rand(1, 1, 11, 13, generator=gen)
    path = write_image(tmp_path / "a.exr", linear, alpha, colorspace="linear")
    img = read_image(path)
    assert (img.format, img.bit_depth, img.colorspace) == ("exr", 32, "linear")
    assert torch.equal(img.rgb, linear)
    assert torch.equal(img.alpha, alpha)
    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    assert sorted(channels) == ["A", "B", "G", "R"]
    assert channels["R"].pixels.dtype == np.float32
    np.testing.assert_array_equal(channels["R"].pixels, linear[0, 0].numpy())


def test_exr_half_round_trip(tmp_path: Path) -> None:
    linear = torch.rand(1, 3, 8, 9, generator=torch.Generator().manual_seed(7))
    linear[0, 0, 0, 0] = 1e6  # beyond half range: clipped, not Inf
    path = write_image(tmp_path / "h.exr", linear, colorspace="linear", bit_depth=16)
    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    assert channels["G"].pixels.dtype == np.float16
    img = read_image(path)
    assert img.bit_depth == 16 and img.nonfinite_count == 0
    assert img.rgb[0, 0, 0, 0].item() == 65504.0
    diff = (img.rgb - linear).abs()
    diff[0, 0, 0, 0] = 0
    assert diff.max().item() < 1e-3


def test_exr_from_srgb_is_stored_linear(tmp_path: Path, astronaut: np.ndarray) -> None:
    display = _to_tensor(astronaut) / 255.0
    img = read_image(write_image(tmp_path / "a.exr", display, colorspace="srgb"))
    assert torch.allclose(img.rgb, srgb_to_linear(display), atol=1e-6)
    assert torch.allclose(img.srgb(), display, atol=1e-5)


def test_png_from_linear_is_encoded_to_srgb(tmp_path: Path) -> None:
    linear = torch.tensor([0.0, 0.21404114, 1.0, 3.0]).reshape(1, 1, 1, 4).expand(1, 3, 2, 4)
    img = read_image(write_image(tmp_path / "l.png", linear, colorspace="linear"))
    expected = torch.tensor([0.0, 0.5, 1.0, 1.0])
    assert torch.allclose(img.rgb[0, 0, 0], expected, atol=0.5 / 255)


def test_srgb_method_clips_linear_data(tmp_path: Path) -> None:
    r = np.array([[0.0, 0.21404114], [1.0, 8.0]], np.float32)
    img = read_image(_write_exr(tmp_path / "c.exr", {"R": r, "G": r, "B": r}))
    out = img.srgb()
    assert torch.allclose(out[0, 0], torch.tensor([[0.0, 0.5], [1.0, 1.0]]), atol=1e-6)
    assert img.rgb.max().item() == 8.0  # the data itself is untouched


def test_image_data_is_frozen(tmp_path: Path) -> None:
    img = read_image(write_image(tmp_path / "a.png", torch.rand(3, 4, 4)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        img.colorspace = "linear"  # type: ignore[misc]


# --------------------------------------------------------------------- gray, alpha, orientation


def test_gray_png_is_replicated(tmp_path: Path, camera: np.ndarray) -> None:
    img = read_image(_encode(tmp_path / "g.png", camera))
    assert img.rgb.shape == (1, 3, 80, 112) and img.alpha is None
    expected = torch.from_numpy(camera).float() / 255.0
    for c in range(3):
        assert torch.equal(img.rgb[0, c], expected)


def test_gray16_png(tmp_path: Path) -> None:
    gray = (np.arange(6 * 7, dtype=np.uint16).reshape(6, 7) * 1531).astype(np.uint16)
    img = read_image(_encode(tmp_path / "g16.png", gray))
    assert img.bit_depth == 16
    assert torch.equal(img.rgb[0, 1], torch.from_numpy(gray.astype(np.float32) / 65535.0))


def test_gray_alpha_png(tmp_path: Path, camera: np.ndarray) -> None:
    alpha = camera[::-1].copy()
    path = tmp_path / "ga.png"
    Image.fromarray(np.stack([camera, alpha], -1), "LA").save(path)
    img = read_image(path)
    assert torch.equal(img.rgb[0, 2], torch.from_numpy(camera).float() / 255.0)
    assert img.alpha is not None and img.alpha.shape == (1, 1, 80, 112)
    assert torch.equal(img.alpha[0, 0], torch.from_numpy(alpha).float() / 255.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgba_png_alpha_is_exact(tmp_path: Path, astronaut: np.ndarray, dtype) -> None:
    scale = 1 if dtype == np.uint8 else 257
    rgb = astronaut.astype(dtype) * scale
    alpha = (np.arange(96 * 128).reshape(96, 128) % 256).astype(dtype) * scale
    bgra = np.dstack([rgb[..., ::-1], alpha])
    img = read_image(_encode(tmp_path / "rgba.png", bgra))
    full = 255.0 * scale
    assert torch.equal(img.rgb, _to_tensor(rgb.astype(np.float32)) / full)
    assert torch.equal(img.alpha[0, 0], torch.from_numpy(alpha.astype(np.float32)) / full)
    # and back out again unchanged
    again = read_image(write_image(tmp_path / "again.png", img.rgb, img.alpha, bit_depth=img.bit_depth))
    assert torch.equal(again.alpha, img.alpha) and torch.equal(again.rgb, img.rgb)


def test_gray_jpeg(tmp_path: Path, camera: np.ndarray) -> None:
    img = read_image(_encode(tmp_path / "g.jpg", camera))
    assert img.rgb.shape == (1, 3, 80, 112)
    assert torch.equal(img.rgb[0, 0], img.rgb[0, 2])
    assert (img.rgb[0, 0] - torch.from_numpy(camera).float() / 255).abs().mean() < 0.02


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    assert probe_image(path) == (40, 20, "jpeg")
    img = read_image(path)
    assert img.size == (40, 20)
    assert img.rgb[0, 0, :18].mean() > 0.9 and img.rgb[0, 0, 22:].mean() < 0.1  # top white


def test_jpeg_with_trailing_padding_is_accepted(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = _encode(tmp_path / "p.jpg", astronaut)
    path.write_bytes(path.read_bytes() + b"\x00\x00\r\n ")
    assert read_image(path).size == (96, 128)


# ------------------------------------------------------------------------------- EXR channels


def test_exr_blender_layer_names(tmp_path: Path) -> None:
    shape = (4, 6)

    def plane(v: float) -> np.ndarray:
        return np.full(shape, v, np.float32)

    channels = {
        "ViewLayer.Combined.R": plane(0.1),
        "ViewLayer.Combined.G": plane(0.2),
        "ViewLayer.Combined.B": plane(0.3),
        "ViewLayer.Combined.A": plane(0.4),
        "ViewLayer.Depth.Z": plane(9.0),
        "ViewLayer.Normal.X": plane(-1.0),
        "ViewLayer.Normal.Y": plane(-2.0),
        "ViewLayer.Normal.Z": plane(-3.0),
    }
    img = read_image(_write_exr(tmp_path / "multilayer.exr", channels))
    assert img.rgb[0, :, 0, 0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert img.alpha is not None and img.alpha[0, 0, 0, 0].item() == pytest.approx(0.4)
    assert probe_image(tmp_path / "multilayer.exr") == (4, 6, "exr")


def test_exr_xyzw_maps_to_rgba(tmp_path: Path) -> None:
    planes = {n: np.full((3, 5), v, np.float32) for n, v in zip("XYZW", (1.0, 2.0, 3.0, 0.5))}
    img = read_image(_write_exr(tmp_path / "xyzw.exr", planes))
    assert img.rgb[0, :, 1, 1].tolist() == [1.0, 2.0, 3.0]
    assert img.alpha[0, 0, 1, 1].item() == 0.5


def test_exr_luminance_only_is_gray(tmp_path: Path) -> None:
    y = np.arange(12, dtype=np.float32).reshape(3, 4)
    img = read_image(_write_exr(tmp_path / "y.exr", {"Y": y.astype(np.float16)}))
    assert img.bit_depth == 16 and img.alpha is None
    for c in range(3):
        assert torch.equal(img.rgb[0, c], torch.from_numpy(y))


def test_exr_unknown_names_fall_back_to_sorted_channels(tmp_path: Path) -> None:
    planes = {n: np.full((2, 3), v, np.float32) for n, v in (("c", 3.0), ("a", 1.0), ("b", 2.0), ("d", 4.0))}
    img = read_image(_write_exr(tmp_path / "odd.exr", planes))
    assert img.rgb[0, :, 0, 0].tolist() == [1.0, 2.0, 3.0]
    single = read_image(_write_exr(tmp_path / "depth.exr", {"Depth.Z": np.full((2, 2), 7.0, np.float32)}))
    assert single.rgb[0, :, 0, 0].tolist() == [7.0, 7.0, 7.0]


# ---------------------------------------------------------------------------------- NaN / Inf


def test_exr_nonfinite_values_are_replaced_with_one_warning(tmp_path: Path) -> None:
    r = np.full((4, 5), 0.25, np.float32)
    g = r.copy()
    b = r.copy()
    r[0, 0] = r[0, 1] = g[1, 1] = np.nan
    g[2, 2] = b[3, 3] = np.inf
    b[0, 4] = -np.inf
    g[3, 0] = 7.5  # largest finite value
    path = _write_exr(tmp_path / "bad.exr", {"R": r, "G": g, "B": b})
    with pytest.warns(NonFiniteWarning, match=r"replaced 6 NaN/Inf values") as record:
        img = read_image(path)
    assert len([w for w in record if issubclass(w.category, NonFiniteWarning)]) == 1
    assert str(path) in str(record[0].message)
    assert img.nonfinite_count == 6
    assert torch.isfinite(img.rgb).all()
    assert img.rgb[0, 0, 0, 0].item() == 0.0  # NaN -> 0
    assert img.rgb[0, 1, 2, 2].item() == 7.5  # +Inf -> largest finite value
    assert img.rgb[0, 2, 0, 4].item() == 0.0  # -Inf -> 0


def test_all_inf_becomes_one(tmp_path: Path) -> None:
    r = np.full((2, 2), np.inf, np.float32)
    with pytest.warns(NonFiniteWarning, match="replaced 4 "):
        img = read_image(_write_exr(tmp_path / "inf.exr", {"Y": r}))
    assert torch.equal(img.rgb, torch.ones(1, 3, 2, 2))


def test_float_tiff_nonfinite_values(tmp_path: Path) -> None:
    arr = np.full((3, 4, 3), 0.5, np.float32)
    arr[0, 0, 0] = np.nan
    arr[1, 1, 1] = np.inf
    path = _encode(tmp_path / "f.tif", arr, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    with pytest.warns(NonFiniteWarning, match="replaced 2 "):
        img = read_image(path)
    assert img.nonfinite_count == 2 and torch.isfinite(img.rgb).all()


def test_finite_float_file_does_not_warn(tmp_path: Path) -> None:
    path = _write_exr(tmp_path / "ok.exr", {"Y": np.ones((2, 2), np.float32)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).nonfinite_count == 0


# -------------------------------------------------------------------------------- bad inputs


def _assert_read_error(path: Path, pattern: str, error=ImageReadError) -> None:
    with pytest.raises(error, match=pattern) as info:
        read_image(path)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message
    assert isinstance(info.value, InputError)


def test_missing_file(tmp_path: Path) -> None:
    _assert_read_error(tmp_path / "nope.png", "does not exist")
    with pytest.raises(ImageReadError, match="does not exist"):
        probe_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _assert_read_error(folder, "is a folder")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _assert_read_error(path, r"is empty \(0 bytes\)")


def test_unsupported_extension(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = _encode(tmp_path / "a.bmp", astronaut)
    _assert_read_error(path, r"\.bmp extension, which is not a supported image type.*\.png.*\.exr")


def test_wrong_extension(tmp_path: Path, astronaut: np.ndarray) -> None:
    png_bytes = _encode(tmp_path / "a.png", astronaut).read_bytes()
    fake = tmp_path / "x.jpg"
    fake.write_bytes(png_bytes)
    _assert_read_error(fake, r"x\.jpg has a \.jpg extension but holds PNG data")
    text = tmp_path / "notes.png"
    text.write_bytes(b"just some text, not an image")
    _assert_read_error(text, "content is not PNG data")


def test_truncated_png(tmp_path: Path, astronaut: np.ndarray) -> None:
    data = _encode(tmp_path / "a.png", astronaut).read_bytes()
    for cut in (len(data) // 2, len(data) - 12):  # mid-IDAT, and only IEND missing
        path = tmp_path / f"cut{cut}.png"
        path.write_bytes(data[:cut])
        _assert_read_error(path, "truncated .*before its IEND chunk")


def test_truncated_jpeg(tmp_path: Path, astronaut: np.ndarray) -> None:
    data = _encode(tmp_path / "a.jpg", astronaut).read_bytes()
    for cut in (2, 500, len(data) // 2):
        path = tmp_path / f"cut{cut}.jpg"
        path.write_bytes(data[:-cut])
        # Checked before decoding: cv2.imread (not imdecode) returns a grey-filled image here.
        _assert_read_error(path, "truncated .*no end-of-image marker")


def test_truncated_and_corrupt_exr(tmp_path: Path) -> None:
    r = np.random.default_rng(0).random((64, 40)).astype(np.float32)
    data = _write_exr(tmp_path / "a.exr", {"R": r, "G": r, "B": r}).read_bytes()
    cut = tmp_path / "cut.exr"
    cut.write_bytes(data[: len(data) // 2])
    _assert_read_error(cut, "truncated .*ends before its last block")
    # header only: the header itself is cut
    head = tmp_path / "head.exr"
    head.write_bytes(data[:40])
    _assert_read_error(head, "corrupt or truncated OpenEXR header")
    # complete length, garbage in the middle of the pixel data: the decoder fails
    broken = bytearray(data)
    broken[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    bad = tmp_path / "bad.exr"
    bad.write_bytes(bytes(broken))
    with pytest.raises(ImageReadError, match="truncated or corrupt OpenEXR data") as info:
        read_image(bad)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "compression",
    [OpenEXR.NO_COMPRESSION, OpenEXR.RLE_COMPRESSION, OpenEXR.ZIPS_COMPRESSION,
     OpenEXR.PIZ_COMPRESSION, OpenEXR.PXR24_COMPRESSION, OpenEXR.DWAB_COMPRESSION],
)
def test_exr_truncation_check_accepts_valid_files(tmp_path: Path, compression) -> None:
    r = np.random.default_rng(1).random((37, 9)).astype(np.float32)
    path = _write_exr(tmp_path / "c.exr", {"R": r, "G": r, "B": r}, compression)
    assert read_image(path).size == (37, 9)
    path.write_bytes(path.read_bytes()[:-5])
    _assert_read_error(path, "truncated .*ends before its last block")


def test_truncated_and_corrupt_tiff(tmp_path: Path, astronaut: np.ndarray) -> None:
    data = _encode(tmp_path / "a.tif", astronaut).read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 3])  # OpenCV puts the IFD last: the header is lost
    _assert_read_error(cut, "corrupt or truncated TIFF header")
    # Pillow puts the IFD first: the header survives, the strips are cut, the decoder fails
    first = tmp_path / "ifd_first.tif"
    Image.fromarray(astronaut).save(first)
    strips = tmp_path / "strips.tif"
    strips.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    assert probe_image(strips) == (96, 128, "tiff")
    _assert_read_error(strips, "could not be decoded .*TIFF data")
    junk = tmp_path / "junk.tiff"
    junk.write_bytes(b"II*\x00" + b"\xff" * 60)
    _assert_read_error(junk, "corrupt or truncated TIFF header")


def test_one_pixel_image(tmp_path: Path) -> None:
    path = _encode(tmp_path / "dot.png", np.zeros((1, 1, 3), np.uint8))
    _assert_read_error(path, r"dot\.png is 1×1; at least 2×2 pixels are needed")
    thin = _encode(tmp_path / "thin.png", np.zeros((1, 5), np.uint8))
    _assert_read_error(thin, r"is 5×1")


def test_huge_png_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_tiny_png(20000, 20000))
    assert path.stat().st_size < 200
    assert probe_image(path) == (20000, 20000, "png")
    _assert_read_error(
        path, r"bomb\.png is 20000×20000 \(400 MP\); the limit is 268 MP", ImageTooLargeError
    )
    assert MAX_PIXELS == 16384 * 16384


def test_max_pixels_argument(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = _encode(tmp_path / "a.png", astronaut)
    with pytest.raises(ImageTooLargeError, match=r"128×96"):
        read_image(path, max_pixels=1000)
    assert read_image(path, max_pixels=96 * 128).size == (96, 128)


# ------------------------------------------------------------------------------ write errors


@pytest.mark.parametrize("name", ["out.bmp", "out.webp", "out"])
def test_write_unsupported_extension_writes_nothing(tmp_path: Path, name: str) -> None:
    target = tmp_path / "sub" / name
    with pytest.raises(OutputError, match="not a supported image type"):
        write_image(target, torch.rand(1, 3, 4, 4))
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(("name", "depth"), [("a.jpg", 16), ("a.png", 32), ("a.exr", 8)])
def test_write_unsupported_bit_depth_writes_nothing(tmp_path: Path, name: str, depth: int) -> None:
    with pytest.raises(OutputError, match=f"{depth}-bit"):
        write_image(tmp_path / name, torch.rand(3, 4, 4), bit_depth=depth)
    assert _listing(tmp_path) == []


def test_write_rejects_bad_shapes_and_colorspace(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rgb must have shape"):
        write_image(tmp_path / "a.png", torch.rand(1, 4, 4, 4))
    with pytest.raises(ValueError, match="alpha is"):
        write_image(tmp_path / "a.png", torch.rand(3, 4, 4), torch.rand(1, 1, 5, 4))
    with pytest.raises(ValueError, match="colorspace"):
        write_image(tmp_path / "a.png", torch.rand(3, 4, 4), colorspace="acescg")
    assert _listing(tmp_path) == []


def test_write_disk_full_is_output_error_and_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "keep.exr"
    dest.write_bytes(b"previous render")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", full_disk)
    with pytest.raises(OutputError, match=r"disk full while writing .*keep\.exr"):
        write_image(dest, torch.rand(1, 3, 4, 4))
    assert dest.read_bytes() == b"previous render"
    assert _listing(tmp_path) == ["keep.exr"]


def test_write_accepts_three_dim_and_requires_grad(tmp_path: Path) -> None:
    rgb = torch.rand(3, 5, 6, requires_grad=True)
    img = read_image(write_image(str(tmp_path / "a.png"), rgb))
    assert (img.rgb[0] - rgb.detach()).abs().max() <= 0.5 / 255 + 1e-7
