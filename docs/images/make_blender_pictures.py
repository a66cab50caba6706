"""Pictures for docs/blender.md, made from the real add-on in headless Blender (no screenshots here).

* ``blender_node_tree.png``: the demo scene's compositor tree and, inside the Style Transfer node,
  its group, drawn with Graphviz from the nodes and links Blender holds (names, sockets, links as
  they are; colours after Blender's node categories).
* ``blender_styles.png``: the style menu's pictures (``vendored_models/stylebank/thumbnails``) with
  their labels, as the menu lists them.
* ``blender_result.png``: the demo scene (``make demo``): a frame as rendered and the stylised frame
  the node writes, whole and the middle at 200 %.

    .venv/bin/python docs/images/make_blender_pictures.py [--demo out/demo/scene]

Needs ``dot`` (Graphviz) on the PATH and PyPI ``bpy`` in the running Python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images"

COLOURS = {"CompositorNodeRLayers": "#e06666", "NodeGroupInput": "#9a9a9a", "NodeGroupOutput": "#9a9a9a",
           "CompositorNodeComposite": "#9a9a9a", "CompositorNodeViewer": "#9a9a9a",
           "CompositorNodeOutputFile": "#9a9a9a", "CompositorNodeImage": "#e06666"}


def tree_json(out: Path) -> dict:
    """The demo tree and the node's group as data, from a headless Blender run of this repository."""
    code = f'''
import json, runpy, sys
from types import SimpleNamespace
import bpy
d = SimpleNamespace(**runpy.run_path({str(ROOT / "addon" / "demo_scene.py")!r}))
scene = d.build_scene(2, (64, 36), 1)
d._enable({str(ROOT)!r})
node = d.add_node(scene, "la_muse", True)
tree = d._compat().compositor_tree(scene)
viewer = tree.nodes.new("CompositorNodeViewer")
tree.links.new(node.outputs["Image"], viewer.inputs[0])

def dump(t):
    return {{"nodes": [{{"name": n.name, "label": n.label or n.name, "type": n.bl_idname,
                        "inputs": [s.name for s in n.inputs if s.enabled and not s.hide and s.name],
                        "outputs": [s.name for s in n.outputs if s.enabled and not s.hide and s.name]}} for n in t.nodes],
             "links": [[l.from_node.name, l.from_socket.name, l.to_node.name, l.to_socket.name] for l in t.links]}}

print("NST_TREE " + json.dumps({{"top": dump(tree), "group": dump(node.node_tree), "node": node.name}}), flush=True)
import os
os._exit(0)
'''
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BLENDER_USER_RESOURCES": str(out / "user")})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("NST_TREE ")), None)
    if line is None:
        raise SystemExit(f"Blender run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(line[len("NST_TREE "):])


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dot_tree(tree: dict, title: str, highlight: str | None) -> str:
    lines = [f'subgraph "cluster_{title}" {{', f'label=<<b>{_html(title)}</b>>; style=rounded; color="#888888";']
    for n in tree["nodes"]:
        head = COLOURS.get(n["type"], "#8fbf6a" if n["name"] == highlight else "#7f9fcf")
        rows = [f'<tr><td bgcolor="{head}" colspan="2"><b>{_html(n["label"])}</b></td></tr>']
        for s in n["outputs"]:
            rows.append(f'<tr><td></td><td port="o_{_html(s)}" align="right">{_html(s)} ●</td></tr>')
        for s in n["inputs"]:
            rows.append(f'<tr><td port="i_{_html(s)}" align="left">● {_html(s)}</td><td></td></tr>')
        label = '<table border="0" cellborder="0" cellspacing="0" cellpadding="3" bgcolor="#3d3d3d">' + \
                "".join(rows) + "</table>"
        lines.append(f'"{title}/{n["name"]}" [shape=plain, fontcolor="#eeeeee", label=<{label}>];')
    for a, sa, b, sb in tree["links"]:
        lines.append(f'"{title}/{a}":"o_{sa}" -> "{title}/{b}":"i_{sb}";')
    lines.append("}")
    return "\n".join(lines)


def node_tree_picture(data: dict, path: Path) -> None:
    dot = "\n".join([
        "digraph tree {", 'graph [rankdir=LR, bgcolor="#2b2b2b", fontcolor="#dddddd", fontname="Helvetica", '
        'nodesep=0.3, ranksep=0.6];', 'node [fontname="Helvetica", fontsize=10];',
        'edge [color="#c8c8c8", arrowsize=0.6];',
        _dot_tree(data["top"], "Compositor (the demo scene)", data["node"]),
        _dot_tree(data["group"], f"inside '{data['node']}' (its private group)", None),
        "}"])
    subprocess.run(["dot", "-Tpng", "-Gdpi=100", "-o", str(path)], input=dot, text=True, check=True)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    bar = np.full((22, img.shape[1], 3), 30, np.uint8)
    cv2.putText(bar, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def styles_sheet(path: Path) -> None:
    """The thumbnails with the labels the menu shows, four a row."""
    import cv2
    import tomllib

    folder = ROOT / "vendored_models" / "stylebank"
    styles = list(tomllib.loads((folder / "model.toml").read_text())["styles"])
    tiles = []
    for name in styles:
        img = cv2.imread(str(folder / "thumbnails" / f"{name}.png"))
        label = " ".join(w.capitalize() for w in name.split("_"))
        tiles.append(_label(img, label))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]
    cv2.imwrite(str(path), np.vstack(rows))


def result_picture(demo: Path, path: Path, frame: int = 12) -> None:
    """The demo scene's frame as rendered and as the node stylised it, whole and the middle at 200 %."""
    import cv2

    name = f"frame_{frame:04d}.png"
    paths = [("as rendered", demo / "render" / name), ("stylised by the node", demo / "stylized" / name)]
    imgs = []
    for label, p in paths:
        img = cv2.imread(str(p))
        if img is None:
            raise SystemExit(f"{p} is missing: run `make demo` first")
        imgs.append((label, img))
    h, w = imgs[0][1].shape[:2]
    y, x = h // 4, w // 4  # the middle quarter, at 200 %: as wide as the whole frame
    whole = [_label(img, label) for label, img in imgs]
    crops = [_label(cv2.resize(img[y:y + h // 2, x:x + w // 2], (w, h), interpolation=cv2.INTER_NEAREST),
                    f"{label} (200 %)") for label, img in imgs]
    top, bottom = np.hstack(whole), np.hstack(crops)
    cv2.imwrite(str(path), np.vstack([top, bottom]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=ROOT / "out" / "demo" / "scene", help="make demo's scene folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node_tree_picture(tree_json(Path(tmp)), OUT / "blender_node_tree.png")
    styles_sheet(OUT / "blender_styles.png")
    if (args.demo / "render").is_dir():
        result_picture(args.demo, OUT / "blender_result.png")
    for name in ("blender_node_tree.png", "blender_styles.png", "blender_result.png"):
        if (OUT / name).exists():
            print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
