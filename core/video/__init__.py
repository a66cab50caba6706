"""Coherent video: the frame engine :class:`~.online.OnlineStylizer`, optical flow, render passes, warping error.

Modules: :mod:`.online` (frame-by-frame coherent stylisation with any method), :mod:`.flow` (DIS
flow, warping, confidence), :mod:`.render_passes` (Blender's Vector/Depth passes as motion),
:mod:`.consistency` (the photometric check that keeps a wrong motion from leaving ghost trails),
:mod:`.detail` (giving a blended frame back the fresh stylisation's fine detail),
:mod:`.temporal_metrics` (the warping error). The resumable job around the engine is
:func:`core.jobs.video.run_video`.

May import: the methods (:mod:`core.gatys`, :mod:`core.stylebank`, :mod:`core.analogy`) and
everything below them.
"""
