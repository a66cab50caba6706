"""Tests for core.io.sequences: frame sources (image sequences, videos) and resumable sinks."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.foundation.errors import ImageReadError, InputError, OutputError
from core.io.images import read_image, write_image
from core.io.frame_names import FrameInfo, FramePattern, format_ranges, parse_pattern
from core.io.sequences import open_frames, open_sink
from core.io.video_files import VIDEO_CODECS, VIDEO_EXTENSIONS

H, W = 24, 32

# ----------------------------------------------------------------------------------- helpers


def _frame(k: int, height: int = H, width: int = W) -> torch.Tensor:
    """A smooth ``(1, 3, H, W)`` sRGB frame whose brightness identifies ``k`` (video-friendly)."""
    y = torch.linspace(0.0, 1.0, height)[:, None].expand(height, width)
    x = torch.linspace(0.0, 1.0, width)[None, :].expand(height, width)
    level = 0.1 + 0.08 * k
    rgb = torch.stack([0.5 * x + level, 0.5 * y + level, torch.full_like(x, level)])
    return rgb.clamp(0, 1)[None].contiguous()


def _write_sequence(
    folder: Path, numbers, *, prefix: str = "frame_", digits: int = 4, ext: str = ".png"
) -> list[Path]:
    paths = []
    for n in numbers:
        path = folder / f"{prefix}{n:0{digits}d}{ext}"
        write_image(path, _frame(n))
        paths.append(path)
    return paths


def _write_video(path: Path, count: int, fourcc: str, fps: float = 12.0) -> Path:
    code = cv2.VideoWriter_fourcc(*fourcc)
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, code, fps, (W, H))
    assert writer.isOpened()
    for k in range(count):
        rgb = _frame(k)[0].numpy().transpose(1, 2, 0)[:, :, ::-1]
        writer.write(np.ascontiguousarray(np.rint(rgb * 255).astype(np.uint8)))
    writer.release()
    return path


def _count_decoded(path: Path) -> int:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while cap.grab():
        count += 1
    cap.release()
    return count


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ----------------------------------------------------------------------------------- patterns


def test_format_ranges():
    assert format_ranges([20, 12, 13, 14, 13]) == "12–14, 20"
    assert format_ranges([5]) == "5"
    assert format_ranges([7, 8]) == "7–8"
    assert format_ranges([]) == ""
    assert format_ranges(range(0, 40, 2), max_ranges=3) == "0, 2, 4, … (17 more frames)"


@pytest.mark.parametrize(
    ("spec", "prefix", "digits", "suffix"),
    [
        ("render/frame_####.exr", "frame_", 4, ".exr"),
        ("render/shot.#.png", "shot.", None, ".png"),
        ("frame_%04d.png", "frame_", 4, ".png"),
        ("f%d_final.tif", "f", None, "_final.tif"),
        ("frame_*.jpg", "frame_", None, ".jpg"),
    ],
)
def test_parse_pattern_forms(spec, prefix, digits, suffix):
    pattern = parse_pattern(spec)
    assert pattern == FramePattern(Path(spec).parent, prefix, digits, suffix)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("frame.png", "no frame-number placeholder"),
        ("f_##_##.png", "more than one"),
        ("shots_##/frame_####.png", "not the folder"),
        ("frame_%4d.png", "space padding"),
        ("frame_?.png", "single '*'"),
    ],
)
def test_parse_pattern_rejects(spec, message):
    with pytest.raises(InputError, match=message):
        parse_pattern(spec)


def test_pattern_padding_and_overflow():
    pattern = parse_pattern("out/frame_####.png")
    assert pattern.path_for(7) == Path("out/frame_0007.png")
    assert pattern.name_for(12345) == "frame_12345.png"  # more digits when needed, like Blender
    assert pattern.match("frame_0012.png") == 12
    assert pattern.match("frame_12345.PNG") == 12345
    assert pattern.match("frame_012.png") is None  # other padding: another sequence
    assert pattern.match("frame_00012.png") is None
    assert pattern.match("other_0012.png") is None
    unpadded = parse_pattern("out/frame_#.png")
    assert unpadded.name_for(7) == "frame_7.png"
    assert unpadded.match("frame_007.png") == 7


# ----------------------------------------------------------------------------------- image sources


@pytest.mark.parametrize("form", ["folder", "hash", "printf", "glob"])
def test_png_sequence_round_trip(tmp_path, form):
    paths = _write_sequence(tmp_path / "render", [101, 102, 103])
    (tmp_path / "render" / "notes.txt").write_text("not an image")
    spec = {
        "folder": tmp_path / "render",
        "hash": f"{tmp_path}/render/frame_####.png",
        "printf": f"{tmp_path}/render/frame_%04d.png",
        "glob": f"{tmp_path}/render/frame_*.png",
    }[form]
    source = open_frames(spec)
    assert source.kind == "images"
    assert len(source) == 3
    assert source.size == (H, W)
    assert source.fps is None
    assert source.frames == [FrameInfo(i, 101 + i, p) for i, p in enumerate(paths)]
    assert "3 frames (101–103) 32×24" in source.describe()
    got = list(source.iter_frames())
    assert [info.number for info, _ in got] == [101, 102, 103]
    for info, image in got:
        assert image.colorspace == "srgb"
        assert image.rgb.shape == (1, 3, H, W)
        assert torch.allclose(image.rgb, _frame(info.number), atol=1 / 255)
    assert [info.index for info, _ in source.iter_frames(2)] == [2]
    assert list(source.iter_frames(3)) == []
    assert torch.equal(source.read(1).rgb, got[1][1].rgb)


def test_exr_sequence_round_trip_keeps_linear_values(tmp_path):
    sink_source = open_frames(_png_source(tmp_path, [1, 2]))
    sink = open_sink(f"{tmp_path}/exr/frame_####.exr", like=sink_source)
    for info, image in sink_source.iter_frames():
        sink.write(info, image.rgb)
    assert sink.finish() == Path(f"{tmp_path}/exr/frame_####.exr")
    source = open_frames(tmp_path / "exr", fps=25)
    assert source.fps == 25.0
    assert [f.number for f in source.frames] == [1, 2]
    for info, image in source.iter_frames():
        assert image.format == "exr" and image.colorspace == "linear"
        assert torch.allclose(image.srgb(), _frame(info.number), atol=2 / 255)


def _png_source(tmp_path: Path, numbers) -> Path:
    _write_sequence(tmp_path / "src", numbers)
    return tmp_path / "src"


def test_unpadded_numbers_sort_numerically(tmp_path):
    _write_sequence(tmp_path, [9, 10, 11, 8], digits=1)
    source = open_frames(f"{tmp_path}/frame_#.png")
    assert [f.number for f in source.frames] == [8, 9, 10, 11]
    assert [f.number for f in open_frames(tmp_path).frames] == [8, 9, 10, 11]


def test_gaps_are_listed(tmp_path):
    _write_sequence(tmp_path, [10, 11, 15, 16, 17, 19, 21])
    with pytest.raises(InputError) as err:
        open_frames(f"{tmp_path}/frame_####.png")
    message = str(err.value)
    assert "missing frames 12–14, 18, 20 in" in message
    assert "frame_####.png" in message


def test_size_mismatch_names_the_frame(tmp_path):
    _write_sequence(tmp_path, [1, 2])
    write_image(tmp_path / "frame_0003.png", _frame(3, height=12, width=16))
    expected = r"frame 0003 \(.*frame_0003.png\) is 16×12, the sequence is 32×24"
    with pytest.raises(InputError, match=expected):
        open_frames(tmp_path)


def test_corrupt_frame_is_reported_when_opening(tmp_path):
    _write_sequence(tmp_path, [1, 2])
    (tmp_path / "frame_0003.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"frame_0003.png is empty"):
        open_frames(tmp_path)


def test_folder_problems(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_frames(tmp_path / "nowhere")
    with pytest.raises(InputError, match="folder .*nowhere does not exist"):
        open_frames(f"{tmp_path}/nowhere/frame_####.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no image files"):
        open_frames(tmp_path / "empty")
    with pytest.raises(InputError, match="no frames match"):
        open_frames(f"{tmp_path}/empty/frame_####.png")
    both = tmp_path / "both"
    _write_sequence(both, [1, 2], prefix="beauty_")
    _write_sequence(both, [1, 2], prefix="mist_")
    with pytest.raises(InputError, match=r"several numbered sequences \(beauty_#.png .*mist_#.png"):
        open_frames(both)
    assert len(open_frames(f"{both}/mist_####.png")) == 2
    stray = tmp_path / "stray"
    _write_sequence(stray, [1, 2])
    write_image(stray / "thumbnail.png", _frame(0))
    with pytest.raises(InputError, match="without a frame number \\(thumbnail.png\\)"):
        open_frames(stray)
    with pytest.raises(InputError, match="single file, not a frame sequence"):
        open_frames(stray / "frame_0001.png")
    with pytest.raises(InputError, match=r"\.gif extension is not a supported image type"):
        open_frames(f"{stray}/frame_####.gif")


def test_duplicate_numbers_are_refused(tmp_path):
    _write_sequence(tmp_path, [1, 2], digits=1)
    _write_sequence(tmp_path, [2], digits=2)
    with pytest.raises(InputError, match="both hold frame 2"):
        open_frames(f"{tmp_path}/frame_#.png")


def test_hidden_temporaries_are_ignored(tmp_path):
    _write_sequence(tmp_path, [1, 2])
    (tmp_path / ".frame_0003.png.0123456789ab.tmp.png").write_bytes(b"\x89PNG half")
    assert len(open_frames(tmp_path)) == 2


def test_bad_fps(tmp_path):
    _write_sequence(tmp_path, [1])
    with pytest.raises(InputError, match="fps must be a positive number"):
        open_frames(tmp_path, fps=0)


# ----------------------------------------------------------------------------------- video sources


@pytest.mark.parametrize(("ext", "fourcc"), [(".mp4", "mp4v"), (".avi", "MJPG")])
def test_video_source(tmp_path, ext, fourcc):
    path = _write_video(tmp_path / f"clip{ext}", 6, fourcc, fps=12.0)
    with open_frames(path) as source:
        assert source.kind == "video"
        assert len(source) == 6
        assert source.fps == 12.0
        assert source.size == (H, W)
        assert source.frames[4] == FrameInfo(4, 4, None)
        assert "6 frames 32×24 at 12 fps" in source.describe()
        streamed = list(source.iter_frames(3))
        assert [info.index for info, _ in streamed] == [3, 4, 5]
        for info, image in streamed:
            assert image.format == "video" and image.colorspace == "srgb" and image.alpha is None
            assert image.rgb.dtype == torch.float32 and image.rgb.shape == (1, 3, H, W)
            assert (image.rgb - _frame(info.index)).abs().mean() < 0.03
        # random access: out of order, then the next frame (sequential fast path)
        for k in (5, 1, 2, 0):
            image = source.read(k)
            assert (image.rgb - _frame(k)).abs().mean() < 0.03
        assert torch.equal(source.read(3).rgb, streamed[0][1].rgb)
        with pytest.raises(InputError, match="out of range"):
            source.read(6)
    assert open_frames(path, fps=30).fps == 30.0


def test_video_with_a_lying_frame_count_is_counted(tmp_path):
    path = _write_video(tmp_path / "clip.avi", 12, "MJPG")
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 4 // 5])  # the index and the last frames are lost
    decodable = _count_decoded(cut)
    assert 0 < decodable < 12
    source = open_frames(cut)
    assert source.header_frame_count == 12
    assert len(source) == decodable
    assert "header says 12" in source.describe()
    assert len(list(source.iter_frames())) == decodable


@pytest.mark.parametrize("content", [b"", os.urandom(4096)], ids=["empty", "random"])
def test_unreadable_video(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        open_frames(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_video(tmp_path):
    with pytest.raises(ImageReadError, match="clip.mov does not exist"):
        open_frames(tmp_path / "clip.mov")


# ----------------------------------------------------------------------------------- image sinks


def test_sink_keeps_source_numbers_and_finishes(tmp_path):
    source = open_frames(_png_source(tmp_path, [101, 102, 103]))
    sink = open_sink(tmp_path / "out", like=source)
    assert sink.path_for(source.frames[0]) == tmp_path / "out" / "frame_0101.png"
    assert sink.first_missing() == 0
    for info, image in source.iter_frames():
        sink.write(info, image.rgb, torch.full((1, 1, H, W), 0.5))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "frame_0101.png",
        "frame_0102.png",
        "frame_0103.png",
    ]
    assert sink.done_indices() == [0, 1, 2]
    assert sink.first_missing() == 3
    assert sink.read_done(source.frames[2]).alpha is not None
    assert sink.finish() == Path(f"{tmp_path}/out/frame_####.png")
    assert sink.state_dir == tmp_path / "out" and sink.quantisation_bits == 8
    printf = open_sink(f"{tmp_path}/jpg/f_%03d_final.jpg", like=source)
    assert printf.path_for(source.frames[0]).name == "f_101_final.jpg"
    assert open_sink(f"{tmp_path}/exr/f_####.exr", like=source).quantisation_bits is None


def test_resume_after_a_kill(tmp_path):
    source = open_frames(_png_source(tmp_path, range(1, 6)))
    out = f"{tmp_path}/out/frame_####.png"
    sink = open_sink(out, like=source)
    for info, image in source.iter_frames():
        if info.index == 3:
            break
        sink.write(info, image.rgb)
    # The kill: a torn frame written by another tool, a zero-byte file and a stale temporary.
    full = sink.path_for(source.frames[2]).read_bytes()
    sink.path_for(source.frames[3]).write_bytes(full[: len(full) // 2])
    sink.path_for(source.frames[4]).write_bytes(b"")
    stale = tmp_path / "out" / ".frame_0005.png.0123456789ab.tmp.png"
    stale.write_bytes(full[:10])

    resumed = open_sink(out, like=source)
    assert not stale.exists()
    assert not resumed.is_done(source.frames[3])
    assert not resumed.is_done(source.frames[4])
    assert resumed.done_indices() == [0, 1, 2]
    assert resumed.first_missing() == 3
    assert torch.allclose(resumed.read_done(source.frames[2]).rgb, _frame(3), atol=1 / 255)
    with pytest.raises(OutputError, match="frames 4–5 are not done yet"):
        resumed.finish()
    for info, image in source.iter_frames(resumed.first_missing()):
        resumed.write(info, image.rgb)
    assert resumed.first_missing() == 5
    assert resumed.finish() == Path(out)
    assert read_image(resumed.path_for(source.frames[3])).size == (H, W)


def test_overwrite_starts_over(tmp_path):
    source = open_frames(_png_source(tmp_path, [1, 2, 3]))
    sink = open_sink(tmp_path / "out", like=source)
    for info, image in source.iter_frames():
        sink.write(info, image.rgb)
    assert open_sink(tmp_path / "out", like=source).first_missing() == 3
    again = open_sink(tmp_path / "out", like=source, overwrite=True)
    assert again.first_missing() == 0
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "spec",
    [
        "{src}/frame_####.png",
        "{src}",
        "{src}/../src/frame_%04d.png",
    ],
)
def test_sink_refuses_to_overwrite_source_frames(tmp_path, spec):
    src = _png_source(tmp_path, [1, 2, 3])
    before = _snapshot(src)
    source = open_frames(src)
    with pytest.raises(OutputError, match="refusing to write .*is a source file"):
        open_sink(spec.format(src=src), like=source, overwrite=True)
    assert _snapshot(src) == before


def test_sink_refuses_hard_link_to_a_source_frame(tmp_path):
    src = _png_source(tmp_path, [1])
    (tmp_path / "out").mkdir()
    os.link(src / "frame_0001.png", tmp_path / "out" / "frame_0001.png")
    with pytest.raises(OutputError, match="is a source file"):
        open_sink(tmp_path / "out", like=open_frames(src), overwrite=True)
    assert (src / "frame_0001.png").stat().st_size > 0


def test_sink_refuses_its_source_video(tmp_path):
    path = _write_video(tmp_path / "clip.mp4", 3, "mp4v")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="is a source file"):
        open_sink(path, like=open_frames(path), overwrite=True)
    assert path.read_bytes() == before


def test_sink_spec_errors(tmp_path):
    source = open_frames(_png_source(tmp_path, [1]))
    with pytest.raises(OutputError, match="a glob cannot name output files"):
        open_sink(f"{tmp_path}/out/frame_*.png", like=source)
    with pytest.raises(OutputError, match="names a single image.*result_####.png"):
        open_sink(tmp_path / "result.png", like=source)
    with pytest.raises(OutputError, match="neither an image type"):
        open_sink(tmp_path / "result.gif", like=source)
    with pytest.raises(OutputError, match="not a supported image type"):
        open_sink(f"{tmp_path}/out/frame_####.bmp", like=source)
    with pytest.raises(OutputError, match="not a frame of"):
        open_sink(tmp_path / "out", like=source).write(FrameInfo(5, 5, None), _frame(0))
    (tmp_path / "take#2").mkdir()  # an existing folder is a folder, whatever its name
    assert open_sink(tmp_path / "take#2", like=source).path_for(source.frames[0]).name == (
        "frame_0001.png"
    )


# ----------------------------------------------------------------------------------- video sinks


def test_video_sink_resumes_and_encodes(tmp_path):
    source = open_frames(_png_source(tmp_path, range(1, 6)), fps=25)
    out = tmp_path / "render" / "out.mp4"
    work = tmp_path / "render" / "out.mp4.frames"
    sink = open_sink(out, like=source)
    assert sink.state_dir == work and sink.quantisation_bits == 8
    for info, image in source.iter_frames():
        if info.index == 3:
            break  # killed after three frames
        sink.write(info, image.rgb, torch.ones(1, 1, H, W))
    (work / ".resume-state.json").write_text("{}")  # the caller's state, kept with the frames
    assert sorted(p.name for p in work.iterdir()) == [
        ".resume-state.json",
        "frame_0001.png",
        "frame_0002.png",
        "frame_0003.png",
    ]
    assert not out.exists()

    resumed = open_sink(out, like=source)
    assert resumed.first_missing() == 3
    assert torch.allclose(resumed.read_done(source.frames[2]).rgb, _frame(3), atol=1 / 255)
    for info, image in source.iter_frames(3):
        resumed.write(info, image.rgb)
    assert resumed.finish() == out
    assert not work.exists()
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]

    video = open_frames(out)
    assert len(video) == 5 and video.fps == 25.0 and video.size == (H, W)
    for info, image in video.iter_frames():
        assert (image.rgb - _frame(info.index + 1)).abs().mean() < 0.03

    done = open_sink(out, like=source)
    assert done.first_missing() == 5
    assert done.finish() == out
    assert (done.read_done(source.frames[4]).rgb - _frame(5)).abs().mean() < 0.03
    with pytest.raises(OutputError, match="already complete"):
        done.write(source.frames[0], _frame(1))
    work.mkdir()
    (work / ".resume-state.json").write_text("{}")  # as if a kill came right after the rename
    assert open_sink(out, like=source).first_missing() == 5
    assert not work.exists()
    redo = open_sink(out, like=source, overwrite=True)
    assert redo.first_missing() == 0 and not out.exists()


def test_video_sink_missing_frames_leave_no_output(tmp_path):
    source = open_frames(_png_source(tmp_path, [1, 2, 3]))
    out = tmp_path / "out.avi"
    sink = open_sink(out, like=source)
    sink.write(source.frames[0], _frame(1))
    with pytest.raises(OutputError, match="frames 2–3 are not done yet"):
        sink.finish()
    assert not out.exists()
    assert (tmp_path / "out.avi.frames" / "frame_0001.png").is_file()


def test_video_sink_failed_encode_leaves_no_output(tmp_path):
    source = open_frames(_png_source(tmp_path, [1, 2, 3]))
    out = tmp_path / "out.mp4"
    sink = open_sink(out, like=source)
    for info, image in source.iter_frames():
        sink.write(info, image.rgb)
    write_image(sink.path_for(source.frames[2]), _frame(3, height=12, width=16))
    with pytest.raises(OutputError, match="frame_0003.png is 16×12, the first frame is 32×24"):
        sink.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4.frames", "src"]


def test_existing_video_of_another_length_is_not_done(tmp_path):
    source = open_frames(_png_source(tmp_path, [1, 2, 3]))
    _write_video(tmp_path / "out.mp4", 2, "mp4v")
    with pytest.raises(OutputError, match="holds 2 frames, the source has 3; pass overwrite=True"):
        open_sink(tmp_path / "out.mp4", like=source)


@pytest.mark.parametrize("ext", VIDEO_EXTENSIONS)
def test_every_video_container_encodes(tmp_path, ext):
    source = open_frames(_write_video(tmp_path / "clip.avi", 3, "MJPG", fps=10))
    sink = open_sink(tmp_path / f"out{ext}", like=source)
    assert VIDEO_CODECS[ext] in sink.describe()
    for info, image in source.iter_frames():
        sink.write(info, image.rgb)
    video = open_frames(sink.finish())
    assert len(video) == 3 and video.fps == 10.0 and video.size == (H, W)
    tolerance = 1e-6 if ext == ".mkv" else 0.03  # FFV1 is lossless
    for (_, ours), (_, theirs) in zip(video.iter_frames(), source.iter_frames()):
        assert (ours.rgb - theirs.rgb).abs().mean() < tolerance


def test_odd_sized_video_is_padded(tmp_path):
    folder = tmp_path / "src"
    for n in (1, 2):
        write_image(folder / f"frame_{n:04d}.png", _frame(n, height=25, width=33))
    source = open_frames(folder)
    sink = open_sink(tmp_path / "out.mp4", like=source)
    for info, image in source.iter_frames():
        sink.write(info, image.rgb)
    assert open_frames(sink.finish()).size == (26, 34)
    done = open_sink(tmp_path / "out.mp4", like=source)
    assert done.read_done(source.frames[0]).size == (25, 33)


def test_video_to_image_sequence_numbers_from_zero(tmp_path):
    source = open_frames(_write_video(tmp_path / "clip.mp4", 2, "mp4v"))
    sink = open_sink(tmp_path / "out", like=source)
    assert [sink.path_for(f).name for f in source.frames] == ["frame_0000.png", "frame_0001.png"]


def test_missing_codec_is_reported_before_any_work(tmp_path, monkeypatch):
    source = open_frames(_png_source(tmp_path, [1]))
    monkeypatch.setitem(VIDEO_CODECS, ".mp4", "ZZZZ")
    with pytest.raises(OutputError, match="has no ZZZZ encoder for .mp4"):
        open_sink(tmp_path / "out.mp4", like=source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
