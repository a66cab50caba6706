"""Checks every request and config shares: numbers, memory estimates, output formats — no torch.

Issue 18, class 4: NaN, zero or negative learning rates and weights, sizes that made torch try to
allocate 96 GB, and an output bit depth the format cannot hold (found only after the whole
optimisation) are now refused by ``validate()`` before any work, each with one sentence naming
the setting and the value. :func:`check_number` is the one number check; :func:`estimate_bytes`
and :func:`check_memory` the one memory check (called by the jobs once the image size is known
from its header, before any pixel is decoded).

Tested by ``tests/reliability/test_validation.py``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..foundation.errors import ImageTooLargeError, InputError

__all__ = ["BIT_DEPTHS", "bytes_text", "check_bit_depth", "check_memory", "check_number", "estimate_bytes",
           "memory_limit_bytes"]

#: Output extension → the bit depths :func:`core.io.images.write_image` can write.
BIT_DEPTHS = {".png": (8, 16), ".jpg": (8,), ".jpeg": (8,), ".tif": (8, 16, 32), ".tiff": (8, 16, 32),
              ".exr": (16, 32)}


def check_number(value: object, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False, optional: bool = False,
                 setting: str | None = None) -> None:
    """Refuse a value that is not a finite number in range (``None`` only when ``optional``).

    Args:
        value: The value.
        name: How the message names it (``"learning rate"``).
        low, high: Inclusive bounds (``low_open``: ``low`` itself is refused).
        integer: A whole number is needed (``bool`` is never a number).
        optional: ``None`` is allowed.
        setting: The request field, for the front end's hint.

    Raises:
        InputError: Naming the setting, the value and the range.
    """
    if value is None and optional:
        return
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        kind = "a whole number" if integer else "a number"
        raise InputError(f"{name} must be {kind}, got {value!r}", setting=setting)
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}", setting=setting)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        lo = "" if low is None else (f"> {low:g}" if low_open else f"≥ {low:g}")
        hi = "" if high is None else f"≤ {high:g}"
        raise InputError(f"{name} must be {' and '.join(x for x in (lo, hi) if x)}, got {value:g}", setting=setting)


def check_bit_depth(bit_depth: int | None, output: Path) -> None:
    """Refuse a bit depth the output's format cannot hold (before any work, not at the write).

    Raises:
        InputError: The extension and bit depth do not go together.
    """
    if bit_depth is None:
        return
    allowed = BIT_DEPTHS.get(Path(output).suffix.lower())
    if allowed is None:
        return  # the output check reports the extension itself
    if isinstance(bit_depth, bool) or bit_depth not in allowed:
        raise InputError(f"{Path(output).suffix} files cannot hold {bit_depth!r}-bit samples; supported: "
                         f"{', '.join(map(str, allowed))}", setting="bit_depth")


#: Bytes per pixel, measured and rounded up: a StyleBank forward (CPU, float32, no grad) grew
#: the peak RSS by 148–183 B/px at width 16 (768×1024 and 1536×2048); 12 B/px per unit of width
#: plus 48 for the input, result and its copies covers that with margin.
_STYLEBANK_PER_WIDTH, _STYLEBANK_FIXED = 12, 48
#: Gatys keeps the full-resolution content, result, style, masks and tile-blending weights
#: (float32) besides the solve itself, which tiling keeps within the memory budget.
_GATYS_FULL_RES = 96
#: A video job's extra full-resolution buffers: source frame, output, flow, confidence, warped previous.
_VIDEO_EXTRA = 64


def estimate_bytes(method: str, height: int, width: int, *, model_width: int = 32, budget_mb: int | None = None,
                   video: bool = False) -> int:
    """Peak memory of stylising one ``height × width`` picture (rough upper estimate, bytes)."""
    pixels = height * width
    if method == "stylebank":
        total = pixels * (_STYLEBANK_PER_WIDTH * model_width + _STYLEBANK_FIXED)
    else:
        from .gatys import SOLVE_BYTES_PER_PIXEL

        solve = min(pixels * SOLVE_BYTES_PER_PIXEL, (budget_mb or 4096) * 2**20)
        total = pixels * _GATYS_FULL_RES + solve
    return total + (pixels * _VIDEO_EXTRA if video else 0)


def memory_limit_bytes() -> int:
    """The most memory a job may plan for: ``NST_MEMORY_LIMIT_MB`` if set, else the machine's RAM."""
    env = os.environ.get("NST_MEMORY_LIMIT_MB")
    if env:
        try:
            return int(float(env) * 2**20)
        except ValueError:
            pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def bytes_text(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_memory(method: str, height: int, width: int, *, model_width: int = 32, budget_mb: int | None = None,
                 video: bool = False, limit: int | None = None) -> int:
    """Refuse a working size whose memory estimate exceeds the limit; return the estimate.

    Raises:
        ImageTooLargeError: With the estimate and the limit in the message.
    """
    need = estimate_bytes(method, height, width, model_width=model_width, budget_mb=budget_mb, video=video)
    limit = memory_limit_bytes() if limit is None else limit
    if need > limit:
        raise ImageTooLargeError(
            f"a {width}×{height} working size needs about {bytes_text(need)} of memory for {method} "
            f"({height * width / 1e6:.0f} MP), more than the {bytes_text(limit)} available; choose a smaller size",
            setting="size",
        )
    return need
