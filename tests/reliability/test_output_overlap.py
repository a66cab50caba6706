"""Outputs never overlap inputs (issue 18, class 2).

One check, ``core/foundation/overlap.py::refuse_output_overlap``, runs in every job before anything
is written or deleted (``--overwrite`` deletions included): an output file may not be an input or
lie inside an input folder; an output folder may not be, lie inside or contain an input file or
folder. Inputs are the frames and their folder, the content video, style images, masks, the
Vector/Depth folder, model folders and encoder weights. Each case: exit 3, one ``error:`` line
naming both paths, and every input byte-identical afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.cli import main
from core.foundation.errors import OutputError
from core.foundation.overlap import Place, refuse_output_overlap
from tests.reliability.helpers import frame_names, make_model, write_pan


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "m")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(argv: list, capsys, *words: str) -> str:
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 3, err
    assert err.startswith("error: refusing to write") and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def _video_case(tmp_path: Path, model: Path) -> tuple[Path, Path, Path]:
    src = write_pan(tmp_path / "render" / "beauty", 3)
    vectors = tmp_path / "render" / "vectors"
    vectors.mkdir()
    for k in (1, 2, 3):  # stand-ins: the check runs before any vector is read, and must protect them
        (vectors / f"frame_{k:04d}.exr").write_bytes(b"vector pass %d" % k)
    return src, vectors, model


def test_overwrite_into_the_vectors_folder_deletes_nothing(tmp_path, model, capsys):
    src, vectors, model = _video_case(tmp_path, model)
    before = _snapshot(tmp_path / "render")
    _refused(["video", src, "-o", vectors / "frame_####.exr", "--model", model, "--style", "a", "--flow", "vectors",
              "--vectors-dir", vectors, "--overwrite", "--device", "cpu", "--quiet"], capsys, "Vector-pass folder")
    _refused(["video", src, "-o", vectors / "styled.mp4", "--model", model, "--style", "a", "--flow", "vectors",
              "--vectors-dir", vectors, "--overwrite", "--device", "cpu", "--quiet"], capsys, "lies inside")
    assert _snapshot(tmp_path / "render") == before


def test_an_output_in_or_around_the_frames_folder_is_refused(tmp_path, model, capsys):
    src, _, model = _video_case(tmp_path, model)
    beauty = src.parent
    before = _snapshot(tmp_path / "render")
    common = ["--model", model, "--style", "a", "--device", "cpu", "--quiet", "--overwrite"]
    _refused(["video", src, "-o", beauty / "styled_####.png", *common], capsys, "one of the inputs")
    _refused(["video", src, "-o", beauty, *common], capsys, "source frames folder")
    _refused(["video", src, "-o", beauty / "sub", *common], capsys, "lies inside")
    _refused(["video", src, "-o", tmp_path / "render", *common], capsys, "contains")
    link = tmp_path / "link"
    os.symlink(beauty, link)
    _refused(["video", src, "-o", link / "x_####.png", *common], capsys, "one of the inputs")
    assert _snapshot(tmp_path / "render") == before
    # and the input still works (it was never mixed with an output)
    assert main([str(a) for a in ["video", src, "-o", tmp_path / "styled", *common]]) == 0
    assert len(frame_names(tmp_path / "styled")) == 3


def test_a_video_job_never_writes_over_its_style_image_or_content_video(tmp_path, capsys):
    src = write_pan(tmp_path / "in", 2)
    look = tmp_path / "look"
    write_pan(look, 1)
    style = look / "frame_0001.png"
    before = _snapshot(look)
    _refused(["video", src, style, "--method", "gatys", "-o", look / "frame_####.png", "--overwrite",
              "--device", "cpu", "--quiet"], capsys, "style image")
    _refused(["video", src, style, "--method", "gatys", "-o", tmp_path, "--overwrite", "--device", "cpu",
              "--quiet"], capsys, "contains")
    assert _snapshot(look) == before


def test_stylize_refuses_masks_styles_and_model_folders_as_outputs(tmp_path, model, capsys):
    src = write_pan(tmp_path / "in", 2).parent
    content, other = src / "frame_0001.png", src / "frame_0002.png"
    before = _snapshot(tmp_path)
    _refused(["stylize", content, other, "--mask", other, "-o", other, "--device", "cpu", "--quiet"], capsys,
             "one of the inputs")
    _refused(["stylize", content, "--method", "stylebank", "--model", model, "--style", "a", "-o",
              model / "banks" / "a.png", "--device", "cpu", "--quiet"], capsys, "StyleBank model folder")
    assert _snapshot(tmp_path) == before
    # an output next to its input is fine
    assert main([str(a) for a in ["stylize", content, "--method", "stylebank", "--model", model, "--style", "a",
                                  "-o", src / "styled.png", "--size", "32", "--device", "cpu", "--quiet"]]) == 0


def test_stylebank_training_outputs_never_overlap_its_data(tmp_path, model, capsys):
    photos = write_pan(tmp_path / "photos", 2).parent
    style = photos / "frame_0001.png"
    before = _snapshot(photos)
    _refused(["stylebank", "train", "--content-dir", photos, "--style", f"s={style}", "--out", photos / "model",
              "--steps", "1", "--device", "cpu", "--quiet"], capsys, "content folder")
    _refused(["stylebank", "add-style", model, f"s={style}", "--content-dir", model, "--steps", "1",
              "--device", "cpu", "--quiet"], capsys, "content folder")
    assert _snapshot(photos) == before


def test_the_check_itself():
    a = Path("/data/shot")
    refuse_output_overlap([Place(a / "styled.png")], [Place(a / "photo.jpg")])  # a sibling file is fine
    refuse_output_overlap([Place(Path("/data/out"), folder=True)], [Place(a, folder=True)])
    for out, inp in [
        (Place(a / "x.png"), Place(a / "x.png")),
        (Place(a / "sub" / "x.png"), Place(a, folder=True)),
        (Place(a, folder=True), Place(a / "x.png")),
        (Place(a / "sub", folder=True), Place(a, folder=True)),
        (Place(Path("/data"), folder=True), Place(a, folder=True)),
        (Place(a / "." / ".." / "shot" / "x.png"), Place(a / "x.png")),
    ]:
        with pytest.raises(OutputError):
            refuse_output_overlap([out], [inp])
