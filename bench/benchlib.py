"""Helpers shared by the benchmark scripts: machine description, load average, atomic result files."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename (readers never see half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_png_atomic(path: Path, bgr) -> None:
    """Encode a BGR ``uint8`` picture as PNG and write it atomically (exits with a message if OpenCV cannot)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise SystemExit(f"could not encode {path}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or ``None`` where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine(threads: int) -> dict:
    """CPU model, core counts, RAM, OS, Python/torch/OpenCV versions, torch threads and CUDA device."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        import cv2

        opencv = cv2.__version__
    except ImportError:
        opencv = None
    return {
        "cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable, "ram_gib": mem_gib,
        "os": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "opencv": opencv, "torch_threads": threads,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def update_docs_section(path: Path, heading: str, section: str) -> None:
    """Replace (or append) the section starting at the line ``heading`` in a markdown file.

    The section runs to the next ``## `` heading; the other sections stay as they are. Written
    atomically.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    new = section.strip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += [""] + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = lines[end:]
        lines = lines[:start] + new + ([""] + tail if tail else [])
    write_text_atomic(path, "\n".join(lines) + "\n")


def pick_style(manifest: dict, model_src: Path, wanted: str | None, override: str | None,
               styles_dir: Path) -> tuple[str, Path]:
    """``(bank, its style image)``: ``wanted`` (else the model's first style) and :func:`style_image_for`.

    Raises:
        SystemExit: The model has no styles, or not ``wanted``.
    """
    styles = list(manifest.get("styles", {}))
    if not styles:
        raise SystemExit(f"{model_src} has no styles")
    style = wanted or styles[0]
    if style not in styles:
        raise SystemExit(f"style {style!r} not in the model; it has: {', '.join(styles)}")
    return style, style_image_for(manifest, style, override, styles_dir)


def spawn_one(script: str, cfg: dict, threads: int, what: str, *, prefix: str,
              extra_env: dict | None = None) -> dict:
    """Run ``script --one <cfg>`` in a fresh process with ``threads`` threads; return its result JSON.

    The child writes its result to ``cfg["result_path"]``; the load average at the start is added
    as ``loadavg_start``.

    Raises:
        SystemExit: The child failed (``what`` says which run).
    """
    import subprocess
    import sys
    import tempfile

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    for key, value in (extra_env or {}).items():
        env.setdefault(key, value)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        result = Path(tmp) / "result.json"
        cfg = dict(cfg, threads=threads, result_path=str(result))
        load = loadavg()
        proc = subprocess.run([sys.executable, str(Path(script).resolve()), "--one", json.dumps(cfg)],
                              cwd=Path(script).resolve().parent.parent, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed (exit {proc.returncode})")
        out = json.loads(result.read_text(encoding="utf-8"))
    out["loadavg_start"] = load
    return out


def style_image_for(manifest: dict, style: str, override: str | None, styles_dir: Path) -> Path:
    """The style image of a StyleBank bank: ``override``, else the file its ``model.toml`` names.

    Raises:
        SystemExit: The image cannot be found (with what to pass instead).
    """
    if override:
        p = Path(override)
        if not p.is_file():
            raise SystemExit(f"--style-image {p} does not exist")
        return p
    name = manifest["styles"][style].get("image")
    if not name:
        raise SystemExit(f"the manifest records no image for style {style!r}; pass --style-image")
    p = Path(styles_dir) / name
    if not p.is_file():
        raise SystemExit(f"style image {p} (from the manifest) not found; pass --style-image")
    return p


def section_start(heading: str, result: dict, smoke: str) -> list[str]:
    """The first lines of a benchmark's docs section: its heading and, for a ``--quick`` run, a warning.

    Args:
        heading: The section's ``## …`` line.
        result: The benchmark's result (``result["quick"]`` marks a smoke run).
        smoke: What the smoke run used ("tiny sizes, two pairs").
    """
    lines = [heading, ""]
    if result.get("quick"):
        lines += [f"> **Smoke run (`--quick`): {smoke}; these numbers are not results.**", ""]
    return lines
