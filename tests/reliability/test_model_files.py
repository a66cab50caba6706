"""Model files are data, never code; model and style names never leave their folder.

A ``.pth`` whose pickle stream would create a marker file (``__reduce__`` → ``Path.touch``) is
handed to every product path that reads ``.pth``/``.pt`` files: ``--encoder-weights`` of the CLI
(stylize, video, doctor), the ``NST_ENCODER_WEIGHTS`` variable and a StyleBank training
checkpoint (``stylebank train --resume``). The marker must never appear and the error must be a
:class:`~core.foundation.errors.ModelError` (exit 4) with one line. The loader itself is proven by
``tests/core/nn/test_encoder_weights.py::test_pickle_payload_is_refused_and_not_run`` (which also
shows the payload is live under an unrestricted ``torch.load``); a source scan keeps every future
``torch.load`` in ``core/`` and ``addon/`` restricted.
"""

from __future__ import annotations

import ast
import pathlib
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.foundation.errors import ModelError
from core.io.images import write_image
from core.stylebank.model import read_manifest, write_manifest
from tests.reliability.helpers import REPO, make_model, pan_frame, write_pan


class _Payload:
    """Unpickling this runs ``Path.touch(marker)``: stands in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture()
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    path = tmp_path / "vgg19-evil.pth"
    torch.save({"features.0.weight": _Payload(marker), "features.0.bias": torch.zeros(64)}, path)
    return path, marker


def _one_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    return err


def test_pickle_payload_through_every_cli_path_is_refused_and_never_runs(evil, tmp_path, capsys, monkeypatch):
    path, marker = evil
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    write_image(content, pan_frame(0))
    write_image(style, pan_frame(9))
    src = write_pan(tmp_path / "in", 2)
    runs = {
        "stylize": ["stylize", content, style, "-o", tmp_path / "out.png", "--size", "32", "--iterations", "1",
                    "--quiet", "--encoder-weights", path],
        "video": ["video", src, style, "-o", tmp_path / "vout", "--method", "gatys", "--quiet",
                  "--encoder-weights", path],
        "doctor": ["doctor", "--encoder-weights", path],
    }
    for name, argv in runs.items():
        assert main([str(a) for a in argv]) == ModelError.exit_code, name
        _one_error(capsys, 4, "refused to unpickle", path.name)
        assert not marker.exists(), f"{name}: the payload ran"
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "vout").exists()
    monkeypatch.setenv("NST_ENCODER_WEIGHTS", str(path))
    assert main(["stylize", str(content), str(style), "-o", str(tmp_path / "out.png"), "--size", "32", "--quiet"]) == 4
    _one_error(capsys, 4, "refused to unpickle")
    assert not marker.exists()


def test_pickle_payload_in_a_training_checkpoint_is_refused_and_never_runs(tmp_path):
    from core.stylebank.train import CHECKPOINT, TrainConfig, train

    marker = tmp_path / "pwned"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.save({"model": _Payload(marker), "styles": '["a"]'}, model_dir / CHECKPOINT)
    style = tmp_path / "s.png"
    write_image(style, pan_frame(3))
    with pytest.raises(ModelError, match="cannot be loaded safely"):
        train(tmp_path / "photos", {"a": style}, model_dir, vgg=None, config=TrainConfig(), resume=True)
    assert not marker.exists()


def test_every_torch_load_in_the_product_is_restricted_to_weights():
    """Static guard: each ``torch.load(...)`` call in core/ and addon/ passes ``weights_only=True``."""
    calls = []
    for path in sorted([*REPO.joinpath("core").rglob("*.py"), *REPO.joinpath("addon").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id in ("torch", "pickle", "np", "numpy", "dill", "joblib"):
                    safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                               for k in node.keywords) if owner.id == "torch" else False
                    calls.append((f"{path.relative_to(REPO)}:{node.lineno}", owner.id, safe))
    assert calls, "the scan found no torch.load at all: it is broken"
    assert all(safe for _, _, safe in calls), [c for c in calls if not c[2]]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "m", styles=("a", "b"))


@pytest.mark.parametrize("name", ["../../x", "..", "a/../../b", "/etc/passwd", "a\\..\\b", ".hidden", "a b", ""])
def test_a_style_name_that_could_leave_the_banks_folder_is_refused(model, tmp_path, capsys, name):
    content = tmp_path / "c.png"
    write_image(content, pan_frame(0))
    src = write_pan(tmp_path / "in", 2)
    for argv in (["stylize", content, "-o", tmp_path / "o.png", "--method", "stylebank", "--model", model,
                  "--style", name, "--quiet"],
                 ["video", src, "-o", tmp_path / "vo", "--model", model, "--style", name, "--quiet"]):
        assert main([str(a) for a in argv]) == 2
        _one_error(capsys, 2, "invalid style name")
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "vo").exists()
    style = tmp_path / "s.png"
    write_image(style, pan_frame(5))
    assert main(["stylebank", "add-style", str(model), f"{name}={style}", "--content-dir", str(tmp_path),
                 "--quiet"]) == 2
    _one_error(capsys, 2)
    assert sorted(p.name for p in (model / "banks").iterdir()) == ["a.safetensors", "b.safetensors"]


@pytest.mark.parametrize("part", ["base", "bank"])
def test_a_manifest_pointing_outside_the_model_folder_is_refused(model, tmp_path, capsys, part):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(model, copy)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.copy(copy / ("base.safetensors" if part == "base" else "banks/a.safetensors"), outside)
    manifest = read_manifest(copy)
    if part == "base":
        manifest["base"]["file"] = "../elsewhere.safetensors"
    else:
        manifest["styles"]["a"]["file"] = "../../elsewhere.safetensors"
    write_manifest(copy, manifest)
    content = tmp_path / "c.png"
    write_image(content, pan_frame(0))
    assert main(["stylize", str(content), "-o", str(tmp_path / "o.png"), "--method", "stylebank", "--model",
                 str(copy), "--style", "a", "--quiet"]) == 4
    _one_error(capsys, 4, "outside")
    assert not (tmp_path / "o.png").exists()


def test_stylebank_weights_with_the_wrong_hash_are_refused(model, tmp_path, capsys):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(model, copy)
    bank = copy / "banks" / "a.safetensors"
    data = bytearray(bank.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit of a weight: still a valid safetensors file
    bank.write_bytes(bytes(data))
    src = write_pan(tmp_path / "in", 2)
    assert main(["video", str(src), "-o", str(tmp_path / "vo"), "--model", str(copy), "--style", "a", "--quiet"]) == 4
    _one_error(capsys, 4, "sha256", "a.safetensors")
    assert not (tmp_path / "vo").exists()
    # the untouched style of the same model still works
    assert main(["video", str(src), "-o", str(tmp_path / "vo"), "--model", str(copy), "--style", "b", "--quiet"]) == 0
