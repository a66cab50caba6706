"""Blender 5.2 (Python 3.13, NumPy 2) check of the extension, run by ``tests/blender52/verify.sh``.

Run with a Python that has PyPI ``bpy`` 5.x (the chroot's ``/opt/bpy52/bin/python``)::

    python check.py --repo REPO --out EMPTY_DIR [--model DIR]

One Blender session, in order: the versions; registration (every class, handlers, ``Scene.nst``);
node creation (the three nodes, their sockets, the capture node's folder, items and format); a
render through each node (captures written with the expected channels; with PyTorch: the
stylised frame, else exactly the one "PyTorch not installed" error and the render output
untouched); a scene through the view transforms (colour spaces); Stylize Strip on an image
sequence strip and Stylize Image (with PyTorch: the results; without: the clear error and no new
strip or image); unregistration. Uses the vendored StyleBank model (style ``la_muse``) unless
``--model`` names another. Prints ``NST_RESULT {json}`` and exits 0 when every check passed.
"""

import argparse
import importlib
import os
import sys

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "addon", "blender_scripts")
sys.path.insert(0, os.path.realpath(HARNESS))
import nst_harness as h  # noqa: E402

NODES = ("NST_CompositorNodeStyleTransfer", "NST_CompositorNodeStyleBankFusion", "NST_CompositorNodeAnalogy")
ERROR = "Neural Style Transfer: error: "


def _import(name):
    return importlib.import_module(f"{h.MODULE}.{name}")


def _torch():
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def _channels(path):
    import OpenEXR

    with OpenEXR.File(path, separate_channels=True) as exr:
        return sorted(exr.channels())


def _expect_error(call):
    try:
        return f"no error: {call()}"
    except RuntimeError as exc:
        return str(exc).strip()


def check(args, checks):
    import bpy
    import numpy

    has_torch = _torch()
    expect = tuple(int(x) for x in args.expect.split("."))
    checks["versions"] = [tuple(bpy.app.version[:len(expect)]) == expect, {
        "blender": bpy.app.version_string, "python": sys.version.split()[0], "numpy": numpy.__version__,
        "torch": importlib.metadata.version("torch") if has_torch else None, "cpu": True}]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    if args.model:
        h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    style = args.style
    compat = h.compat()

    # Registration.
    classes = [cls for module in ("nodes", "operators", "vse_operators", "image_tools", "preferences", "properties")
               for cls in _import(f"addon.{module}").CLASSES]
    registered = [cls.__name__ for cls in classes if cls.is_registered]
    render = _import("addon.render_stylize")
    installed = [name for name, fn in render.HANDLERS if fn in getattr(bpy.app.handlers, name)]
    checks["registered"] = [len(registered) == len(classes) and set(NODES) <= set(registered) and len(installed) == len(render.HANDLERS)
                            and hasattr(bpy.types.Scene, "nst"), {"classes": registered, "handlers": installed}]

    # Node creation, then a render through each node.
    scene = h.build_scene(frames=2, size=(96, 64))
    scene.render.filepath = os.path.join(args.out, "render", "frame_####")
    compat.set_file_format(scene.render.image_settings, "PNG")
    tree, layers, output = h.compositor(scene)
    checks["compositor"] = [tree is scene.compositing_node_group and output.bl_idname == "NodeGroupOutput",
                            [tree.name, output.bl_idname]]
    expected_inputs = {NODES[0]: ["Image", "Vector", "Depth"],
                       NODES[1]: ["Image", "Mask 1", "Mask 2", "Mask 3", "Mask 4", "Vector", "Depth"],
                       NODES[2]: ["Image", "Vector", "Depth"]}
    for idname in NODES:
        for node in list(tree.nodes):
            if node.bl_idname in NODES:
                tree.nodes.remove(node)
        node = tree.nodes.new(idname)
        label = idname.replace("NST_CompositorNode", "")
        tree.links.new(layers.outputs["Image"], node.inputs["Image"])
        tree.links.new(node.outputs["Image"], h.output_input(output))
        if idname == NODES[0]:
            node.style = style
        elif idname == NODES[1]:
            node.style_1, node.style_2 = style, style
        else:
            node.reference_image = args.reference
            node.size = 96
        capture = next(n for n in node.node_tree.nodes if n.bl_idname == "CompositorNodeOutputFile")
        inputs = [s.name for s in node.inputs]
        checks[f"node_{label}"] = [
            inputs == expected_inputs[idname] and capture.format.file_format == "OPEN_EXR"
            and capture.file_name == "" and compat.file_output_names(capture)[0] == "image_",
            {"inputs": inputs, "items": compat.file_output_names(capture),
             "folder": compat.file_output_directory(capture)}]
        scene.nst.output_folder = os.path.join(args.out, f"nst_{label}")
        print(f"NST_CASE {label}", file=sys.stderr, flush=True)
        # Style Transfer: a 3-frame coherent animation (removing datablocks inside the render
        # handlers crashed 5.2 from the second frame on); the others: one frame.
        scene.frame_start, scene.frame_end = 1, 3 if idname == NODES[0] else 1
        bpy.ops.render.render(animation=True)
        print(f"NST_CASE_END {label}", file=sys.stderr, flush=True)
        root = os.path.join(args.out, f"nst_{label}", node.folder)
        cap = os.path.join(root, "capture")
        found = sorted(os.listdir(cap)) if os.path.isdir(cap) else []
        channels = {f: _channels(os.path.join(cap, f)) for f in found}
        stylized = os.path.join(root, "stylized", f"frame_{scene.frame_end:04d}.png")
        checks[f"render_{label}"] = [
            channels.get("image_0001.exr") == ["A", "B", "G", "R"]
            and channels.get("vector_0001.exr") == ["W", "X", "Y", "Z"]
            and "depth_0001.exr" in channels and node.inputs["Vector"].is_linked
            and os.path.isfile(os.path.join(args.out, "render", "frame_0001.png"))
            and (os.path.isfile(stylized) if has_torch else node.status.startswith("Error: PyTorch"))
            and (not has_torch or idname != NODES[0] or node.status.endswith("motion from vectors")),
            {"captures": channels, "status": node.status, "stylized": os.path.isfile(stylized)}]

    # Colour: the 5.x OCIO views map to the same image colour spaces as on 4.x.
    colour = _import("addon.colour")
    spaces = {}
    for view in ("Standard", "AgX", "Filmic"):
        scene.view_settings.view_transform = view
        spaces[view] = colour.display_colorspace(scene)
    checks["colour_views"] = [spaces == {"Standard": "sRGB", "AgX": "AgX Base sRGB", "Filmic": "Filmic sRGB"},
                              spaces]
    scene.view_settings.view_transform = "AgX"

    # Stylize Strip on an image sequence strip, in the sequencer scene.
    edit = bpy.data.scenes.new("Edit")
    editor = edit.sequence_editor_create()
    strip = compat.top_strips(editor).new_image("shots", os.path.join(args.media, "frame_0001.png"), channel=1,
                                                frame_start=1)
    for i in range(2, 4):
        strip.elements.append(f"frame_{i:04d}.png")
    strip.nst.style_1 = style
    editor.active_strip = strip
    before = len(compat.top_strips(editor))
    with bpy.context.temp_override(scene=scene, sequencer_scene=edit):
        outcome = _expect_error(lambda: bpy.ops.nst.stylize_strip())
    output = compat.all_strips(editor).get(strip.nst.output) if strip.nst.output else None
    if has_torch:
        checks["stylize_strip"] = [output is not None and len(output.elements) == 3,
                                   {"outcome": outcome, "output": None if output is None else output.name}]
    else:
        checks["stylize_strip"] = ["PyTorch" in outcome and len(compat.top_strips(editor)) == before, outcome]

    # Stylize Image.
    photo = bpy.data.images.load(os.path.join(args.media, "frame_0002.png"))
    photo.name = "Photo"
    tool = scene.nst.image_tool
    tool.style_1 = style
    images_before = len(bpy.data.images)
    with bpy.context.temp_override(scene=scene):
        outcome = _expect_error(lambda: bpy.ops.nst.stylize_image(image="Photo"))
    result = bpy.data.images.get("Photo stylized")
    if has_torch:
        checks["stylize_image"] = [result is not None and list(result.size) == list(photo.size),
                                   {"outcome": outcome, "size": None if result is None else list(result.size)}]
    else:
        checks["stylize_image"] = ["PyTorch" in outcome and len(bpy.data.images) == images_before, outcome]

    errors = h.disable_extension()
    checks["unregistered"] = [not errors and not hasattr(bpy.types.Scene, "nst"), [repr(e) for e in errors]]


def _media(folder):
    """Three 64×48 PNG frames of a texture panning right, and a reference picture."""
    import numpy as np
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    for i in range(3):
        xs = x - 3 * i
        rgb = np.stack([0.5 + 0.5 * np.sin(xs / 5) * np.cos(y / 7), 0.5 + 0.5 * np.sin((xs + y) / 9),
                        ((np.floor(xs / 8) + np.floor(y / 8)) % 2) * 0.6 + 0.2], axis=-1)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(os.path.join(folder, f"frame_{i + 1:04d}.png"))
    reference = os.path.join(folder, "reference.png")
    Image.fromarray((np.stack([y / 48, x / 64, 0.5 + 0 * x], -1) * 255).astype(np.uint8)).save(reference)
    return reference


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="")
    parser.add_argument("--style", default="la_muse")
    parser.add_argument("--expect", default="5.2", help="the Blender version expected, e.g. 5.2 or 5.1")
    parser.add_argument("--without-torch", action="store_true", help="hide PyTorch, as in a fresh Blender")
    ARGS = parser.parse_args()
    if ARGS.without_torch:
        sys.modules["torch"] = None
    os.makedirs(ARGS.out, exist_ok=True)
    os.environ["BLENDER_USER_RESOURCES"] = os.path.join(ARGS.out, "user")
    ARGS.media = os.path.join(ARGS.out, "media")
    ARGS.reference = _media(ARGS.media)
    import importlib.metadata  # noqa: E402
    import importlib.util  # noqa: E402

    h.run(lambda checks: check(ARGS, checks))
