"""Every difference between Blender 4.2 LTS … 5.2 LTS the add-on meets, one small helper per concept.

Nothing else in the add-on (nor in its Blender-side tests) checks ``bpy.app.version`` or tries
one API and then another: it calls these helpers. Each helper detects the feature itself
(``hasattr`` on the data it is given, or on ``bpy.types``), so it follows the API a Blender
build has rather than a version number; :data:`VERSION` is kept for messages only.

Concepts, with the API on each side (checked with PyPI ``bpy`` 4.5.15 and 5.0.1, and 5.2.3
under Python 3.13, see ``docs/blender.md``):

==========================  =====================================  ==========================================
concept                     4.2 … 4.5                              5.0 … 5.2
==========================  =====================================  ==========================================
compositor tree             ``scene.node_tree`` after              a ``CompositorNodeTree`` node group in
                            ``scene.use_nodes = True``             ``scene.compositing_node_group`` (None until
                                                                   assigned; ``use_nodes`` does nothing)
compositor output           ``CompositorNodeComposite``            ``NodeGroupOutput`` with an ``Image`` socket
Vector pass into a group    4.2: 3-D vector sockets drop W: a      4-D vector socket (4.5+ too)
                            colour socket carries X,Y,Z,W
File Output folder          ``node.base_path``                     ``node.directory`` + ``node.file_name``
                                                                   (default ``"file_name"`` prefixes every file)
File Output inputs          ``node.file_slots.new(path)``, the     ``node.file_output_items.new(type, name)``:
                            socket type follows the link           the item's type decides the channels
                                                                   (``VECTOR`` with 4 dimensions keeps X,Y,Z,W;
                                                                   ``RGBA`` would rename them R,G,B,A)
image formats               ``file_format`` alone                  ``media_type`` (IMAGE / MULTI_LAYER_IMAGE /
                                                                   VIDEO) first: it gates ``file_format``
colour views                OCIO view → ``colorspace``             OCIO view → ``view_transform`` +
                                                                   ``display_colorspace`` (see
                                                                   :mod:`.ocio_views`)
sequencer scene             ``context.scene``                      ``context.sequencer_scene`` (the workspace's;
                                                                   may differ from ``context.scene``)
strips                      ``strips`` (4.4+) / ``sequences``;     ``strips`` / ``strips_all``; ``Strip``
                            ``Strip`` (4.4+) / ``Sequence``
effect strips               ``new_effect(frame_end=…)``            ``new_effect(length=…)``
animation channels          ``action.fcurves`` (4.4+: also         channelbags only
                            layered actions and channelbags)      (``action_get_channelbag_for_slot``)
==========================  =====================================  ==========================================

Main thread only, as all Blender data.
"""

from __future__ import annotations

import bpy

VERSION: tuple[int, int, int] = tuple(bpy.app.version)
"""The running Blender's version, e.g. ``(5, 0, 1)`` (for messages; the helpers detect features)."""

COMPOSITOR_TREE_NAME = "Compositing"
"""Name of the compositor node group :func:`compositor_tree` creates on Blender 5."""

# ------------------------------------------------------------------------------------------
# Compositor tree and its output
# ------------------------------------------------------------------------------------------


def has_compositor_node_group() -> bool:
    """True where the compositor is a node group on the scene (Blender 5.0+)."""
    return "compositing_node_group" in bpy.types.Scene.bl_rna.properties


def compositor_tree(scene: bpy.types.Scene, *, create: bool = False) -> bpy.types.NodeTree | None:
    """The scene's compositor node tree, or None when it has none (and ``create`` is False).

    Args:
        scene: The scene.
        create: Make one when missing: on 4.x turn on ``use_nodes``; on 5.x create a
            ``CompositorNodeTree`` with an ``Image`` output socket and assign it.

    Returns:
        ``scene.node_tree`` (4.x, only while ``use_nodes`` is on) or
        ``scene.compositing_node_group`` (5.x).
    """
    if has_compositor_node_group():
        tree = scene.compositing_node_group
        if tree is None and create:
            tree = bpy.data.node_groups.new(COMPOSITOR_TREE_NAME, "CompositorNodeTree")
            _ensure_image_output(tree)
            scene.compositing_node_group = tree
        return tree
    if create and not scene.use_nodes:
        scene.use_nodes = True
    return scene.node_tree if scene.use_nodes else None


def _ensure_image_output(tree: bpy.types.NodeTree) -> None:
    """Give a 5.x compositor group the ``Image`` output socket its Group Output feeds."""
    for item in tree.interface.items_tree:
        if getattr(item, "in_out", None) == "OUTPUT" and item.name == "Image":
            return
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")


def new_compositor_output(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """Add the node that takes the compositor's result: Composite (4.x) or Group Output (5.x).

    Returns:
        The node; its ``Image`` input is :func:`compositor_output_input`.
    """
    if hasattr(bpy.types, "CompositorNodeComposite"):
        return tree.nodes.new("CompositorNodeComposite")
    _ensure_image_output(tree)
    return tree.nodes.new("NodeGroupOutput")


def is_compositor_output(node: bpy.types.Node) -> bool:
    """True for the Composite node (4.x) or a compositor tree's Group Output (5.x)."""
    return node.bl_idname in ("CompositorNodeComposite", "NodeGroupOutput")


def compositor_output_input(node: bpy.types.Node) -> bpy.types.NodeSocket:
    """The ``Image`` input of a node made by :func:`new_compositor_output`."""
    socket = node.inputs.get("Image")
    return socket if socket is not None else node.inputs[0]


def vector_pass_socket_type() -> str:
    """Interface socket type that carries the Vector pass's 4 components into a node group.

    4.5+: ``NodeSocketVector`` (vector sockets have ``dimensions``; X,Y,Z,W reach a File
    Output). 4.2: vector sockets are 3-D, so W would be lost (checked: a File Output fed through
    a Vector socket wrote X,Y,Z only); a ``NodeSocketColor`` keeps all four, written as
    R,G,B,A, which :func:`core.video.render_passes.read_vector_file` reads as X,Y,Z,W.
    """
    if "dimensions" in bpy.types.NodeTreeInterfaceSocketVector.bl_rna.properties:
        return "NodeSocketVector"
    return "NodeSocketColor"


# ------------------------------------------------------------------------------------------
# Image formats
# ------------------------------------------------------------------------------------------

_MEDIA_OF_FORMAT = {"OPEN_EXR_MULTILAYER": "MULTI_LAYER_IMAGE", "FFMPEG": "VIDEO", "AVI_JPEG": "VIDEO",
                    "AVI_RAW": "VIDEO"}


def set_file_format(settings: bpy.types.ImageFormatSettings, file_format: str) -> None:
    """Set an image format (render output, File Output node, item) to ``file_format``.

    On 5.x ``media_type`` gates the formats offered, so it is set first (``IMAGE``,
    ``MULTI_LAYER_IMAGE`` for ``OPEN_EXR_MULTILAYER``, ``VIDEO`` for ``FFMPEG``).
    """
    if hasattr(settings, "media_type"):
        media = _MEDIA_OF_FORMAT.get(file_format, "IMAGE")
        if settings.media_type != media:
            settings.media_type = media
    settings.file_format = file_format


def media_type(settings: bpy.types.ImageFormatSettings) -> str:
    """``IMAGE``, ``MULTI_LAYER_IMAGE`` or ``VIDEO``: 5.x's ``media_type``, derived from the format on 4.x."""
    if hasattr(settings, "media_type"):
        return settings.media_type
    return _MEDIA_OF_FORMAT.get(settings.file_format, "IMAGE")


def image_format_state(settings: bpy.types.ImageFormatSettings) -> tuple:
    """What :func:`set_file_format` and the depth/mode/codec setters change, to restore later."""
    return (getattr(settings, "media_type", None), settings.file_format, settings.color_depth,
            settings.color_mode, settings.exr_codec)


def restore_image_format(settings: bpy.types.ImageFormatSettings, state: tuple) -> None:
    """Undo changes made since :func:`image_format_state` returned ``state``."""
    media, file_format, depth, mode, codec = state
    if media is not None and settings.media_type != media:
        settings.media_type = media
    settings.file_format = file_format
    settings.color_depth = depth
    settings.color_mode = mode
    settings.exr_codec = codec


# ------------------------------------------------------------------------------------------
# File Output node
# ------------------------------------------------------------------------------------------

FILE_OUTPUT_KINDS = ("COLOR", "FLOAT", "VECTOR")
"""Kinds of File Output inputs: colour (R,G,B,A), one value, a 4-component vector (X,Y,Z,W)."""


def _uses_items(node: bpy.types.Node) -> bool:
    return hasattr(node, "file_output_items")


def file_output_directory(node: bpy.types.Node) -> str:
    """The folder a File Output node writes into (``base_path`` 4.x, ``directory`` 5.x)."""
    return node.directory if _uses_items(node) else node.base_path


def set_file_output_directory(node: bpy.types.Node, folder: str) -> None:
    """Point a File Output node at ``folder`` (written only when it differs: no needless update)."""
    if _uses_items(node):
        if node.directory != folder:
            node.directory = folder
        if node.file_name:
            node.file_name = ""  # 5.x prefixes every file with it ("file_name" by default)
    elif node.base_path != folder:
        node.base_path = folder


def clear_file_outputs(node: bpy.types.Node) -> None:
    """Remove every input of a File Output node."""
    (node.file_output_items if _uses_items(node) else node.file_slots).clear()


def add_file_output(node: bpy.types.Node, name: str, kind: str = "COLOR") -> bpy.types.NodeSocket:
    """Add an input to a File Output node; files are named ``<name><frame>.<ext>``.

    Args:
        node: A ``CompositorNodeOutputFile``.
        name: The file prefix (4.x: the slot path; 5.x: the item name).
        kind: ``COLOR``, ``FLOAT`` or ``VECTOR`` (see :data:`FILE_OUTPUT_KINDS`). On 5.x the
            item's socket type decides the EXR channels: ``VECTOR`` items get 4 dimensions and
            keep the Vector pass's X,Y,Z,W names. On 4.x the linked socket decides them.

    Returns:
        The new input socket.

    Raises:
        ValueError: An unknown ``kind``.
    """
    if kind not in FILE_OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FILE_OUTPUT_KINDS)}, got {kind!r}")
    if _uses_items(node):
        item = node.file_output_items.new({"COLOR": "RGBA", "FLOAT": "FLOAT", "VECTOR": "VECTOR"}[kind], name)
        if kind == "VECTOR" and hasattr(item, "vector_socket_dimensions"):
            item.vector_socket_dimensions = 4
        if node.file_name:
            node.file_name = ""
    else:
        node.file_slots.new(name)
    # 5.x puts a virtual "extend" socket last: the new input is the last real one.
    return [socket for socket in node.inputs if socket.bl_idname != "NodeSocketVirtual"][-1]


def file_output_names(node: bpy.types.Node) -> list[str]:
    """The file prefixes of a File Output node's inputs, in order."""
    if _uses_items(node):
        return [item.name for item in node.file_output_items]
    return [slot.path for slot in node.file_slots]


# ------------------------------------------------------------------------------------------
# Sequencer
# ------------------------------------------------------------------------------------------


def sequencer_scene(context: bpy.types.Context) -> bpy.types.Scene | None:
    """The scene the sequencer shows: ``context.sequencer_scene`` (5.x) else ``context.scene``.

    On 5.x the workspace's sequencer scene may differ from the active scene, and is None where
    no workspace names one (e.g. in background mode): then the active scene is used.
    """
    scene = getattr(context, "sequencer_scene", None)
    return scene if scene is not None else getattr(context, "scene", None)


def strip_type() -> type:
    """Blender's base class of sequencer strips (``Strip`` from 4.4, ``Sequence`` before)."""
    return getattr(bpy.types, "Strip", None) or bpy.types.Sequence


def top_strips(editor: bpy.types.SequenceEditor):
    """The editor's top-level strips (``strips`` from 4.4, ``sequences`` before)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(editor: bpy.types.SequenceEditor):
    """Every strip, meta strips' contents included (``strips_all`` / ``sequences_all``)."""
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def new_effect_strip(editor: bpy.types.SequenceEditor, name: str, effect: str, *, channel: int, frame_start: int,
                     length: int, **inputs):
    """Add an effect strip covering ``length`` frames from ``frame_start``.

    ``new_effect`` takes ``length=`` on 5.x and ``frame_end=`` (exclusive) on 4.x.
    """
    strips = top_strips(editor)
    doc = strips.new_effect.__doc__ or ""
    if "length" in doc:
        return strips.new_effect(name, effect, channel=channel, frame_start=frame_start, length=length, **inputs)
    return strips.new_effect(name, effect, channel=channel, frame_start=frame_start,
                             frame_end=frame_start + length, **inputs)


# ------------------------------------------------------------------------------------------
# Animation
# ------------------------------------------------------------------------------------------


def animation_fcurves(id_data: bpy.types.ID) -> list:
    """The F-Curves animating ``id_data`` through its action (empty without one).

    4.4+ actions are layered: the curves live in the channelbag of the ID's action slot
    (``Action.fcurves`` is gone in 5.0); older actions hold ``fcurves`` directly.
    """
    anim = getattr(id_data, "animation_data", None)
    action = anim.action if anim is not None else None
    if action is None:
        return []
    slot = getattr(anim, "action_slot", None)
    if slot is not None:
        from bpy_extras.anim_utils import action_get_channelbag_for_slot  # noqa: PLC0415 - 4.4+

        bag = action_get_channelbag_for_slot(action, slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)
