"""A resume continues only its own job (issue 18, class 3).

The job record (``.nst-video.json`` in the frames' folder, ``.<video>.nst-video.json`` beside a
video file, which outlives the work folder) holds the settings that change the pixels and the
job's identity: the source files' names, sizes and modification times, the style images' sha256
and the sha256 of every model file (``core/jobs/identity.py``). Finished frames whose record is
missing or different are one error (exit 3) unless ``--overwrite``; nothing is written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.cli import main
from tests.reliability.helpers import frame_names, make_model, write_pan

FRAMES = 4


@pytest.fixture()
def setup(tmp_path):
    a = write_pan(tmp_path / "a", FRAMES)
    b = tmp_path / "b"
    write_pan(b, FRAMES + 3)
    for k in (1, 2, 3):  # the same names and count, other pictures
        (b / f"frame_{k:04d}.png").unlink()
    for k in range(4, FRAMES + 4):
        os.rename(b / f"frame_{k:04d}.png", b / f"frame_{k - 3:04d}.png")
    return tmp_path, a, b / "frame_####.png", make_model(tmp_path / "model", styles=("a", "b"))


def _video(src, out, model, *extra) -> list[str]:
    return [str(x) for x in ("video", src, "-o", out, "--model", model, "--device", "cpu", "--quiet", *extra)]


def _refused(argv, capsys, *words) -> None:
    snapshot = {p: p.stat().st_mtime_ns for p in Path(argv[3]).parent.rglob("*") if p.is_file()}
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 3, err
    assert len(err.strip().splitlines()) == 1 and "of another job" in err and "(--overwrite)" in err, err
    for w in words:
        assert w in err, err
    after = {p: p.stat().st_mtime_ns for p in Path(argv[3]).parent.rglob("*") if p.is_file()}
    assert after == snapshot, "a refused job wrote or deleted something"


def _ok(argv, capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 0, err
    return err


@pytest.mark.parametrize("output", ["out", "out.avi"])
def test_frames_of_another_clip_style_or_model_are_refused(setup, capsys, output):
    root, a, b, model = setup
    out = root / output
    _ok(_video(a, out, model, "--style", "a"), capsys)
    assert f"(0 of {FRAMES} frames computed" in _ok(_video(a, out, model, "--style", "a"), capsys)  # its own: done
    _refused(_video(b, out, model, "--style", "a"), capsys, "a different source")
    _refused(_video(a, out, model, "--style", "b"), capsys, "other settings (style_names)")
    make_model(model, styles=("a", "b"), seed=1)  # retrained weights, same folder and names
    _refused(_video(a, out, model, "--style", "a"), capsys, "a different model files")
    os.utime(a.parent / "frame_0002.png")  # an edited (re-rendered) frame
    _refused(_video(a, out, model, "--style", "a"), capsys, "a different source")
    assert f"({FRAMES} of {FRAMES} frames computed" in _ok(_video(b, out, model, "--style", "a", "--overwrite"),
                                                            capsys)
    assert f"(0 of {FRAMES} frames computed" in _ok(_video(b, out, model, "--style", "a"), capsys)


def test_a_partial_run_is_not_continued_from_another_clip(setup, capsys):
    root, a, b, model = setup
    out = root / "out"
    _ok(_video(a, out, model, "--style", "a"), capsys)
    for k in (3, 4):
        (out / f"frame_{k:04d}.png").unlink()  # as a killed run leaves it
    _refused(_video(b, out, model, "--style", "a"), capsys, "2 finished frames", "a different source")
    assert "(2 of 4 frames computed" in _ok(_video(a, out, model, "--style", "a"), capsys)


def test_frames_with_no_record_are_refused(setup, capsys):
    root, a, _, model = setup
    out = root / "out"
    out.mkdir()
    for k in (1, 2):  # frames someone put there: another tool, an older version, a copy
        shutil.copy(a.parent / f"frame_{k:04d}.png", out / f"frame_{k:04d}.png")
    _refused(_video(a, out, model, "--style", "a"), capsys, "no job record")
    video = root / "clip.avi"
    _ok(_video(a, video, model, "--style", "a"), capsys)
    os.unlink(root / ".clip.avi.nst-video.json")  # a video this job did not make
    _refused(_video(a, video, model, "--style", "a"), capsys, "the finished video", "no job record")
    _ok(_video(a, out, model, "--style", "a", "--overwrite"), capsys)
    assert len(frame_names(out)) == FRAMES
