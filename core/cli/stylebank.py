"""``python -m core stylebank``: train StyleBank models, add styles, list styles."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import Parser, progress_bar, report


def _train_config(args: argparse.Namespace, defaults: dict | None = None, **overrides):
    """:class:`TrainConfig` from the options given (``defaults`` for the others, then the class's)."""
    defaults = defaults or {}
    from ..stylebank.train import TrainConfig

    values = {k: getattr(args, k) for k in ("size", "batch_size", "steps", "t", "ae_warmup", "lr", "bank_lr", "width",
                                            "arch",
                                            "scale_jitter", "style_size",
                                            "content_weight", "style_weight", "tv_weight", "identity_weight",
                                            "checkpoint_every", "precision", "bank_warmup", "ed_style_scale",
                                            "identity_ssim_weight", "seed") if getattr(args, k, None) is not None}
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

    ls = cmds.add_parser("list", help="list a model's styles")
    ls.add_argument("model_dir", type=Path, nargs="?", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_run_list)
