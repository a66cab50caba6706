"""Frame numbers in file names: patterns (``frame_####.png``), frame ranges, and folder scans.

A pattern names every frame of a sequence: ``render/frame_####.exr`` (Blender style; ``####`` =
zero padded to four digits, a single ``#`` = unpadded), printf style ``frame_%04d.png`` /
``frame_%d.png``, or a glob ``frame_*.png`` (the ``*`` stands for the frame number). Used by
:mod:`.frame_sources` to find frames and by :mod:`.frame_sinks` to name outputs.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..foundation.errors import InputError
from .formats import SUPPORTED_EXTENSIONS

__all__ = [
    "FOLDER_DIGITS",
    "FOLDER_PREFIX",
    "FOLDER_SUFFIX",
    "FrameInfo",
    "FramePattern",
    "check_fps",
    "format_ranges",
    "has_placeholder",
    "parse_pattern",
    "scan_folder",
    "scan_pattern",
]

#: Name of each frame in a folder output and in a video's work folder.
FOLDER_PREFIX, FOLDER_DIGITS, FOLDER_SUFFIX = "frame_", 4, ".png"


_NUMBERED_NAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")
_PRINTF = re.compile(r"%(?P<zero>0?)(?P<width>\d*)d")


@dataclass(frozen=True)
class FrameInfo:
    """One frame of a sequence.

    Attributes:
        index: 0-based position in the sequence.
        number: Frame number from the file name (image sequences) or ``index`` (videos).
        path: The image file, or ``None`` for a video frame.
    """

    index: int
    number: int
    path: Path | None


@dataclass(frozen=True)
class FramePattern:
    """A numbered file name: ``directory / (prefix + number + suffix)``.

    Attributes:
        directory: Folder of the files.
        prefix: File name text before the number.
        digits: Zero padding of the number (``4`` for ``####`` / ``%04d``), or ``None`` for an
            unpadded number (single ``#``, ``%d``, ``*``): reading then accepts any run of
            digits, writing uses the plain number.
        suffix: File name text after the number, normally the extension (``.png``).
    """

    directory: Path
    prefix: str
    digits: int | None
    suffix: str

    def name_for(self, number: int) -> str:
        """File name of frame ``number`` (more digits than ``digits`` when it needs them)."""
        if number < 0:
            raise InputError(f"negative frame number {number} is not supported")
        return f"{self.prefix}{self.number_text(number)}{self.suffix}"

    def path_for(self, number: int) -> Path:
        """Path of frame ``number``."""
        return self.directory / self.name_for(number)

    def number_text(self, number: int) -> str:
        """``number`` padded as in this pattern."""
        return f"{number:0{self.digits}d}" if self.digits else str(number)

    def match(self, name: str) -> int | None:
        """Frame number held by file name ``name``, or ``None`` when it does not fit.

        The prefix must match exactly, the suffix case-insensitively; with ``digits`` set, the
        number must be written with exactly that padding (``0012`` for ``####``; numbers
        needing more digits, like ``12345``, are accepted unpadded, as Blender writes them).
        """
        if not (name.startswith(self.prefix) and name.lower().endswith(self.suffix.lower())):
            return None
        middle = name[len(self.prefix) : len(name) - len(self.suffix)]
        if not middle.isascii() or not middle.isdigit():
            return None
        number = int(middle)
        if self.digits is not None and middle != self.number_text(number):
            return None
        return number

    def display(self) -> str:
        """The pattern with ``#`` runs for the number, e.g. ``render/frame_####.exr``."""
        hashes = "#" * (self.digits or 1)
        return str(self.directory / f"{self.prefix}{hashes}{self.suffix}")


def parse_pattern(spec: str | os.PathLike[str]) -> FramePattern:
    """Split a frame-name pattern into folder, prefix, padding and suffix.

    Accepted placeholders, in the file name only (never in the folder part):
    ``####`` (one run of ``#``: zero padded to its length; a single ``#`` means unpadded),
    ``%04d`` / ``%d`` (printf) and ``*`` (glob; the frame number, unpadded).

    Args:
        spec: Pattern such as ``render/frame_####.exr``, ``out/f_%04d.png`` or ``frame_*.png``.

    Returns:
        The :class:`FramePattern`.

    Raises:
        InputError: No placeholder, more than one, a placeholder in the folder part, or glob
            characters other than a single ``*``.
    """
    path = Path(spec)
    name = path.name
    for part in path.parent.parts:
        if "#" in part or "*" in part or _PRINTF.search(part):
            raise InputError(
                f"{spec}: the frame-number placeholder must be in the file name, not the folder"
            )
    found: list[tuple[int, int, int | None]] = []  # (start, end, digits)
    for m in re.finditer(r"#+", name):
        run = m.end() - m.start()
        found.append((m.start(), m.end(), None if run == 1 else run))
    for m in _PRINTF.finditer(name):
        width = int(m["width"]) if m["width"] else 0
        if width and not m["zero"]:
            raise InputError(
                f"{spec}: space padding ({m.group()}) is not supported; use %0{width}d or %d"
            )
        found.append((m.start(), m.end(), width if width > 1 else None))
    for m in re.finditer(r"\*", name):
        found.append((m.start(), m.end(), None))
    if any(c in name for c in "?[]"):
        raise InputError(f"{spec}: only a single '*' is supported as a glob (no '?' or '[...]')")
    if not found:
        raise InputError(
            f"{spec} has no frame-number placeholder; use #### (e.g. frame_####.png), "
            "%04d or *"
        )
    if len(found) > 1:
        raise InputError(f"{spec} has more than one frame-number placeholder")
    start, end, digits = found[0]
    return FramePattern(path.parent, name[:start], digits, name[end:])


def format_ranges(numbers: Iterable[int], *, max_ranges: int | None = 12) -> str:
    """Write frame numbers compactly: ``[12, 13, 14, 20]`` → ``"12–14, 20"``.

    Args:
        numbers: Frame numbers, in any order; duplicates are ignored.
        max_ranges: Show at most this many ranges, then ``"… (N more frames)"``; ``None``
            shows all.

    Returns:
        Comma-separated numbers and en-dash ranges in ascending order (``""`` when empty).
    """
    ordered = sorted(set(numbers))
    ranges: list[tuple[int, int]] = []
    for n in ordered:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    shown = ranges if max_ranges is None else ranges[:max_ranges]
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in shown)
    if len(shown) < len(ranges):
        rest = sum(b - a + 1 for a, b in ranges[len(shown) :])
        text += f", … ({rest} more frame{'s' if rest != 1 else ''})"
    return text


def size_text(size: tuple[int, int]) -> str:
    return f"{size[1]}×{size[0]}"


def same_file_key(path: Path) -> str:
    """A comparable form of ``path`` (absolute, symlinks resolved, case folded where needed)."""
    return os.path.normcase(str(path.resolve()))


def has_placeholder(name: str) -> bool:
    return "#" in name or "*" in name or _PRINTF.search(name) is not None


def check_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    valid = isinstance(fps, (int, float)) and not isinstance(fps, bool)
    if not valid or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _image_files(folder: Path) -> Iterator[Path]:
    """Non-hidden regular files with an image extension (hidden = in-flight temporary files)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc
    for entry in entries:
        if entry.name.startswith(".") or entry.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        if entry.is_file():
            yield entry


def scan_pattern(pattern: FramePattern) -> dict[int, Path]:
    files: dict[int, Path] = {}
    for entry in _image_files(pattern.directory):
        number = pattern.match(entry.name)
        if number is None:
            continue
        if number in files:
            raise InputError(
                f"{files[number].name} and {entry.name} both hold frame {number} "
                f"of {pattern.display()}"
            )
        files[number] = entry
    if not files:
        raise InputError(f"no frames match {pattern.display()}")
    return files


def scan_folder(folder: Path) -> tuple[FramePattern, dict[int, Path]]:
    groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    unnumbered: list[str] = []
    for entry in _image_files(folder):
        m = _NUMBERED_NAME.match(entry.name)
        if m is None:
            unnumbered.append(entry.name)
            continue
        key = (m["prefix"], m["suffix"].lower())
        groups.setdefault(key, []).append((m["number"], entry))
    if not groups and not unnumbered:
        raise InputError(
            f"folder {folder} holds no image files ({', '.join(SUPPORTED_EXTENSIONS)})"
        )
    if unnumbered:
        shown = ", ".join(unnumbered[:3]) + (" …" if len(unnumbered) > 3 else "")
        raise InputError(
            f"folder {folder} holds image files without a frame number ({shown}); move them "
            "away or pass a pattern such as frame_####.png"
        )
    if len(groups) > 1:
        listed = "; ".join(
            f"{prefix}#{suffix} ({len(items)} files)"
            for (prefix, suffix), items in sorted(groups.items())
        )
        raise InputError(
            f"folder {folder} holds several numbered sequences ({listed}); pass a pattern "
            "such as frame_####.png to choose one"
        )
    (prefix, _), items = next(iter(groups.items()))
    suffix = items[0][1].suffix
    widths = {len(text) for text, _ in items}
    narrowest = min(widths)
    padded = all(text == f"{int(text):0{narrowest}d}" for text, _ in items)
    digits = narrowest if padded and narrowest > 1 else None
    pattern = FramePattern(folder, prefix, digits, suffix)
    files: dict[int, Path] = {}
    for text, entry in items:
        number = int(text)
        if number in files:
            raise InputError(
                f"{files[number].name} and {entry.name} both hold frame {number} in folder {folder}"
            )
        files[number] = entry
    return pattern, files
