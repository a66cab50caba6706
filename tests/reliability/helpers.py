"""Shared pieces of the fault-injection suite: tiny footage, a tiny model, output checks.

Everything is small on purpose (64×48 frames, a width-4 StyleBank model) so hundreds of runs fit in
CI time; the guarantees tested do not depend on the resolution.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
H, W = 48, 64
#: Hidden temporaries of core.foundation.atomic_write (``.name.<12 hex>.tmp.ext``) and of the add-on's record.
TEMPORARY = re.compile(r"^\..*\.tmp(\.[A-Za-z0-9]+)?$")
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def pan_frame(k: int, height: int = H, width: int = W) -> np.ndarray:
    """A smooth texture panning right 2 px and down 1 px per frame; ``(3, H, W)`` float32 in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = x - 2 * k, y - k
    r = 0.5 + 0.45 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 0.5 + 0.45 * np.sin((x + y) / 9.0)
    b = ((np.floor(x / 8) + np.floor(y / 8)) % 2) * 0.6 + 0.2
    return np.stack([r, g, b]).astype(np.float32)


def write_pan(folder: Path, frames: int, *, first: int = 1) -> Path:
    """``folder/frame_0001.png`` … (8-bit PNG); returns the ``frame_####.png`` pattern."""
    from core.io.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        write_image(folder / f"frame_{first + k:04d}.png", pan_frame(k))
    return folder / "frame_####.png"


def make_model(folder: Path, styles: tuple[str, ...] = ("a",), seed: int = 0) -> Path:
    """A random width-4 StyleBank model whose banks change the picture (a fresh bank is the identity)."""
    from core.stylebank.model import save_model
    from core.stylebank.net import StyleBankNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = StyleBankNet(width=4, styles=styles)
        for bank in net.banks.values():
            torch.nn.init.normal_(bank.layers[-1].weight, std=0.2)
    return save_model(net, folder, base_info={"steps": 0})


def cli_env() -> dict[str, str]:
    """Environment of a CLI subprocess: one thread (the runs must be bit-reproducible and cheap)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def cli(*args: object) -> list[str]:
    """``python -m core ARGS`` as an argv list."""
    return [sys.executable, "-m", "core", *map(str, args)]


def temporaries(folder: Path) -> list[str]:
    """Names of leftover temporary files or folders in ``folder`` (recursively)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if TEMPORARY.match(p.name))


def png_is_whole(path: Path) -> bool:
    """Signature and final IEND chunk present (what a torn write would lack)."""
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data.endswith(PNG_END)


def torn_frames(folder: Path) -> list[str]:
    """Visible ``frame_*.png`` files in ``folder`` that are not whole PNGs."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("frame_*.png") if not png_is_whole(p))


def frame_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("frame_*.png")) if folder.is_dir() else []


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pan_setup(root: Path, frames: int) -> tuple[Path, Path, Path]:
    """``(root, the pan's frame pattern, a tiny model)`` for a module's video tests."""
    return root, write_pan(root / "in", frames), make_model(root / "model")


def video_request(src: Path, out: Path, model: Path, blend: str):
    """A coherent StyleBank video request on the CPU with the tiny model's style ``a``."""
    from core.requests.video import VideoRequest

    return VideoRequest(source=src, output=out, model=model, style_names=("a",), device="cpu", blend=blend)
