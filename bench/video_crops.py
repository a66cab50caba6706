"""Crops for a person to judge coherent video by: per-frame vs coherent, one frame, whole and enlarged.

Runs :func:`core.jobs.video.run_video` on a clip once per configuration (per-frame, coherent with
DIS flow, and with ``--vectors-dir`` coherent with the render's Vector/Depth passes), then writes one
PNG sheet: for each chosen frame a row of the configurations' crops at ``--zoom`` (nearest
neighbour, so every output pixel is visible), labelled. The numbers are in ``bench/video.py``; this
is what they should agree with.

Usage::

    .venv/bin/python bench/video_crops.py --clip /tmp/blender_clip/frames --vectors-dir /tmp/blender_clip/passes \\
        --frames 16 --crop 200,90,240,150 --out docs/images/video_blender_crops.png
    .venv/bin/python bench/video_crops.py --frames 40 --pick 14 37 --crop 240,120,200,160 \\
        --out docs/images/video_crops.png      # cutBunny.mp4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_png_atomic  # noqa: E402
from video_quality import label  # noqa: E402

CLIP = ROOT.parent / "shared" / "data" / "video" / "cutBunny.mp4"


def _first_frames(clip: Path, count: int, dest: Path) -> Path:
    """The first ``count`` frames of a video file or a folder of PNGs, as ``dest/frame_####.png``."""
    import shutil

    import cv2

    dest.mkdir(parents=True)
    if clip.is_dir():
        for k, f in enumerate(sorted(clip.glob("*.png"))[:count]):
            shutil.copyfile(f, dest / f"frame_{k + 1:04d}.png")
    else:
        cap = cv2.VideoCapture(str(clip))
        for k in range(count):
            ok, frame = cap.read()
            if not ok:
                break
            cv2.imwrite(str(dest / f"frame_{k + 1:04d}.png"), frame)
        cap.release()
    return dest / "frame_####.png"


def _run(name: str, source: Path, work: Path, style: str, **kw) -> Path:
    from core.jobs.video import run_video
    from core.requests.video import VideoRequest

    out = work / name
    run_video(VideoRequest(source=source, output=out / "frame_####.png", style_names=(style,), device="cpu", **kw))
    return out


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=CLIP, help="video file or frame folder/pattern (default cutBunny.mp4)")
    p.add_argument("--vectors-dir", type=Path, default=None, help="the clip's Vector/Depth EXRs: adds coherent-vectors")
    p.add_argument("--style", default="la_muse")
    p.add_argument("--frames", type=int, default=16, help="stylise the first N frames (default 16)")
    p.add_argument("--pick", type=int, nargs="*", default=None, help="frames to show, 1-based (default: the last)")
    p.add_argument("--crop", default=None, help="x,y,w,h of the crop in the output frame (default: the centre third)")
    p.add_argument("--zoom", type=int, default=2, help="enlargement of the crops (default 2: 200 %%)")
    p.add_argument("--out", type=Path, required=True, help="the PNG sheet to write")
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = _first_frames(a.clip, a.frames, work / "source")
        runs = {"per-frame": _run("per", source, work, a.style, coherent=False),
                "coherent, DIS flow": _run("dis", source, work, a.style)}
        if a.vectors_dir is not None:
            runs["coherent, render passes"] = _run("vec", source, work, a.style, flow="vectors",
                                                   vectors_dir=a.vectors_dir)
        picks = a.pick or [a.frames]
        rows = []
        for k in picks:
            tiles = []
            for name, folder in runs.items():
                files = sorted(folder.glob("frame_*.png"))
                img = cv2.imread(str(files[k - 1]), cv2.IMREAD_COLOR)
                h, w = img.shape[:2]
                x, y, cw, ch = (int(v) for v in a.crop.split(",")) if a.crop else (w // 3, h // 3, w // 3, h // 3)
                crop = cv2.resize(img[y:y + ch, x:x + cw], None, fx=a.zoom, fy=a.zoom, interpolation=cv2.INTER_NEAREST)
                tiles += [label(crop, f"{name}, frame {k}"), np.full((crop.shape[0] + 22, 6, 3), 255, np.uint8)]
            rows.append(np.hstack(tiles[:-1]))
        sheet = np.vstack([np.vstack([r, np.full((6, r.shape[1], 3), 255, np.uint8)]) for r in rows])
        write_png_atomic(a.out, sheet)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
