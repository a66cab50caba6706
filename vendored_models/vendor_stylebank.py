"""Copy a trained StyleBank model folder into ``vendored_models/stylebank`` and register its files.

Maintenance script (not used at run time)::

    .venv/bin/python vendored_models/vendor_stylebank.py TRAINED_MODEL_DIR --content-note "..." \
        --hardware "..."

It loads the folder (every file's sha256 is checked), copies ``base.safetensors``, the banks and
``model.toml`` (the training folder path is replaced by ``--content-note``, the wall time and the
loss summary from ``train_log.jsonl`` are added), then rewrites the ``[stylebank]`` tables of
``registry.toml`` with each file's path, size and sha256. The checkpoint and the raw log stay behind.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from core.foundation.atomic_write import atomic_write_bytes  # noqa: E402
from core.foundation.registry import REGISTRY_PATH, sha256_of  # noqa: E402
from core.stylebank.model import BANK_DIR, BASE_FILE, DEFAULT_MODEL_DIR, MANIFEST, load_model  # noqa: E402


def _log_summary(log: Path) -> dict:
    """Wall time and the mean losses of the last 500 steps of a training log."""
    if not log.exists():
        return {}
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    train = [r for r in rows if r.get("phase") == "train"]
    if not train:
        return {}
    times = [r["time"] for r in train]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # pauses (stops and resumes) are not training time: count a gap above 60 s as a restart
    wall = sum(g for g in gaps if g < 60)
    tail = train[-500:]
    out = {"train_seconds": round(wall, 1), "train_steps_logged": len(train)}
    for key in ("content", "style", "tv", "identity"):
        vals = [r[key] for r in tail if key in r]
        if vals:
            out[f"final_{key}_loss_mean"] = round(statistics.fmean(vals), 5)
    return out


def _registry_without_stylebank(text: str) -> str:
    keep, skipping = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = line.strip("[] ").startswith("stylebank")
        if not skipping:
            keep.append(line)
    return "\n".join(keep).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    import tomli_w

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--content-note", required=True, help="what the content training set was")
    ap.add_argument("--hardware", required=True, help="where it was trained")
    ap.add_argument("--styles-note", default="../shared/data/styles", help="where the style images came from")
    args = ap.parse_args(argv)

    src = args.model_dir.resolve()
    net, manifest = load_model(src)  # verifies every digest
    dest = DEFAULT_MODEL_DIR
    if dest.exists():
        shutil.rmtree(dest)
    (dest / BANK_DIR).mkdir(parents=True)
    shutil.copy2(src / manifest["base"].get("file", BASE_FILE), dest / BASE_FILE)
    for name, info in manifest["styles"].items():
        shutil.copy2(src / info["file"], dest / info["file"])
    base = dict(manifest["base"])
    base["content"] = args.content_note
    base["hardware"] = args.hardware
    base.update(_log_summary(src / "train_log.jsonl"))
    manifest["base"] = base
    for info in manifest["styles"].values():
        info["image_source"] = args.styles_note
    atomic_write_bytes(dest / MANIFEST, tomli_w.dumps(manifest).encode())

    reg = _registry_without_stylebank(REGISTRY_PATH.read_text(encoding="utf-8"))
    entries = {"base": dest / BASE_FILE, **{f"banks.{n}": dest / i["file"] for n, i in manifest["styles"].items()}}
    blocks = []
    for key, path in entries.items():
        rel = path.relative_to(REGISTRY_PATH.parent).as_posix()
        blocks.append(
            f"[stylebank.{key}]\nfile = \"{rel}\"\nsha256 = \"{sha256_of(path)}\"\nsize = {path.stat().st_size}\n"
            f"architecture = \"stylebank/2 width {manifest['width']}\"\nformat = \"safetensors\"\n"
            f"source = \"trained in this project (see stylebank/model.toml and docs/stylebank.md)\"\n"
            f"licence = \"same as the project\"\n"
        )
    header = ("\n# The vendored default StyleBank model (vendored_models/stylebank), registered by path.\n"
              "# Written by vendored_models/vendor_stylebank.py.\n")
    atomic_write_bytes(REGISTRY_PATH, (reg + header + "\n".join(blocks)).encode())
    tomllib.loads(REGISTRY_PATH.read_text())  # still valid TOML
    from core.foundation.registry import load_registry

    load_registry.cache_clear()
    check, _ = load_model(None)
    print(f"vendored {len(check.styles)} styles into {dest}: {', '.join(check.styles)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
