"""Run an :class:`~core.requests.analogy.AnalogyRequest`: A + B′ → A′ and B, written into a folder.

Every check that can fail on the user's input (settings, both images, the working sizes, the
output folder) runs before the encoder is loaded. The algorithm runs at the working size
(:attr:`AnalogyConfig.size <core.requests.analogy.AnalogyConfig.size>`); its results are then
scaled to the inputs' own sizes (A′ like A, B like B′) unless ``result_size`` asks for another
long side. The files are written into a hidden staging folder beside the results and moved in
only when all of them are done, so a failed or cancelled job leaves the folder as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..analogy.deep_analogy import deep_image_analogy
from ..analogy.nnf import nnf_to_color
from ..foundation.device import resolve_device
from ..foundation.errors import OutputError
from ..foundation.progress import ProgressCallback
from ..imaging.resize import resize, size_for_long_side
from ..io.images import read_image, write_image
from ..nn.vgg import get_encoder
from ..requests.analogy import AnalogyRequest, check_analogy_size
from ..foundation.output_lock import FOLDER_LOCK_NAME, output_lock
from .outputs import Place, refuse_output_overlap

__all__ = ["A_PRIME_NAME", "B_NAME", "NNF_NAMES", "AnalogyOutcome", "run_analogy"]

#: File names of the results in the output folder.
A_PRIME_NAME, B_NAME = "A_prime.png", "B.png"
#: File names of the exported correspondence fields (``AnalogyRequest.export_nnf``).
NNF_NAMES = ("nnf_ab.npy", "nnf_ba.npy", "nnf_ab.png", "nnf_ba.png")


@dataclass
class AnalogyOutcome:
    """What a finished analogy job wrote.

    Attributes:
        a_prime: The A′ file.
        b: The B file.
        nnf: ``{"nnf_ab": path, "nnf_ba": path, "nnf_ab_png": path, "nnf_ba_png": path}`` when
            exported, else ``None``.
        size_a: ``(H, W)`` of the written A′.
        size_b: ``(H, W)`` of the written B.
        working_size_a: ``(H, W)`` at which A was analysed (the NNFs' grid over A).
        working_size_b: ``(H, W)`` at which B′ was analysed.
        seconds: Wall time per stage of the algorithm (see
            :class:`~core.analogy.deep_analogy.AnalogyResult`) and ``job`` for the whole job.
        device: Device that computed it.
        architecture: Encoder architecture (``"vgg16"`` or ``"vgg19"``).
        layers: Level → layer used.
    """

    a_prime: Path
    b: Path
    nnf: dict[str, Path] | None
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    working_size_a: tuple[int, int]
    working_size_b: tuple[int, int]
    seconds: dict[str, float] = field(default_factory=dict)
    device: str = ""
    architecture: str = ""
    layers: dict[str, str] = field(default_factory=dict)


def _result_size(source: tuple[int, int], result_size: int | None) -> tuple[int, int]:
    return source if result_size is None else size_for_long_side(*source, result_size)


def run_analogy(request: AnalogyRequest, progress: ProgressCallback | None = None) -> AnalogyOutcome:
    """Check the request and both images, run the analogy at the working size, write A′ and B.

    Args:
        request: The images, the output folder and the settings.
        progress: Called after every PatchMatch iteration and deconvolution step; returning
            ``False`` cancels, and then nothing is written.

    Returns:
        :class:`AnalogyOutcome` (the written files and their sizes).

    Raises:
        InputError, ImageReadError: Bad settings or images, or a working size the pyramid cannot
            handle (nothing is written).
        OutputError: The output is a file or one of the inputs, or writing failed (the folder is
            left as it was).
        ModelError: Encoder weights missing or wrong.
        DeviceError: Requested device unavailable.
        Cancelled: The callback cancelled.
    """
    started = time.perf_counter()
    request.validate()
    config = request.analogy
    out_dir = Path(request.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output {out_dir} is a file; give a folder for {A_PRIME_NAME} and {B_NAME}")
    names = [A_PRIME_NAME, B_NAME, *(NNF_NAMES if request.export_nnf else ())]
    # The job writes these files (through a fresh hidden staging folder): the folder itself may
    # hold the inputs (``-o .``), the files may not be one of them or lie inside an input folder.
    inputs = [Place(Path(request.a), label="image A"), Place(Path(request.b_prime), label="image B′")]
    if request.encoder_weights is not None:
        inputs.append(Place(Path(request.encoder_weights), label="encoder weights"))
    refuse_output_overlap([Place(out_dir / name) for name in names], inputs)
    refuse_output_overlap([Place(out_dir)], inputs[:2])  # the folder is not an input file either
    with output_lock(out_dir / FOLDER_LOCK_NAME, str(out_dir)):
        return _run_locked(request, out_dir, names, progress, started)


def _run_locked(request: AnalogyRequest, out_dir: Path, names: list[str], progress: ProgressCallback | None,
                started: float) -> AnalogyOutcome:
    config = request.analogy
    images = {}
    for label, path in (("A", request.a), ("B′", request.b_prime)):
        data = read_image(path)
        check_analogy_size(size_for_long_side(*data.size, config.size), config.levels, f"{label} ({path})")
        images[label] = data
    size_a = _result_size(images["A"].size, request.result_size)
    size_b = _result_size(images["B′"].size, request.result_size)
    device = resolve_device(request.device)
    encoder = get_encoder(request.encoder_weights, device=device)

    result = deep_image_analogy(images["A"].srgb(), images["B′"].srgb(), encoder, config=config, progress=progress)
    a_prime = resize(result.a_prime, size_a).clamp(0, 1)
    b = resize(result.b, size_b).clamp(0, 1)
    working_a, working_b = tuple(result.a_prime.shape[-2:]), tuple(result.b.shape[-2:])

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".analogy-", suffix=".tmp", dir=out_dir))
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    try:
        write_image(staging / A_PRIME_NAME, a_prime)
        write_image(staging / B_NAME, b)
        if request.export_nnf:
            for tag, nnf, target_hw in (("ab", result.nnf_ab, working_b), ("ba", result.nnf_ba, working_a)):
                np.save(staging / f"nnf_{tag}.npy", nnf.numpy().astype(np.int64))
                color = torch.from_numpy(nnf_to_color(nnf, target_hw)).permute(2, 0, 1).float() / 255.0
                write_image(staging / f"nnf_{tag}.png", color)
        for name in names:
            os.replace(staging / name, out_dir / name)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    nnf = None
    if request.export_nnf:
        nnf = {n.split(".")[0] + ("_png" if n.endswith(".png") else ""): out_dir / n for n in NNF_NAMES}
    return AnalogyOutcome(
        a_prime=out_dir / A_PRIME_NAME, b=out_dir / B_NAME, nnf=nnf, size_a=size_a, size_b=size_b,
        working_size_a=working_a, working_size_b=working_b,
        seconds={**result.seconds, "job": round(time.perf_counter() - started, 4)},
        device=str(device), architecture=result.architecture, layers=result.layers,
    )
