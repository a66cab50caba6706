"""Calibrated full strengths: the styles that depart far from the photos' structure come down to a target."""

from __future__ import annotations

import json

import pytest
import torch

from core.foundation.errors import InputError
from core.stylebank.calibrate import FLOOR, calibrate_strengths, content_departure, write_strengths
from core.stylebank.model import load_model, read_manifest, save_model
from core.stylebank.net import StyleBankNet
from tests.conftest import photo


@pytest.fixture()
def model():
    """Three banks whose changes differ only in size: gentle < medium < wild."""
    torch.manual_seed(0)
    net = StyleBankNet(width=4, styles=("gentle", "medium", "wild"), arch=3)
    torch.nn.init.normal_(net.banks["gentle"].layers[-1].weight, std=0.05)
    for name, factor in (("medium", 2.0), ("wild", 4.0)):
        net.banks[name].load_state_dict(net.banks["gentle"].state_dict())
        with torch.no_grad():
            net.banks[name].layers[-1].weight.mul_(factor)
    return net.eval()


@pytest.fixture()
def photos():
    return [photo(name, 48) for name in ("astronaut", "coffee")]


def test_departure_grows_with_the_banks_change_from_zero_for_the_identity(model, photos, encoder):
    layers = ("relu3_3",)
    gentle, wild = (content_departure(model, s, 1.0, photos, encoder, layers) for s in ("gentle", "wild"))
    identity = content_departure(model, "wild", 0.0, photos, encoder, layers)
    assert identity < 1e-6 < gentle < wild, (identity, gentle, wild)
    assert model.banks["wild"].scale == 1.0  # measuring leaves the bank's own scale as it was


def test_only_the_styles_beyond_the_target_come_down_and_then_meet_it(model, photos, encoder):
    full = {s: content_departure(model, s, 1.0, photos, encoder, ("relu3_3",)) for s in model.styles}
    target = (full["gentle"] + full["medium"]) / 2
    result = calibrate_strengths(model, photos, encoder, target=target)
    assert result.target == target
    assert result.strengths["gentle"] == 1.0
    assert FLOOR <= result.strengths["wild"] < result.strengths["medium"] < 1.0, result.strengths
    for style in ("medium", "wild"):
        assert result.calibrated[style] <= target
        # within the bisection's resolution of the largest strength that meets the target
        assert content_departure(model, style, result.strengths[style] + 0.02, photos, encoder,
                                 ("relu3_3",)) > target * 0.98
    floor = calibrate_strengths(model, photos, encoder, target=full["gentle"] / 100, styles=["wild"])
    assert floor.strengths == {"wild": FLOOR} and floor.calibrated["wild"] > floor.target  # said, not hidden
    default = calibrate_strengths(model, photos, encoder)  # 1.25 × the median: only "wild" is far beyond
    assert default.strengths["gentle"] == default.strengths["medium"] == 1.0 and default.strengths["wild"] < 1.0


def test_written_strengths_are_the_styles_full_strength_when_loaded(model, photos, encoder, tmp_path):
    save_model(model, tmp_path / "m")
    write_strengths(tmp_path / "m", {"wild": 0.4})
    assert read_manifest(tmp_path / "m")["styles"]["wild"]["strength"] == 0.4
    net, _ = load_model(tmp_path / "m")
    assert net.banks["wild"].scale == 0.4 and net.banks["gentle"].scale == 1.0
    with pytest.raises(InputError, match="not in"):
        write_strengths(tmp_path / "m", {"nope": 0.5})
    with pytest.raises(InputError, match="0…1"):
        write_strengths(tmp_path / "m", {"wild": 1.5})
    with pytest.raises(InputError, match="positive"):
        calibrate_strengths(model, photos, encoder, target=0)
    with pytest.raises(InputError, match="unknown style"):
        calibrate_strengths(model, photos, encoder, styles=["zzz"])


def test_cli_calibrate_writes_the_strengths_and_refuses_bad_input_first(model, encoder, tmp_path, capsys):
    from core.cli import main
    from core.io.images import write_image

    save_model(model, tmp_path / "m")
    folder = tmp_path / "photos"
    for name in ("astronaut", "coffee"):
        write_image(folder / f"{name}.png", photo(name, 48))
    before = (tmp_path / "m" / "model.toml").read_bytes()
    assert main(["stylebank", "calibrate", str(tmp_path / "m"), "--photos", str(folder), "--size", "48",
                 "--dry-run", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["written"] is False and (tmp_path / "m" / "model.toml").read_bytes() == before
    assert report["strengths"]["wild"] < 1.0 and report["layers"] == ["relu2_2", "relu3_3"]
    assert main(["stylebank", "calibrate", str(tmp_path / "m"), "--photos", str(folder), "--size", "48",
                 "--quiet"]) == 0
    written = read_manifest(tmp_path / "m")["styles"]
    assert written["wild"]["strength"] < 1.0 and written["gentle"]["strength"] == 1.0
    capsys.readouterr()
    for extra, words in ((["--photos", str(tmp_path / "none")], "does not exist"),
                         (["--photos", str(folder), "--target", "-1"], "target"),
                         (["--photos", str(folder), "--style", "zzz"], "unknown style")):
        code = main(["stylebank", "calibrate", str(tmp_path / "m"), *extra, "--quiet"])
        err = capsys.readouterr().err
        assert code != 0 and err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1, err
    code = main(["stylebank", "calibrate", "vendored_models/stylebank", "--photos", str(folder), "--quiet"])
    assert code != 0 and "copy its folder" in capsys.readouterr().err
