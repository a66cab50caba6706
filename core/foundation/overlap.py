"""An output never overlaps an input: the check every job runs before it writes or deletes anything.

Issue 18, class 2: ``--overwrite`` deleted Vector-pass EXRs when the output pattern pointed into
the Vector folder; an output could replace the style image of a video job; an output placed in
the frames' folder made that folder hold two sequences, so the input was refused on the next
run. :func:`refuse_output_overlap` is the one check every job runs before it writes or deletes
anything (:func:`~core.jobs.stylize.run_stylize`, :func:`~core.jobs.video.run_video`,
:func:`~core.jobs.analogy.run_analogy`, StyleBank ``train`` and ``add_style``).

Each output and input is a :class:`Place`: a file or a folder. Paths are compared after
resolving symlinks and ``..`` (``os.path.realpath``) and, where they exist, by device and inode
(hard links, another spelling on a case-insensitive disk). Refused:

* an output file that *is* an input file or folder, or lies inside an input folder;
* an output folder that is, lies inside or contains an input folder, or contains an input file.

An output *file* next to an input file (``photo.jpg`` → ``photo_styled.png``) is fine.

Tested by ``tests/reliability/test_output_overlap.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

__all__ = ["Place", "refuse_output_overlap", "refuse_overwriting_inputs"]


@dataclass(frozen=True)
class Place:
    """A file or folder a job reads or writes.

    Attributes:
        path: The path as given.
        folder: ``True`` for a folder (everything inside belongs to it).
        label: What it is, for messages (``"style image"``, ``"Vector-pass folder"``).
    """

    path: Path
    folder: bool = False
    label: str = "input"


def _chain(path: Path) -> tuple[list[str], list[tuple[int, int] | None]]:
    """The real path and its ancestors (self first), with the device/inode of each that exists."""
    real = Path(os.path.realpath(os.fspath(path)))
    names, inodes = [], []
    for p in (real, *real.parents):
        names.append(os.path.normcase(str(p)))
        try:
            st = os.stat(p)
            inodes.append((st.st_dev, st.st_ino))
        except OSError:
            inodes.append(None)
    return names, inodes


def _same(a: tuple[list[str], list], i: int, b: tuple[list[str], list]) -> bool:
    """Whether the ``i``-th ancestor of ``a`` is ``b`` itself."""
    if a[0][i] == b[0][0]:
        return True
    return a[1][i] is not None and a[1][i] == b[1][0]


def _within(inner, outer) -> int | None:
    """0 when ``inner`` is ``outer``; k > 0 when ``outer`` is its k-th ancestor; else ``None``."""
    for i in range(len(inner[0])):
        if _same(inner, i, outer):
            return i
    return None


def refuse_output_overlap(outputs: Iterable[Place], inputs: Iterable[Place], target: str | None = None) -> None:
    """Refuse outputs that are, lie inside or (for folders) contain an input (see the module docstring).

    Args:
        outputs: What the job writes (files and folders, including work folders).
        inputs: Everything it reads (frames, their folder, style images, masks, Vector/Depth
            folders, the content video, model folders).
        target: The output as the user named it (for the message); defaults to each output's path.

    Raises:
        OutputError: One sentence naming the output, the input and how they overlap.
    """
    inputs = [(p, _chain(p.path)) for p in inputs]
    for out in outputs:
        oc = _chain(out.path)
        name = target or str(out.path)
        for inp, ic in inputs:
            how = None
            k = _within(oc, ic)
            if k == 0:
                how = "is"
            elif k is not None and inp.folder:
                how = "lies inside"
            elif out.folder:
                j = _within(ic, oc)
                if j is not None and j > 0:
                    how = "contains"
            if how == "is":
                raise OutputError(f"refusing to write {name}: {out.path} is one of the inputs (the {inp.label} "
                                  f"{inp.path}); choose another output")
            if how is not None:
                raise OutputError(
                    f"refusing to write {name}: the output {'folder ' if out.folder else ''}{out.path} {how} "
                    f"the {inp.label} {inp.path}; outputs must lie outside every input — choose another output"
                )


def refuse_overwriting_inputs(output: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output file that is one of the input files (:func:`refuse_output_overlap` for files).

    Raises:
        OutputError: ``output`` is one of ``inputs``.
    """
    refuse_output_overlap([Place(Path(output))], [Place(Path(p), label="input") for p in inputs])
