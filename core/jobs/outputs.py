"""Output checks shared by the jobs: never write over an input."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..foundation.errors import OutputError

__all__ = ["refuse_overwriting_inputs"]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(output: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that names one of the inputs (same path, or the same file by another name).

    Raises:
        OutputError: ``output`` is one of ``inputs``.
    """
    for p in inputs:
        if output.resolve() == Path(p).resolve() or _same_file(output, Path(p)):
            raise OutputError(f"output {output} is one of the inputs; refusing to overwrite a source image")
