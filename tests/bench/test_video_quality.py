"""The coherent-video benchmark's measures (bench/video_quality.py) on synthetic arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from video_quality import (  # noqa: E402
    crispness_sheet,
    ghost_clip,
    ghost_masks,
    ghost_ratio,
    line_plot,
    sharpness,
    sharpness_ratios,
    slope_per_100,
)


def _texture(seed: int = 0, size: tuple[int, int] = (64, 96)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_sharpness_is_laplacian_variance_of_luma_and_drops_with_blur():
    img = _texture()
    y = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)
    assert sharpness(img) == pytest.approx(float(cv2.Laplacian(y, cv2.CV_32F).var()), rel=1e-6)
    assert sharpness(img.astype(np.float32) / 255.0) == pytest.approx(sharpness(img), rel=1e-4)  # same 0–255 scale
    blurred = cv2.GaussianBlur(img, (5, 5), 1.0)
    assert sharpness(blurred) < 0.5 * sharpness(img)
    assert sharpness(np.full((16, 16, 3), 128, np.uint8)) == 0.0


def test_sharpness_ratios_summary_and_drift():
    base = [100.0] * 101
    flat = sharpness_ratios([95.0] * 101, base)
    assert flat["mean"] == pytest.approx(0.95) and flat["min"] == flat["max"] == pytest.approx(0.95)
    assert flat["drift_per_100"] == pytest.approx(0.0, abs=1e-9) and flat["within"] is True
    # ratio falling linearly from 1.0 to 0.8 over 100 frames: drift −0.2 per 100 frames
    falling = sharpness_ratios([100.0 - 0.2 * i for i in range(101)], base)
    assert falling["drift_per_100"] == pytest.approx(-0.2, rel=1e-6)
    assert falling["min"] == pytest.approx(0.8) and falling["argmin"] == 100
    assert falling["frames_outside"] in (49, 50) and falling["within"] is False  # ratio < 0.9 from frame 51 (50: 0.9 ± rounding)
    # frame 0 is left out of the summary (no previous frame) but kept in the curve
    first = sharpness_ratios([50.0, 100.0, 100.0, 100.0], [100.0] * 4)
    assert first["min"] == 1.0 and first["ratio"][0] == 0.5
    with pytest.raises(ValueError):
        sharpness_ratios([1.0], [1.0, 2.0])
    assert slope_per_100([1.0, 2.0]) is None


def test_ghost_masks_uncovered_and_far():
    prev = np.zeros((60, 100), bool)
    cur = np.zeros((60, 100), bool)
    prev[20:40, 10:30] = True
    cur[20:40, 20:40] = True
    uncovered, far = ghost_masks(prev, cur, far_px=15)
    assert uncovered.sum() == 20 * 10 and uncovered[20:40, 10:20].all()
    assert not far[20:40, 0:54].any()  # within 15 px of either mask
    assert far[:, 60:].all()


def test_ghost_ratio_flags_a_trail_and_passes_a_clean_result():
    frames, masks = ghost_clip(frames=6, size=(90, 160), speed=7, side=30)
    assert len(frames) == 6 and frames[0].shape == (90, 160, 3) and masks[0].sum() == 30 * 30
    assert not (masks[1] == masks[0]).all()
    per = [f * 0.9 for f in frames]  # a stand-in "stylisation"
    rng = np.random.default_rng(1)
    clean = [p + rng.normal(0, 0.01, p.shape).astype(np.float32) for p in per]  # the same everywhere
    ghost = [c.copy() for c in clean]
    for t in range(1, 6):
        ghost[t][masks[t - 1] & ~masks[t]] = per[t - 1][masks[t - 1] & ~masks[t]]  # the object's stale colour
    ok = ghost_ratio(clean, per, masks)
    bad = ghost_ratio(ghost, per, masks)
    assert ok["frames"] == 5 and 0.7 < ok["ratio"] < 1.3
    assert bad["ratio"] > 3.0


def test_line_plot_and_sheet_are_images():
    img = line_plot({"a": [1.0, 1.1, 0.9, float("nan"), 1.0], "b": [0.5, 0.6, 0.7, 0.8, 0.9]}, title="t",
                    xlabel="frame", ylabel="ratio", hlines={"one": 1.0})
    assert img.dtype == np.uint8 and img.shape == (460, 1000, 3) and (img < 250).any()
    log = line_plot({"a": [1e-3, 2e-3, 5e-3]}, title="t", xlabel="x", ylabel="y", log_y=True, size=(400, 300))
    assert log.shape == (300, 400, 3)
    sheet = crispness_sheet({"x": _texture(1), "y": _texture(2)}, (10, 20, 32), title="sheet")
    assert sheet.dtype == np.uint8 and sheet.shape[1] >= 2 * 96
