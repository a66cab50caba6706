"""Memory of a long coherent video job: 10,000 frames through ``core.jobs.video.run_video``.

Issue 14 asks for memory that stays flat over 10,000 frames. The clip is synthetic (a textured
background panning under a textured square that moves fast, MJPG ``.avi``) and small (default
96×54), so the run measures what grows with the frame count, not with the pixels: the coherent
engine keeps only the previous frame, the output is a folder of PNGs written one by one.

The resident set size (``/proc/self/statm``) is sampled after every frame (progress callback) and
every 20 ms by a thread. Reported: the peak, the RSS at frames 1,000 / 5,000 / 10,000 and the
slope of a least-squares line through the per-frame samples after the first 1,000 frames (MB per
1,000 frames). Results go to ``bench/results/video_memory.json``; ``--docs`` rewrites its
section of ``docs/video.md``.

    .venv/bin/python bench/video_memory.py                 # 10,000 frames, vendored model
    .venv/bin/python bench/video_memory.py --frames 500    # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchlib import loadavg, machine, section_start, update_docs_section, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "video_memory.json"
DOCS = ROOT / "docs" / "video.md"
SECTION = "## Memory over a long clip"


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_clip(path: Path, frames: int, size: tuple[int, int]) -> None:
    """A panning textured background with a fast square over it, MJPG at 24 fps."""
    import cv2

    h, w = size
    rng = np.random.default_rng(0)
    texture = (rng.random((h * 2, w * 3, 3)) * 255).astype(np.uint8)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.5)
    square = (rng.random((h // 3, h // 3, 3)) * 255).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24.0, (w, h))
    try:
        for k in range(frames):
            x0 = (k * 2) % (texture.shape[1] - w)
            frame = texture[h // 2:h // 2 + h, x0:x0 + w].copy()
            sx = (k * 7) % (w - square.shape[1])
            sy = h // 3
            frame[sy:sy + square.shape[0], sx:sx + square.shape[1]] = square
            writer.write(frame)
    finally:
        writer.release()


def run(frames: int, size: tuple[int, int], model: Path | None, style: str, work: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from core.jobs.video import run_video
    from core.requests.video import VideoRequest

    clip = work / "clip.avi"
    write_clip(clip, frames, size)
    per_frame: list[tuple[int, float]] = []
    peak = [rss_mb()]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    def progress(event) -> bool:
        value = rss_mb()
        per_frame.append((event.step, value))
        peak[0] = max(peak[0], value)
        if event.step % 1000 == 0:
            print(f"[video-memory] frame {event.step}/{event.total}: {value:.0f} MB", file=sys.stderr, flush=True)
        return True

    thread = threading.Thread(target=sampler, daemon=True)
    start_rss = rss_mb()
    thread.start()
    started = time.perf_counter()
    try:
        outcome = run_video(VideoRequest(source=clip, output=work / "out", model=model, style_names=(style,),
                                         device="cpu", coherent=True), progress)
    finally:
        stop.set()
        thread.join()
    seconds = time.perf_counter() - started
    steps = np.array([s for s, _ in per_frame], np.float64)
    values = np.array([v for _, v in per_frame], np.float64)
    after = steps > min(1000, frames // 10)
    slope = float(np.polyfit(steps[after], values[after], 1)[0] * 1000) if after.sum() > 10 else None

    def at(frame: int) -> float | None:
        hits = values[steps == frame]
        return round(float(hits[0]), 1) if len(hits) else None

    return {"frames": frames, "computed": outcome.computed, "size": list(size), "seconds": round(seconds, 1),
            "seconds_per_frame": round(seconds / max(outcome.computed, 1), 4), "rss_start_mb": round(start_rss, 1),
            "rss_peak_mb": round(peak[0], 1), "rss_at": {str(f): at(f) for f in (1000, 5000, 10000) if f <= frames},
            "rss_end_mb": round(float(values[-1]), 1), "slope_mb_per_1000_frames": None if slope is None else
            round(slope, 3)}


def render_section(r: dict) -> str:
    m = r["machine"]
    res = r["result"]
    lines = section_start(SECTION, r, "a short clip")
    lines += [
        f"`bench/video_memory.py`: {res['frames']:,} frames ({res['size'][1]}×{res['size'][0]}, a panning "
        "texture under a fast square) through the coherent video job (`run_video`, StyleBank "
        f"`{r['style']}`, DIS flow, image blending with detail restoration), written as PNG frames.",
        "",
        "| frames | peak RSS | RSS at 1,000 / 5,000 / 10,000 | growth after frame 1,000 | time per frame |",
        "|---|---|---|---|---|",
        f"| {res['frames']:,} | {res['rss_peak_mb']:.0f} MB | "
        + " / ".join("—" if v is None else f"{v:.0f} MB" for v in res["rss_at"].values())
        + f" | {res['slope_mb_per_1000_frames']:+.2f} MB per 1,000 frames | {res['seconds_per_frame'] * 1000:.0f} ms |",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, torch {m['torch']} ({m['torch_threads']} threads); "
        f"load average {r['load_before']} before, {r['load_after']} after (shared machine: time is indicative).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", default="96x54", help="WxH")
    ap.add_argument("--model", type=Path, default=None, help="StyleBank model folder (default: vendored)")
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--docs", action="store_true", help="rewrite the section of docs/video.md")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="nst-video-memory-") as tmp:
        result = run(args.frames, (h, w), args.model, args.style, Path(tmp))
    payload = {"machine": machine(args.threads), "style": args.style, "quick": args.frames < 10_000,
               "load_before": load_before, "load_after": loadavg(), "result": result}
    write_json_atomic(args.out, payload)
    print(render_section(payload))
    if args.docs:
        update_docs_section(DOCS, SECTION, render_section(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
