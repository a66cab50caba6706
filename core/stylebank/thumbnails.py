"""Style thumbnails: what each bank of a model does to one photo, for style menus.

A thumbnail is the model's own output (the bank applied to a photo and cropped square), so it
shows the look an artist gets, and it carries no third-party painting. The Blender add-on shows
``<model folder>/thumbnails/<style>.png`` in its style menus (``addon/model_styles.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..imaging.resize import resize, size_for_long_side
from ..io.images import write_image
from .infer import stylize_stylebank
from .model import DEFAULT_MODEL_DIR, load_model

__all__ = ["THUMBNAIL_DIR", "write_thumbnails"]

#: The folder of a model that holds the thumbnails.
THUMBNAIL_DIR = "thumbnails"


def write_thumbnails(model_dir: str | Path | None, photo: torch.Tensor, *, styles: list[str] | None = None,
                     size: int = 128, work_side: int = 384) -> list[Path]:
    """Write ``thumbnails/<style>.png`` for each style (all of the model's when ``styles`` is None).

    Args:
        model_dir: The model folder (None: the vendored model; its folder receives the files).
        photo: ``(1, 3, H, W)`` display sRGB in [0, 1]: what every style is shown on.
        styles: Which banks.
        size: Side of the square thumbnail in pixels.
        work_side: Long side at which the photo is stylised (the strokes' scale in the thumbnail).

    Returns:
        The written files (atomically; existing thumbnails of those styles are replaced).
    """
    net, _manifest = load_model(model_dir, styles)
    folder = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    h, w = photo.shape[-2:]
    small = resize(photo, size_for_long_side(h, w, work_side)).clamp(0, 1)
    sh, sw = small.shape[-2:]
    side = min(sh, sw)
    top, left = (sh - side) // 2, (sw - side) // 2
    written = []
    with torch.no_grad():
        for style in styles or list(net.styles):
            out = stylize_stylebank(net, small, [style]).image[..., top:top + side, left:left + side]
            thumb = resize(out, (size, size)).clamp(0, 1)
            written.append(write_image(folder / THUMBNAIL_DIR / f"{style}.png", thumb, colorspace="srgb", bit_depth=8))
    return written
