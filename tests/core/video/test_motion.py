"""Motion analysis sizes and the frame engine's reuse of the previous frame's copies (issue 14's time goal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.requests.video import VideoRequest
from core.stylebank.model import save_model
from core.stylebank.net import StyleBankNet
from core.video import motion
from core.video.flow import DISFlow, to_gray_u8, warp_cubic
from core.video.online import OnlineStylizer
from tests.conftest import photo


@pytest.mark.parametrize(("size", "flow", "check"), [
    ((360, 640), (360, 640), (180, 320)),     # flow at full size, the checks at half
    ((1080, 1920), (540, 960), (270, 480)),   # flow at most 960 px
    ((90, 160), (90, 160), (90, 160)),        # too small to halve: all at full size
    ((640, 360), (640, 360), (320, 180)),     # portrait
])
def test_analysis_sizes(size, flow, check):
    assert motion.motion_size(*size) == flow
    assert motion.check_size(*size) == check


def test_analysis_grey_is_the_flow_modules_luma():
    frame = photo("astronaut", 200)
    a = motion.analyse(frame)
    np.testing.assert_array_equal(a.grey, to_gray_u8(frame))
    assert a.small.shape == (*motion.check_size(*frame.shape[-2:]), 3)


def test_dis_motion_finds_a_shift_and_trusts_the_interior():
    big = photo("astronaut", 300)
    prev, cur = big[..., 20:200, 20:260].contiguous(), big[..., 20:200, 24:264].contiguous()  # content moves 4 px left
    flow, conf = motion.dis_motion(DISFlow("fast"), motion.analyse(cur), motion.analyse(prev))
    assert flow.shape == (180, 240, 2) and conf.shape == (180, 240)
    inner = (slice(20, -20), slice(20, -20))
    assert abs(float(np.median(flow[inner][..., 0])) - 4.0) < 0.5
    assert float(conf[inner].mean()) > 0.9


def test_warp_cubic_on_arrays_matches_tensors():
    img = photo("coffee", 64)
    flow = np.random.default_rng(0).normal(0, 2, (*img.shape[-2:], 2)).astype(np.float32)
    from_array = warp_cubic(np.ascontiguousarray(img[0].permute(1, 2, 0).numpy()), flow)
    from_tensor = warp_cubic(img, flow)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(from_array, from_tensor, atol=1e-6)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    net = StyleBankNet(width=4, styles=("a",))
    for bank in net.banks.values():
        torch.nn.init.normal_(bank.layers[-1].weight, std=0.2)
    return save_model(net, tmp_path_factory.mktemp("model") / "m", base_info={"steps": 0})


def _frames(n: int = 4) -> list[torch.Tensor]:
    big = photo("astronaut", 200)
    return [big[..., 30:94, 20 + 3 * k : 116 + 3 * k].contiguous() for k in range(n)]


def _engine(model_dir) -> OnlineStylizer:
    return OnlineStylizer(VideoRequest(source="x", output="y", model=model_dir, style_names=("a",), device="cpu"))


def test_coherent_results_are_8_bit_values(model_dir):
    engine = _engine(model_dir)
    for f in _frames(3):
        out, _ = engine.step(f)
        assert out.shape == f.shape and out.is_contiguous()
        scaled = out * 255
        torch.testing.assert_close(scaled, scaled.round(), atol=1e-4, rtol=0)


def test_a_restored_or_replaced_previous_frame_is_used_not_the_stale_one(model_dir):
    """The engine keeps copies of the last frame for the next motion; they must follow ``prev_frame``."""
    frames = _frames(4)
    straight = _engine(model_dir)
    outs = [straight.step(f)[0] for f in frames]

    resumed = _engine(model_dir)  # a rerun that continues after frame 2
    resumed.restore(frames[2], outs[2])
    torch.testing.assert_close(resumed.step(frames[3])[0], outs[3], atol=0, rtol=0)

    detour = _engine(model_dir)  # saw other frames before being put back on track
    detour.step(frames[0])
    detour.step(torch.flip(frames[1], dims=[-1]))
    detour.restore(frames[2], outs[2])
    torch.testing.assert_close(detour.step(frames[3])[0], outs[3], atol=0, rtol=0)
