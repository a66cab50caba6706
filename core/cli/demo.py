"""``make demo``: a Blender scene rendered and stylised, plus a Gatys still.

1. **Scene** (the main job): ``addon/demo_scene.py`` runs in a subprocess with PyPI ``bpy``,
   builds an animated scene procedurally (moving objects and camera), and renders it with Cycles on
   the CPU through the add-on's **Style Transfer** compositor node (vendored StyleBank model,
   coherence on, motion from the Vector pass). Then this module stylises the same frames per frame
   for comparison, measures the temporal warping error of both, and writes under ``--out``:
   ``scene/render/`` (the plain render), ``scene/stylized/`` (the node's coherent frames),
   ``scene/per_frame/``, ``scene/stylized.mp4``, ``scene/sheet.png`` and ``scene/result.json``.
2. **Still**: a scikit-image photo stylised by Gatys with a procedurally painted style
   (:func:`paint_strokes`): ``content.png``, ``style.png``, ``stylized.png``,
   ``stylized_luminance.png`` (colour preserved), ``sheet.png``, ``result.json``.

Nothing is downloaded and ``../shared`` is not needed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..foundation.atomic_write import atomic_write_bytes
from ..foundation.progress import ProgressEvent
from ..io.images import write_image

PALETTE = np.array(
    [[226, 73, 39], [247, 178, 38], [42, 96, 168], [24, 45, 89], [238, 222, 190], [121, 167, 84],
     [189, 47, 92], [20, 20, 24]], dtype=np.float32,
) / 255.0


def paint_strokes(size: int = 384, seed: int = 7) -> torch.Tensor:
    """A procedural "painting": layered curved brush strokes from a fixed palette.

    Args:
        size: Side of the square image.
        seed: Random seed (the picture is a pure function of it).

    Returns:
        ``(1, 3, size, size)`` display sRGB in [0, 1].
    """
    rng = np.random.default_rng(seed)
    canvas = np.ones((size, size, 3), np.float32) * PALETTE[4]
    for layer, (count, width) in enumerate(((60, 0.06), (220, 0.03), (500, 0.012))):
        for _ in range(count):
            colour = PALETTE[rng.integers(len(PALETTE))] * rng.uniform(0.85, 1.1)
            x, y = rng.uniform(0, size, 2)
            angle = rng.uniform(0, math.pi) + layer * 0.4
            pts = []
            for _ in range(8):
                pts.append((x, y))
                angle += rng.normal(0, 0.25)
                x += math.cos(angle) * size * 0.03
                y += math.sin(angle) * size * 0.03
            thickness = max(1, int(size * width * rng.uniform(0.6, 1.4)))
            cv2.polylines(canvas, [np.array(pts, np.int32)], False, colour.clip(0, 1).tolist(), thickness,
                          lineType=cv2.LINE_AA)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6)
    grain = rng.normal(0, 0.02, canvas.shape[:2])[..., None].astype(np.float32)
    return torch.from_numpy((canvas + grain).clip(0, 1)).permute(2, 0, 1)[None].contiguous()


def _content_photo() -> torch.Tensor:
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - make setup installs it
        raise SystemExit("error: the demo needs scikit-image for its sample photo; run `make setup`") from exc
    img = data.astronaut().astype(np.float32) / 255.0
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _to_u8(t: torch.Tensor, height: int) -> np.ndarray:
    a = (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    w = round(a.shape[1] * height / a.shape[0])
    return cv2.resize(a, (w, height), interpolation=cv2.INTER_AREA)


def run_scene(out: Path, *, frames: int = 24, size: str = "320x180", samples: int = 16, style: str = "la_muse",
              model: Path | None = None, timeout: int = 900) -> dict:
    """Render the demo scene through the Style Transfer node and compare with per-frame stylisation.

    Returns:
        The facts written to ``out/result.json``.

    Raises:
        RuntimeError: The Blender run failed (its error is included).
    """
    from ..io.sequences import open_frames, open_sink
    from ..jobs.video import run_video
    from ..requests.video import VideoRequest
    from ..video.temporal_metrics import warping_error

    repo = Path(__file__).resolve().parents[2]
    work = out / ".blender_run"
    if work.exists():
        shutil.rmtree(work)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "resources"))
    cmd = [sys.executable, str(repo / "addon" / "demo_scene.py"), "--repo", str(repo), "--out", str(work / "out"),
           "--frames", str(frames), "--size", size, "--samples", str(samples), "--style", style]
    if model is not None:
        cmd += ["--model", str(model)]
    print(f"demo: rendering {frames} frames ({size}) through the Style Transfer node …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("NST_DEMO ")]
    info = json.loads(lines[-1][len("NST_DEMO "):]) if lines else {"error": proc.stderr[-3000:]}
    if proc.returncode != 0 or "error" in info:
        raise RuntimeError(f"the Blender demo render failed:\n{info.get('error') or proc.stderr[-3000:]}")
    render_seconds = time.perf_counter() - started

    node = Path(info["node_folder"])
    if out.exists():
        for sub in ("render", "stylized", "input", "per_frame"):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(Path(info["render"])), out / "render")
    shutil.move(str(node / "stylized"), out / "stylized")
    shutil.move(str(node / "input"), out / "input")
    shutil.rmtree(work, ignore_errors=True)

    print("demo: per-frame stylisation of the same frames for comparison …", file=sys.stderr, flush=True)
    inputs = out / "input" / "frame_####.png"
    run_video(VideoRequest(source=inputs, output=out / "per_frame", model=model, style_names=(style,),
                           coherent=False, overwrite=True, device="cpu"))
    frames_in = _read_all(out / "input")
    coherent = _read_all(out / "stylized")
    per_frame = _read_all(out / "per_frame")
    err_coherent = warping_error(coherent, frames_in)
    err_per_frame = warping_error(per_frame, frames_in)

    sink = open_sink(out / "stylized.mp4", like=open_frames(out / "stylized" / "frame_####.png"), fps=24,
                     overwrite=True)
    for info_frame, image in open_frames(out / "stylized" / "frame_####.png").iter_frames():
        sink.write(info_frame, image.srgb())
    sink.finish()

    show = sorted({1, max(1, frames // 3), max(1, 2 * frames // 3), frames})
    rows = []
    for label, folder in (("render", "render"), ("per frame", "per_frame"), ("coherent (node)", "stylized")):
        cells = [cv2.imread(str(out / folder / f"frame_{n:04d}.png"))[:, :, ::-1] for n in show]
        rows.append(np.concatenate([_label(c, f"{label}, frame {n}") for c, n in zip(cells, show)], axis=1))
    ok, png = cv2.imencode(".png", np.concatenate(rows, axis=0)[:, :, ::-1])
    atomic_write_bytes(out / "sheet.png", png.tobytes())
    result = {
        "frames": frames, "size": info["size"], "style": style, "model": str(model or "vendored"),
        "render_and_stylise_seconds": round(render_seconds, 1), "node_status": info["status"],
        "warping_error": {"coherent": round(err_coherent, 6), "per_frame": round(err_per_frame, 6),
                          "ratio": round(err_coherent / err_per_frame, 3) if err_per_frame > 0 else None},
        "outputs": {"render": "render/", "stylized": "stylized/", "per_frame": "per_frame/", "video": "stylized.mp4",
                    "sheet": "sheet.png"},
    }
    atomic_write_bytes(out / "result.json", json.dumps(result, indent=2).encode())
    print(f"demo: warping error coherent {err_coherent:.5f} vs per-frame {err_per_frame:.5f} "
          f"({err_coherent / max(err_per_frame, 1e-12):.2f}×); wrote {out}/", file=sys.stderr, flush=True)
    return result


def _read_all(folder: Path) -> list[torch.Tensor]:
    from ..io.images import read_image

    return [read_image(p).srgb() for p in sorted(folder.glob("frame_*.png"))]


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns an exit code."""
    parser = argparse.ArgumentParser(prog="python -m core.cli.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--size", type=int, default=384, help="Gatys still: long side")
    parser.add_argument("--iterations", type=int, default=150, help="Gatys still: iterations")
    parser.add_argument("--frames", type=int, default=24, help="scene: frames to render")
    parser.add_argument("--scene-size", default="320x180", help="scene: render size WxH")
    parser.add_argument("--samples", type=int, default=16, help="scene: Cycles samples")
    parser.add_argument("--style", default="la_muse", help="scene: StyleBank style")
    parser.add_argument("--model", type=Path, default=None, help="scene: StyleBank model (default: vendored)")
    parser.add_argument("--no-scene", action="store_true", help="skip the Blender scene")
    parser.add_argument("--no-still", action="store_true", help="skip the Gatys still")
    args = parser.parse_args(argv)
    if not args.no_scene:
        try:
            run_scene(args.out / "scene", frames=args.frames, size=args.scene_size, samples=args.samples,
                      style=args.style, model=args.model)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.no_still:
        return 0
    return _still(args)


def _still(args: argparse.Namespace) -> int:
    """The Gatys still: photo + generated painting → stylised, luminance variant, sheet."""
    from tqdm import tqdm

    from ..gatys.solver import stylize_gatys
    from ..imaging.resize import resize_long_side
    from ..nn.vgg import get_encoder
    from ..requests.gatys import GatysConfig

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = args.out
    content = resize_long_side(_content_photo(), args.size)
    style = paint_strokes(args.size)
    write_image(out / "content.png", content)
    write_image(out / "style.png", style)
    encoder = get_encoder()
    results = {}
    for name, mode in (("stylized", "none"), ("stylized_luminance", "luminance")):
        config = GatysConfig(iterations=args.iterations, preserve_color=mode)
        with tqdm(total=1, desc=name, file=sys.stderr, leave=False) as bar:
            def progress(event: ProgressEvent) -> bool:
                bar.total, bar.n = event.total, event.step
                bar.set_postfix(loss=f"{event.loss:.3g}" if event.loss is not None else "", refresh=True)
                return True

            start = time.perf_counter()
            result = stylize_gatys(content, [style], encoder, config=config, progress=progress)
        write_image(out / f"{name}.png", result.image)
        results[name] = {"seconds": round(time.perf_counter() - start, 2), "losses": result.losses,
                         "levels": result.levels, "iterations": result.iterations}
    panels = [_label(_to_u8(content, 320), "content (scikit-image astronaut)"),
              _label(_to_u8(style, 320), "style (generated)"),
              _label(_to_u8(torch.from_numpy(cv2.imread(str(out / "stylized.png"))[:, :, ::-1] / 255.0)
                            .permute(2, 0, 1)[None].float(), 320), "Gatys, coarse-to-fine"),
              _label(_to_u8(torch.from_numpy(cv2.imread(str(out / "stylized_luminance.png"))[:, :, ::-1] / 255.0)
                            .permute(2, 0, 1)[None].float(), 320), "luminance only (colour kept)")]
    sheet = np.concatenate(panels, axis=1)
    ok, png = cv2.imencode(".png", sheet[:, :, ::-1])
    atomic_write_bytes(out / "sheet.png", png.tobytes())
    atomic_write_bytes(out / "result.json", json.dumps(results, indent=2).encode())
    print(f"demo: wrote {out}/stylized.png, {out}/sheet.png ({sum(r['seconds'] for r in results.values()):.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
