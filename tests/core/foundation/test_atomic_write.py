"""Tests for core.foundation.atomic_write: temp-file-and-rename writes and OSError -> OutputError mapping."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from core.foundation import atomic_write
from core.foundation.atomic_write import atomic_path, atomic_write_bytes
from core.foundation.errors import NSTError, OutputError


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_bytes_creates_file_and_parent(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "out.bin"
    result = atomic_write_bytes(dest, b"hello")
    assert result == dest
    assert dest.read_bytes() == b"hello"
    assert _listing(dest.parent) == ["out.bin"]


def test_write_bytes_replaces_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old content")
    atomic_write_bytes(str(dest), b"new")
    assert dest.read_bytes() == b"new"
    assert _listing(tmp_path) == ["out.bin"]


def test_temp_path_is_hidden_sibling_with_real_suffix(tmp_path: Path) -> None:
    dest = tmp_path / "frame.0001.png"
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent
        assert tmp.name.startswith(".frame.0001.png.")
        assert tmp.name.endswith(".tmp.png")
        assert tmp.suffix == ".png"
        assert not dest.exists()
        tmp.write_bytes(b"x")
    assert dest.read_bytes() == b"x"
    assert not tmp.exists()


def test_temp_names_are_unique(tmp_path: Path) -> None:
    dest = tmp_path / "out.png"
    with atomic_path(dest) as first, atomic_path(dest) as second:
        assert first != second
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert dest.read_bytes() == b"1"  # the outer block finishes last
    assert _listing(tmp_path) == ["out.png"]


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_exception_mid_write_keeps_old_file_and_removes_temp(
    tmp_path: Path, exc_type: type[BaseException]
) -> None:
    dest = tmp_path / "out.exr"
    dest.write_bytes(b"old content")
    with pytest.raises(exc_type):
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"half of the new")
            raise exc_type("boom")
    assert dest.read_bytes() == b"old content"
    assert _listing(tmp_path) == ["out.exr"]


def test_exception_before_temp_exists_is_propagated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope"):
        with atomic_path(tmp_path / "out.png"):
            raise ValueError("nope")
    assert _listing(tmp_path) == []


def test_enospc_while_writing_becomes_output_error(tmp_path: Path) -> None:
    dest = tmp_path / "out.png"
    dest.write_bytes(b"old")
    original = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OutputError, match=r"disk full while writing .*out\.png") as info:
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise original
    assert info.value.__cause__ is original
    assert info.value.errno == errno.ENOSPC
    assert isinstance(info.value, OSError) and isinstance(info.value, NSTError)
    assert dest.read_bytes() == b"old"
    assert _listing(tmp_path) == ["out.png"]


def test_enospc_on_replace_becomes_output_error(tmp_path: Path, monkeypatch) -> None:
    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", full_disk)
    dest = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="disk full while writing"):
        atomic_write_bytes(dest, b"data")
    assert _listing(tmp_path) == []


def test_enospc_on_fsync_becomes_output_error(tmp_path: Path, monkeypatch) -> None:
    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "fsync", full_disk)
    with pytest.raises(OutputError, match="disk full"):
        atomic_write_bytes(tmp_path / "out.bin", b"data")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(
    ("code", "pattern"),
    [
        (errno.EROFS, r"output folder .* is read-only"),
        (errno.EACCES, r"permission denied writing .*out\.bin"),
        (errno.EIO, r"cannot write .*out\.bin"),
    ],
)
def test_other_errnos_are_mapped(tmp_path: Path, monkeypatch, code: int, pattern: str) -> None:
    def failing(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic_write.os, "replace", failing)
    with pytest.raises(OutputError, match=pattern) as info:
        atomic_write_bytes(tmp_path / "out.bin", b"data")
    assert info.value.errno == code
    assert _listing(tmp_path) == []


def test_output_error_from_body_is_not_rewrapped(tmp_path: Path) -> None:
    original = OutputError("already explained")
    with pytest.raises(OutputError) as info:
        with atomic_path(tmp_path / "x.png"):
            raise original
    assert info.value is original


def test_folder_creation_failure_is_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_bytes(blocker / "sub" / "out.bin", b"data")


def test_result_gets_the_normal_file_mode_even_if_the_writer_made_it_private(tmp_path):
    import os
    import stat

    from core.foundation.atomic_write import _umask, atomic_path

    dest = tmp_path / "model.bin"
    with atomic_path(dest) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # like safetensors / mkstemp
        os.write(fd, b"x")
        os.close(fd)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~_umask()
