"""Render a Blender clip with fast motion and its Vector/Depth passes, for ``bench/video.py``.

The scene is ``make demo``'s (``addon/demo_scene.py``: a ball, a crate and a ring moving over a
checkered floor under a moving camera), with its whole motion squeezed into ``--frames`` frames, so
objects cross the frame fast (tens of pixels a frame at 640×360). Cycles on the CPU, motion blur
off (the Vector pass is exact only without it). Written:

* ``<out>/frames/frame_####.png``: the render through the scene's view transform;
* ``<out>/passes/passes_####.exr``: a multilayer EXR per frame with the ``Vector`` and ``Depth``
  passes (what ``--flow vectors --vectors-dir`` reads).

    .venv/bin/python bench/blender_clip.py --out /tmp/blender_clip           # 16 frames, 640×360
    .venv/bin/python bench/video.py --clip /tmp/blender_clip/frames --vectors-dir /tmp/blender_clip/passes \\
        --configs per-frame coherent-image coherent-vectors --no-ghost --no-docs --out bench/results/video_blender.json

Runs Blender (PyPI ``bpy``) in a subprocess that ends with ``os._exit``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = r'''
import json, os, runpy, sys
from types import SimpleNamespace
import bpy
out, frames, width, height, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = SimpleNamespace(**runpy.run_path(sys.argv[6]))
scene = d.build_scene(frames, (width, height), samples)
scene.render.use_motion_blur = False
layer = scene.view_layers[0]
layer.use_pass_vector = True
layer.use_pass_z = True
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = os.path.join(out, "frames", "frame_####")
passes = os.path.join(out, "passes")
os.makedirs(passes, exist_ok=True)
for frame in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=False)
    result = bpy.data.images["Render Result"]
    scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
    result.save_render(os.path.join(passes, f"passes_{frame:04d}.exr"), scene=scene)
    scene.render.image_settings.file_format = "PNG"
    result.save_render(os.path.join(out, "frames", f"frame_{frame:04d}.png"), scene=scene)
print("NST_CLIP " + json.dumps({"frames": frames, "size": [width, height]}), flush=True)
os._exit(0)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", default="640x360", help="WxH")
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(args.out.resolve()), str(args.frames), str(width),
                           str(height), str(args.samples), str(ROOT / "addon" / "demo_scene.py")],
                          capture_output=True, text=True, timeout=3600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("NST_CLIP ")), None)
    if line is None:
        print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        return 1
    info = json.loads(line[len("NST_CLIP "):])
    print(f"wrote {info['frames']} frames ({width}×{height}) and their passes under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
