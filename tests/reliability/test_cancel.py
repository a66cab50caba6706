"""Cancel a video job at random points: finished frames are kept whole, a rerun completes it exactly.

In-process, many times (cheap): the progress callback returns ``False`` after a random number of
frames. Through the CLI: Ctrl-C (SIGINT) at a random moment while frames are being written gives
exit 130 and one ``cancelled:`` line. The add-on's Esc / Cancel of the Stylize Strip job is proven
by ``tests/addon/test_vse_strips.py::test_cancelled_job_continues``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from core.foundation.errors import Cancelled
from core.jobs.video import run_video
from tests.reliability.helpers import (REPO, cli, cli_env, frame_names, pan_setup, temporaries, torn_frames,
                                      video_request)

FRAMES = 24
SEED = 7


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return pan_setup(tmp_path_factory.mktemp("cancel"), FRAMES)


def _same_frames(a: Path, b: Path) -> list[str]:
    names = frame_names(a)
    assert frame_names(b) == names and len(names) == FRAMES
    return [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]


@pytest.mark.parametrize("blend", ["image", "both"])
def test_random_cancels_keep_every_finished_frame_and_the_rerun_is_exact(setup, tmp_path, blend):
    root, src, model = setup
    reference = tmp_path / "ref"
    run_video(video_request(src, reference, model, blend))
    rng = np.random.default_rng(SEED)
    victim = tmp_path / "victim"
    cancels = 0
    while len(frame_names(victim)) < FRAMES:
        before = len(frame_names(victim))
        stop_after = int(rng.integers(1, 6))  # frames this run may finish

        def progress(event, stop_after=stop_after):
            return event.step < stop_after

        try:
            outcome = run_video(video_request(src, victim, model, blend), progress)
        except Cancelled as exc:
            cancels += 1
            message = str(exc)
            assert "\n" not in message and "again with the same settings" in message, message
            assert len(frame_names(victim)) == before + stop_after
            assert not torn_frames(victim) and temporaries(victim) == []
        else:
            assert outcome.computed == FRAMES - before  # the last stretch finished on its own
    assert cancels >= 5
    assert temporaries(victim) == []
    assert not _same_frames(reference, victim)


@pytest.mark.slow
def test_ctrl_c_in_the_cli_exits_130_with_one_line_and_the_rerun_is_exact(setup, tmp_path):
    root, src, model = setup
    rng = np.random.default_rng(SEED)

    def argv(out: Path) -> list[str]:
        return cli("video", src, "-o", out, "--model", model, "--style", "a", "--device", "cpu", "--quiet")

    reference = tmp_path / "ref"
    done = subprocess.run(argv(reference), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    victim = tmp_path / "victim"
    interrupts = 0
    for _ in range(3):
        before = len(frame_names(victim))
        proc = subprocess.Popen(argv(victim), cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while proc.poll() is None and len(frame_names(victim)) == before and time.monotonic() < deadline:
            time.sleep(0.001)  # the CLI is past start-up once it writes a frame
        time.sleep(float(rng.uniform(0.0, 0.03)))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            break  # it finished before the signal arrived
        interrupts += 1
        assert proc.returncode == 130, (proc.returncode, err)
        assert err.strip() == "cancelled: interrupted" and out == "", err
        assert not torn_frames(victim) and temporaries(victim) == []
    assert interrupts >= 1
    rerun = subprocess.run(argv(victim), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert temporaries(victim) == [] and not _same_frames(reference, victim)
