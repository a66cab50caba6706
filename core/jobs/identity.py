"""Job identity: what a resumable job's output was made from, so a resume never continues another job.

Issue 18, class 3: a resume trusted the frames on disk, so frames of another clip, another style
or other model weights (or frames with no record at all) were passed off as done. The job record
beside the output now holds, besides the settings that change the pixels,

* :func:`source_identity` — every source file's name, size and modification time (a video
  file also the sha256 of its first and last MiB): a re-render, another clip or an edited
  frame changes it, a kill and rerun does not; hashing every frame's content was rejected
  because a 4K EXR sequence would be read twice per resume;
* :func:`model_identity` — the sha256 of every model file the job uses (StyleBank base and
  banks as verified against ``model.toml``, the encoder weights for Gatys and analogy), so
  retrained weights in the same folder are another job;
* the sha256 of the style images (already in the settings record).

The job record's comparison and messages live with the job (:func:`core.jobs.video.run_video`).
Tested by ``tests/reliability/test_job_identity.py``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..foundation.registry import sha256_of

__all__ = ["folder_identity", "model_identity", "source_identity", "stylebank_width"]

_EDGE = 1 << 20


def _stat_line(path: Path) -> str:
    st = os.stat(path)
    return f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n"


def source_identity(files: list[Path], *, video: bool = False) -> str:
    """A digest of the source files' names, sizes and modification times (see the module docstring)."""
    h = hashlib.sha256()
    for p in files:
        h.update(_stat_line(p).encode("utf-8", "surrogateescape"))
        if video:
            with open(p, "rb") as fh:
                h.update(fh.read(_EDGE))
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(size - _EDGE, 0))
                h.update(fh.read(_EDGE))
    return h.hexdigest()[:32]


def folder_identity(folder: Path) -> str:
    """:func:`source_identity` of the visible files in ``folder`` (e.g. the Vector passes)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    return source_identity(files)


def model_identity(method: str, model: Path | None, style_names: tuple[str, ...],
                   encoder_weights: Path | None) -> dict:
    """sha256 of the model files a job uses: StyleBank base and banks, or the encoder weights.

    Call it after the model was loaded (the loader verifies the files against these digests).
    """
    if method == "stylebank":
        from ..stylebank.model import BASE_FILE, BANK_DIR, DEFAULT_MODEL_DIR, read_manifest

        folder = Path(model) if model is not None else DEFAULT_MODEL_DIR
        manifest = read_manifest(folder)
        base = manifest.get("base", {})
        out = {"base": base.get("sha256") or sha256_of(folder / base.get("file", BASE_FILE))}
        for name in style_names:
            entry = manifest.get("styles", {}).get(name, {})
            out[name] = entry.get("sha256") or sha256_of(folder / entry.get("file", f"{BANK_DIR}/{name}.safetensors"))
        return out
    from ..nn.encoder_weights import find_encoder_weights

    path, _ = find_encoder_weights(encoder_weights)
    return {"encoder": sha256_of(path)}


def stylebank_width(model: Path | None) -> int:
    """A StyleBank model's width from its manifest (torch-free; the loader re-reads and checks it).

    Raises:
        ModelError: The folder or its manifest is missing or malformed.
    """
    from ..foundation.registry import VENDORED_DIR
    from ..stylebank.manifest import read_manifest

    folder = Path(model) if model is not None else VENDORED_DIR / "stylebank"
    return int(read_manifest(folder)["width"])
