"""Figure for docs/video.md: per-frame vs coherent StyleBank on a synthetic pan with an occluder.

The clip is made here (no shared data): a camera pan over scikit-image's ``coffee`` photo with a
textured disc crossing in front, so there is motion, occlusion and disocclusion. Both modes run
through :func:`core.jobs.video.run_video`; the figure shows three consecutive frames of each and the
temporal residual ``|O_t − warp(O_{t−1})|`` (brighter = flicker), with the warping errors in the
title row.

Usage::

    .venv/bin/python bench/video_figure.py [--model DIR] [--style NAME] [--out docs/images/video_coherence.jpg]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_clip(folder: Path, frames: int = 24, size: tuple[int, int] = (240, 320)) -> list[np.ndarray]:
    """Write the synthetic clip as PNGs; return the frames as float32 (H, W, 3)."""
    import cv2
    import torch
    from skimage import data

    from core.io.images import write_image

    h, w = size
    photo = data.coffee().astype(np.float32) / 255.0
    photo = cv2.resize(photo, (int(photo.shape[1] * 1.1), int(photo.shape[0] * 1.1)), interpolation=cv2.INTER_AREA)
    disc_tex = cv2.resize(data.chelsea().astype(np.float32) / 255.0, (90, 90), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:90, 0:90]
    disc = ((yy - 44.5) ** 2 + (xx - 44.5) ** 2) <= 44**2
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        x0, y0 = 10 + int(round(2.5 * k)), 20 + int(round(0.8 * k))
        frame = photo[y0 : y0 + h, x0 : x0 + w].copy()
        cx, cy = int(w - 40 - 9 * k), int(60 + 3 * k)
        for dy in range(90):
            for_y = cy - 45 + dy
            if not 0 <= for_y < h:
                continue
            xs = np.arange(90) + cx - 45
            ok = disc[dy] & (xs >= 0) & (xs < w)
            frame[for_y, xs[ok]] = disc_tex[dy, ok]
        write_image(folder / f"frame_{k + 1:04d}.png", torch.from_numpy(frame).permute(2, 0, 1)[None].contiguous())
        out.append(frame)
    return out


def main(argv: list[str] | None = None) -> int:
    import cv2
    import torch

    from core.video.flow import DISFlow, confidence, warp
    from core.io.images import read_image
    from core.requests.video import VideoRequest
    from core.video.temporal_metrics import warping_error
    from core.jobs.video import run_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="StyleBank model (default: vendored)")
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "video_coherence.jpg")
    ap.add_argument("--show", type=int, nargs=3, default=(12, 13, 14), help="frames to show (1-based)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_clip(tmp / "in")
        inputs = [read_image(p).srgb() for p in sorted((tmp / "in").glob("frame_*.png"))]
        results = {}
        for name, coherent in (("per-frame", False), ("coherent", True)):
            run_video(VideoRequest(source=tmp / "in" / "frame_####.png", output=tmp / name, model=args.model,
                                   style_names=(args.style,), coherent=coherent, device="cpu"))
            outs = [read_image(p).srgb() for p in sorted((tmp / name).glob("frame_*.png"))]
            results[name] = (outs, warping_error(outs, inputs))

        dis = DISFlow("medium")
        rows = []
        labels = []
        to_np = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
        rows.append([to_np(inputs[i - 1]) for i in args.show])
        labels.append("input")
        for name, (outs, err) in results.items():
            rows.append([to_np(outs[i - 1]) for i in args.show])
            labels.append(f"{name}: warping error {err:.4f}")
            resid = []
            for i in args.show:
                a, b = to_np(inputs[i - 1]), to_np(inputs[i - 2])
                back, fwd = dis(a, b), dis(b, a)
                mask = confidence(back, fwd, soft=False)[..., None]
                r = np.abs(to_np(outs[i - 1]) - warp(to_np(outs[i - 2]), back)).sum(-1, keepdims=True) * mask
                resid.append(np.repeat(np.clip(r * 3.0, 0, 1), 3, axis=-1))
            rows.append(resid)
            labels.append(f"{name}: |O_t - warp(O_t-1)| x3")
        h, w = rows[0][0].shape[:2]
        pad = 6
        label_h = 22
        canvas = np.ones((len(rows) * (h + label_h + pad), 3 * (w + pad), 3), np.float32)
        for r, (row, label) in enumerate(zip(rows, labels)):
            y = r * (h + label_h + pad) + label_h
            cv2.putText(canvas, label, (4, y - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            for c, img in enumerate(row):
                x = c * (w + pad)
                canvas[y : y + h, x : x + w] = img
        args.out.parent.mkdir(parents=True, exist_ok=True)
        bgr = (np.clip(canvas, 0, 1)[..., ::-1] * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
        from core.foundation.atomic_write import atomic_write_bytes

        atomic_write_bytes(args.out, buf.tobytes())
        print(json.dumps({"out": str(args.out), **{k: v[1] for k, v in results.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
