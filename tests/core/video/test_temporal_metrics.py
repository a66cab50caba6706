"""Tests for core.video.temporal_metrics: the warping error of Lai et al. (2018) and its streaming meter."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from core.foundation.errors import InputError
from core.video.flow import DISFlow
from core.video.temporal_metrics import WarpingErrorMeter, warping_error
from tests.conftest import photo

SIZE, FRAMES, STEP = 96, 4, (2, 1)  # frame size, frame count, (dx, dy) per frame in pixels


def _pan() -> list[np.ndarray]:
    """A photo panning by STEP px per frame: frame t+1 (p + STEP) = frame t (p)."""
    big = photo("astronaut", SIZE + 24)[0].permute(1, 2, 0).numpy()
    dx, dy = STEP
    frames = []
    for t in range(FRAMES):
        y0, x0 = 20 - t * dy, 20 - t * dx
        frames.append(np.ascontiguousarray(big[y0 : y0 + SIZE, x0 : x0 + SIZE]))
    return frames


def _stylise(frame: np.ndarray) -> np.ndarray:
    """A stand-in for a style: a fixed per-pixel colour mapping (temporally consistent)."""
    return np.ascontiguousarray((1.0 - frame[..., ::-1]) ** 1.5, dtype=np.float32)


def _flicker(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Per-frame random brightness changes of ±10 %."""
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.9, 1.1, size=len(frames)).astype(np.float32)
    return [np.clip(f * g, 0.0, 1.0) for f, g in zip(frames, gains, strict=True)]


@pytest.fixture(scope="module")
def pan() -> list[np.ndarray]:
    return _pan()


def test_static_sequence_has_zero_error() -> None:
    frame = photo("astronaut", 64)[0].permute(1, 2, 0).numpy()
    assert warping_error([frame] * 3, [frame] * 3) < 1e-10  # float32 grid rounding only


def test_consistent_outputs_score_far_below_flickering_ones(pan: list[np.ndarray]) -> None:
    dis = DISFlow("medium")
    consistent = warping_error([_stylise(f) for f in pan], pan, flow=dis)
    flicker = warping_error(_flicker([_stylise(f) for f in pan]), pan, flow=dis)
    raw_difference = np.mean([np.sum((b - a) ** 2, axis=-1).mean() for a, b in itertools.pairwise(pan)])
    assert consistent < 2e-3
    assert flicker > 10 * consistent
    assert consistent < 0.1 * raw_difference  # the warp really compensates the motion


def test_external_exact_flow_gives_zero_error(pan: list[np.ndarray]) -> None:
    dx, dy = STEP
    flow = np.empty((SIZE, SIZE, 2), np.float32)
    flow[..., 0], flow[..., 1] = -dx, -dy  # frame t (p) = frame t-1 (p - STEP)
    meter = WarpingErrorMeter()
    for f in pan:
        meter.update(_stylise(f), f, flow=flow)
    # Pixels whose source lies outside the previous frame are left out by the default mask.
    assert meter.pairs == FRAMES - 1
    assert meter.value < 1e-9
    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[10:-10, 10:-10] = 1.0
    flicker = WarpingErrorMeter()
    for f in _flicker([_stylise(f) for f in pan]):
        flicker.update(f, f, flow=flow, mask=mask)
    assert flicker.value > 1e-3


def test_meter_equals_function_and_streams(pan: list[np.ndarray]) -> None:
    outputs = _flicker([_stylise(f) for f in pan], seed=1)
    expected = warping_error(outputs, pan)
    meter = WarpingErrorMeter()
    assert meter.count == 0 and meter.pairs == 0 and math.isnan(meter.value)
    first = meter.update(torch.from_numpy(outputs[0]).permute(2, 0, 1)[None], pan[0])
    assert math.isnan(first) and meter.count == 1 and math.isnan(meter.value)
    errors = [meter.update(o, i) for o, i in zip(outputs[1:], pan[1:], strict=True)]
    assert meter.count == FRAMES and meter.pairs == FRAMES - 1
    assert meter.per_pair == errors
    assert meter.value == pytest.approx(expected, rel=1e-9)
    assert meter.value == pytest.approx(float(np.mean(errors)), rel=1e-12)
    # Generators work too, and the torch layout gives the same number.
    as_torch = (torch.from_numpy(o).permute(2, 0, 1)[None] for o in outputs)
    assert warping_error(as_torch, iter(pan)) == pytest.approx(expected, rel=1e-6)
    meter.reset()
    assert meter.count == 0 and math.isnan(meter.value)


def test_fewer_than_two_frames_is_nan() -> None:
    frame = np.zeros((32, 32, 3), np.float32)
    assert math.isnan(warping_error([], []))
    assert math.isnan(warping_error([frame], [frame]))


def test_bad_inputs() -> None:
    a = np.zeros((32, 32, 3), np.float32)
    b = np.zeros((32, 40, 3), np.float32)
    with pytest.raises(InputError, match="must match"):
        warping_error([a, a], [a, b])
    with pytest.raises(InputError, match="same size"):
        warping_error([a, b], [a, b])
    with pytest.raises(InputError, match="differ in length"):
        warping_error([a, a, a], [a, a])
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        warping_error([a[..., :2]], [a[..., :2]])
    meter = WarpingErrorMeter()
    with pytest.raises(InputError, match="together"):
        meter.update(a, a, mask=np.ones((32, 32), np.float32))
    with pytest.raises(InputError, match="flow is"):
        meter.update(a, a, flow=np.zeros((32, 32, 3), np.float32))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        meter.update(a, a, flow=np.zeros((32, 32, 2), np.float32), mask=np.full((32, 32), 2.0, np.float32))
    assert meter.count == 0  # rejected frames leave the meter untouched
