"""Settings of the Video Sequencer and Image Editor tools: one property group each.

* :class:`NST_PG_strip` hangs off every sequencer strip (``strip.nst``): what **Stylize
  Strip** does with that strip, and the name of the stylised strip it made.
* :class:`NST_PG_image_tool` is the Image Editor's **Stylize Image** settings, stored per scene
  (``scene.nst.image_tool``).

Both share :class:`_StyleChoice` (method, StyleBank styles and weights, strength, colour,
size) and turn themselves into the frozen :class:`core.engine.settings.FrameSettings` core sees.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from . import blender_compat as compat
from . import model_styles
from . import style_menu as menus
from ..core.engine.settings import FrameSettings
from ..core.requests.stylize import STROKE_RANGE
from .preferences import get_preferences

MAX_STYLES = 4

METHOD_ITEMS = (
    ("STYLEBANK", "StyleBank", "Feed-forward network with one filter bank per style: fast, the styles of the "
                               "model, several styles fused by weight (Chen et al., CVPR 2017)"),
    ("GATYS", "Gatys", "Optimise the picture until its VGG features match a style image's: any style, slow "
                       "(Gatys, Ecker & Bethge, CVPR 2016)"),
    ("ANALOGY", "Analogy", "Deep Image Analogy: take the look of a reference picture matched part by part "
                           "(Liao et al., SIGGRAPH 2017); slow"),
)
PRESERVE_COLOR_ITEMS = (
    ("NONE", "Off", "Take the colours from the style"),
    ("LUMINANCE", "Luminance", "Keep the source's colours, take the style's light and strokes"),
    ("HISTOGRAM", "Histogram", "Match the result's colour statistics to the source's"),
)


def _common(context: bpy.types.Context) -> dict:
    prefs = get_preferences(context)
    folder = bpy.path.abspath(prefs.model_folder) if prefs is not None and prefs.model_folder else ""
    return {"model_dir": model_styles.model_dir(folder),
            "device": prefs.device.lower() if prefs is not None else "auto"}


class _StyleChoice(menus.FusionSlots):
    """Properties both tools share (a mixin; not registered on its own)."""

    method: bpy.props.EnumProperty(name="Method", items=METHOD_ITEMS, default="STYLEBANK")
    style_count: bpy.props.IntProperty(
        name="Styles", description="StyleBank: how many styles are fused (1 = a single style)",
        default=1, min=1, max=MAX_STYLES)
    style_1: bpy.props.StringProperty(name="Style 1 Name", description="Identifier of style 1 of the StyleBank "
                                      "model (what the Style menu sets; empty = the model's default style)")
    style_1_menu: menus.menu_property("style_1", 1, name="Style")
    strength: bpy.props.FloatProperty(
        name="Strength", description="StyleBank: how much of the style is applied; 0 keeps the source as it is, "
                                     "1 is the full style (strokes, texture and the style's colours)",
        default=1.0, min=0.0, max=1.0, subtype="FACTOR")
    stroke: bpy.props.FloatProperty(
        name="Stroke Size", description="StyleBank: size of the style's strokes relative to the picture (1 = as "
                                        "the style was trained, 2 = twice as large); the same at every Size",
        default=1.0, min=STROKE_RANGE[0], max=STROKE_RANGE[1], soft_min=0.5, soft_max=3.0, step=10)
    preserve_color: bpy.props.EnumProperty(
        name="Preserve Colour", description="Keep the source's colours instead of the style's",
        items=PRESERVE_COLOR_ITEMS, default="NONE")
    iterations: bpy.props.IntProperty(
        name="Iterations", description="Gatys: optimisation steps (of the first frame; later coherent frames "
                                       "start from the previous result and take a third as many)",
        default=100, min=1, soft_max=1000)
    size: bpy.props.IntProperty(
        name="Size", description="Long side at which the style is applied, StyleBank and Gatys (0 = the "
                                 "source's size); the result is scaled back. Smaller gives bigger, coarser "
                                 "strokes and loses detail; below about 256 px small content can vanish",
        default=0, min=0, soft_max=4096, subtype="PIXEL")
    analogy_size: bpy.props.IntProperty(
        name="Analogy Size", description="Long side at which Deep Image Analogy runs (64–1024 px; about a minute "
                                         "per frame at 448 px on a CPU); smaller matches bigger parts and loses "
                                         "detail",
        default=448, min=64, max=1024, subtype="PIXEL")

    def style_names(self) -> tuple[str, ...]:
        """The chosen StyleBank styles, in slot order; an empty slot is its default style
        (:func:`.style_menu.resolved`; still empty when the model has no styles: validation says so)."""
        return tuple(menus.resolved(self, f"style_{i}", i) for i in range(1, self.style_count + 1))

    def style_weights(self) -> tuple[float, ...] | None:
        """Fusion weights, one per style; None for a single style."""
        if self.style_count == 1:
            return None
        return tuple(getattr(self, f"weight_{i}") for i in range(1, self.style_count + 1))

    def draw_choice(self, layout: bpy.types.UILayout, image_field: str, reference_field: str) -> None:
        """Method, then the fields that method uses."""
        layout.prop(self, "method")
        if self.method == "STYLEBANK":
            layout.prop(self, "style_count")
            for i in range(1, self.style_count + 1):
                row = layout.row(align=True)
                menus.draw(row, self, f"style_{i}_menu", text="" if self.style_count > 1 else None)
                if self.style_count > 1:
                    row.prop(self, f"weight_{i}", text="")
            layout.prop(self, "strength")
            layout.prop(self, "stroke")
        elif self.method == "GATYS":
            layout.prop(self, image_field)
            layout.prop(self, "iterations")
        else:
            layout.prop(self, reference_field)
        layout.prop(self, "preserve_color")
        layout.prop(self, "analogy_size" if self.method == "ANALOGY" else "size")

    def _settings(self, context, name: str, kind: str, fix_in: str, images: tuple[Path, ...], coherent: bool,
                  keep: float) -> FrameSettings:
        method = self.method.lower()
        stylebank = method == "stylebank"
        return FrameSettings(
            node=name, kind=kind, fix_in=fix_in, method=method,
            style_names=self.style_names() if stylebank else (),
            style_weights=self.style_weights() if stylebank else None,
            style_images=() if stylebank else images,
            strength=self.strength, stroke=self.stroke, preserve_color=self.preserve_color.lower(), coherent=coherent,
            keep=keep,
            size=self.analogy_size if method == "analogy" else (self.size or None),
            gatys_iterations=self.iterations, gatys_next_iterations=max(1, self.iterations // 3),
            **_common(context))


def _path(setting: str) -> tuple[Path, ...]:
    return (Path(bpy.path.abspath(setting)),) if setting else ()


class NST_PG_strip(_StyleChoice, bpy.types.PropertyGroup):
    """What Stylize Strip does with a sequencer strip (``strip.nst``)."""

    style_image: bpy.props.StringProperty(
        name="Style Image", description="Gatys: the picture whose style is transferred", subtype="FILE_PATH")
    reference_image: bpy.props.StringProperty(
        name="Reference Image", description="Analogy: the picture (B′) whose look the footage takes",
        subtype="FILE_PATH")
    coherence: bpy.props.BoolProperty(
        name="Coherence",
        description="Carry the previous frame's strokes along the motion so the style does not flicker (optical "
                    "flow for footage, Blender's Vector pass for scene strips)",
        default=True)
    keep: bpy.props.FloatProperty(
        name="Keep", description="How much of the carried previous frame is kept where the motion is trusted "
                    "(less on fast-moving surfaces, where carried strokes would streak)",
        default=FrameSettings.keep, min=0.0, max=1.0, subtype="FACTOR")
    output: bpy.props.StringProperty(
        name="Stylised Strip", description="The strip Stylize Strip made from this one")

    def node_settings(self, context: bpy.types.Context, strip_name: str) -> FrameSettings:
        """The settings as core sees them."""
        images = _path(self.reference_image if self.method == "ANALOGY" else self.style_image)
        return self._settings(context, strip_name, "strip", "the sequencer's Style Transfer panel", images,
                              self.coherence, self.keep)

    def draw(self, layout: bpy.types.UILayout) -> None:
        """The settings in a panel."""
        self.draw_choice(layout, "style_image", "reference_image")
        row = layout.row(align=True)
        row.prop(self, "coherence")
        sub = row.row(align=True)
        sub.active = self.coherence
        sub.prop(self, "keep", text="")


class NST_PG_image_tool(_StyleChoice, bpy.types.PropertyGroup):
    """The Image Editor's Stylize Image settings (``scene.nst.image_tool``)."""

    style_image: bpy.props.PointerProperty(
        name="Style Image", type=bpy.types.Image, description="Gatys: the image whose style is transferred")
    reference_image: bpy.props.PointerProperty(
        name="Reference Image", type=bpy.types.Image,
        description="Analogy: B′, the image whose look the active image takes; the result is A′, and B (the "
                    "reference with the active image's look) is made too")
    preview_size: bpy.props.IntProperty(
        name="Preview Size", description="Long side of the quick preview", default=256, min=64, soft_max=1024,
        subtype="PIXEL")

    def node_settings(self, context: bpy.types.Context, image_name: str, images: tuple[Path, ...]) -> FrameSettings:
        """The settings as core sees them; ``images`` are the style/reference files (exported)."""
        return self._settings(context, image_name, "image", "the Image Editor's Style Transfer panel", images,
                              False, 0.0)

    def draw(self, layout: bpy.types.UILayout) -> None:
        """The settings in a panel."""
        self.draw_choice(layout, "style_image", "reference_image")
        layout.prop(self, "preview_size")


CLASSES = (NST_PG_strip, NST_PG_image_tool)


def strip_type() -> type:
    """Blender's base class of sequencer strips (see :func:`.blender_compat.strip_type`)."""
    return compat.strip_type()


def register_pointers() -> None:
    """``strip.nst`` on every strip (after the classes are registered)."""
    strip_type().nst = bpy.props.PointerProperty(type=NST_PG_strip, name="Style Transfer",
                                                 description="What Stylize Strip does with this strip")


def unregister_pointers() -> None:
    """Undo :func:`register_pointers`."""
    if hasattr(strip_type(), "nst"):
        del strip_type().nst
