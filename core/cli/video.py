"""``python -m core video``: stylise a video or an image sequence, coherent and resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..requests.gatys import COLOR_MODES, GatysConfig
from ..requests.video import VideoRequest
from .common import add_run_options, positive_int, progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("video", help="stylise a video or an image sequence (coherent, resumable)",
                       description="Stylise INPUT (video file, frame folder or pattern such as "
                                   "render/frame_####.exr) frame by frame. A rerun resumes where a stopped run ended.")
    p.add_argument("input", type=Path, help="video file, folder of numbered frames, or pattern (frame_####.png)")
    p.add_argument("styles", type=Path, nargs="*", metavar="STYLE", help="style image(s) for --method gatys")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output video file (.mp4, .avi, .mov), folder, or pattern (out/frame_####.png)")
    p.add_argument("--method", default="stylebank", choices=["stylebank", "gatys", "analogy"],
                   help="stylisation method (default stylebank); analogy: the one STYLE image is B′")
    p.add_argument("--style", dest="style_names", action="append", default=[], metavar="NAME",
                   help="StyleBank style; repeat to fuse several")
    p.add_argument("--style-weights", type=float, nargs="+", metavar="W", help="blend weight per style")
    p.add_argument("--model", type=Path, default=None, help="StyleBank model folder (default: the vendored model)")
    p.add_argument("--strength", type=float, default=1.0, help="StyleBank: 0 = photo, 1 = full style")
    p.add_argument("--stroke", type=float, default=1.0,
                   help="StyleBank stroke size relative to the model's (0.25-4; 2 = twice as large)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--coherent", dest="coherent", action="store_true", default=True,
                      help="propagate the previous result along the motion (default)")
    mode.add_argument("--per-frame", dest="coherent", action="store_false", help="stylise every frame on its own")
    p.add_argument("--flow", choices=("dis", "vectors"), default="dis",
                   help="motion from DIS optical flow (default) or Blender's Vector pass")
    p.add_argument("--dis-preset", default=VideoRequest.dis_preset, help="ultrafast, fast (default) or medium")
    p.add_argument("--vectors-dir", type=Path, default=None,
                   help="folder of Vector-pass EXRs (one per frame, same numbers; Depth used when present)")
    p.add_argument("--blend", choices=("image", "feature", "both"), default=VideoRequest.blend,
                   help=f"where to blend the propagated result (default {VideoRequest.blend})")
    p.add_argument("--no-restore-detail", dest="restore_detail", action="store_false",
                   help="blend without restoring the fresh frame's fine detail (softer, slightly steadier)")
    p.add_argument("--keep", type=float, default=VideoRequest.keep,
                   help=f"share of the propagated result kept where the motion is trusted (default {VideoRequest.keep})")
    p.add_argument("--size", type=positive_int, default=None, help="long side of the result in px (default: as input)")
    p.add_argument("--preserve-color", choices=COLOR_MODES, default="none",
                   help="keep each frame's colours (luminance) or colour statistics (histogram); every method")
    p.add_argument("--iterations", type=positive_int, default=100, help="Gatys: iterations of the first frame")
    p.add_argument("--next-iterations", type=positive_int, default=VideoRequest.gatys_next_iterations,
                   help="Gatys: iterations of each later frame (warm-started)")
    p.add_argument("--temporal-weight", type=float, default=VideoRequest.temporal_weight,
                   help="Gatys: weight of the temporal term")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an image-sequence input (default 24)")
    p.add_argument("--overwrite", action="store_true", help="start again even if the output has finished frames")
    p.add_argument("--report", action="store_true", help="measure the temporal warping error of the output")
    add_run_options(p, encoder_help="VGG weights file (Gatys)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..jobs.video import run_video

    request = VideoRequest(
        source=args.input, output=args.output, method=args.method, coherent=args.coherent, flow=args.flow,
        dis_preset=args.dis_preset, vectors_dir=args.vectors_dir, blend=args.blend, keep=args.keep,
        restore_detail=args.restore_detail,
        size=args.size, preserve_color=args.preserve_color, model=args.model, style_names=tuple(args.style_names),
        style_weights=None if args.style_weights is None else tuple(args.style_weights), strength=args.strength,
        stroke=args.stroke,
        styles=tuple(args.styles), gatys=GatysConfig(iterations=args.iterations, pyramid_levels=1),
        gatys_next_iterations=args.next_iterations, temporal_weight=args.temporal_weight, device=args.device,
        encoder_weights=args.encoder_weights, report=args.report, overwrite=args.overwrite, fps=args.fps,
    )
    with progress_bar("video", args.quiet) as progress:
        outcome = run_video(request, progress)
    data = {
        "output": str(outcome.output), "frames": outcome.frames, "computed": outcome.computed,
        "seconds": round(outcome.seconds, 3),
        "seconds_per_frame": None if outcome.seconds_per_frame is None else round(outcome.seconds_per_frame, 4),
        "warping_error": outcome.warping_error, **outcome.details,
    }
    if args.json:
        print(json.dumps(data))
    else:
        line = f"wrote {outcome.output} ({outcome.computed} of {outcome.frames} frames computed, {outcome.seconds:.1f} s)"
        if outcome.warping_error is not None:
            line += f"; temporal warping error {outcome.warping_error:.5f}"
        print(line, file=sys.stderr)
    return 0
