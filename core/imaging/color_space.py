"""sRGB <-> linear transfer functions (IEC 61966-2-1).

The piecewise sRGB curve is used everywhere ``core`` converts between display values (PNG, JPEG,
8/16-bit TIFF) and scene-linear values (OpenEXR, 32-bit float TIFF). Both functions are exact
inverses of each other on ``[0, inf)``, work on any tensor shape and dtype, and are safe to
differentiate through (the branch that is not taken never sees an argument that would give a
NaN gradient).
"""

from __future__ import annotations

import torch

__all__ = [
    "SRGB_DECODE_THRESHOLD",
    "SRGB_ENCODE_THRESHOLD",
    "linear_to_srgb",
    "srgb_to_linear",
]

#: Encoded (sRGB) value below which the curve is linear: ``12.92 * SRGB_ENCODE_THRESHOLD``.
SRGB_DECODE_THRESHOLD = 0.04045
#: Linear value below which the curve is linear.
SRGB_ENCODE_THRESHOLD = 0.0031308

_GAMMA = 2.4
_A = 0.055
_LINEAR_SLOPE = 12.92


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB display values to linear light.

    ``v / 12.92`` for ``v <= 0.04045``, ``((v + 0.055) / 1.055) ** 2.4`` above. Values above 1
    follow the power curve; negative values are clamped to 0.

    Args:
        x: sRGB-encoded values, any shape, floating dtype.

    Returns:
        Linear values, same shape, dtype and device as ``x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.

    Shape:
        Any; the function is element-wise.
    """
    _check_float(x)
    x = x.clamp(min=0.0)
    low = x / _LINEAR_SLOPE
    high = ((x.clamp(min=SRGB_DECODE_THRESHOLD) + _A) / (1.0 + _A)).pow(_GAMMA)
    return torch.where(x <= SRGB_DECODE_THRESHOLD, low, high)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light as sRGB display values.

    ``12.92 * v`` for ``v <= 0.0031308``, ``1.055 * v ** (1 / 2.4) - 0.055`` above. Values above
    1 extend the power curve (the result is above 1 too; clip it for display); negative values
    are clamped to 0. Element-wise, like :func:`srgb_to_linear`: ``x`` any shape of a floating
    dtype (else ``TypeError``); the result has its shape, dtype and device.
    """
    _check_float(x)
    x = x.clamp(min=0.0)
    low = x * _LINEAR_SLOPE
    high = (1.0 + _A) * x.clamp(min=SRGB_ENCODE_THRESHOLD).pow(1.0 / _GAMMA) - _A
    return torch.where(x <= SRGB_ENCODE_THRESHOLD, low, high)


def _check_float(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"expected a floating-point torch.Tensor, got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else "")
        )
