"""``python -m core stylize``: stylise an image (Gatys or StyleBank)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..requests.gatys import COLOR_MODES, INITS, OPTIMIZERS, GatysConfig
from .common import add_run_options, positive_int, progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("stylize", help="stylise an image", description="Stylise CONTENT with STYLE image(s).")
    p.add_argument("content", type=Path, help="content image (PNG, JPEG, TIFF, EXR)")
    p.add_argument("styles", type=Path, nargs="*", metavar="STYLE", help="style image(s) for --method gatys")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file; extension picks the format")
    p.add_argument("--method", default="gatys", choices=["gatys", "stylebank"],
                   help="stylisation method (default gatys)")
    p.add_argument("--model", type=Path, default=None,
                   help="StyleBank model folder (default: the vendored model)")
    p.add_argument("--style", dest="style_names", action="append", default=[], metavar="NAME",
                   help="StyleBank style to apply; repeat to fuse several")
    p.add_argument("--strength", type=float, default=1.0, help="StyleBank: 0 = photo, 1 = full style")
    p.add_argument("--stroke", type=float, default=1.0,
                   help="StyleBank stroke size relative to the model's (0.25-4; 2 = twice as large); the same "
                        "fraction of the picture at every --size")
    p.add_argument("--size", type=positive_int, default=512, help="long side of the result in px (default 512)")
    p.add_argument("--iterations", type=positive_int, default=GatysConfig.iterations,
                   help=f"iterations at the coarsest level (default {GatysConfig.iterations})")
    p.add_argument("--refine-iterations", type=int, default=None,
                   help="iterations at each finer pyramid level (default iterations/4, at least 10)")
    p.add_argument("--pyramid-levels", type=int, default=0, help="coarse-to-fine levels; 1 = single scale, 0 = auto")
    p.add_argument("--style-weights", type=float, nargs="+", metavar="W", help="blend weight per style")
    p.add_argument("--preserve-color", choices=COLOR_MODES, default="none", help="colour preservation")
    p.add_argument("--mask", type=Path, nargs="+", default=[], metavar="PATH",
                   help="one mask per style (white = that style), same size as the content")
    p.add_argument("--seed", type=int, default=0, help="seed for noise initialisation")
    p.add_argument("--init", choices=INITS, default="content", help="starting image")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    p.add_argument("--learning-rate", type=float, default=None, help="step size (L-BFGS 1.0, Adam 0.02)")
    p.add_argument("--content-weight", type=float, default=GatysConfig.content_weight)
    p.add_argument("--style-weight", type=float, default=GatysConfig.style_weight)
    p.add_argument("--tv-weight", type=float, default=GatysConfig.tv_weight)
    p.add_argument("--content-layers", nargs="+", default=list(GatysConfig.content_layers), metavar="LAYER")
    p.add_argument("--style-layers", nargs="+", default=list(GatysConfig.style_layers), metavar="LAYER")
    p.add_argument("--style-scale", type=float, default=1.0, help="style size relative to the content")
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
    p.add_argument("--tile-size", type=int, default=None, help="tile side in px (default: from the memory budget)")
    p.add_argument("--tile-overlap", type=int, default=GatysConfig.tile_overlap)
    p.add_argument("--no-tiling", action="store_true", help="fail instead of tiling when over the memory budget")
    p.add_argument("--memory-budget", type=positive_int, default=None, metavar="MB",
                   help="peak memory per solve (default 4096 MB on CPU, 60%% of free GPU memory)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16, 32), default=None, help="output bit depth")
    add_run_options(p, encoder_help="VGG weights file (.h5, .pth, .safetensors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..jobs.stylize import run_stylize
    from ..requests.stylize import StylizeRequest

    config = GatysConfig(
        content_layers=tuple(args.content_layers),
        style_layers=tuple(args.style_layers),
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        iterations=args.iterations,
        refine_iterations=args.refine_iterations,
        pyramid_levels=args.pyramid_levels,
        init=args.init,
        seed=args.seed,
        preserve_color=args.preserve_color,
        style_scale=args.style_scale,
        tile_size=args.tile_size,
        tile_overlap=args.tile_overlap,
        allow_tiling=not args.no_tiling,
        memory_budget_mb=args.memory_budget,
        pooling=args.pooling,
    )
    request = StylizeRequest(
        content=args.content,
        output=args.output,
        styles=tuple(args.styles),
        method=args.method,
        size=args.size,
        style_weights=None if args.style_weights is None else tuple(args.style_weights),
        masks=tuple(args.mask),
        device=args.device,
        encoder_weights=args.encoder_weights,
        gatys=config,
        model=args.model,
        style_names=tuple(args.style_names),
        strength=args.strength,
        stroke=args.stroke,
        bit_depth=args.bit_depth,
    )
    with progress_bar("stylize", args.quiet or args.method == "stylebank") as progress:  # one pass: no bar
        outcome = run_stylize(request, progress)
    if args.json:
        print(json.dumps({
            "output": str(outcome.output),
            "method": request.method,
            "seconds": round(outcome.seconds, 3),
            "losses": outcome.losses,
            "size": [outcome.size[1], outcome.size[0]],
            "device": outcome.device,
            **outcome.details,
        }))
    else:
        print(f"wrote {outcome.output} ({outcome.size[1]}×{outcome.size[0]}, {outcome.seconds:.1f} s)", file=sys.stderr)
    return 0
