"""Shared pieces of the add-on tests: a tiny StyleBank model, running a Blender-side check script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import blender_pythons

REPO = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "NST_RESULT "


def tiny_model(folder: Path, seed: int = 0) -> Path:
    """A random width-4 StyleBank model (styles ``a``, ``b``) whose banks change the image.

    A fresh bank is the identity, so each bank's last convolution gets random weights (std 0.2)
    from a generator seeded with ``seed``; the network's own initialisation uses the same seed.
    """
    torch = pytest.importorskip("torch")
    from core.stylebank.model import save_model
    from core.stylebank.net import StyleBankNet

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the network's own initialisation draws from the global RNG
        torch.manual_seed(seed)
        net = StyleBankNet(width=4, styles=("a", "b"))
    with torch.no_grad():
        for name in net.styles:
            weight = net.banks[name].layers[-1].weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.2)
    return save_model(net, folder, base_info={"steps": 0})


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def run_check_script(script: Path, mode: str, args: list[str], *, cwd: Path, timeout: int,
                     env: dict[str, str] | None = None,
                     expect_exit: int | None = None) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``script MODE ARGS`` under PyPI ``bpy`` in a subprocess; return its checks.

    The Python is :func:`tests.blender_pythons.current`: the Blender version the test runs under.

    The script prints ``NST_RESULT {json}``; a timeout, a non-zero exit or a failed check fails the
    test with the script's output. With ``expect_exit`` only the exit code is checked.
    """
    python = blender_pythons.current()
    if blender_pythons.bpy_version(python) is None:
        pytest.skip(f"PyPI bpy is not installed for {python}: make setup")
    command = [str(python), str(script), mode, *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd,
                              env=env if env is not None else dict(os.environ))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script.name} {mode} ran past {timeout} s\n--- stdout ---\n{_text(exc.stdout)[-6000:]}\n"
                    f"--- stderr ---\n{_text(exc.stderr)[-6000:]}")
    if expect_exit is not None:
        assert proc.returncode == expect_exit, (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
        return {}, proc
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else None
    if proc.returncode != 0 or result is None or not result["ok"]:
        failed = {} if result is None else {k: v for k, v in result["checks"].items() if not v[0]}
        pytest.fail(f"{script.name} {mode} exited {proc.returncode}; failed checks: {json.dumps(failed, indent=1)}\n"
                    f"error: {None if result is None else result['error']}\n"
                    f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return result["checks"], proc
