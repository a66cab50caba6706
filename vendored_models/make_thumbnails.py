"""Write the vendored StyleBank model's style thumbnails (``stylebank/thumbnails/<style>.png``).

Each thumbnail is the model's own output on scikit-image's ``astronaut`` photo (NASA, public
domain), cropped square: the add-on's style menus show them. Run after the model changes:

    .venv/bin/python vendored_models/make_thumbnails.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch
    from skimage import data

    from core.stylebank.thumbnails import write_thumbnails

    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255.0
    for path in write_thumbnails(None, photo[..., :400, 60:460]):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
