"""Where a coherent video step's time goes: per-frame and coherent steps side by side, piece by piece.

One process runs a per-frame and a coherent :class:`core.video.online.OnlineStylizer` on the same
frames, alternating which goes first, so a busy machine slows both alike (``bench/video.py`` runs
the modes one after another in separate processes, and includes reading and writing frames). Each
piece of the coherent step is timed by wrapping the function that does it:

* wall time (``--clock wall``, default) with OpenCV and torch on ``--threads`` threads, as the
  engine runs, or
* the main thread's CPU time (``--clock thread``, OpenCV on one thread so its work is counted
  there): the steadiest figure for the pieces when other processes compete for the cores. The
  network's other torch threads are not counted, so the two steps' ratio is then not a time ratio.

Usage::

    .venv/bin/python bench/video_step_profile.py                     # 640×360, 32 frames of cutBunny.mp4
    .venv/bin/python bench/video_step_profile.py --size 1920 --frames 10 --clock thread

Prints the medians (ms per frame) of both steps, their ratio, and the pieces (``docs/video.md``,
*Speed*). Set ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine (see ``bench/video.py``).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "video" / "cutBunny.mp4"
sys.path.insert(0, str(ROOT))


def _frames(clip: Path, count: int, size: int | None):
    import cv2
    import numpy as np
    import torch

    cap = cv2.VideoCapture(str(clip))
    out = []
    try:
        for _ in range(count):
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            scale = 1.0 if size is None else size / max(h, w)
            if scale != 1.0:
                interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
                bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=interp)
            rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
            out.append(torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous())
    finally:
        cap.release()
    if len(out) < 4:
        raise SystemExit(f"{clip}: need at least 4 frames, got {len(out)}")
    return out


def profile(frames, *, model: Path, style: str, clock) -> dict:
    """Median ms per frame of both steps and of the coherent step's pieces (frames 2 … on)."""
    from core.requests.video import VideoRequest
    from core.video import flow as flowlib
    from core.video import motion, online

    spent: dict[str, float] = collections.defaultdict(float)

    def timed(owner, name: str, label: str):
        fn = getattr(owner, name)
        setattr(owner, name, _timed_call(fn, spent, label, clock))
        return fn

    originals = [
        (online, "analyse", timed(online, "analyse", "grey and small copies")),
        (motion, "confidence", timed(motion, "confidence", "consistency check")),
        (motion, "photometric_match", timed(motion, "photometric_match", "photometric check")),
        (online, "dis_motion", timed(online, "dis_motion", "motion (DIS + checks + resizing)")),
        (online, "restore_detail_hwc", timed(online, "restore_detail_hwc", "detail restoration")),
        (flowlib, "warp_cubic", timed(flowlib, "warp_cubic", "cubic warp")),
        (flowlib.DISFlow, "__call__", timed(flowlib.DISFlow, "__call__", "DIS (both directions)")),
    ]
    try:
        engines = {}
        for coherent in (False, True):
            request = VideoRequest(source=Path("in"), output=Path("out"), model=model, style_names=(style,),
                                   coherent=coherent, device="cpu")
            engine = online.OnlineStylizer(request)
            engine.stylise = _timed_call(engine.stylise, spent, "network", clock)
            engines[coherent] = engine
        steps: dict[bool, list[float]] = {False: [], True: []}
        pieces: dict[str, list[float]] = collections.defaultdict(list)
        for i, frame in enumerate(frames):
            for coherent in ((True, False) if i % 2 else (False, True)):
                spent.clear()
                t = clock()
                engines[coherent].step(frame)
                dt = clock() - t
                if i < 2:
                    continue
                steps[coherent].append(dt)
                if coherent:
                    for k, v in spent.items():
                        pieces[k].append(v)
                    inside = ("network", "motion (DIS + checks + resizing)", "grey and small copies",
                              "detail restoration", "cubic warp")
                    pieces["rest (blend, conversions, quantisation)"].append(
                        dt - sum(v for k, v in spent.items() if k in inside))
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    per, coh = statistics.median(steps[False]), statistics.median(steps[True])
    return {
        "per_frame_ms": round(per * 1000, 2), "coherent_ms": round(coh * 1000, 2), "ratio": round(coh / per, 3),
        "paired_ratio_median": round(statistics.median(c / p for c, p in zip(steps[True], steps[False])), 3),
        "pieces_ms": {k: round(statistics.median(v) * 1000, 2)
                      for k, v in sorted(pieces.items(), key=lambda kv: -statistics.median(kv[1]))},
    }


def _timed_call(fn, spent, label, clock):
    def wrapper(*args, **kwargs):
        t = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += clock() - t
    return wrapper


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=CLIP, help=f"input video (default {CLIP})")
    p.add_argument("--frames", type=int, default=32, help="frames to run (the first two are not counted)")
    p.add_argument("--size", type=int, default=None, help="working long side in px (default: native)")
    p.add_argument("--model", type=Path, default=None, help="StyleBank model folder (default: the vendored one)")
    p.add_argument("--style", default="la_muse", help="bank to use (default la_muse)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (and OpenCV's with --clock wall)")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="wall time, or the main thread's CPU time with OpenCV on one thread")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)

    import cv2
    import torch

    from core.stylebank.model import DEFAULT_MODEL_DIR

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads if a.clock == "wall" else 1)
    clock = time.perf_counter if a.clock == "wall" else time.thread_time
    frames = _frames(a.clip, a.frames, a.size)
    result = profile(frames, model=a.model or DEFAULT_MODEL_DIR, style=a.style, clock=clock)
    result.update({"size": list(frames[0].shape[-2:]), "frames": len(frames), "clock": a.clock,
                   "threads": a.threads})
    print(json.dumps(result, indent=2))
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
