"""``python -m core analogy``: Deep Image Analogy, A + B′ → A′ and B, with the correspondence fields."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..requests.analogy import MAX_SIDE, AnalogyConfig, min_side
from .common import add_run_options, positive_int, progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser(
        "analogy", help="Deep Image Analogy: A′ and B from A and B′",
        description="Deep Image Analogy (Liao et al. 2017). From A (e.g. a photo) and B_PRIME (e.g. a painting) "
                    "write OUT_DIR/A_prime.png (A's structure, B′'s look) at A's size and OUT_DIR/B.png (B′'s "
                    "structure, A's look) at B′'s size; the analysis runs at the working size (--size). Alpha "
                    "channels are ignored.")
    p.add_argument("a", type=Path, metavar="A", help="image A (PNG, JPEG, TIFF, EXR)")
    p.add_argument("b_prime", type=Path, metavar="B_PRIME", help="image B′")
    p.add_argument("-o", "--output", dest="out_dir", type=Path, required=True, metavar="OUT_DIR",
                   help="output folder (created; A_prime.png and B.png in it are replaced)")
    p.add_argument("--size", type=positive_int, default=AnalogyConfig.size,
                   help=f"long side of the working size in px, {min_side()}…{MAX_SIDE} (default {AnalogyConfig.size})")
    p.add_argument("--result-size", type=positive_int, default=None, metavar="PX",
                   help="long side of the written A′ and B in px (default: each at its input's size)")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help=f"PatchMatch iterations at the coarsest level; finer levels get proportionally fewer "
                        f"(default {AnalogyConfig.iterations[0]}: {', '.join(map(str, AnalogyConfig.iterations))})")
    p.add_argument("--deconv-iterations", type=int, default=None, metavar="N",
                   help="L-BFGS iterations of every deconvolution (default "
                        f"{', '.join(map(str, AnalogyConfig.deconv_iterations))} coarse → fine)")
    p.add_argument("--refine", action="store_true",
                   help="photo refinement: keep A's edges, take A′'s colours (guided filter); for photo-to-photo")
    p.add_argument("--seed", type=int, default=0, help="PatchMatch seed")
    p.add_argument("--export-nnf", action="store_true",
                   help="also write nnf_ab.npy / nnf_ba.npy ((H, W, 2) int64, (y, x), at the working size) "
                        "and colour-coded PNGs")
    add_run_options(p, encoder_help="VGG weights file (.h5, .pth, .safetensors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..foundation.errors import InputError
    from ..jobs.analogy import run_analogy
    from ..requests.analogy import AnalogyRequest

    config = AnalogyConfig(size=args.size, seed=args.seed, refine=args.refine)
    if args.iterations is not None:
        base = AnalogyConfig.iterations
        config = replace(config, iterations=tuple(max(1, round(args.iterations * n / base[0])) for n in base))
    if args.deconv_iterations is not None:
        if args.deconv_iterations < 0:
            raise InputError(f"--deconv-iterations must be ≥ 0, got {args.deconv_iterations}")
        config = replace(config, deconv_iterations=(args.deconv_iterations,) * len(AnalogyConfig.deconv_iterations))
    request = AnalogyRequest(a=args.a, b_prime=args.b_prime, output=args.out_dir, analogy=config,
                             result_size=args.result_size, export_nnf=args.export_nnf, device=args.device,
                             encoder_weights=args.encoder_weights)
    request.validate()  # before the progress bar: a bad setting prints one line and nothing else
    with progress_bar("analogy", args.quiet) as progress:
        outcome = run_analogy(request, progress)
    (a_h, a_w), (b_h, b_w) = outcome.size_a, outcome.size_b
    data = {
        "a_prime": str(outcome.a_prime), "b": str(outcome.b),
        "nnf": None if outcome.nnf is None else {k: str(v) for k, v in outcome.nnf.items()},
        "size_a": [a_w, a_h], "size_b": [b_w, b_h],
        "working_size_a": [outcome.working_size_a[1], outcome.working_size_a[0]],
        "working_size_b": [outcome.working_size_b[1], outcome.working_size_b[0]],
        "seconds": outcome.seconds, "device": outcome.device, "encoder": outcome.architecture,
        "layers": outcome.layers, "iterations": list(config.iterations),
        "deconv_iterations": list(config.deconv_iterations), "refine": config.refine,
    }
    if args.json:
        print(json.dumps(data))
    else:
        print(f"wrote {data['a_prime']} ({a_w}×{a_h}) and {data['b']} ({b_w}×{b_h}) in "
              f"{outcome.seconds['job']:.1f} s", file=sys.stderr)
    return 0
