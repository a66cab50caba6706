"""The stroke-size pyramid: passes, their join, and a look that does not depend on the output size."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from core.foundation.errors import InputError, ModelError
from core.stylebank.fusion import stylebank_forward
from core.stylebank.infer import stylize_stylebank
from core.stylebank.model import load_model, save_model
from core.stylebank.net import StyleBankNet
from core.stylebank.scales import MAX_RATIO, join_passes, multiscale, pass_sizes, reference_long_side
from tests.conftest import photo


def test_pass_sizes():
    assert pass_sizes((300, 400), None) == [(300, 400)]  # no reference: one pass at the output size
    assert pass_sizes((384, 512), 500) == [(384, 512)]  # within 10 % of the reference: one pass
    assert pass_sizes((192, 256), 512) == [(384, 512)]  # smaller: at the reference size, then averaged down
    assert pass_sizes((1080, 1920), 512) == [(288, 512), (1080, 1920)]
    sizes = pass_sizes((2160, 3840), 256)  # 15× the reference: two ratios of about 3.9
    assert sizes[0] == (144, 256) and sizes[-1] == (2160, 3840) and len(sizes) == 3
    ratios = [b[1] / a[1] for a, b in zip(sizes, sizes[1:])]
    assert all(r <= MAX_RATIO + 0.01 for r in ratios)
    assert pass_sizes((1024, 1024), 512) == [(512, 512), (1024, 1024)]


def test_join_of_a_consistent_pyramid_gives_the_finest_image_back():
    """Passes that are exact area averages of one image (factor 2) join back into that image."""
    x = photo("astronaut", 256)
    passes = [F.interpolate(x, size=(32, 32), mode="area"), F.interpolate(x, size=(128, 128), mode="area"), x]
    assert torch.allclose(join_passes(passes, (256, 256)), x, atol=1e-5)
    # the coarsest pass decides the low band: a change there moves the whole picture's average
    shifted = [passes[0] + 0.1, *passes[1:]]
    assert torch.allclose(join_passes(shifted, (256, 256)).mean(), x.mean() + 0.1, atol=1e-4)


def test_reference_long_side_and_stroke_range():
    assert reference_long_side(512, 1.0) == 512
    assert reference_long_side(512, 2.0) == 256  # strokes twice as large: the network sees a smaller picture
    assert reference_long_side(None, 2.0) is None
    for bad in (0, 0.1, 5, float("nan"), True):
        with pytest.raises(InputError, match="stroke size") as err:
            reference_long_side(512, bad)
        assert err.value.setting == "stroke"


def _net():
    torch.manual_seed(0)
    net = StyleBankNet(width=6, styles=("a",), arch=4)
    for bank in net.banks.values():
        torch.nn.init.normal_(bank.layers[-1].weight, std=0.3)
    for block in (*net.encoder.half_res, *net.decoder.half_res):
        torch.nn.init.normal_(block.body[2].weight, std=0.05)
    return net.eval()


def test_the_look_at_a_large_size_is_the_look_at_the_reference_size():
    """With a reference size, a 4× larger output averaged back down is the reference-size picture;
    one pass at the large size draws other (relatively smaller) strokes."""
    net = _net()
    small, large = photo("astronaut", 96), photo("astronaut", 384)
    ref = stylize_stylebank(net, small, ["a"], reference=96).image
    multi = stylize_stylebank(net, large, ["a"], reference=96).image
    single = stylize_stylebank(net, large, ["a"]).image
    assert multi.shape == large.shape
    err_multi = (F.interpolate(multi, size=(96, 96), mode="area") - ref).abs().mean()
    err_single = (F.interpolate(single, size=(96, 96), mode="area") - ref).abs().mean()
    assert err_multi < 0.01 < err_single
    # and the large picture is not the small one enlarged: the larger passes add their fine band
    enlarged = F.interpolate(ref, size=(384, 384), mode="bilinear", align_corners=False)
    def high(t):
        return t - F.avg_pool2d(t, 3, 1, 1, count_include_pad=False)
    assert high(multi).abs().mean() > 1.5 * high(enlarged).abs().mean()


def test_a_small_output_runs_at_the_reference_size():
    net = _net()
    x = photo("coffee", 64)  # 43 × 64
    out = stylize_stylebank(net, x, ["a"], reference=128).image
    assert pass_sizes((43, 64), 128) == [(86, 128)]
    with torch.no_grad():
        big = stylebank_forward(net, F.interpolate(x, size=(86, 128), mode="bilinear", align_corners=False), ["a"])
    assert torch.allclose(out, F.interpolate(big, size=(43, 64), mode="area").clamp(0, 1), atol=1e-5)


def test_masks_follow_every_pass_and_a_wrong_mask_size_is_refused():
    torch.manual_seed(0)
    net = StyleBankNet(width=4, styles=("a", "b"), arch=3).eval()
    for bank in net.banks.values():
        torch.nn.init.normal_(bank.layers[-1].weight, std=0.3)
    x = photo("astronaut", 128)
    left = torch.zeros(1, 1, 128, 128)
    left[..., :64] = 1
    fused = stylize_stylebank(net, x, ["a", "b"], masks=[left, 1 - left], reference=48).image
    only_a = stylize_stylebank(net, x, ["a"], reference=48).image
    only_b = stylize_stylebank(net, x, ["b"], reference=48).image
    assert (fused[..., 8:-8, 8:40] - only_a[..., 8:-8, 8:40]).abs().mean() < \
        (fused[..., 8:-8, 8:40] - only_b[..., 8:-8, 8:40]).abs().mean()
    with pytest.raises(InputError, match="every mask"):
        stylize_stylebank(net, x, ["a", "b"], masks=[left[..., :64], left[..., :64]], reference=48)


def test_multiscale_calls_one_pass_per_size_in_order():
    seen = []
    out = multiscale(photo("astronaut", 200), 16, lambda i, img: seen.append((i, tuple(img.shape[-2:]))) or img)
    assert [s for _, s in seen] == pass_sizes((200, 200), 16) and [i for i, _ in seen] == [0, 1, 2]
    assert out.shape[-2:] == (200, 200)


def test_stroke_reference_in_the_manifest(tmp_path):
    net = _net()
    save_model(net, tmp_path / "m")
    manifest_path = tmp_path / "m" / "model.toml"
    text = manifest_path.read_text()
    manifest_path.write_text("stroke_reference = 384\n" + text)
    assert load_model(tmp_path / "m")[1]["stroke_reference"] == 384
    for bad in ("0", "true", "1.5", '"512"'):
        manifest_path.write_text(f"stroke_reference = {bad}\n" + text)
        with pytest.raises(ModelError, match="stroke_reference"):
            load_model(tmp_path / "m")


def test_training_writes_the_stroke_reference(encoder, tmp_path):
    from core.io.images import write_image
    from core.stylebank.train import TrainConfig, train
    from tests.conftest import stripes

    content = tmp_path / "content"
    write_image(content / "a.png", photo("astronaut", 40))
    write_image(tmp_path / "s.png", stripes((0.9, 0.1, 0.1), (0.1, 0.1, 0.1), 32))
    config = TrainConfig(size=16, batch_size=1, steps=0, ae_warmup=1, width=4, style_size=32)
    train(content, {"red": tmp_path / "s.png"}, tmp_path / "m", encoder, config=config)
    assert load_model(tmp_path / "m")[1]["stroke_reference"] == 32


@pytest.mark.parametrize("arch", [3, 4])
def test_banded_encoder_and_decoder_equal_one_piece(arch, monkeypatch):
    """E and D of architectures 3 and 4 run in row bands on large frames; the picture is the same."""
    from core.stylebank import fusion

    torch.manual_seed(1)
    net = StyleBankNet(width=4, styles=("a",), arch=arch).eval()
    for p in net.parameters():  # every block active, also the zero-initialised ones
        torch.nn.init.normal_(p, std=0.2)
    x = photo("astronaut", 512)[..., :408, :200].contiguous()  # 102 bottleneck rows: 4 bands, the last short
    monkeypatch.setattr(fusion, "BAND_MIN_PIXELS", 0)  # bands at this small size too
    with torch.no_grad():
        banded = fusion.stylebank_forward(net, x, ["a"])
        whole = net.decoder(net.banks["a"](net.encoder(x)))
    assert x.shape[-2] // 4 > 2 * fusion.BAND_ROWS
    assert torch.allclose(banded, whole, atol=1e-5), float((banded - whole).abs().max())
