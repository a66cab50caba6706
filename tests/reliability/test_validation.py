"""Bad values stop before work (issue 18, class 4).

Every option and every manifest value is checked before anything heavy runs: the request's and
config's ``validate()`` (``core/requests/checks.py::check_number`` for every number: type,
finiteness, range), a memory estimate from the image header (``check_memory``), the output's bit
depth against its format, the StyleBank manifest against its schema
(``core/stylebank/manifest.py``), and FIFOs, device files and folders are refused by ``os.stat``
without being opened (``core/foundation/files.py``). Each CLI case: one ``error:`` line, the
right exit code, no output, and within seconds (no encoder loaded, no optimisation run).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.foundation.errors import InputError, ModelError
from core.requests import AnalogyConfig, GatysConfig, StylizeRequest, VideoRequest
from core.stylebank.manifest import ARCHITECTURES, read_manifest
from tests.reliability.helpers import REPO, cli, cli_env, make_model, write_pan

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    src = write_pan(root / "in", 2)
    return root, src.parent / "frame_0001.png", src.parent / "frame_0002.png", make_model(root / "model")


def _run(argv, env=None, timeout=60):
    t0 = time.monotonic()
    run = subprocess.run(argv, cwd=REPO, env=env or cli_env(), capture_output=True, text=True, timeout=timeout)
    return run, time.monotonic() - t0


def _one_error(run, code: int, *words: str) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == code, run.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert run.stdout == ""
    return lines[0]


STYLIZE_CASES = {
    "NaN learning rate": (["--learning-rate", "nan"], "learning rate must be a finite number"),
    "zero learning rate": (["--learning-rate", "0"], "learning rate must be > 0"),
    "negative learning rate": (["--learning-rate", "-1"], "learning rate must be > 0"),
    "infinite style weight": (["--style-weight", "inf"], "style_weight must be a finite number"),
    "negative content weight": (["--content-weight", "-2"], "content_weight must be ≥ 0"),
    "NaN tv weight": (["--tv-weight", "nan"], "tv_weight must be a finite number"),
    "NaN style scale": (["--style-scale", "nan"], "style_scale"),
    "negative style blend weight": (["--style-weights", "-1"], "style weights"),
    "size past the limit": (["--size", "100000"], "size (the long side in px) must be"),
    "16-bit JPEG": (["--bit-depth", "16", "-o", "OUT.jpg"], ".jpg files cannot hold 16-bit"),
    "32-bit PNG": (["--bit-depth", "32"], ".png files cannot hold 32-bit"),
    "unknown layer": (["--style-layers", "relu9_9"], "unknown encoder layer"),
    "tiny tile": (["--tile-size", "2"], "tile_size must be ≥ 64"),
}


@pytest.mark.parametrize("case", list(STYLIZE_CASES))
def test_bad_gatys_values_are_one_line_before_any_work(files, case):
    root, content, style, _ = files
    extra, words = STYLIZE_CASES[case]
    out = root / f"out-{case.replace(' ', '-')}"
    extra = [str(out) + x[3:] if x.startswith("OUT") else x for x in extra]
    argv = cli("stylize", content, style, "--device", "cpu", "--quiet", *extra)
    if "-o" not in extra:
        argv += ["-o", str(out) + ".png"]
    run, seconds = _run(argv)
    _one_error(run, 2, words)
    assert not list(root.glob("out-*")), "an output was written"
    print(f"\n{case}: refused in {seconds:.2f} s (interpreter start included)")
    assert seconds < 20


def test_an_absurd_memory_estimate_is_refused_with_the_number(files):
    root, content, _, model = files
    env = {**cli_env(), "NST_MEMORY_LIMIT_MB": "2048"}  # a 2 GB machine
    run, _ = _run(cli("stylize", content, "--method", "stylebank", "--model", model, "--style", "a",
                      "--size", "16000", "-o", root / "big.png", "--device", "cpu", "--quiet"), env)
    line = _one_error(run, 2, "16000×12000 working size needs about", "GB of memory", "more than the 2.0 GB",
                      "(--size)")
    need = float(line.split("needs about ")[1].split(" GB")[0])
    assert 15 < need < 20  # 192 MP × (12 B × width 4 + 48 B) = 17.2 GB
    run, _ = _run(cli("video", content.parent, "-o", root / "bigv", "--model", model, "--style", "a",
                      "--size", "16000", "--device", "cpu", "--quiet"), env)
    _one_error(run, 2, "needs about")
    run, _ = _run(cli("video", content.parent, "-o", root / "bigv", "--model", model, "--style", "a",
                      "--size", "90000", "--device", "cpu", "--quiet"))
    _one_error(run, 2, "size (the long side in px) must be ≥ 16 and ≤ 16384, got 90000")
    assert not (root / "big.png").exists() and not (root / "bigv").exists()


def test_bad_training_values_are_refused_before_the_loss_network_loads(files):
    root, content, _, _ = files
    for extra, words in ((["--lr", "nan"], "learning rate (lr) must be a finite number"),
                         (["--lr", "0"], "learning rate (lr) must be > 0"),
                         (["--width", "100000"], "width must be"),
                         (["--style-weight", "-1"], "style_weight must be ≥ 0")):
        run, _ = _run(cli("stylebank", "train", "--content-dir", content.parent, "--style", f"s={content}",
                          "--out", root / "trained", "--encoder-weights", root / "nowhere.h5", *extra))
        _one_error(run, 2, words)  # the (missing) encoder weights were never looked at
    assert not (root / "trained").exists()


MANIFESTS = {
    "width as text": ('format = "stylebank/3"\nwidth = "16"\n', "width must be a whole number"),
    "huge width": ('format = "stylebank/3"\nwidth = 1000000000\n', "width must be a whole number 1…256"),
    "negative width": ('format = "stylebank/3"\nwidth = -4\n', "width must be a whole number"),
    "float width": ('format = "stylebank/3"\nwidth = 16.5\n', "width must be a whole number"),
    "bool width": ('format = "stylebank/3"\nwidth = true\n', "width must be a whole number"),
    "unknown architecture": ('format = "stylebank/9"\nwidth = 16\n', "format 'stylebank/9' is not one of"),
    "styles not a table": ('format = "stylebank/3"\nwidth = 16\nstyles = 5\n', "[styles] must be a table"),
    "style not a table": ('format = "stylebank/3"\nwidth = 16\n[styles]\na = "x"\n', "[styles.a] must be a table"),
    "bad digest": ('format = "stylebank/3"\nwidth = 16\n[styles.a]\nsha256 = "zz"\n', "sha256 must be 64"),
    "file as a number": ('format = "stylebank/3"\nwidth = 16\n[base]\nfile = 3\n', "[base].file must be"),
    "bad style name": ('format = "stylebank/3"\nwidth = 16\n[styles."../x"]\nfile = "x"\n', "invalid style name"),
    "not UTF-8": (b'format = "stylebank/3"\xff\n', "not UTF-8"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_malformed_manifests_are_one_model_error(tmp_path, files, case):
    text, words = MANIFESTS[case]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.toml").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ModelError, match="model"):
        read_manifest(folder)
    run, _ = _run(cli("stylebank", "list", folder))
    _one_error(run, 4, words)
    _, content, _, _ = files
    run, _ = _run(cli("video", content.parent, "-o", tmp_path / "out", "--model", folder, "--style", "a",
                      "--device", "cpu", "--quiet"))
    _one_error(run, 4, words)
    assert not (tmp_path / "out").exists()


def _addon_available_styles(folder: Path) -> list:
    """``addon.model_styles.available_styles(folder)``, run in a subprocess.

    The add-on package imports ``bpy``, which must not enter the test process (it crashes the
    interpreter at exit); the subprocess ends with ``os._exit``. A timeout is a hang.
    """
    code = f"""
import importlib, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("nst_repo_under_test", {str(REPO / "__init__.py")!r},
                                              submodule_search_locations=[{str(REPO)!r}])
module = importlib.util.module_from_spec(spec)
sys.modules["nst_repo_under_test"] = module
spec.loader.exec_module(module)
styles = importlib.import_module("nst_repo_under_test.addon.model_styles").available_styles({str(folder)!r})
print("NST_STYLES", repr(styles), flush=True)
os._exit(0)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    lines = [line for line in run.stdout.splitlines() if line.startswith("NST_STYLES ")]
    assert lines, run.stdout + run.stderr
    return eval(lines[-1][len("NST_STYLES "):])  # noqa: S307 - our own repr of a list of names


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_special_files_are_refused_without_being_opened(tmp_path, files, kind):
    root, content, _, model = files
    folder = tmp_path / "m"
    folder.mkdir()
    special = {"fifo": lambda p: os.mkfifo(p), "device": lambda p: os.symlink("/dev/zero", p),
               "folder": lambda p: p.mkdir()}[kind]
    special(folder / "model.toml")
    words = {"fifo": "is a FIFO (named pipe)", "device": "is a device file", "folder": "is a folder"}[kind]
    run, seconds = _run(cli("stylebank", "list", folder), timeout=30)
    _one_error(run, 4, "model manifest", words)
    # the add-on's style menu reads the same way: it must answer (with no styles), not hang
    assert _addon_available_styles(folder) == [], "the add-on's style list read a special file"
    # as an image, a style image, encoder weights: refused, never opened
    image = tmp_path / "img.png"
    special(image)
    run, _ = _run(cli("stylize", image, content, "-o", tmp_path / "o.png", "--device", "cpu", "--quiet"), timeout=30)
    _one_error(run, 2, "img.png")
    run, _ = _run(cli("stylize", content, image, "-o", tmp_path / "o.png", "--device", "cpu", "--quiet"), timeout=30)
    _one_error(run, 2, "img.png")
    weights = tmp_path / "w.h5"
    special(weights)
    run, _ = _run(cli("stylize", content, content, "-o", tmp_path / "o.png", "--encoder-weights", weights,
                      "--device", "cpu", "--quiet"), timeout=30)
    _one_error(run, 4, "w.h5")
    assert not (tmp_path / "o.png").exists()


def test_request_validation_covers_every_number():
    bad_gatys = [dict(learning_rate=NAN), dict(learning_rate=0.0), dict(content_weight=NAN), dict(tv_weight=-1.0),
                 dict(iterations=0), dict(iterations=2.5), dict(iterations=True), dict(style_scale=0.0),
                 dict(memory_budget_mb=-5), dict(target_loss=NAN), dict(detail_transfer=INF), dict(tile_overlap=-1),
                 dict(seed=1.5), dict(pyramid_levels=-1), dict(content_weight=0.0, style_weight=0.0)]
    for kw in bad_gatys:
        with pytest.raises(InputError):
            GatysConfig(**kw).validate()
    base = dict(source=Path("in"), output=Path("out"), style_names=("a",))
    for kw in [dict(keep=NAN), dict(strength=NAN), dict(size=10**6), dict(fps=0.0), dict(fps=NAN),
               dict(method="gatys", styles=(Path("s.png"),), temporal_weight=NAN),
               dict(method="gatys", styles=(Path("s.png"),), gatys_next_iterations=0),
               dict(style_weights=(NAN,))]:
        with pytest.raises(InputError):
            VideoRequest(**{**base, **kw}).validate()
    for kw in [dict(kappa=0.0), dict(tau=NAN), dict(refine_eps=NAN), dict(alphas=(NAN, 0.5, 0.5, 0.1)),
               dict(deconv_history=0), dict(patch_sizes=(5, 5, 3, 3, 2.5))]:
        with pytest.raises(InputError):
            AnalogyConfig(**kw).validate()
    for kw in [dict(size=0), dict(bit_depth=12), dict(bit_depth=16, output=Path("o.jpg")), dict(strength=INF)]:
        with pytest.raises(InputError):
            StylizeRequest(**{**dict(content=Path("c.png"), output=Path("o.png"), method="stylebank",
                                     style_names=("a",)), **kw}).validate()
    GatysConfig().validate()
    VideoRequest(**base).validate()
    AnalogyConfig().validate()


def test_the_torch_free_manifest_reader_knows_every_architecture():
    from core.stylebank.net import ARCHITECTURES as NET

    assert tuple(ARCHITECTURES) == tuple(NET)
