"""``kill -9`` of ``python -m core video`` at random moments, many times; the rerun loses nothing.

Three output kinds take turns, one per round: a PNG folder (image-space blending), a PNG folder
with ``--blend both`` (the hidden feature-state file is written beside every frame) and an
``.avi`` (PNG work folder, then the encode). One uninterrupted reference run per kind, then
victim runs of the same command killed with SIGKILL at a random moment (seeded), until a run
finishes on its own; a final uninterrupted rerun must then complete the job. Every frame must
equal the reference bit for bit (CPU, one thread: the engine is deterministic, so no tolerance is
needed), and no temporary or torn file may remain.

Kill moments, from the reference run's own timing: one kill in five at a random time during
start-up (interpreter, torch, model, source and sink checks), one at a random time in the next
~25 frames' worth (or in the encode of a video output), and three by watching the output: after a
random one of the next 20 frames appeared, plus a random fraction of a frame's time (so they land
anywhere in stylising, flow, state and frame writes, whatever the machine's load). A kill that
leaves a hidden temporary behind was caught inside an atomic write; a kill can also fall after
the last frame, in the encode or the removal of a video's work folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.helpers import REPO, cli, cli_env, frame_names, make_model, temporaries, torn_frames, write_pan

FRAMES = 90
MIN_KILLS = 24
TIME_BOUND_S = 150.0
SEED = 20240611


@dataclass
class Tally:
    """Kills made; ``no_new_frame``: the run was killed before it finished a frame (start-up, the
    resume's state rebuild or the encode); ``mid_sequence``: it had finished some frames, not all;
    ``inside_a_write``: a hidden temporary was left, i.e. the kill fell inside an atomic write."""

    kills: int = 0
    no_new_frame: int = 0
    mid_sequence: int = 0
    inside_a_write: int = 0
    rounds: int = 0
    seconds: float = 0.0
    log: list = field(default_factory=list)


def _timed_run(argv: list[str], watch: Path) -> tuple[float, float]:
    """Run to the end; return (seconds until the first frame appeared, total seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while proc.poll() is None:
        if first is None and _count(watch) > 0:
            first = time.monotonic() - t0
        time.sleep(0.002)
    total = time.monotonic() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, err
    return (first if first is not None else total * 0.8), total


def _count(folder: Path) -> int:
    return len(frame_names(folder))


def _decoded(video: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill_cli")
    return root, write_pan(root / "in", FRAMES), make_model(root / "model")


VARIANTS = {
    # name: (output relative to the round folder, extra CLI options, where frames appear)
    "png-image-blend": ("out", [], "out"),
    "png-feature-blend": ("out", ["--blend", "both"], "out"),
    "avi": ("styled.avi", [], "styled.avi.frames"),
}


@pytest.mark.slow
def test_repeated_kill_minus_nine_then_rerun_equals_an_uninterrupted_run(setup, record_property):
    root, src, model = setup
    rng = np.random.default_rng(SEED)
    tally = Tally()
    started = time.monotonic()
    deadline = started + TIME_BOUND_S
    variant_names = list(VARIANTS)
    references = {}
    while (tally.kills < MIN_KILLS or tally.rounds < len(variant_names)) and time.monotonic() < deadline:
        name = variant_names[tally.rounds % len(variant_names)]
        out_rel, options, frames_rel = VARIANTS[name]

        def argv(folder: Path) -> list[str]:
            return cli("video", src, "-o", folder / out_rel, "--model", model, "--style", "a", "--device", "cpu",
                       "--quiet", *options)

        if name not in references:
            ref = root / f"ref-{name}"
            first, total = _timed_run(argv(ref), ref / frames_rel)
            references[name] = (ref, first, (total - first) / FRAMES)
        ref, t_first, per_frame = references[name]
        victim = root / f"victim-{tally.rounds}-{name}"
        watch = victim / frames_rel

        def complete() -> bool:
            return (victim / out_rel).is_file() if name == "avi" else _count(watch) == FRAMES

        while not complete() and time.monotonic() < deadline:
            before = _count(watch)
            left = FRAMES - before
            kind = ("startup", "timed", "frame", "frame", "frame")[tally.kills % 5]
            if kind == "frame" and left == 0:
                kind = "timed"  # a video whose frames are all done: the encode is left
            proc = subprocess.Popen(argv(victim), cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if kind == "startup":  # interpreter, torch, model, source and sink checks
                when = float(rng.uniform(0.0, t_first))
                time.sleep(when)
            elif kind == "timed":  # somewhere in the next ~25 frames, or in the encode
                when = t_first + float(rng.uniform(0.0, per_frame * min(left + 5, 25)))
                time.sleep(when)
            else:  # after a random one of the next 20 frames appeared, plus part of a frame's time
                target = before + int(rng.integers(1, min(20, left) + 1))
                jitter = float(rng.uniform(0.0, per_frame))
                while proc.poll() is None and _count(watch) < target:
                    time.sleep(0.001)
                time.sleep(jitter)
                when = f"frame {target} + {1000 * jitter:.1f} ms"
            if proc.poll() is not None:
                assert proc.returncode == 0, f"{name}: an unkilled victim run failed ({proc.returncode})"
                break  # it finished before the kill
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            after = _count(watch)
            tmp = temporaries(victim)
            tally.kills += 1
            tally.no_new_frame += after == before
            tally.mid_sequence += before < after < FRAMES or (after == FRAMES and name == "avi")
            tally.inside_a_write += bool(tmp)
            tally.log.append((name, kind, when if isinstance(when, str) else f"{when:.3f} s", before, after, tmp))
            assert not torn_frames(watch), f"torn frame after a kill: {torn_frames(watch)} ({tally.log[-1]})"
        # the final, uninterrupted rerun completes the job
        rerun = subprocess.run(argv(victim), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, (name, rerun.stderr)
        tally.rounds += 1
        assert temporaries(victim) == [], (name, temporaries(victim), tally.log[-5:])
        if name == "avi":
            a, b = _decoded(ref / out_rel), _decoded(victim / out_rel)
            assert len(a) == len(b) == FRAMES
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"{name}: a frame differs"
            assert not (victim / frames_rel).exists(), "the work folder outlived the finished video"
        else:
            names = frame_names(ref / out_rel)
            assert frame_names(victim / out_rel) == names and len(names) == FRAMES
            differ = [n for n in names if (ref / out_rel / n).read_bytes() != (victim / out_rel / n).read_bytes()]
            assert not differ, f"{name}: frames differ from the uninterrupted run: {differ}"
            assert not torn_frames(victim / out_rel)
    tally.seconds = time.monotonic() - started
    summary = {k: v for k, v in tally.__dict__.items() if k != "log"}
    print(f"\nkill -9 CLI video: {json.dumps(summary)}")
    for entry in tally.log:
        print(entry)
    record_property("kill_cli", json.dumps(summary))
    assert tally.kills >= MIN_KILLS, f"only {tally.kills} kills within {TIME_BOUND_S} s: {summary}"
    assert tally.rounds >= len(variant_names), summary
    assert tally.mid_sequence >= MIN_KILLS // 2, summary
