"""Command line: ``python -m core <command> ...``.

Commands:
    stylize   Stylise an image (``--method gatys`` or ``stylebank``).
    video     Stylise a video or image sequence, temporally coherent and resumable.
    analogy   Deep Image Analogy: A + B′ → A′ and B, with the correspondence fields.
    stylebank Train StyleBank models, add styles, list styles.
    doctor    Report dependencies, encoder weights and devices.

Contract (other tools rely on it): on success exit 0 and, with ``--json``, print exactly one JSON
object on stdout. On bad input print one ``error: ...`` line on stderr, exit non-zero and write
no output file. Progress goes to stderr as a tqdm bar.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import Cancelled, NSTError
from .gatys import COLOR_MODES, INITS, OPTIMIZERS, GatysConfig


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `python -m core {self.prog.split()[-1]} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def _add_stylize(sub) -> None:
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
    p.add_argument("--size", type=_positive_int, default=512, help="long side of the result in px (default 512)")
    p.add_argument("--iterations", type=_positive_int, default=GatysConfig.iterations,
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
    p.add_argument("--memory-budget", type=_positive_int, default=None, metavar="MB",
                   help="peak memory per solve (default 4096 MB on CPU, 60%% of free GPU memory)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16, 32), default=None, help="output bit depth")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--encoder-weights", type=Path, default=None, help="VGG weights file (.h5, .pth, .safetensors)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_stylize)


def _cmd_stylize(args: argparse.Namespace) -> int:
    from .requests import StylizeRequest
    from .stylize import run_stylize

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
        bit_depth=args.bit_depth,
    )
    with _progress_bar("stylize", args.quiet or args.method == "stylebank") as progress:  # one pass: no bar
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


def _add_video(sub) -> None:
    from .requests import VideoRequest

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
    p.add_argument("--keep", type=float, default=VideoRequest.keep,
                   help=f"share of the propagated result kept where the motion is trusted (default {VideoRequest.keep})")
    p.add_argument("--size", type=_positive_int, default=None, help="long side of the result in px (default: as input)")
    p.add_argument("--iterations", type=_positive_int, default=100, help="Gatys: iterations of the first frame")
    p.add_argument("--next-iterations", type=_positive_int, default=VideoRequest.gatys_next_iterations,
                   help="Gatys: iterations of each later frame (warm-started)")
    p.add_argument("--temporal-weight", type=float, default=VideoRequest.temporal_weight,
                   help="Gatys: weight of the temporal term")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an image-sequence input (default 24)")
    p.add_argument("--overwrite", action="store_true", help="start again even if the output has finished frames")
    p.add_argument("--report", action="store_true", help="measure the temporal warping error of the output")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--encoder-weights", type=Path, default=None, help="VGG weights file (Gatys)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_video)


def _cmd_video(args: argparse.Namespace) -> int:
    from .requests import VideoRequest
    from .video import run_video

    request = VideoRequest(
        source=args.input, output=args.output, method=args.method, coherent=args.coherent, flow=args.flow,
        dis_preset=args.dis_preset, vectors_dir=args.vectors_dir, blend=args.blend, keep=args.keep,
        size=args.size, model=args.model, style_names=tuple(args.style_names),
        style_weights=None if args.style_weights is None else tuple(args.style_weights), strength=args.strength,
        styles=tuple(args.styles), gatys=GatysConfig(iterations=args.iterations, pyramid_levels=1),
        gatys_next_iterations=args.next_iterations, temporal_weight=args.temporal_weight, device=args.device,
        encoder_weights=args.encoder_weights, report=args.report, overwrite=args.overwrite, fps=args.fps,
    )
    with _progress_bar("video", args.quiet) as progress:
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


def _add_analogy(sub) -> None:
    from .analogy import MAX_SIDE, AnalogyConfig, min_side

    p = sub.add_parser(
        "analogy", help="Deep Image Analogy: A′ and B from A and B′",
        description="Deep Image Analogy (Liao et al. 2017). From A (e.g. a photo) and B_PRIME (e.g. a painting) "
                    "write OUT_DIR/A_prime.png (A's structure, B′'s look) and OUT_DIR/B.png (B′'s structure, A's "
                    "look), both at the working size. Alpha channels are ignored.")
    p.add_argument("a", type=Path, metavar="A", help="image A (PNG, JPEG, TIFF, EXR)")
    p.add_argument("b_prime", type=Path, metavar="B_PRIME", help="image B′")
    p.add_argument("-o", "--output", dest="out_dir", type=Path, required=True, metavar="OUT_DIR",
                   help="output folder (created; A_prime.png and B.png in it are replaced)")
    p.add_argument("--size", type=_positive_int, default=AnalogyConfig.size,
                   help=f"long side of the working size in px, {min_side()}…{MAX_SIDE} (default {AnalogyConfig.size})")
    p.add_argument("--iterations", type=_positive_int, default=None,
                   help=f"PatchMatch iterations at the coarsest level; finer levels get proportionally fewer "
                        f"(default {AnalogyConfig.iterations[0]}: {', '.join(map(str, AnalogyConfig.iterations))})")
    p.add_argument("--deconv-iterations", type=int, default=None, metavar="N",
                   help="L-BFGS iterations of every deconvolution (default "
                        f"{', '.join(map(str, AnalogyConfig.deconv_iterations))} coarse → fine)")
    p.add_argument("--refine", action="store_true",
                   help="photo refinement: keep A's edges, take A′'s colours (guided filter); for photo-to-photo")
    p.add_argument("--seed", type=int, default=0, help="PatchMatch seed")
    p.add_argument("--export-nnf", action="store_true",
                   help="also write nnf_ab.npy / nnf_ba.npy ((H, W, 2) int64, (y, x)) and colour-coded PNGs")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--encoder-weights", type=Path, default=None, help="VGG weights file (.h5, .pth, .safetensors)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_analogy)


def _cmd_analogy(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile
    from dataclasses import replace

    import numpy as np
    import torch

    from .analogy import AnalogyConfig, check_analogy_size, deep_image_analogy
    from .device import resolve_device
    from .errors import InputError, OutputError
    from .image_io import read_image, write_image
    from .patchmatch import nnf_to_color
    from .resize import size_for_long_side
    from .vgg import get_encoder

    # Everything that can fail on the user's input is checked before any heavy work.
    config = AnalogyConfig(size=args.size, seed=args.seed, refine=args.refine)
    if args.iterations is not None:
        base = AnalogyConfig.iterations
        config = replace(config, iterations=tuple(max(1, round(args.iterations * n / base[0])) for n in base))
    if args.deconv_iterations is not None:
        if args.deconv_iterations < 0:
            raise InputError(f"--deconv-iterations must be ≥ 0, got {args.deconv_iterations}")
        config = replace(config, deconv_iterations=(args.deconv_iterations,) * len(AnalogyConfig.deconv_iterations))
    config.validate()
    out_dir: Path = args.out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output {out_dir} is a file; give a folder for A_prime.png and B.png")
    names = ["A_prime.png", "B.png"]
    if args.export_nnf:
        names += ["nnf_ab.npy", "nnf_ba.npy", "nnf_ab.png", "nnf_ba.png"]
    for name in names:
        dest = out_dir / name
        for src in (args.a, args.b_prime):
            if dest.resolve() == src.resolve() or (dest.exists() and src.exists() and os.path.samefile(dest, src)):
                raise OutputError(f"output {dest} is one of the inputs; refusing to overwrite a source image")
    images = {}
    for label, path in (("A", args.a), ("B′", args.b_prime)):
        data = read_image(path)
        hw = size_for_long_side(*data.size, config.size)
        check_analogy_size(hw, config.levels, f"{label} ({path})")
        images[label] = data.srgb()
    device = resolve_device(args.device)
    encoder = get_encoder(args.encoder_weights, device=device)

    with _progress_bar("analogy", args.quiet) as progress:
        result = deep_image_analogy(images["A"], images["B′"], encoder, config=config, progress=progress)

    # Written only now, into a hidden staging folder beside the results, then moved in.
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".analogy-", suffix=".tmp", dir=out_dir))
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    try:
        write_image(staging / "A_prime.png", result.a_prime)
        write_image(staging / "B.png", result.b)
        if args.export_nnf:
            hw_a, hw_b = tuple(result.a_prime.shape[-2:]), tuple(result.b.shape[-2:])
            for tag, nnf, target_hw in (("ab", result.nnf_ab, hw_b), ("ba", result.nnf_ba, hw_a)):
                np.save(staging / f"nnf_{tag}.npy", nnf.numpy().astype(np.int64))
                color = torch.from_numpy(nnf_to_color(nnf, target_hw)).permute(2, 0, 1).float() / 255.0
                write_image(staging / f"nnf_{tag}.png", color)
        for name in names:
            os.replace(staging / name, out_dir / name)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    a_h, a_w = result.a_prime.shape[-2:]
    b_h, b_w = result.b.shape[-2:]
    data = {
        "a_prime": str(out_dir / "A_prime.png"), "b": str(out_dir / "B.png"),
        "nnf": {n.split(".")[0] + ("_png" if n.endswith(".png") else ""): str(out_dir / n) for n in names[2:]}
        if args.export_nnf else None,
        "size_a": [int(a_w), int(a_h)], "size_b": [int(b_w), int(b_h)],
        "seconds": result.seconds, "device": str(device), "encoder": result.architecture,
        "layers": result.layers, "iterations": list(config.iterations),
        "deconv_iterations": list(config.deconv_iterations), "refine": config.refine,
    }
    if args.json:
        print(json.dumps(data))
    else:
        print(f"wrote {data['a_prime']} ({a_w}×{a_h}) and {data['b']} ({b_w}×{b_h}) in "
              f"{result.seconds['total']:.1f} s", file=sys.stderr)
    return 0


@contextmanager
def _progress_bar(desc: str, quiet: bool):
    """A progress callback drawing a tqdm bar on stderr (nothing when ``quiet``)."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=0, unit="it", desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)

    def progress(event) -> bool:
        bar.total = event.total
        bar.n = event.step
        bar.set_description(event.stage, refresh=False)
        if event.loss is not None:
            bar.set_postfix(loss=f"{event.loss:.4g}", refresh=False)
        bar.refresh()
        return True

    try:
        yield progress
    finally:
        bar.close()


def _train_config(args: argparse.Namespace, **overrides):
    from .stylebank_train import TrainConfig

    values = {k: getattr(args, k) for k in ("size", "batch_size", "steps", "t", "ae_warmup", "lr", "width", "arch",
                                            "scale_jitter", "style_size",
                                            "content_weight", "style_weight", "tv_weight", "identity_weight",
                                            "checkpoint_every",
                                            "seed") if getattr(args, k, None) is not None}
    values.update(overrides)
    return TrainConfig(**values)


def _cmd_stylebank_train(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .stylebank_train import parse_style_specs, train
    from .vgg import get_encoder

    styles = parse_style_specs(args.style)
    device = resolve_device(args.device)
    vgg = get_encoder(args.encoder_weights, device=device)
    with _progress_bar("train", args.quiet) as progress:
        result = train(args.content_dir, styles, args.out, vgg, config=_train_config(args), resume=args.resume,
                       device=device, progress=progress)
    _report(args, {"model": str(result.model_dir), "steps": result.steps_done, "seconds": round(result.seconds, 1),
                   "losses": result.last_losses}, f"trained {result.model_dir} ({result.steps_done} steps)")
    return 0


def _cmd_stylebank_add(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .stylebank_train import add_style, parse_style_specs
    from .vgg import get_encoder

    (name, image), = parse_style_specs([args.style]).items()
    device = resolve_device(args.device)
    vgg = get_encoder(args.encoder_weights, device=device)
    config = _train_config(args, ae_warmup=0, steps=args.steps if args.steps is not None else 1000)
    with _progress_bar(f"add-style {name}", args.quiet) as progress:
        result = add_style(args.model_dir, name, image, args.content_dir, vgg, config=config, device=device,
                           progress=progress)
    _report(args, {"model": str(result.model_dir), "style": name, "steps": result.steps_done,
                   "seconds": round(result.seconds, 1), "losses": result.last_losses},
            f"added {name!r} to {result.model_dir} in {result.seconds:.0f} s")
    return 0


def _cmd_stylebank_list(args: argparse.Namespace) -> int:
    from .stylebank_model import DEFAULT_MODEL_DIR, read_manifest

    manifest = read_manifest(args.model_dir or DEFAULT_MODEL_DIR)
    styles = manifest.get("styles", {})
    _report(args, {"model": str(args.model_dir or DEFAULT_MODEL_DIR), "width": manifest.get("width"),
                   "styles": styles}, "\n".join(styles) if styles else "(no styles)")
    return 0


def _report(args: argparse.Namespace, data: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data))
    else:
        print(text)


def _add_stylebank(sub) -> None:
    p = sub.add_parser("stylebank", help="train StyleBank models, add styles, list styles")
    cmds = p.add_subparsers(dest="stylebank_command", required=True, parser_class=_Parser)

    def training_options(q, steps_help: str) -> None:
        q.add_argument("--content-dir", type=Path, required=True, help="folder of content photos")
        q.add_argument("--size", type=int, default=None, help="training crop side (default 256)")
        q.add_argument("--scale-jitter", type=float, default=None,
                       help="largest photo short side in crop sides (default 1.15: one scale)")
        q.add_argument("--style-size", type=int, default=None, help="style image long side for its Gram targets")
        q.add_argument("--batch-size", type=int, default=None)
        q.add_argument("--steps", type=int, default=None, help=steps_help)
        q.add_argument("--lr", type=float, default=None)
        q.add_argument("--content-weight", type=float, default=None)
        q.add_argument("--style-weight", type=float, default=None)
        q.add_argument("--tv-weight", type=float, default=None)
        q.add_argument("--identity-weight", type=float, default=None, help="auto-encoder loss weight")
        q.add_argument("--checkpoint-every", type=int, default=None)
        q.add_argument("--seed", type=int, default=None)
        q.add_argument("--device", default="auto")
        q.add_argument("--encoder-weights", type=Path, default=None, help="loss network weights")
        q.add_argument("--json", action="store_true")
        q.add_argument("--quiet", action="store_true")

    t = cmds.add_parser("train", help="train E, D and a bank per style (T+1)")
    t.add_argument("--style", action="append", required=True, metavar="NAME=IMAGE")
    t.add_argument("--out", type=Path, required=True, help="model folder")
    t.add_argument("--resume", action="store_true", help="continue from the folder's checkpoint")
    t.add_argument("--t", type=int, default=None, help="stylising steps per auto-encoder step (default 2)")
    t.add_argument("--ae-warmup", type=int, default=None, help="auto-encoder steps first (default 500)")
    t.add_argument("--width", type=int, default=None, help="network width (default 24)")
    t.add_argument("--arch", type=int, default=None, choices=(2, 3), help="network architecture (default 3)")
    training_options(t, "steps after the warm-up (default 4000)")
    t.set_defaults(func=_cmd_stylebank_train)

    a = cmds.add_parser("add-style", help="learn one new style with E and D frozen")
    a.add_argument("model_dir", type=Path)
    a.add_argument("style", metavar="NAME=IMAGE")
    training_options(a, "steps (default 1000)")
    a.set_defaults(func=_cmd_stylebank_add)

    ls = cmds.add_parser("list", help="list a model's styles")
    ls.add_argument("model_dir", type=Path, nargs="?", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_stylebank_list)


def _cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import torch

    from .encoder_weights import find_encoder_weights
    from .vgg import get_encoder

    report: dict = {"python": platform.python_version(), "torch": torch.__version__,
                    "cuda": torch.cuda.is_available()}
    path, kind = find_encoder_weights(args.encoder_weights)
    encoder = get_encoder(args.encoder_weights)
    report["encoder"] = {"path": str(path), "source": kind, "architecture": encoder.architecture}
    for module in ("cv2", "h5py", "OpenEXR", "safetensors", "tqdm"):
        mod = __import__(module)
        report[module] = getattr(mod, "__version__", "ok")
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` argument parser."""
    parser = _Parser(prog="python -m core", description="Neural style transfer for Blender artists.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_stylize(sub)
    _add_stylebank(sub)
    _add_video(sub)
    _add_analogy(sub)
    d = sub.add_parser("doctor", help="check dependencies and encoder weights")
    d.add_argument("--encoder-weights", type=Path, default=None)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_cmd_doctor)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    # FFmpeg (inside OpenCV) writes its own lines about a corrupt video ("moov atom not found")
    # straight to stderr, next to the one error line of the contract. OpenCV reads this when it
    # first uses FFmpeg (so it must be set before any video is opened); a user's value is kept.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (already printed as one line) and --help
        return int(exc.code or 0)
    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except Cancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cancelled: interrupted", file=sys.stderr)
        return Cancelled.exit_code
    except NSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        print("error: out of memory; pass a smaller --size or --memory-budget so the image is tiled", file=sys.stderr)
        return 1
