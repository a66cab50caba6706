"""What every command of the command line shares: one-line usage errors, progress bars, reports, option hints."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from ..foundation.errors import NSTError

__all__ = ["OPTION_HINTS", "Parser", "add_run_options", "option_hint", "positive_int", "progress_bar", "report"]

#: Request settings → the options that set them. Core's messages name settings in words that make
#: sense in every front end; :func:`option_hint` points the CLI user at the option.
OPTION_HINTS = {
    "blend": "--blend",
    "device": "--device",
    "dis_preset": "--dis-preset",
    "encoder_weights": "--encoder-weights",
    "flow": "--flow",
    "gatys_next_iterations": "--next-iterations",
    "keep": "--keep",
    "masks": "--mask",
    "method": "--method",
    "model": "--model",
    "overwrite": "--overwrite",
    "result_size": "--result-size",
    "size": "--size",
    "strength": "--strength",
    "stroke": "--stroke",
    "style_names": "--style NAME; `python -m core stylebank list` shows a model's styles",
    "style_weights": "--style-weights",
    "styles": "the STYLE image arguments",
    "temporal_weight": "--temporal-weight",
    "vectors_dir": "--vectors-dir",
}


def option_hint(exc: NSTError) -> str:
    """`` (--size)`` for an error about the ``size`` setting; ``""`` when there is no option to name."""
    hint = OPTION_HINTS.get(getattr(exc, "setting", None) or "")
    return f" ({hint})" if hint else ""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `python -m core {self.prog.split()[-1]} --help`)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


@contextmanager
def progress_bar(desc: str, quiet: bool):
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


def report(args: argparse.Namespace, data: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data))
    else:
        print(text)


def add_run_options(p: argparse.ArgumentParser, *, encoder_help: str) -> None:
    """The options every job command has: ``--device``, ``--encoder-weights``, ``--json``, ``--quiet``."""
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--encoder-weights", type=Path, default=None, help=encoder_help)
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
