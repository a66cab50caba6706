"""Detail restoration for temporal blending: coherent frames as crisp as per-frame ones.

Blending the propagated previous result with the fresh stylisation,
``R = fresh + keep · c ⊙ (warp(R_{t−1}) − fresh)``, averages two pictures whose strokes are almost
but not exactly aligned. Averaging partly cancels their fine detail, and since every frame carries
the last one forward the loss compounds: measured on ``cutBunny.mp4`` (48 frames, 320 × 180,
StyleBank ``la_muse``, keep 0.85), the Laplacian-variance sharpness fell to 0.43× per-frame on
average (0.26× at worst). Better resampling does not help: bicubic, cubic B-spline and quintic
B-spline warps all gave 0.43×, nearest-neighbour 0.64× — the loss comes from the averaging.

:func:`restore_detail` gives the blend back the fresh frame's *amount* of detail while keeping the
blend's *placement* of it: the picture is split into band-pass layers (differences of Gaussians
at σ = 0.7 and 1.4 px) and each layer is scaled by ``(E_fresh / E_blend)^0.75``, a power of the
ratio of the local energies (Gaussian-weighted over a few pixels) of that layer in the fresh frame
and in the blend, never below 1 (detail is restored, never removed). The strokes that are kept are
still the propagated ones, so the sequence stays steady. The exponent 0.75 rather than the
amplitude ratio's 0.5: the layers overlap in frequency, so scaling each by its own amplitude ratio
undershoots; 0.75 in one pass matched the fresh frames better (mean 1.02×, 0.96–1.08× at every
frame) than two passes of 0.5 (0.96×, 0.89–1.02×) at about a third of the cost. With the gain
capped at :data:`MAX_GAIN` and the photometric check of :mod:`.consistency`, on the whole clip
(240 frames, 640 × 360, ``bench/video.py``): sharpness 1.02× per-frame on average, 0.94–1.08× at
every frame, no drift; warping error 0.35× per-frame (the plain blend: 0.28×, but 0.71× as sharp
on average and 0.24× at worst).

Everything runs in OpenCV on float32 ``(H, W, 3)`` arrays (a 1080p frame: see ``bench/video.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["restore_detail", "restore_detail_hwc", "DETAIL_SIGMAS"]

#: Gaussian σ (pixels) of the band edges: the layers below 0.7 px and between 0.7 and 1.4 px.
DETAIL_SIGMAS = (0.7, 1.4)
#: The gain is the energy ratio to this power (0.5 would match amplitudes if the layers were disjoint).
GAIN_POWER = 0.75
#: σ of the window over which layer energies are compared.
ENERGY_SIGMA = 2.0
#: The largest gain a layer may get: where averaging cancelled more than half the amplitude, what is left
#: is not the same strokes attenuated but a residue, and amplifying it further shows as grain (seen at
#: 100 % with 3.0 on cutBunny; 2.0 keeps the sharpness ratio at 1.02 mean, 0.96 worst).
MAX_GAIN = 2.0
PASSES = 1


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    k = 2 * int(round(3 * sigma)) + 1
    return cv2.GaussianBlur(img, (k, k), sigma, borderType=cv2.BORDER_REFLECT)


def _layers(img: np.ndarray, sigmas: tuple[float, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """Band-pass layers (finest first) and the low-pass residual; they sum to ``img``."""
    layers, rest = [], img
    for sigma in sigmas:
        low = _blur(img, sigma)
        layers.append(cv2.subtract(rest, low))
        rest = low
    return layers, rest


_CHANNEL_SUM = np.ones((1, 3), np.float32)
#: Energies and gains are computed at this fraction of the frame's size and the gain map is scaled
#: back up: the energies are local averages over σ = :data:`ENERGY_SIGMA` px, smooth enough that
#: half size changes nothing measurable (``cutBunny.mp4``, 48 frames, 640 × 360: sharpness
#: 0.99× / 0.94× per-frame on average / at worst, warping error 0.198×, as at full size); with the
#: torch round trips gone, the restoration takes 12 ms of CPU per 640 × 360 frame instead of 18.
ENERGY_SCALE = 0.5
_EPS = 1e-6


def _energy(layer: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Local energy of a layer at ``size`` = ``(w, h)``.

    The squared values summed over the channels, Gaussian-weighted (σ = :data:`ENERGY_SIGMA` px of
    the layer), plus a small epsilon so that ratios of energies are defined.
    """
    sq = cv2.transform(cv2.multiply(layer, layer), _CHANNEL_SUM)
    scale = size[0] / layer.shape[1]
    if scale < 1.0:
        sq = cv2.resize(sq, size, interpolation=cv2.INTER_AREA)
    energy = _blur(sq, ENERGY_SIGMA * scale)
    energy += _EPS
    return energy


def _energy_size(height: int, width: int) -> tuple[int, int]:
    """``(w, h)`` of the energy maps (the frame's size where halving would leave too little)."""
    if min(height, width) < 16:
        return width, height
    return max(1, round(width * ENERGY_SCALE)), max(1, round(height * ENERGY_SCALE))


def _restore_once(blend: np.ndarray, fresh_energy: list[np.ndarray], sigmas: tuple[float, ...]) -> np.ndarray:
    layers, out = _layers(blend, sigmas)
    height, width = blend.shape[:2]
    for layer, target in zip(layers, fresh_energy):
        gain = cv2.pow(cv2.divide(target, _energy(layer, target.shape[::-1])), GAIN_POWER)
        gain = cv2.min(cv2.max(gain, 1.0), MAX_GAIN)
        if gain.shape != (height, width):
            gain = cv2.resize(gain, (width, height), interpolation=cv2.INTER_LINEAR)
        out = cv2.add(out, cv2.multiply(layer, cv2.merge((gain, gain, gain))))
    return out


def restore_detail(blend: torch.Tensor, fresh: torch.Tensor, *, sigmas: tuple[float, ...] = DETAIL_SIGMAS,
                   passes: int = PASSES) -> torch.Tensor:
    """Give a temporal blend back the fine detail of the fresh stylisation (see the module docstring).

    Args:
        blend: ``(1, 3, H, W)`` the blended frame (propagated and fresh), in [0, 1].
        fresh: ``(1, 3, H, W)`` the fresh stylisation of the same frame.
        sigmas: Band edges in pixels, finest first.
        passes: Restoration passes (each from the previous result; one is enough with :data:`GAIN_POWER`).

    Returns:
        ``(1, 3, H, W)`` float32 on the CPU, clipped to [0, 1]. Where the blend is the fresh frame
        (confidence 0) it is returned unchanged up to rounding.
    """
    def hwc(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t[0].detach().float().cpu().permute(1, 2, 0).numpy())

    out = restore_detail_hwc(hwc(blend), hwc(fresh), sigmas=sigmas, passes=passes)
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def restore_detail_hwc(blend: np.ndarray, fresh: np.ndarray, *, sigmas: tuple[float, ...] = DETAIL_SIGMAS,
                       passes: int = PASSES) -> np.ndarray:
    """:func:`restore_detail` on float32 ``(H, W, 3)`` arrays (the video engine's own layout).

    Returns:
        A new float32 ``(H, W, 3)`` array in [0, 1]; the inputs are left as they are.
    """
    size = _energy_size(*fresh.shape[:2])
    targets = [_energy(layer, size) for layer in _layers(fresh, sigmas)[0]]
    out = blend
    for _ in range(passes):
        out = _restore_once(out, targets, sigmas)
    np.clip(out, 0.0, 1.0, out=out)  # (cv2.min/max with a float would clip channels 2 and 3 to 0)
    return out
