"""A crash at every write boundary of a video job and of the add-on's strip job, in-process and exhaustive.

The random ``kill -9`` loop (``test_kill_cli.py``) rarely lands in the short gaps between two
writes. Here the process "dies" (a ``BaseException`` that nothing in ``core`` catches) at each of
them in turn: just before the N-th atomic rename (the temporary file stays on disk, as after a
real kill) and just after it, for every N of an uninterrupted run. Each crashed output is then
finished by a normal rerun, which must equal the uninterrupted run bit for bit and leave no
temporary file. The add-on's Stylize Strip job (:func:`core.jobs.strip.stylise_strip`, no
``bpy`` needed) gets the same treatment, with the settings that also write its hidden state files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import core.foundation.atomic_write as atomic_write
from core.jobs.video import run_video
from tests.reliability.helpers import frame_names, pan_setup, temporaries, torn_frames, video_request

FRAMES = 5


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler in core turns it into something else."""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return pan_setup(tmp_path_factory.mktemp("crash_points"), FRAMES)


def _count_renames(monkeypatch, request, run=run_video) -> int:
    renames = []
    real = os.replace

    def counting(a, b):
        real(a, b)
        renames.append(b)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", counting)
        run(request)
    return len(renames)


def _crash(monkeypatch, request, at: int, before: bool, *, run=run_video, writer=atomic_write) -> None:
    """Run ``request`` and die just before (or after) the ``at``-th atomic rename."""
    real = os.replace
    seen = [0]

    def dying(a, b):
        seen[0] += 1
        if seen[0] == at and before:
            raise Killed
        real(a, b)
        if seen[0] == at:
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(os, "replace", dying)
        m.setattr(writer, "_remove_quietly", lambda _p: None)  # a killed process cleans nothing
        with pytest.raises(Killed):
            run(request)


def _decoded(video: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while (grabbed := cap.read())[0]:
        frames.append(grabbed[1])
    cap.release()
    return frames


@pytest.mark.parametrize("blend,output", [("both", "out"), ("image", "styled.avi")])
def test_a_crash_at_any_write_boundary_then_a_rerun_equals_an_uninterrupted_run(setup, tmp_path, monkeypatch,
                                                                                   blend, output):
    root, src, model = setup
    reference = tmp_path / "ref"
    writes = _count_renames(monkeypatch, video_request(src, reference / output, model, blend))
    # record + (state +) frame per frame (+ the encoded video)
    assert writes >= 1 + FRAMES * (2 if blend == "both" else 1)
    for at in range(1, writes + 1):
        for before in (True, False):
            victim = tmp_path / f"victim-{at}-{'before' if before else 'after'}"
            _crash(monkeypatch, video_request(src, victim / output, model, blend), at, before)
            assert not torn_frames(victim / output), (at, before)
            outcome = run_video(video_request(src, victim / output, model, blend))
            where = f"crash {'before' if before else 'after'} rename {at} of {writes}"
            assert temporaries(victim) == [], (where, temporaries(victim))
            if output.endswith(".avi"):
                a, b = _decoded(reference / output), _decoded(victim / output)
                assert len(a) == len(b) == FRAMES and all(np.array_equal(x, y) for x, y in zip(a, b)), where
            else:
                names = frame_names(reference / output)
                assert frame_names(victim / output) == names, where
                differ = [n for n in names if (reference / output / n).read_bytes()
                          != (victim / output / n).read_bytes()]
                assert not differ, (where, differ, outcome.details)


# ------------------------------------------------------------------------------------------
# The strip job (core.jobs.strip, Stylize Strip's engine; no Blender)
# ------------------------------------------------------------------------------------------


def test_a_crash_at_any_write_boundary_of_the_strip_job_then_a_rerun_equals_an_uninterrupted_run(setup, tmp_path,
                                                                                                  monkeypatch):
    from core.engine.settings import FrameSettings
    from core.foundation import atomic_write as writer
    from core.jobs import strip as ss

    root, src, model = setup
    files = sorted((root / "in").glob("frame_*.png"))
    # size + colour preservation: the engine's state is kept in hidden files beside the frames
    settings = FrameSettings(node="shot", kind="strip", method="stylebank", style_names=("a",), model_dir=model,
                             device="cpu", size=32, preserve_color="luminance")

    def plan(out: Path):
        frames = tuple(ss.StripFrame(position=i, image=p) for i, p in enumerate(files))
        return ss.StripPlan(strip="shot", kind="images", folder=out, frames=frames, settings=settings)

    reference = tmp_path / "ref"
    writes = _count_renames(monkeypatch, plan(reference), run=ss.stylise_strip)
    assert writes == 1 + 2 * FRAMES  # the record, then state + frame per frame
    names = frame_names(reference)
    assert len(names) == FRAMES
    for at in range(1, writes + 1):
        for before in (True, False):
            victim = tmp_path / f"victim-{at}-{'before' if before else 'after'}"
            _crash(monkeypatch, plan(victim), at, before, run=ss.stylise_strip, writer=writer)
            assert not torn_frames(victim)
            ss.stylise_strip(plan(victim))
            where = f"crash {'before' if before else 'after'} rename {at} of {writes}"
            assert temporaries(victim) == [], (where, temporaries(victim))
            assert frame_names(victim) == names, where
            differ = [n for n in names if (reference / n).read_bytes() != (victim / n).read_bytes()]
            assert not differ, (where, differ)
