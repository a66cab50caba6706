"""StyleBank model folders: a base file (E, D) plus one small file per style bank.

Layout::

    MODEL_DIR/
        model.toml              # format, width, files with sha256, what each part was trained on
        base.safetensors        # encoder.* and decoder.* tensors
        banks/<name>.safetensors

Every tensor file is safetensors (nothing is unpickled) and is checked against the sha256 in
``model.toml`` before it is read; files of the vendored default model are also listed in
``vendored_models/registry.toml``. Adding a style writes a new bank file and rewrites
``model.toml`` — never the base file. Style names are restricted to letters, digits, ``_`` and
``-`` so a name can never leave ``banks/``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..foundation.atomic_write import atomic_path, atomic_write_bytes
from ..foundation.errors import HashMismatchError, InputError, ModelError
from ..foundation.files import require_regular_file
from ..foundation.registry import VENDORED_DIR, sha256_of, vendored_entry, verify_file
from .manifest import FORMATS, MANIFEST, check_style_name, read_manifest
from .net import StyleBankNet

#: ``stylebank/<arch>`` → the architecture of :mod:`core.stylebank.net` it names: 2 (1/8 bottleneck,
#: instance norm throughout) and 3 (1/4 bottleneck, normalisation only in the banks).
#: ``stylebank/1`` folders (9×9 full-resolution layers) are refused with a clear error. The manifest
#: is read and checked by :mod:`.manifest` (torch-free; its ``ARCHITECTURES`` must equal the
#: network's, which ``tests/reliability/test_validation.py`` checks).
#: The format new models are written in.
FORMAT = "stylebank/3"
BASE_FILE = "base.safetensors"
BANK_DIR = "banks"
#: The vendored default model.
DEFAULT_MODEL_DIR = VENDORED_DIR / "stylebank"


def format_of(net: StyleBankNet) -> str:
    """The ``model.toml`` format string of a network."""
    return f"stylebank/{net.arch}"


def write_manifest(model_dir: str | Path, data: dict) -> None:
    """Write ``model.toml`` atomically."""
    import tomli_w

    atomic_write_bytes(Path(model_dir) / MANIFEST, tomli_w.dumps(data).encode("utf-8"))


def _save_tensors(tensors: dict[str, torch.Tensor], dest: Path) -> str:
    from safetensors.torch import save_file

    with atomic_path(dest) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    return sha256_of(dest)


def _load_tensors(path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise ModelError(f"model file {path} is missing")
    require_regular_file(path, "model file", error=ModelError)
    if expected_sha256:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise HashMismatchError(
                f"{path}: sha256 {actual[:16]}… does not match {expected_sha256[:16]}… recorded in {MANIFEST}; "
                "the file is corrupt or was replaced"
            )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path} is not a readable .safetensors file: {exc}") from exc


def _prefixed(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def save_model(net: StyleBankNet, model_dir: str | Path, *, base_info: dict | None = None,
               bank_info: dict[str, dict] | None = None, styles: list[str] | None = None,
               stroke_reference: int | None = None) -> Path:
    """Write (or update) a model folder.

    Args:
        net: The network.
        model_dir: Destination folder (created).
        base_info: Metadata of the base (training data, steps, size, hardware, time).
        bank_info: Metadata per style.
        styles: Banks to write; all when ``None``. The base file is written only if missing or when
            ``base_info`` is given.
        stroke_reference: The manifest's ``stroke_reference`` (see :mod:`.manifest`); kept as it is
            when ``None``.

    Returns:
        The folder.
    """
    model_dir = Path(model_dir)
    (model_dir / BANK_DIR).mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(model_dir) if (model_dir / MANIFEST).exists() else {
        "format": format_of(net), "width": net.width, "base": {}, "styles": {}}
    if manifest.get("width") != net.width or manifest.get("format") != format_of(net):
        raise ModelError(f"{model_dir} holds a {manifest.get('format')} width-{manifest.get('width')} model; "
                         f"this network is {format_of(net)} width {net.width}")
    if stroke_reference is not None:
        manifest["stroke_reference"] = int(stroke_reference)
    base_path = model_dir / BASE_FILE
    if base_info is not None or not base_path.exists():
        digest = _save_tensors({**_prefixed(net.encoder, "encoder"), **_prefixed(net.decoder, "decoder")}, base_path)
        manifest["base"] = {**manifest.get("base", {}), **(base_info or {}), "file": BASE_FILE, "sha256": digest}
    for name in styles if styles is not None else net.styles:
        check_style_name(name)
        rel = f"{BANK_DIR}/{name}.safetensors"
        digest = _save_tensors(_prefixed(net.banks[name], "bank"), model_dir / rel)
        entry = manifest["styles"].get(name, {})
        entry.update((bank_info or {}).get(name, {}))
        entry.update({"file": rel, "sha256": digest})
        manifest["styles"][name] = entry
    write_manifest(model_dir, manifest)
    return model_dir


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str, path: Path) -> None:
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{path}: the {what} does not fit this network ({first})") from exc


def _check_registered(path: Path) -> None:
    """A vendored model file must be listed in ``registry.toml`` and match its digest there."""
    entry = vendored_entry(path)
    if entry is None:
        raise ModelError(f"{path} is not listed in {VENDORED_DIR / 'registry.toml'}; the vendored model was "
                         "modified — reinstall the project or choose your own model folder", setting="model")
    verify_file(path, entry)


def load_model(model_dir: str | Path | None = None, styles: list[str] | None = None,
               device: torch.device | str = "cpu") -> tuple[StyleBankNet, dict]:
    """Load a model folder (default: the vendored model), verifying every file's sha256.

    Args:
        model_dir: The folder; ``None`` → :data:`DEFAULT_MODEL_DIR`.
        styles: Banks to load (all when ``None``); unknown names are an error.
        device: Where to put the network.

    Returns:
        ``(net in eval mode, manifest)``.

    Raises:
        ModelError: Missing or corrupt files, layout mismatch.
        HashMismatchError: A file differs from its recorded digest.
        InputError: Unknown or invalid style names.
    """
    model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    for name in styles or ():
        check_style_name(name)
    if model_dir == DEFAULT_MODEL_DIR and not (model_dir / MANIFEST).exists():
        raise ModelError(f"the vendored StyleBank model is missing from {model_dir}; reinstall the project "
                         "or choose a model folder", setting="model")
    manifest = read_manifest(model_dir)
    available = manifest.get("styles", {})
    wanted = list(available) if styles is None else list(styles)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise InputError(f"unknown style(s) {unknown}; {model_dir} has: {', '.join(available) or 'none'}",
                         setting="style_names")
    net = StyleBankNet(int(manifest["width"]), tuple(wanted), arch=FORMATS[manifest["format"]])
    vendored = model_dir.resolve() == DEFAULT_MODEL_DIR.resolve()
    base = manifest.get("base", {})
    base_path = model_dir / base.get("file", BASE_FILE)
    if base_path.resolve().parent != model_dir.resolve():
        raise ModelError(f"{MANIFEST} points the base file outside {model_dir}: {base.get('file')}")
    if vendored:
        _check_registered(base_path)
    tensors = _load_tensors(base_path, base.get("sha256"))
    _load_into(net.encoder, _strip(tensors, "encoder"), "encoder", base_path)
    _load_into(net.decoder, _strip(tensors, "decoder"), "decoder", base_path)
    for name in wanted:
        rel = available[name].get("file", f"{BANK_DIR}/{name}.safetensors")
        path = (model_dir / rel)
        if path.resolve().parent != (model_dir / BANK_DIR).resolve():
            raise ModelError(f"{MANIFEST} points style {name!r} outside {BANK_DIR}/: {rel}")
        if vendored:
            _check_registered(path)
        _load_into(net.banks[name], _strip(_load_tensors(path, available[name].get("sha256")), "bank"),
                   f"bank {name!r}", path)
        net.banks[name].scale = float(available[name].get("strength", 1.0))
    return net.to(device).eval(), manifest
