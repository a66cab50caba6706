"""Coherent video benchmark: per-frame vs coherent StyleBank (and optionally Gatys and Analogy) on one clip.

What it measures (``../shared/data/video/cutBunny.mp4``, 240 frames, 640×360, CPU):

1. **Time per frame.** Every configuration runs :func:`core.jobs.video.run_video` in its own fresh
   interpreter (``torch.set_num_threads`` and ``cv2.setNumThreads`` = ``--threads``, default 2) and
   writes a PNG sequence to a temporary folder. A progress callback stamps every finished frame with
   ``time.perf_counter()`` and the process CPU time; seconds per frame are the median (and mean) of
   the frame-to-frame intervals, so model loading and the first frame (which has no previous frame
   to propagate) are excluded. Each frame's time includes reading, flow (coherent only), stylising,
   blending and writing the PNG — what a user waits for.
2. **Memory.** Peak RSS of the subprocess (``ru_maxrss``) and the RSS after every frame
   (``/proc/self/statm``); the slope of a least-squares line through the RSS of the frames from
   index 10 on (MB per 100 frames) tells whether memory stays flat over the clip.
3. **Temporal stability.** After all timed runs, untimed: the warping error of Lai et al. (ECCV 2018)
   of every output sequence, :func:`core.video.temporal_metrics.warping_error` with DIS ``"medium"`` flow
   on the *input* frames (the same flow for every configuration, different from the ``"fast"`` DIS
   the coherent runs use). The input clip's own warping error is given as a floor.
4. **Style and content loss** of every 24th output frame (``--loss-every``), through the VGG16 loss
   network of :class:`core.stylebank.train.PerceptualLoss` (``TrainConfig`` layers and weights),
   style target = the bank's style image, to show that coherence does not cost stylisation.
5. **Sharpness** (issue 14): the Laplacian variance of the luminance (0–255) of every output frame,
   and its ratio to the per-frame configuration's at the same frame: mean, min, max and drift
   (least-squares slope per 100 frames). Per-frame warping-error curves are kept too; both are
   plotted (``--plots-dir``), with a crispness sheet of one frame (whole and a 100 % crop).
6. **Ghosts** (issue 14): on a synthetic clip made here (a textured square crossing a textured
   background fast, masks known), the error against per-frame stylisation on the background the
   object just uncovered, divided by the same on far background (``bench/video_quality.py``).

Configurations: ``per-frame`` (``coherent=False``), ``coherent-image`` (the default: image blend with
detail restoration), ``coherent-image-soft`` (image blend, ``restore_detail=False``: the behaviour
before issue 14), ``coherent-feature``, ``coherent-both`` (``blend``), all with DIS ``"fast"`` flow and
``keep`` = the ``VideoRequest`` default; ``--keep`` adds image-blend runs at other ``keep`` values; ``--gatys-frames N`` adds Gatys
per-frame vs coherent on the first N frames, ``--analogy-frames N`` the same for Deep Image Analogy.

Goals (issue 14, ``bench/video_report.py``): warping error ≤ 0.3× per-frame's; style and content
loss ≤ 1.05× per-frame's; sharpness within 10 % of per-frame at every frame, no drift; no ghosts
(ratio ≤ 1); coherent ≤ 1.3× the per-frame time at 640×360 and at 1080p; memory flat.

Usage::

    .venv/bin/python bench/video.py                       # full run → bench/results/video.json + docs
    .venv/bin/python bench/video.py --quick               # smoke run: 12 frames at 160 px → $TMPDIR
    .venv/bin/python bench/video.py --model DIR --style NAME --keep 0.5 0.7 0.95 --gatys-frames 24
    .venv/bin/python bench/video.py --rounds 2     # each configuration twice, alternating order (busy machine)
    # 1080p timing (the clip upscaled), then the section again with it:
    .venv/bin/python bench/video.py --size 1920 --frames 48 --configs per-frame coherent-image coherent-image-soft \
        --no-ghost --no-pictures --no-docs --out bench/results/video_1080p.json
    .venv/bin/python bench/video.py --render-only      # rewrite the section from bench/results/video.json

The section ``## Coherent video (`bench/video.py`)`` of ``docs/benchmarks.md`` is replaced (or
appended) by a full run; ``--no-docs`` leaves the docs alone.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SHARED = ROOT.parent / "shared" / "data"
CLIP = SHARED / "video" / "cutBunny.mp4"
STYLES_DIR = SHARED / "styles"
DEFAULT_OUT = BENCH / "results" / "video.json"

SHEET_FRAME = 120  # the frame of the crispness sheet (0-based)
SAMPLE_FRAME = 100
STRIP_FRAMES = 8
FRAME_PATTERN = "frame_####.png"  # output names inside each configuration's folder

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from video_report import (  # noqa: E402
    DOCS,
    GOAL_FLAT_MB_PER_100,
    GOAL_SHARP_TOL,
    GOAL_TIME_RATIO,
    GOAL_WARP_RATIO,
    METRIC_DIS,
    RSS_FROM,
    RUN_DIS,
    _table,
    render_section,
    summarise,
    update_docs,
)
from video_quality import (  # noqa: E402
    crispness_sheet,
    ghost_clip,
    ghost_ratio,
    line_plot,
    sharpness,
    sharpness_ratios,
    slope_per_100,
)
from benchlib import (  # noqa: E402
    loadavg,
    machine,
    pick_style,
    spawn_one,
    write_json_atomic,
    write_png_atomic,
    write_text_atomic,
)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"[video-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _rel(path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --------------------------------------------------------------------------------------------
# One configuration, in its own interpreter
# --------------------------------------------------------------------------------------------

def run_one(cfg: dict) -> dict:
    """Run one configuration (called in a fresh subprocess via ``--one``); return its timings."""
    import cv2
    import torch

    threads = int(cfg["threads"])
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)

    from core.requests.gatys import GatysConfig
    from core.requests.video import VideoRequest
    from core.jobs.video import run_video

    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb() -> float:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * page / 2**20

    def cpu_s() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    stamps: list[float] = []
    cpu: list[float] = []
    rss: list[float] = []
    name = cfg["name"]
    every = max(1, cfg["frames"] // 10)

    def progress(event) -> None:
        stamps.append(time.perf_counter())
        cpu.append(cpu_s())
        rss.append(rss_mb())
        if event.step % every == 0 or event.step == event.total:
            recent = stamps[-1] - stamps[-2] if len(stamps) > 1 else float("nan")
            _log(f"{name}: frame {event.step}/{event.total} ({recent:.3f} s, RSS {rss[-1]:.0f} MB)")

    kw: dict = {}
    if cfg["method"] == "analogy":
        kw = {"styles": (Path(cfg["style_image"]),)}
    elif cfg["method"] == "gatys":
        kw = {"styles": (Path(cfg["style_image"]),),
              "gatys": GatysConfig(iterations=cfg["gatys_iterations"], pyramid_levels=1),
              "gatys_next_iterations": cfg["gatys_next_iterations"]}
    else:
        kw = {"model": Path(cfg["model"]), "style_names": (cfg["style"],)}
    if cfg.get("keep") is not None:
        kw["keep"] = cfg["keep"]
    request = VideoRequest(
        source=Path(cfg["source"]), output=Path(cfg["output"]), method=cfg["method"],
        coherent=cfg["coherent"], flow=cfg.get("flow", "dis"), dis_preset=RUN_DIS, blend=cfg.get("blend", "image"),
        vectors_dir=Path(cfg["vectors_dir"]) if cfg.get("flow") == "vectors" else None,
        restore_detail=cfg.get("restore_detail", True),
        size=cfg["size"], device="cpu", report=False, overwrite=True, **kw,
    )
    rss_start = rss_mb()
    t0 = time.perf_counter()
    c0 = cpu_s()
    outcome = run_video(request, progress)
    total = time.perf_counter() - t0
    intervals = [b - a for a, b in zip(stamps, stamps[1:])]
    cpu_intervals = [b - a for a, b in zip(cpu, cpu[1:])]
    start = RSS_FROM if len(rss) >= 3 * RSS_FROM else len(rss) // 3
    xs = list(range(start, len(rss)))
    slope = slope_per_100([rss[i] for i in xs], xs)
    return {
        "name": name, "method": cfg["method"], "coherent": cfg["coherent"],
        "blend": cfg.get("blend") if cfg["coherent"] else None, "keep": request.keep,
        "restore_detail": request.restore_detail if cfg["coherent"] else None,
        "frames": outcome.frames, "size": outcome.details["size"],
        "seconds_total": round(total, 3),
        "seconds_to_first_frame": round(stamps[0] - t0, 3) if stamps else None,
        "cpu_seconds_to_first_frame": round(cpu[0] - c0, 3) if cpu else None,
        "seconds_per_frame_median": round(statistics.median(intervals), 5) if intervals else None,
        "seconds_per_frame_mean": round(statistics.fmean(intervals), 5) if intervals else None,
        "cpu_seconds_per_frame_median": round(statistics.median(cpu_intervals), 5) if cpu_intervals else None,
        "outcome_seconds_per_frame": round(outcome.seconds_per_frame, 5) if outcome.seconds_per_frame else None,
        "intervals": [round(x, 4) for x in intervals],
        "cpu_intervals": [round(x, 4) for x in cpu_intervals],
        "rss_mb": [round(x, 1) for x in rss],
        "rss_start_mb": round(rss_start, 1),
        "rss_frame10_mb": round(rss[min(RSS_FROM, len(rss) - 1)], 1) if rss else None,
        "rss_last_mb": round(rss[-1], 1) if rss else None,
        "rss_slope_from": start,
        "rss_fit_points": len(xs),
        "rss_slope_mb_per_100": None if slope is None else round(slope, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "loadavg_end": loadavg(),
    }


def _spawn(cfg: dict, threads: int) -> dict:
    # OpenMP threads that spin while waiting turned every StyleBank pass 5-10x slower whenever another
    # process held a core (450 vs 50 ms per 640x360 frame on the shared 2-core machine), burying the
    # coherent step's own cost in noise; waiting threads sleep instead unless the caller chose otherwise.
    return spawn_one(__file__, cfg, threads, f"configuration {cfg['name']}", prefix="video_bench_one_",
                     extra_env={"OMP_WAIT_POLICY": "PASSIVE"})


def _percentile(xs: list[float], q: float) -> float | None:
    """``q``-quantile (0–1) by linear interpolation; ``None`` for an empty list."""
    if not xs:
        return None
    v = sorted(xs)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def aggregate(rounds: list[dict]) -> dict:
    """One configuration's figures over its rounds: frame intervals pooled, memory from the worst round."""
    intervals = [x for r in rounds for x in r["intervals"]]
    cpu = [x for r in rounds for x in r["cpu_intervals"]]
    worst = max(rounds, key=lambda r: abs(r["rss_slope_mb_per_100"] or 0.0))
    out = {k: v for k, v in rounds[0].items() if k not in ("intervals", "cpu_intervals", "rss_mb", "loadavg_start",
                                                            "loadavg_end", "seconds_total")}
    p10 = _percentile(intervals, 0.1)
    out.update({
        "rounds": len(rounds),
        "seconds_per_frame_median": round(statistics.median(intervals), 5) if intervals else None,
        "seconds_per_frame_mean": round(statistics.fmean(intervals), 5) if intervals else None,
        "seconds_per_frame_p10": None if p10 is None else round(p10, 5),
        "seconds_per_frame_median_by_round": [r["seconds_per_frame_median"] for r in rounds],
        "cpu_seconds_per_frame_median": round(statistics.median(cpu), 5) if cpu else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
        "rss_frame10_mb": worst["rss_frame10_mb"], "rss_last_mb": worst["rss_last_mb"],
        "rss_slope_mb_per_100": worst["rss_slope_mb_per_100"],
        "rss_slope_by_round": [r["rss_slope_mb_per_100"] for r in rounds],
        "per_round": rounds,
    })
    return out


# --------------------------------------------------------------------------------------------
# Inputs, model, style
# --------------------------------------------------------------------------------------------

def _extract_frames(clip: Path, count: int, dest: Path) -> Path:
    """Write the first ``count`` frames of ``clip`` as lossless PNGs (``frame_0001.png`` …)."""
    import cv2

    dest.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(clip))
    try:
        for i in range(count):
            ok, bgr = cap.read()
            if not ok:
                raise SystemExit(f"{clip}: could not decode frame {i}")
            cv2.imwrite(str(dest / f"frame_{i + 1:04d}.png"), bgr)
    finally:
        cap.release()
    return dest


def _default_model() -> Path | None:
    from core.stylebank.model import DEFAULT_MODEL_DIR

    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "model.toml").is_file() else None


def _snapshot_model(src: Path, dest: Path) -> dict:
    """Copy the model folder (no checkpoint/log, so a trainer can keep writing) and check it loads."""
    from core.stylebank.model import load_model

    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("checkpoint.pt", "train_log.jsonl", "*.tmp"))
    _, manifest = load_model(dest)  # verifies every file's sha256
    return manifest


# --------------------------------------------------------------------------------------------
# Untimed metrics
# --------------------------------------------------------------------------------------------

def _frames(folder_or_clip: Path, limit: int, size: tuple[int, int] | None = None):
    """Display-sRGB ``(1, 3, H, W)`` frames of a sequence, resized like :mod:`core.video.online` does."""
    from core.imaging.resize import resize
    from core.io.sequences import open_frames

    source = open_frames(folder_or_clip)
    try:
        for info, image in source.iter_frames(0):
            if info.index >= limit:
                break
            rgb = image.srgb()
            if size is not None and tuple(rgb.shape[-2:]) != tuple(size):
                rgb = resize(rgb, size).clamp(0, 1)
            yield rgb
    finally:
        source.close()


def measure_quality(outputs: dict[str, Path], source: Path, frames: int, style: str, style_image: Path,
                    loss_every: int, baseline: str = "per-frame") -> dict:
    """Warping error (DIS medium on the inputs, mean and per frame), style/content loss and per-frame
    sharpness (with its ratio to ``baseline`` at every frame) of every output sequence."""
    import torch

    from core.video.flow import DISFlow
    from core.io.images import read_image
    from core.io.sequences import open_frames
    from core.stylebank.train import PerceptualLoss, TrainConfig
    from core.video.temporal_metrics import WarpingErrorMeter, warping_error
    from core.nn.vgg import get_encoder

    cfg = TrainConfig()
    vgg = get_encoder()
    loss = PerceptualLoss(vgg, cfg, {style: read_image(style_image).srgb()})
    loss_indices = list(range(loss_every - 1, frames, loss_every)) or [frames - 1]
    results: dict = {}
    size = None
    for name, folder in outputs.items():
        out_src = open_frames(folder)
        size = out_src.size
        out_src.close()
        t = time.perf_counter()
        meter = WarpingErrorMeter(DISFlow(METRIC_DIS))
        per_frame_warp: list[float | None] = []
        sharp: list[float] = []
        style_l, content_l = [], []
        wanted = set(loss_indices)
        with torch.no_grad():
            for i, (o, c) in enumerate(zip(_frames(folder, frames), _frames(source, frames, size), strict=True)):
                e = meter.update(o, c)
                per_frame_warp.append(None if e is None or math.isnan(e) else round(float(e), 6))
                sharp.append(round(sharpness(_u8(o)), 2))
                if i in wanted:
                    parts = loss(o, c, style)
                    style_l.append(float(parts["style"]))
                    content_l.append(float(parts["content"]))
        results[name] = {"warping_error": meter.value, "style_loss": statistics.fmean(style_l),
                         "content_loss": statistics.fmean(content_l), "warping_error_per_frame": per_frame_warp,
                         "sharpness_per_frame": sharp, "sharpness_mean": round(statistics.fmean(sharp), 2)}
        _log(f"metrics {name}: warping error {meter.value:.5f}, style {results[name]['style_loss']:.4f}, "
             f"content {results[name]['content_loss']:.3f}, sharpness {results[name]['sharpness_mean']:.0f} "
             f"({time.perf_counter() - t:.1f} s)")
    base = results.get(baseline)
    if base is not None:
        for name, q in results.items():
            if name != baseline:
                q["sharpness"] = sharpness_ratios(q["sharpness_per_frame"], base["sharpness_per_frame"],
                                                  tolerance=GOAL_SHARP_TOL)
    # the input clip itself: what the metric gives for a sequence exactly as stable as the input
    floor = warping_error(_frames(source, frames, size), _frames(source, frames, size), flow=DISFlow(METRIC_DIS))
    return {"per_config": results, "input_warping_error": floor, "loss_frames": loss_indices,
            "flow": f"DIS {METRIC_DIS}", "loss_network": f"{vgg.architecture} ({Path(vgg.source).name})",
            "content_layers": list(cfg.content_layers), "style_layers": list(cfg.style_layers),
            "style_target_long_side": cfg.style_size}


# --------------------------------------------------------------------------------------------
# Pictures for a person to look at
# --------------------------------------------------------------------------------------------

def _u8(t):
    return (t[0].permute(1, 2, 0).clamp(0, 1).mul(255).add(0.5).byte().numpy())


def save_pictures(outputs: dict[str, Path], source: Path, frames: int, prefix: Path) -> dict:
    """Frames a, a+1 of per-frame and coherent-image side by side; a crop strip over a few frames."""
    import numpy as np
    from PIL import Image, ImageDraw

    rows = [n for n in ("per-frame", "coherent-image") if n in outputs]
    if not rows or frames < 2:
        return {}
    a = min(SAMPLE_FRAME, frames - 2)
    s0 = max(0, min(SAMPLE_FRAME, frames - STRIP_FRAMES))
    s1 = min(frames, s0 + STRIP_FRAMES)  # strip frames s0 … s1 − 1
    wanted = {a, a + 1, *range(s0, s1)}
    seqs = {n: {i: _u8(t) for i, t in enumerate(_frames(outputs[n], frames)) if i in wanted} for n in rows}
    h, w = seqs[rows[0]][a].shape[:2]
    inputs = {i: _u8(t) for i, t in enumerate(_frames(source, frames, (h, w))) if i in wanted}
    gap, label_h = 4, 14

    # side by side: rows = configs, columns = frame a, frame a+1, |difference| × 4
    cols = 3
    sheet = Image.new("RGB", (cols * w + (cols - 1) * gap, len(rows) * (h + label_h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, n in enumerate(rows):
        f0, f1 = seqs[n][a], seqs[n][a + 1]
        diff = np.clip(np.abs(f1.astype(np.int16) - f0.astype(np.int16)) * 4, 0, 255).astype(np.uint8)
        y = r * (h + label_h + gap)
        for c, (img, what) in enumerate(((f0, f"frame {a}"), (f1, f"frame {a + 1}"), (diff, "|difference| x4"))):
            x = c * (w + gap)
            draw.text((x + 2, y), f"{n}: {what}", fill="black")
            sheet.paste(Image.fromarray(img), (x, y + label_h))
    sample = prefix.with_name(prefix.name + "_sample.png")
    sample.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(sample)

    # crop strip: a centred square over consecutive frames; rows = input, then the configs
    side = max(16, min(h, w) // 2)
    y0, x0 = (h - side) // 2, (w - side) // 2
    strip_rows = [("input", inputs)] + [(n, seqs[n]) for n in rows]
    count = s1 - s0
    strip = Image.new("RGB", (count * (side + gap), len(strip_rows) * (side + label_h + gap)), "white")
    draw = ImageDraw.Draw(strip)
    for r, (n, seq) in enumerate(strip_rows):
        y = r * (side + label_h + gap)
        draw.text((2, y), n, fill="black")
        for k, i in enumerate(range(s0, s1)):
            crop = np.ascontiguousarray(seq[i][y0:y0 + side, x0:x0 + side])
            strip.paste(Image.fromarray(crop), (k * (side + gap), y + label_h))
    strip_path = prefix.with_name(prefix.name + "_strip.png")
    strip.save(strip_path)
    return {"side_by_side": _rel(sample), "strip": _rel(strip_path), "frames": [a, a + 1],
            "strip_frames": [s0, s1 - 1], "crop_y_x_side": [y0, x0, side]}


def _write_png(path: Path, bgr) -> str:
    write_png_atomic(path, bgr)
    return _rel(path)


#: One colour (BGR) per configuration in every plot.
PLOT_COLOURS = {"per-frame": (40, 40, 40), "coherent-image": (200, 90, 0), "coherent-image-soft": (0, 110, 230),
                "coherent-feature": (40, 160, 40), "coherent-both": (150, 0, 160)}


def save_plots(metrics: dict, outputs: dict[str, Path], frames: int, prefix: Path, plots_dir: Path | None) -> dict:
    """Per-frame sharpness-ratio and warping-error curves, and the crispness sheet, as PNG."""
    import numpy as np

    per = metrics["per_config"]
    folder = plots_dir if plots_dir is not None else prefix.parent
    stem = "video" if plots_dir is not None else prefix.name
    out: dict = {}
    ratio_series = {n: per[n]["sharpness"]["ratio"] for n in ("coherent-image", "coherent-image-soft",
                                                               "coherent-feature") if n in per and "sharpness" in per[n]}
    if ratio_series:
        lo = min([0.85] + [v for s in ratio_series.values() for v in s[1:] if v == v])
        hi = max([1.15] + [v for s in ratio_series.values() for v in s[1:] if v == v])
        img = line_plot(ratio_series, title="Sharpness of each frame / per-frame's (Laplacian variance of luminance)",
                        xlabel="frame", ylabel="sharpness ratio", ylim=(lo - 0.02, hi + 0.02),
                        hlines={"per-frame = 1": 1.0, "+10 %": 1.1, "-10 %": 0.9}, colours=PLOT_COLOURS)
        out["sharpness"] = _write_png(folder / f"{stem}_sharpness.png", img)
    warp_series = {n: [float("nan") if v is None else v for v in per[n]["warping_error_per_frame"]]
                   for n in ("per-frame", "coherent-image", "coherent-image-soft", "coherent-feature") if n in per}
    if warp_series:
        img = line_plot(warp_series, title="Warping error of each frame (Lai et al. 2018, DIS medium on the inputs)",
                        xlabel="frame", ylabel="warping error (log)", log_y=True, colours=PLOT_COLOURS)
        out["warping_error"] = _write_png(folder / f"{stem}_warping_error.png", img)
    names = [n for n in ("per-frame", "coherent-image-soft", "coherent-image") if n in outputs]
    if names:
        # frame SHEET_FRAME, and the frame where the plain blend (no detail restoration) is softest
        ks = [min(SHEET_FRAME, frames - 1)]
        soft = (per.get("coherent-image-soft") or {}).get("sharpness") or {}
        if soft.get("argmin") is not None and soft["argmin"] not in ks:
            ks.append(int(soft["argmin"]))
        sheets = []
        for k in ks:
            pics = {}
            for n in names:
                for i, t in enumerate(_frames(outputs[n], frames)):
                    if i == k:
                        pics[f"{n} (frame {k})"] = _u8(t)
                        break
            h, w = next(iter(pics.values())).shape[:2]
            side = max(32, min(h, w) // 2)
            y, x = (h - side) // 2, (w - side) // 2
            sheets.append(crispness_sheet(pics, (y, x, side)))
            out["sheet_crop_y_x_side"] = [y, x, side]
        width = max(sh.shape[1] for sh in sheets)
        parts = []
        for sh in sheets:
            parts += [np.hstack([sh, np.full((sh.shape[0], width - sh.shape[1], 3), 255, np.uint8)]),
                      np.full((16, width, 3), 255, np.uint8)]
        out["sheet"] = _write_png(folder / f"{stem}_crispness.png", np.ascontiguousarray(np.vstack(parts[:-1])))
        out["sheet_frames"] = ks
    return out


def measure_ghost(model: Path, style: str, args: argparse.Namespace) -> dict:
    """The ghost metric on synthetic clips (a slow-for-us and a faster object), per configuration."""
    import numpy as np
    import torch

    from core.requests.video import VideoRequest
    from core.video.online import OnlineStylizer

    size = (90, 160) if args.quick else (180, 320)
    side = 35 if args.quick else 70
    clips = [(14, args.ghost_frames), (28, max(6, args.ghost_frames // 2))]
    if args.quick:
        clips = [(7, 6)]
    variants = {"per-frame": {"coherent": False},
                "coherent-image": {"coherent": True, "blend": "image"},
                "coherent-image-soft": {"coherent": True, "blend": "image", "restore_detail": False},
                "coherent-feature": {"coherent": True, "blend": "feature"}}
    res = {"size": list(size), "side": side, "far_px": 15, "clips": []}
    for speed, count in clips:
        frames, masks = ghost_clip(count, size, speed, side, y=size[0] // 2 - side // 2 - 5)
        tens = [torch.from_numpy(f).permute(2, 0, 1)[None].contiguous() for f in frames]
        outs = {}
        for name, kw in variants.items():
            eng = OnlineStylizer(VideoRequest(source=Path("x"), output=Path("y"), model=model, style_names=(style,),
                                              device="cpu", flow="dis", dis_preset=RUN_DIS, **kw))
            outs[name] = [eng.step(t)[0][0].permute(1, 2, 0).numpy() for t in tens]
        clip = {"speed": speed, "frames": count, "configs": {}}
        for name in variants:
            if name == "per-frame":
                continue
            g = ghost_ratio(outs[name], outs["per-frame"], masks)
            clip["configs"][name] = g
            _log(f"ghost {speed} px/frame {name}: ratio {g['ratio']} (uncovered {g['uncovered']}, far {g['far']})")
        res["clips"].append(clip)
        if not args.quick and speed == clips[0][0]:
            # a picture: frame k of the clip, input / per-frame / soft / image / feature
            import cv2

            k = min(6, count - 1)
            row = [np.clip(frames[k] * 255 + 0.5, 0, 255).astype(np.uint8)] + [
                np.clip(outs[n][k] * 255 + 0.5, 0, 255).astype(np.uint8) for n in variants]
            labels = ["input"] + list(variants)
            tiles = []
            for img, lab in zip(row, labels):
                bgr = np.ascontiguousarray(img[..., ::-1])
                bar = np.full((22, bgr.shape[1], 3), 255, np.uint8)
                cv2.putText(bar, f"{lab} (frame {k})", (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                            cv2.LINE_AA)
                tiles += [np.vstack([bar, bgr]), np.full((bgr.shape[0] + 22, 6, 3), 255, np.uint8)]
            folder = args.plots_dir if args.plots_dir is not None else args.out.parent
            res["picture"] = _write_png(folder / "video_ghost.png", np.hstack(tiles[:-1]))
    return res


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None,
                   help="StyleBank model folder (default: vendored_models/stylebank when it exists)")
    p.add_argument("--style", default=None, help="bank to use (default: the first style in the manifest)")
    p.add_argument("--style-image", default=None,
                   help="style image for the losses and Gatys (default: the manifest's image for --style)")
    p.add_argument("--clip", type=Path, default=CLIP, help=f"input video (default {_rel(CLIP)})")
    p.add_argument("--frames", type=int, default=None, help="use the first N frames (default: all)")
    p.add_argument("--size", type=int, default=None, help="working long side in px (default: native)")
    p.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads per run (default 2)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every StyleBank configuration this many times, in alternating order (default 1)")
    p.add_argument("--keep", type=float, nargs="*", default=[],
                   help="extra keep values for the image blend (e.g. 0.5 0.7 0.95)")
    p.add_argument("--configs", nargs="*", default=None,
                   help="StyleBank configurations to run (default: per-frame coherent-image coherent-feature "
                        "coherent-both; per-frame is always run)")
    p.add_argument("--loss-every", type=int, default=None, help="style/content loss on every Nth frame (default 24)")
    p.add_argument("--gatys-frames", type=int, default=0,
                   help="Gatys per-frame vs coherent on the first N frames (default 0: skip)")
    p.add_argument("--gatys-size", type=int, default=256, help="Gatys long side in px (default 256)")
    p.add_argument("--gatys-iters", type=int, default=100,
                   help="Gatys iterations per frame (per-frame) and of the first frame (coherent) (default 100)")
    p.add_argument("--analogy-frames", type=int, default=0,
                   help="Deep Image Analogy per-frame vs coherent on the first N frames, the style image as B′ "
                        "(default 0: skip)")
    p.add_argument("--analogy-size", type=int, default=224, help="Analogy long side in px (default 224)")
    p.add_argument("--quick", action="store_true", help="smoke run: first 12 frames at 160 px, results to $TMPDIR")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default bench/results/video.json; --quick: $TMPDIR/video_quick.json)")
    p.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    p.add_argument("--vectors-dir", type=Path, default=None,
                   help="the clip's Vector/Depth pass EXRs, one per frame (bench/blender_clip.py): enables "
                        "the coherent-vectors configuration")
    p.add_argument("--no-ghost", dest="ghost", action="store_false",
                   help="skip the ghost metric on the synthetic fast-object clip")
    p.add_argument("--ghost-frames", type=int, default=16,
                   help="frames of the 14 px/frame ghost clip (the 28 px/frame one has half) (default 16)")
    p.add_argument("--no-pictures", dest="pictures", action="store_false",
                   help="no sample pictures, plots or crispness sheet (e.g. for a 1080p timing run)")
    p.add_argument("--plots-dir", type=Path, default=None,
                   help="write the plots and the crispness sheet here as video_*.png (default: beside --out)")
    p.add_argument("--hd-results", type=Path, default=None,
                   help="results JSON of a 1080p run (e.g. --size 1920 --frames 48 --no-docs --out "
                        "bench/results/video_1080p.json) to include in the section (default: that file when it "
                        "exists and this is a full run)")
    p.add_argument("--reuse", type=Path, default=None,
                   help="no timed runs: take the timings from DIR/runs.json (a results JSON) and the output "
                        "sequences from DIR/<configuration>/, and measure the rest (when a long run was stopped)")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: rewrite the section (and docs) from the results JSON --out")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.quick:
        a.frames = a.frames or 12
        a.size = a.size or 160
        a.loss_every = a.loss_every or 4
        a.no_docs = True
    a.loss_every = a.loss_every or 24
    if a.out is None:
        a.out = Path(tempfile.gettempdir()) / "video_quick.json" if a.quick else DEFAULT_OUT
    if a.frames is not None and a.frames < 3:
        p.error("--frames must be at least 3")
    if a.threads < 1 or a.loss_every < 1 or a.rounds < 1:
        p.error("--threads, --rounds and --loss-every must be ≥ 1")
    if any(not 0.0 <= k <= 1.0 for k in a.keep):
        p.error("--keep values must be in [0, 1]")
    return a


STYLEBANK_CONFIGS = {
    "per-frame": {"coherent": False},
    "coherent-image": {"coherent": True, "blend": "image"},
    "coherent-image-soft": {"coherent": True, "blend": "image", "restore_detail": False},
    "coherent-feature": {"coherent": True, "blend": "feature"},
    "coherent-both": {"coherent": True, "blend": "both"},
    # a rendered clip's Vector/Depth passes instead of DIS (needs --vectors-dir: bench/blender_clip.py)
    "coherent-vectors": {"coherent": True, "blend": "image", "flow": "vectors"},
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        cfg = json.loads(args.one)
        result = run_one(cfg)
        write_json_atomic(Path(cfg["result_path"]), result)
        return 0
    hd_path = args.hd_results
    if hd_path is None and not args.quick and (BENCH / "results" / "video_1080p.json").is_file():
        hd_path = BENCH / "results" / "video_1080p.json"
    hd = json.loads(hd_path.read_text(encoding="utf-8")) if hd_path is not None and hd_path.resolve() != \
        args.out.resolve() else None
    if args.render_only:
        results = json.loads(args.out.read_text(encoding="utf-8"))
        section = render_section(results, hd)
        write_text_atomic(args.out.with_name(args.out.stem + "_section.md"), section + "\n")
        if not args.no_docs:
            update_docs(section)
        _log(f"section rewritten from {_rel(args.out)}" + (f" and {_rel(hd_path)}" if hd else ""))
        return 0
    if not args.clip.exists():
        print(f"error: the benchmark clip {args.clip} is missing; put cutBunny.mp4 (240 frames, 640×360) "
              f"there or pass --clip VIDEO", file=sys.stderr)
        return 2

    import torch

    from core.requests.video import VideoRequest
    from core.io.sequences import open_frames

    torch.set_num_threads(args.threads)
    out: Path = args.out.resolve()
    section_path = out.with_name(out.stem + "_section.md")
    prefix = out.with_name(out.stem)
    model_src = args.model or _default_model()
    if model_src is None:
        raise SystemExit("no StyleBank model: vendored_models/stylebank is missing; pass --model DIR")
    model_src = model_src.resolve()
    if not (model_src / "model.toml").is_file():
        raise SystemExit(f"{model_src} is not a StyleBank model folder (no model.toml); pass --model DIR")
    names = args.configs or [n for n in STYLEBANK_CONFIGS if n != "coherent-vectors" or args.vectors_dir]
    unknown = [n for n in names if n not in STYLEBANK_CONFIGS]
    if "coherent-vectors" in names and args.vectors_dir is None:
        raise SystemExit("coherent-vectors needs --vectors-dir (the clip's passes: bench/blender_clip.py)")
    if unknown:
        raise SystemExit(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(STYLEBANK_CONFIGS)}")
    names = ["per-frame"] + [n for n in names if n != "per-frame"]
    default_keep = VideoRequest(source=Path("."), output=Path(".")).keep

    started = time.perf_counter()
    load_start = loadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    notes: list[str] = []
    if load_start and load_start[0] > 0.5 * cores:
        _log(f"warning: load average {load_start} on {cores} cores — other work is running, "
             "timings will be perturbed")
        notes.append(f"The machine was busy at the start (load average {load_start} on {cores} cores); wall times "
                     "are perturbed; compare the fastest-10 % column and the rounds (`--rounds 2`).")

    with tempfile.TemporaryDirectory(prefix="video_bench_") as tmp:
        workdir = Path(tmp)
        clip = open_frames(args.clip)
        total, native, fps = len(clip.frames), clip.size, clip.fps
        clip.close()
        n = min(args.frames or total, total)
        if n < total:
            _log(f"extracting the first {n} frames of {args.clip.name} to PNG")
            source = _extract_frames(args.clip, n, workdir / "input")
        else:
            source = args.clip
        working = native if args.size is None else _long_side(native, args.size)

        _log(f"snapshotting {model_src}")
        snap = workdir / "model"
        manifest = _snapshot_model(model_src, snap)
        style, style_image = pick_style(manifest, model_src, args.style, args.style_image, STYLES_DIR)

        results: dict = {
            "benchmark": "video", "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.executable).name, "bench/video.py",
                                 *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine(args.threads), "threads": args.threads, "loadavg_start": load_start,
            "clip": {"name": args.clip.name, "path": str(args.clip), "frames_total": total, "frames": n,
                     "native": list(native), "working": list(working), "fps": fps,
                     "source_is_clip": source == args.clip},
            "model": {"dir": str(model_src), "width": int(manifest["width"]), "styles": list(manifest.get("styles", {}))},
            "style": style, "style_image": style_image.name,
            "settings": {"size": args.size, "flow": "dis", "dis_preset": RUN_DIS, "keep": default_keep,
                         "keep_sweep": args.keep, "metric_flow": f"DIS {METRIC_DIS}", "loss_every": args.loss_every,
                         "rss_slope_from": RSS_FROM, "rounds": args.rounds},
            "goals": {"time_ratio_max": GOAL_TIME_RATIO, "warp_ratio_max": GOAL_WARP_RATIO,
                      "rss_slope_max_mb_per_100": GOAL_FLAT_MB_PER_100},
            "runs": {}, "notes": notes,
        }

        def save() -> None:
            results["loadavg_end"] = loadavg()
            results["seconds"] = round(time.perf_counter() - started, 1)
            write_json_atomic(out, results)

        # ---- timed runs (one subprocess each) ----
        configs = [dict(STYLEBANK_CONFIGS[nm], name=nm) for nm in names]
        configs += [{"name": f"coherent-image-keep{k:g}", "coherent": True, "blend": "image", "keep": k}
                    for k in args.keep if k != default_keep]
        outputs = {c["name"]: workdir / "out" / c["name"] for c in configs}
        rounds: dict[str, list[dict]] = {c["name"]: [] for c in configs}
        if args.reuse is not None:
            old = json.loads((args.reuse / "runs.json").read_text(encoding="utf-8"))
            configs = [c for c in configs if c["name"] in old["runs"]]
            outputs = {c["name"]: args.reuse / c["name"] for c in configs}
            results["runs"] = {c["name"]: old["runs"][c["name"]] for c in configs}
            for k in ("date", "command", "loadavg_start", "notes"):
                results[k] = old.get(k, results[k])
            results["reused"] = {"from": str(args.reuse), "metrics_date": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "metrics_command": " ".join(["python", "bench/video.py",
                                                              *(argv if argv is not None else sys.argv[1:])])}
        for rnd in range(0 if args.reuse is not None else args.rounds):
            # alternate the order so drifting load on a shared machine does not favour one configuration
            for c in configs if rnd % 2 == 0 else configs[::-1]:
                cfg = {**c, "method": "stylebank", "source": str(source),
                       "output": str(outputs[c["name"]] / FRAME_PATTERN), "size": args.size, "model": str(snap),
                       "style": style, "frames": n,
                       "vectors_dir": str(args.vectors_dir) if args.vectors_dir else None}
                _log(f"{c['name']}: {n} frames (round {rnd + 1}/{args.rounds}) …")
                res = _spawn(cfg, args.threads)
                rounds[c["name"]].append(res)
                _log(f"{c['name']}: {res['seconds_per_frame_median']} s/frame (median), peak RSS {res['peak_rss_mb']} "
                     f"MB, RSS slope {res['rss_slope_mb_per_100']} MB/100 frames")
                results["runs"] = {nm: aggregate(rs) for nm, rs in rounds.items() if rs}
                save()
        if args.reuse is None:
            results["runs"] = {c["name"]: aggregate(rounds[c["name"]]) for c in configs}

        # ---- the slow methods, per-frame vs coherent on the first frames ----
        slow_outputs: dict[str, dict[str, Path]] = {}
        slow_sources: dict[str, Path] = {}
        next_iters = VideoRequest(source=Path("."), output=Path(".")).gatys_next_iterations
        for method, count, size in (("gatys", args.gatys_frames, args.gatys_size),
                                    ("analogy", args.analogy_frames, args.analogy_size)):
            if count <= 0:
                continue
            gn = min(count, n)
            slow_sources[method] = source if gn == n and source != args.clip else _extract_frames(
                args.clip, gn, workdir / f"input_{method}")
            g = {"frames": gn, "size": size, "runs": {}}
            if method == "gatys":
                g.update(iterations=args.gatys_iters, next_iterations=next_iters)
            results[method] = g
            slow_outputs[method] = {}
            for nm, coherent in ((f"{method}-per-frame", False), (f"{method}-coherent", True)):
                folder = workdir / "out" / nm
                cfg = {"name": nm, "method": method, "coherent": coherent, "blend": "image",
                       "source": str(slow_sources[method]),
                       "output": str(folder / FRAME_PATTERN), "size": size, "style_image": str(style_image),
                       "gatys_iterations": args.gatys_iters, "gatys_next_iterations": next_iters, "frames": gn}
                _log(f"{nm}: {gn} frames at {size} px …")
                g["runs"][nm] = aggregate([_spawn(cfg, args.threads)])
                slow_outputs[method][nm] = folder
                save()

        # ---- untimed metrics ----
        _log("metrics (untimed): warping error and style/content loss")
        results["metrics"] = measure_quality(outputs, source, n, style, style_image, args.loss_every)
        results["summary"] = summarise(results["runs"], results["metrics"], "per-frame")
        for method, outs in slow_outputs.items():
            g = results[method]
            g["metrics"] = measure_quality(outs, slow_sources[method], g["frames"], style, style_image,
                                           min(args.loss_every, g["frames"]), baseline=f"{method}-per-frame")
            g["summary"] = summarise(g["runs"], g["metrics"], f"{method}-per-frame")
        if args.pictures:
            results["samples"] = save_pictures(outputs, source, n, prefix)
            results["plots"] = save_plots(results["metrics"], outputs, n, prefix, args.plots_dir)
        save()
        if args.ghost:
            _log("ghost clip (untimed)")
            results["ghost"] = measure_ghost(snap, style, args)
            save()
        section = render_section(results, hd)
        write_text_atomic(section_path, section + "\n")
        if not args.no_docs:
            update_docs(section)
            _log(f"docs: {_rel(DOCS)}")
    print()
    print("\n".join(_table(results["runs"], results["metrics"], results["summary"], "per-frame")))
    for method in ("gatys", "analogy"):
        g = results.get(method)
        if g and g.get("metrics"):
            print()
            print("\n".join(_table(g["runs"], g["metrics"], g["summary"], f"{method}-per-frame")))
    print()
    _log(f"done in {results['seconds']} s → {out} and {section_path}")
    return 0


def _long_side(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    from core.imaging.resize import size_for_long_side

    return size_for_long_side(hw[0], hw[1], long_side)


if __name__ == "__main__":
    raise SystemExit(main())
