"""run_analogy: results at the inputs' own sizes, the working size a separate setting, nothing left on failure."""

from __future__ import annotations

import pytest
import torch

from core.foundation.errors import Cancelled, InputError, OutputError
from core.io.images import read_image, write_image
from core.jobs.analogy import run_analogy
from core.requests.analogy import AnalogyConfig, AnalogyRequest
from tests.conftest import photo

#: A small working size and few iterations: these tests check sizes and files, not quality.
FAST = AnalogyConfig(size=96, iterations=(1,) * 5, deconv_iterations=(1,) * 4)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny work items, a shared 2-core machine (see tests/core/analogy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def pair(tmp_path):
    a, b_prime = tmp_path / "a.png", tmp_path / "b_prime.png"
    write_image(a, torch.nn.functional.interpolate(photo("astronaut", 256), size=(192, 256), mode="bilinear"))
    write_image(b_prime, photo("coffee", 120))  # 80×120 (H×W)
    return tmp_path, a, b_prime


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_results_have_the_inputs_sizes_by_default(pair):
    folder, a, b_prime = pair
    outcome = run_analogy(AnalogyRequest(a=a, b_prime=b_prime, output=folder / "out", analogy=FAST, device="cpu"))
    # a 256×192 A gives a 256×192 A′; B has B′'s size; the analysis ran at 96 px
    assert read_image(outcome.a_prime).size == (192, 256) and outcome.size_a == (192, 256)
    assert read_image(outcome.b).size == (80, 120) and outcome.size_b == (80, 120)
    assert outcome.working_size_a == (72, 96) and outcome.working_size_b == (64, 96)
    assert outcome.nnf is None and _files(folder / "out") == ["A_prime.png", "B.png"]
    assert outcome.seconds["job"] >= outcome.seconds["total"] > 0


def test_result_size_and_nnf_export(pair):
    folder, a, b_prime = pair
    outcome = run_analogy(AnalogyRequest(a=a, b_prime=b_prime, output=folder / "out", analogy=FAST, result_size=64,
                                         export_nnf=True, device="cpu"))
    assert outcome.size_a == (48, 64) and read_image(outcome.a_prime).size == (48, 64)
    assert outcome.size_b == (43, 64) and read_image(outcome.b).size == (43, 64)
    assert set(outcome.nnf) == {"nnf_ab", "nnf_ba", "nnf_ab_png", "nnf_ba_png"}
    assert read_image(outcome.nnf["nnf_ab_png"]).size == outcome.working_size_a  # NNFs stay at the working size


def test_bad_requests_and_cancel_leave_nothing(pair):
    folder, a, b_prime = pair
    out = folder / "out"
    with pytest.raises(InputError, match="working size") as info:
        run_analogy(AnalogyRequest(a=a, b_prime=b_prime, output=out, analogy=AnalogyConfig(size=32)))
    assert info.value.setting == "size"
    with pytest.raises(InputError, match="result size"):
        run_analogy(AnalogyRequest(a=a, b_prime=b_prime, output=out, analogy=FAST, result_size=0))
    with pytest.raises(OutputError, match="one of the inputs"):
        run_analogy(AnalogyRequest(a=folder / "A_prime.png", b_prime=b_prime, output=folder, analogy=FAST))
    with pytest.raises(Cancelled):
        run_analogy(AnalogyRequest(a=a, b_prime=b_prime, output=out, analogy=FAST, device="cpu"),
                    progress=lambda event: False)
    assert not out.exists() or _files(out) == []
