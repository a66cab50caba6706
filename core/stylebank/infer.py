"""Run a StyleBank model on an image: device placement, precision, timing.

The maths (fusion, strength, padding) is in :mod:`core.stylebank.fusion`, the stroke size that does
not depend on the resolution in :mod:`core.stylebank.scales`; this module adds what a front end
needs: no-grad evaluation, reduced precision on CUDA (autocast, bf16 where supported),
the result back on the CPU in float32, and the time it took.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..foundation.device import autocast_context
from ..foundation.errors import InputError
from .fusion import normalise_weights, stylebank_forward
from .scales import multiscale, resize_to
from .net import StyleBankNet


@dataclass
class StyleBankResult:
    """Output of :func:`stylize_stylebank`.

    Attributes:
        image: ``(B, 3, H, W)`` display sRGB in [0, 1], float32 on the CPU.
        weights: The normalised blend weights used.
        seconds: Wall time of the forward pass.
    """

    image: torch.Tensor
    weights: list[float]
    seconds: float


def stylize_stylebank(
    net: StyleBankNet,
    image: torch.Tensor,
    styles: list[str],
    *,
    weights: list[float] | tuple[float, ...] | None = None,
    masks: list[torch.Tensor] | None = None,
    strength: float = 1.0,
    device: torch.device | str | None = None,
    reference: int | None = None,
) -> StyleBankResult:
    """Stylise ``image`` with one style or a fusion (see :func:`core.stylebank.fusion.stylebank_forward`).

    Args:
        net: Loaded network.
        image: ``(B, 3, H, W)`` display sRGB in [0, 1].
        styles: Bank names.
        weights: Blend weights (normalised); equal when omitted.
        masks: Optional per-style masks ``(B or 1, 1, H, W)``.
        strength: 0 = identity branch, 1 = full style.
        device: Where to compute; the network's device when omitted.
        reference: Long side at which the network draws the strokes
            (:func:`core.stylebank.scales.reference_long_side`); ``None`` = one pass at the image's size.

    Raises:
        InputError: See :func:`core.stylebank.fusion.stylebank_forward`.
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net = net.to(device).eval()
    norm = normalise_weights(None if weights is None else list(weights), len(styles))
    amp = autocast_context(device) if device.type == "cuda" else nullcontext
    start = time.perf_counter()
    masks = None if masks is None else [m.to(device, torch.float32) for m in masks]
    if masks is not None and any(tuple(m.shape[-2:]) != tuple(image.shape[-2:]) for m in masks):
        raise InputError(f"every mask must be {image.shape[-1]}×{image.shape[-2]} like the image, got "
                         f"{', '.join(f'{m.shape[-1]}×{m.shape[-2]}' for m in masks)}")

    def run_pass(_: int, img: torch.Tensor) -> torch.Tensor:
        pass_masks = None if masks is None else [resize_to(m, tuple(img.shape[-2:])) for m in masks]
        return stylebank_forward(net, img, styles, weights=norm, masks=pass_masks, strength=strength).float()

    with torch.inference_mode(), amp():
        out = multiscale(image.to(device, torch.float32), reference, run_pass)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return StyleBankResult(out.float().clamp(0, 1).cpu(), norm, time.perf_counter() - start)
