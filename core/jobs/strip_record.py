"""What a stylised strip was made from, and where a rerun has to start (torch-free).

A strip's folder (``//nst_strips/<strip>/``) holds one PNG per stylised source frame and a
record, ``.nst-strip.json``, written before the first frame of every run:

* ``settings``: the settings that change the pictures (method, styles and their weights,
  style images by content hash, strength, colour, coherence, size, motion source);
* ``frames``: the chain of source frames in processing order, ``[position, digest]``: the
  frame's position in the strip's content (0 = its first frame) and a hash of its pixels or
  file;
* ``digests``: a cache ``{key: [size, mtime_ns, digest]}`` so unchanged files are not hashed
  again.

Coherent stylisation makes frame ``t`` depend on every frame before it in the chain, so a
rerun keeps the longest common prefix of the old and the new chain (same settings, same
positions, same digests) and recomputes from the first frame that differs, or from the first
frame whose output is missing (a cancelled, crashed or killed run): :func:`resume_point`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..foundation.atomic_write import atomic_write_bytes

RECORD_NAME = ".nst-strip.json"
FRAME_PREFIX, FRAME_SUFFIX = "frame_", ".png"
STATE_PREFIX = ".state_"
_CHUNK = 1 << 20


def output_name(position: int) -> str:
    """File name of the stylised frame at content ``position`` (0-based): ``frame_0001.png`` for 0."""
    return f"{FRAME_PREFIX}{position + 1:04d}{FRAME_SUFFIX}"


def state_name(position: int) -> str:
    """Hidden file keeping the engine's state after ``position`` (its unscaled 8-bit result)."""
    return f"{STATE_PREFIX}{position + 1:04d}{FRAME_SUFFIX}"


def visible_positions(duration: int, offset_start: float, offset_end: float) -> range:
    """Content positions a strip shows, from its content length and its offsets.

    Blender keeps a strip's content (``frame_duration`` frames) and trims it with
    ``frame_offset_start``/``frame_offset_end``; negative offsets extend the strip by holding
    the first or last frame, which shows no other content frame.

    Args:
        duration: ``strip.frame_duration``.
        offset_start: ``strip.frame_offset_start``.
        offset_end: ``strip.frame_offset_end``.

    Returns:
        The positions, ascending; empty when the offsets hide everything.
    """
    first = max(0, int(offset_start))
    last = min(duration, duration - int(offset_end))
    return range(first, max(first, last))


def hold_positions(duration: int, shown: Sequence[int]) -> list[int]:
    """For every content position, the stylised position the output strip shows there.

    Positions outside ``shown`` (trimmed away in the source) hold the nearest stylised frame, so
    the output strip can take the source's start, offsets and length.

    Raises:
        ValueError: ``shown`` is empty.
    """
    if not shown:
        raise ValueError("no visible frames")
    first, last = min(shown), max(shown)
    return [min(max(i, first), last) for i in range(duration)]


def file_digest(path: Path, cache: dict | None = None) -> str:
    """SHA-1 of a file's bytes; ``cache`` (``{str(path): [size, mtime_ns, digest]}``) skips unchanged files.

    Raises:
        OSError: The file cannot be read.
    """
    st = path.stat()
    key = str(path)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = [st.st_size, st.st_mtime_ns, digest]
    return digest


def bytes_digest(data: bytes) -> str:
    """SHA-1 of in-memory bytes (decoded video frames)."""
    return hashlib.sha1(data).hexdigest()


def load_record(folder: Path) -> dict | None:
    """The record in ``folder``; None when absent or unreadable (then everything is recomputed)."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def save_record(folder: Path, record: dict) -> Path:
    """Write the record atomically (temporary file + rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(folder / RECORD_NAME, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def chain(positions: Iterable[int], digests: Iterable[str]) -> list[list]:
    """The record's ``frames`` entry: ``[[position, digest], …]`` in processing order."""
    return [[int(p), str(d)] for p, d in zip(positions, digests, strict=True)]


def resume_point(old: dict | None, settings: dict, frames: list[list], done: Callable[[int], bool]) -> int:
    """Index into ``frames`` of the first frame to compute.

    Args:
        old: The previous record (None: nothing usable).
        settings: The settings of this run (:func:`load_record`'s ``settings`` format).
        frames: This run's chain (:func:`chain`).
        done: Whether the output of a content position exists and is complete.

    Returns:
        0 when the settings changed; else the first index where the chains differ or whose output
        is missing; ``len(frames)`` when everything is up to date.
    """
    if old is None or old.get("settings") != settings:
        return 0
    previous = old.get("frames") or []
    common = 0
    for a, b in zip(previous, frames):
        if list(a) != list(b):
            break
        common += 1
    for index in range(common):
        if not done(frames[index][0]):
            return index
    return common


def stale_outputs(folder: Path, keep: set[int]) -> list[Path]:
    """Stylised frames (and state files) in ``folder`` whose position is not in ``keep``."""
    if not folder.is_dir():
        return []
    stale = []
    for entry in folder.iterdir():
        for prefix in (FRAME_PREFIX, STATE_PREFIX):
            name = entry.name
            if name.startswith(prefix) and name.endswith(FRAME_SUFFIX):
                number = name[len(prefix):-len(FRAME_SUFFIX)]
                if number.isdigit() and int(number) - 1 not in keep:
                    stale.append(entry)
    return sorted(stale)


#: Temporaries a killed run can leave, all from core's atomic writes
#: (:func:`core.foundation.atomic_write.temporary_name`): ``.frame_0003.png.<hex>.tmp.png``,
#: ``..state_0003.png.<hex>.tmp.png``, ``..nst-strip.json.<hex>.tmp.json``.
_TEMPORARY = re.compile(r"^\.(?:frame_\d+\.png|\.state_\d+\.png|\.nst-strip\.json)\.[0-9a-f]+\.tmp(?:\.png|\.json)?$")


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files a killed run left in ``folder`` (its writes are atomic, so only these)."""
    if not folder.is_dir():
        return []
    return sorted(entry for entry in folder.iterdir() if _TEMPORARY.match(entry.name))


def format_positions(positions: Iterable[int]) -> str:
    """Content positions as 1-based strip frames, compactly: ``[0, 1, 2, 6]`` → ``"1–3, 7"``."""
    ordered = sorted({p + 1 for p in positions})
    ranges: list[list[int]] = []
    for n in ordered:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    shown = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in ranges[:8])
    return shown + (", …" if len(ranges) > 8 else "")
