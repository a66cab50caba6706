"""Compositor nodes that stylise the render: Style Transfer and StyleBank Fusion.

Python cannot add compositor nodes that compute pixels, so each node is a
``CompositorNodeCustomGroup`` whose private node group

* passes its Image input straight through to its Image output (the compositor keeps working,
  the node can sit anywhere in a tree), and
* captures its inputs with a File Output node (OpenEXR, 32-bit float, scene-linear) into the
  node's capture folder, once per rendered frame (see :mod:`.node_files` for the layout).

The stylisation itself happens after each frame in the render handlers
(:mod:`.render_stylize`), which read the captures and write the stylised PNGs and the image
datablock ``NST <node name>``.

Inputs: Image; Vector and Depth (Render Layers passes, used for coherence); StyleBank Fusion
also Mask 1 … Mask 4 (e.g. an ID Mask or a Cryptomatte matte: the region of each style).

A later Deep Image Analogy node fits the same frame: its group would capture Image and the
reference B′ as inputs, and its settings would become a core ``AnalogyRequest`` in
:meth:`_StylizeNode.node_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from . import blender_compat as compat
from . import model_styles, node_files
from . import style_menu as menus
from ..core.engine.settings import FrameSettings
from ..core.requests.stylize import STROKE_RANGE
from .preferences import get_preferences

#: The Image node inside each node's group that holds the stylised frame.
RESULT_NODE = "NST Result"

PRESERVE_COLOR_ITEMS = (
    ("NONE", "Off", "Take the colours from the style"),
    ("LUMINANCE", "Luminance", "Keep the render's colours, take the style's light and strokes "
                               "(Gatys et al., 'Preserving Color in Neural Artistic Style Transfer', 2016)"),
    ("HISTOGRAM", "Histogram", "Match the result's colour statistics to the render's (Gatys et al., 2016)"),
)
METHOD_ITEMS = (
    ("STYLEBANK", "StyleBank", "Feed-forward network with one filter bank per style: fast, styles of the model "
                               "(Chen et al., CVPR 2017)"),
    ("GATYS", "Gatys", "Optimise the image until its VGG features match the style image's: any style, slow "
                       "(Gatys, Ecker & Bethge, CVPR 2016)"),
)


# ------------------------------------------------------------------------------------------
# Where a node's files go
# ------------------------------------------------------------------------------------------


def output_root(scene: bpy.types.Scene) -> Path:
    """The scene's output folder, absolute (``//`` = the .blend's folder, or the unsaved file's own
    temporary folder, :data:`.node_files.UNSAVED`)."""
    setting = scene.nst.output_folder if hasattr(scene, "nst") else ""
    return node_files.output_root_for(setting, bpy.data.filepath)


def node_folders(scene: bpy.types.Scene, node: bpy.types.Node) -> node_files.NodeFolders:
    """The files of ``node`` in ``scene``: ``<output folder>/<node.folder>``."""
    return node_files.NodeFolders.for_node(output_root(scene), node.folder or node.name)


def unique_folder(node: bpy.types.Node) -> str:
    """A folder name for ``node`` from its name, unused by the other style nodes of its tree."""
    base = node_files.folder_name(node.name)
    taken = {n.folder for n in node.id_data.nodes if isinstance(n, _StylizeNode) and n != node}
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base}-{counter}"
    return name


def compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """The scene's compositing node tree, or None (see :func:`.blender_compat.compositor_tree`)."""
    return compat.compositor_tree(scene)


def stylize_nodes(scene: bpy.types.Scene) -> list[bpy.types.Node]:
    """The add-on's nodes at the top level of the scene's compositor, unmuted."""
    tree = compositor_tree(scene)
    if tree is None:
        return []
    return [n for n in tree.nodes if isinstance(n, _StylizeNode) and not n.mute]


def _capture_node(tree: bpy.types.NodeTree) -> bpy.types.Node | None:
    return next((n for n in tree.nodes if n.bl_idname == "CompositorNodeOutputFile"), None)


def sync_node(scene: bpy.types.Scene, node: bpy.types.Node) -> None:
    """Point the node's File Output at its capture folder (main thread).

    Called when a node is added or copied, when its folder or the scene's output folder
    changes, after a .blend is loaded or saved (``//`` may mean another folder now), and at
    the start of a render in background mode.
    """
    tree = node.node_tree
    if tree is None:
        return
    capture = _capture_node(tree)
    if capture is None:
        return
    compat.set_file_output_directory(capture, str(node_folders(scene, node).capture) + os.sep)


def sync_all(scene: bpy.types.Scene) -> None:
    """:func:`sync_node` for every node of the add-on in the scene."""
    for node in stylize_nodes(scene):
        sync_node(scene, node)
        if node.coherence:
            enable_motion_passes(scene, node)


def enable_motion_passes(scene: bpy.types.Scene, node: bpy.types.Node) -> None:
    """Coherence on: turn on the Vector and Depth passes and connect them to the node.

    The passes are enabled on every view layer of the scene; the node's Vector and Depth
    inputs are linked from the Render Layers node that feeds its Image input when they are not
    connected yet. Motion blur is left as the user set it (with it on, the Vector pass is zero
    and the add-on estimates optical flow instead).
    """
    for layer in scene.view_layers:
        if not layer.use_pass_vector:
            layer.use_pass_vector = True
        if not layer.use_pass_z:
            layer.use_pass_z = True
    image_in = node.inputs.get("Image")
    if image_in is None or not image_in.is_linked:
        return
    source = image_in.links[0].from_node
    if source.bl_idname != "CompositorNodeRLayers":
        return
    tree = node.id_data
    for name in ("Vector", "Depth"):
        target = node.inputs.get(name)
        output = source.outputs.get(name)
        if target is not None and output is not None and not target.is_linked:
            tree.links.new(output, target)


# ------------------------------------------------------------------------------------------
# The node group inside each node
# ------------------------------------------------------------------------------------------


def build_group(title: str, masks: int) -> bpy.types.NodeTree:
    """A new private node group: pass Image through, capture every input as OpenEXR.

    Args:
        title: Name of the group (prefixed with ``.`` so Blender's group lists hide it).
        masks: Number of Mask inputs (0 for Style Transfer).
    """
    tree = bpy.data.node_groups.new(f".NST {title}", "CompositorNodeTree")
    interface = tree.interface
    inputs = [("Image", "NodeSocketColor", node_files.IMAGE, "COLOR")]
    inputs += [(f"Mask {i}", "NodeSocketFloat", node_files.mask_prefix(i), "FLOAT") for i in range(1, masks + 1)]
    inputs += [("Vector", compat.vector_pass_socket_type(), node_files.VECTOR, "VECTOR"),
               ("Depth", "NodeSocketFloat", node_files.DEPTH, "FLOAT")]
    for name, socket_type, _prefix, _kind in inputs:
        socket = interface.new_socket(name, in_out="INPUT", socket_type=socket_type)
        if name.startswith("Mask"):
            socket.default_value = 1.0
            socket.min_value, socket.max_value = 0.0, 1.0
        elif name == "Depth":
            socket.default_value = 1e10
    interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")

    group_in = tree.nodes.new("NodeGroupInput")
    group_out = tree.nodes.new("NodeGroupOutput")
    capture = tree.nodes.new("CompositorNodeOutputFile")
    capture.name = capture.label = "NST Capture"
    group_in.location, capture.location, group_out.location = (-300, 0), (0, -120), (300, 0)
    fmt = capture.format
    compat.set_file_format(fmt, "OPEN_EXR")
    fmt.color_depth = "32"
    fmt.color_mode = "RGBA"
    # Uncompressed: the captures are read back at once and pruned after Keep Captures frames, and
    # zlib is most of the reading (a 640×360 Combined + Vector + Depth EXR: 32 ms ZIP, 13 ms
    # uncompressed, 1.6× the bytes; docs/video.md).
    fmt.exr_codec = "NONE"
    compat.clear_file_outputs(capture)
    for name, _socket_type, prefix, kind in inputs:
        tree.links.new(group_in.outputs[name], compat.add_file_output(capture, prefix, kind))
    tree.links.new(group_in.outputs["Image"], group_out.inputs["Image"])
    _result_node(tree)
    return tree


def _result_node(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """The group's Image node that shows the stylised frame (added to groups of older files too)."""
    node = tree.nodes.get(RESULT_NODE)
    if node is None:
        node = tree.nodes.new("CompositorNodeImage")
        node.name = node.label = RESULT_NODE
        node.location = (0, 160)
    return node


def route_output(node: bpy.types.Node, image: bpy.types.Image | None) -> bool:
    """Send the node's Image output from the stylised ``image``, or (None) from its input, unchanged.

    While a frame renders the output is the input passed through (the captures never depend on
    it); once the frame is stylised the add-on routes the result here, so Blender's compositor
    (the backdrop, the Viewer, the render window, nodes after this one) shows the stylised frame.

    Returns:
        Whether the routing changed.
    """
    tree = node.node_tree
    if tree is None:
        return False
    group_in = next((n for n in tree.nodes if n.bl_idname == "NodeGroupInput"), None)
    group_out = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None)
    if group_in is None or group_out is None:
        return False
    target = group_out.inputs["Image"]
    if image is None:
        source = group_in.outputs["Image"]
    else:
        result = _result_node(tree)
        if result.image != image:
            result.image = image
        source = result.outputs["Image"]
    if target.is_linked and target.links[0].from_socket == source:
        return False
    tree.links.new(source, target)
    return True


def feeds_output(node: bpy.types.Node) -> bool:
    """Whether the node's Image output reaches the compositor's output (Composite, 5.x Group Output)."""
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        for output in current.outputs:
            for link in output.links:
                nxt = link.to_node
                if compat.is_compositor_output(nxt):
                    return True
                if nxt.name not in seen and not link.is_muted:
                    seen.add(nxt.name)
                    todo.append(nxt)
    return False


# ------------------------------------------------------------------------------------------
# Node classes
# ------------------------------------------------------------------------------------------


SIZE_DESCRIPTION = (
    "Long side at which the style is applied (0 = the render's size); the result is scaled back. "
    "Smaller gives bigger, coarser strokes and loses detail; below about 256 px small content can vanish. "
    "Larger gives finer strokes and takes longer")
STRENGTH_DESCRIPTION = (
    "How much of the style is applied: 0 keeps the render as it is, 1 is the full style "
    "(strokes, texture and the style's colours); in between blends the two")
STROKE_DESCRIPTION = (
    "StyleBank: size of the style's strokes relative to the picture (1 = as the style was trained, 2 = twice "
    "as large); the same at every render resolution and Size")


def _folder_changed(node, context) -> None:
    scene = getattr(context, "scene", None) or bpy.context.scene
    if scene is not None:
        sync_node(scene, node)


def _coherence_changed(node, context) -> None:
    if node.coherence and context.scene is not None:
        enable_motion_passes(context.scene, node)


class _StylizeNode:
    """What the Style Transfer and StyleBank Fusion nodes share (a mixin; not registered)."""

    MASKS = 0
    TITLE = ""

    strength: bpy.props.FloatProperty(
        name="Strength", description=STRENGTH_DESCRIPTION, default=1.0, min=0.0, max=1.0, subtype="FACTOR")
    stroke: bpy.props.FloatProperty(
        name="Stroke Size", description=STROKE_DESCRIPTION, default=1.0, min=STROKE_RANGE[0], max=STROKE_RANGE[1],
        soft_min=0.5, soft_max=3.0, step=10)
    preserve_color: bpy.props.EnumProperty(
        name="Preserve Colour", description="Keep the render's colours instead of the style's",
        items=PRESERVE_COLOR_ITEMS, default="NONE")
    coherence: bpy.props.BoolProperty(
        name="Coherence",
        description="Animation: carry the previous frame's strokes along the motion so the style does not "
                    "flicker (uses the Vector and Depth passes, which are turned on and connected for you)",
        default=True, update=_coherence_changed)
    keep: bpy.props.FloatProperty(
        name="Keep", description="How much of the carried previous frame is kept where the motion is trusted "
                    "(less on fast-moving surfaces, where carried strokes would streak)",
        default=FrameSettings.keep, min=0.0, max=1.0, subtype="FACTOR")
    size: bpy.props.IntProperty(
        name="Size", description=SIZE_DESCRIPTION, default=0, min=0, soft_max=4096, subtype="PIXEL")
    replace_output: bpy.props.BoolProperty(
        name="Replace Render Output",
        description="Always overwrite each frame Blender writes (the render output path) with the stylised frame, "
                    "even when this node's output does not reach the Composite output",
        default=False)
    auto_replace: bpy.props.BoolProperty(
        name="Write Stylised When Wired",
        description="When this node's output reaches the Composite output, the frames Blender writes (Render "
                    "Animation, -f, -a) are the stylised ones. Off: they stay as rendered; the stylised frames are "
                    "always in the node's folder",
        default=True)
    status: bpy.props.StringProperty(name="Status", description="What the last render did with this node")
    folder: bpy.props.StringProperty(
        name="Folder", description="This node's folder under the scene's Output Folder (captures, the network's "
                                   "input and the stylised frames); set from the node's name when it is added",
        update=_folder_changed)

    @classmethod
    def poll(cls, ntree: bpy.types.NodeTree) -> bool:
        return ntree.bl_idname == "CompositorNodeTree"

    def init(self, context: bpy.types.Context) -> None:
        self.node_tree = build_group(self.TITLE, self.MASKS)
        self.init_styles(context)
        self.folder = unique_folder(self)  # its update callback syncs the capture path
        # nodes.new() from a script passes no context
        scene = getattr(context, "scene", None) or bpy.context.scene
        if scene is not None and self.coherence:
            enable_motion_passes(scene, self)

    def copy(self, node: bpy.types.Node) -> None:
        self.node_tree = node.node_tree.copy() if node.node_tree is not None else build_group(self.TITLE, self.MASKS)
        self.status = ""
        self.folder = unique_folder(self)

    def draw_buttons(self, context: bpy.types.Context, layout: bpy.types.UILayout) -> None:
        self.draw_style(context, layout)
        layout.prop(self, "preserve_color")
        row = layout.row(align=True)
        row.prop(self, "coherence")
        sub = row.row(align=True)
        sub.active = self.coherence
        sub.prop(self, "keep", text="")
        layout.prop(self, "size")
        layout.prop(self, "auto_replace")
        layout.prop(self, "replace_output")
        if self.status:
            layout.label(text=self.status, icon="ERROR" if self.status.startswith("Error") else "INFO")

    def draw_buttons_ext(self, context: bpy.types.Context, layout: bpy.types.UILayout) -> None:
        self.draw_buttons(context, layout)
        layout.prop(self, "folder")
        if context.scene is not None:
            folders = node_folders(context.scene, self)
            layout.label(text=f"Files: {folders.root}")
            layout.label(text=f"Image: NST {self.name}")

    def draw_style(self, context: bpy.types.Context, layout: bpy.types.UILayout) -> None:
        raise NotImplementedError

    def init_styles(self, context: bpy.types.Context | None) -> None:
        """Give a new node the model's default style(s), so a first render has one."""

    def node_settings(self, context: bpy.types.Context) -> FrameSettings:
        """The node's settings as core sees them (main or render thread; reads only)."""
        raise NotImplementedError

    def _common(self, context: bpy.types.Context) -> dict:
        prefs = get_preferences(context)
        folder = bpy.path.abspath(prefs.model_folder) if prefs is not None and prefs.model_folder else ""
        return {
            "node": self.name,
            "strength": self.strength,
            "stroke": self.stroke,
            "preserve_color": self.preserve_color.lower(),
            "coherent": self.coherence,
            "keep": self.keep,
            "size": self.size or None,
            "model_dir": model_styles.model_dir(folder),
            "device": prefs.device.lower() if prefs is not None else "auto",
        }


class NST_CompositorNodeStyleTransfer(_StylizeNode, bpy.types.CompositorNodeCustomGroup):
    """Stylise the image that flows through this node, after each rendered frame."""

    bl_idname = "NST_CompositorNodeStyleTransfer"
    bl_label = "Style Transfer"
    bl_icon = "BRUSH_DATA"
    TITLE = "Style Transfer"

    method: bpy.props.EnumProperty(name="Method", items=METHOD_ITEMS, default="STYLEBANK")
    style: bpy.props.StringProperty(
        name="Style Name", description="Identifier of the StyleBank style (what the Style menu sets; empty = the "
                                       "model's default style)")
    style_menu: menus.menu_property("style")
    style_image: bpy.props.StringProperty(
        name="Style Image", description="Image whose style the Gatys method transfers", subtype="FILE_PATH")
    iterations: bpy.props.IntProperty(
        name="Iterations", description="Gatys: optimisation steps of the first frame (later coherent frames "
                                       "start from the previous result and take a third as many)",
        default=100, min=1, soft_max=1000)

    def init_styles(self, context):
        if not self.style:
            self.style = model_styles.default_style(menus.style_names(context))

    def draw_style(self, context, layout):
        layout.prop(self, "method", text="")
        if self.method == "STYLEBANK":
            menus.draw(layout, self, "style_menu")
            layout.prop(self, "strength")
            layout.prop(self, "stroke")
        else:
            layout.prop(self, "style_image")
            layout.prop(self, "iterations")

    def node_settings(self, context):
        common = self._common(context)
        if self.method == "STYLEBANK":
            style = menus.resolved(self, "style", 1, context)
            return FrameSettings(method="stylebank", style_names=(style,) if style else (), **common)
        image = bpy.path.abspath(self.style_image) if self.style_image else ""
        return FrameSettings(method="gatys", style_images=(Path(image),) if image else (),
                            gatys_iterations=self.iterations,
                            gatys_next_iterations=max(1, self.iterations // 3), **common)


class NST_CompositorNodeStyleBankFusion(menus.FusionSlots, _StylizeNode, bpy.types.CompositorNodeCustomGroup):
    """Blend several StyleBank styles by weight, or give each style a region with a mask."""

    bl_idname = "NST_CompositorNodeStyleBankFusion"
    bl_label = "StyleBank Fusion"
    bl_icon = "BRUSH_DATA"
    TITLE = "StyleBank Fusion"
    MASKS = node_files.MASK_COUNT

    style_count: bpy.props.IntProperty(name="Styles", description="How many styles are fused",
                                       default=2, min=2, max=node_files.MASK_COUNT)
    style_1: bpy.props.StringProperty(name="Style 1 Name", description="Identifier of style 1 (empty = a default)")
    style_1_menu: menus.menu_property("style_1", 1, name="Style 1")
    use_masks: bpy.props.BoolProperty(
        name="Region Masks",
        description="Mask k chooses where style k applies (white = this style); where no mask covers a pixel "
                    "the render is kept. Off: the styles are blended everywhere by weight",
        default=False)

    def init_styles(self, context):
        defaults = model_styles.default_styles(menus.style_names(context), node_files.MASK_COUNT)
        for i, name in enumerate(defaults, start=1):
            if not getattr(self, f"style_{i}"):
                setattr(self, f"style_{i}", name)

    def draw_style(self, context, layout):
        layout.prop(self, "style_count")
        for i in range(1, self.style_count + 1):
            row = layout.row(align=True)
            row.prop(self, f"style_{i}_menu", text="")
            row.prop(self, f"weight_{i}", text="")
        layout.prop(self, "use_masks")
        layout.prop(self, "strength")
        layout.prop(self, "stroke")

    def node_settings(self, context):
        indices = range(1, self.style_count + 1)
        names = tuple(menus.resolved(self, f"style_{i}", i, context) for i in indices)
        weights = tuple(getattr(self, f"weight_{i}") for i in indices)
        return FrameSettings(method="stylebank", style_names=names, style_weights=weights,
                            masks=self.style_count if self.use_masks else 0, **self._common(context))


class NST_CompositorNodeAnalogy(_StylizeNode, bpy.types.CompositorNodeCustomGroup):
    """Deep Image Analogy: the render takes the look of a reference image (A′ from A and B′)."""

    bl_idname = "NST_CompositorNodeAnalogy"
    bl_label = "Analogy"
    bl_icon = "BRUSH_DATA"
    TITLE = "Analogy"

    reference_image: bpy.props.StringProperty(
        name="Reference Image", description="B′: the picture whose look (colours, texture, brushwork) the render "
                                            "takes, matched part by part (Liao et al., SIGGRAPH 2017)",
        subtype="FILE_PATH")
    size: bpy.props.IntProperty(
        name="Size", description="Long side at which the analogy is computed (64–1024 px; about a minute per "
                                 "frame at 448 px on a CPU); the result is scaled back to the render's size. "
                                 "Smaller matches bigger parts and loses detail",
        default=448, min=64, max=1024, subtype="PIXEL")

    def draw_style(self, context, layout):
        layout.prop(self, "reference_image")

    def node_settings(self, context):
        common = self._common(context)
        image = bpy.path.abspath(self.reference_image) if self.reference_image else ""
        return FrameSettings(method="analogy", style_images=(Path(image),) if image else (), **common)


NODE_CLASSES = (NST_CompositorNodeStyleTransfer, NST_CompositorNodeStyleBankFusion, NST_CompositorNodeAnalogy)


def draw_add_menu(self, context: bpy.types.Context) -> None:
    """Add the nodes to the compositor's Add menu (Shift+A)."""
    space = context.space_data
    if getattr(space, "tree_type", None) != "CompositorNodeTree":
        return
    layout = self.layout
    layout.separator()
    for cls in NODE_CLASSES:
        op = layout.operator("node.add_node", text=cls.bl_label, icon="BRUSH_DATA")
        op.type = cls.bl_idname
        op.use_transform = True


def add_menu() -> None:
    """Append :func:`draw_add_menu` to the node editor's Add menu."""
    bpy.types.NODE_MT_add.append(draw_add_menu)


def remove_menu() -> None:
    """Undo :func:`add_menu`."""
    bpy.types.NODE_MT_add.remove(draw_add_menu)


CLASSES = NODE_CLASSES
