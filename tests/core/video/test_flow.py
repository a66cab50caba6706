"""Tests for core.video.flow: DIS estimation, backward warping, confidence masks, render-pass conversion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.foundation.errors import InputError
from core.video.flow import DIS_PRESETS, DISFlow, confidence, depth_occlusion, to_gray_u8, vector_confidence, warp
from core.video.render_passes import exr_depth_pass, exr_vector_pass, vectors_to_flow
from tests.conftest import photo

BORDER = 8  # pixels ignored at each side when comparing warps


def _photo_hwc(long_side: int) -> np.ndarray:
    return photo("astronaut", long_side)[0].permute(1, 2, 0).numpy().copy()


def _shifted_pair(dx: int, dy: int, size: int = 128, margin: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Frames a, b cut from one photo so that ``b(p + (dx, dy)) = a(p)``."""
    big = _photo_hwc(size + 2 * margin)
    a = big[margin : margin + size, margin : margin + size]
    b = big[margin - dy : margin - dy + size, margin - dx : margin - dx + size]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _interior(x: np.ndarray, border: int = BORDER) -> np.ndarray:
    return x[border:-border, border:-border]


def _smooth(h: int, w: int, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A smooth analytic RGB image sampled at ``(x + dx, y + dy)``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xs, ys = xs + dx, ys + dy
    r = 0.5 + 0.4 * np.sin(0.2 * xs) * np.cos(0.15 * ys)
    g = 0.5 + 0.4 * np.cos(0.11 * xs + 0.07 * ys)
    b = 0.5 + 0.3 * np.sin(0.05 * (xs - ys))
    return np.stack([r, g, b], axis=-1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# to_gray_u8
# --------------------------------------------------------------------------------------------


def test_to_gray_u8_layouts_agree() -> None:
    rgb = _photo_hwc(32)
    gray = to_gray_u8(rgb)
    assert gray.dtype == np.uint8 and gray.shape == rgb.shape[:2]
    t = torch.from_numpy(rgb).permute(2, 0, 1)
    assert np.array_equal(to_gray_u8(t), gray)
    assert np.array_equal(to_gray_u8(t[None]), gray)
    assert to_gray_u8(gray) is gray
    # BT.601 weights on pure primaries.
    primaries = np.eye(3, dtype=np.float32)[None]  # (1, 3, 3): red, green, blue pixels
    assert to_gray_u8(primaries).tolist() == [[76, 150, 29]]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 4), np.float32),
        np.zeros((8, 8, 3), np.uint8),
        torch.zeros(2, 3, 8, 8),
        np.full((8, 8, 3), np.nan, np.float32),
        [[0.0]],
    ],
    ids=["4ch", "uint8rgb", "batch2", "nan", "list"],
)
def test_to_gray_u8_rejects_bad_frames(bad) -> None:
    with pytest.raises(InputError):
        to_gray_u8(bad)


# --------------------------------------------------------------------------------------------
# warp
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (0, -2), (-4, 5)])
def test_warp_integer_flow_is_an_exact_shift(dx: int, dy: int) -> None:
    img = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    flow = np.zeros((40, 48, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    out = warp(img, flow)
    # out(p) = img(p + d)  <=>  out = roll(img, -d)
    expected = torch.roll(img, shifts=(-dy, -dx), dims=(2, 3))
    assert out.shape == img.shape and out.dtype == img.dtype
    inner = (..., slice(6, -6), slice(6, -6))
    # float32 grids are exact up to rounding of the normalised coordinates (~W · 2⁻²⁴ px) ...
    torch.testing.assert_close(out[inner], expected[inner], rtol=0, atol=1e-5)
    # ... and float64 ones to machine precision.
    torch.testing.assert_close(warp(img.double(), flow)[inner], expected.double()[inner], rtol=0, atol=1e-12)


def test_warp_border_replicates() -> None:
    img = torch.arange(6, dtype=torch.float32).view(1, 1, 1, 6).expand(1, 1, 3, 6).contiguous()
    flow = np.zeros((3, 6, 2), np.float32)
    flow[..., 0] = 10.0  # everything samples beyond the right edge
    assert torch.equal(warp(img, flow), torch.full_like(img, 5.0))


def test_warp_subpixel_shift_matches_analytic_image() -> None:
    dx, dy = 1.5, -0.7
    img = _smooth(48, 64)
    flow = np.empty((48, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    out = warp(img, flow)
    assert isinstance(out, np.ndarray) and out.shape == img.shape and out.dtype == np.float32
    err = np.abs(_interior(out, 4) - _interior(_smooth(48, 64, dx, dy), 4))
    assert err.max() < 4e-3


def test_warp_accepts_all_flow_layouts_and_keeps_dtype() -> None:
    img = torch.rand(2, 3, 16, 20, generator=torch.Generator().manual_seed(1))
    flow = np.random.default_rng(0).normal(0, 2, (16, 20, 2)).astype(np.float32)
    ref = warp(img, flow)
    t = torch.from_numpy(flow)
    torch.testing.assert_close(warp(img, t), ref)
    torch.testing.assert_close(warp(img, t.permute(2, 0, 1)[None]), ref)
    torch.testing.assert_close(warp(img, t.permute(2, 0, 1)[None].expand(2, 2, 16, 20)), ref)
    torch.testing.assert_close(warp(img.double(), flow), ref.double(), atol=1e-5, rtol=0)
    half = warp(img.half(), flow)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), ref, atol=2e-3, rtol=0)
    gray = warp(img[0, 0].numpy(), flow)
    np.testing.assert_allclose(gray, ref[0, 0].numpy(), atol=1e-6)


def test_warp_is_differentiable() -> None:
    img = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    flow = torch.full((1, 2, 8, 8), 0.3, dtype=torch.float64, requires_grad=True)
    warp(img, flow).sum().backward()
    assert img.grad is not None and flow.grad is not None


def test_warp_rejects_mismatched_flow() -> None:
    img = torch.zeros(1, 3, 16, 16)
    with pytest.raises(InputError, match="does not fit"):
        warp(img, np.zeros((16, 15, 2), np.float32))
    with pytest.raises(InputError, match="batch"):
        warp(img, torch.zeros(3, 2, 16, 16))
    with pytest.raises(InputError, match="floating"):
        warp(torch.zeros(1, 3, 16, 16, dtype=torch.int64), np.zeros((16, 16, 2), np.float32))


# --------------------------------------------------------------------------------------------
# DIS
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", DIS_PRESETS)
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-5, 4)])
def test_dis_recovers_a_known_shift(preset: str, dx: int, dy: int) -> None:
    a, b = _shifted_pair(dx, dy)
    flow = DISFlow(preset)(a, b)
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    med = np.median(_interior(flow, 16).reshape(-1, 2), axis=0)
    np.testing.assert_allclose(med, [dx, dy], atol=0.25)
    # Backward warping the target with flow_a_to_b gives back the source.
    back = warp(b, flow)
    residual = np.abs(_interior(back, 16) - _interior(a, 16)).mean()
    assert residual < 0.02, residual
    assert np.abs(_interior(b, 16) - _interior(a, 16)).mean() > 3 * residual


def test_dis_reuses_its_cv2_object_and_accepts_tensors() -> None:
    a, b = _shifted_pair(2, 1)
    dis = DISFlow()
    inner = dis._dis
    flow_np = dis(a, b)
    flow_t = dis(torch.from_numpy(a).permute(2, 0, 1)[None], torch.from_numpy(b).permute(2, 0, 1))
    assert dis._dis is inner
    np.testing.assert_allclose(flow_np, flow_t, atol=1e-6)
    flow_gray = dis(to_gray_u8(a), to_gray_u8(b))
    np.testing.assert_allclose(flow_np, flow_gray, atol=1e-6)


def test_dis_errors() -> None:
    with pytest.raises(InputError, match="ultrafast, fast, medium"):
        DISFlow("slow")
    dis = DISFlow()
    with pytest.raises(InputError, match="differ in size"):
        dis(np.zeros((32, 32, 3), np.float32), np.zeros((32, 40, 3), np.float32))
    with pytest.raises(InputError, match="at least"):
        dis(np.zeros((6, 6, 3), np.float32), np.zeros((6, 6, 3), np.float32))


# --------------------------------------------------------------------------------------------
# confidence
# --------------------------------------------------------------------------------------------

H, W = 64, 64
SQ, STEP = (20, 44), 6  # square rows/cols span at frame t (cols), moves right by STEP px


def _moving_square_flows() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Exact flows for a 24-px square moving STEP px right over a static background."""
    r0, r1 = SQ
    c0_t, c1_t = SQ  # square at frame t
    c0_p, c1_p = c0_t - STEP, c1_t - STEP  # at frame t-1
    t_to_prev = np.zeros((H, W, 2), np.float32)
    t_to_prev[r0:r1, c0_t:c1_t, 0] = -STEP
    prev_to_t = np.zeros((H, W, 2), np.float32)
    prev_to_t[r0:r1, c0_p:c1_p, 0] = STEP
    regions = {
        "uncovered": np.zeros((H, W), bool),  # background at t that the square hid at t-1
        "square_inside": np.zeros((H, W), bool),
        "far_background": np.ones((H, W), bool),
    }
    regions["uncovered"][r0 + 2 : r1 - 2, c0_p : c0_t] = True
    regions["square_inside"][r0 + 3 : r1 - 3, c0_t + 3 : c1_t - 3] = True
    regions["far_background"][r0 - 6 : r1 + 6, c0_p - 6 : c1_t + 6] = False
    return t_to_prev, prev_to_t, regions


def _moving_square_frames(step: int = 6) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """128×128 frames t-1, t: a 24-px crop of one photo moving ``step`` px right over another."""
    bg = _photo_hwc(128)
    patch = photo("chelsea", 64)[0].permute(1, 2, 0).numpy()[8:32, 20:44]
    r0, c0 = 52, 52  # square's top-left at frame t
    frames = []
    for c in (c0 - step, c0):
        f = bg.copy()
        f[r0 : r0 + 24, c : c + 24] = patch
        frames.append(f)
    regions = {
        "uncovered": np.zeros((128, 128), bool),
        "square_inside": np.zeros((128, 128), bool),
        "far_background": np.ones((128, 128), bool),
    }
    regions["uncovered"][r0 + 2 : r0 + 22, c0 - step : c0] = True
    regions["square_inside"][r0 + 4 : r0 + 20, c0 + 4 : c0 + 20] = True
    regions["far_background"][r0 - 10 : r0 + 34, c0 - step - 10 : c0 + 34] = False
    return frames[0], frames[1], regions


@pytest.mark.parametrize("soft", [True, False])
def test_confidence_marks_the_uncovered_region(soft: bool) -> None:
    t_to_prev, prev_to_t, regions = _moving_square_flows()
    conf = confidence(t_to_prev, prev_to_t, soft=soft)
    assert conf.shape == (H, W) and conf.dtype == np.float32
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    assert conf[regions["uncovered"]].max() == 0.0
    assert conf[regions["square_inside"]].min() == 1.0
    assert conf[regions["far_background"]].min() == 1.0
    # Motion boundary: the square's left edge at t.
    assert conf[SQ[0] + 4 : SQ[1] - 4, SQ[0]].max() < 0.5
    if not soft:
        assert set(np.unique(conf)) <= {0.0, 1.0}


def test_confidence_of_half_size_flows_judges_them_as_at_full_size() -> None:
    """``scale``: thresholds count in full-size pixels, so a 0.4 px (half-size) disagreement is 0.8 px."""
    t_to_prev, prev_to_t, regions = _moving_square_flows()
    half = [cv2.resize(f, (W // 2, H // 2), interpolation=cv2.INTER_AREA) * 0.5 for f in (t_to_prev, prev_to_t)]
    conf = confidence(*half, soft=False, scale=0.5)
    small = {k: cv2.resize(v.astype(np.uint8), (W // 2, H // 2), interpolation=cv2.INTER_NEAREST) > 0
             for k, v in regions.items()}
    assert conf[small["uncovered"]].max() == 0.0
    assert conf[small["far_background"]].min() == 1.0
    still = np.zeros((H // 2, W // 2, 2), np.float32)
    off = still.copy()
    off[..., 0] = 0.4  # forward-backward error 0.4 half-size px = 0.8 px at full size: over the 0.5 px limit
    assert confidence(still, off, soft=False).min() == 1.0
    assert confidence(still, off, soft=False, scale=0.5)[8:-8, 8:-8].max() == 0.0
    with pytest.raises(InputError, match="scale"):
        confidence(still, still, scale=0.0)


def test_soft_and_hard_confidence_agree_away_from_borders() -> None:
    t_to_prev, prev_to_t, _ = _moving_square_flows()
    soft = confidence(t_to_prev, prev_to_t)
    hard = confidence(t_to_prev, prev_to_t, soft=False)
    # Far (> 3 px) from any hard-mask transition both are the same 0 or 1.
    step_x = np.diff(hard, axis=1, prepend=hard[:, :1]) != 0
    step_y = np.diff(hard, axis=0, prepend=hard[:1]) != 0
    near = cv2.dilate((step_x | step_y).astype(np.uint8), np.ones((7, 7), np.uint8))
    away = near == 0
    assert away.mean() > 0.6
    np.testing.assert_array_equal(soft[away], hard[away])
    # Near transitions the soft mask has intermediate values and never exceeds the hard one by much.
    assert ((soft > 0.05) & (soft < 0.95)).any()
    assert (soft <= hard + 0.5).all()


def test_confidence_from_dis_flows_on_a_moving_square() -> None:
    prev, cur, regions = _moving_square_frames()
    dis = DISFlow("medium")
    conf = confidence(dis(cur, prev), dis(prev, cur))
    assert conf[regions["uncovered"]].mean() < 0.3
    assert conf[regions["square_inside"]].mean() > 0.8
    assert conf[regions["far_background"]].mean() > 0.98


def test_confidence_out_of_frame_is_zero() -> None:
    flow = np.zeros((16, 16, 2), np.float32)
    flow[..., 0] = -3.0  # a pan: left three columns come from outside the previous frame
    back = -flow
    for soft in (True, False):
        conf = confidence(flow, back, soft=soft)
        assert conf[:, :3].max() == 0.0
        assert conf[:, 6:].min() == 1.0


def test_confidence_rejects_bad_flows() -> None:
    good = np.zeros((8, 8, 2), np.float32)
    with pytest.raises(InputError, match=r"\(H, W, 2\)"):
        confidence(np.zeros((8, 8, 3), np.float32), good)
    with pytest.raises(InputError, match="both must be"):
        confidence(good, np.zeros((8, 9, 2), np.float32))
    with pytest.raises(InputError, match="NaN"):
        confidence(np.full((8, 8, 2), np.inf, np.float32), good)


# --------------------------------------------------------------------------------------------
# Blender Vector and Depth passes (synthetic; the real render is in test_vectors_blender.py)
# --------------------------------------------------------------------------------------------


def _render_like_vectors() -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """A Vector pass for a 10-px square at (row 20, col 30) on frame t that moved 5 px right and
    3 px up (image up) since frame t-1, and moves 2 px right to frame t+1. Returns the vector and
    the square's top-left (row, col) at t-1, t and t+1."""
    vec = np.zeros((48, 64, 4), np.float32)
    vec[20:30, 30:40] = (-5.0, -3.0, -2.0, 0.0)  # Blender: XY to previous (y up), ZW = -(to next)
    return vec, (23, 25), (20, 30), (20, 32)


def _square_frame(top_left: tuple[int, int]) -> np.ndarray:
    frame = np.full((48, 64, 3), 0.2, np.float32)
    r, c = top_left
    frame[r : r + 10, c : c + 10] = np.linspace(0.4, 1.0, 10, dtype=np.float32)[None, :, None]
    return frame


def test_vectors_to_flow_follows_the_documented_convention() -> None:
    vec, at_prev, at_t, at_next = _render_like_vectors()
    to_prev, to_next = vectors_to_flow(vec)
    assert to_prev.shape == to_next.shape == (48, 64, 2)
    assert to_prev.dtype == to_next.dtype == np.float32
    assert tuple(to_prev[25, 35]) == (-5.0, 3.0)  # the square was 5 px left, 3 rows lower
    assert tuple(to_next[25, 35]) == (2.0, 0.0)
    assert not to_prev[0, 0].any() and not to_next[0, 0].any()
    sq = (slice(20, 30), slice(30, 40))
    frame_t = _square_frame(at_t)
    np.testing.assert_allclose(warp(_square_frame(at_prev), to_prev)[sq], frame_t[sq], atol=1e-5)
    np.testing.assert_allclose(warp(_square_frame(at_next), to_next)[sq], frame_t[sq], atol=1e-5)
    down_prev, down_next = vectors_to_flow(vec * np.array([1, -1, 1, -1], np.float32), y_up=False)
    np.testing.assert_array_equal(down_prev, to_prev)
    np.testing.assert_array_equal(down_next, to_next)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((48, 64, 3), np.float32), "wrong shape|shape"),
        (np.zeros((48, 64), np.float32), "shape"),
        (np.zeros((4, 48, 64), np.float32), "shape"),
        (np.full((8, 8, 4), np.nan, np.float32), "NaN"),
        (np.zeros((8, 8, 4), bool), "numbers"),
    ],
    ids=["3ch", "2d", "chw", "nan", "bool"],
)
def test_vectors_to_flow_rejects_bad_vectors(bad: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        vectors_to_flow(bad)
    assert "\n" not in str(info.value)


def _depth_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A near square (depth 5) moving 4 px right over a background at Blender's 1e10."""
    depth_prev = np.full((32, 48), 1e10, np.float32)
    depth_t = depth_prev.copy()
    depth_prev[8:20, 16:28] = 5.0
    depth_t[8:20, 20:32] = 5.0
    flow = np.zeros((32, 48, 2), np.float32)
    flow[8:20, 20:32, 0] = -4.0
    return depth_t, depth_prev, flow


def test_depth_occlusion_finds_the_uncovered_background() -> None:
    depth_t, depth_prev, flow = _depth_case()
    vis = depth_occlusion(depth_t, depth_prev, flow)
    assert vis.dtype == np.float32 and vis.shape == (32, 48)
    assert vis[8:20, 16:20].max() == 0.0  # background the square hid at t-1
    assert vis[8:20, 20:32].min() == 1.0  # the square itself
    vis[8:20, 16:20] = 1.0
    assert vis.min() == 1.0  # everything else, including far background compared with far background
    # +inf background behaves like 1e10.
    inf_t, inf_prev = (np.where(d > 1e9, np.inf, d) for d in (depth_t, depth_prev))
    np.testing.assert_array_equal(depth_occlusion(inf_t, inf_prev, flow), depth_occlusion(depth_t, depth_prev, flow))


def test_depth_occlusion_tolerance_and_frame_border() -> None:
    depth_t = np.full((16, 16), 10.0, np.float32)
    depth_prev = np.full((16, 16), 9.7, np.float32)  # 3 % nearer: within 5 %, not within 1 %
    flow = np.zeros((16, 16, 2), np.float32)
    flow[:, :, 1] = 2.0  # content came from two rows further down: bottom rows leave the frame
    vis = depth_occlusion(depth_t, depth_prev, flow)
    assert vis[:13].min() == 1.0 and vis[14:].max() == 0.0
    assert depth_occlusion(depth_t, depth_prev, flow, rel_tol=0.01).max() == 0.0
    with pytest.raises(InputError, match="depth_prev"):
        depth_occlusion(depth_t, depth_prev[:8], flow)
    with pytest.raises(InputError, match="NaN"):
        depth_occlusion(np.full((16, 16), np.nan, np.float32), depth_prev, flow)
    with pytest.raises(InputError, match="rel_tol"):
        depth_occlusion(depth_t, depth_prev, flow, rel_tol=1.0)


def test_vector_confidence_combines_vectors_and_depth() -> None:
    depth_t, depth_prev, flow = _depth_case()
    vec = np.zeros((32, 48, 4), np.float32)
    vec[..., 0] = flow[..., 0]
    vec[..., 1] = -flow[..., 1]
    got_flow, conf = vector_confidence(vec, depth_t, depth_prev)
    np.testing.assert_array_equal(got_flow, flow)
    assert conf.dtype == np.float32 and conf.min() >= 0.0 and conf.max() <= 1.0
    assert conf[8:20, 16:20].max() == 0.0  # uncovered
    assert conf[11:17, 23:29].min() == 1.0  # inside the square
    assert conf[24:, :].min() == 1.0  # static background far from it
    assert conf[8:20, 20].max() < 0.5  # motion boundary
    # Without depth the uncovered background cannot be seen; with the previous frame's vectors it can.
    _, no_depth = vector_confidence(vec)
    assert no_depth[8:20, 16].min() == 1.0  # uncovered, 3 px from the motion boundary
    vec_prev = np.zeros_like(vec)
    vec_prev[8:20, 16:28, 2] = -4.0  # at t-1 the square moves 4 px right to t: ZW = -(4, 0)
    _, with_prev = vector_confidence(vec, vector_prev=vec_prev)
    assert with_prev[8:20, 16:20].max() == 0.0
    with pytest.raises(InputError, match="both"):
        vector_confidence(vec, depth_t)


def test_exr_pass_selection() -> None:
    plane = np.zeros((4, 5), np.float32)
    layered = {f"ViewLayer.Vector.{c}": plane + i for i, c in enumerate("XYZW")}
    layered |= {"ViewLayer.Depth.Z": plane + 7, "ViewLayer.Combined.R": plane}
    vec = exr_vector_pass(layered)
    assert vec.shape == (4, 5, 4) and vec[0, 0].tolist() == [0, 1, 2, 3]
    assert exr_depth_pass(layered)[0, 0] == 7
    bare = {c: plane + i for i, c in enumerate("XYZW")}
    assert exr_vector_pass(bare)[0, 0].tolist() == [0, 1, 2, 3]
    assert exr_depth_pass({"V": plane + 2})[0, 0] == 2
    with pytest.raises(InputError, match="no Vector pass"):
        exr_vector_pass({"R": plane, "G": plane, "B": plane})
    with pytest.raises(InputError, match="no Depth pass"):
        exr_depth_pass(bare)
