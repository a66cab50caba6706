"""Shared pieces of the Blender-side test scripts: enable the extension, build a tiny scene, report.

Imported by the scripts in this folder (which run under PyPI ``bpy`` in a subprocess). Nothing
here runs at import except standard-library imports; ``bpy`` is imported by the caller after
``BLENDER_USER_RESOURCES`` is set.
"""

import json
import os
import sys
import traceback

EXTENSION_ID = "neural_style_transfer"
REPOSITORY = "user_default"
MODULE = f"bl_ext.{REPOSITORY}.{EXTENSION_ID}"
RESULT_PREFIX = "NST_RESULT "


def enable_extension(source_dir: str, *, link: bool = True):
    """Put ``source_dir`` into the User Default repository and enable it like Blender does.

    Args:
        source_dir: The extension's root (the repository or an unpacked zip).
        link: Symlink ``source_dir`` into the repository (True), or enable it as it is (False:
            the caller already put it there, e.g. an unpacked zip).

    Returns:
        The enabled module.

    Raises:
        RuntimeError: Enabling failed (with Blender's error).
    """
    import addon_utils
    import bpy

    repo_dir = bpy.utils.user_resource("EXTENSIONS", path=REPOSITORY, create=True)
    target = os.path.join(repo_dir, EXTENSION_ID)
    if link and not os.path.exists(target):
        os.symlink(source_dir, target, target_is_directory=True)
    errors: list = []
    module = addon_utils.enable(MODULE, default_set=True, handle_error=errors.append)
    if module is None or errors:
        detail = "".join(traceback.format_exception(errors[0])) if errors else "addon_utils.enable returned None"
        raise RuntimeError(f"enabling {MODULE} failed: {detail}")
    return module


def disable_extension() -> list:
    """Disable the extension; returns the errors Blender reported."""
    import addon_utils

    errors: list = []
    addon_utils.disable(MODULE, default_set=True, handle_error=errors.append)
    return errors


def compat():
    """The add-on's :mod:`addon.blender_compat` (the extension must be enabled)."""
    import importlib

    return importlib.import_module(f"{MODULE}.addon.blender_compat")


def preferences():
    """The extension's preferences."""
    import bpy

    return bpy.context.preferences.addons[MODULE].preferences


def build_scene(frames: int = 6, size: tuple[int, int] = (64, 48)):
    """A tiny Cycles scene: a checkered cube sliding over a checkered plane, orthographic camera.

    Emission shaders only, 1 sample, no denoising, motion blur off: every frame renders in
    a fraction of a second and the motion is exact in the Vector pass.

    Returns:
        The scene.
    """
    import bpy

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.seed = 0
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.use_motion_blur = False
    scene.render.threads_mode = "FIXED"
    scene.render.threads = 1
    scene.frame_start, scene.frame_end = 1, frames

    cam_data = bpy.data.cameras.new("cam")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = 6.4
    cam = bpy.data.objects.new("cam", cam_data)
    cam.location = (0.0, 0.0, 10.0)
    scene.collection.objects.link(cam)
    scene.camera = cam

    def checker(name, scale, c1, c2, strength=1.0):
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nt = mat.node_tree
        nt.nodes.clear()
        out = nt.nodes.new("ShaderNodeOutputMaterial")
        emit = nt.nodes.new("ShaderNodeEmission")
        emit.inputs["Strength"].default_value = strength
        coords = nt.nodes.new("ShaderNodeTexCoord")
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = scale
        tex.inputs["Color1"].default_value = c1
        tex.inputs["Color2"].default_value = c2
        nt.links.new(coords.outputs["Object"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], emit.inputs["Color"])
        nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
        return mat

    plane_mesh = bpy.data.meshes.new("plane")
    plane_mesh.from_pydata([(-10, -10, 0), (10, -10, 0), (10, 10, 0), (-10, 10, 0)], [], [(0, 1, 2, 3)])
    plane = bpy.data.objects.new("plane", plane_mesh)
    plane.data.materials.append(checker("plane", 3.0, (0.8, 0.7, 0.1, 1), (0.05, 0.1, 0.5, 1)))
    scene.collection.objects.link(plane)

    s = 0.75
    verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    cube_mesh = bpy.data.meshes.new("cube")
    cube_mesh.from_pydata(verts, [], faces)
    cube = bpy.data.objects.new("cube", cube_mesh)
    cube.data.materials.append(checker("cube", 2.0, (0.9, 0.1, 0.1, 1), (0.1, 0.8, 0.3, 1), strength=3.0))
    scene.collection.objects.link(cube)
    for frame, x in ((1, -1.5), (frames, 1.5)):
        cube.location = (x, 0.3, 1.0)
        cube.keyframe_insert("location", frame=frame)
    for curve in compat().animation_fcurves(cube):
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"
    scene.frame_set(1)
    return scene


def compositor(scene):
    """The scene's compositor tree with Render Layers and its output, cleared of other nodes.

    The output is the Composite node (4.x) or the Group Output (5.x); link to
    :func:`output_input` of it.
    """
    tree = compat().compositor_tree(scene, create=True)
    for node in list(tree.nodes):
        tree.nodes.remove(node)
    layers = tree.nodes.new("CompositorNodeRLayers")
    composite = compat().new_compositor_output(tree)
    return tree, layers, composite


def box_mask(tree, x, y, width, height):
    """A Box Mask node (relative position and size): properties on 4.x, input sockets on 5.x."""
    box = tree.nodes.new("CompositorNodeBoxMask")
    if "Position" in box.inputs:
        box.inputs["Position"].default_value = (x, y)
        box.inputs["Size"].default_value = (width, height)
    else:
        box.x, box.y, box.mask_width, box.mask_height = x, y, width, height
    return box


def math_node(tree, operation):
    """A Math node in a compositor tree: ``CompositorNodeMath`` on 4.x, the shared ``ShaderNodeMath`` on 5.x."""
    idname = "CompositorNodeMath" if hasattr(__import__("bpy").types, "CompositorNodeMath") else "ShaderNodeMath"
    node = tree.nodes.new(idname)
    node.operation = operation
    return node


def output_input(composite):
    """The Image input of the compositor's output node."""
    return compat().compositor_output_input(composite)


def add_style_node(scene, *, idname="NST_CompositorNodeStyleTransfer", link_image=True):
    """A style node between Render Layers and the compositor output; returns ``(tree, node, layers, composite)``."""
    tree, layers, composite = compositor(scene)
    node = tree.nodes.new(idname)
    if link_image:
        tree.links.new(layers.outputs["Image"], node.inputs["Image"])
    tree.links.new(node.outputs["Image"], output_input(composite))
    return tree, node, layers, composite


def emit(checks: dict, error: str | None = None) -> int:
    """Print the result line; return the exit code (0 when every check passed)."""
    ok = error is None and bool(checks) and all(passed for passed, _ in checks.values())
    print(RESULT_PREFIX + json.dumps({"ok": ok, "checks": checks, "error": error}, default=repr), flush=True)
    return 0 if ok else 1


def run(main) -> None:
    """Run ``main(checks)`` and exit with ``os._exit`` (``bpy`` can hang at interpreter exit)."""
    checks: dict = {}
    error = None
    try:
        main(checks)
    except Exception:  # report any failure as data: the test shows it
        error = traceback.format_exc()
    code = emit(checks, error)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def reopen(args) -> None:
    """Start from factory settings, enable the extension (CPU, ``args.model``) and open ``args.blend``."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    enable_extension(args.repo)
    preferences().model_folder = args.model
    preferences().device = "CPU"
    bpy.ops.wm.open_mainfile(filepath=args.blend)


def parse_args(description: str, modes: dict, *, required: tuple[str, ...] = ()):
    """A check script's arguments: ``mode --repo --user-resources --out [--model] [--media] [--blend]``.

    Points Blender's user resources at ``--user-resources`` (before the extension is enabled).
    """
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("mode", choices=sorted(modes))
    for name in ("repo", "user-resources", "out"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("model", "media", "blend"):
        parser.add_argument(f"--{name}", required=name in required, default="")
    args = parser.parse_args()
    args.repo = os.path.realpath(args.repo)
    os.environ["BLENDER_USER_RESOURCES"] = os.path.realpath(args.user_resources)
    return args
