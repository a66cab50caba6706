"""The weights registry: ``vendored_models/registry.toml``.

Every known weight file is listed there with its sha256 (or the publisher's short digest), size,
format, source and licence. :func:`verify_file` checks a file against its entry before anything
reads it; a mismatch raises :class:`~core.foundation.errors.HashMismatchError`.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import HashMismatchError, ModelError

#: Folder holding ``registry.toml`` and the project's own trained weights.
VENDORED_DIR = Path(__file__).resolve().parents[2] / "vendored_models"
REGISTRY_PATH = VENDORED_DIR / "registry.toml"


@dataclass(frozen=True)
class RegistryEntry:
    """One known weight file.

    Attributes:
        key: Table name in the registry (``encoders.hed_vgg16``).
        file: Expected file name.
        sha256: Full hex digest, or ``None`` when only ``sha256_prefix`` is known.
        sha256_prefix: Leading hex digits of the digest (torchvision style names).
        architecture: ``vgg16`` / ``vgg19`` / ... .
        format: ``keras-h5``, ``torch-state-dict`` or ``safetensors``.
        source: Where the file comes from.
        licence: Licence note.
    """

    key: str
    file: str
    sha256: str | None
    sha256_prefix: str | None
    architecture: str
    format: str
    source: str
    licence: str


def _entries_from_table(prefix: str, table: dict) -> list[RegistryEntry]:
    out = []
    for name, value in table.items():
        if not isinstance(value, dict):
            continue
        key = f"{prefix}.{name}" if prefix else name
        if "file" in value:
            out.append(
                RegistryEntry(
                    key=key,
                    file=value["file"],
                    sha256=value.get("sha256"),
                    sha256_prefix=value.get("sha256_prefix"),
                    architecture=value.get("architecture", ""),
                    format=value.get("format", ""),
                    source=value.get("source", ""),
                    licence=value.get("licence", ""),
                )
            )
        else:
            out.extend(_entries_from_table(key, value))
    return out


@lru_cache(maxsize=4)
def load_registry(path: Path = REGISTRY_PATH) -> tuple[RegistryEntry, ...]:
    """Parse the registry file.

    Raises:
        ModelError: The registry is missing or not valid TOML.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"weights registry {path} is missing; the installation is incomplete") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"weights registry {path} is not valid TOML: {exc}") from exc
    return tuple(_entries_from_table("", data))


def entry_for_file(path: str | os.PathLike) -> RegistryEntry | None:
    """Return the registry entry whose file name equals ``path``'s name, or ``None``."""
    name = Path(path).name
    for entry in load_registry():
        if entry.file == name:
            return entry
    return None


def vendored_entry(path: str | os.PathLike) -> RegistryEntry | None:
    """The registry entry of a file inside ``vendored_models/`` (matched on its relative path).

    Vendored files are registered by path (``stylebank/base.safetensors``), not by bare name, so a
    user's own model with the same file names is never checked against the vendored digests.
    """
    try:
        rel = Path(path).resolve().relative_to(VENDORED_DIR.resolve()).as_posix()
    except ValueError:
        return None
    for entry in load_registry():
        if entry.file == rel:
            return entry
    return None


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file (cached per path, size and modification time)."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def verify_file(path: str | os.PathLike, entry: RegistryEntry | None = None) -> RegistryEntry | None:
    """Check a weights file against its registry entry.

    Args:
        path: The file.
        entry: The entry to check against; looked up by file name when omitted.

    Returns:
        The entry that matched, or ``None`` when the file is not in the registry (unknown files
        are the user's own and are loaded as they are).

    Raises:
        HashMismatchError: The file is registered but its digest differs.
    """
    entry = entry or entry_for_file(path)
    if entry is None:
        return None
    actual = sha256_of(path)
    if entry.sha256 is not None and actual != entry.sha256.lower():
        raise HashMismatchError(
            f"{path}: sha256 {actual[:16]}… does not match the registered {entry.sha256[:16]}… for "
            f"{entry.file}; the file is corrupt or not the published one (reinstall: {entry.source})"
        )
    if entry.sha256_prefix is not None and not actual.startswith(entry.sha256_prefix.lower()):
        raise HashMismatchError(
            f"{path}: sha256 {actual[:16]}… does not start with the published {entry.sha256_prefix} for "
            f"{entry.file}; the file is corrupt or not the published one"
        )
    return entry
