"""Learn a new StyleBank style from one painting: :class:`LearnStyleRequest` → :func:`run_learn_style`.

The "fast path" of StyleBank (Chen et al., CVPR 2017, §5.3, incremental learning): the encoder,
the decoder and every other bank stay frozen and only the new style's bank is trained
(:func:`core.stylebank.train.add_style`), minutes instead of the hours a new feed-forward network
takes. The job around it:

1. checks everything that can fail on the user's input first (name, images, folders, an
   unfinished run's settings) and raises one clear error before any work, leaving nothing;
2. when the target model folder does not exist yet, makes it a copy of the base model (the
   vendored model, or the folder the user chose), atomically: copied into a temporary folder
   beside it, checked against the manifest's sha256, then renamed into place; the source is
   only read;
3. trains the bank, resuming exactly where an unfinished run of the same name stopped (its
   checkpoint is written every :data:`CHECKPOINT_EVERY` steps and when cancelled), and reports
   each step with the seconds per step measured in this run and the time left.

Default cost (measured on this project's 2-core Xeon dev machine, bf16 autocast, the vendored
width-16 model, :data:`DEFAULT_SIZE` px crops, batch :data:`DEFAULT_BATCH`): see
:data:`DEFAULT_STEPS`.

The request is torch-free (the add-on builds and validates it in a Blender without PyTorch);
torch is imported only when the job runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..foundation.errors import InputError, ModelError, OutputError, one_line_reason
from ..foundation.progress import ProgressCallback, ProgressEvent
from ..requests.checks import check_number
from ..stylebank.manifest import MANIFEST, check_style_name, read_manifest

__all__ = ["CHECKPOINT_EVERY", "DEFAULT_BATCH", "DEFAULT_SIZE", "DEFAULT_STEPS", "LearnStyleOutcome",
           "LearnStyleRequest", "eta_text", "run_learn_style", "style_name_from_file",
           "style_name_from_text"]

DEFAULT_STEPS = 200
"""Training steps of a default run. Measured on the 2-core Xeon dev machine (bf16 autocast, the
vendored width-16 model, 160 px crops, batch 4, 30 BSDS500 photos): 2.13 s of process CPU time per
step on 2 threads, i.e. about 1.1 s per step when the two cores are free (the quietest steps of
an 8-step probe took 1.2–1.4 s of wall time), so about 4 minutes for 200 steps plus about 10 s
to load the loss network and the photos. While the machine was shared with two other trainings
(load average 10) a whole default run took 940 s (4.7 s per step). On a GPU: seconds."""
DEFAULT_SIZE = 160
"""Side of the square content crops (px). The vendored model was trained at 128 px."""
DEFAULT_BATCH = 4
"""Content crops per step."""
CHECKPOINT_EVERY = 10
"""Steps between checkpoints: a killed Blender loses at most this many steps (a cancel loses none)."""


def style_name_from_file(path: str | os.PathLike[str]) -> str:
    """A valid style name from an image's file name: ``"My Painting (2).jpg"`` → ``"my_painting_2"``.

    Letters and digits are kept (lower case), everything else becomes one ``_``; the result is
    cut to 64 characters. An empty result becomes ``"my_style"``.
    """
    return style_name_from_text(Path(path).stem)


def style_name_from_text(text: str) -> str:
    """A valid style name from what an artist typed: ``"My Style"`` → ``"my_style"`` (see
    :func:`style_name_from_file`)."""
    stem = text.lower()
    out, gap = [], False
    for ch in stem:
        if ch.isascii() and ch.isalnum():
            if gap and out:
                out.append("_")
            out.append(ch)
            gap = False
        else:
            gap = True
    return "".join(out)[:64].strip("_") or "my_style"


def eta_text(seconds: float) -> str:
    """``"about 5 min 40 s left"`` / ``"about 40 s left"`` for a remaining time."""
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes >= 60:
        return f"about {minutes // 60} h {minutes % 60} min left"
    return f"about {minutes} min {rest} s left" if minutes else f"about {rest} s left"


@dataclass(frozen=True)
class LearnStyleRequest:
    """Learn the style of one image into a model folder.

    Attributes:
        name: The new style's name (letters, digits, ``_``, ``-``).
        style_image: The painting.
        model_dir: The model folder the style goes into; made as a copy of ``base_model`` when
            it does not exist yet.
        content: Content photos: a folder (searched recursively), or a tuple of image files.
        base_model: The model copied into ``model_dir`` when that is missing; ``None`` → the
            vendored model.
        steps: Training steps.
        size: Side of the square content crops (px, multiple of 8).
        batch_size: Crops per step.
        checkpoint_every: Steps between checkpoints.
        device: ``"auto"`` (CUDA when torch sees it), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        encoder_weights: Loss network weights (else the default search order).
        restart: Discard an unfinished run of this name instead of continuing it.
    """

    name: str
    style_image: Path
    model_dir: Path
    content: Path | tuple[Path, ...] = ()
    base_model: Path | None = None
    steps: int = DEFAULT_STEPS
    size: int = DEFAULT_SIZE
    batch_size: int = DEFAULT_BATCH
    checkpoint_every: int = CHECKPOINT_EVERY
    device: str = "auto"
    encoder_weights: Path | None = None
    restart: bool = False

    def validate(self) -> None:
        """Check the settings without opening any file.

        Raises:
            InputError: A bad name, number, device or an empty content list (naming the setting).
        """
        try:
            check_style_name(self.name)
        except InputError as exc:
            raise InputError(str(exc), setting="name") from None
        check_number(self.steps, "steps", low=1, high=100_000, integer=True, setting="steps")
        check_number(self.size, "size", low=16, high=1024, integer=True, setting="size")
        if self.size % 8:
            raise InputError(f"size must be a multiple of 8, got {self.size}", setting="size")
        check_number(self.batch_size, "batch size", low=1, high=64, integer=True, setting="batch_size")
        check_number(self.checkpoint_every, "checkpoint_every", low=1, integer=True, setting="checkpoint_every")
        device = str(self.device)
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise InputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N", setting="device")
        if isinstance(self.content, tuple) and not self.content:
            raise InputError("no content photos: choose a folder of photos (landscapes, people, objects: "
                             "what the style will be used on)", setting="content")


@dataclass
class LearnStyleOutcome:
    """What a finished run produced.

    Attributes:
        model_dir: The model folder that now lists the style.
        name: The style.
        steps: Steps of the whole run.
        resumed_from: Step the run continued from (0: a fresh run).
        seconds: Wall time of this call.
        seconds_per_step: Measured training time per step in this call.
        created_model: Whether ``model_dir`` was made by this call (a copy of the base model).
        device: Where it trained.
        losses: The last step's losses.
        started_from: The style whose bank the new one began as (``"fresh"``: the identity); see
            :func:`core.stylebank.train.nearest_bank`.
    """

    model_dir: Path
    name: str
    steps: int
    resumed_from: int
    seconds: float
    seconds_per_step: float
    created_model: bool
    device: str
    losses: dict[str, float]
    started_from: str = "fresh"


def _content_files(content: Path | tuple[Path, ...]) -> list[Path]:
    from ..io.images import SUPPORTED_EXTENSIONS

    if isinstance(content, tuple):
        files = [Path(p) for p in content]
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise InputError(f"content photo {missing[0]} does not exist"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), setting="content")
    else:
        folder = Path(content)
        if not folder.is_dir():
            raise InputError(f"content folder {folder} does not exist; choose a folder of photos", setting="content")
        files = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [p for p in files if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    if not files:
        raise InputError(f"no photos in {content}: choose a folder of {', '.join(SUPPORTED_EXTENSIONS)} photos",
                         setting="content")
    return files


def _check_images(style_image: Path, content: list[Path]) -> None:
    """Every image's header (format, size) before any work; the style image is decoded too."""
    from ..io.formats import probe_image
    from ..io.images import read_image

    if not style_image.is_file():
        raise InputError(f"style image {style_image} does not exist", setting="style_image")
    read_image(style_image)  # small; a corrupt painting is one error now, not after the copy
    for path in content:
        h, w, _ = probe_image(path)
        if min(h, w) < 16:
            raise InputError(f"content photo {path} is {w}×{h}; photos need at least 16 px a side", setting="content")


def _copy_model(source: Path, target: Path) -> None:
    """Make ``target`` a copy of the model folder ``source``: copied beside it, checked, renamed in.

    Raises:
        ModelError: ``source`` is not a model, or a copied file does not match its sha256.
        OutputError: The copy cannot be written.
    """
    from ..foundation.registry import sha256_of

    manifest = read_manifest(source)
    files = [manifest["base"].get("file", "base.safetensors")]
    files += [entry.get("file", f"banks/{name}.safetensors") for name, entry in manifest["styles"].items()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.copy-", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"cannot create the model folder {target}: {one_line_reason(exc)}") from exc
    try:
        (tmp / "banks").mkdir()
        shutil.copyfile(source / MANIFEST, tmp / MANIFEST)
        entries = [manifest["base"], *manifest["styles"].values()]
        for rel, entry in zip(files, entries):
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ModelError(f"{source / MANIFEST} points a file outside the folder: {rel}")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, tmp / rel)
            if entry.get("sha256") and sha256_of(tmp / rel) != entry["sha256"]:
                raise ModelError(f"{source / rel} does not match its sha256 in {source / MANIFEST}; "
                                 "the base model is corrupt")
        if (source / "thumbnails").is_dir():
            shutil.copytree(source / "thumbnails", tmp / "thumbnails")
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # an empty folder the user chose: filled by the rename
        os.rename(tmp, target)  # atomic; fails when another run made the folder meanwhile
    except FileNotFoundError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"the base model {source} is incomplete: {one_line_reason(exc)}") from exc
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.is_dir() and (target / MANIFEST).exists():
            return  # made by a concurrent run: use it
        raise OutputError(f"cannot copy the model into {target}: {one_line_reason(exc)}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _staged_content(files: list[Path], folder: Path) -> Path:
    """Copy a list of photos into ``folder`` in order (``0000_name.png`` …) for the trainer."""
    for index, path in enumerate(files):
        shutil.copyfile(path, folder / f"{index:04d}_{path.name}")
    return folder


class _StepClock:
    """Turns add_style's per-step events into whole-run steps with a measured ETA."""

    def __init__(self, progress: ProgressCallback | None, name: str, steps: int, start: int) -> None:
        self.progress, self.name, self.steps, self.start = progress, name, steps, start
        self.t0 = time.perf_counter()
        self.first: float | None = None
        self.seconds_per_step = 0.0

    def begin(self) -> None:
        """Training starts (the first step's time then includes loading the model and photos)."""
        self.t0 = time.perf_counter()

    def __call__(self, event: ProgressEvent) -> bool | None:
        done = self.start + event.step  # add_style counts the steps of this call only
        now = time.perf_counter()
        if self.first is None or event.step < 2:
            self.first = now
            self.seconds_per_step = now - self.t0
        else:  # steady state: from the end of the first step on
            self.seconds_per_step = (now - self.first) / (event.step - 1)
        left = self.seconds_per_step * (self.steps - done)
        # The first step also loads the model and the photos: its time is no estimate of the rest.
        speed = "measuring the speed" if event.step < 2 and done < self.steps else \
            f"{self.seconds_per_step:.1f} s/step, {eta_text(left)}"
        stage = f"learning '{self.name}': step {done}/{self.steps}, {speed}"
        if self.progress is None:
            return None
        return self.progress(ProgressEvent(stage, done, self.steps, event.loss))

    def note(self, stage: str) -> bool | None:
        """A preparation stage (no step done yet)."""
        if self.progress is None:
            return None
        return self.progress(ProgressEvent(stage, self.start, self.steps))


def _holds_model(folder: Path) -> bool:
    """Whether ``folder`` exists and is not empty (an empty folder is filled with the base model)."""
    return folder.is_dir() and any(folder.iterdir())


def _check_target(request: LearnStyleRequest, model_dir: Path, base: Path, config, image_hash: str):
    """The target folder, the style name and an unfinished run: one clear error before any work."""
    from ..foundation.registry import VENDORED_DIR
    from ..stylebank.train import unfinished_add_style

    if model_dir.resolve() == (VENDORED_DIR / "stylebank").resolve() or \
            VENDORED_DIR.resolve() in model_dir.resolve().parents:
        raise InputError(f"{model_dir} is the model shipped with the add-on, which is never changed; "
                         "choose another model folder for your styles", setting="model_dir")
    if model_dir.exists() and not model_dir.is_dir():
        raise OutputError(f"the model folder {model_dir} is a file; choose a folder")
    if not _holds_model(model_dir):
        read_manifest(base)  # the model to copy: missing or broken is one error now
        return None
    styles = read_manifest(model_dir)["styles"]
    if request.name in styles:
        raise InputError(f"style {request.name!r} already exists in {model_dir}; pick another name", setting="name")
    run = unfinished_add_style(model_dir, request.name)
    if run is None or request.restart:
        return None
    if run.image_sha256 != image_hash:
        raise InputError(f"an unfinished run of {request.name!r} (step {run.step}) learns another image; "
                         "pick another name, or start over to discard it", setting="name")
    changed = run.differences(config)
    if changed:
        was = ", ".join(f"{k} {run.config.get(k)}" for k in changed)
        raise InputError(f"an unfinished run of {request.name!r} (step {run.step}/{run.config.get('steps')}) used "
                         f"other settings ({was}); use them to continue it, or start over to discard it",
                         setting=changed[0])
    return run


def run_learn_style(request: LearnStyleRequest, progress: ProgressCallback | None = None) -> LearnStyleOutcome:
    """Learn ``request.style_image`` as the style ``request.name`` of ``request.model_dir``.

    Args:
        request: What to learn and where.
        progress: Called after every step (stage text with s/step and time left); ``False``
            cancels after the step (its state is kept: running the same request again continues).

    Returns:
        :class:`LearnStyleOutcome`.

    Raises:
        InputError: Bad settings, missing or unreadable images, an existing style of that name,
            an unfinished run with other settings or image (nothing is written).
        ModelError: The base model or the target folder is not a readable model.
        OutputError: The model folder cannot be written.
        DeviceError: The requested device is unavailable.
        Cancelled: The callback cancelled (the checkpoint of the last finished step is kept).
    """
    start = time.perf_counter()
    request.validate()
    from ..foundation.device import resolve_device
    from ..foundation.registry import VENDORED_DIR, sha256_of
    from ..io.images import read_image
    from ..nn.vgg import get_encoder
    from ..stylebank.thumbnails import write_thumbnails
    from ..stylebank.manifest import read_manifest
    from ..stylebank.train import TrainConfig, add_style, add_style_checkpoint, base_loss_settings

    model_dir = Path(request.model_dir)
    base = Path(request.base_model) if request.base_model is not None else VENDORED_DIR / "stylebank"
    style_image = Path(request.style_image)
    files = _content_files(request.content)
    _check_images(style_image, files)
    loss = base_loss_settings(read_manifest(model_dir if _holds_model(model_dir) else base))
    config = TrainConfig(steps=request.steps, ae_warmup=0, size=request.size, batch_size=request.batch_size,
                         checkpoint_every=request.checkpoint_every, **loss)
    config.validate()
    run = _check_target(request, model_dir, base, config, sha256_of(style_image))
    device = resolve_device(request.device)
    clock = _StepClock(progress, request.name, request.steps, run.step if run is not None else 0)
    clock.note("loading the loss network")
    vgg = get_encoder(request.encoder_weights, device=device)
    created = False
    if not _holds_model(model_dir):
        clock.note(f"copying the model {base.name} into {model_dir}")
        _copy_model(base, model_dir)
        created = True
    if request.restart:
        add_style_checkpoint(model_dir, request.name).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="nst_learn_") as staging:
        content = request.content
        content_dir = _staged_content(files, Path(staging)) if isinstance(content, tuple) else Path(content)
        clock.begin()
        result = add_style(model_dir, request.name, style_image, content_dir, vgg, config=config,
                           resume=run is not None, device=device, progress=clock)
    # The style menus show each style's look: the new bank on the first photo, like the shipped ones.
    write_thumbnails(model_dir, read_image(files[0]).srgb(), styles=[request.name])
    started_from = str(read_manifest(model_dir)["styles"][request.name].get("init", "fresh"))
    return LearnStyleOutcome(model_dir, request.name, request.steps, run.step if run is not None else 0,
                             time.perf_counter() - start, clock.seconds_per_step, created, str(device),
                             result.last_losses, started_from)
