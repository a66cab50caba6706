"""PatchMatch (exactness against brute force, upsampling, voting) and Deep Image Analogy end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.analogy.deconvolution import deconvolve, forward_between
from core.analogy.deep_analogy import deep_image_analogy, response_map
from core.requests.analogy import AnalogyConfig, check_analogy_size
from core.cli import main
from core.foundation.errors import Cancelled, InputError
from core.io.images import read_image, write_image
from core.analogy.nnf import nnf_to_color, upsample_nnf, vote
from core.analogy.patch_space import nnf_distance
from core.analogy.patchmatch import brute_force_nnf, identity_nnf, patchmatch
from core.analogy.refine import guided_filter
from tests.conftest import photo

#: Few iterations everywhere: the end-to-end tests check plumbing and invariants, not quality.
FAST = AnalogyConfig(size=None, iterations=(2, 1, 1, 1, 1), deconv_iterations=(1, 1, 1, 1))


@pytest.fixture(autouse=True)
def _one_thread():
    """Run these tests on one intra-op thread, restoring the setting afterwards.

    The work items here are tiny; on the 2-core CI/dev machine, shared with other jobs, every
    parallel op waits at a thread barrier for a busy core, which made this file 30× slower
    (measured: 158 s with 2 threads vs 4 s with 1 while a training job ran). Results do not
    depend on the thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _smooth(c: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    x = torch.randn(1, c, h + 2, w + 2, generator=g)
    return F.avg_pool2d(x, 3, 1)[0]


def _window_pair(seed: int):
    """A-side maps are a 12×12 window of smooth random fields; B′/B are the whole 16×15 fields plus noise.

    Every A patch has a true, coherent match, as between related images.
    """
    g = torch.Generator().manual_seed(seed)
    field, field2 = _smooth(8, 16, 15, g), _smooth(8, 16, 15, g)
    a, a_prime = field[:, 2:14, 1:13], field2[:, 2:14, 1:13]
    b_prime = field + 0.1 * torch.randn(8, 16, 15, generator=g)
    b = field2 + 0.1 * torch.randn(8, 16, 15, generator=g)
    return a, b_prime, a_prime, b


def _two_piece_pair(seed: int):
    """B′/B (14×11) are assembled from two differently shifted pieces of A/A′ plus noise: the exact NNF
    has a seam, and pixels near it have isolated optima that only random search can find."""
    g = torch.Generator().manual_seed(seed)
    a, a_prime = _smooth(8, 12, 12, g), _smooth(8, 12, 12, g)

    def b_side(m: torch.Tensor) -> torch.Tensor:
        top = torch.roll(m, (2, -3), (1, 2))[:, :7, :11]
        bottom = torch.roll(m, (-1, 1), (1, 2))[:, 5:12, 1:12]
        return torch.cat([top, bottom], 1) + 0.1 * torch.randn(8, 14, 11, generator=g)

    return a, b_side(a), a_prime, b_side(a_prime)


# --------------------------------------------------------------------------------------------
# PatchMatch
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_patchmatch_converges_to_brute_force(seed):
    a, b_prime, a_prime, b = _window_pair(seed)
    exact_nnf, exact_d = brute_force_nnf(a, b_prime, a2=a_prime, b2=b, patch_size=3)
    nnf, d = patchmatch(a, b_prime, a2=a_prime, b2=b, patch_size=3, iterations=20,
                        generator=torch.Generator().manual_seed(seed))
    assert nnf.shape == (12, 12, 2) and nnf.dtype == torch.int64 and d.shape == (12, 12)
    assert (nnf == exact_nnf).all(-1).float().mean() >= 0.95
    assert (d - exact_d).abs().max() <= 1e-4  # every pixel reached the optimal distance
    assert torch.equal(nnf_distance(a, b_prime, nnf, a2=a_prime, b2=b, patch_size=3), d)


def test_patchmatch_near_seams_is_mostly_exact():
    exact = []
    for seed in range(6):
        a, b_prime, a_prime, b = _two_piece_pair(seed)
        exact_nnf, exact_d = brute_force_nnf(a, b_prime, a2=a_prime, b2=b, patch_size=3)
        nnf, d = patchmatch(a, b_prime, a2=a_prime, b2=b, patch_size=3, iterations=20,
                            generator=torch.Generator().manual_seed(seed))
        exact.append(float((nnf == exact_nnf).all(-1).float().mean()))
        assert (d >= exact_d - 1e-4).all()
    assert min(exact) >= 0.9 and sum(exact) / len(exact) >= 0.95, exact


def test_patchmatch_one_pair_and_patch_5():
    a, b_prime, _, _ = _window_pair(7)
    exact_nnf, exact_d = brute_force_nnf(a, b_prime, patch_size=5)
    nnf, d = patchmatch(a, b_prime, patch_size=5, iterations=20, generator=torch.Generator().manual_seed(0))
    assert (nnf == exact_nnf).all(-1).float().mean() >= 0.95
    assert (d - exact_d).abs().max() <= 1e-4


def test_patchmatch_on_incoherent_features_only_improves():
    """i.i.d. noise has no coherent NNF, so PatchMatch cannot find it quickly; it must still be
    consistent, never beat the optimum, and more iterations (same seed) never make a pixel worse."""
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(8, 12, 12, generator=g), torch.randn(8, 12, 12, generator=g)
    _, exact_d = brute_force_nnf(a, b, patch_size=3)
    runs = [patchmatch(a, b, patch_size=3, iterations=n, generator=torch.Generator().manual_seed(1))
            for n in (0, 3, 10)]
    for (n0, d0), (n1, d1) in zip(runs, runs[1:]):
        assert (d1 <= d0).all()
    for nnf, d in runs:
        assert (d >= exact_d - 1e-4).all()
        assert torch.equal(nnf_distance(a, b, nnf, patch_size=3), d)
    assert runs[-1][1].mean() < runs[0][1].mean()


def test_patch_distance_definition_by_hand():
    """Replicate padding, per-pixel channel normalisation, zero vectors and two pairs, checked with loops."""
    g = torch.Generator().manual_seed(0)
    a, a2 = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    b, b2 = torch.randn(3, 5, 3, generator=g), torch.randn(3, 5, 3, generator=g)
    a[:, 0, 0] = 0.0  # an all-zero feature vector: normalised to 0, not to a unit vector
    nnf = torch.stack([torch.randint(0, 5, (4, 5), generator=g), torch.randint(0, 3, (4, 5), generator=g)], -1)

    def unit(v):
        n = v.norm()
        return v / n if n > 1e-8 else v * 0

    def at(m, y, x):
        return unit(m[:, min(max(y, 0), m.shape[1] - 1), min(max(x, 0), m.shape[2] - 1)].double())

    expected = torch.zeros(4, 5, dtype=torch.float64)
    for y in range(4):
        for x in range(5):
            qy, qx = nnf[y, x].tolist()
            for oy in (-1, 0, 1):
                for ox in (-1, 0, 1):
                    expected[y, x] += (at(a, y + oy, x + ox) - at(b, qy + oy, qx + ox)).pow(2).sum()
                    expected[y, x] += (at(a2, y + oy, x + ox) - at(b2, qy + oy, qx + ox)).pow(2).sum()
    got = nnf_distance(a, b, nnf, a2=a2, b2=b2, patch_size=3)
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=1e-5)


def test_patchmatch_rejects_bad_arguments():
    a = torch.rand(4, 8, 8)
    with pytest.raises(InputError, match="odd"):
        patchmatch(a, a, patch_size=4, iterations=1)
    with pytest.raises(InputError, match="together"):
        patchmatch(a, a, a2=a, patch_size=3, iterations=1)
    with pytest.raises(InputError, match="channels"):
        patchmatch(a, torch.rand(5, 8, 8), patch_size=3, iterations=1)
    with pytest.raises(InputError, match="int64"):
        patchmatch(a, a, patch_size=3, iterations=1, init=identity_nnf((8, 8)).int())
    with pytest.raises(InputError, match="outside"):
        patchmatch(a, torch.rand(4, 4, 4), patch_size=3, iterations=1, init=identity_nnf((8, 8)))


def test_upsample_nnf_doubling_is_exact():
    ident = identity_nnf((6, 5))
    up = upsample_nnf(ident, (12, 10), target_hw=(12, 10), old_target_hw=(6, 5))
    assert torch.equal(up, identity_nnf((12, 10)))
    shifted = ident.clone()
    shifted[..., 0] = (shifted[..., 0] + 1).clamp(max=6)  # target grid 7×8: shift stays inside
    shifted[..., 1] += 2
    up = upsample_nnf(shifted, (12, 10), target_hw=(14, 16), old_target_hw=(7, 8))
    expected = identity_nnf((12, 10)) + torch.tensor([2, 4])
    assert torch.equal(up, expected)


def test_upsample_nnf_odd_sizes_stays_close_to_identity():
    # relu sizes of a 300 px side with ceil-mode pooling: 38 → 75
    up = upsample_nnf(identity_nnf((38, 19)), (75, 38), target_hw=(75, 38), old_target_hw=(38, 19))
    assert up.shape == (75, 38, 2)
    assert (up - identity_nnf((75, 38))).abs().max() <= 1


def test_vote_identity_and_constant_shift():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 9, 11, generator=g)
    for k in (1, 3, 5):
        torch.testing.assert_close(vote(img, identity_nnf((9, 11)), k), img)
    # A is 6×7; every patch maps to the same place shifted by (2, 3): A(p) = B(p + (2, 3))
    shift = identity_nnf((6, 7)) + torch.tensor([2, 3])
    voted = vote(img, shift, 3)
    assert voted.shape == (1, 3, 6, 7)
    torch.testing.assert_close(voted, img[:, :, 2:8, 3:10])
    torch.testing.assert_close(vote(img[0], shift, 1), img[0, :, 2:8, 3:10])


def test_vote_averages_overlapping_patches():
    img = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5)
    nnf = identity_nnf((1, 2))
    nnf[0, 1] = torch.tensor([4, 4])  # second pixel's patch is centred on the bottom-right corner
    out = vote(img, nnf, 3)
    # pixel (0,0): its own patch gives B(0,0)=0; the neighbour's patch (offset −1 in x) gives
    # B(4, 3) = 23 → mean 11.5. Pixel (0,1): own patch B(4,4)=24; the left patch gives B(0,1)=1.
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([11.5, 12.5]))


def test_nnf_to_color_codes_x_red_y_green():
    rgb = nnf_to_color(identity_nnf((5, 7)))
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[0, 6].tolist() == [255, 0, 0]
    assert rgb[4, 0].tolist() == [0, 255, 0]
    assert (rgb[..., 2] == 0).all()


# --------------------------------------------------------------------------------------------
# Deep Image Analogy
# --------------------------------------------------------------------------------------------


def test_forward_between_reproduces_the_encoder(encoder):
    x = photo("astronaut", 48)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    feats = encoder(x, layers)
    for lo, hi in zip(layers, layers[1:]):
        torch.testing.assert_close(forward_between(encoder, feats[lo], lo, hi), feats[hi])
    with pytest.raises(InputError):
        forward_between(encoder, feats["relu2_1"], "relu2_1", "relu1_1")


def test_deconvolution_inverts_the_sub_network(encoder):
    feats = encoder(photo("coffee", 48), ["relu3_1", "relu4_1"])
    target = feats["relu4_1"]
    start = F.avg_pool2d(feats["relu3_1"], 5, 1, 2)  # a blurred guess
    before = (forward_between(encoder, start, "relu3_1", "relu4_1") - target).norm()
    evals = []
    x = deconvolve(encoder, target, start, "relu3_1", "relu4_1", iterations=10, on_eval=evals.append)
    after = (forward_between(encoder, x, "relu3_1", "relu4_1") - target).norm()
    assert after < 0.5 * before
    assert len(evals) <= 16 and evals[-1] < evals[0]


def test_identity_pair_gives_back_a(encoder):
    a = photo("astronaut", 80)
    result = deep_image_analogy(a, a, encoder, config=FAST)
    assert (result.a_prime - a).abs().mean() < 0.01
    assert (result.b - a).abs().mean() < 0.01
    assert (result.nnf_ab == identity_nnf((80, 80))).all(-1).float().mean() > 0.9


def test_outputs_have_the_input_sizes(encoder):
    a = photo("astronaut", 96)[:, :, :, 8:80]       # 96×72 (portrait)
    b_prime = photo("coffee", 100)[:, :, :66, :]    # 66×100 (landscape)
    steps = []
    result = deep_image_analogy(a, b_prime, encoder, config=FAST, progress=lambda e: steps.append(e) or True)
    assert result.a_prime.shape == (1, 3, 96, 72) and result.b.shape == (1, 3, 66, 100)
    assert result.nnf_ab.shape == (96, 72, 2) and result.nnf_ba.shape == (66, 100, 2)
    assert result.nnf_ab.dtype == torch.int64
    assert int(result.nnf_ab[..., 0].max()) < 66 and int(result.nnf_ab[..., 1].max()) < 100
    assert int(result.nnf_ba[..., 0].max()) < 96 and int(result.nnf_ba[..., 1].max()) < 72
    assert 0.0 <= float(result.a_prime.min()) and float(result.a_prime.max()) <= 1.0
    assert set(result.seconds) >= {"features", "patchmatch", "deconvolution", "voting", "total"}
    assert result.layers == {"5": "relu5_1", "4": "relu4_1", "3": "relu3_1", "2": "relu2_1", "1": "relu1_1"}
    assert steps[-1].step == steps[-1].total
    # a working size, fewer levels and the photo refinement
    sized = deep_image_analogy(a, b_prime, encoder, config=AnalogyConfig(
        size=40, levels=2, iterations=(1,) * 5, deconv_iterations=(1,) * 4, refine=True))
    assert sized.a_prime.shape == (1, 3, 40, 30) and sized.b.shape == (1, 3, 26, 40)
    assert sized.layers == {"2": "relu2_1", "1": "relu1_1"}


def test_sizes_and_cancel_are_enforced(encoder):
    with pytest.raises(InputError, match="at least 64"):
        deep_image_analogy(photo("astronaut", 48), photo("coffee", 64), encoder, config=FAST)
    with pytest.raises(InputError, match="limit"):
        check_analogy_size((600, 1100))
    with pytest.raises(InputError, match="size"):
        AnalogyConfig(size=32).validate()
    with pytest.raises(Cancelled):
        deep_image_analogy(photo("astronaut", 64), photo("coffee", 96), encoder, config=FAST,
                           progress=lambda e: False)


def test_response_map_and_guided_filter():
    f = torch.zeros(1, 4, 3, 3)
    f[0, :, 1, 1] = 1.0
    m = response_map(f)
    assert m.shape == (1, 1, 3, 3) and m[0, 0, 1, 1] > 0.99 and m[0, 0, 0, 0] < 0.01
    guide = photo("astronaut", 32)
    affine = torch.tensor([[0.5, 0.2, 0.0], [0.0, 1.0, 0.1], [0.3, 0.0, 0.4]])
    src = torch.einsum("ij,bjhw->bihw", affine, guide) + 0.05
    torch.testing.assert_close(guided_filter(guide, src, 2, 1e-6), src, atol=2e-3, rtol=0)
    flat = torch.full((1, 3, 32, 32), 0.3)
    torch.testing.assert_close(guided_filter(guide, flat, 2, 1e-3), flat, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

CLI_FAST = ["--size", "96", "--iterations", "1", "--deconv-iterations", "1", "--quiet"]


@pytest.fixture()
def pair(tmp_path):
    a, b_prime = tmp_path / "a.png", tmp_path / "b_prime.jpg"
    write_image(a, photo("astronaut", 80)[:, :, :, :60])   # 80×60 → 96×72
    write_image(b_prime, photo("coffee", 90))              # 60×90 → 64×96
    return tmp_path, a, b_prime


def test_cli_writes_results_and_nnfs(pair, capsys):
    folder, a, b_prime = pair
    out = folder / "out"
    code = main(["analogy", str(a), str(b_prime), "-o", str(out), "--export-nnf", "--json", *CLI_FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    # results at the inputs' own sizes, the analysis (and the NNFs) at the working size
    assert data["size_a"] == [60, 80] and data["size_b"] == [90, 60]
    assert data["working_size_a"] == [72, 96] and data["working_size_b"] == [96, 64]
    assert sorted(p.name for p in out.iterdir()) == [
        "A_prime.png", "B.png", "nnf_ab.npy", "nnf_ab.png", "nnf_ba.npy", "nnf_ba.png"]
    assert read_image(out / "A_prime.png").size == (80, 60) and read_image(out / "B.png").size == (60, 90)
    nnf_ab, nnf_ba = np.load(out / "nnf_ab.npy"), np.load(out / "nnf_ba.npy")
    assert nnf_ab.shape == (96, 72, 2) and nnf_ba.shape == (64, 96, 2) and nnf_ab.dtype == np.int64
    assert 0 <= nnf_ab.min() and nnf_ab[..., 0].max() < 64 and nnf_ab[..., 1].max() < 96
    assert 0 <= nnf_ba.min() and nnf_ba[..., 0].max() < 96 and nnf_ba[..., 1].max() < 72
    assert read_image(out / "nnf_ab.png").size == (96, 72) and read_image(out / "nnf_ba.png").size == (64, 96)


def _expect_error(argv, capsys, folder, out):
    code = main([str(x) for x in argv])
    captured = capsys.readouterr()
    assert code != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""
    assert not out.exists() or list(out.iterdir()) == []
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]
    return lines[0]


def test_cli_bad_inputs_leave_nothing(pair, capsys):
    folder, a, b_prime = pair
    out = folder / "out"
    out.mkdir()
    corrupt = folder / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    thin = folder / "thin.png"
    write_image(thin, torch.rand(1, 3, 30, 400))
    cases = [
        ([folder / "missing.png", b_prime], "does not exist"),
        ([a, corrupt], "corrupt"),
        ([thin, b_prime], "at least 64"),
    ]
    for inputs, message in cases:
        line = _expect_error(["analogy", *inputs, "-o", out, *CLI_FAST], capsys, folder, out)
        assert message in line
    for size in ("32", "4096"):
        line = _expect_error(["analogy", a, b_prime, "-o", out, "--size", size, "--quiet"], capsys, folder, out)
        assert "size" in line
    fresh = folder / "never_created"
    _expect_error(["analogy", a, folder / "missing.png", "-o", fresh, *CLI_FAST], capsys, folder, fresh)
    assert not fresh.exists()
    line = _expect_error(["analogy", a, b_prime, "-o", a, *CLI_FAST], capsys, folder, out)
    assert "is a file" in line


@pytest.mark.cuda
def test_patchmatch_and_analogy_on_cuda():
    from core.nn.vgg import get_encoder

    a, b_prime, a_prime, b = _window_pair(0)
    _, exact_d = brute_force_nnf(a, b_prime, a2=a_prime, b2=b, patch_size=3)
    nnf, d = patchmatch(a.cuda(), b_prime.cuda(), a2=a_prime.cuda(), b2=b.cuda(), patch_size=3, iterations=20,
                        generator=torch.Generator().manual_seed(0))
    assert nnf.is_cuda and (d.cpu() - exact_d).abs().max() <= 1e-4
    img = photo("astronaut", 64)
    result = deep_image_analogy(img, img, get_encoder(device="cuda"), config=FAST)
    assert (result.a_prime - img).abs().mean() < 0.01
