"""Two jobs on one output (issue 18, class 1): the second fails at once and writes nothing.

Every job holds an exclusive ``flock`` on its output for its whole life
(``core/foundation/output_lock.py``); the kernel releases it when the process dies, so a killed
job never blocks the next.

The first job is a real CLI process paused with SIGSTOP once it has written two frames (so it is
mid-job however fast the machine is) and resumed with SIGCONT after the second job was refused;
it must then finish normally.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.foundation.errors import OutputError
from core.foundation.output_lock import FOLDER_LOCK_NAME, output_lock
from tests.reliability.helpers import REPO, cli, cli_env, frame_names, make_model, write_pan

FRAMES = 40


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    return root, write_pan(root / "a", FRAMES), write_pan(root / "b", FRAMES, first=1), make_model(root / "model")


def _argv(src, out, model, *extra):
    return cli("video", src, "-o", out, "--model", model, "--style", "a", "--device", "cpu", "--quiet", *extra)


def _start_and_wait_for_frames(argv, watch: Path, frames: int = 2) -> subprocess.Popen:
    proc = subprocess.Popen(argv, cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    while proc.poll() is None and len(frame_names(watch)) < frames:
        time.sleep(0.005)
    assert proc.poll() is None, "the first job ended before it could be paused"
    os.kill(proc.pid, signal.SIGSTOP)
    return proc


def _resume_and_wait(proc: subprocess.Popen) -> str:
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=180)
    return err


@pytest.mark.parametrize("second", ["same source", "other source", "other pattern, same folder", "overwrite"])
def test_a_second_cli_job_on_the_same_output_fails_at_once_and_writes_nothing(setup, second):
    root, a, b, model = setup
    out = root / f"out-{second.replace(' ', '-').replace(',', '')}"
    first = _start_and_wait_for_frames(_argv(a, out / "frame_####.png", model, "--per-frame"), out)
    try:
        argv = {
            "same source": _argv(a, out / "frame_####.png", model),
            "other source": _argv(b, out / "frame_####.png", model),
            "other pattern, same folder": _argv(b, out / "other_####.png", model),
            "overwrite": _argv(a, out / "frame_####.png", model, "--overwrite"),
        }[second]
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
        t0 = time.monotonic()
        run = subprocess.run(argv, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
        seconds = time.monotonic() - t0
        assert run.returncode == 3, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "is in use by another job (process" in lines[0], run.stderr
        assert run.stdout == ""
        after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
        assert all(after.get(n) == t for n, t in before.items()), "the second job touched the first job's frames"
        assert not [n for n in after if n.startswith("other_")]
        print(f"\n{second}: refused after {seconds:.2f} s (start-up included)")
    finally:
        err = _resume_and_wait(first)
    assert first.returncode == 0, err
    assert len(frame_names(out)) == FRAMES
    assert not (out / FOLDER_LOCK_NAME).exists()  # released and removed


def test_a_killed_job_does_not_block_the_next(setup):
    root, a, _, model = setup
    out = root / "killed"
    victim = _start_and_wait_for_frames(_argv(a, out, model), out)
    os.kill(victim.pid, signal.SIGKILL)  # stopped or not, it dies
    victim.communicate(timeout=30)
    assert (out / FOLDER_LOCK_NAME).exists()  # left by the kill, but no longer locked
    run = subprocess.run(_argv(a, out, model), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(frame_names(out)) == FRAMES and not (out / FOLDER_LOCK_NAME).exists()


def test_a_video_file_output_is_locked_too(setup):
    root, a, _, model = setup
    video = root / "clip.avi"
    first = _start_and_wait_for_frames(_argv(a, video, model), root / "clip.avi.frames")
    try:
        run = subprocess.run(_argv(a, video, model, "--overwrite"), cwd=REPO, env=cli_env(), capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 3 and "in use by another job" in run.stderr, run.stderr
    finally:
        err = _resume_and_wait(first)
    assert first.returncode == 0, err
    assert video.is_file() and not (root / "clip.avi.frames").exists()


def test_the_lock_in_process_and_its_cleanup(tmp_path):
    folder = tmp_path / "new" / "deeper"
    with output_lock(folder / FOLDER_LOCK_NAME, "out"):
        with pytest.raises(OutputError, match=r"out is in use by another job \(process \d+\)"):
            with output_lock(folder / FOLDER_LOCK_NAME, "out"):
                pass
    assert not (tmp_path / "new").exists()  # the folders the lock made, still empty, are gone
    with output_lock(folder / FOLDER_LOCK_NAME, "out"):
        (folder / "frame_0001.png").write_bytes(b"x")
    assert sorted(p.name for p in folder.iterdir()) == ["frame_0001.png"]
