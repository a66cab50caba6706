"""Stylize Strip's job without Blender: the record and resume logic, the frames through the engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.engine.settings import FrameSettings
from core.foundation.errors import Cancelled, SettingsError
from core.jobs import strip as ss
from core.jobs import strip_record
from tests.addon.helpers import tiny_model


@pytest.fixture(scope="module")
def rec():
    return strip_record


def test_visible_positions_and_holds(rec) -> None:
    assert list(rec.visible_positions(8, 2, 1)) == [2, 3, 4, 5, 6]
    assert list(rec.visible_positions(1, 0, -9)) == [0]  # a still extended by a negative offset
    assert list(rec.visible_positions(5, 3, 3)) == []
    assert rec.hold_positions(6, [2, 3]) == [2, 2, 2, 3, 3, 3]
    with pytest.raises(ValueError):
        rec.hold_positions(3, [])
    assert rec.output_name(0) == "frame_0001.png" and rec.state_name(11) == ".state_0012.png"
    assert rec.format_positions([0, 1, 2, 6]) == "1–3, 7"


def test_resume_point(rec) -> None:
    settings = {"style_names": ["a"]}
    chain = rec.chain([2, 3, 4, 5], ["a", "b", "c", "d"])
    old = {"settings": settings, "frames": chain}
    everything = lambda _p: True  # noqa: E731
    assert rec.resume_point(None, settings, chain, everything) == 0
    assert rec.resume_point(old, {"style_names": ["b"]}, chain, everything) == 0  # settings changed
    assert rec.resume_point(old, settings, chain, everything) == 4  # up to date
    assert rec.resume_point(old, settings, chain, lambda p: p < 4) == 2  # killed after position 3
    changed = rec.chain([2, 3, 4, 5], ["a", "b", "X", "d"])
    assert rec.resume_point(old, settings, changed, everything) == 2  # source changed at position 4
    longer = rec.chain([2, 3, 4, 5, 6], ["a", "b", "c", "d", "e"])
    assert rec.resume_point(old, settings, longer, everything) == 4  # trimmed longer at the end
    shifted = rec.chain([1, 2, 3, 4, 5], ["z", "a", "b", "c", "d"])
    assert rec.resume_point(old, settings, shifted, everything) == 0  # a new first frame: a new chain


def test_digest_cache_and_record_round_trip(rec, tmp_path: Path) -> None:
    f = tmp_path / "x.png"
    f.write_bytes(b"abc")
    cache: dict = {}
    first = rec.file_digest(f, cache)
    cache[str(f)][2] = "cached"
    assert rec.file_digest(f, cache) == "cached"  # same size and mtime: not read again
    f.write_bytes(b"abcd")
    assert rec.file_digest(f, cache) not in (first, "cached")
    rec.save_record(tmp_path, {"settings": {"a": 1}, "frames": [[0, "d"]]})
    assert rec.load_record(tmp_path)["frames"] == [[0, "d"]]
    (tmp_path / rec.RECORD_NAME).write_text("{broken")
    assert rec.load_record(tmp_path) is None
    for name in ("frame_0001.png", "frame_0003.png", ".state_0003.png", "other.png"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in rec.stale_outputs(tmp_path, {0})] == [".state_0003.png", "frame_0003.png"]


# ------------------------------------------------------------------------------------------
# The engine (tiny random StyleBank model)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "stylebank", seed=1)


def _frames(folder: Path, count: int = 6) -> list[Path]:
    from core.io.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:40, 0:56].astype(np.float32)
    paths = []
    for i in range(count):
        xs = x - 2 * i
        rgb = np.stack([0.5 + 0.5 * np.sin(xs / 4), 0.5 + 0.5 * np.cos(y / 5), (np.floor(xs / 7) % 2) * 0.7 + 0.1])
        paths.append(write_image(folder / f"shot_{i + 1:03d}.png", rgb.astype(np.float32)))
    return paths


def _plan(model: Path, files: list[Path], out: Path, **settings):
    node = FrameSettings(node="shot", kind="strip", method="stylebank", style_names=("a",), model_dir=model,
                           device="cpu", **settings)
    frames = tuple(ss.StripFrame(position=i + 1, image=p) for i, p in enumerate(files))  # offset start 1
    return ss.StripPlan(strip="shot", kind="images", folder=out, frames=frames, settings=node)


@pytest.mark.parametrize("settings", [{}, {"size": 32, "preserve_color": "luminance"}], ids=["plain", "post"])
def test_interrupted_run_continues_exactly(model: Path, tmp_path: Path, settings: dict) -> None:

    files = _frames(tmp_path / "src")
    whole = ss.stylise_strip(_plan(model, files, tmp_path / "whole", **settings))
    assert whole.computed == 6 and whole.start == 0

    calls = []

    def stop_after_two(fraction: float, stage: str) -> bool:
        calls.append(stage)
        return not stage.startswith("frame 4 ")  # cancel when frame 4 (the third) is about to start

    with pytest.raises(Cancelled, match="2 of 6"):
        ss.stylise_strip(_plan(model, files, tmp_path / "cut", **settings), stop_after_two)
    assert sorted(p.name for p in (tmp_path / "cut").glob("frame_*.png")) == ["frame_0002.png", "frame_0003.png"]
    resumed = ss.stylise_strip(_plan(model, files, tmp_path / "cut", **settings))
    assert resumed.start == 2 and resumed.computed == 4
    for position in range(2, 8):
        name = f"frame_{position:04d}.png"
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name

    # A changed source frame: the frames before it are kept, the rest recomputed, the same as a fresh run.
    from core.io.images import read_image, write_image

    write_image(files[3], 1.0 - read_image(files[3]).srgb())
    again = ss.stylise_strip(_plan(model, files, tmp_path / "cut", **settings))
    fresh = ss.stylise_strip(_plan(model, files, tmp_path / "fresh", **settings))
    assert again.start == 3 and again.computed == 3 and fresh.computed == 6
    for position in range(2, 8):
        name = f"frame_{position:04d}.png"
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert ss.stylise_strip(_plan(model, files, tmp_path / "cut", **settings)).computed == 0


def test_errors_before_anything_is_written(model: Path, tmp_path: Path) -> None:
    files = _frames(tmp_path / "src", 3)
    files[1].unlink()
    with pytest.raises(SettingsError, match=r"missing frame file\(s\) at strip frame\(s\) 3"):
        ss.stylise_strip(_plan(model, files, tmp_path / "out"))
    files = _frames(tmp_path / "src", 3)
    files[2].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(SettingsError, match="cannot read frame 4"):
        ss.stylise_strip(_plan(model, files, tmp_path / "out"))
    plan = _plan(model, _frames(tmp_path / "src", 3), tmp_path / "out")

    with pytest.raises(SettingsError, match="strip 'shot': no style chosen"):
        ss.stylise_strip(replace(plan, settings=replace(plan.settings, style_names=("",))))
    assert not (tmp_path / "out").exists()


def test_a_second_job_on_the_same_strip_folder_is_refused(model: Path, tmp_path: Path) -> None:
    from core.foundation.errors import OutputError
    from core.foundation.output_lock import FOLDER_LOCK_NAME, output_lock

    files = _frames(tmp_path / "src", 3)
    plan = _plan(model, files, tmp_path / "out")
    with output_lock(tmp_path / "out" / FOLDER_LOCK_NAME, "another Blender's job"):
        with pytest.raises(OutputError):
            ss.stylise_strip(plan)
        assert not list((tmp_path / "out").glob("frame_*.png"))
    assert ss.stylise_strip(plan).computed == 3  # the lock goes with the job that held it
