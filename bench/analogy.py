"""Deep Image Analogy benchmark: speed and memory per stage, and correspondence accuracy (PCK).

What it measures (CPU, ``--threads`` torch/OpenCV threads, default 2):

1. **Speed and memory.** :func:`core.analogy.deep_analogy.deep_image_analogy` with the default
   :class:`~core.requests.analogy.AnalogyConfig` on A = ``skimage.data.astronaut()`` and
   B′ = ``../shared/data/styles/woman_with_hat_matisse.jpg`` (centre-cropped to a square), both
   resized to S×S for S = 448 and 1024 (``--speed-sizes``; ``--skip-1024``). Every size runs in a
   fresh interpreter (``--one``): per-stage seconds from the result (features, PatchMatch,
   deconvolution, voting), the algorithm's total, the process's CPU seconds, the encoder load, and
   the peak RSS (``ru_maxrss``) before and after the call. Goal (from the issue): ≤ 60 s at 448×448.
   The 448 run's A′ and B go to ``bench/results/analogy_448_*.png`` and the figure
   ``docs/images/analogy.jpg``.
2. **Correspondence accuracy.** PCK on cross-domain pairs with a known ground truth. For each
   photo A (scikit-image photos that ship with the wheel, then ``../shared/data/content``) at the
   working size (``--pck-size``, default 224 px long side):

   * B′ = A restyled: StyleBank when a model is present (``vendored_models/stylebank`` or
     ``--stylebank-model``), otherwise Gatys (``--gatys-iters`` L-BFGS iterations, one scale, a
     different painting per pair);
   * then warped by a known smooth, invertible map ``f`` (seeded): a random homography (zoom,
     rotation, shift, perspective jitter of the corners) after a sum of three low-frequency
     sinusoidal displacements, ``f(p) = H(p + d(p))`` with ``|∇d| < 1``. The warped image is
     rendered with the numerical inverse (fixed-point iteration), so ``f(p)`` is the exact ground
     truth for A's pixel ``p``;
   * keypoints: a grid every ``round(S / 28)`` px (8 px at 224) over A, kept where ``f(p)`` lies
     inside the warped B′;
   * PCK@α = fraction of keypoints whose predicted match lies within ``α·max(H, W)`` of ``f(p)``,
     α = 0.1 (the issue's measure) and 0.05.

   Methods: DIA (``nnf_ab`` of :func:`~core.analogy.deep_analogy.deep_image_analogy`, default settings);
   PatchMatch on raw RGB pixels (:func:`core.analogy.patchmatch.patchmatch`, 7×7 patches, 10 iterations
   over the whole image from a random field; each channel ``v`` enters as ``(cos πv/2, sin πv/2)``
   so that the per-pixel normalisation inside ``patchmatch`` does not throw brightness away: the
   distance is then ``⅓ Σ 2(1 − cos(π Δv / 2))`` ≈ 0.82·SSD for small differences, saturating for
   large ones); OpenCV DIS optical flow A → B′ (:class:`core.video.flow.DISFlow`, ``"medium"``; match = ``p + flow(p)``); and
   the identity (match = ``p``) to show how far the warp moves things.

Usage::

    .venv/bin/python bench/analogy.py                 # full run → bench/results/analogy.json + docs
    .venv/bin/python bench/analogy.py --quick         # smoke run (< 2 min): 160 px speed, 2 PCK pairs at 128 px
    .venv/bin/python bench/analogy.py --skip-1024 --pairs 4
    .venv/bin/python bench/analogy.py --figure-only   # just the 448 px run and docs/images/analogy.jpg

A full run replaces (or appends) the section ``## Deep Image Analogy (`bench/analogy.py`)`` of
``docs/benchmarks.md``; ``--no-docs`` leaves the docs alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SHARED = ROOT.parent / "shared" / "data"
STYLES_DIR = SHARED / "styles"
CONTENT_DIR = SHARED / "content"
DEFAULT_OUT = BENCH / "results" / "analogy.json"
DOCS = ROOT / "docs" / "benchmarks.md"
FIGURE = ROOT / "docs" / "images" / "analogy.jpg"
SECTION = "## Deep Image Analogy (`bench/analogy.py`)"

SPEED_A = "astronaut"
SPEED_B_PRIME = "woman_with_hat_matisse.jpg"
GOAL_SIZE = 448
GOAL_SECONDS = 60.0

#: PCK photos, in order: scikit-image colour photos (shipped with the wheel), then shared content photos.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
CONTENT_PHOTOS = ("golden_gate.jpg", "sailboat.jpg", "chicago.jpg", "cornell.jpg", "flowers.jpg", "newyork.jpg")
#: Paintings for the Gatys restyling, one per pair (cycled).
PCK_STYLES = ("woman_with_hat_matisse.jpg", "la_muse.jpg", "the_resevoir_at_poitiers.jpg", "scene_de_rue.jpg",
              "picasso_self_portrait.jpg", "en_campo_gris.jpg", "brushstrokes.jpg", "asheville.jpg")
ALPHAS = (0.1, 0.05)
PM_PATCH = 7
PM_ITERATIONS = 10
DIS_PRESET = "medium"
KEYPOINTS_PER_SIDE = 28
#: Warp ranges: zoom, rotation magnitude (degrees, either sign), shift length (share of the long side, any
#: direction), corner jitter (± share of the short side per coordinate).
ZOOM = (1.0, 1.25)
ROTATION_DEG = (8.0, 20.0)
SHIFT = (0.08, 0.16)
JITTER = 0.10

#: The talk's / paper's Pascal3D+ keypoint transfer table (mean PCK@0.1, %).
REFERENCE = {"Deep Image Analogy": 21.0, "PatchMatch (pixels)": 4.2}

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import section_start, spawn_one, loadavg, machine, update_docs_section, write_json_atomic, write_text_atomic  # noqa: E402


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"[analogy-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _rel(path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _set_threads(threads: int) -> None:
    import cv2
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:{spec}}{suffix}"


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

def skimage_photo(name: str):
    """A scikit-image sample photo as ``(1, 3, H, W)`` sRGB in [0, 1] (``motorcycle`` = the left stereo view)."""
    import numpy as np
    import skimage.data
    import torch

    arr = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    arr = np.ascontiguousarray(arr[..., :3])
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0


def load_photo(name: str):
    """A PCK/speed photo by name: a scikit-image sample or a file name in the shared content folder."""
    from core.io.images import read_image

    if name in SKIMAGE_PHOTOS:
        return skimage_photo(name)
    return read_image(CONTENT_DIR / name).srgb()


def square(image, side: int):
    """Centre-crop ``(1, 3, H, W)`` to a square, then resize to ``side × side``."""
    from core.imaging.resize import resize

    h, w = image.shape[-2:]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return resize(image[..., y : y + s, x : x + s], (side, side)).clamp(0, 1)


def _u8(t):
    """``(1, 3, H, W)`` float → ``(H, W, 3)`` uint8."""
    import numpy as np

    return (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def _write_image(path: Path, rgb, params: tuple[int, ...] = ()) -> None:
    """Encode an RGB uint8 array by ``path``'s extension (OpenCV ``params``) and write it atomically."""
    import cv2

    ok, data = cv2.imencode(path.suffix, rgb[:, :, ::-1], list(params))
    if not ok:
        raise SystemExit(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Speed: one size in a fresh interpreter
# --------------------------------------------------------------------------------------------

def run_speed_one(cfg: dict) -> dict:
    """Run Deep Image Analogy once at ``cfg['size']`` (called in a fresh subprocess via ``--one``)."""
    import numpy as np

    _set_threads(int(cfg["threads"]))
    import torch

    from core.analogy.deep_analogy import deep_image_analogy
    from core.requests.analogy import AnalogyConfig
    from core.io.images import read_image, write_image
    from core.nn.vgg import get_encoder

    size = int(cfg["size"])
    rss_start = _peak_rss_mb()
    a = square(load_photo(cfg["a"]), size)
    b_prime = square(read_image(STYLES_DIR / cfg["b_prime"]).srgb(), size)
    t0 = time.perf_counter()
    encoder = get_encoder()
    encoder_seconds = time.perf_counter() - t0
    rss_before = _peak_rss_mb()
    config = AnalogyConfig(size=size)
    c0, t0 = _cpu_seconds(), time.perf_counter()
    result = deep_image_analogy(a, b_prime, encoder, config=config)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - c0
    peak = _peak_rss_mb()
    if tuple(result.nnf_ab.shape) != (size, size, 2) or tuple(result.nnf_ba.shape) != (size, size, 2):
        raise SystemExit(f"NNFs are {tuple(result.nnf_ab.shape)} / {tuple(result.nnf_ba.shape)}, "
                         f"expected ({size}, {size}, 2) at image resolution")
    if cfg.get("save_dir"):
        d = Path(cfg["save_dir"])
        d.mkdir(parents=True, exist_ok=True)
        write_image(d / "A.png", a)
        write_image(d / "B_prime.png", b_prime)
        write_image(d / "A_prime.png", result.a_prime)
        write_image(d / "B.png", result.b)
        np.save(d / "nnf_ab.npy", result.nnf_ab.numpy())
        np.save(d / "nnf_ba.npy", result.nnf_ba.numpy())
    return {
        "size": [size, size], "a": cfg["a"], "b_prime": cfg["b_prime"], "threads": torch.get_num_threads(),
        "encoder": result.architecture, "layers": result.layers,
        "stages": {k: v for k, v in result.seconds.items() if k != "total"},
        "seconds_total": result.seconds["total"], "seconds_wall": round(wall, 3), "cpu_seconds": round(cpu, 2),
        "encoder_load_seconds": round(encoder_seconds, 3),
        "peak_rss_mb": round(peak, 1), "rss_before_mb": round(rss_before, 1),
        "rss_python_torch_mb": round(rss_start, 1),
        "peak_rss_increase_mb": round(peak - rss_before, 1),
        "config": asdict(config), "loadavg_end": loadavg(),
    }


def _spawn(cfg: dict, threads: int) -> dict:
    return spawn_one(__file__, cfg, threads, f"speed run at {cfg['size']} px", prefix="analogy_bench_one_")


def measure_speed(sizes: list[int], threads: int, keep_dir: Path | None) -> dict:
    """Every size in its own subprocess; the ``GOAL_SIZE`` run's images are kept in ``keep_dir``."""
    runs = {}
    for size in sizes:
        _log(f"speed: {size}×{size} px in a fresh process ({threads} thread{'s' if threads != 1 else ''}) …")
        cfg = {"size": size, "a": SPEED_A, "b_prime": SPEED_B_PRIME,
               "save_dir": str(keep_dir) if keep_dir is not None and size == GOAL_SIZE else None}
        r = _spawn(cfg, threads)
        st = r["stages"]
        _log(f"speed {size}: total {r['seconds_total']:.1f} s (features {st['features']:.1f}, PatchMatch "
             f"{st['patchmatch']:.1f}, deconvolution {st['deconvolution']:.1f}, voting {st['voting']:.1f}), "
             f"CPU {r['cpu_seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
        runs[str(size)] = r
    goal = runs.get(str(GOAL_SIZE))
    return {
        "a": f"skimage.data.{SPEED_A}()", "b_prime": SPEED_B_PRIME, "runs": runs,
        "goal": {"size": GOAL_SIZE, "seconds_max": GOAL_SECONDS,
                 "met": None if goal is None else goal["seconds_total"] <= GOAL_SECONDS},
    }


# --------------------------------------------------------------------------------------------
# The known warp
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmoothWarp:
    """``f(p) = H(p + d(p))``: a homography after a smooth sinusoidal displacement (pixel coordinates).

    ``d(p) = Σ_k a_k·e_k·sin(2π ω_k·p / L + φ_k)`` with unit directions ``e_k``, amplitudes ``a_k``
    (px), wave vectors ``ω_k`` (cycles per ``L`` = the longer side) and phases ``φ_k``. Its Lipschitz
    constant ``Σ 2π a_k |ω_k| / L`` is kept below 1, so ``p ↦ p + d(p)`` is invertible and the
    fixed-point iteration ``p ← u − d(p)`` converges.

    Attributes:
        hw: ``(H, W)`` of both images.
        homography: 3×3 matrix (row-major), ``(x, y, 1)`` column vectors.
        amplitudes, directions, waves, phases: The sinusoid terms (``directions`` in radians).
    """

    hw: tuple[int, int]
    homography: tuple[tuple[float, ...], ...]
    amplitudes: tuple[float, ...]
    directions: tuple[float, ...]
    waves: tuple[tuple[float, float], ...]
    phases: tuple[float, ...]

    @property
    def lipschitz(self) -> float:
        L = max(self.hw)
        return sum(2 * math.pi * a * math.hypot(*w) / L for a, w in zip(self.amplitudes, self.waves))

    def displacement(self, x, y):
        import numpy as np

        L = max(self.hw)
        dx, dy = np.zeros_like(x), np.zeros_like(y)
        for a, th, (wx, wy), ph in zip(self.amplitudes, self.directions, self.waves, self.phases):
            s = a * np.sin(2 * np.pi * (wx * x + wy * y) / L + ph)
            dx += math.cos(th) * s
            dy += math.sin(th) * s
        return dx, dy

    def _apply_h(self, m, x, y):
        den = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        return (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / den, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / den

    def forward(self, x, y):
        """Ground truth: where A's pixel ``(x, y)`` lands in the warped image."""
        import numpy as np

        dx, dy = self.displacement(x, y)
        return self._apply_h(np.asarray(self.homography), x + dx, y + dy)

    def inverse(self, qx, qy, iterations: int = 60):
        """``f⁻¹``: the source pixel of the warped image's ``(qx, qy)``, and the max residual ``|f(p) − q|``."""
        import numpy as np

        ux, uy = self._apply_h(np.linalg.inv(np.asarray(self.homography)), qx, qy)
        px, py = ux.copy(), uy.copy()
        for _ in range(iterations):
            dx, dy = self.displacement(px, py)
            px, py = ux - dx, uy - dy
        fx, fy = self.forward(px, py)
        return px, py, float(np.max(np.hypot(fx - qx, fy - qy)))

    def render(self, image):
        """Warp ``(1, 3, H, W)`` so that ``out(f(p)) = image(p)`` (bilinear, reflected borders).

        Returns:
            ``(warped image, fraction of output pixels whose source lies inside the image, max inverse residual px)``.
        """
        import cv2
        import numpy as np
        import torch

        h, w = self.hw
        qy, qx = np.mgrid[0:h, 0:w].astype(np.float64)
        px, py, residual = self.inverse(qx, qy)
        src = image[0].permute(1, 2, 0).numpy().astype(np.float32)
        out = cv2.remap(src, px.astype(np.float32), py.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)
        inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
        return torch.from_numpy(out).permute(2, 0, 1)[None].clamp(0, 1), float(inside.mean()), residual


def random_warp(hw: tuple[int, int], rng) -> SmoothWarp:
    """A seeded warp: zoom, rotation, shift and corner jitter in the ranges above, and three sinusoids.

    Args:
        hw: ``(H, W)``.
        rng: ``numpy.random.Generator``.
    """
    import cv2
    import numpy as np

    h, w = hw
    L, short = max(h, w), min(h, w)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    zoom = rng.uniform(ZOOM[0], ZOOM[1])
    ang = math.radians(rng.choice([-1.0, 1.0]) * rng.uniform(*ROTATION_DEG))
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    heading = rng.uniform(0, 2 * math.pi)
    shift = rng.uniform(*SHIFT) * L * np.array([math.cos(heading), math.sin(heading)])
    dst = (corners - c) @ rot.T * zoom + c + shift + rng.uniform(-JITTER, JITTER, (4, 2)) * short
    m = cv2.getPerspectiveTransform(corners.astype(np.float32), dst.astype(np.float32)).astype(np.float64)
    amps, dirs, waves, phases = [], [], [], []
    for _ in range(3):
        freq = rng.uniform(0.8, 2.0)
        theta = rng.uniform(0, 2 * math.pi)
        amps.append(float(rng.uniform(0.008, 0.02) * L))
        dirs.append(float(rng.uniform(0, 2 * math.pi)))
        waves.append((float(freq * math.cos(theta)), float(freq * math.sin(theta))))
        phases.append(float(rng.uniform(0, 2 * math.pi)))
    warp = SmoothWarp(hw=(h, w), homography=tuple(tuple(float(v) for v in row) for row in m),
                      amplitudes=tuple(amps), directions=tuple(dirs), waves=tuple(waves), phases=tuple(phases))
    if warp.lipschitz >= 0.9:  # cannot happen with the ranges above (max 3 · 2π · 0.02 · 2 ≈ 0.75)
        raise SystemExit(f"warp displacement is not contractive (Lipschitz {warp.lipschitz:.2f})")
    return warp


# --------------------------------------------------------------------------------------------
# Restyling (cross-domain B′)
# --------------------------------------------------------------------------------------------

class Restyler:
    """Turns a photo into a painting-like B′: StyleBank when a model is given, else Gatys."""

    def __init__(self, mode: str, model_dir: Path, encoder, gatys_iterations: int) -> None:
        self.encoder = encoder
        self.gatys_iterations = gatys_iterations
        has_model = (model_dir / "model.toml").is_file()
        if mode == "stylebank" and not has_model:
            raise SystemExit(f"--restyle stylebank: no StyleBank model in {model_dir} (no model.toml); "
                             "pass --stylebank-model DIR or use --restyle gatys")
        self.mode = "stylebank" if mode == "stylebank" or (mode == "auto" and has_model) else "gatys"
        self.model_dir = model_dir
        self.net, self.styles = None, []
        if self.mode == "stylebank":
            from core.stylebank.model import load_model

            self.net, manifest = load_model(model_dir)
            self.styles = list(manifest.get("styles", {}))
            if not self.styles:
                raise SystemExit(f"the StyleBank model {model_dir} has no styles")

    def describe(self) -> str:
        if self.mode == "stylebank":
            return f"StyleBank model `{_rel(self.model_dir)}`"
        return f"Gatys (`core.gatys.solver`, {self.gatys_iterations} L-BFGS iterations, one scale, init = the photo)"

    def __call__(self, photo, index: int):
        """Return ``(B′ before warping, label)`` for the ``index``-th pair."""
        if self.mode == "stylebank":
            from core.stylebank.infer import stylize_stylebank

            style = self.styles[index % len(self.styles)]
            return stylize_stylebank(self.net, photo, [style]).image.clamp(0, 1), f"StyleBank {style}"
        from core.gatys.solver import stylize_gatys
        from core.requests.gatys import GatysConfig
        from core.io.images import read_image

        name = PCK_STYLES[index % len(PCK_STYLES)]
        style = read_image(STYLES_DIR / name).srgb()
        cfg = GatysConfig(iterations=self.gatys_iterations, pyramid_levels=1)
        return stylize_gatys(photo, [style], self.encoder, config=cfg).image.clamp(0, 1), f"Gatys {name}"


# --------------------------------------------------------------------------------------------
# Correspondence methods and PCK
# --------------------------------------------------------------------------------------------

def keypoint_grid(hw: tuple[int, int], stride: int):
    """Grid points ``(x, y)`` every ``stride`` px, offset by ``stride // 2`` from the top-left corner."""
    import numpy as np

    h, w = hw
    ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
    return xs.ravel().astype(np.int64), ys.ravel().astype(np.int64)


def _rgb_embedding(image):
    """``(1, 3, H, W)`` → ``(6, H, W)`` constant-norm ``(cos πv/2, sin πv/2)`` per channel (see the docstring)."""
    import torch

    ang = image[0].float() * (math.pi / 2)
    return torch.cat([ang.cos(), ang.sin()], 0)


def match_dia(a, b_prime, encoder, kx, ky, seed: int):
    from core.analogy.deep_analogy import deep_image_analogy
    from core.requests.analogy import AnalogyConfig

    res = deep_image_analogy(a, b_prime, encoder, config=AnalogyConfig(size=None, seed=seed))
    nnf = res.nnf_ab.numpy()
    if nnf.shape[:2] != tuple(a.shape[-2:]):
        raise SystemExit(f"DIA's nnf_ab is {nnf.shape[:2]}, A is {tuple(a.shape[-2:])}: expected image resolution")
    return nnf[ky, kx, 1].astype(float), nnf[ky, kx, 0].astype(float)


def match_patchmatch_rgb(a, b_prime, encoder, kx, ky, seed: int):
    import torch

    from core.analogy.patchmatch import patchmatch

    nnf, _ = patchmatch(_rgb_embedding(a), _rgb_embedding(b_prime), patch_size=PM_PATCH, iterations=PM_ITERATIONS,
                        generator=torch.Generator().manual_seed(seed))
    nnf = nnf.numpy()
    return nnf[ky, kx, 1].astype(float), nnf[ky, kx, 0].astype(float)


def match_dis(a, b_prime, encoder, kx, ky, seed: int):
    from core.video.flow import DISFlow

    flow = DISFlow(DIS_PRESET)(a, b_prime)  # a(p) ≈ b′(p + flow(p)); flow[..., 0] = x
    return kx + flow[ky, kx, 0].astype(float), ky + flow[ky, kx, 1].astype(float)


def match_identity(a, b_prime, encoder, kx, ky, seed: int):
    return kx.astype(float), ky.astype(float)


METHODS = {
    "dia": ("Deep Image Analogy (`nnf_ab`)", match_dia),
    "patchmatch_rgb": (f"PatchMatch on RGB pixels ({PM_PATCH}×{PM_PATCH}, {PM_ITERATIONS} it.)", match_patchmatch_rgb),
    "dis": (f"OpenCV DIS flow (`{DIS_PRESET}`)", match_dis),
    "identity": ("identity (match = p), for scale", match_identity),
}


def pair_list(count: int) -> list[str]:
    """The first ``count`` photos: scikit-image samples, then shared content photos that exist."""
    names = list(SKIMAGE_PHOTOS) + [n for n in CONTENT_PHOTOS if (CONTENT_DIR / n).is_file()]
    if count > len(names):
        raise SystemExit(f"--pairs {count}: only {len(names)} photos available ({', '.join(names)})")
    return names[:count]


def measure_pck(args, sheet_path: Path | None) -> dict:
    """Build the pairs, run every method, score PCK."""
    import numpy as np

    from core.imaging.resize import resize_long_side
    from core.nn.vgg import get_encoder

    encoder = get_encoder()
    restyler = Restyler(args.restyle, args.stylebank_model, encoder, args.gatys_iters)
    size = args.pck_size
    stride = args.stride or max(2, round(size / KEYPOINTS_PER_SIDE))
    _log(f"PCK: {args.pairs} pairs at {size} px, keypoints every {stride} px, B′ by {restyler.describe()}")
    pairs, sheet_rows = [], []
    for i, name in enumerate(pair_list(args.pairs)):
        rng = np.random.default_rng([args.seed, i])
        a = resize_long_side(load_photo(name), size).clamp(0, 1)
        hw = tuple(a.shape[-2:])
        t0 = time.perf_counter()
        restyled, label = restyler(a, i)
        restyle_s = time.perf_counter() - t0
        warp = random_warp(hw, rng)
        b_prime, coverage, residual = warp.render(restyled)
        kx, ky = keypoint_grid(hw, stride)
        gx, gy = warp.forward(kx.astype(float), ky.astype(float))
        valid = (gx >= 0) & (gx <= hw[1] - 1) & (gy >= 0) & (gy <= hw[0] - 1)
        kx, ky, gx, gy = kx[valid], ky[valid], gx[valid], gy[valid]
        disp = np.hypot(gx - kx, gy - ky)
        scale = max(hw)
        row = {
            "photo": name, "size": list(hw), "restyle": label, "restyle_seconds": round(restyle_s, 2),
            "warp": {**asdict(warp), "lipschitz": round(warp.lipschitz, 3), "coverage": round(coverage, 4),
                     "inverse_residual_px": residual},
            "keypoints": int(valid.sum()), "keypoints_grid": int(valid.size), "stride": stride,
            "gt_displacement_px": {"mean": round(float(disp.mean()), 2), "max": round(float(disp.max()), 2)},
            "methods": {},
        }
        for key, (_, fn) in METHODS.items():
            t0 = time.perf_counter()
            px, py = fn(a, b_prime, encoder, kx, ky, args.seed)
            secs = time.perf_counter() - t0
            err = np.hypot(px - gx, py - gy)
            row["methods"][key] = {
                **{f"pck@{al:g}": round(float((err <= al * scale).mean()), 4) for al in ALPHAS},
                "mean_error_px": round(float(err.mean()), 2), "median_error_px": round(float(np.median(err)), 2),
                "seconds": round(secs, 3),
            }
        pairs.append(row)
        sheet_rows.append((a, restyled, b_prime))
        m = row["methods"]
        _log(f"PCK pair {i + 1} {name} ({label}, {row['keypoints']} keypoints, mean GT shift "
             f"{row['gt_displacement_px']['mean']:.1f} px): " + ", ".join(
                 f"{k} {100 * v['pck@0.1']:.1f}%" for k, v in m.items()))
    summary = {}
    for key, (label, _) in METHODS.items():
        vals = [p["methods"][key] for p in pairs]
        summary[key] = {
            "label": label,
            **{f"mean_pck@{al:g}": round(statistics.fmean(v[f"pck@{al:g}"] for v in vals), 4) for al in ALPHAS},
            "median_error_px": round(statistics.median(v["median_error_px"] for v in vals), 2),
            "seconds_per_pair": round(statistics.fmean(v["seconds"] for v in vals), 3),
        }
    if sheet_path is not None:
        _pair_sheet(sheet_rows, [p["photo"] for p in pairs], sheet_path)
    return {
        "size": size, "stride": stride, "alphas": list(ALPHAS), "restyle_mode": restyler.mode,
        "restyle": restyler.describe(), "seed": args.seed, "pairs": pairs, "summary": summary,
        "sheet": None if sheet_path is None else _rel(sheet_path),
        "methods": {k: v[0] for k, v in METHODS.items()},
    }


def _pair_sheet(rows, names: list[str], path: Path, cell: int = 160) -> None:
    """One row per pair: A, restyled, B′ (restyled and warped)."""
    import cv2
    import numpy as np

    from core.imaging.resize import resize

    out = []
    for (a, restyled, b_prime), name in zip(rows, names):
        cells = []
        for t, label in ((a, f"A: {name}"), (restyled, "restyled"), (b_prime, "B' = warped")):
            img = _u8(resize(t, (cell, round(cell * t.shape[-1] / t.shape[-2]))))
            canvas = np.full((cell, round(cell * 1.5), 3), 255, np.uint8)
            wid = min(img.shape[1], canvas.shape[1])
            canvas[:, :wid] = img[:, :wid]
            cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 16), (0, 0, 0), -1)
            cv2.putText(canvas, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            cells.append(canvas)
        out.append(np.concatenate(cells, 1))
    _write_image(path, np.concatenate(out, 0))


# --------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------

def make_figure(run_dir: Path, path: Path, cell: int = 256) -> None:
    """2×3 sheet from a saved speed run: A, A′, φ a→b over B′, B, φ b→a."""
    import cv2
    import numpy as np
    import torch

    from core.io.images import read_image
    from core.analogy.nnf import nnf_to_color
    from core.imaging.resize import resize

    imgs = {k: read_image(run_dir / f"{k}.png").srgb() for k in ("A", "B_prime", "A_prime", "B")}
    hw_a, hw_b = tuple(imgs["A"].shape[-2:]), tuple(imgs["B_prime"].shape[-2:])
    nnf_ab = torch.from_numpy(np.load(run_dir / "nnf_ab.npy"))
    nnf_ba = torch.from_numpy(np.load(run_dir / "nnf_ba.npy"))

    def as_t(rgb):
        return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0

    panels = [
        [(imgs["A"], "A (photo)"), (imgs["A_prime"], "A' (A's layout, B' look)"),
         (as_t(nnf_to_color(nnf_ab, hw_b)), "NNF a->b (where in B')")],
        [(imgs["B_prime"], "B' (painting)"), (imgs["B"], "B (B' layout, A's look)"),
         (as_t(nnf_to_color(nnf_ba, hw_a)), "NNF b->a (where in A)")],
    ]
    bar = 20
    rows = []
    for row in panels:
        cells = []
        for t, label in row:
            img = _u8(resize(t, (cell, cell)))
            canvas = np.full((cell + bar, cell, 3), 255, np.uint8)
            canvas[bar:] = img
            cv2.rectangle(canvas, (0, 0), (cell, bar), (0, 0, 0), -1)
            cv2.putText(canvas, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
            cells.append(canvas)
        rows.append(np.concatenate(cells, 1))
    _write_image(path, np.concatenate(rows, 0), (cv2.IMWRITE_JPEG_QUALITY, 88))


def keep_speed_images(run_dir: Path, prefix: Path) -> dict:
    """Copy the 448 run's A′ and B next to the results (``<prefix>_448_A_prime.png`` …)."""
    out = {}
    for k in ("A_prime", "B"):
        dest = Path(f"{prefix}_{GOAL_SIZE}_{k}.png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / f"{k}.png", dest)
        out[k] = _rel(dest)
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def render_section(r: dict) -> str:
    m = r["machine"]
    lines = section_start(SECTION, r, "tiny sizes, two pairs")
    lines += [
        "Deep Image Analogy (`core.analogy.deep_analogy`, Liao et al. 2017; user guide [analogy.md](analogy.md)): speed and "
        "memory per stage, and how well its correspondence field finds known matches between a photo and a "
        "restyled, warped copy of it.",
        "",
        "```sh",
        ".venv/bin/python bench/analogy.py            # full run (448 and 1024 px, 8 PCK pairs)",
        ".venv/bin/python bench/analogy.py --quick    # smoke run, < 2 min, writes to $TMPDIR",
        "```",
        "",
        f"Measured {r['date']} on {m['cpu']} ({m['usable_cpus']} usable CPUs), {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}, torch {m['torch']}, OpenCV {m['opencv']}; "
        f"**{r['threads']} thread{'s' if r['threads'] != 1 else ''}** "
        "(torch `set_num_threads`, `OMP_NUM_THREADS`, `cv2.setNumThreads`). "
        f"Load average at the start / end: {r.get('loadavg_start')} / {r.get('loadavg_end')}.",
        "",
    ]
    if "speed" in r:
        sp = r["speed"]
        any_run = next(iter(sp["runs"].values()))
        cfg = any_run["config"]
        lines += [
            "### Speed and memory",
            "",
            f"A = `{sp['a']}`, B′ = `{sp['b_prime']}` (centre-cropped to a square), both resized to S×S. Default "
            f"`AnalogyConfig` ({any_run['encoder'].upper()} encoder; PatchMatch iterations "
            f"{'/'.join(map(str, cfg['iterations']))}, patches {'/'.join(map(str, cfg['patch_sizes']))}, "
            f"L-BFGS deconvolution {'/'.join(map(str, cfg['deconv_iterations']))} iterations, coarse → fine; no "
            "refinement). Each size runs in a fresh process; stage seconds are from `AnalogyResult.seconds` "
            "(*voting* = feature warps and the final pixel votes); *CPU* is the process's user + system time "
            "during the call; *peak RSS* is `ru_maxrss` of the process (Python, torch and the encoder "
            "included — the increase over the RSS before the call is in brackets).",
            "",
            "| size | features | PatchMatch | deconvolution | voting | **total** | CPU s | encoder load | "
            "peak RSS (increase) | goal ≤ 60 s at 448 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for key, v in sp["runs"].items():
            st = v["stages"]
            goal = "—"
            if int(key) == GOAL_SIZE:
                goal = "✓ met" if v["seconds_total"] <= GOAL_SECONDS else "✗ missed"
            lines.append(
                f"| {v['size'][1]}×{v['size'][0]} | {st['features']:.2f} s | {st['patchmatch']:.1f} s | "
                f"{st['deconvolution']:.1f} s | {st['voting']:.2f} s | **{v['seconds_total']:.1f} s** | "
                f"{v['cpu_seconds']:.0f} | {v['encoder_load_seconds']:.1f} s | {v['peak_rss_mb']:.0f} MB "
                f"(+{v['peak_rss_increase_mb']:.0f}) | {goal} |")
        g = sp["goal"]
        if g["met"] is not None:
            t = sp["runs"][str(GOAL_SIZE)]["seconds_total"]
            lines += ["", f"Goal: a {GOAL_SIZE}×{GOAL_SIZE} pair in ≤ {GOAL_SECONDS:.0f} s on this CPU — "
                          f"**{'met' if g['met'] else 'missed'}** ({t:.1f} s)."]
        if r.get("figure"):
            lines += ["", f"![Deep Image Analogy]({Path(r['figure']).relative_to('docs')})", "",
                      f"*The {GOAL_SIZE} px run: A, A′ and the colour-coded field φ a→b (red = x, green = y of the "
                      "match in B′) on top; B′, B and φ b→a below.*"]
        if sp.get("images"):
            lines += ["", "A′ and B of that run: " + ", ".join(f"`{p}`" for p in sp["images"].values()) + "."]
        lines.append("")
    if "pck" in r:
        pk = r["pck"]
        su = pk["summary"]
        lines += [
            "### Correspondence accuracy (PCK)",
            "",
            f"{len(pk['pairs'])} pairs at {pk['size']} px long side. A is a photo; B′ is A restyled, with a "
            f"different painting per pair, by {pk['restyle']}, then warped by a known smooth map "
            f"f(p) = H(p + d(p)): a random homography (zoom {ZOOM[0]:g}–{ZOOM[1]:g}, rotation ±{ROTATION_DEG[0]:g}–"
            f"{ROTATION_DEG[1]:g}°, a shift of {100 * SHIFT[0]:g}–{100 * SHIFT[1]:g} % of the long side in any "
            f"direction, corner jitter ±{100 * JITTER:g} % of the short side) after three low-frequency sinusoidal "
            "displacements (0.8–2 cycles per image, 0.8–2 % of the long side each, |∇d| < 1). B′ is rendered with "
            "the numerical inverse of f, so f(p) is the exact ground truth. "
            f"Keypoints: a grid every {pk['stride']} px over A, kept where f(p) falls inside B′. PCK@α = share of "
            "keypoints whose match lies within α·max(H, W) of f(p) (α = 0.1: "
            f"{0.1 * pk['size']:.1f} px). Seed {pk['seed']}; pairs, warps and per-pair numbers in "
            f"`{_rel(Path(r['out']))}`" + (f"; the pairs as pictures in `{pk['sheet']}`." if pk.get("sheet") else "."),
            "",
            "| method | mean PCK@0.1 | mean PCK@0.05 | median error | seconds / pair |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for key, v in su.items():
            bold = "**" if key == "dia" else ""
            lines.append(f"| {v['label']} | {bold}{100 * v['mean_pck@0.1']:.1f} %{bold} | "
                         f"{100 * v['mean_pck@0.05']:.1f} % | {v['median_error_px']:.1f} px | "
                         f"{v['seconds_per_pair']:.2f} |")
        lines += [
            "",
            "Per pair, PCK@0.1 (%):",
            "",
            "| pair | B′ restyled with | keypoints | mean shift | " + " | ".join(
                {"dia": "DIA", "patchmatch_rgb": "PatchMatch RGB", "dis": "DIS", "identity": "identity"}.get(k, k)
                for k in su) + " |",
            "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in su) + " |",
        ]
        for p in pk["pairs"]:
            lines.append(f"| {p['photo']} | {p['restyle']} | {p['keypoints']} | "
                         f"{p['gt_displacement_px']['mean']:.1f} px | " + " | ".join(
                             f"{100 * p['methods'][k]['pck@0.1']:.1f}" for k in su) + " |")
        lines += [
            "",
            f"Reference (the talk / Liao et al. 2017, keypoint transfer on Pascal3D+, mean PCK@0.1): Deep Image "
            f"Analogy {REFERENCE['Deep Image Analogy']:.1f}, PatchMatch on pixels {REFERENCE['PatchMatch (pixels)']:.1f}. "
            "Those pairs are *different* objects of one category; here B′ is the same scene, repainted and warped, "
            "so absolute numbers are higher and not comparable — the ordering of the methods is what carries over. "
            "PatchMatch on RGB uses `core.analogy.patchmatch.patchmatch` on a constant-norm embedding of each channel "
            "(cos πv/2, sin πv/2), a saturating SSD, because `patchmatch` normalises every pixel's feature vector "
            "and would otherwise compare chromaticity only. DIS matches A to B′ as optical flow (grey levels, "
            "coarse-to-fine); its match is p + flow(p), sub-pixel.",
            "",
        ]
    if r.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(lines)


def update_docs(section: str, path: Path = DOCS) -> None:
    """Replace (or append) this benchmark's section of ``docs/benchmarks.md``; other sections stay."""
    update_docs_section(path, SECTION, section)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from core.stylebank.model import DEFAULT_MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run (< 2 min): 160 px speed run, 2 PCK pairs at 128 px, results to $TMPDIR, no docs")
    p.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (default 2)")
    p.add_argument("--speed-sizes", type=int, nargs="+", default=None,
                   help=f"square sizes of the speed runs (default {GOAL_SIZE} 1024; --quick 160)")
    p.add_argument("--skip-1024", action="store_true", help="leave out the 1024 px speed run")
    p.add_argument("--skip-speed", action="store_true", help="no speed runs")
    p.add_argument("--skip-pck", action="store_true", help="no PCK")
    p.add_argument("--pairs", type=int, default=None, help="PCK pairs (default 8; --quick 2)")
    p.add_argument("--pck-size", type=int, default=None, help="PCK working long side in px (default 224; --quick 128)")
    p.add_argument("--stride", type=int, default=None,
                   help=f"keypoint grid step in px (default: size / {KEYPOINTS_PER_SIDE}, 8 at 224)")
    p.add_argument("--restyle", choices=["auto", "stylebank", "gatys"], default="auto",
                   help="how B′ is restyled: StyleBank when a model exists (auto), or Gatys")
    p.add_argument("--stylebank-model", type=Path, default=DEFAULT_MODEL_DIR,
                   help=f"StyleBank model folder (default {_rel(DEFAULT_MODEL_DIR)})")
    p.add_argument("--gatys-iters", type=int, default=40, help="Gatys L-BFGS iterations for B′ (default 40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the warps and PatchMatch (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default bench/results/analogy.json; --quick: $TMPDIR/analogy_quick.json)")
    p.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md and the figure alone")
    p.add_argument("--figure-only", action="store_true",
                   help=f"only the {GOAL_SIZE} px run: A′/B PNGs in bench/results and {_rel(FIGURE)}")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    if a.speed_sizes is None:
        a.speed_sizes = [160] if q else [GOAL_SIZE] + ([] if a.skip_1024 else [1024])
    elif a.skip_1024:
        a.speed_sizes = [s for s in a.speed_sizes if s != 1024]
    a.pairs = a.pairs or (2 if q else 8)
    a.pck_size = a.pck_size or (128 if q else 224)
    if q:
        a.no_docs = True
    if a.out is None:
        a.out = Path(tempfile.gettempdir()) / "analogy_quick.json" if q else DEFAULT_OUT
    if a.threads < 1 or a.pairs < 1 or a.gatys_iters < 1:
        p.error("--threads, --pairs and --gatys-iters must be ≥ 1")
    if any(not 64 <= s <= 1024 for s in a.speed_sizes) or not 64 <= a.pck_size <= 1024:
        p.error("sizes must be 64…1024 px (Deep Image Analogy's range)")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        cfg = json.loads(args.one)
        write_json_atomic(Path(cfg["result_path"]), run_speed_one(cfg))
        return 0
    _set_threads(args.threads)
    out: Path = args.out.resolve()
    prefix = out.with_name(out.stem)

    if args.figure_only:
        with tempfile.TemporaryDirectory(prefix="analogy_bench_") as tmp:
            speed = measure_speed([GOAL_SIZE], args.threads, Path(tmp))
            images = keep_speed_images(Path(tmp), BENCH / "results" / "analogy")
            make_figure(Path(tmp), FIGURE)
        run = speed["runs"][str(GOAL_SIZE)]
        _log(f"figure: {_rel(FIGURE)}; images: {', '.join(images.values())}; "
             f"{GOAL_SIZE} px total {run['seconds_total']:.1f} s, stages {run['stages']}, "
             f"peak RSS {run['peak_rss_mb']:.0f} MB ({args.threads} threads)")
        return 0

    started = time.perf_counter()
    load_start = loadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    notes: list[str] = []
    if load_start and load_start[0] > 0.5 * cores:
        _log(f"warning: load average {load_start} on {cores} cores — other work is running, timings are perturbed")
        notes.append(f"The machine was busy at the start (load average {load_start} on {cores} cores): wall times "
                     "are perturbed; the CPU-seconds column is less sensitive to that.")
    results: dict = {
        "benchmark": "analogy", "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.executable).name, "bench/analogy.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(args.threads), "threads": args.threads, "loadavg_start": load_start,
        "out": str(out), "notes": notes,
    }

    def save() -> None:
        results["loadavg_end"] = loadavg()
        results["seconds"] = round(time.perf_counter() - started, 1)
        write_json_atomic(out, results)

    if not args.skip_speed:
        with tempfile.TemporaryDirectory(prefix="analogy_bench_") as tmp:
            results["speed"] = measure_speed(args.speed_sizes, args.threads, Path(tmp))
            if str(GOAL_SIZE) in results["speed"]["runs"]:
                results["speed"]["images"] = keep_speed_images(Path(tmp), prefix)
                if not args.no_docs:
                    make_figure(Path(tmp), FIGURE)
                    results["figure"] = _rel(FIGURE)
        save()
    if not args.skip_pck:
        results["pck"] = measure_pck(args, out.with_name(out.stem + "_pck_pairs.png"))
        save()
    save()
    section = render_section(results)
    write_text_atomic(out.with_name(out.stem + "_section.md"), section + "\n")
    if not args.no_docs:
        update_docs(section)
        _log(f"docs: {_rel(DOCS)}")
    if "pck" in results:
        print()
        for key, v in results["pck"]["summary"].items():
            print(f"{v['label']:<48} PCK@0.1 {100 * v['mean_pck@0.1']:5.1f} %   PCK@0.05 {100 * v['mean_pck@0.05']:5.1f} %"
                  f"   median error {v['median_error_px']:6.1f} px   {v['seconds_per_pair']:.2f} s/pair")
    _log(f"done in {results['seconds']} s → {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
