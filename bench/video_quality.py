"""Quality measures and pictures of the coherent-video benchmark (issue 14), used by ``bench/video.py``.

* :func:`sharpness` — Laplacian variance of the luminance (0–255) of one frame, and
  :func:`sharpness_ratios` — a configuration's per-frame sharpness over the per-frame configuration's,
  with mean, min, max and drift (least-squares slope per 100 frames).
* :func:`ghost_clip` / :func:`ghost_ratio` — a synthetic fast-moving textured object over a textured
  background with known masks, and the ghost metric: the error against per-frame stylisation on the
  background the object uncovered at frame ``t``, divided by the same error on far background.
* :func:`line_plot` — a small line chart drawn with OpenCV (matplotlib is not a dependency).
* :func:`crispness_sheet` — one frame of several configurations, whole and a 100 % crop.

Everything here works on ``numpy`` arrays so that ``tests/bench`` can check it on synthetic data.
"""

from __future__ import annotations

import math
import statistics

import cv2
import numpy as np

__all__ = [
    "sharpness", "sharpness_ratios", "slope_per_100", "ghost_clip", "ghost_masks", "ghost_ratio",
    "line_plot", "crispness_sheet", "GHOST_FAR_PX",
]

#: Far background: pixels at least this far (px) from the object at ``t−1`` and at ``t``.
GHOST_FAR_PX = 15


# --------------------------------------------------------------------------------------------
# Sharpness
# --------------------------------------------------------------------------------------------

def sharpness(rgb: np.ndarray) -> float:
    """Laplacian variance of the luminance of an RGB frame.

    Args:
        rgb: ``(H, W, 3)`` RGB, ``uint8`` (0–255) or float in [0, 1].

    Returns:
        ``var(Laplacian(Y))`` with ``Y`` = Rec. 601 luma on the 0–255 scale (``cv2.COLOR_RGB2GRAY``),
        Laplacian by ``cv2.Laplacian`` (3×3 aperture, ``CV_32F``).
    """
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = a.astype(np.float32) * 255.0
    y = cv2.cvtColor(np.ascontiguousarray(a.astype(np.float32)), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(y, cv2.CV_32F).var())


def slope_per_100(ys: list[float], xs: list[float] | None = None) -> float | None:
    """Least-squares slope of ``ys`` over ``xs`` (default 0, 1, …) × 100; ``None`` for < 3 points."""
    xs = list(range(len(ys))) if xs is None else list(xs)
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 100.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def sharpness_ratios(values: list[float], baseline: list[float], *, skip_first: bool = True,
                     tolerance: float = 0.10) -> dict:
    """Frame-by-frame ratio of ``values`` to ``baseline`` and its summary.

    Args:
        values, baseline: Sharpness of the same frames (equal length).
        skip_first: Leave frame 0 out of the summary (it has no previous frame: coherent = per-frame).
        tolerance: The goal band: every ratio within ``1 ± tolerance``.

    Returns:
        ``ratio`` (every frame), ``mean``, ``min``, ``max``, ``argmin``, ``drift_per_100`` (slope of the
        ratio per 100 frames), ``frames_outside`` (how many frames leave the band) and ``within``.
    """
    if len(values) != len(baseline):
        raise ValueError(f"{len(values)} values vs {len(baseline)} baseline frames")
    ratio = [v / b if b > 0 else float("nan") for v, b in zip(values, baseline)]
    start = 1 if skip_first and len(ratio) > 1 else 0
    xs = [i for i in range(start, len(ratio)) if not math.isnan(ratio[i])]
    ys = [ratio[i] for i in xs]
    if not ys:
        return {"ratio": ratio, "mean": None, "min": None, "max": None, "argmin": None, "drift_per_100": None,
                "frames_outside": None, "within": None}
    lo, hi = min(ys), max(ys)
    outside = sum(1 for y in ys if abs(y - 1.0) > tolerance)
    drift = slope_per_100(ys, xs)
    return {
        "ratio": [round(r, 4) for r in ratio], "mean": round(statistics.fmean(ys), 4), "min": round(lo, 4),
        "max": round(hi, 4), "argmin": xs[ys.index(lo)], "drift_per_100": None if drift is None else round(drift, 4),
        "frames_outside": outside, "within": outside == 0,
    }


# --------------------------------------------------------------------------------------------
# Ghost metric on a synthetic clip
# --------------------------------------------------------------------------------------------

def ghost_clip(frames: int = 16, size: tuple[int, int] = (180, 320), speed: int = 14, side: int = 70,
               y: int = 55, x0: int = 10) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured square (a patch of skimage ``coffee``) crossing skimage ``astronaut`` left to right.

    Returns:
        ``(frames, masks)``: float32 ``(H, W, 3)`` RGB in [0, 1] and bool ``(H, W)`` object masks.
        The object wraps around (re-enters at the left) when it leaves the frame, so any number of
        frames keeps it moving.
    """
    from skimage import data

    h, w = size
    bg = data.astronaut().astype(np.float32) / 255.0
    bg = cv2.resize(bg, (w, int(round(bg.shape[0] * w / bg.shape[1]))), interpolation=cv2.INTER_AREA)[:h]
    if bg.shape[0] < h:  # a wide frame: scale to the height instead
        bg = data.astronaut().astype(np.float32) / 255.0
        bg = cv2.resize(bg, (int(round(bg.shape[1] * h / bg.shape[0])), h), interpolation=cv2.INTER_AREA)[:, :w]
    coffee = data.coffee().astype(np.float32) / 255.0
    coffee = cv2.resize(coffee, (coffee.shape[1] // 2, coffee.shape[0] // 2), interpolation=cv2.INTER_AREA)
    obj = np.ascontiguousarray(coffee[40:40 + side, 60:60 + side])
    travel = w - side
    out, masks = [], []
    for k in range(frames):
        x = x0 + (speed * k) % max(travel - x0, 1)
        f = bg.copy()
        m = np.zeros((h, w), bool)
        f[y:y + side, x:x + side] = obj
        m[y:y + side, x:x + side] = True
        out.append(f)
        masks.append(m)
    return out, masks


def ghost_masks(prev_mask: np.ndarray, mask: np.ndarray, far_px: int = GHOST_FAR_PX) -> tuple[np.ndarray, np.ndarray]:
    """``(uncovered, far)``: covered at ``t−1`` and not at ``t``; ≥ ``far_px`` from the object at both."""
    uncovered = prev_mask & ~mask
    either = (prev_mask | mask).astype(np.uint8)
    # distance to the nearest object pixel (0 on the object)
    dist = cv2.distanceTransform((1 - either).astype(np.uint8), cv2.DIST_L2, 5)
    far = dist >= far_px
    return uncovered, far


def ghost_ratio(coherent: list[np.ndarray], per_frame: list[np.ndarray], masks: list[np.ndarray],
                far_px: int = GHOST_FAR_PX, skip_wrap: bool = True) -> dict:
    """The ghost metric: mean |coherent − per-frame| on uncovered pixels ÷ the same on far background.

    Errors are mean absolute RGB differences (0–1), pooled over all frames ``t ≥ 1`` (pixels of every
    frame together). A frame where the object jumped (wrapped around, so nothing was "uncovered" by
    motion) is left out when ``skip_wrap``. ≤ 1: the uncovered background is as close to its per-frame
    stylisation as far background is — no ghost.

    Returns:
        ``ratio``, ``uncovered`` and ``far`` (mean errors), ``per_frame_ratio`` (each frame's ratio)
        and ``frames`` (how many frames were used).
    """
    unc_sum = unc_n = far_sum = far_n = 0.0
    per = []
    for t in range(1, len(coherent)):
        uncovered, far = ghost_masks(masks[t - 1], masks[t], far_px)
        if skip_wrap and (masks[t - 1] & masks[t]).sum() == 0:
            continue
        if not uncovered.any() or not far.any():
            continue
        diff = np.abs(coherent[t].astype(np.float32) - per_frame[t].astype(np.float32)).mean(axis=-1)
        u, f = diff[uncovered], diff[far]
        unc_sum += float(u.sum()); unc_n += u.size  # noqa: E702
        far_sum += float(f.sum()); far_n += f.size  # noqa: E702
        per.append(round(float(u.mean() / max(f.mean(), 1e-9)), 3))
    if not unc_n or not far_n:
        return {"ratio": None, "uncovered": None, "far": None, "per_frame_ratio": per, "frames": 0}
    u, f = unc_sum / unc_n, far_sum / far_n
    return {"ratio": round(u / max(f, 1e-9), 3), "uncovered": round(u, 5), "far": round(f, 5),
            "per_frame_ratio": per, "frames": len(per)}


# --------------------------------------------------------------------------------------------
# Pictures (OpenCV only)
# --------------------------------------------------------------------------------------------

_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Distinguishable BGR colours for the series of a plot.
COLOURS = [(200, 90, 0), (0, 110, 230), (40, 160, 40), (150, 0, 160), (0, 0, 200), (120, 120, 120)]


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = max(hi - lo, 1e-12)
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + 1e-9 * span:
        ticks.append(round(v, 10))
        v += step
    return ticks


def line_plot(series: dict[str, list[float]], *, title: str, xlabel: str, ylabel: str,
              hlines: dict[str, float] | None = None, ylim: tuple[float, float] | None = None,
              size: tuple[int, int] = (1000, 460), x0: int = 0, log_y: bool = False,
              colours: dict[str, tuple[int, int, int]] | None = None) -> np.ndarray:
    """A readable line chart on a white canvas: axes with ticks, labels, a legend, optional guides.

    Args:
        series: Name → values at x = ``x0``, ``x0 + 1``, …; ``nan`` values are gaps.
        hlines: Name → y of dashed horizontal guides (e.g. ``{"per-frame": 1.0}``).
        ylim: The y range (default: the data's, padded).
        size: ``(width, height)`` in px.
        log_y: Logarithmic y axis (values ≤ 0 are dropped).
        colours: Name → BGR colour (default: :data:`COLOURS` in order), so a configuration keeps
            its colour from plot to plot.

    Returns:
        ``(H, W, 3)`` uint8 BGR (for ``cv2.imwrite``).
    """
    W, H = size
    colour_of = {nm: (colours or {}).get(nm, COLOURS[k % len(COLOURS)]) for k, nm in enumerate(series)}
    img = np.full((H, W, 3), 255, np.uint8)
    left, right, top, bottom = 92, 20, 40, 52
    pw, ph = W - left - right, H - top - bottom
    tf = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    vals = [tf(v) for s in series.values() for v in s if v is not None and not math.isnan(v) and (v > 0 or not log_y)]
    vals += [tf(v) for v in (hlines or {}).values()]
    if ylim is not None:
        lo, hi = tf(ylim[0]), tf(ylim[1])
    else:
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        pad = 0.06 * max(hi - lo, 1e-6)
        lo, hi = lo - pad, hi + pad
    n = max((len(s) for s in series.values()), default=1)
    x_lo, x_hi = x0, x0 + max(n - 1, 1)

    def px(x: float, yv: float) -> tuple[int, int]:
        return (int(round(left + (x - x_lo) / (x_hi - x_lo) * pw)),
                int(round(top + ph - (tf(yv) - lo) / (hi - lo) * ph)))

    # grid and y ticks
    if log_y:
        yt = [10 ** e * m for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
        yt = [v for v in yt if lo <= math.log10(v) <= hi]
    else:
        yt = _nice_ticks(lo, hi)
    for v in yt:
        _, yy = px(x_lo, v)
        cv2.line(img, (left, yy), (left + pw, yy), (228, 228, 228), 1)
        label = f"{v:g}"
        (tw, _), _ = cv2.getTextSize(label, _FONT, 0.42, 1)
        cv2.putText(img, label, (left - 6 - tw, yy + 4), _FONT, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    for v in _nice_ticks(x_lo, x_hi, 8):
        xx, _ = px(v, 10 ** lo if log_y else lo)
        cv2.line(img, (xx, top), (xx, top + ph), (238, 238, 238), 1)
        label = f"{v:g}"
        (tw, _), _ = cv2.getTextSize(label, _FONT, 0.42, 1)
        cv2.putText(img, label, (xx - tw // 2, top + ph + 18), _FONT, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    # guides: dashed
    for k, (name, v) in enumerate((hlines or {}).items()):
        _, yy = px(x_lo, v)
        for xs in range(left, left + pw, 14):
            cv2.line(img, (xs, yy), (min(xs + 7, left + pw), yy), (90, 90, 90), 1, cv2.LINE_AA)
        (tw, th), _ = cv2.getTextSize(name, _FONT, 0.4, 1)
        tx = left + pw - 8 - tw
        cv2.rectangle(img, (tx - 2, yy - 6 - th), (tx + tw + 2, yy - 2), (255, 255, 255), -1)
        cv2.putText(img, name, (tx, yy - 4), _FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    # series (clipped to the plot area)
    for k, (name, s) in enumerate(series.items()):
        colour = colour_of[name]
        pts = [px(x0 + i, v) if v is not None and not math.isnan(v) and (v > 0 or not log_y) else None
               for i, v in enumerate(s)]
        for a, b in zip(pts, pts[1:]):
            if a is not None and b is not None:
                cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        if len(pts) == 1 and pts[0] is not None:
            cv2.circle(img, pts[0], 3, colour, -1)
    img[:top] = 255
    img[top + ph + 1:top + ph + 4] = 255
    img[top + ph + 1:top + ph + 4, left:left + pw + 1] = 255
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    # legend (top right, inside) and labels
    lx, ly = left + 12, top + 18
    box_w = 24 + max((cv2.getTextSize(nm, _FONT, 0.45, 1)[0][0] for nm in series), default=0) + 10
    cv2.rectangle(img, (lx - 6, ly - 14), (lx - 6 + box_w, ly - 14 + 20 * len(series) + 4), (255, 255, 255), -1)
    cv2.rectangle(img, (lx - 6, ly - 14), (lx - 6 + box_w, ly - 14 + 20 * len(series) + 4), (170, 170, 170), 1)
    for k, name in enumerate(series):
        y = ly + 20 * k
        cv2.line(img, (lx, y - 4), (lx + 18, y - 4), colour_of[name], 3, cv2.LINE_AA)
        cv2.putText(img, name, (lx + 24, y), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 26), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    (tw, _), _ = cv2.getTextSize(xlabel, _FONT, 0.5, 1)
    cv2.putText(img, xlabel, (left + (pw - tw) // 2, H - 12), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    ylab = np.full((24, ph, 3), 255, np.uint8)
    (tw, _), _ = cv2.getTextSize(ylabel, _FONT, 0.5, 1)
    cv2.putText(ylab, ylabel, (max((ph - tw) // 2, 0), 17), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    img[top:top + ph, 4:28] = np.rot90(ylab)
    return img


def label(img: np.ndarray, text: str, height: int = 22) -> np.ndarray:
    """``img`` with a white bar above it holding ``text``."""
    bar = np.full((height, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, height - 7), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def crispness_sheet(frames: dict[str, np.ndarray], crop: tuple[int, int, int], *, title: str = "",
                    gap: int = 6) -> np.ndarray:
    """One frame of several configurations: a row of whole frames, a row of 100 % crops (1 px = 1 px).

    Args:
        frames: Label → ``(H, W, 3)`` uint8 RGB (same size).
        crop: ``(y, x, side)`` of the square crop (outlined in red on the whole frames).

    Returns:
        ``uint8`` BGR sheet.
    """
    y, x, side = crop
    whole, crops = [], []
    for name, rgb in frames.items():
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        c = bgr[y:y + side, x:x + side].copy()
        framed = bgr.copy()
        cv2.rectangle(framed, (x, y), (x + side - 1, y + side - 1), (0, 0, 255), 1)
        whole.append(label(framed, name))
        crops.append(label(c, f"{name}: 100 % crop"))

    def row(tiles: list[np.ndarray]) -> np.ndarray:
        h = max(t.shape[0] for t in tiles)
        padded = []
        for t in tiles:
            t = np.vstack([t, np.full((h - t.shape[0], t.shape[1], 3), 255, np.uint8)])
            padded += [t, np.full((h, gap, 3), 255, np.uint8)]
        return np.hstack(padded[:-1])

    r1, r2 = row(whole), row(crops)
    width = max(r1.shape[1], r2.shape[1])
    r2 = np.hstack([r2, np.full((r2.shape[0], width - r2.shape[1], 3), 255, np.uint8)])
    r1 = np.hstack([r1, np.full((r1.shape[0], width - r1.shape[1], 3), 255, np.uint8)])
    parts = [r1, np.full((gap, width, 3), 255, np.uint8), r2]
    if title:
        parts.insert(0, label(np.zeros((0, width, 3), np.uint8), title, 26))
    return np.vstack(parts)
