"""Picture metrics for the StyleBank benchmark: fidelity (PSNR, SSIM) and periodic-grid artefacts.

* :func:`psnr` and :func:`ssim` (scikit-image's, on the luminance-weighted RGB, data range 1) say
  how faithfully the identity branch (``strength = 0``) gives the photo back.
* :func:`grid_score` measures a periodic grid of period ``p`` pixels — what a network with a
  ``1/p`` bottleneck leaves when its upsampling is not smooth. The picture's high-pass (the image
  minus a Gaussian blur of σ = ``p``/2, luminance) is folded onto the ``p × p`` phase lattice:
  the mean of the high-pass over all pixels at each phase ``(y mod p, x mod p)``. Without a grid,
  those ``p²`` means are sample means of ``N/p²`` values each and vary only by chance
  (variance ``σ²_hp · p²/N``); a grid adds the same offset at every period, so they vary far more.
  The score is that ratio in decibels: ≈ 0 dB for a clean photo, above ~6 dB where a grid is
  visible at 100 %. It is independent of the grid's phase and of the picture's size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["psnr", "ssim", "grid_score", "luminance"]


def _as_float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return a.astype(np.float32)


def luminance(img: np.ndarray) -> np.ndarray:
    """``(H, W)`` Rec. 601 luma of an ``(H, W, 3)`` image (uint8 or float in [0, 1])."""
    a = _as_float(img)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two ``(H, W, 3)`` images (range 1); ``inf`` when equal."""
    mse = float(np.mean((_as_float(a) - _as_float(b)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two ``(H, W, 3)`` images (scikit-image, Gaussian window)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_as_float(a), _as_float(b), channel_axis=2, data_range=1.0,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def grid_score(img: np.ndarray, period: int) -> float:
    """Strength of a periodic grid of ``period`` px in dB over chance (see the module docstring).

    Args:
        img: ``(H, W, 3)`` uint8 or float image, at least ``4 · period`` px on each side.
        period: Grid period in pixels (the network's bottleneck stride: 4 or 8).
    """
    if period < 2:
        raise ValueError(f"period must be ≥ 2, got {period}")
    y = luminance(img)
    h, w = (y.shape[0] // period) * period, (y.shape[1] // period) * period
    if h < 4 * period or w < 4 * period:
        raise ValueError(f"image {y.shape[1]}×{y.shape[0]} too small for period {period}")
    y = y[:h, :w]
    sigma = period / 2.0
    high = y - cv2.GaussianBlur(y, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    # drop a border where the blur sees the reflection
    m = int(math.ceil(3 * sigma / period)) * period
    high = high[m : h - m, m : w - m]
    phases = high.reshape(high.shape[0] // period, period, high.shape[1] // period, period).mean(axis=(0, 2))
    n_per_phase = high.size / period**2
    chance = float(high.var()) / n_per_phase
    observed = float(phases.var())
    return 10.0 * math.log10(max(observed, 1e-20) / max(chance, 1e-20))
