"""Contact sheet of a StyleBank model: every style on photos that were not used in training.

Rows: one per style (the style image first, then the photos stylised); a first row shows the
photos and the identity branch. Photos default to three BSDS500 *test* images (the vendored model
trains on train + val).

Usage:
    .venv/bin/python bench/stylebank_sheet.py [--model DIR] [--out docs/images/stylebank_sheet.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `core` is the repository's folder

from core.imaging.resize import resize, resize_long_side  # noqa: E402
from core.io.images import read_image  # noqa: E402
from core.stylebank.infer import stylize_stylebank  # noqa: E402
from core.stylebank.model import DEFAULT_MODEL_DIR, load_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTOS = ["bsds500/test/100007.jpg", "bsds500/test/16068.jpg", "bsds500/test/187099.jpg"]
CELL = 192


def _cell(t: torch.Tensor, label: str = "") -> np.ndarray:
    t = resize(t, (CELL, round(CELL * t.shape[-1] / t.shape[-2])))
    a = (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    canvas = np.full((CELL, round(CELL * 1.5), 3), 255, np.uint8)
    w = min(a.shape[1], canvas.shape[1])
    x0 = (canvas.shape[1] - w) // 2
    canvas[:, x0 : x0 + w] = a[:, :w]
    if label:
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 18), (0, 0, 0), -1)
        cv2.putText(canvas, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--photos", type=Path, nargs="+", default=[SHARED / p for p in PHOTOS])
    parser.add_argument("--styles-dir", type=Path, default=SHARED / "styles")
    parser.add_argument("--size", type=int, default=384, help="long side the photos are stylised at")
    parser.add_argument("--out", type=Path, default=Path("docs/images/stylebank_sheet.jpg"))
    args = parser.parse_args()
    net, manifest = load_model(args.model)
    photos = [resize_long_side(read_image(p).srgb(), args.size) for p in args.photos]
    rows = [[_cell(torch.ones(1, 3, CELL, CELL), "photo / identity")]
            + [_cell(net.reconstruct(resize(p, (p.shape[-2] // 4 * 4, p.shape[-1] // 4 * 4))).detach(),
                     p_name.stem) for p, p_name in zip(photos, args.photos)]]
    for name, entry in manifest["styles"].items():
        style_file = args.styles_dir / entry.get("image", "")
        style = read_image(style_file).srgb() if style_file.is_file() else torch.ones(1, 3, CELL, CELL)
        row = [_cell(style, name)]
        for p in photos:
            row.append(_cell(stylize_stylebank(net, p, [name]).image))
        rows.append(row)
    sheet = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(args.out.suffix, sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(rows) - 1} styles × {len(photos)} photos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
