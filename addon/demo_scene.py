"""``make demo``'s Blender side: build an animated scene, render it through the Style Transfer node.

Run with a Python that has ``bpy`` (the project's ``.venv``), never inside Blender's UI::

    .venv/bin/python addon/demo_scene.py --repo . --out out/demo/blender --frames 24 --size 320x180 --style la_muse

It starts from factory settings, enables this repository as the extension (in the user resource
folder named by ``BLENDER_USER_RESOURCES``, which the caller points at a private folder), builds a
procedural scene (a textured ground, three moving objects, a moving camera, sun and sky), puts a
**Style Transfer** node with coherence between Render Layers and the compositor's output
(Composite on Blender 4.x, the compositor node group's Group Output on 5.x), and renders the
animation with Cycles on the CPU. The node writes the stylised frames under ``--out/nst``; the
plain render goes to ``--out/render``. The last line printed is ``NST_DEMO {json}``.

Not part of the extension zip (excluded in ``blender_manifest.toml``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback

EXTENSION_ID = "neural_style_transfer"
MODULE = f"bl_ext.user_default.{EXTENSION_ID}"


def _enable(repo: str) -> None:
    import addon_utils
    import bpy

    repo_dir = bpy.utils.user_resource("EXTENSIONS", path="user_default", create=True)
    target = os.path.join(repo_dir, EXTENSION_ID)
    if not os.path.exists(target):
        os.symlink(os.path.abspath(repo), target, target_is_directory=True)
    errors: list = []
    if addon_utils.enable(MODULE, default_set=True, handle_error=errors.append) is None or errors:
        raise RuntimeError(f"could not enable the extension: {errors}")


def _material(name: str, kind: str, colours: tuple, scale: float):
    """A Principled material coloured by a procedural texture through a two-colour ramp."""
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.55
    coords = nt.nodes.new("ShaderNodeTexCoord")
    tex = nt.nodes.new({"wave": "ShaderNodeTexWave", "voronoi": "ShaderNodeTexVoronoi",
                        "checker": "ShaderNodeTexChecker", "noise": "ShaderNodeTexNoise"}[kind])
    tex.inputs["Scale"].default_value = scale
    ramp = nt.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*colours[0], 1.0)
    ramp.color_ramp.elements[1].color = (*colours[1], 1.0)
    nt.links.new(coords.outputs["Object"], tex.inputs["Vector"])
    nt.links.new(tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs[0], ramp.inputs["Fac"])
    nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _key(obj, frame: int, **values) -> None:
    for attr, value in values.items():
        setattr(obj, attr, value)
        obj.keyframe_insert(attr, frame=frame)


def build_scene(frames: int, size: tuple[int, int], samples: int):
    """The demo scene; returns it. Everything is procedural (no files)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = True
    scene.cycles.seed = 0
    try:
        scene.cycles.use_denoising = True
        scene.cycles.denoiser = "OPENIMAGEDENOISE"
    except (AttributeError, TypeError):
        scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.use_motion_blur = False  # the Vector pass is exact only without motion blur
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.fps = 24
    scene.view_settings.view_transform = "Standard"  # vivid colours for the demo (AgX works too)

    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.45, 0.6, 0.85, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.8
    scene.world = world

    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 2.5
    sun.rotation_euler = (math.radians(50), math.radians(10), math.radians(35))
    scene.collection.objects.link(sun)

    def mesh_object(name, verts, faces, material):
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata(verts, [], faces)
        for poly in mesh.polygons:
            poly.use_smooth = True
        obj = bpy.data.objects.new(name, mesh)
        obj.data.materials.append(material)
        scene.collection.objects.link(obj)
        return obj

    ground = mesh_object("ground", [(-30, -30, 0), (30, -30, 0), (30, 30, 0), (-30, 30, 0)], [(0, 1, 2, 3)],
                         _material("ground", "checker", ((0.75, 0.62, 0.35), (0.18, 0.32, 0.12)), 1.5))
    ground.data.materials[0].node_tree.nodes["Checker Texture"].inputs["Color1"].default_value = (0.8, 0.65, 0.3, 1)
    ground.data.materials[0].node_tree.nodes["Checker Texture"].inputs["Color2"].default_value = (0.15, 0.35, 0.12, 1)

    def uv_sphere(radius, rings=24, segments=48):
        verts = [(0, 0, radius)]
        for i in range(1, rings):
            phi = math.pi * i / rings
            for j in range(segments):
                th = 2 * math.pi * j / segments
                verts.append((radius * math.sin(phi) * math.cos(th), radius * math.sin(phi) * math.sin(th),
                              radius * math.cos(phi)))
        verts.append((0, 0, -radius))
        faces = [(0, 1 + (j + 1) % segments, 1 + j) for j in range(segments)]
        for i in range(rings - 2):
            a, b = 1 + i * segments, 1 + (i + 1) * segments
            faces += [(a + j, a + (j + 1) % segments, b + (j + 1) % segments, b + j) for j in range(segments)]
        last = len(verts) - 1
        base = 1 + (rings - 2) * segments
        faces += [(base + j, base + (j + 1) % segments, last) for j in range(segments)]
        return verts, faces

    def box(sx, sy, sz):
        verts = [(x, y, z) for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)]
        faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        return verts, faces

    def torus(r1, r2, n1=48, n2=16):
        verts, faces = [], []
        for i in range(n1):
            a = 2 * math.pi * i / n1
            for j in range(n2):
                b = 2 * math.pi * j / n2
                verts.append(((r1 + r2 * math.cos(b)) * math.cos(a), (r1 + r2 * math.cos(b)) * math.sin(a),
                              r2 * math.sin(b)))
        for i in range(n1):
            for j in range(n2):
                faces.append((i * n2 + j, ((i + 1) % n1) * n2 + j, ((i + 1) % n1) * n2 + (j + 1) % n2,
                              i * n2 + (j + 1) % n2))
        return verts, faces

    ball = mesh_object("ball", *uv_sphere(1.0), _material("ball", "wave", ((0.9, 0.25, 0.1), (0.98, 0.85, 0.3)), 3.0))
    crate = mesh_object("crate", *box(0.8, 0.8, 0.8), _material("crate", "voronoi", ((0.1, 0.2, 0.7), (0.6, 0.85, 0.95)), 4.0))
    ring = mesh_object("ring", *torus(1.1, 0.35), _material("ring", "noise", ((0.55, 0.1, 0.5), (0.95, 0.6, 0.2)), 5.0))

    last = frames
    _key(ball, 1, location=(-3.5, 1.0, 1.0))
    _key(ball, last, location=(2.5, -0.5, 1.0))
    _key(crate, 1, location=(3.2, 2.8, 0.8), rotation_euler=(0.0, 0.0, 0.0))
    _key(crate, last, location=(-3.0, 2.8, 0.8), rotation_euler=(0.0, 0.0, math.radians(90)))
    _key(ring, 1, location=(0.5, -2.0, 1.4), rotation_euler=(math.radians(70), 0.0, 0.0))
    _key(ring, last, location=(0.5, -2.0, 1.4), rotation_euler=(math.radians(70), math.radians(120), 0.0))

    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    cam.data.lens = 30
    scene.collection.objects.link(cam)
    scene.camera = cam
    _key(cam, 1, location=(-1.8, -8.0, 3.6), rotation_euler=(math.radians(70), 0.0, math.radians(-10)))
    _key(cam, last, location=(1.8, -7.4, 3.3), rotation_euler=(math.radians(71), 0.0, math.radians(12)))
    scene.frame_set(1)
    return scene


def _compat():
    """The extension's :mod:`addon.blender_compat` (after :func:`_enable`)."""
    import importlib

    return importlib.import_module(f"{MODULE}.addon.blender_compat")


def add_node(scene, style: str, coherent: bool):
    """Render Layers → Style Transfer → the compositor's output (Composite on 4.x, Group Output on 5.x)."""
    compat = _compat()
    tree = compat.compositor_tree(scene, create=True)
    for node in list(tree.nodes):
        tree.nodes.remove(node)
    layers = tree.nodes.new("CompositorNodeRLayers")
    output = compat.new_compositor_output(tree)
    node = tree.nodes.new("NST_CompositorNodeStyleTransfer")
    tree.links.new(layers.outputs["Image"], node.inputs["Image"])
    tree.links.new(node.outputs["Image"], compat.compositor_output_input(output))
    node.style = style
    node.coherence = coherent
    return node


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="this repository (the extension's root)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--model", default="", help="StyleBank model folder (default: the vendored model)")
    args = ap.parse_args()
    result: dict = {}
    code = 1
    try:
        import bpy

        width, height = (int(v) for v in args.size.lower().split("x"))
        scene = build_scene(args.frames, (width, height), args.samples)
        _enable(args.repo)
        prefs = bpy.context.preferences.addons[MODULE].preferences
        prefs.device = "CPU"
        if args.model:
            prefs.model_folder = os.path.abspath(args.model)
        out = os.path.abspath(args.out)
        scene.nst.output_folder = os.path.join(out, "nst")
        scene.render.filepath = os.path.join(out, "render", "frame_####")
        _compat().set_file_format(scene.render.image_settings, "PNG")
        node = add_node(scene, args.style, coherent=True)
        node.auto_replace = False  # keep Blender's plain render in render/: the sheet compares it with the style
        started = time.perf_counter()
        bpy.ops.render.render(animation=True)
        result = {"seconds": round(time.perf_counter() - started, 2), "status": node.status,
                  "node_folder": os.path.join(out, "nst", node.name.replace(" ", "_")),
                  "render": os.path.join(out, "render"), "frames": args.frames, "size": [width, height]}
        code = 0
    except Exception:  # report as data; the caller prints it
        result = {"error": traceback.format_exc()}
    print("NST_DEMO " + json.dumps(result), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
