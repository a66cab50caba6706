"""Scene-level settings of the add-on, stored in ``scene.nst``.

One :class:`NST_PG_settings` per scene holds every setting, so a .blend file keeps them and a single
``Scene.nst`` pointer is all the add-on adds to Blender's types.
"""

import bpy

from .strip_settings import NST_PG_image_tool

METHOD_ITEMS = (
    (
        "GATYS",
        "Style Transfer (Gatys)",
        "Optimise the image until its VGG features match the content and its Gram matrices "
        "match the style image (Gatys, Ecker & Bethge, CVPR 2016)",
    ),
)

PRESERVE_COLOR_ITEMS = (
    ("NONE", "Off", "Take colours from the style image"),
    (
        "LUMINANCE",
        "Luminance",
        "Transfer style on luminance only and keep the content's colours "
        "(Gatys et al., 'Preserving Color in Neural Artistic Style Transfer', 2016)",
    ),
    (
        "HISTOGRAM",
        "Histogram",
        "Recolour the style image to the content's colour statistics before transfer "
        "(Gatys et al., 2016)",
    ),
)


def _output_folder_changed(context: bpy.types.Context) -> None:
    from . import nodes  # noqa: PLC0415 - nodes imports this module's siblings; avoid a cycle at import

    if context.scene is not None:
        nodes.sync_all(context.scene)


class NST_PG_settings(bpy.types.PropertyGroup):
    """Settings of one scene's style transfer, available as ``scene.nst``."""

    method: bpy.props.EnumProperty(name="Method", description="Algorithm that stylises the image",
                                   items=METHOD_ITEMS, default="GATYS")
    style_image: bpy.props.StringProperty(name="Style Image", description="Image whose style is transferred",
                                          subtype="FILE_PATH")
    iterations: bpy.props.IntProperty(
        name="Iterations", description="Optimisation steps; more steps transfer more of the style and take longer",
        default=300, min=1, soft_max=2000)
    size: bpy.props.IntProperty(
        name="Size", description="Long side, in pixels, at which the style is applied: smaller gives bigger, coarser "
        "strokes and loses detail; below about 256 px small content can vanish",
        default=512, min=16, soft_max=4096, subtype="PIXEL")
    preserve_color: bpy.props.EnumProperty(name="Preserve Colour",
                                           description="Keep the content's colours instead of the style image's",
                                           items=PRESERVE_COLOR_ITEMS, default="NONE")
    output_folder: bpy.props.StringProperty(
        name="Output Folder",
        description="Where the style nodes keep their captures and stylised frames, one folder per node "
        "('//' = the .blend file's folder; while the file is unsaved, a folder of its own in the system's "
        "temporary folder)",
        default="//nst/",
        subtype="DIR_PATH",
        update=lambda self, context: _output_folder_changed(context),
    )
    keep_captures: bpy.props.IntProperty(
        name="Keep Captures",
        description="How many rendered frames keep their captures (the node's inputs as EXR) and the network's "
        "input PNG, for Stylise Again; older ones are deleted once stylised. 0 keeps every frame "
        "(uncompressed: about 4 MB per frame and pass at 640×360, 33 MB at 1080p)",
        default=24,
        min=0,
        soft_max=1000,
    )
    image_tool: bpy.props.PointerProperty(
        type=NST_PG_image_tool,
        name="Image Editor",
        description="Settings of the Image Editor's Stylize Image",
    )
    seed: bpy.props.IntProperty(
        name="Seed",
        description="Seed of every random choice (e.g. noise initialisation); "
        "the same seed gives the same result",
        default=0,
        min=0,
    )


CLASSES = (NST_PG_settings,)
