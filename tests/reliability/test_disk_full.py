"""Disk full and read-only output while a video job writes frames.

Expected every time: exit 3 with one ``error:`` line naming the problem, the frames finished
before it kept whole (and identical to an uninterrupted run's), no partial or temporary file, and
a rerun after the problem is fixed completes the job exactly.

Two ways to cause the fault:

* injected, in-process and portable: the atomic writer's ``open`` raises ``OSError`` with
  ``ENOSPC`` / ``EDQUOT`` after writing half of a frame's bytes, or ``EROFS`` / ``EACCES`` when the
  frame's temporary file is created;
* real kernel errors, in a private mount namespace (``unshare``; skipped where user namespaces
  are not allowed): a 48 KiB ``tmpfs`` as the output folder, then a read-only bind mount. As
  non-root, a ``chmod 0o555`` folder is tried too (root ignores the mode bits, so that test is
  skipped under root; the injected ``EACCES`` stands in for it).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import core.foundation.atomic_write as atomic_write
from core.cli import main
from core.io.images import read_image
from tests.reliability.helpers import REPO, cli, cli_env, frame_names, make_model, temporaries, torn_frames, write_pan

FRAMES = 12
FAIL_AT = 5  # the frame whose write fails


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk_full")
    src, model = write_pan(root / "in", FRAMES), make_model(root / "model")
    reference = root / "ref"
    assert main(_argv(src, reference, model)) == 0
    return root, src, model, reference


def _argv(src: Path, out: Path, model: Path) -> list[str]:
    return ["video", str(src), "-o", str(out), "--model", str(model), "--style", "a", "--device", "cpu", "--quiet"]


def _faulty_open(code: int, victim: str):
    """An ``open`` for core.foundation.atomic_write that fails on the temporary of ``victim`` (a file name)."""
    real = open

    class HalfWritten:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(code, os.strerror(code))

    def fake(path, mode="r", *args, **kwargs):
        if f".{victim}." not in os.fspath(path):
            return real(path, mode, *args, **kwargs)
        if code in (errno.EROFS, errno.EACCES):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return HalfWritten(real(path, mode, *args, **kwargs))

    return fake


def _check_kept(out: Path, reference: Path, kept: int) -> None:
    names = frame_names(out)
    assert names == [f"frame_{k:04d}.png" for k in range(1, kept + 1)], names
    assert not torn_frames(out) and temporaries(out) == []
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
        read_image(out / name)  # decodes


CASES = {
    "disk full": (errno.ENOSPC, "disk full while writing"),
    "quota": (getattr(errno, "EDQUOT", errno.ENOSPC), "disk full while writing"),
    "read-only": (errno.EROFS, "is read-only"),
    "no permission": (errno.EACCES, "permission denied"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("output", ["out", "styled.avi"])
def test_injected_write_failure_is_one_error_and_keeps_finished_frames(setup, tmp_path, monkeypatch, capsys, case,
                                                                       output):
    root, src, model, reference = setup
    code, words = CASES[case]
    out = tmp_path / output
    frames_dir = out if output == "out" else tmp_path / "styled.avi.frames"
    with monkeypatch.context() as m:
        m.setattr(atomic_write, "open", _faulty_open(code, f"frame_{FAIL_AT:04d}.png"), raising=False)
        status = main(_argv(src, out, model))
    captured = capsys.readouterr()
    assert status == 3, captured.err
    assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1, captured.err
    assert words in captured.err and f"frame_{FAIL_AT:04d}.png" in captured.err, captured.err
    assert captured.out == ""
    _check_kept(frames_dir, reference, FAIL_AT - 1)
    assert not (tmp_path / "styled.avi").exists()
    # space freed / permission fixed: the rerun continues and completes exactly
    assert main(_argv(src, out, model)) == 0
    capsys.readouterr()
    assert temporaries(tmp_path) == []
    if output == "out":
        _check_kept(out, reference, FRAMES)
    else:
        assert out.is_file() and not frames_dir.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores a folder's mode bits; the injected EACCES covers it")
def test_read_only_folder_by_mode_bits(setup, tmp_path, capsys):
    root, src, model, reference = setup
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        status = main(_argv(src, out, model))
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert status == 3 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "permission denied" in err or "read-only" in err, err
    assert frame_names(out) == [] and temporaries(out) == []


# ------------------------------------------------------------------------------------------
# Real kernel errors in a private mount namespace
# ------------------------------------------------------------------------------------------


def _namespace_prefix() -> list[str]:
    """``unshare`` giving a private mount namespace (as root, or mapped root in a user namespace)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    prefix = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "--user", "--map-root-user", "--mount"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")
    return prefix


SCRIPT = r"""
set -u
OUT="$1"; COPY="$2"; KIND="$3"; shift 3
mkdir -p "$OUT"
if [ "$KIND" = full ]; then
  mount -t tmpfs -o size=48k tmpfs "$OUT" || exit 90
else
  mount --bind "$OUT" "$OUT" && mount -o remount,bind,ro "$OUT" || exit 90
fi
"$@" 2> "$COPY.err1"; echo $? > "$COPY.rc1"
mkdir -p "$COPY/first" && cp -a "$OUT/." "$COPY/first/"
if [ "$KIND" = full ]; then
  mount -o remount,size=4m "$OUT" || exit 91
else
  umount "$OUT" || exit 91
fi
"$@" 2> "$COPY.err2"; echo $? > "$COPY.rc2"
mkdir -p "$COPY/second" && cp -a "$OUT/." "$COPY/second/"
"""


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_real_full_disk_and_read_only_mount(setup, tmp_path, kind):
    root, src, model, _ = setup
    prefix = _namespace_prefix()
    out, copy = tmp_path / "mnt", tmp_path / "copy"
    argv = cli(*_argv(src, out, model))
    reference = tmp_path / "ref"  # same interpreter settings as the victim: a subprocess
    done = subprocess.run(cli(*_argv(src, reference, model)), cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    proc = subprocess.run([*prefix, "sh", "-c", SCRIPT, "sh", out, copy, "full" if kind == "full" else "ro", *argv],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)
    if proc.returncode in (90, 91):
        pytest.skip(f"cannot mount in the namespace: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    err = Path(f"{copy}.err1").read_text()
    assert Path(f"{copy}.rc1").read_text().strip() == "3", err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert ("disk full while writing" if kind == "full" else "is read-only") in err, err
    first = copy / "first"
    kept = frame_names(first)
    if kind == "full":
        assert 0 < len(kept) < FRAMES, kept  # some frames fitted, then the disk was full
    else:
        assert kept == []
    assert kept == [f"frame_{k:04d}.png" for k in range(1, len(kept) + 1)]
    assert not torn_frames(first) and temporaries(first) == []
    for name in kept:
        assert (first / name).read_bytes() == (reference / name).read_bytes(), name
    assert Path(f"{copy}.rc2").read_text().strip() == "0", Path(f"{copy}.err2").read_text()
    second = copy / "second"
    assert frame_names(second) == frame_names(reference) and temporaries(second) == []
    for name in frame_names(reference):
        assert (second / name).read_bytes() == (reference / name).read_bytes(), name
