"""``python -m core stylebank``: train StyleBank models, add styles, calibrate their strengths, list styles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import Parser, add_run_options, progress_bar, report


def _train_config(args: argparse.Namespace, defaults: dict | None = None, **overrides):
    """:class:`TrainConfig` from the options given (``defaults`` for the others, then the class's)."""
    defaults = defaults or {}
    from ..stylebank.train import TrainConfig

    values = {k: getattr(args, k) for k in ("size", "batch_size", "steps", "t", "ae_warmup", "lr", "bank_lr", "width",
                                            "arch",
                                            "scale_jitter", "style_size",
                                            "content_weight", "style_weight", "tv_weight", "identity_weight",
                                            "checkpoint_every", "precision", "bank_warmup", "ed_style_scale",
                                            "identity_ssim_weight", "grid_weight", "seed")
              if getattr(args, k, None) is not None}
    if getattr(args, "content_layers", None):
        values["content_layers"] = tuple(args.content_layers)
    values = {**defaults, **values, **overrides}
    config = TrainConfig(**values)
    config.validate()  # before the loss network is loaded: a bad value is one line, at once
    return config


def _run_train(args: argparse.Namespace) -> int:
    from ..foundation.device import resolve_device
    from ..nn.vgg import get_encoder
    from ..stylebank.train import parse_style_specs, train

    styles = parse_style_specs(args.style)
    config = _train_config(args)
    device = resolve_device(args.device)
    vgg = get_encoder(args.encoder_weights, device=device)
    with progress_bar("train", args.quiet) as progress:
        result = train(args.content_dir, styles, args.out, vgg, config=config, resume=args.resume,
                       device=device, progress=progress)
    report(args, {"model": str(result.model_dir), "steps": result.steps_done, "seconds": round(result.seconds, 1),
                   "losses": result.last_losses}, f"trained {result.model_dir} ({result.steps_done} steps)")
    return 0


def _run_add(args: argparse.Namespace) -> int:
    from ..foundation.device import resolve_device
    from ..nn.vgg import get_encoder
    from ..stylebank.model import read_manifest
    from ..stylebank.train import add_style, base_loss_settings, parse_style_specs

    (name, image), = parse_style_specs([args.style]).items()
    # the new bank learns with the loss the base was trained with, unless an option says otherwise
    config = _train_config(args, base_loss_settings(read_manifest(args.model_dir)), ae_warmup=0,
                           steps=args.steps if args.steps is not None else 1000)
    device = resolve_device(args.device)
    vgg = get_encoder(args.encoder_weights, device=device)
    with progress_bar(f"add-style {name}", args.quiet) as progress:
        result = add_style(args.model_dir, name, image, args.content_dir, vgg, config=config, resume=args.resume,
                           device=device, progress=progress, init=args.init)
    report(args, {"model": str(result.model_dir), "style": name, "steps": result.steps_done,
                   "seconds": round(result.seconds, 1), "losses": result.last_losses},
            f"added {name!r} to {result.model_dir} in {result.seconds:.0f} s")
    return 0


def _calibration_photos(folder: Path, count: int, size: int) -> list:
    """Up to ``count`` photos of ``folder`` (sorted by name), long side ``size``; every file checked first."""
    from ..foundation.errors import InputError
    from ..imaging.resize import resize_long_side
    from ..io.images import SUPPORTED_EXTENSIONS, read_image

    if not folder.is_dir():
        raise InputError(f"photo folder {folder} does not exist", setting="photos")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)[:count]
    if not files:
        raise InputError(f"no photos in {folder}: choose a folder of {', '.join(SUPPORTED_EXTENSIONS)} photos",
                         setting="photos")
    return [resize_long_side(read_image(p).srgb(), size) for p in files]


def _run_calibrate(args: argparse.Namespace) -> int:
    from ..foundation.device import resolve_device
    from ..foundation.errors import InputError
    from ..foundation.output_lock import FOLDER_LOCK_NAME, output_lock
    from ..nn.vgg import get_encoder
    from ..requests.checks import check_number
    from ..stylebank.calibrate import calibrate_strengths, write_strengths
    from ..stylebank.manifest import stroke_reference
    from ..stylebank.model import DEFAULT_MODEL_DIR, load_model
    from ..stylebank.train import TrainConfig, base_loss_settings

    check_number(args.size, "size", low=16, high=4096, integer=True, setting="size")
    check_number(args.count, "count", low=1, high=1000, integer=True, setting="count")
    if args.target is not None:
        check_number(args.target, "target", low=0, low_open=True, setting="target")
    if not args.dry_run and args.model_dir.resolve() == DEFAULT_MODEL_DIR.resolve():
        raise InputError("the shipped model is not changed in place: copy its folder and calibrate the copy "
                         "(or use --dry-run)", setting="model_dir")
    device = resolve_device(args.device)
    net, manifest = load_model(args.model_dir, styles=args.style or None, device=device)
    photos = [p.to(device) for p in _calibration_photos(args.photos, args.count, args.size)]
    layers = tuple(base_loss_settings(manifest).get("content_layers", TrainConfig().content_layers))
    vgg = get_encoder(args.encoder_weights, device=device)
    say = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    with output_lock(args.model_dir / FOLDER_LOCK_NAME, str(args.model_dir)):
        result = calibrate_strengths(net, photos, vgg, layers=layers, target=args.target,
                                     reference=stroke_reference(manifest), styles=args.style or None, progress=say)
        if not args.dry_run:
            write_strengths(args.model_dir, result.strengths)
    rows = [f"{name:24s} departure {result.full[name]:.3f} → strength {result.strengths[name]:.2f} "
            f"(departure {result.calibrated[name]:.3f})"
            + (" — still beyond the target at the lowest strength" if result.calibrated[name] > result.target else "")
            for name in result.strengths]
    verb = "would write" if args.dry_run else "wrote"
    report(args, {"model": str(args.model_dir), "target": result.target, "layers": list(layers),
                   "strengths": result.strengths, "departure_full": result.full,
                   "departure_calibrated": result.calibrated, "written": not args.dry_run},
           "\n".join(rows + [f"target departure {result.target:.3f} ({', '.join(layers)}); "
                              f"{verb} the strengths to {args.model_dir / 'model.toml'}"]))
    return 0


def _run_list(args: argparse.Namespace) -> int:
    from ..stylebank.model import DEFAULT_MODEL_DIR, read_manifest

    manifest = read_manifest(args.model_dir or DEFAULT_MODEL_DIR)
    styles = manifest.get("styles", {})
    report(args, {"model": str(args.model_dir or DEFAULT_MODEL_DIR), "width": manifest.get("width"),
                   "styles": styles}, "\n".join(styles) if styles else "(no styles)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("stylebank", help="train StyleBank models, add styles, list styles")
    cmds = p.add_subparsers(dest="stylebank_command", required=True, parser_class=Parser)

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
        q.add_argument("--content-layers", nargs="+", default=None, metavar="LAYER",
                       help="loss-network layers of the content loss (train default relu2_2 relu3_3; add-style "
                            "default: the base model's)")
        q.add_argument("--style-weight", type=float, default=None)
        q.add_argument("--tv-weight", type=float, default=None)
        q.add_argument("--grid-weight", type=float, default=None,
                       help="weight of the periodic-grid penalty at the bottleneck's stride (default 0; add-style "
                            "default: the base model's)")
        q.add_argument("--identity-weight", type=float, default=None, help="auto-encoder loss weight")
        q.add_argument("--checkpoint-every", type=int, default=None)
        q.add_argument("--seed", type=int, default=None)
        q.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                       help="auto (default): bfloat16 where the GPU or CPU computes it natively, else fp32")
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
    t.add_argument("--bank-warmup", type=int, default=None,
                   help="then this many T+1 steps in which style steps train the banks only (default 0)")
    t.add_argument("--ed-style-scale", type=float, default=None,
                   help="after that, the factor (0-1) on the style steps' encoder/decoder gradient; below 1 "
                        "protects the identity branch (default 1, the paper's joint training)")
    t.add_argument("--bank-lr", type=float, default=None,
                   help="learning rate of the banks (default: --lr); a resume keeps Adam's moments")
    t.add_argument("--identity-ssim-weight", type=float, default=None,
                   help="weight of 1 - SSIM in the auto-encoder steps' loss (default 0: squared error only; "
                        "needs pytorch-msssim)")
    t.add_argument("--width", type=int, default=None, help="network width (default 24)")
    t.add_argument("--arch", type=int, default=None, choices=(2, 3, 4),
                   help="network architecture (default 3); --resume grows a checkpoint of 3 into 4")
    training_options(t, "steps after the warm-up (default 4000)")
    t.set_defaults(func=_run_train)

    a = cmds.add_parser("add-style", help="learn one new style with E and D frozen")
    a.add_argument("model_dir", type=Path)
    a.add_argument("style", metavar="NAME=IMAGE")
    a.add_argument("--resume", action="store_true",
                   help="continue the unfinished run of this style (kept every --checkpoint-every steps)")
    a.add_argument("--init", default="nearest", metavar="nearest|fresh|STYLE",
                   help="the bank to begin from: nearest (default: the model's bank whose pictures come closest "
                        "to the painting), fresh (the identity) or one of the model's styles")
    training_options(a, "steps (default 1000)")
    a.set_defaults(func=_run_add)

    c = cmds.add_parser("calibrate", help="give each style a full strength at which it does not overpower the "
                                          "content (model.toml's strength)")
    c.add_argument("model_dir", type=Path)
    c.add_argument("--photos", type=Path, required=True, help="folder of content photos (varied; not trained on)")
    c.add_argument("--count", type=int, default=5, help="photos used, first by name (default 5)")
    c.add_argument("--size", type=int, default=512, help="long side the photos are stylised at (default 512)")
    c.add_argument("--style", action="append", default=None, metavar="NAME",
                   help="calibrate only this style (repeatable; default all)")
    c.add_argument("--target", type=float, default=None,
                   help="content departure no style may exceed (default: 1.25 × the styles' median at full strength)")
    c.add_argument("--dry-run", action="store_true", help="measure and print, write nothing")
    add_run_options(c, encoder_help="loss network weights")
    c.set_defaults(func=_run_calibrate)

    ls = cmds.add_parser("list", help="list a model's styles")
    ls.add_argument("model_dir", type=Path, nargs="?", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_run_list)
