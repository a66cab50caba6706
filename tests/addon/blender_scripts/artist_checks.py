"""Blender-side checks of issue 17 (style menus, per-.blend folders), one mode per run.

Run with the Python that has PyPI ``bpy`` installed::

    python artist_checks.py MODE --repo REPO --user-resources EMPTY_DIR --out OUT --model DIR

Modes: ``styles`` (the style menus: items, labels, thumbnails, defaults, unknown names, save and
reload, a first render with no style picked), ``folders`` (the unsaved file's own folder, bounded
captures, Stylise Again refusing another .blend's captures).

Prints one line ``NST_RESULT {json}``; exits 0 only when every check passed; ends with
``os._exit`` because ``bpy`` can hang at interpreter exit.
"""

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nst_harness as h  # noqa: E402


def _import(name):
    return importlib.import_module(f"{h.MODULE}.{name}")


def _files(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _setup(args, frames=1):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    scene = h.build_scene(frames=frames)
    scene.render.filepath = os.path.join(args.out, "render", "frame_####")
    h.compat().set_file_format(scene.render.image_settings, "PNG")
    return bpy, scene


def _enum_error(owner, name, value):
    try:
        setattr(owner, name, value)
    except TypeError as exc:
        return str(exc)
    return None


def check_styles(args, checks):
    bpy, scene = _setup(args)
    menus = _import("addon.style_menu")
    tree, node, _layers, _composite = h.add_style_node(scene)
    checks["node_default"] = [node.style == "a" and node.style_menu == "a", node.style]
    node.style_menu = "b"
    checks["menu_sets_name"] = [node.style == "b", node.style]
    refused = _enum_error(node, "style_menu", "zzz")
    checks["menu_lists_model_styles"] = [refused is not None and "('a', 'b')" in refused, refused]
    items = {item[0]: item for item in menus._ITEMS.get((node.as_pointer(), "style"), [])}
    checks["labels_and_thumbnails"] = [
        # headless Blender makes no icons (icon_id 0): the thumbnail is loaded as a preview all the same
        items.get("a", (0, ""))[1] == "A" and items["a"][3] == "NONE" and isinstance(items["b"][3], int)
        and menus._PREVIEWS is not None and any(k.endswith("b.png") for k in menus._PREVIEWS.keys()),
        {k: list(v) for k, v in items.items()}]
    node.style = "zzz"  # e.g. a file made with another model
    items = {item[0]: item for item in node.bl_rna.properties["style_menu"].enum_items} or {}
    shown = node.style_menu
    listed = [i[1] for i in menus._ITEMS.get((node.as_pointer(), "style"), [])]
    checks["unknown_style_shown_not_replaced"] = [shown == "zzz" and "zzz (not in the model)" in listed
                                                  and node.node_settings(bpy.context).style_names == ("zzz",),
                                                  [shown, listed]]
    node.style = ""
    checks["empty_means_default"] = [node.style_menu == "a"
                                     and node.node_settings(bpy.context).style_names == ("a",),
                                     node.style_menu]
    fusion = tree.nodes.new("NST_CompositorNodeStyleBankFusion")
    checks["fusion_defaults"] = [[fusion.style_1, fusion.style_2] == ["a", "b"],
                                 [fusion.style_1, fusion.style_2, fusion.style_3]]
    tool = scene.nst.image_tool
    checks["tool_defaults"] = [tool.style_1 == "" and tool.style_1_menu == "a" and tool.style_2_menu == "b"
                               and tool.style_names() == ("a",), [tool.style_1_menu, tool.style_names()]]
    tool.style_1_menu = "b"
    checks["tool_menu_sets_name"] = [tool.style_1 == "b", tool.style_1]
    size = type(node).bl_rna.properties["size"].description
    strength = type(node).bl_rna.properties["strength"].description
    tool_size = type(tool).bl_rna.properties["size"].description
    checks["tooltips"] = ["coarser strokes" in size and "256 px" in size and "coarser strokes" in tool_size
                          and "0 keeps the render" in strength, [size, strength, tool_size]]

    # A first render with the node as added: the default style, no error.
    tree.nodes.remove(fusion)
    tree.nodes.remove(node)
    node = tree.nodes.new("NST_CompositorNodeStyleTransfer")
    tree.links.new(_layers.outputs["Image"], node.inputs["Image"])
    tree.links.new(node.outputs["Image"], h.output_input(_composite))
    node.style_menu = "b"
    blend = os.path.join(args.out, "styles.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    node.style = ""
    scene.frame_start = scene.frame_end = 1
    bpy.ops.render.render(animation=True)
    stylized = os.path.join(os.path.dirname(blend), "nst", node.folder, "stylized", "frame_0001.png")
    checks["first_render_has_a_style"] = [node.status.startswith("Frame 1") and os.path.isfile(stylized),
                                          [node.status, stylized]]
    bpy.ops.wm.open_mainfile(filepath=blend)
    tree = h.compat().compositor_tree(bpy.context.scene)
    reloaded = next(n for n in tree.nodes if n.bl_idname == "NST_CompositorNodeStyleTransfer")
    checks["reload"] = [reloaded.style == "b" and reloaded.style_menu == "b", reloaded.style]


def _stylise_again(bpy, all_frames=True):
    try:
        return bpy.ops.nst.restylize(all_frames=all_frames), None
    except RuntimeError as exc:
        return None, str(exc)


def check_folders(args, checks):
    bpy, scene = _setup(args, frames=4)
    files = _import("addon.node_files")
    nodes = _import("addon.nodes")
    first = files.UNSAVED.path()
    tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    tree.nodes.active = node
    root = nodes.node_folders(scene, node).root
    checks["unsaved_folder_own"] = [root.parent.parent == first and first.name.startswith("blender_nst_")
                                    and first.parent == __import__("pathlib").Path(
                                        __import__("tempfile").gettempdir()), str(root)]
    scene.nst.keep_captures = 2
    bpy.ops.render.render(animation=True)
    folders = nodes.node_folders(scene, node)
    checks["pruned"] = [folders.captured_frames() == [3, 4]
                        and _files(root / "input") == ["frame_0003.png", "frame_0004.png"]
                        and _files(root / "stylized") == [f"frame_{i:04d}.png" for i in range(1, 5)],
                        {"capture": _files(folders.capture), "input": _files(root / "input"),
                         "stylized": _files(root / "stylized")}]
    owner = folders.owner()
    checks["owner_unsaved"] = [owner == f"unsaved:{first}", owner]
    result, error = _stylise_again(bpy)
    checks["stylise_again_kept_frames"] = [result == {"FINISHED"} and folders.captured_frames() == [3, 4]
                                           and _files(root / "input") == ["frame_0003.png", "frame_0004.png"],
                                           [result, error, _files(root / "input")]]

    # Another unsaved file gets another folder.
    bpy.ops.wm.read_homefile(use_empty=True)
    second = files.UNSAVED.path()
    checks["new_file_new_folder"] = [hasattr(bpy.context.scene, "nst") and second != first, [str(first), str(second)]]

    # Two saved files beside each other share //nst/: Stylise Again never takes the other's captures.
    bpy, scene = _setup(args, frames=2)
    tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    tree.nodes.active = node
    project = os.path.join(args.out, "project")
    os.makedirs(project)
    a_blend, b_blend = os.path.join(project, "a.blend"), os.path.join(project, "b.blend")
    bpy.ops.wm.save_as_mainfile(filepath=a_blend)
    bpy.ops.render.render(animation=True)
    folders = nodes.node_folders(scene, node)
    checks["saved_beside_blend"] = [str(folders.root) == os.path.join(project, "nst", node.folder)
                                    and folders.owner() == os.path.abspath(a_blend), [str(folders.root),
                                                                                   folders.owner()]]
    before = {p: os.stat(os.path.join(folders.capture, p)).st_mtime_ns for p in _files(folders.capture)}
    bpy.ops.wm.save_as_mainfile(filepath=b_blend)
    result, error = _stylise_again(bpy)
    after = {p: os.stat(os.path.join(folders.capture, p)).st_mtime_ns for p in _files(folders.capture)}
    checks["other_file_refused"] = [result is None and error is not None and "a.blend" in error
                                    and "not this file" in error and before == after and bool(before),
                                    [error, before, after]]


MODES = {"styles": check_styles, "folders": check_folders}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--repo", required=True)
    parser.add_argument("--user-resources", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    args.repo = os.path.realpath(args.repo)
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    os.environ["BLENDER_USER_RESOURCES"] = os.path.realpath(ARGS.user_resources)
    h.run(lambda checks: MODES[ARGS.mode](ARGS, checks))
