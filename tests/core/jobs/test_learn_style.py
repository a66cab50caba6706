"""Learn Style from Image (issue 17, point 3): the core job on a tiny random StyleBank model.

The real loss network (the session's ``encoder``), a width-4 model (``tests.addon.helpers.tiny_model``),
three tiny photos and a stripe "painting".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from core.foundation.errors import Cancelled, InputError, ModelError
from core.io.images import write_image
from core.jobs.learn_style import (LearnStyleRequest, eta_text, run_learn_style, style_name_from_file,
                                   style_name_from_text)
from core.stylebank.manifest import read_manifest
from core.stylebank.model import load_model
from core.stylebank.train import add_style_checkpoint
from tests.addon.helpers import tiny_model
from tests.conftest import photo, stripes


@pytest.fixture()
def base(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "base")


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        write_image(folder / f"{i}.png", photo(name, 40))
    return folder


@pytest.fixture()
def painting(tmp_path: Path) -> Path:
    path = tmp_path / "My Painting (2).png"
    write_image(path, stripes((0.1, 0.8, 0.1), (0.9, 0.9, 0.2), 32, period=4))
    return path


@pytest.fixture()
def use_encoder(encoder, monkeypatch):
    """The job loads its loss network through get_encoder: hand it the session's, count the calls."""
    calls = []
    monkeypatch.setattr("core.nn.vgg.get_encoder", lambda *a, **k: calls.append(1) or encoder)
    return calls


def _request(**kw) -> LearnStyleRequest:
    values = {"name": "mine", "steps": 4, "size": 16, "batch_size": 2, "checkpoint_every": 3, "device": "cpu"}
    return LearnStyleRequest(**{**values, **kw})


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_style_names_from_file_names() -> None:
    assert style_name_from_file("/x/My Painting (2).jpg") == "my_painting_2"
    assert style_name_from_file("la-muse.png") == "la_muse"
    assert style_name_from_file("Été.png") == "t"
    assert style_name_from_file("日本.png") == "my_style"
    assert len(style_name_from_file("a" * 100 + ".png")) == 64
    assert style_name_from_text("My Style v1.2") == "my_style_v1_2"  # typed in Blender: made valid
    assert eta_text(340.4) == "about 5 min 40 s left" and eta_text(40) == "about 40 s left"
    assert eta_text(3720) == "about 1 h 2 min left"


def test_first_run_copies_the_base_model_and_lists_the_style(use_encoder, base, photos, painting, tmp_path):
    before = _tree(base)
    target = tmp_path / "user" / "models"
    events = []
    outcome = run_learn_style(_request(style_image=painting, model_dir=target, base_model=base, content=photos),
                              events.append)
    assert outcome.created_model and outcome.resumed_from == 0 and outcome.steps == 4
    assert outcome.started_from in ("a", "b", "fresh")  # the nearest bank, as the manifest records it
    assert read_manifest(target)["styles"]["mine"]["init"] == outcome.started_from
    assert _tree(base) == before  # the source model is only read
    assert sorted(read_manifest(target)["styles"]) == ["a", "b", "mine"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["models"]  # no temporary copy left beside it
    net, _ = load_model(target)  # every file checks against its sha256
    assert set(net.styles) == {"a", "b", "mine"}
    for name in ("a", "b"):  # the copied banks are the base model's, byte for byte
        assert (target / "banks" / f"{name}.safetensors").read_bytes() == (base / "banks" / f"{name}.safetensors").read_bytes()
    trained = [e for e in events if e.step > 0]
    assert [e.step for e in trained] == [1, 2, 3, 4] and all(e.total == 4 for e in events)
    assert "measuring the speed" in trained[0].stage
    assert "s/step" in trained[-1].stage and "left" in trained[-1].stage
    assert outcome.seconds_per_step > 0 and not add_style_checkpoint(target, "mine").exists()
    assert (target / "thumbnails" / "mine.png").is_file()  # the style menus show its look
    # A second style goes into the same folder; the base model is not copied again.
    second = run_learn_style(_request(name="second", style_image=painting, model_dir=target, base_model=base,
                                      content=photos))
    assert not second.created_model and sorted(read_manifest(target)["styles"]) == ["a", "b", "mine", "second"]


def test_cancel_then_run_again_continues_exactly(use_encoder, base, photos, painting, tmp_path):
    files = tuple(sorted(photos.iterdir()))  # a list of photos this time, as the add-on's captured frames
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_learn_style(_request(style_image=painting, model_dir=whole, base_model=base, content=files, steps=7))
    seen = []
    with pytest.raises(Cancelled):  # cancelled after 5 steps: not a checkpoint multiple
        run_learn_style(_request(style_image=painting, model_dir=split, base_model=base, content=files, steps=7),
                        lambda e: seen.append(e) or not (e.step == 5 and "step 5/7" in e.stage))
    assert add_style_checkpoint(split, "mine").exists()
    assert "mine" not in read_manifest(split)["styles"]  # nothing half-learnt is offered
    loads = len(use_encoder)
    with pytest.raises(InputError, match=r"unfinished run of 'mine' \(step 5/7\) used other settings \(steps 7\)"):
        run_learn_style(_request(style_image=painting, model_dir=split, content=files, steps=9))
    other = tmp_path / "other.png"
    write_image(other, stripes((0.9, 0.1, 0.1), (0.1, 0.1, 0.1), 32))
    with pytest.raises(InputError, match="learns another image"):
        run_learn_style(_request(style_image=other, model_dir=split, content=files, steps=7))
    assert len(use_encoder) == loads  # refused before any work
    events = []
    outcome = run_learn_style(_request(style_image=painting, model_dir=split, content=files, steps=7), events.append)
    assert outcome.resumed_from == 5 and not outcome.created_model
    assert [e.step for e in events if "step " in e.stage] == [6, 7]
    a, b = load_model(whole)[0], load_model(split)[0]
    for (key, v1), v2 in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v1, v2), key
    assert (whole / "banks" / "mine.safetensors").read_bytes() == (split / "banks" / "mine.safetensors").read_bytes()


def test_start_over_discards_the_unfinished_run(use_encoder, base, photos, painting, tmp_path):
    target = tmp_path / "m"
    with pytest.raises(Cancelled):
        run_learn_style(_request(style_image=painting, model_dir=target, base_model=base, content=photos),
                        lambda e: e.step < 2)
    outcome = run_learn_style(_request(style_image=painting, model_dir=target, content=photos, steps=3, restart=True))
    assert outcome.resumed_from == 0 and "mine" in read_manifest(target)["styles"]


@pytest.mark.parametrize("change, message", [
    ({"name": "../x"}, "invalid style name"),
    ({"name": "a"}, "style 'a' already exists"),
    ({"steps": 0}, "steps must be"),
    ({"size": 20}, "multiple of 8"),
    ({"device": "tpu"}, "unknown device"),
    ({"style_image": "missing.png"}, "style image .* does not exist"),
    ({"style_image": "broken.png"}, "broken.png"),
    ({"content": "no_such_folder"}, "content folder .* does not exist"),
    ({"content": "empty"}, "no photos in"),
    ({"content": ()}, "no content photos: choose a folder"),
    ({"content": ("gone.png",)}, "content photo .*gone.png does not exist"),
    ({"base_model": "not_a_model"}, "does not exist"),
    ({"model_dir": "vendored"}, "shipped with the add-on"),
])
def test_bad_inputs_fail_before_any_work_and_leave_nothing(use_encoder, base, photos, painting, tmp_path,
                                                           change, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    existing = tmp_path / "existing"
    existing_model = tiny_model(existing)
    before = _tree(tmp_path)
    values = {"style_image": painting, "model_dir": tmp_path / "new", "base_model": base, "content": photos}
    for key, value in change.items():
        if key == "name" and value == "a":
            values["model_dir"], values["name"] = existing_model, "a"
        elif key == "model_dir":
            from core.foundation.registry import VENDORED_DIR

            values["model_dir"] = VENDORED_DIR / "stylebank"
        elif isinstance(value, str) and key != "name" and key != "device":
            values[key] = tmp_path / value
        elif isinstance(value, tuple):
            values[key] = tuple(tmp_path / v for v in value)
        else:
            values[key] = value
    with pytest.raises((InputError, ModelError), match=message) as info:
        run_learn_style(_request(**values))
    assert len(str(info.value).splitlines()) == 1
    assert use_encoder == []  # no loss network loaded: nothing ran
    assert _tree(tmp_path) == before and not (tmp_path / "new").exists()


def test_an_empty_folder_is_filled_with_the_base_model(use_encoder, base, photos, painting, tmp_path):
    target = tmp_path / "chosen"
    target.mkdir()
    outcome = run_learn_style(_request(style_image=painting, model_dir=target, base_model=base, content=photos,
                                       steps=1))
    assert outcome.created_model and sorted(read_manifest(target)["styles"]) == ["a", "b", "mine"]


def test_a_corrupt_base_model_leaves_no_folder_behind(use_encoder, base, photos, painting, tmp_path):
    bank = base / "banks" / "b.safetensors"
    bank.write_bytes(bank.read_bytes()[:-8] + b"tampered")
    target = tmp_path / "user" / "models"
    with pytest.raises(ModelError, match=r"b.safetensors does not match its sha256"):
        run_learn_style(_request(style_image=painting, model_dir=target, base_model=base, content=photos))
    assert list(target.parent.iterdir()) == []  # neither the folder nor its temporary copy
