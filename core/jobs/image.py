"""Stylise one still for the Image Editor's Stylize Image.

* StyleBank (one style or a weighted fusion) and Gatys run through
  :func:`core.jobs.stylize.run_stylize` at the working size, then colour preservation (StyleBank)
  and scaling back to the image's size (full-size runs) as for frames
  (:func:`core.engine.finish.finish_frame`).
* Analogy runs :func:`core.analogy.deep_analogy.deep_image_analogy` (Liao et al., SIGGRAPH 2017) with the
  image as A and the reference as B′ and writes both results: A′ (the image with the
  reference's look) and B (the reference with the image's look), each at its source's size
  for full-size runs.

Every result is an 8-bit display-referred PNG written atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.settings import FrameSettings


@dataclass(frozen=True)
class ImageTask:
    """One Stylize Image run.

    Attributes:
        content: The image to stylise (A for Analogy), a file core can read.
        settings: Method and styles; ``settings.size`` is the working long side (None = the
            image's size).
        outputs: ``{"stylized": path}``, or for Analogy ``{"a_prime": path, "b": path}``.
        scale_back: Write results at their source's size (full-size runs) instead of the
            working size (previews).
    """

    content: Path
    settings: FrameSettings
    outputs: dict
    scale_back: bool = True


def stylise_image(task: ImageTask, progress=None) -> dict:
    """Run the task; returns ``{key: written path}`` and ``"seconds"``.

    Raises:
        SettingsError: Bad settings. core.foundation.errors.*: Unreadable image, missing model or encoder
            weights, image too small for the analogy pyramid, cancelled by ``progress``.
    """
    from ..engine.finish import finish_frame
    from ..imaging.resize import resize, size_for_long_side
    from ..io.images import read_image, write_image
    from .stylize import run_stylize
    from ..requests.gatys import GatysConfig
    from ..requests.stylize import StylizeRequest

    started = time.perf_counter()
    s = task.settings
    s.validate()
    image = read_image(task.content)
    full = image.size
    size = full if s.size is None else size_for_long_side(*full, s.size)
    if s.method == "analogy":
        written = _analogy(task, image, size, progress)
    else:
        out = task.outputs["stylized"]
        request = StylizeRequest(
            content=task.content, output=out, method=s.method, size=s.size,
            styles=tuple(Path(p) for p in s.style_images), style_weights=s.style_weights, device=s.device,
            gatys=GatysConfig(iterations=s.gatys_iterations, preserve_color=s.preserve_color if s.method == "gatys"
                              else "none"),
            model=s.model_dir, style_names=s.style_names, strength=s.strength, stroke=s.stroke, bit_depth=8)
        run_stylize(request, progress)
        post = s.method != "gatys" and s.preserve_color != "none"
        if post or (task.scale_back and size != full):
            result = read_image(out)
            frame = resize(image.srgb(), size).clamp(0, 1)
            final = finish_frame(result.srgb(), frame, full if task.scale_back else size, method=s.method,
                                 preserve_color=s.preserve_color)
            alpha = image.alpha if task.scale_back or size == full else result.alpha
            write_image(out, final, alpha, colorspace="srgb", bit_depth=8)
        written = {"stylized": out}
    written["seconds"] = time.perf_counter() - started
    return written


def _analogy(task: ImageTask, image, size: tuple[int, int], progress) -> dict:
    from ..analogy.deep_analogy import deep_image_analogy
    from ..engine.finish import finish_frame
    from ..foundation.device import resolve_device
    from ..imaging.resize import resize
    from ..io.images import read_image, write_image
    from ..nn.vgg import get_encoder
    from ..requests.analogy import AnalogyConfig

    s = task.settings
    reference = read_image(s.style_images[0])
    encoder = get_encoder(None, device=resolve_device(s.device))
    result = deep_image_analogy(image.srgb(), reference.srgb(), encoder, config=AnalogyConfig(size=max(size)),
                                progress=progress)
    a_prime, b = result.a_prime, result.b
    if task.scale_back:
        a_prime = resize(a_prime, image.size).clamp(0, 1)
        b = resize(b, reference.size).clamp(0, 1)
    hw = tuple(a_prime.shape[-2:])
    a_prime = finish_frame(a_prime, resize(image.srgb(), hw).clamp(0, 1), hw, method=s.method,
                           preserve_color=s.preserve_color)
    return {"a_prime": write_image(task.outputs["a_prime"], a_prime, colorspace="srgb", bit_depth=8),
            "b": write_image(task.outputs["b"], b, colorspace="srgb", bit_depth=8)}
