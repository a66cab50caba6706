"""Tests for core.imaging.color_preservation: YIQ, luminance transfer and colour histogram matching."""

from __future__ import annotations

import pytest
import torch

from core.imaging.color_preservation import (
    combine_luminance,
    gray3,
    luminance,
    match_color_histogram,
    match_luminance_stats,
    rgb_to_yiq,
    yiq_to_rgb,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_yiq_round_trip() -> None:
    rgb = torch.rand(2, 3, 8, 9, generator=_gen(0))
    yiq = rgb_to_yiq(rgb)
    assert yiq.shape == rgb.shape
    torch.testing.assert_close(yiq_to_rgb(yiq), rgb, rtol=0, atol=1e-6)
    torch.testing.assert_close(rgb_to_yiq(yiq_to_rgb(yiq)), yiq, rtol=0, atol=1e-6)
    rgb64 = rgb.double()
    assert yiq_to_rgb(rgb_to_yiq(rgb64)).dtype == torch.float64
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(rgb64)), rgb64, rtol=0, atol=1e-6)


def test_yiq_of_primaries() -> None:
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), rtol=0, atol=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(red).flatten(), torch.tensor([0.299, 0.595716, 0.211456]))


@pytest.mark.parametrize("value", [0.0, 0.18, 0.5, 1.0])
def test_luminance_of_gray_is_the_gray_value(value: float) -> None:
    gray = torch.full((2, 3, 4, 5), value)
    y = luminance(gray)
    assert y.shape == (2, 1, 4, 5)
    torch.testing.assert_close(y, torch.full((2, 1, 4, 5), value), rtol=0, atol=1e-6)
    torch.testing.assert_close(rgb_to_yiq(gray)[:, 1:], torch.zeros(2, 2, 4, 5), rtol=0, atol=1e-6)


def test_gray3() -> None:
    y = torch.rand(2, 1, 4, 5, generator=_gen(1))
    out = gray3(y)
    assert out.shape == (2, 3, 4, 5) and out.is_contiguous()
    for c in range(3):
        assert torch.equal(out[:, c : c + 1], y)


def test_combine_luminance_mid_range_keeps_content_chroma() -> None:
    # Mid-range inputs never clip: Y from the stylised image, I/Q from the content, exactly.
    content = 0.4 + 0.2 * torch.rand(1, 3, 10, 12, generator=_gen(2))
    stylised = 0.4 + 0.2 * torch.rand(1, 3, 10, 12, generator=_gen(3))
    out = combine_luminance(stylised, content)
    yiq = rgb_to_yiq(out)
    torch.testing.assert_close(yiq[:, 1:], rgb_to_yiq(content)[:, 1:], rtol=0, atol=1e-6)
    torch.testing.assert_close(yiq[:, :1], luminance(stylised), rtol=0, atol=1e-6)


def test_combine_luminance_keeps_chroma_where_not_clipped() -> None:
    content = torch.rand(1, 3, 32, 32, generator=_gen(4))
    stylised = torch.rand(1, 3, 32, 32, generator=_gen(5))
    out = combine_luminance(stylised, content)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    unclipped = yiq_to_rgb(torch.cat([luminance(stylised), rgb_to_yiq(content)[:, 1:]], 1))
    inside = ((unclipped >= 0) & (unclipped <= 1)).all(dim=1)  # (1, H, W)
    assert int(inside.sum()) > 100  # enough pixels to mean something
    got, want = rgb_to_yiq(out), rgb_to_yiq(content)
    for c in (1, 2):
        torch.testing.assert_close(got[:, c][inside], want[:, c][inside], rtol=0, atol=1e-6)
    torch.testing.assert_close(got[:, 0][inside], luminance(stylised)[:, 0][inside], rtol=0, atol=1e-6)


def _stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = image.double().reshape(3, -1)
    return flat.mean(1), torch.cov(flat)


def test_match_color_histogram_gives_the_reference_mean_and_covariance() -> None:
    source = torch.rand(1, 3, 24, 20, generator=_gen(6))  # wide, uncorrelated colours
    # A reference with small, strongly correlated colours around a warm mean (no clipping needed).
    mix = torch.tensor([[0.08, 0.02, 0.0], [0.05, 0.06, 0.0], [0.01, 0.03, 0.05]])
    noise = torch.randn(3, 30 * 26, generator=_gen(7))
    reference = (mix @ noise + torch.tensor([[0.6], [0.45], [0.3]])).reshape(1, 3, 30, 26)
    assert float(reference.min()) > 0 and float(reference.max()) < 1

    out = match_color_histogram(source, reference)
    assert out.shape == source.shape and out.dtype == source.dtype
    assert float(out.min()) > 0 and float(out.max()) < 1  # the check below is not hiding clipping
    mean_out, cov_out = _stats(out)
    mean_ref, cov_ref = _stats(reference)
    torch.testing.assert_close(mean_out, mean_ref, rtol=0, atol=1e-3)
    torch.testing.assert_close(cov_out, cov_ref, rtol=0, atol=1e-3)
    # The source did not already have those statistics.
    assert (_stats(source)[1] - cov_ref).abs().max() > 1e-2


def test_match_color_histogram_of_itself_is_identity() -> None:
    image = 0.2 + 0.6 * torch.rand(1, 3, 12, 12, generator=_gen(8))
    torch.testing.assert_close(match_color_histogram(image, image), image, rtol=0, atol=1e-4)


def test_match_luminance_stats() -> None:
    style_y = 0.1 + 0.3 * torch.rand(1, 1, 16, 16, generator=_gen(9))
    content_y = 0.5 + 0.1 * torch.randn(1, 1, 12, 14, generator=_gen(10))
    out = match_luminance_stats(style_y, content_y)
    assert out.shape == style_y.shape
    assert float(out.min()) > 0 and float(out.max()) < 1  # no clipping in this case
    assert out.mean().item() == pytest.approx(content_y.mean().item(), abs=1e-5)
    assert out.std().item() == pytest.approx(content_y.std().item(), rel=1e-4)
    # An affine map of the style: the correlation with the style is 1.
    corr = torch.corrcoef(torch.stack([out.flatten(), style_y.flatten()]))[0, 1]
    assert corr.item() == pytest.approx(1.0, abs=1e-5)


def test_match_luminance_stats_of_flat_style_does_not_divide_by_zero() -> None:
    out = match_luminance_stats(torch.full((1, 1, 4, 4), 0.3), torch.rand(1, 1, 4, 4, generator=_gen(11)))
    assert torch.isfinite(out).all()
