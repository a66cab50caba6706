"""Summary, goals and the markdown section of the coherent-video benchmark (``bench/video.py``).

Everything here works on the results JSON, so ``bench/video.py --render-only`` can rewrite the
section of ``docs/benchmarks.md`` from stored results without running anything.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchlib import update_docs_section

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Coherent video (`bench/video.py`)"

GOAL_TIME_RATIO = 1.3  # coherent s/frame ÷ per-frame s/frame (at 640×360 and at 1080p)
GOAL_WARP_RATIO = 0.3  # coherent warping error ÷ per-frame warping error (issue 14)
GOAL_LOSS_RATIO = 1.05  # coherent style / content loss ÷ per-frame's
GOAL_SHARP_TOL = 0.10  # sharpness within ±10 % of per-frame at every frame ...
GOAL_SHARP_DRIFT = 0.02  # ... and |drift| of the ratio below this per 100 frames
GOAL_GHOST_RATIO = 1.0  # uncovered-background error ÷ far-background error on the ghost clip
GOAL_FLAT_MB_PER_100 = 5.0  # |RSS slope| over frames ≥ RSS_FROM, MB per 100 frames
RSS_FROM = 10  # first frame index of the RSS slope
MIN_FIT_POINTS = 50  # fewer frames in the RSS fit: no memory verdict
METRIC_DIS = "medium"
RUN_DIS = "fast"


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:{spec}}{suffix}"


# Summary and report
# --------------------------------------------------------------------------------------------

def summarise(runs: dict, metrics: dict, baseline: str) -> dict:
    """Ratios against ``baseline`` and the verdict on each goal for every other configuration."""
    base = runs[baseline]
    base_q = metrics["per_config"].get(baseline, {})
    out = {}
    for name, r in runs.items():
        q = metrics["per_config"].get(name, {})
        t = r["seconds_per_frame_median"]
        tb = base["seconds_per_frame_median"]
        c, cb = r["cpu_seconds_per_frame_median"], base["cpu_seconds_per_frame_median"]
        p, pb = r["seconds_per_frame_p10"], base["seconds_per_frame_p10"]
        w, wb = q.get("warping_error"), base_q.get("warping_error")
        slope = r["rss_slope_mb_per_100"]
        row = {
            "time_ratio": round(t / tb, 3) if t and tb else None,
            "p10_time_ratio": round(p / pb, 3) if p and pb else None,
            "cpu_time_ratio": round(c / cb, 3) if c and cb else None,
            "warp_ratio": round(w / wb, 3) if w is not None and wb and not math.isnan(w) else None,
            # a slope over a few frames is noise: judge memory only over a long enough stretch
            "memory_flat": (None if slope is None or r["rss_fit_points"] < MIN_FIT_POINTS
                            else abs(slope) < GOAL_FLAT_MB_PER_100),
        }
        sl, slb = q.get("style_loss"), base_q.get("style_loss")
        cl, clb = q.get("content_loss"), base_q.get("content_loss")
        row["style_ratio"] = round(sl / slb, 3) if sl is not None and slb else None
        row["content_ratio"] = round(cl / clb, 3) if cl is not None and clb else None
        sh = q.get("sharpness") or {}
        row.update({"sharp_mean": sh.get("mean"), "sharp_min": sh.get("min"), "sharp_max": sh.get("max"),
                    "sharp_drift_per_100": sh.get("drift_per_100"), "sharp_frames_outside": sh.get("frames_outside")})
        if name != baseline:
            row["time_ok"] = None if row["time_ratio"] is None else row["time_ratio"] <= GOAL_TIME_RATIO
            row["warp_ok"] = None if row["warp_ratio"] is None else row["warp_ratio"] <= GOAL_WARP_RATIO
            row["loss_ok"] = (None if row["style_ratio"] is None or row["content_ratio"] is None
                              else row["style_ratio"] <= GOAL_LOSS_RATIO and row["content_ratio"] <= GOAL_LOSS_RATIO)
            # drift over a few frames is noise: judged from MIN_FIT_POINTS frames on, like memory
            long_enough = len(sh.get("ratio") or []) >= MIN_FIT_POINTS
            row["sharp_ok"] = (None if sh.get("within") is None else
                               bool(sh["within"]) and (not long_enough or sh.get("drift_per_100") is None
                                                       or abs(sh["drift_per_100"]) < GOAL_SHARP_DRIFT))
            row["all_goals"] = all(bool(row[k]) for k in ("time_ok", "warp_ok", "memory_flat", "loss_ok", "sharp_ok"))
        out[name] = row
    return out


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def _table(runs: dict, metrics: dict, summary: dict, baseline: str) -> list[str]:
    lines = [
        "| config | s/frame (median) | × per-frame | fastest 10 % s/frame (×) | peak RSS | RSS frame 10 → last "
        "| RSS slope | CPU s/frame (×) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in runs.items():
        s = summary[name]
        is_base = name == baseline
        slope = r["rss_slope_mb_per_100"]
        lines.append(
            f"| {name} | {_fmt(r['seconds_per_frame_median'], '.3f', ' s')} "
            f"| {'1.00×' if is_base else _fmt(s['time_ratio'], '.2f', '×') + _mark(s.get('time_ok'))} "
            f"| {_fmt(r['seconds_per_frame_p10'], '.3f', ' s')} "
            f"({'1.00×' if is_base else _fmt(s['p10_time_ratio'], '.2f', '×')}) "
            f"| {r['peak_rss_mb']:.0f} MB | {r['rss_frame10_mb']:.0f} → {r['rss_last_mb']:.0f} MB "
            f"| {_fmt(slope, '+.1f', ' MB/100 fr')}{_mark(s['memory_flat'])} "
            f"| {_fmt(r.get('cpu_seconds_per_frame_median'), '.3f', ' s')} "
            f"({'1.00' if is_base else _fmt(s.get('cpu_time_ratio'), '.2f')}×) |")
    return lines


def _quality_table(metrics: dict, summary: dict, baseline: str) -> list[str]:
    lines = [
        "| config | warping error | × per-frame | style loss (×) | content loss (×) | sharpness (mean) "
        "| sharpness ÷ per-frame: mean / min / max | drift per 100 frames | frames outside ±10 % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, q in metrics["per_config"].items():
        s = summary.get(name, {})
        is_base = name == baseline
        sharp = ("1 (reference)" if is_base else
                 f"{_fmt(s.get('sharp_mean'), '.3f')} / {_fmt(s.get('sharp_min'), '.3f')} / "
                 f"{_fmt(s.get('sharp_max'), '.3f')}{_mark(s.get('sharp_ok'))}")
        lines.append(
            f"| {name} | {_fmt(q.get('warping_error'), '.5f')} "
            f"| {'1.00×' if is_base else _fmt(s.get('warp_ratio'), '.2f', '×') + _mark(s.get('warp_ok'))} "
            f"| {_fmt(q.get('style_loss'), '.4f')} ({'1.00' if is_base else _fmt(s.get('style_ratio'), '.2f')}×) "
            f"| {_fmt(q.get('content_loss'), '.3f')} ({'1.00' if is_base else _fmt(s.get('content_ratio'), '.2f')}×)"
            f"{'' if is_base else _mark(s.get('loss_ok'))} "
            f"| {_fmt(q.get('sharpness_mean'), '.0f')} | {sharp} "
            f"| {'—' if is_base else _fmt(s.get('sharp_drift_per_100'), '+.3f')} "
            f"| {'—' if is_base else _fmt(s.get('sharp_frames_outside'), 'd')} |")
    return lines


def _ghost_lines(gh: dict) -> list[str]:
    lines = [
        "### Ghost trails (synthetic clip)",
        "",
        f"Made by `bench/video_quality.py` (`ghost_clip`): a {gh['side']} px square cut from scikit-image `coffee` "
        f"crossing `astronaut` left to right at {gh['size'][1]}×{gh['size'][0]}; the object's mask is known per frame. "
        "Metric: mean |coherent − per-frame| (RGB, 0–1) over the pixels the object uncovered at frame t (covered at "
        f"t−1, not at t) ÷ the same over far background (≥ {gh['far_px']} px from the object at t−1 and t), pooled "
        "over the frames. ≤ 1: the uncovered background is as close to its per-frame stylisation as far background "
        f"is — no ghost (goal ≤ {GOAL_GHOST_RATIO:g}). Engine: `OnlineStylizer` (the same as `run_video`), DIS "
        f"`\"{RUN_DIS}\"`.",
        "",
        "| clip | config | uncovered error | far error | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for clip in gh["clips"]:
        for name, g in clip["configs"].items():
            ok = None if g["ratio"] is None else g["ratio"] <= GOAL_GHOST_RATIO
            lines.append(f"| {clip['speed']} px/frame, {clip['frames']} frames | {name} "
                         f"| {_fmt(g['uncovered'], '.4f')} | {_fmt(g['far'], '.4f')} "
                         f"| {_fmt(g['ratio'], '.2f')}{_mark(ok)} |")
    return lines


def _hd_lines(hd: dict) -> list[str]:
    clip = hd["clip"]
    lines = [
        f"### {clip['working'][1]}×{clip['working'][0]} (`--size {hd['settings']['size']}`)",
        "",
        f"The same clip upscaled to {clip['working'][1]}×{clip['working'][0]}, first {clip['frames']} frames, "
        f"{hd['settings']['rounds']} round(s); command `{hd['command']}` ({hd['date']}); load average at start / end "
        f"{hd.get('loadavg_start')} / {hd.get('loadavg_end')}. Memory is not judged over so few frames.",
        "",
    ]
    lines += _table(hd["runs"], hd["metrics"], hd["summary"], "per-frame")
    lines += [""]
    lines += _quality_table(hd["metrics"], hd["summary"], "per-frame")
    lines += [""]
    for n, s in hd["summary"].items():
        if n != "per-frame":
            lines.append(f"- **{n}** at this size: time {_fmt(s['time_ratio'], '.2f', '×')}{_mark(s.get('time_ok'))} "
                         f"(fastest 10 %: {_fmt(s['p10_time_ratio'], '.2f', '×')}, CPU time "
                         f"{_fmt(s['cpu_time_ratio'], '.2f', '×')}).")
    return lines


def render_section(r: dict, hd: dict | None = None) -> str:
    m = r["machine"]
    clip = r["clip"]
    lines = [SECTION, ""]
    if r.get("quick"):
        lines += ["> **Smoke run (`--quick`): a few small frames; these numbers are not results.**", ""]
    lines += [
        "Per-frame vs coherent StyleBank video (`core.jobs.video.run_video`, Chen et al. 2017: the previous result "
        "carried along DIS optical flow and blended where the flow is trusted).",
        "",
        "```sh",
        ".venv/bin/python bench/video.py           # full run: the whole clip, all configurations",
        ".venv/bin/python bench/video.py --quick   # smoke run: 12 frames at 160 px, writes to $TMPDIR",
        "```",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}, torch {m['torch']}, OpenCV {m['opencv']}; **{r['threads']} threads** "
        "(torch `set_num_threads`, `cv2.setNumThreads`, `OMP_NUM_THREADS`), CPU only. "
        f"Load average at start / end: {r.get('loadavg_start')} / {r.get('loadavg_end')}.",
        "",
        f"Clip: `{clip['name']}`, first {clip['frames']} of {clip['frames_total']} frames, "
        f"{clip['native'][1]}×{clip['native'][0]} native, processed at {clip['working'][1]}×{clip['working'][0]}"
        f"{' (`--size ' + str(r['settings']['size']) + '`)' if r['settings']['size'] else ''}; "
        f"source {'the video file' if clip['source_is_clip'] else 'the frames extracted to lossless PNG'}; "
        "output a PNG sequence.",
        "",
        f"Model `{r['model']['dir']}` (width {r['model']['width']}), style **{r['style']}** "
        f"(`{r['style_image']}`). Coherent runs: flow DIS `\"{RUN_DIS}\"`, keep {r['settings']['keep']} "
        "(the `VideoRequest` default) unless the name says otherwise.",
        "",
        "Each configuration runs in its own subprocess. *s/frame*: median of the frame-to-frame intervals of the "
        "progress callback (model loading and the first frame excluded; reading, flow, stylising, blending and "
        f"writing included), pooled over {r['settings']['rounds']} round(s) run in alternating order; *fastest 10 %*: "
        "the 10th percentile of the same intervals, less sensitive to other load on a shared machine. "
        "*Peak RSS*: `ru_maxrss`; *RSS slope*: least squares over frames ≥ "
        f"{RSS_FROM} "
        f"(flat: |slope| < {GOAL_FLAT_MB_PER_100:g} MB per 100 frames; no verdict over fewer than {MIN_FIT_POINTS} "
        "frames; with several rounds the round with the steepest slope is shown). *Warping error* (Lai et al. 2018, "
        f"`core.video.temporal_metrics`): DIS `\"{METRIC_DIS}\"` flow on the input frames, the same for every row; "
        f"the input clip's own error is {_fmt(r['metrics']['input_warping_error'], '.5f')} (floor). "
        f"*Style / content loss*: `core.stylebank.train.PerceptualLoss` (VGG16, content "
        f"{', '.join(r['metrics']['content_layers'])}, style {', '.join(r['metrics']['style_layers'])}, style image "
        f"at {r['metrics']['style_target_long_side']} px) averaged over frames "
        f"{_frame_list(r['metrics']['loss_frames'])} (0-based).",
        "",
        "*Sharpness*: variance of `cv2.Laplacian` (CV_32F) of the luminance (0–255) of every output frame; its ratio "
        "to the per-frame configuration's at the same frame, mean / min / max over frames 1 … last (frame 0 has no "
        "previous frame), *drift* = least-squares slope of that ratio per 100 frames.",
        "",
        f"Goals (issue 14): coherent ≤ {GOAL_TIME_RATIO}× the per-frame time (at 640×360 and at 1080p); "
        f"warping error ≤ {GOAL_WARP_RATIO}× per-frame's; style and content loss ≤ {GOAL_LOSS_RATIO}× per-frame's; "
        f"sharpness within {GOAL_SHARP_TOL:.0%} of per-frame at every frame with |drift| < {GOAL_SHARP_DRIFT} per "
        f"100 frames (drift judged over ≥ {MIN_FIT_POINTS} frames); memory flat; no ghosts (ratio ≤ {GOAL_GHOST_RATIO:g}).",
        "",
        "Time and memory:",
        "",
    ]
    lines += _table(r["runs"], r["metrics"], r["summary"], "per-frame")
    lines += ["", "Quality:", ""]
    lines += _quality_table(r["metrics"], r["summary"], "per-frame")
    lines.append("")
    met = [n for n, s in r["summary"].items() if s.get("all_goals")]
    for n, s in r["summary"].items():
        if n == "per-frame":
            continue
        why = []
        if not s.get("time_ok"):
            why.append(f"time {_fmt(s['time_ratio'], '.2f', '×')}")
        if not s.get("warp_ok"):
            why.append(f"warping error {_fmt(s['warp_ratio'], '.2f', '×')}")
        if s["memory_flat"] is False:
            why.append("memory grows")
        if s.get("loss_ok") is False:
            why.append(f"style/content loss {_fmt(s['style_ratio'], '.2f', '×')}/{_fmt(s['content_ratio'], '.2f', '×')}")
        if s.get("sharp_ok") is False:
            why.append(f"sharpness (min {_fmt(s['sharp_min'], '.2f', '×')}, max {_fmt(s['sharp_max'], '.2f', '×')}, "
                       f"drift {_fmt(s['sharp_drift_per_100'], '+.3f')}/100 frames)")
        if s.get("all_goals"):
            verdict = "all goals met."
        elif why:
            verdict = "misses " + ", ".join(why) + "."
        else:
            verdict = f"the goals measured here are met; memory not judged (fewer than {MIN_FIT_POINTS} frames)."
        lines.append(f"- **{n}**: {verdict}")
    lines += ["", f"Goals of this table met by: {', '.join(met) if met else 'no configuration'}.", ""]
    if hd and hd.get("summary"):  # a finished 1080p run (one still running has no metrics yet)
        lines += _hd_lines(hd) + [""]
    if r.get("ghost"):
        lines += _ghost_lines(r["ghost"]) + [""]
    if r.get("plots"):
        pngs = [v for v in r["plots"].values() if isinstance(v, str) and v.endswith(".png")]
        lines += ["Plots: " + ", ".join(f"`{v}`" for v in pngs) + " (shown and discussed in `docs/video.md`).", ""]
    for method, title in (("gatys", "Gatys"), ("analogy", "Deep Image Analogy")):
        g = r.get(method)
        if not g or not g.get("metrics"):
            continue
        if method == "gatys":
            how = (f"L-BFGS, one scale: per-frame {g['iterations']} iterations every frame; coherent "
                   f"{g['iterations']} on the first frame, then {g['next_iterations']} "
                   "(`VideoRequest.gatys_next_iterations`) warm-started from the warped previous result with the "
                   "temporal term (Ruder et al. 2016).")
        else:
            how = ("default `AnalogyConfig`, each frame is A and the style image is B′; coherent: the result is "
                   "blended with the previous one carried along the flow, as for StyleBank (image blend with "
                   "detail restoration).")
        lines += ["", f"### {title}", "",
                  f"First {g['frames']} frames at {g['size']} px long side, style image `{r['style_image']}`, "
                  f"{how} Same measures as above.", ""]
        lines += _table(g["runs"], g["metrics"], g["summary"], f"{method}-per-frame")
        lines.append("")
        lines += _quality_table(g["metrics"], g["summary"], f"{method}-per-frame")
        lines.append("")
    s = r.get("samples") or {}
    if s:
        lines += [f"Pictures: `{s['side_by_side']}` (frames {s['frames'][0]} and {s['frames'][1]}, per-frame and "
                  f"coherent-image, with their difference), `{s['strip']}` (a centred crop over frames "
                  f"{s['strip_frames'][0]}–{s['strip_frames'][1]}).", ""]
    if r.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(lines)


def _frame_list(idx: list[int]) -> str:
    if len(idx) <= 4:
        return ", ".join(map(str, idx))
    return f"{idx[0]}, {idx[1]}, …, {idx[-1]} (every {idx[1] - idx[0]}th)"


def update_docs(section: str, path: Path = DOCS) -> None:
    """Replace (or append) this benchmark's section of ``docs/benchmarks.md``; other sections stay."""
    update_docs_section(path, SECTION, section)


# --------------------------------------------------------------------------------------------
