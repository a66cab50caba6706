"""StyleBank with tiny random-init networks: fusion, strength, sizes, storage, training, incremental styles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.foundation.errors import HashMismatchError, InputError, ModelError
from core.io.images import write_image
from core.stylebank.fusion import normalise_weights, stylebank_forward
from core.stylebank.model import BASE_FILE, load_model, read_manifest, save_model
from core.stylebank.net import StyleBankNet
from core.stylebank.train import TrainConfig, add_style, parse_style_specs, train
from tests.conftest import photo, stripes


def _trained_looking(net: StyleBankNet) -> StyleBankNet:
    """Random residuals in every bank (a new bank starts as the identity; trained ones are not)."""
    for bank in net.banks.values():
        torch.nn.init.normal_(bank.layers[-1].weight, std=0.2)
    return net


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return _trained_looking(StyleBankNet(width=4, styles=("a", "b", "c"))).eval()


def _x(h=32, w=32, b=1):
    return photo("astronaut", max(h, w))[..., :h, :w].expand(b, -1, -1, -1).contiguous()


def test_fusion_with_one_zero_weight_equals_the_single_style(net):
    x = _x()
    with torch.no_grad():
        single = stylebank_forward(net, x, ["a"])
        fused = stylebank_forward(net, x, ["a", "b"], weights=[1.0, 0.0])
    assert torch.equal(single, fused)


def test_weights_are_normalised(net):
    x = _x()
    assert normalise_weights([2, 6], 2) == [0.25, 0.75]
    with torch.no_grad():
        a = stylebank_forward(net, x, ["a", "b"], weights=[2.0, 2.0])
        b = stylebank_forward(net, x, ["a", "b"], weights=[0.5, 0.5])
        c = stylebank_forward(net, x, ["a", "b"])
        d = stylebank_forward(net, x, ["a", "b"], weights=[0.9, 0.1])
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)
    assert (a - d).abs().mean() > 1e-4


def test_region_masks_keep_each_region_style(net):
    x = _x(32, 48)
    left = torch.zeros(1, 1, 32, 48)
    left[..., :24] = 1
    with torch.no_grad():
        sa = stylebank_forward(net, x, ["a"])
        sb = stylebank_forward(net, x, ["b"])
        fused = stylebank_forward(net, x, ["a", "b"], masks=[left, 1 - left])
    lhs, rhs = (slice(None), slice(None), slice(None), slice(2, 18)), (slice(None), slice(None), slice(None), slice(30, 46))

    def mse(u, v):
        return float((u - v).pow(2).mean())

    assert mse(fused[lhs], sa[lhs]) < 0.3 * mse(fused[lhs], sb[lhs])
    assert mse(fused[rhs], sb[rhs]) < 0.3 * mse(fused[rhs], sa[rhs])


def test_uncovered_region_and_strength_zero_give_the_identity_branch(net):
    x = _x()
    with torch.no_grad():
        identity = net.reconstruct(x)
        zero = stylebank_forward(net, x, ["a", "b"], strength=0.0)
        uncovered = stylebank_forward(net, x, ["a"], masks=[torch.zeros(1, 1, 32, 32)])
        half = stylebank_forward(net, x, ["a"], strength=0.5)
        full = stylebank_forward(net, x, ["a"])
    assert torch.allclose(zero, identity, atol=1e-6)
    assert torch.allclose(uncovered, identity, atol=1e-6)
    assert 0 < float((half - identity).abs().mean()) < float((full - identity).abs().mean())


def test_any_size_and_batches(net):
    x = _x(37, 53, b=2)
    with torch.no_grad():
        out = stylebank_forward(net, x, ["c"])
        tiny = stylebank_forward(net, _x(5, 7), ["c"])
    assert out.shape == (2, 3, 37, 53) and tiny.shape == (1, 3, 5, 7)
    assert torch.allclose(out[0], out[1], atol=1e-6)
    assert 0 <= float(out.min()) and float(out.max()) <= 1


def test_bad_fusion_arguments(net):
    x = _x()
    cases = [
        (dict(styles=["zzz"]), "unknown style"),
        (dict(styles=["a", "b"], weights=[1.0]), "one weight per style"),
        (dict(styles=["a"], weights=[-1.0]), "≥ 0"),
        (dict(styles=["a", "b"], masks=[torch.ones(1, 1, 32, 32)]), "one mask per style"),
        (dict(styles=["a"], masks=[torch.ones(1, 1, 16, 32)]), "expected"),
        (dict(styles=["a"], strength=1.5), "strength"),
        (dict(styles=[]), "at least one style"),
    ]
    for kwargs, words in cases:
        styles = kwargs.pop("styles")
        with pytest.raises(InputError, match=words):
            stylebank_forward(net, x, styles, **kwargs)


def test_save_load_round_trip_is_exact(net, tmp_path):
    save_model(net, tmp_path / "m", base_info={"steps": 0}, bank_info={"a": {"image": "a.png"}})
    loaded, manifest = load_model(tmp_path / "m")
    assert loaded.styles == ["a", "b", "c"] and manifest["styles"]["a"]["image"] == "a.png"
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    only_b, _ = load_model(tmp_path / "m", styles=["b"])
    assert only_b.styles == ["b"]
    x = _x()
    with torch.no_grad():
        assert torch.equal(stylebank_forward(net, x, ["b"]), stylebank_forward(only_b, x, ["b"]))


def test_corrupt_or_tampered_model_files_are_refused(net, tmp_path):
    model = tmp_path / "m"
    save_model(net, model)
    bank = model / "banks" / "a.safetensors"
    bank.write_bytes(bank.read_bytes()[:-10])
    with pytest.raises(HashMismatchError, match="sha256"):
        load_model(model, styles=["a"])
    load_model(model, styles=["b"])  # other banks still load
    manifest = read_manifest(model)
    manifest["styles"]["a"]["sha256"] = ""  # no hash recorded: the truncated file itself must be caught
    from core.stylebank.model import write_manifest

    write_manifest(model, manifest)
    with pytest.raises(ModelError, match="safetensors"):
        load_model(model, styles=["a"])
    (model / "model.toml").write_text("this is = = not toml")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(model)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(InputError, match="invalid style name"):
        load_model(model.parent, styles=["../../x"])


def test_manifest_cannot_point_a_bank_outside_its_folder(net, tmp_path):
    model = tmp_path / "m"
    save_model(net, model)
    manifest = read_manifest(model)
    manifest["styles"]["a"]["file"] = "../../../etc/passwd"
    from core.stylebank.model import write_manifest

    write_manifest(model, manifest)
    with pytest.raises(ModelError, match="outside"):
        load_model(model, styles=["a"])


def test_style_specs_are_checked(tmp_path):
    img = tmp_path / "s.png"
    write_image(img, stripes((1, 0, 0), (0, 0, 1), 16))
    assert parse_style_specs([f"red={img}"]) == {"red": img}
    for spec, words in ((f"../../x={img}", "invalid style name"), ("nameonly", "NAME=IMAGE"),
                        (f"a={tmp_path / 'missing.png'}", "does not exist")):
        with pytest.raises(InputError, match=words):
            parse_style_specs([spec])
    with pytest.raises(InputError, match="twice"):
        parse_style_specs([f"a={img}", f"a={img}"])


@pytest.fixture()
def content_dir(tmp_path):
    folder = tmp_path / "content"
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        write_image(folder / f"{i}.png", photo(name, 40))
    return folder


@pytest.fixture()
def style_files(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    write_image(a, stripes((0.9, 0.1, 0.1), (0.1, 0.1, 0.1), 32))
    write_image(b, stripes((0.1, 0.2, 0.9), (1, 1, 1), 32, vertical=False))
    write_image(c, stripes((0.1, 0.8, 0.1), (0.9, 0.9, 0.2), 32, period=4))
    return a, b, c


TINY = TrainConfig(size=16, batch_size=2, steps=6, t=2, ae_warmup=2, width=4, checkpoint_every=2, style_size=32)


def test_training_resume_after_a_stop_matches_an_uninterrupted_run(encoder, content_dir, style_files, tmp_path):
    styles = {"red": style_files[0], "blue": style_files[1]}
    whole = train(content_dir, styles, tmp_path / "whole", encoder, config=TINY)
    assert whole.steps_done == 8
    first = train(content_dir, styles, tmp_path / "split", encoder, config=TrainConfig(**{**TINY.__dict__, "steps": 2}))
    assert first.steps_done == 4
    train(content_dir, styles, tmp_path / "split", encoder, config=TINY, resume=True)
    a, _ = load_model(tmp_path / "whole")
    b, _ = load_model(tmp_path / "split")
    for (k, v1), v2 in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v1, v2), k
    log = [json.loads(line) for line in (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()]
    assert {r["branch"] for r in log} == {"identity", "style"}
    with pytest.raises(InputError, match="same --style"):
        train(content_dir, {"red": style_files[0]}, tmp_path / "split", encoder, config=TINY, resume=True)


def test_a_resume_takes_the_runs_learning_rate(encoder, content_dir, style_files, tmp_path):
    """A later stage may lower the learning rate: a resume with a tiny one barely moves the weights."""
    styles = {"red": style_files[0], "blue": style_files[1]}
    train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**{**TINY.__dict__, "steps": 2}))
    before, _ = load_model(tmp_path / "m")
    train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**{**TINY.__dict__, "lr": 1e-12}),
          resume=True)
    after, _ = load_model(tmp_path / "m")
    for (k, v1), v2 in zip(before.state_dict().items(), after.state_dict().values()):
        assert torch.allclose(v1.float(), v2.float(), atol=1e-6), k


def test_bank_warmup_keeps_the_auto_encoder_while_the_banks_start(encoder, content_dir, style_files, tmp_path):
    styles = {"red": style_files[0], "blue": style_files[1]}
    base = {**TINY.__dict__, "ae_warmup": 2}
    train(content_dir, styles, tmp_path / "ae", encoder, config=TrainConfig(**{**base, "steps": 0}))
    # t = 2: the two steps after the warm-up are both stylising steps
    train(content_dir, styles, tmp_path / "banks", encoder, config=TrainConfig(**{**base, "steps": 2, "bank_warmup": 2}))
    train(content_dir, styles, tmp_path / "all", encoder, config=TrainConfig(**{**base, "steps": 2}))
    # after the bank warm-up: no style gradient for E and D (0), or a tenth of it
    train(content_dir, styles, tmp_path / "frozen", encoder,
          config=TrainConfig(**{**base, "steps": 2, "ed_style_scale": 0.0}))
    train(content_dir, styles, tmp_path / "tenth", encoder,
          config=TrainConfig(**{**base, "steps": 2, "ed_style_scale": 0.1}))
    ae, banks, joint, frozen, tenth = (load_model(tmp_path / name)[0]
                                       for name in ("ae", "banks", "all", "frozen", "tenth"))
    for part in ("encoder", "decoder"):
        for (k, v1), v2, v3 in zip(getattr(ae, part).state_dict().items(), getattr(banks, part).state_dict().values(),
                                   getattr(frozen, part).state_dict().values()):
            assert torch.equal(v1, v2), k  # E and D untouched by the banks' first steps
            assert torch.equal(v1, v3), k
    moved = {name: sum(float((a.float() - b.float()).abs().sum())
                       for a, b in zip(ae.decoder.state_dict().values(), net.decoder.state_dict().values()))
             for name, net in (("tenth", tenth), ("joint", joint))}
    assert 0 < moved["tenth"] < moved["joint"], moved
    assert any(not torch.equal(a, b) for a, b in zip(ae.decoder.state_dict().values(),
                                                       joint.decoder.state_dict().values()))
    assert any(not torch.equal(a, b) for a, b in zip(ae.banks.state_dict().values(), banks.banks.state_dict().values()))


def test_add_style_trains_only_the_new_bank(encoder, content_dir, style_files, tmp_path):
    model = tmp_path / "m"
    train(content_dir, {"red": style_files[0], "blue": style_files[1]}, model, encoder, config=TINY)
    before = {p.relative_to(model): p.read_bytes() for p in model.rglob("*.safetensors")}
    old, _ = load_model(model)
    add_style(model, "green", style_files[2], content_dir, encoder,
              config=TrainConfig(**{**TINY.__dict__, "steps": 3, "ae_warmup": 0}))
    after = {p.relative_to(model): p.read_bytes() for p in model.rglob("*.safetensors")}
    assert set(after) == set(before) | {Path("banks/green.safetensors")}
    for path, data in before.items():
        assert after[path] == data, f"{path} changed"  # base (E, D) and other banks bitwise unchanged
    new, manifest = load_model(model)
    assert new.styles == ["red", "blue", "green"] and manifest["styles"]["green"]["incremental"] is True
    for (k, v1), v2 in zip(old.encoder.state_dict().items(), new.encoder.state_dict().values()):
        assert torch.equal(v1, v2), k
    with pytest.raises(InputError, match="already exists"):
        add_style(model, "green", style_files[2], content_dir, encoder, config=TINY)
    with pytest.raises(InputError, match="invalid style name"):
        add_style(model, "../evil", style_files[2], content_dir, encoder, config=TINY)
    assert (model / BASE_FILE).read_bytes() == before[Path(BASE_FILE)]


def test_add_style_cancelled_then_resumed_matches_an_uninterrupted_run(encoder, content_dir, style_files, tmp_path):
    from core.foundation.errors import Cancelled
    from core.stylebank.train import add_style_checkpoint

    base = tmp_path / "base"
    train(content_dir, {"red": style_files[0]}, base, encoder, config=TINY)
    cfg = TrainConfig(**{**TINY.__dict__, "steps": 7, "ae_warmup": 0, "checkpoint_every": 3})
    whole, split = tmp_path / "whole", tmp_path / "split"
    shutil.copytree(base, whole)
    shutil.copytree(base, split)
    add_style(whole, "green", style_files[2], content_dir, encoder, config=cfg)
    assert not add_style_checkpoint(whole, "green").exists()  # a finished run leaves no state behind

    seen = []
    with pytest.raises(Cancelled):  # the artist cancels after 5 steps: not a checkpoint multiple
        add_style(split, "green", style_files[2], content_dir, encoder, config=cfg,
                  progress=lambda e: seen.append(e) or len(seen) < 5)
    assert add_style_checkpoint(split, "green").exists()
    assert "green" not in load_model(split)[0].styles  # no half-learnt style is offered
    with pytest.raises(InputError, match="another image"):
        add_style(split, "green", style_files[1], content_dir, encoder, config=cfg, resume=True)
    with pytest.raises(InputError, match="other settings.*lr"):
        add_style(split, "green", style_files[2], content_dir, encoder, resume=True,
                  config=TrainConfig(**{**cfg.__dict__, "lr": 0.01}))
    events = []
    add_style(split, "green", style_files[2], content_dir, encoder, config=cfg, resume=True,
              progress=events.append)
    assert len(events) == 2  # only the 2 steps left were run
    a, b = load_model(whole)[0], load_model(split)[0]
    for (k, v1), v2 in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert not add_style_checkpoint(split, "green").exists()


def test_cli_stylebank_contract(net, tmp_path, capsys):
    from core.cli import main

    model = tmp_path / "m"
    save_model(net, model)
    content = tmp_path / "photo.png"
    write_image(content, photo("coffee", 40))
    out = tmp_path / "out.png"
    base = ["stylize", str(content), "-o", str(out), "--method", "stylebank", "--model", str(model), "--quiet"]
    assert main(base + ["--style", "a", "--style", "b", "--style-weights", "3", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"] == [0.75, 0.25] and report["styles"] == ["a", "b"] and out.exists()
    out.unlink()
    mask = tmp_path / "mask.png"
    write_image(mask, torch.ones(1, 3, 10, 10))
    bank = model / "banks" / "c.safetensors"
    bank.write_bytes(b"garbage")
    cases = [
        (["--style", "zzz"], "unknown style"),
        (["--style", "a", "--style-weights", "1", "2"], "one weight per style"),
        (["--style", "a", "--style", "b", "--mask", str(mask)], "one mask per style"),
        (["--style", "a", "--mask", str(mask)], "masks must match"),
        (["--style", "c"], "sha256"),
        (["--style", "../../x"], "invalid style name"),
        ([], "needs at least one style name (--style NAME"),
        (["--style", "a", "--strength", "2"], "strength"),
    ]
    for extra, words in cases:
        code = main(base + extra)
        err = capsys.readouterr().err
        assert code != 0 and err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    code = main(["stylize", str(content), str(mask), "-o", str(out), "--method", "stylebank", "--style", "a",
                 "--model", str(model), "--quiet"])
    assert code != 0 and "style names" in capsys.readouterr().err
    # add-style refuses an unknown start before any work, naming the choices
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(content, photos)
    code = main(["stylebank", "add-style", str(model), f"d={mask}", "--content-dir", str(photos), "--init", "purple",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "init must be" in err and "fresh" in err and len(err.strip().splitlines()) == 1, err
    assert "d" not in read_manifest(model)["styles"] and not (model / "banks" / "d.safetensors").exists()


def test_a_resume_grows_architecture_3_into_4_without_changing_a_picture(encoder, content_dir, style_files, tmp_path):
    """Architecture 4's new residual blocks start as the identity: the grown model draws the same images,
    keeps the banks' Adam moments, and then trains its new blocks too."""
    styles = {"red": style_files[0], "blue": style_files[1]}
    small = {**TINY.__dict__, "arch": 3}
    train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**{**small, "steps": 2}))
    before, _ = load_model(tmp_path / "m")
    # zero further steps: the resume only grows and writes the model folder
    train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**{**small, "arch": 4, "steps": 2}),
          resume=True)
    grown, manifest = load_model(tmp_path / "m")
    assert manifest["format"] == "stylebank/4" and grown.arch == 4
    x = _x(40, 48)
    with torch.no_grad():
        assert torch.equal(before.reconstruct(x), grown.reconstruct(x))
        assert torch.equal(before.stylise(x, "red"), grown.stylise(x, "red"))
    train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**{**small, "arch": 4, "steps": 5}),
          resume=True)
    later, _ = load_model(tmp_path / "m")
    new_block = later.decoder.half_res[0].body[2].weight
    assert new_block.abs().sum() > 0  # the grown blocks learn
    log = [json.loads(line) for line in (tmp_path / "m" / "train_log.jsonl").read_text().splitlines()]
    assert [r for r in log if r["phase"] == "grow"] == [{"step": 4, "phase": "grow", "from_arch": 3, "to_arch": 4}]
    with pytest.raises(InputError, match="arch 4 differs from 3"):
        train(content_dir, styles, tmp_path / "m", encoder, config=TrainConfig(**small), resume=True)


def test_identity_ssim_term_is_logged_and_changes_the_auto_encoder(encoder, content_dir, style_files, tmp_path):
    styles = {"red": style_files[0]}
    base = {**TINY.__dict__, "steps": 0, "ae_warmup": 3}
    train(content_dir, styles, tmp_path / "mse", encoder, config=TrainConfig(**base))
    train(content_dir, styles, tmp_path / "ssim", encoder, config=TrainConfig(**{**base, "identity_ssim_weight": 5.0}))
    log = [json.loads(line) for line in (tmp_path / "ssim" / "train_log.jsonl").read_text().splitlines()]
    assert all(0 < r["ssim"] <= 1 for r in log)
    a, b = load_model(tmp_path / "mse")[0], load_model(tmp_path / "ssim")[0]
    assert any(not torch.equal(p, q) for p, q in zip(a.decoder.state_dict().values(), b.decoder.state_dict().values()))
    with pytest.raises(InputError, match="identity_ssim_weight"):
        TrainConfig(identity_ssim_weight=-1).validate()


def test_the_base_records_its_loss_and_an_added_style_learns_with_it(encoder, content_dir, style_files, tmp_path):
    from core.cli.stylebank import _train_config
    from core.cli.app import build_parser
    from core.stylebank.train import base_loss_settings

    config = TrainConfig(**{**TINY.__dict__, "steps": 0, "content_layers": ("relu3_3",), "style_weight": 7.0})
    train(content_dir, {"red": style_files[0]}, tmp_path / "m", encoder, config=config)
    loss = base_loss_settings(read_manifest(tmp_path / "m"))
    assert loss["content_layers"] == ("relu3_3",) and loss["style_weight"] == 7.0
    args = build_parser().parse_args(["stylebank", "add-style", str(tmp_path / "m"), f"blue={style_files[1]}",
                                      "--content-dir", str(content_dir), "--tv-weight", "3"])
    added = _train_config(args, loss, ae_warmup=0, steps=5)
    assert added.content_layers == ("relu3_3",) and added.style_weight == 7.0 and added.tv_weight == 3.0
    assert base_loss_settings({"base": {}}) == {}


def test_a_styles_calibrated_strength_in_the_manifest_is_its_full_strength(net, tmp_path):
    """``strength = 0.6`` in a style's table: Strength 1 then applies 0.6 of the bank's change."""
    save_model(net, tmp_path / "m")
    manifest_path = tmp_path / "m" / "model.toml"
    text = manifest_path.read_text()
    manifest_path.write_text(text.replace("[styles.a]\n", "[styles.a]\nstrength = 0.6\n"))
    calibrated, manifest = load_model(tmp_path / "m")
    assert manifest["styles"]["a"]["strength"] == 0.6
    x = _x(40, 48)
    with torch.no_grad():
        assert torch.allclose(stylebank_forward(calibrated, x, ["a"]), stylebank_forward(net, x, ["a"], strength=0.6),
                              atol=1e-6)
        assert torch.allclose(stylebank_forward(calibrated, x, ["a"], strength=0.5),
                              stylebank_forward(net, x, ["a"], strength=0.3), atol=1e-6)
        assert torch.equal(stylebank_forward(calibrated, x, ["b"]), stylebank_forward(net, x, ["b"]))
    for bad in ("1.5", "-0.1", "true", '"x"'):
        manifest_path.write_text(text.replace("[styles.a]\n", f"[styles.a]\nstrength = {bad}\n"))
        with pytest.raises(ModelError, match="strength"):
            load_model(tmp_path / "m")


def test_a_new_style_starts_from_the_bank_nearest_its_painting(encoder, content_dir, style_files, tmp_path):
    """A painting the model already knows is started from its own bank, not the identity or another bank."""
    model = tmp_path / "m"
    strong = {**TINY.__dict__, "lr": 1e-2, "style_weight": 50.0, "content_weight": 0.1}
    train(content_dir, {"red": style_files[0], "blue": style_files[1]}, model, encoder,
          config=TrainConfig(**{**strong, "steps": 30}))
    no_steps = TrainConfig(**{**strong, "steps": 0, "ae_warmup": 0})
    for name, image in (("red_again", style_files[0]), ("blue_again", style_files[1])):
        add_style(model, name, image, content_dir, encoder, config=no_steps)
    add_style(model, "from_red", style_files[2], content_dir, encoder, config=no_steps, init="red")
    add_style(model, "plain", style_files[2], content_dir, encoder, config=no_steps, init="fresh")
    net, manifest = load_model(model)
    assert manifest["styles"]["red_again"]["init"] == "red"
    assert manifest["styles"]["blue_again"]["init"] == "blue"
    x = _x(24, 24)
    with torch.no_grad():
        for copy, origin in (("red_again", "red"), ("blue_again", "blue"), ("from_red", "red")):
            assert torch.equal(net.stylise(x, copy), net.stylise(x, origin)), copy
        assert torch.equal(net.stylise(x, "plain"), net.reconstruct(x))
    with pytest.raises(InputError, match="init must be"):
        add_style(model, "other", style_files[2], content_dir, encoder, config=no_steps, init="purple")


def test_the_banks_may_learn_at_their_own_rate_and_a_resume_keeps_every_moment(encoder, content_dir, style_files,
                                                                              tmp_path):
    """A checkpoint of one parameter group (every run before bank_lr) resumes into the two groups with
    its moments; at one rate the two groups train bit for bit as one; a bank rate moves only the banks' steps."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from core.stylebank.train import CHECKPOINT, _load_checkpoint

    styles = {"red": style_files[0], "blue": style_files[1]}
    first = TrainConfig(**{**TINY.__dict__, "steps": 2})
    for name in ("two", "one", "fast"):
        train(content_dir, styles, tmp_path / name, encoder, config=first)
    # rewrite "one"'s checkpoint as an older run saved it: a single group over every parameter
    path = tmp_path / "one" / CHECKPOINT
    with safe_open(str(path), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    groups = json.loads(meta["param_groups"])
    assert len(groups) == 2
    meta["param_groups"] = json.dumps([{**groups[0], "params": groups[0]["params"] + groups[1]["params"]}])
    save_file(tensors, str(path), metadata=meta)
    train(content_dir, styles, tmp_path / "two", encoder, config=TINY, resume=True)
    train(content_dir, styles, tmp_path / "one", encoder, config=TrainConfig(**{**TINY.__dict__, "bank_lr": TINY.lr}),
          resume=True)
    train(content_dir, styles, tmp_path / "fast", encoder, config=TrainConfig(**{**TINY.__dict__, "bank_lr": 0.1}),
          resume=True)
    two, one, fast = (load_model(tmp_path / n)[0] for n in ("two", "one", "fast"))
    for (k, v1), v2 in zip(two.state_dict().items(), one.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert any(not torch.equal(a, b) for a, b in zip(two.banks.state_dict().values(), fast.banks.state_dict().values()))
    state = _load_checkpoint(tmp_path / "fast" / CHECKPOINT)
    assert [g["lr"] for g in state["optim"]["param_groups"]] == [TINY.lr, 0.1]
    assert len(state["optim"]["state"]) == sum(1 for _ in fast.parameters())  # every parameter kept its moments


def test_the_grid_penalty_trains_both_branches_and_is_the_bases_loss(encoder, content_dir, style_files, tmp_path):
    """With grid_weight the log shows the grid share of both branches; the base records the weight."""
    from core.stylebank.train import base_loss_settings

    config = TrainConfig(**{**TINY.__dict__, "size": 32, "steps": 3, "grid_weight": 0.3})
    train(content_dir, {"red": style_files[0]}, tmp_path / "m", encoder, config=config)
    log = [json.loads(line) for line in (tmp_path / "m" / "train_log.jsonl").read_text().splitlines()]
    for branch in ("identity", "style"):
        grids = [r["grid"] for r in log if r.get("branch") == branch]
        assert grids and all(g >= 0 for g in grids), branch
    assert base_loss_settings(read_manifest(tmp_path / "m"))["grid_weight"] == 0.3
    with pytest.raises(InputError, match="at least 32 px"):
        TrainConfig(**{**TINY.__dict__, "grid_weight": 1.0}).validate()
