"""The StyleBank benchmark's picture metrics, on real photos with known artefacts added."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from image_metrics import grid_score, psnr, ssim  # noqa: E402


def _photo(name: str) -> np.ndarray:
    return getattr(skimage.data, name)().astype(np.float32) / 255.0


def _with_grid(img: np.ndarray, period: int, amplitude: float, phase: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    lines = ((yy % period) == phase) | ((xx % period) == phase)
    return np.clip(img + amplitude * lines[..., None], 0, 1)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_a_faint_grid_stands_out_of_a_clean_photo(name):
    img = _photo(name)
    clean = grid_score(img, 8)
    assert clean < 3.0  # measured −8 … −1 dB
    for phase in (0, 3):  # wherever the grid lies
        assert grid_score(_with_grid(img, 8, 2 / 255, phase), 8) > clean + 8.0  # 2/255: barely visible


def test_a_grid_of_period_4_is_seen_at_4_not_at_an_unrelated_period():
    img = _photo("astronaut")
    gridded = _with_grid(img, 4, 3 / 255)
    assert grid_score(gridded, 4) > grid_score(img, 4) + 8.0
    assert grid_score(gridded, 7) < grid_score(img, 7) + 3.0


def test_psnr_and_ssim_rank_a_blurred_copy_below_the_original():
    import cv2

    img = _photo("coffee")
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    assert math.isinf(psnr(img, img)) and ssim(img, img) == pytest.approx(1.0)
    assert 20.0 < psnr(img, blurred) < 40.0
    assert ssim(img, blurred) < 0.95
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.01, img.shape).astype(np.float32), 0, 1)
    assert psnr(img, noisy) == pytest.approx(40.0, abs=0.5)  # σ = 0.01 → 40 dB


def test_too_small_an_image_or_period_is_refused():
    with pytest.raises(ValueError, match="period"):
        grid_score(_photo("coffee"), 1)
    with pytest.raises(ValueError, match="too small"):
        grid_score(_photo("coffee")[:20, :20], 8)
