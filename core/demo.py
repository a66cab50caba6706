"""``make demo``: stylise a real photo with a generated painting and write a side-by-side sheet.

Outputs under ``--out`` (default ``out/demo``): ``content.png``, ``style.png``, ``stylized.png``,
``stylized_luminance.png`` (colour preserved), ``sheet.png`` and ``result.json``.

The content photo comes from scikit-image's bundled samples (installed by ``make setup``); the
style is painted procedurally (:func:`paint_strokes`), so the demo needs no downloads and no
``../shared`` data. Later the demo grows into a rendered Blender scene.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from .atomic_write import atomic_write_bytes
from .image_io import write_image
from .progress import ProgressEvent

PALETTE = np.array(
    [[226, 73, 39], [247, 178, 38], [42, 96, 168], [24, 45, 89], [238, 222, 190], [121, 167, 84],
     [189, 47, 92], [20, 20, 24]], dtype=np.float32,
) / 255.0


def paint_strokes(size: int = 384, seed: int = 7) -> torch.Tensor:
    """A procedural "painting": layered curved brush strokes from a fixed palette.

    Args:
        size: Side of the square image.
        seed: Random seed (the picture is a pure function of it).

    Returns:
        ``(1, 3, size, size)`` display sRGB in [0, 1].
    """
    rng = np.random.default_rng(seed)
    canvas = np.ones((size, size, 3), np.float32) * PALETTE[4]
    for layer, (count, width) in enumerate(((60, 0.06), (220, 0.03), (500, 0.012))):
        for _ in range(count):
            colour = PALETTE[rng.integers(len(PALETTE))] * rng.uniform(0.85, 1.1)
            x, y = rng.uniform(0, size, 2)
            angle = rng.uniform(0, math.pi) + layer * 0.4
            pts = []
            for _ in range(8):
                pts.append((x, y))
                angle += rng.normal(0, 0.25)
                x += math.cos(angle) * size * 0.03
                y += math.sin(angle) * size * 0.03
            thickness = max(1, int(size * width * rng.uniform(0.6, 1.4)))
            cv2.polylines(canvas, [np.array(pts, np.int32)], False, colour.clip(0, 1).tolist(), thickness,
                          lineType=cv2.LINE_AA)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6)
    grain = rng.normal(0, 0.02, canvas.shape[:2])[..., None].astype(np.float32)
    return torch.from_numpy((canvas + grain).clip(0, 1)).permute(2, 0, 1)[None].contiguous()


def _content_photo() -> torch.Tensor:
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - make setup installs it
        raise SystemExit("error: the demo needs scikit-image for its sample photo; run `make setup`") from exc
    img = data.astronaut().astype(np.float32) / 255.0
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _to_u8(t: torch.Tensor, height: int) -> np.ndarray:
    a = (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    w = round(a.shape[1] * height / a.shape[0])
    return cv2.resize(a, (w, height), interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns an exit code."""
    parser = argparse.ArgumentParser(prog="python -m core.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from .gatys import GatysConfig, stylize_gatys
    from .resize import resize_long_side
    from .vgg import get_encoder

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = args.out
    content = resize_long_side(_content_photo(), args.size)
    style = paint_strokes(args.size)
    write_image(out / "content.png", content)
    write_image(out / "style.png", style)
    encoder = get_encoder()
    results = {}
    for name, mode in (("stylized", "none"), ("stylized_luminance", "luminance")):
        config = GatysConfig(iterations=args.iterations, preserve_color=mode)
        with tqdm(total=1, desc=name, file=sys.stderr, leave=False) as bar:
            def progress(event: ProgressEvent) -> bool:
                bar.total, bar.n = event.total, event.step
                bar.set_postfix(loss=f"{event.loss:.3g}" if event.loss is not None else "", refresh=True)
                return True

            start = time.perf_counter()
            result = stylize_gatys(content, [style], encoder, config=config, progress=progress)
        write_image(out / f"{name}.png", result.image)
        results[name] = {"seconds": round(time.perf_counter() - start, 2), "losses": result.losses,
                         "levels": result.levels, "iterations": result.iterations}
    panels = [_label(_to_u8(content, 320), "content (scikit-image astronaut)"),
              _label(_to_u8(style, 320), "style (generated)"),
              _label(_to_u8(torch.from_numpy(cv2.imread(str(out / "stylized.png"))[:, :, ::-1] / 255.0)
                            .permute(2, 0, 1)[None].float(), 320), "Gatys, coarse-to-fine"),
              _label(_to_u8(torch.from_numpy(cv2.imread(str(out / "stylized_luminance.png"))[:, :, ::-1] / 255.0)
                            .permute(2, 0, 1)[None].float(), 320), "luminance only (colour kept)")]
    sheet = np.concatenate(panels, axis=1)
    ok, png = cv2.imencode(".png", sheet[:, :, ::-1])
    atomic_write_bytes(out / "sheet.png", png.tobytes())
    atomic_write_bytes(out / "result.json", json.dumps(results, indent=2).encode())
    print(f"demo: wrote {out}/stylized.png, {out}/sheet.png ({sum(r['seconds'] for r in results.values()):.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
