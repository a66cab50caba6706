"""Run a :class:`~core.requests.stylize.StylizeRequest`: read, check, stylise, write atomically.

Every check that can fail on the user's input runs before any heavy work, and the output file
appears only when the whole job succeeded (temp file + rename), so a failed or cancelled job
leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..foundation.device import resolve_device
from ..foundation.errors import ImageTooLargeError, InputError, OutputError
from ..foundation.progress import ProgressCallback
from ..gatys.solver import stylize_gatys
from ..imaging.resize import resize, size_for_long_side
from ..io.formats import probe_image
from ..io.images import SUPPORTED_EXTENSIONS, ImageData, read_image, write_image
from ..requests.checks import check_memory
from ..nn.vgg import get_encoder
from ..requests.gatys import MAX_LONG_SIDE, MIN_SIDE
from ..requests.stylize import StylizeRequest
from ..foundation.output_lock import lock_path_for_file, output_lock
from .identity import stylebank_width
from .outputs import Place, refuse_output_overlap


@dataclass
class StylizeOutcome:
    """What a finished job produced.

    Attributes:
        output: The written file.
        seconds: Wall time of the whole job (reading to writing).
        losses: Final losses of the method.
        size: ``(H, W)`` of the output.
        device: Device that computed it.
        details: Method-specific facts (pyramid levels, tiles, iterations, encoder source).
    """

    output: Path
    seconds: float
    losses: dict[str, float]
    size: tuple[int, int]
    device: str
    details: dict


def check_output_path(output: Path, inputs: list[Path | Place]) -> None:
    """Refuse unsupported extensions and outputs that would overwrite an input.

    Args:
        output: The output file.
        inputs: Input files (paths) or :class:`~core.jobs.outputs.Place` (files and folders).

    Raises:
        OutputError: Unsupported extension, output is a folder, or it is or lies inside an input.
    """
    if output.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise OutputError(
            f"cannot write {output}: {output.suffix or 'no'} extension is not a supported image type "
            f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    if output.is_dir():
        raise OutputError(f"output {output} is a folder; give a file name such as {output / 'stylized.png'}")
    refuse_output_overlap([Place(output)], [p if isinstance(p, Place) else Place(Path(p)) for p in inputs], str(output))


def load_mask(path: Path, content: ImageData) -> torch.Tensor:
    """Read a mask image as ``(1, 1, H, W)`` weights in [0, 1] (mean of its RGB, display values).

    Raises:
        InputError: The mask's size differs from the content's.
    """
    mask = read_image(path)
    if mask.size != content.size:
        (mh, mw), (ch, cw) = mask.size, content.size
        raise InputError(f"mask {path} is {mw}×{mh} but the content {content.path} is {cw}×{ch}; masks must match")
    return mask.srgb().mean(dim=1, keepdim=True)


def _output_bit_depth(request: StylizeRequest, content: ImageData) -> int | None:
    if request.bit_depth is not None:
        return request.bit_depth
    fmt = SUPPORTED_EXTENSIONS[request.output.suffix.lower()]
    if fmt in ("png", "tiff") and content.bit_depth == 16:
        return 16
    return None


def run_stylize(request: StylizeRequest, progress: ProgressCallback | None = None) -> StylizeOutcome:
    """Execute a stylisation request end to end.

    Args:
        request: What to do.
        progress: Optional callback; returning ``False`` cancels (nothing is written).

    Returns:
        :class:`StylizeOutcome`.

    Raises:
        InputError, ImageReadError, ImageTooLargeError: Bad input (nothing is written).
        OutputError: Bad output path, or writing failed (no partial file is left).
        ModelError: Encoder weights missing or wrong.
        DeviceError: Requested device unavailable.
        Cancelled: The callback cancelled.
    """
    start = time.perf_counter()
    request.validate()
    output = Path(request.output)
    check_output_path(output, _input_places(request))
    _check_memory(request)
    with output_lock(lock_path_for_file(output), str(output)):
        return _run_locked(request, output, progress, start)


def _check_memory(request: StylizeRequest) -> None:
    """Refuse a working size whose memory estimate is absurd, from the content's header alone."""
    h, w, _ = probe_image(request.content)
    size = (h, w) if request.size is None else size_for_long_side(h, w, request.size)
    width = stylebank_width(request.model) if request.method == "stylebank" else 32
    check_memory(request.method, *size, model_width=width, budget_mb=request.gatys.memory_budget_mb)


def _input_places(request: StylizeRequest) -> list[Place]:
    places = [Place(Path(request.content), label="content image")]
    places += [Place(Path(p), label="style image") for p in request.styles]
    places += [Place(Path(p), label="mask") for p in request.masks]
    if request.method == "stylebank" and request.model is not None:
        places.append(Place(Path(request.model), folder=True, label="StyleBank model folder"))
    if request.encoder_weights is not None:
        places.append(Place(Path(request.encoder_weights), label="encoder weights"))
    return places


def _run_locked(request: StylizeRequest, output: Path, progress: ProgressCallback | None,
                start: float) -> StylizeOutcome:
    device = resolve_device(request.device)
    net = reference = None
    if request.method == "stylebank":  # load (and hash-check) the model before reading images
        from ..stylebank.manifest import stroke_reference
        from ..stylebank.model import load_model
        from ..stylebank.scales import reference_long_side

        net, manifest = load_model(request.model, list(request.style_names), device=device)
        reference = reference_long_side(stroke_reference(manifest), request.stroke)

    content = read_image(request.content)
    styles = [read_image(p).srgb() for p in request.styles]
    masks = [load_mask(Path(p), content) for p in request.masks] or None

    h, w = content.size
    size = (h, w) if request.size is None else size_for_long_side(h, w, request.size)
    content_rgb = resize(content.srgb(), size)
    masks = None if masks is None else [resize(m, size).clamp(0, 1) for m in masks]
    alpha = None if content.alpha is None else resize(content.alpha, size).clamp(0, 1)
    bit_depth = _output_bit_depth(request, content)

    if net is not None:
        from ..stylebank.infer import stylize_stylebank

        if max(size) > MAX_LONG_SIDE:
            raise ImageTooLargeError(f"working size {size[1]}×{size[0]} exceeds the {MAX_LONG_SIDE} px limit; "
                                     "choose a smaller size", setting="size")
        if min(size) < MIN_SIDE:
            raise InputError(f"working size {size[1]}×{size[0]} is too small; each side needs at least {MIN_SIDE} px",
                             setting="size")

        result = stylize_stylebank(net, content_rgb, list(request.style_names), weights=request.style_weights,
                                   masks=masks, strength=request.strength, device=device, reference=reference)
        written = write_image(output, result.image, alpha, colorspace="srgb", bit_depth=bit_depth)
        return StylizeOutcome(output=written, seconds=time.perf_counter() - start, losses={}, size=size,
                              device=str(device),
                              details={"styles": list(request.style_names), "weights": result.weights,
                                       "strength": request.strength, "stroke": request.stroke,
                                       "stroke_reference": reference, "model": str(request.model or "vendored"),
                                       "solve_seconds": result.seconds})

    encoder = get_encoder(request.encoder_weights, pooling=request.gatys.pooling, device=device)
    result = stylize_gatys(
        content_rgb,
        styles,
        encoder,
        config=request.gatys,
        style_weights=None if request.style_weights is None else list(request.style_weights),
        masks=masks,
        progress=progress,
    )
    written = write_image(output, result.image, alpha, colorspace="srgb", bit_depth=bit_depth)
    return StylizeOutcome(
        output=written,
        seconds=time.perf_counter() - start,
        losses=result.losses,
        size=size,
        device=str(device),
        details={
            "levels": [list(s) for s in result.levels],
            "iterations": result.iterations,
            "tiles": result.tiles,
            "encoder": encoder.source,
            "encoder_architecture": encoder.architecture,
            "solve_seconds": result.seconds,
        },
    )
