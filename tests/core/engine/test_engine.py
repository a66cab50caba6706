"""The one frame engine: its motion policy, colour preservation for every front end, fresh starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.engine.frames import FrameEngine
from core.engine.motion import FramePasses, pass_motion
from core.engine.settings import FrameSettings
from core.foundation.errors import InputError
from core.imaging.color_preservation import rgb_to_yiq
from core.requests.video import VideoRequest
from tests.addon.helpers import tiny_model
from tests.conftest import photo


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "stylebank", seed=1)


def _pass(h: int, w: int, x: float = 0.0, y: float = 0.0) -> np.ndarray:
    vec = np.zeros((h, w, 4), np.float32)
    vec[..., 0], vec[..., 1], vec[..., 2], vec[..., 3] = x, y, x, y
    return vec


def test_pass_motion_policy() -> None:
    frame, working = (40, 60), (20, 30)
    assert pass_motion(None, None, frame, working) is None
    assert pass_motion(FramePasses(), None, frame, working) is None
    # motion blur on writes zeros: optical flow decides, unless the render is known to have had it off
    assert pass_motion(FramePasses(_pass(40, 60)), None, frame, working) is None
    static, _ = pass_motion(FramePasses(_pass(40, 60), exact=True), None, frame, working)
    assert not static.any()
    nan = _pass(40, 60, 2.0)
    nan[3, 3, 0] = np.nan
    assert pass_motion(FramePasses(nan), None, frame, working) is None
    with pytest.raises(InputError, match="Vector pass of frame 7 is 30×20 but the frame is 60×40"):
        pass_motion(FramePasses(_pass(20, 30, 2.0)), None, frame, working, where="frame 7")
    # a usable pass: flow to the previous frame (X, −Y), scaled with the working size
    flow, conf = pass_motion(FramePasses(_pass(40, 60, 4.0, 2.0)), FramePasses(_pass(40, 60, 4.0, 2.0)), frame,
                             working)
    assert flow.shape == (20, 30, 2) and conf.shape == (20, 30)
    np.testing.assert_allclose(flow[5:15, 5:25, 0], 2.0, atol=1e-5)
    np.testing.assert_allclose(flow[5:15, 5:25, 1], -1.0, atol=1e-5)
    # depth of another size is ignored, not an error
    assert pass_motion(FramePasses(_pass(40, 60, 4.0), np.ones((10, 10), np.float32)),
                       FramePasses(None, np.ones((10, 10), np.float32)), frame, working) is not None


def test_colour_preservation_is_the_engines_for_every_front_end(model: Path) -> None:
    """The same settings give the same pictures through FrameSettings (the add-on) and VideoRequest (the CLI)."""
    frame = photo("coffee", 64)
    chroma = {}
    for mode in ("none", "luminance"):
        settings = FrameSettings("N", style_names=("a",), model_dir=model, device="cpu", preserve_color=mode,
                                 coherent=False)
        from_addon = FrameEngine(settings.to_request()).step(frame, 1).image
        request = VideoRequest(source=Path("."), output=Path("."), style_names=("a",), model=model, device="cpu",
                               preserve_color=mode, coherent=False)
        from_cli = FrameEngine(request).step(frame, 1).image
        assert torch.equal(from_addon, from_cli)
        chroma[mode] = float((rgb_to_yiq(from_cli)[:, 1:] - rgb_to_yiq(frame)[:, 1:]).abs().mean())
    assert chroma["luminance"] < 0.25 * chroma["none"], chroma


def test_working_size_scale_back_and_fresh_starts(model: Path) -> None:
    big = photo("astronaut", 96)[..., :72, :96].contiguous()
    request = FrameSettings("N", style_names=("a",), model_dir=model, device="cpu", size=48).to_request()
    engine = FrameEngine(request)
    first = engine.step(big, 1)
    assert first.size == (36, 48) and tuple(first.image.shape[-2:]) == (72, 96) and first.motion is None
    assert engine.step(big, 2).motion == "optical flow"
    assert engine.step(big, 4).motion is None  # a jump starts fresh
    assert engine.step(big[..., :64, :96].contiguous(), 5).motion is None  # so does another size
    cli = FrameEngine(request, scale_back=False).step(big, 1)
    assert tuple(cli.image.shape[-2:]) == (36, 48)


@pytest.mark.parametrize("blend", ["image", "feature"])
def test_a_prepared_next_frame_gives_the_same_pictures(model: Path, blend: str) -> None:
    """:meth:`FrameEngine.prepare` only moves work earlier: results are identical, a wrong hint is dropped."""
    scene = photo("astronaut", 128)
    frames = [scene[..., 8:72, 4 + 3 * k:100 + 3 * k].contiguous() for k in range(5)]
    vectors = [FramePasses(_pass(64, 96, -3.0)) for _ in frames]
    reads = []

    def reader(k: int):  # passes read on demand (the CLI's files): on the worker thread when prepared
        def read() -> FramePasses:
            reads.append(k)
            return vectors[k]
        return read
    request = VideoRequest(source=Path("."), output=Path("."), style_names=("a",), model=model, device="cpu",
                           blend=blend)
    for passes in (None, vectors, [reader(k) for k in range(len(frames))]):
        plain, hinted, misled = FrameEngine(request), FrameEngine(request), FrameEngine(request)
        for k, frame in enumerate(frames):
            fp = None if passes is None else passes[k]
            expected = plain.step(frame, k + 1, passes=fp)
            got = hinted.step(frame, k + 1, passes=fp)
            if k + 1 < len(frames):
                hinted.prepare(frames[k + 1], k + 2, passes=None if passes is None else passes[k + 1])
                misled.prepare(frames[0], k + 2)  # not the frame that comes next
            wrong = misled.step(frame, k + 1, passes=fp)
            assert got.motion == expected.motion == wrong.motion
            assert torch.equal(got.image, expected.image) and torch.equal(wrong.image, expected.image), k
        assert expected.motion == ("optical flow" if passes is None else "vectors")
    assert sorted(reads) == sorted(list(range(len(frames))) * 3)  # once per frame and engine


def test_read_ahead_raises_a_read_failure_only_when_that_frame_is_due() -> None:
    from core.engine.read_ahead import with_next

    def frames():
        yield from (1, 2, 3)
        raise InputError("frame 4 is corrupt")

    written = []
    with pytest.raises(InputError, match="frame 4 is corrupt"):
        for item, upcoming in with_next(frames()):
            written.append((item, upcoming))
    # frame 3 is handed out (and written) before the failure of frame 4 surfaces
    assert written == [(1, 2), (2, 3), (3, None)]
    assert list(with_next([])) == [] and list(with_next("ab")) == [("a", "b"), ("b", None)]
