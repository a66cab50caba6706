"""Peak memory of a tiled 4K Gatys run against its memory budget.

Runs one stylisation of a 3840×2160 picture (a scikit-image photo upscaled, so it has real
structure) with ``--memory-budget`` in a fresh subprocess per budget, and records wall time, the
tiles per level and the process's peak RSS. The claim checked: peak RSS stays near
``baseline + budget`` whatever the picture size, because every level above the budget is tiled.

Usage:
    .venv/bin/python bench/gatys_tiles.py [--budgets 1024 2048] [--size 3840] [--iterations 20]

Writes ``bench/results/gatys_tiles.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(RESULTS.parents[1]))  # `core` is the repository's folder


def _one(budget: int, size: int, iterations: int, refine: int) -> dict:
    import numpy as np
    import torch
    from skimage import data

    from core.cli.demo import paint_strokes
    from core.gatys.solver import stylize_gatys
    from core.requests.gatys import GatysConfig
    from core.imaging.resize import resize
    from core.nn.vgg import get_encoder

    torch.set_num_threads(2)
    encoder = get_encoder()
    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)[None]
    content = resize(photo, (size * 9 // 16, size))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = stylize_gatys(content, [paint_strokes(512)], encoder,
                           config=GatysConfig(iterations=iterations, refine_iterations=refine,
                                              memory_budget_mb=budget))
    return {
        "budget_mb": budget,
        "size": [size, size * 9 // 16],
        "seconds": round(time.perf_counter() - start, 1),
        "levels": result.levels,
        "tiles_finest": result.tiles,
        "iterations": result.iterations,
        "baseline_rss_mb": round(baseline),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "loss": result.losses["total"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--size", type=int, default=3840)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--refine-iterations", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(_one(args.one, args.size, args.iterations, args.refine_iterations)))
        return 0
    rows = []
    for budget in args.budgets:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(budget), "--size", str(args.size),
             "--iterations", str(args.iterations), "--refine-iterations", str(args.refine_iterations)],
            capture_output=True, text=True, check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    machine = {
        "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                    platform.processor()),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    RESULTS.mkdir(exist_ok=True)
    tmp = RESULTS / "gatys_tiles.json.tmp"
    tmp.write_text(json.dumps({"machine": machine, "runs": rows}, indent=2))
    os.replace(tmp, RESULTS / "gatys_tiles.json")
    print("| size | budget MB | levels | tiles (finest) | seconds | baseline RSS MB | peak RSS MB | peak − baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        levels = " → ".join(f"{w}×{h}" for h, w in r["levels"])
        print(f"| {r['size'][0]}×{r['size'][1]} | {r['budget_mb']} | {levels} | {r['tiles_finest']} | {r['seconds']} | "
              f"{r['baseline_rss_mb']} | {r['peak_rss_mb']} | {r['peak_rss_mb'] - r['baseline_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
