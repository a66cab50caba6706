"""Tests for core.nn.losses: analytic goldens for Gram, masked Gram, content, style and total variation."""

from __future__ import annotations

import re

import pytest
import torch

from core.foundation.errors import InputError
from core.nn.losses import content_loss, gram_matrix, resize_mask, style_loss, total_variation

# A hand-made (1, 2, 2, 2) feature map: channel 0 = [[1, 2], [3, 4]], channel 1 = [[0, 1], [-1, 2]].
FEATURES = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])
# F Fᵀ by hand: <c0, c0> = 1+4+9+16 = 30, <c0, c1> = 0+2-3+8 = 7, <c1, c1> = 0+1+1+4 = 6.
GRAM_UNNORMALISED = torch.tensor([[30.0, 7.0], [7.0, 6.0]])


def _rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_gram_golden() -> None:
    gram = gram_matrix(FEATURES)
    assert gram.shape == (1, 2, 2) and gram.dtype == torch.float32
    torch.testing.assert_close(gram[0], GRAM_UNNORMALISED / (2 * 2 * 2), rtol=0, atol=1e-7)


def test_gram_is_batched_and_size_independent() -> None:
    feats = _rand(3, 4, 5, 6)
    gram = gram_matrix(feats)
    for b in range(3):
        torch.testing.assert_close(gram[b], gram_matrix(feats[b : b + 1])[0])
    torch.testing.assert_close(gram, gram.transpose(1, 2))
    # Tiling the map 2 × 2 keeps the normalised Gram (scale does not depend on the size).
    torch.testing.assert_close(gram_matrix(feats.repeat(1, 1, 2, 2)), gram)


def test_masked_gram_all_ones_equals_unmasked() -> None:
    feats = _rand(2, 4, 5, 6)
    torch.testing.assert_close(gram_matrix(feats, torch.ones(2, 1, 5, 6)), gram_matrix(feats))
    torch.testing.assert_close(gram_matrix(feats, torch.ones(1, 1, 5, 6)), gram_matrix(feats))  # broadcast mask


def test_masked_gram_golden_half() -> None:
    # Keep the top row: c0 = [1, 2], c1 = [0, 1] → [[5, 2], [2, 1]] over C · Σm = 2 · 2.
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    expected = torch.tensor([[5.0, 2.0], [2.0, 1.0]]) / 4
    torch.testing.assert_close(gram_matrix(FEATURES, mask)[0], expected, rtol=0, atol=1e-7)


def test_masked_gram_equals_gram_of_the_selected_half() -> None:
    feats = _rand(1, 3, 6, 8)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :, :4] = 1.0  # left half
    torch.testing.assert_close(gram_matrix(feats, mask), gram_matrix(feats[..., :4]))
    checker = (torch.arange(6)[:, None] + torch.arange(8)[None, :]) % 2 == 0
    picked = feats[0][:, checker]  # (C, 24)
    expected = picked @ picked.T / (3 * picked.shape[1])
    torch.testing.assert_close(gram_matrix(feats, checker[None, None].float())[0], expected)


def test_soft_mask_weights_positions() -> None:
    mask = torch.tensor([[[[0.5, 0.0], [0.0, 0.25]]]])
    # 0.5 · (p00 p00ᵀ) + 0.25 · (p11 p11ᵀ), p00 = (1, 0), p11 = (4, 2); over C · Σm = 2 · 0.75.
    expected = (0.5 * torch.tensor([[1.0, 0.0], [0.0, 0.0]]) + 0.25 * torch.tensor([[16.0, 8.0], [8.0, 4.0]])) / 1.5
    torch.testing.assert_close(gram_matrix(FEATURES, mask)[0], expected)


def test_empty_mask_gives_zero_not_nan() -> None:
    gram = gram_matrix(_rand(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))
    assert torch.equal(gram, torch.zeros(1, 3, 3))


def test_content_loss_golden() -> None:
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = torch.tensor([[[[1.0, 0.0], [3.0, 7.0]]]])
    # squared differences 0, 4, 0, 9 → mean 13 / 4
    assert content_loss(a, b).item() == pytest.approx(13 / 4)
    assert content_loss(a, a).item() == 0.0


def test_style_loss() -> None:
    feats = _rand(1, 4, 6, 6)
    assert style_loss(feats, gram_matrix(feats)).item() == 0.0
    other = _rand(1, 4, 6, 6, seed=1)
    expected = (gram_matrix(feats) - gram_matrix(other)).pow(2).mean()
    assert style_loss(feats, gram_matrix(other)).item() == pytest.approx(expected.item(), rel=1e-6)
    assert style_loss(feats, gram_matrix(other)).item() > 0
    # A (1, C, C) target serves a batch; a mask enters through the masked Gram.
    batch = torch.cat([feats, feats])
    assert style_loss(batch, gram_matrix(feats)).item() == 0.0
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3, :] = 1
    assert style_loss(feats, gram_matrix(feats[..., :3, :]), mask).item() == pytest.approx(0.0, abs=1e-12)


def test_total_variation_of_a_ramp() -> None:
    # x[i, j] = a·j + b·i: every vertical step is b, every horizontal step a → TV = a² + b².
    a, b = 0.1, 0.25
    rows = torch.arange(5.0)[:, None]
    cols = torch.arange(7.0)[None, :]
    ramp = (a * cols + b * rows).expand(2, 3, 5, 7)
    assert total_variation(ramp).item() == pytest.approx(a * a + b * b, rel=1e-5)
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0


def test_total_variation_checkerboard() -> None:
    board = ((torch.arange(4)[:, None] + torch.arange(6)[None, :]) % 2).float()[None, None]
    assert total_variation(board).item() == pytest.approx(2.0)  # every neighbour differs by 1


def test_gram_gradcheck_float64() -> None:
    # gram_matrix computes in float32 by design (its docstring: "float32 Gram matrices"), so a float64
    # gradcheck at the default eps=1e-6 only measures float32 rounding. The Gram is quadratic, so
    # central differences are exact at any step: eps=0.1 leaves only float32 rounding (~1e-7).
    feats = _rand(2, 3, 4, 5, dtype=torch.float64).requires_grad_(True)
    mask = _rand(2, 1, 4, 5, seed=1, dtype=torch.float64)
    assert torch.autograd.gradcheck(gram_matrix, (feats,), eps=0.1, atol=1e-5, rtol=1e-3)
    assert torch.autograd.gradcheck(lambda f: gram_matrix(f, mask), (feats,), eps=0.1, atol=1e-5, rtol=1e-3)


def test_gram_gradient_closed_form() -> None:
    # d/dF Σ W ⊙ G with G = F Fᵀ / (C·H·W) is (W + Wᵀ) F / (C·H·W).
    feats = _rand(1, 3, 4, 5, dtype=torch.float64).requires_grad_(True)
    weights = _rand(3, 3, seed=2, dtype=torch.float64)
    (gram_matrix(feats)[0].double() * weights).sum().backward()
    flat = feats.detach().reshape(3, 20)
    expected = ((weights + weights.T) @ flat / 60).reshape(1, 3, 4, 5)
    torch.testing.assert_close(feats.grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("call", "shape"),
    [
        (lambda x: gram_matrix(x), (2, 3, 4)),
        (lambda x: content_loss(x, x), (3, 4)),
        (lambda x: style_loss(x, torch.zeros(1, 2, 2)), (2, 3, 4, 5, 6)),
        (lambda x: total_variation(x), (4, 4)),
    ],
    ids=["gram_matrix", "content_loss", "style_loss", "total_variation"],
)
def test_wrong_dims_raise_input_error(call, shape) -> None:
    with pytest.raises(InputError, match=re.escape(str(shape))):
        call(torch.zeros(shape))


def test_shape_mismatch_messages() -> None:
    with pytest.raises(InputError, match=re.escape("(1, 2, 3, 3) vs target (1, 2, 3, 4)")):
        content_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
    with pytest.raises(InputError, match=re.escape("Gram (1, 2, 2) vs target (1, 3, 3)")):
        style_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3))


def test_mask_at_wrong_resolution_is_an_input_error() -> None:
    with pytest.raises(InputError, match=re.escape("(1, 1, 2, 2)")):
        gram_matrix(torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 2, 2))


def test_total_variation_of_a_single_row_is_an_input_error() -> None:
    with pytest.raises(InputError):
        total_variation(torch.rand(1, 3, 1, 5))


def test_resize_mask() -> None:
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :4] = 1.0
    assert resize_mask(mask, (8, 8)) is mask
    down = resize_mask(mask, (4, 4))
    torch.testing.assert_close(down, torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(1, 1, 4, 4))
    up = resize_mask(mask, (16, 16))
    assert up.shape == (1, 1, 16, 16) and float(up.min()) >= 0 and float(up.max()) <= 1


def test_grid_energy_finds_a_periodic_pattern_and_training_on_it_removes_the_pattern():
    from core.nn.losses import grid_energy
    from tests.conftest import photo

    clean = photo("astronaut", 128)
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    pattern = (((yy % 4) == 0) | ((xx % 4) == 0)).float() * 0.04  # faint lines every 4 px, as a decoder draws them
    gridded = (clean + pattern).clamp(0, 1)
    assert float(grid_energy(clean, 4)) < 0.005
    assert float(grid_energy(gridded, 4)) > 10 * float(grid_energy(clean, 4))
    shifted = torch.roll(gridded, shifts=(1, 2), dims=(-2, -1))  # the phase does not matter, only the period
    assert abs(float(grid_energy(shifted, 4)) - float(grid_energy(gridded, 4))) < 0.2 * float(grid_energy(gridded, 4))
    assert float(grid_energy(gridded, 3)) < 0.2 * float(grid_energy(gridded, 4))  # another period does not see it
    x = gridded.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.003)
    for _ in range(60):
        opt.zero_grad()
        grid_energy(x, 4).backward()
        opt.step()
    assert float(grid_energy(x.detach(), 4)) < 0.25 * float(grid_energy(gridded, 4))
    assert float((x.detach() - gridded).abs().mean()) < 0.03  # it removes the pattern, not the picture
    with pytest.raises(InputError, match="at least 16"):
        grid_energy(clean[..., :12, :12], 4)


def test_grid_energy_in_levels_cannot_be_lowered_by_adding_noise():
    from core.nn.losses import grid_energy
    from tests.conftest import photo

    clean = photo("coffee", 128)
    yy, xx = torch.meshgrid(torch.arange(clean.shape[-2]), torch.arange(clean.shape[-1]), indexing="ij")
    gridded = clean + (((yy % 4) == 0) | ((xx % 4) == 0)).float() * (4 / 255)
    noisy = gridded + torch.randn(gridded.shape, generator=torch.Generator().manual_seed(0)) * 0.05
    # the share of the fine detail falls when noise is added; the periodic energy itself does not
    assert float(grid_energy(noisy, 4)) < 0.8 * float(grid_energy(gridded, 4))
    absolute = float(grid_energy(gridded, 4, relative=False))
    assert float(grid_energy(noisy, 4, relative=False)) > 0.8 * absolute
    assert 0.5 < absolute < 5 and float(grid_energy(clean, 4, relative=False)) < 0.5  # 8-bit levels²
