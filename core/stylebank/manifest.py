"""``model.toml``: the StyleBank manifest, read and checked against its schema without torch.

One reader for everything that looks at a model folder — the loader
(:func:`core.stylebank.model.load_model`), the CLI's ``stylebank list``, the job identity and the
Blender add-on's style menu — so a malformed manifest is one clear :class:`ModelError` wherever it
is met, before any weights are read (issue 18, class 4). The schema:

* ``format``: ``"stylebank/2"``, ``"stylebank/3"`` or ``"stylebank/4"`` (the architectures of :mod:`.net`);
* ``width``: a whole number 1…:data:`MAX_WIDTH` (not a float, not a bool);
* ``[base]``: a table; ``file`` a relative file name, ``sha256`` 64 hex digits or empty (both optional);
* ``stroke_reference`` (optional): the long side in pixels at which the model draws its strokes at
  the size it was trained for; stylisation runs the network there and joins larger passes band by
  band (:mod:`.scales`), so the look does not depend on the output size. Absent: one pass at the
  output size (models made before it existed);
* ``[styles.<name>]``: one table per style; names as :func:`check_style_name` allows; ``file``
  and ``sha256`` as for the base; ``strength`` (optional, 0…1, default 1) how much of the bank's
  change the style's full strength applies — a calibration so that no style overpowers the
  content at Strength 1 (:class:`core.stylebank.net.Bank`'s ``scale``); any other key is free
  metadata.

The manifest must be a regular file of at most 1 MiB (a FIFO or device file is refused without
being opened: it would block the reader or never end).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..foundation.errors import InputError, ModelError
from ..foundation.files import read_small_text

__all__ = ["ARCHITECTURES", "FORMATS", "MANIFEST", "MAX_WIDTH", "STROKE_REFERENCE_RANGE", "check_style_name",
           "read_manifest", "stroke_reference"]

#: Architectures of :mod:`core.stylebank.net` (checked equal there).
ARCHITECTURES = (2, 3, 4)
#: ``stylebank/<arch>`` → the architecture it names.
FORMATS = {f"stylebank/{arch}": arch for arch in ARCHITECTURES}
MANIFEST = "model.toml"
#: Widest network a manifest may declare (the paper's is 32; memory grows with its square).
MAX_WIDTH = 256
#: Accepted ``stroke_reference`` values (long side in px).
STROKE_REFERENCE_RANGE = (16, 8192)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def check_style_name(name: str) -> str:
    """Return ``name`` if it is a safe style name.

    Raises:
        InputError: Empty, too long, or containing anything but letters, digits, ``_`` and ``-``
            (so ``../../x`` and other path tricks are refused).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"invalid style name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def _file_entry(path: Path, where: str, entry: object) -> None:
    if not isinstance(entry, dict):
        raise ModelError(f"{path}: {where} must be a table, got {type(entry).__name__}")
    file = entry.get("file")
    if file is not None and (not isinstance(file, str) or not file or "\0" in file):
        raise ModelError(f"{path}: {where}.file must be a file name, got {file!r}")
    digest = entry.get("sha256")
    if digest is not None and (not isinstance(digest, str) or (digest and not _SHA.match(digest))):
        raise ModelError(f"{path}: {where}.sha256 must be 64 lower-case hex digits (or empty: not recorded), "
                         f"got {digest!r}")


def read_manifest(model_dir: str | Path) -> dict:
    """Parse and check ``model.toml`` (see the module docstring).

    Raises:
        ModelError: Missing folder or manifest, a special file, invalid TOML, or a value that
            does not fit the schema (named in the message).
    """
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    if not model_dir.is_dir():
        raise ModelError(f"StyleBank model folder {model_dir} does not exist")
    if not path.exists() and not path.is_symlink():
        raise ModelError(f"{model_dir} is not a StyleBank model: {MANIFEST} is missing")
    text = read_small_text(path, "model manifest", error=ModelError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path} is corrupt: {exc}") from exc
    if data.get("format") not in FORMATS:
        raise ModelError(f"{path}: format {data.get('format')!r} is not one of {', '.join(FORMATS)}")
    width = data.get("width")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise ModelError(f"{path}: width must be a whole number 1…{MAX_WIDTH}, got {width!r}")
    _file_entry(path, "[base]", data.setdefault("base", {}))
    styles = data.setdefault("styles", {})
    if not isinstance(styles, dict):
        raise ModelError(f"{path}: [styles] must be a table of styles, got {type(styles).__name__}")
    for name, entry in styles.items():
        try:
            check_style_name(name)
        except InputError as exc:
            raise ModelError(f"{path}: {exc}") from None
        _file_entry(path, f"[styles.{name}]", entry)
        strength = entry.get("strength")
        if strength is not None and (isinstance(strength, bool) or not isinstance(strength, (int, float))
                                     or not 0.0 <= strength <= 1.0):
            raise ModelError(f"{path}: [styles.{name}].strength must be a number in 0…1, got {strength!r}")
    ref = data.get("stroke_reference")
    low, high = STROKE_REFERENCE_RANGE
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int) or not low <= ref <= high):
        raise ModelError(f"{path}: stroke_reference must be a whole number {low}…{high} (pixels), got {ref!r}")
    return data


def stroke_reference(manifest: dict) -> int | None:
    """The model's stroke reference size (long side in px), or ``None`` for one pass at the output size."""
    return manifest.get("stroke_reference")

