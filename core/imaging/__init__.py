"""Image maths on the pixel contract ``float32 (B, C, H, W)`` tensors: colour spaces, colour preservation, resizing.

Modules: :mod:`.color_space` (sRGB ↔ linear), :mod:`.color_preservation` (luminance transfer,
histogram matching), :mod:`.resize` (antialiased resizing, long-side sizes).

May import: torch and :mod:`core.foundation`.
"""
