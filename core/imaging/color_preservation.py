"""Colour operations for colour preservation.

- Luminance-only transfer (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer"):
  stylise the luminance channel, keep the content's chroma. Done in YIQ on display sRGB values.
- Colour histogram matching: the style image's colours are transformed so their mean and
  covariance equal the content's (the linear colour transfer of the same paper, using the
  symmetric matrix square root), before the transfer.

All functions take and return ``(B, 3, H, W)`` display sRGB tensors in [0, 1].
"""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB → YIQ. Shape ``(B, 3, H, W)`` → ``(B, 3, H, W)`` (Y, I, Q)."""
    m = _RGB_TO_YIQ.to(rgb.device, rgb.dtype)
    return torch.einsum("ij,bjhw->bihw", m, rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """YIQ → sRGB (the exact inverse of :func:`rgb_to_yiq`)."""
    m = torch.linalg.inv(_RGB_TO_YIQ.double()).to(yiq.device, yiq.dtype)
    return torch.einsum("ij,bjhw->bihw", m, yiq)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, ``(B, 1, H, W)``."""
    return rgb_to_yiq(rgb)[:, :1]


def match_luminance_stats(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift and scale the style's luminance to the content's mean and std (Gatys et al. 2016, eq. 1)."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    c_mean, c_std = content_y.mean(), content_y.std()
    return ((style_y - s_mean) * (c_std / s_std) + c_mean).clamp(0.0, 1.0)


def gray3(y: torch.Tensor) -> torch.Tensor:
    """Replicate a ``(B, 1, H, W)`` luminance to 3 channels for the encoder."""
    return y.expand(-1, 3, -1, -1).contiguous()


def combine_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylised`` with the I/Q chroma of ``content`` (same size), clipped to [0, 1]."""
    yiq = rgb_to_yiq(content)
    yiq = torch.cat([luminance(stylised), yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0.0, 1.0)


def _sqrtm_sym(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals.pow(power)) @ vecs.T


def match_color_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Transform ``source``'s colours so their mean and covariance equal ``reference``'s.

    Args:
        source: ``(1, 3, H, W)`` image whose colours change (the style image).
        reference: ``(1, 3, H', W')`` image whose colour statistics are taken (the content).

    Returns:
        ``(1, 3, H, W)`` recoloured source, clipped to [0, 1].
    """
    src = source.double().reshape(3, -1)
    ref = reference.double().reshape(3, -1)
    mu_s, mu_r = src.mean(1, keepdim=True), ref.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64, device=src.device) * 1e-5
    cov_s = torch.cov(src) + eye
    cov_r = torch.cov(ref) + eye
    transform = _sqrtm_sym(cov_r) @ _sqrtm_sym(cov_s, inverse=True)
    out = transform @ (src - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0.0, 1.0)
