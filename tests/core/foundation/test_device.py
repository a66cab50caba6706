"""Tests for core.foundation.device: device resolution, autocast policy and the CPU/CUDA tolerance.

CUDA availability is monkeypatched for the policy tests, so they mean the same thing on a machine
with a GPU. The one test that needs a real GPU is marked ``cuda`` and skipped without one.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from core.foundation.device import autocast_context, autocast_dtype, resolve_device
from core.foundation.errors import DeviceError, NSTError


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("spec", ["auto", None])
def test_auto_is_cpu_without_cuda(no_cuda, spec) -> None:
    assert resolve_device(spec) == torch.device("cpu")


def test_auto_is_cuda_with_cuda(one_gpu) -> None:
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("spec", ["cpu", torch.device("cpu")])
def test_explicit_cpu(no_cuda, spec) -> None:
    assert resolve_device(spec) == torch.device("cpu")


# Explicit ids: tests/conftest.py skips items whose keywords contain "cuda", and a bare id "cuda" would be one.
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", torch.device("cuda")], ids=["str", "str-index", "torch-device"])
def test_cuda_without_cuda_is_a_clear_error(no_cuda, spec) -> None:
    with pytest.raises(DeviceError) as info:
        resolve_device(spec)
    message = str(info.value)
    assert "CUDA is not available" in message and "use the cpu device" in message and info.value.setting == "device"
    assert torch.__version__ in message
    assert isinstance(info.value, NSTError) and info.value.exit_code == 5


def test_cuda_index_out_of_range(one_gpu) -> None:
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceError, match=r"'cuda:3' does not exist; 1 CUDA device\(s\) found"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("spec", ["tpu", "gpu", "", "cuda:x"])
def test_unknown_device_string(no_cuda, spec) -> None:
    with pytest.raises(DeviceError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["mps", "meta", "xla"])
def test_unsupported_device_type(no_cuda, spec) -> None:
    with pytest.raises(DeviceError, match=f"unsupported device '{spec}'"):
        resolve_device(spec)


def test_autocast_on_cpu_is_a_no_op_factory() -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu) is None
    factory = autocast_context(cpu)
    assert factory is nullcontext
    a = torch.rand(4, 4)
    with factory():
        assert (a @ a).dtype == torch.float32
    with factory():  # a factory: usable again
        pass


@pytest.mark.parametrize(("bf16", "dtype"), [(True, torch.bfloat16), (False, torch.float16)])
def test_autocast_dtype_on_cuda(monkeypatch: pytest.MonkeyPatch, bf16: bool, dtype: torch.dtype) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    cuda = torch.device("cuda")
    assert autocast_dtype(cuda) == dtype
    factory = autocast_context(cuda)
    assert factory.func is torch.autocast
    assert factory.keywords == {"device_type": "cuda", "dtype": dtype}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_cuda_encoders_agree() -> None:
    """The CPU/CUDA tolerance: relu4_1 of the default encoder agrees within 2e-2 relative (L2).

    On CUDA the encoder runs under ``autocast_context`` (bf16 where supported, else fp16). Measured
    with CPU autocast as a stand-in: bf16 ≈ 5e-3, fp16 ≈ 6e-4 relative on this 64 × 80 image.
    """
    from core.nn import encoder_weights, vgg
    from core.foundation.errors import WeightsNotFoundError

    try:
        cpu_encoder = vgg.get_encoder(device="cpu")
    except WeightsNotFoundError as exc:
        pytest.skip(f"no encoder weights on this machine: {exc}")
    cuda = resolve_device("cuda")
    cuda_encoder = vgg.get_encoder(device=cuda)
    h, w = 64, 80
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    image = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 2 * yy), yy, 0.3 + 0.5 * xx * yy])[None]
    try:
        ref = cpu_encoder(image, ["relu4_1"])["relu4_1"]
        with autocast_context(cuda)():
            got = cuda_encoder(image.to(cuda), ["relu4_1"])["relu4_1"]
        assert got.device.type == "cuda"
        rel = ((got.float().cpu() - ref).norm() / ref.norm()).item()
        assert rel < 2e-2, f"CPU/CUDA relu4_1 relative difference {rel:.2e} ({autocast_dtype(cuda)})"
    finally:
        vgg._cached_encoder.cache_clear()
        encoder_weights._load_cached.cache_clear()


def test_training_autocast_follows_the_precision_and_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import nullcontext

    from core.foundation import device as dev
    from core.foundation.errors import DeviceError

    cpu = torch.device("cpu")
    assert dev.training_autocast(cpu, "fp32") is nullcontext
    with dev.training_autocast(cpu, "bf16")():
        assert torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4)).dtype == torch.bfloat16
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda native=native: native)
        with dev.training_autocast(cpu, "auto")():
            assert torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4)).dtype == expected
    with pytest.raises(DeviceError, match="unknown precision 'fp8'"):
        dev.training_autocast(cpu, "fp8")
