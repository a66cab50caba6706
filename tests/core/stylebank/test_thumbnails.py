"""Style thumbnails: the model's own output per bank, square, in ``thumbnails/``."""

from __future__ import annotations

import numpy as np

from core.io.images import read_image
from core.stylebank.thumbnails import THUMBNAIL_DIR, write_thumbnails
from tests.addon.helpers import tiny_model
from tests.conftest import photo


def test_one_square_thumbnail_per_style(tmp_path) -> None:
    model = tiny_model(tmp_path / "m", seed=1)
    written = write_thumbnails(model, photo("astronaut", 96), size=32, work_side=64)
    assert sorted(p.name for p in written) == ["a.png", "b.png"]
    assert all(p.parent == model / THUMBNAIL_DIR for p in written)
    a, b = (read_image(p) for p in sorted(written))
    assert a.size == b.size == (32, 32)
    assert np.abs(a.srgb().numpy() - b.srgb().numpy()).mean() > 0.01  # each bank shows its own look
    assert [p.name for p in write_thumbnails(model, photo("astronaut", 96), styles=["b"], size=32)] == ["b.png"]
