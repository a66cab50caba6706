"""A style's calibrated full strength: no style overpowers the content at Strength 1.

Each style's **content departure** is how far the *structure* of its pictures moves from the
photos: the loss network's content loss (squared feature error normalised per layer by the
target's features, as in training, averaged over the photos) between the luma of the style's
picture and the luma of the model's unstylised picture of the photo (strength 0: so the
auto-encoder's own imperfection is not counted against any style). Luma, because a palette is the style's to change: measured in colour, a style that
mostly recolours (la_muse) departed further than one that paints a man away (poitiers), the
opposite of what the pictures show; in luma the order is the pictures' (see docs/stylebank.md).
:func:`calibrate_strengths` scales each bank's change down (``Bank.scale``, the ``strength`` key
of ``model.toml``, 0…1) until its departure is at most a target, and leaves the styles within it
at 1. The default target is :data:`MEDIAN_FACTOR` × the median departure of the model's styles at
full strength: only the styles that depart clearly further than a typical one come down. The
Strength setting of every front end then scales from the calibrated value.

The departure of a bank is close to monotonic in its scale (the scale blends the bank's change
with the identity features), so a bisection on the scale finds it; where it is not, the bisection
still ends at a scale whose departure is within the target.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from ..foundation.errors import InputError
from ..nn.losses import normalised_content_loss
from ..nn.vgg import MultiLayerEncoder
from .infer import stylize_stylebank
from .manifest import MANIFEST
from .model import read_manifest, write_manifest
from .net import StyleBankNet

__all__ = ["Calibration", "calibrate_strengths", "content_departure", "identity_features", "write_strengths"]

#: Lowest calibrated strength: below it a style is hardly itself; such a style is a model problem.
FLOOR = 0.3
#: The default target: this many times the median departure of the styles at full strength.
MEDIAN_FACTOR = 1.25
#: Bisection steps on the scale (its resolution: ``(1 − FLOOR) / 2**7`` ≈ 0.005).
ITERATIONS = 7


@dataclass
class Calibration:
    """What :func:`calibrate_strengths` found.

    Attributes:
        target: The departure no style exceeds at its calibrated strength.
        strengths: Style → calibrated full strength (0…1, rounded to 0.01).
        full: Style → departure at strength 1.
        calibrated: Style → departure at its calibrated strength.
    """

    target: float
    strengths: dict[str, float]
    full: dict[str, float]
    calibrated: dict[str, float]


def _grey(image: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of ``(B, 3, H, W)`` sRGB, as three equal channels."""
    luma = (image * image.new_tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return luma.expand(-1, 3, -1, -1)


def identity_features(net: StyleBankNet, photos: list[torch.Tensor], vgg: MultiLayerEncoder,
                      layers: tuple[str, ...], reference: int | None = None) -> list[dict[str, torch.Tensor]]:
    """The loss network's features of the luma of the model's unstylised picture (strength 0) of each photo."""
    any_style = net.styles[0]
    with torch.no_grad():
        return [vgg(_grey(stylize_stylebank(net, p, [any_style], strength=0.0, reference=reference).image), layers)
                for p in photos]


def content_departure(net: StyleBankNet, style: str, scale: float, photos: list[torch.Tensor],
                      vgg: MultiLayerEncoder, layers: tuple[str, ...], reference: int | None = None,
                      targets: list[dict[str, torch.Tensor]] | None = None) -> float:
    """Mean :func:`~core.nn.losses.normalised_content_loss` between the luma of ``style``'s pictures
    at bank scale ``scale`` and the luma of the model's unstylised pictures of ``photos`` (each
    ``(1, 3, H, W)`` in [0, 1]), stylised as the product does (``reference``: the stroke pyramid).

    Measured against the unstylised picture rather than the photo, the departure is the style's
    alone (0 at scale 0), not the auto-encoder's. ``targets``: :func:`identity_features`, when
    already computed.
    """
    targets = targets if targets is not None else identity_features(net, photos, vgg, layers, reference)
    bank = net.banks[style]
    kept = bank.scale
    bank.scale = scale
    try:
        losses = []
        with torch.no_grad():
            for photo, target in zip(photos, targets):
                picture = _grey(stylize_stylebank(net, photo, [style], reference=reference).image)
                losses.append(float(normalised_content_loss(vgg(picture, layers), target, layers)))
        return statistics.fmean(losses)
    finally:
        bank.scale = kept


def calibrate_strengths(net: StyleBankNet, photos: list[torch.Tensor], vgg: MultiLayerEncoder, *,
                        layers: tuple[str, ...] = ("relu3_3",), target: float | None = None,
                        reference: int | None = None, styles: list[str] | None = None,
                        progress=None) -> Calibration:
    """Each style's largest strength (``FLOOR``…1) whose content departure is at most ``target``.

    Args:
        net: The model with the banks to calibrate loaded.
        photos: Content photos, ``(1, 3, H, W)`` in [0, 1] (a handful of varied ones).
        vgg: The loss network.
        layers: Its content layers (the model's training loss's; ``model.toml [base.loss]``).
        target: The departure no style may exceed; ``None``: :data:`MEDIAN_FACTOR` × the median of
            the styles at strength 1.
        reference: Stroke reference of the model (see :func:`content_departure`).
        styles: The styles to calibrate (default all); the median is taken over these.
        progress: Optional ``callable(str)`` told which style is being measured.

    Raises:
        InputError: No photos, an unknown style, or a target that is not a positive number.
    """
    if not photos:
        raise InputError("calibration needs at least one content photo")
    styles = list(styles or net.styles)
    unknown = [s for s in styles if s not in net.banks]
    if unknown:
        raise InputError(f"unknown style(s) {unknown}; this model has: {', '.join(net.styles)}")
    if target is not None and not (isinstance(target, (int, float)) and target > 0):
        raise InputError(f"the target content departure must be a positive number, got {target!r}")

    targets = identity_features(net, photos, vgg, layers, reference)

    def departure(style: str, scale: float) -> float:
        return content_departure(net, style, scale, photos, vgg, layers, reference, targets)

    full = {}
    for style in styles:
        if progress:
            progress(f"measuring {style}")
        full[style] = departure(style, 1.0)
    goal = float(target) if target is not None else MEDIAN_FACTOR * statistics.median(full.values())
    strengths, calibrated = {}, {}
    for style in styles:
        if full[style] <= goal:
            strengths[style], calibrated[style] = 1.0, full[style]
            continue
        if progress:
            progress(f"calibrating {style}")
        low, high = FLOOR, 1.0  # departure(low) is taken as within the goal; high is not
        low_value = departure(style, low)
        if low_value > goal:
            strengths[style], calibrated[style] = FLOOR, low_value
            continue
        for _ in range(ITERATIONS):
            mid = (low + high) / 2
            value = departure(style, mid)
            if value <= goal:
                low, low_value = mid, value
            else:
                high = mid
        strengths[style], calibrated[style] = round(low, 2), low_value
    return Calibration(goal, strengths, full, calibrated)


def write_strengths(model_dir: str | Path, strengths: dict[str, float]) -> None:
    """Put ``strengths`` into the styles' tables of the folder's ``model.toml`` (atomically).

    Raises:
        InputError: A style the manifest does not list, or a strength outside 0…1.
        ModelError: The manifest cannot be read.
    """
    manifest = read_manifest(model_dir)
    listed = manifest.get("styles", {})
    for name, value in strengths.items():
        if name not in listed:
            raise InputError(f"style {name!r} is not in {Path(model_dir) / MANIFEST}")
        if not 0.0 <= value <= 1.0:
            raise InputError(f"strength of {name!r} must be in 0…1, got {value}")
    for name, value in strengths.items():
        listed[name]["strength"] = float(value)
    write_manifest(model_dir, manifest)
