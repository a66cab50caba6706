"""Tests for core.gatys.tiling: grid coverage and overlap, feather windows and blending."""

from __future__ import annotations

import pytest
import torch

from core.foundation.errors import InputError
from core.gatys.tiling import Tile, TileBlender, feather_window, tile_grid

GRIDS = [
    # (height, width, tile, overlap)
    (100, 130, 48, 8),
    (65, 64, 64, 8),  # one pixel too tall for one tile
    (257, 31, 64, 31),  # largest allowed overlap
    (300, 300, 16, 0),  # no overlap
    (129, 200, 64, 16),
]


def _axis_starts(tiles: list[Tile], axis: str) -> list[tuple[int, int]]:
    if axis == "y":
        return sorted({(t.y0, t.y1) for t in tiles})
    return sorted({(t.x0, t.x1) for t in tiles})


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), GRIDS)
def test_grid_covers_every_pixel_with_bounded_tiles(h: int, w: int, tile: int, overlap: int) -> None:
    tiles = tile_grid(h, w, tile, overlap)
    cover = torch.zeros(h, w, dtype=torch.int32)
    for t in tiles:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        assert t.y1 - t.y0 <= tile and t.x1 - t.x0 <= tile
        cover[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert int(cover.min()) >= 1
    assert len(tiles) == len(set(tiles))


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), GRIDS)
def test_neighbours_overlap_at_least_overlap(h: int, w: int, tile: int, overlap: int) -> None:
    tiles = tile_grid(h, w, tile, overlap)
    for axis, length in (("y", h), ("x", w)):
        spans = _axis_starts(tiles, axis)
        assert spans[0][0] == 0 and spans[-1][1] == length  # first at the border, last ends at the border
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 > a0
            assert a1 - b0 >= overlap, (axis, (a0, a1), (b0, b1))
    # A full rectangular grid: every row span with every column span.
    assert len(tiles) == len(_axis_starts(tiles, "y")) * len(_axis_starts(tiles, "x"))


@pytest.mark.parametrize(("h", "w"), [(20, 30), (64, 64), (1, 1), (64, 5)])
def test_small_image_is_one_tile(h: int, w: int) -> None:
    assert tile_grid(h, w, 64, 8) == [Tile(0, h, 0, w)]


@pytest.mark.parametrize(
    ("tile", "overlap", "match"),
    [(15, 0, "at least 16"), (0, 0, "at least 16"), (64, -1, r"\[0, 32\)"), (64, 32, r"\[0, 32\)"), (16, 8, r"\[0, 8\)")],
)
def test_bad_tile_or_overlap(tile: int, overlap: int, match: str) -> None:
    with pytest.raises(InputError, match=match):
        tile_grid(100, 100, tile, overlap)


def test_feather_window_single_tile_is_flat() -> None:
    win = feather_window(Tile(0, 20, 0, 30), 20, 30, overlap=8)
    assert win.shape == (1, 1, 20, 30)
    assert torch.equal(win, torch.ones(1, 1, 20, 30))


def test_feather_window_ramps_towards_neighbours_only() -> None:
    h, w, overlap = 100, 130, 8
    tiles = tile_grid(h, w, 48, overlap)
    corner = next(t for t in tiles if t.y0 == 0 and t.x0 == 0)
    win = feather_window(corner, h, w, overlap)[0, 0]
    # Image border (top row, left column): weight 1 until the neighbour's ramp.
    assert torch.equal(win[0, : win.shape[1] - overlap], torch.ones(win.shape[1] - overlap))
    assert torch.equal(win[: win.shape[0] - overlap, 0], torch.ones(win.shape[0] - overlap))
    # Towards the neighbours (bottom, right): strictly decreasing, below 1, above 0.
    right = win[0, -overlap:]
    assert (right[1:] < right[:-1]).all() and float(right.max()) < 1 and float(right.min()) > 0
    bottom = win[-overlap:, 0]
    assert (bottom[1:] < bottom[:-1]).all()

    inner = next(t for t in tiles if t.y0 > 0 and t.x0 > 0 and t.y1 < h and t.x1 < w)
    win = feather_window(inner, h, w, overlap)[0, 0]
    mid_row = win[win.shape[0] // 2]
    assert (mid_row[1:overlap] > mid_row[: overlap - 1]).all()  # ramps up on the left
    assert (mid_row[-overlap + 1 :] < mid_row[-overlap:-1]).all()  # and down on the right
    assert float(mid_row[overlap : -overlap].min()) == 1.0
    assert float(win[0, 0]) < float(win[overlap, overlap]) == 1.0


def test_feather_window_no_overlap_is_flat() -> None:
    tiles = tile_grid(40, 40, 16, 0)
    for t in tiles:
        assert torch.equal(feather_window(t, 40, 40, 0), torch.ones(1, 1, t.y1 - t.y0, t.x1 - t.x0))


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), GRIDS)
def test_blender_reproduces_constant_and_any_image(h: int, w: int, tile: int, overlap: int) -> None:
    tiles = tile_grid(h, w, tile, overlap)
    constant = TileBlender((1, 3, h, w), overlap)
    image = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    exact = TileBlender(tuple(image.shape), overlap)
    for t in tiles:
        constant.add(t, torch.full((1, 3, t.y1 - t.y0, t.x1 - t.x0), 0.7))
        exact.add(t, image[:, :, t.y0 : t.y1, t.x0 : t.x1])
    # The normalised weights partition unity: a constant stays constant, and tiles that agree blend
    # back to exactly the image.
    torch.testing.assert_close(constant.result(), torch.full((1, 3, h, w), 0.7), rtol=0, atol=1e-6)
    torch.testing.assert_close(exact.result(), image, rtol=0, atol=1e-6)
    assert float(constant.weight.min()) > 0


def test_blender_cross_fades_disagreeing_tiles() -> None:
    h, w, overlap = 16, 40, 6
    tiles = tile_grid(h, w, 24, overlap)
    assert len(tiles) == 2
    blender = TileBlender((1, 1, h, w), overlap)
    for value, t in zip((0.0, 1.0), tiles):
        blender.add(t, torch.full((1, 1, t.y1 - t.y0, t.x1 - t.x0), value))
    row = blender.result()[0, 0, 0]
    left, right = tiles
    assert torch.equal(row[: right.x0], torch.zeros(right.x0))  # only the left tile
    assert torch.equal(row[left.x1 :], torch.ones(w - left.x1))  # only the right tile
    seam = row[right.x0 : left.x1]
    assert (seam[1:] >= seam[:-1]).all() and float(seam.min()) >= 0 and float(seam.max()) <= 1
