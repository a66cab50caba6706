"""The vendored default StyleBank model on real photos: it loads offline, stylises, keeps the content."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.stylebank.infer import stylize_stylebank
from core.stylebank.model import DEFAULT_MODEL_DIR, load_model
from tests.conftest import SHARED, photo


@pytest.fixture(scope="module")
def vendored():
    net, manifest = load_model(None)  # every file checked against model.toml and registry.toml
    return net, manifest


def _edges(img: torch.Tensor) -> np.ndarray:
    import cv2

    gray = (img[0].mean(0).numpy() * 255).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)).ravel()


def test_vendored_model_has_eight_styles_and_records_its_training(vendored):
    net, manifest = vendored
    assert len(net.styles) >= 8
    base = manifest["base"]
    for key in ("content", "steps", "size", "hardware"):
        assert base.get(key), f"model.toml [base] lacks {key}"
    assert (DEFAULT_MODEL_DIR / "base.safetensors").stat().st_size < 2_000_000


def test_vendored_model_stylises_a_real_photo_and_keeps_its_structure(vendored):
    net, _ = vendored
    x = photo("astronaut", 256)
    outs = {s: stylize_stylebank(net, x, [s]).image for s in net.styles}
    e_in = _edges(x)
    for name, out in outs.items():
        assert out.shape == x.shape and torch.isfinite(out).all()
        changed = (out - x).abs().mean().item()
        assert changed > 0.05, f"{name} barely changes the photo ({changed:.3f})"
        corr = np.corrcoef(e_in, _edges(out))[0, 1]
        assert corr > 0.25, f"{name} lost the photo's structure (edge correlation {corr:.2f})"
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert (outs[a] - outs[b]).abs().mean().item() > 0.02, f"{a} and {b} look the same"


@pytest.mark.shared_data
def test_vendored_styles_move_the_photo_towards_their_style_images(vendored, encoder):
    """Gram style loss to each style image drops well below the unstylised photo's."""
    from core.io.images import read_image
    from core.stylebank.train import PerceptualLoss, TrainConfig

    net, manifest = vendored
    styles_dir = SHARED / "data" / "styles"
    x = photo("coffee", 256)
    cfg = TrainConfig()
    images = {s: read_image(styles_dir / manifest["styles"][s]["image"]).srgb() for s in net.styles}
    loss = PerceptualLoss(encoder, cfg, images)
    for s in net.styles:
        out = stylize_stylebank(net, x, [s]).image
        with torch.no_grad():
            before = float(loss(x, x, s)["style"])
            after = float(loss(out, x, s)["style"])
        assert after < 0.6 * before, f"{s}: style loss {before:.3f} → {after:.3f}"
