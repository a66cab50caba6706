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
from pathlib import Path

from ..foundation.errors import Cancelled, NSTError
from ..foundation.termination import Terminated, sigterm_raises
from . import analogy, stylebank, stylize, video
from .common import Parser, option_hint

__all__ = ["build_parser", "main"]


def _cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import torch

    from ..nn.encoder_weights import find_encoder_weights
    from ..nn.vgg import get_encoder

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
    parser = Parser(prog="python -m core", description="Neural style transfer for Blender artists.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    stylize.add_parser(sub)
    stylebank.add_parser(sub)
    video.add_parser(sub)
    analogy.add_parser(sub)
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
        with sigterm_raises():
            return args.func(args)
    except (Cancelled, Terminated) as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cancelled: interrupted", file=sys.stderr)
        return Cancelled.exit_code
    except NSTError as exc:
        print(f"error: {exc}{option_hint(exc)}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        print("error: out of memory; pass a smaller --size or --memory-budget so the image is tiled", file=sys.stderr)
        return 1
