"""A 2 000-frame sequence streams through the video job with flat memory.

A synthetic 2 000-frame MJPG ``.avi`` (24×16 px, so the run is about time per frame, not pixels)
goes through :func:`core.jobs.video.run_video` to an ``.avi`` output: decoded one frame at a time,
each result written as a PNG to the work folder, then encoded (every frame read back once). The
resident set size is sampled after every frame (progress callback) and every 10 ms by a thread
(to catch the encode too). Peak RSS and the growth over the last 1 500 frames are printed (``-s``)
and attached to the test report (``record_property``).
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from core.requests.video import VideoRequest
from core.io.video_files import VideoSource
from core.jobs.video import run_video
from tests.reliability.helpers import make_model, pan_frame, rss_mb, temporaries

FRAMES = 2000
SIZE = (16, 24)  # (H, W)
MAX_GROWTH_MB = 20.0


def _synthetic_avi(path, frames: int) -> None:
    import cv2

    h, w = SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (w, h))
    assert writer.isOpened()
    tiles = [np.ascontiguousarray((pan_frame(k, h, w).transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8))
             for k in range(64)]
    for k in range(frames):
        writer.write(tiles[k % 64])
    writer.release()


@pytest.mark.slow
def test_two_thousand_frames_stream_with_flat_memory(tmp_path, record_property):
    src = tmp_path / "long.avi"
    _synthetic_avi(src, FRAMES)
    model = make_model(tmp_path / "model")
    assert len(VideoSource(src)) == FRAMES

    per_frame: list[tuple[int, float]] = []
    sampled: list[float] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            sampled.append(rss_mb())
            stop.wait(0.01)

    def progress(event) -> bool:
        per_frame.append((event.step, rss_mb()))
        return True

    baseline = rss_mb()
    thread = threading.Thread(target=sampler, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        outcome = run_video(VideoRequest(source=src, output=tmp_path / "styled.avi", model=model, style_names=("a",),
                                         device="cpu"), progress)
    finally:
        stop.set()
        thread.join()
    seconds = time.monotonic() - started
    assert outcome.frames == outcome.computed == FRAMES
    assert len(VideoSource(outcome.output)) == FRAMES
    assert temporaries(tmp_path) == [] and not (tmp_path / "styled.avi.frames").exists()

    steps = np.array([s for s, _ in per_frame], dtype=np.float64)
    rss = np.array([r for _, r in per_frame])
    tail = steps > FRAMES - 1500
    slope = np.polyfit(steps[tail], rss[tail], 1)[0]  # MB per frame over the last 1 500 frames
    growth = float(slope * 1500)
    report = {
        "frames": FRAMES, "size": f"{SIZE[1]}x{SIZE[0]}", "seconds": round(seconds, 1),
        "ms_per_frame": round(1000 * seconds / FRAMES, 2), "rss_before_mb": round(baseline, 1),
        "rss_peak_mb": round(max(sampled + list(rss)), 1),
        "rss_at_frame_500_mb": round(float(rss[steps >= 500][0]), 1), "rss_at_end_mb": round(float(rss[-1]), 1),
        "rss_growth_last_1500_frames_mb": round(growth, 2),
    }
    print(f"\n2000-frame streaming: {json.dumps(report)}")
    record_property("long_sequence", json.dumps(report))
    assert growth < MAX_GROWTH_MB, report
    assert max(sampled + list(rss)) - float(rss[steps >= 500][0]) < 2 * MAX_GROWTH_MB, report
