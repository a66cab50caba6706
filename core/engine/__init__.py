"""The one frame engine: every front end stylises frames through :class:`~.frames.FrameEngine`.

The CLI's video job (:func:`core.jobs.video.run_video`), the compositor node's render handler
(:class:`core.jobs.render_frames.RenderFrameStylizer`), Stylize Strip (:func:`core.jobs.strip.stylise_strip`)
and Stylize Image (:func:`core.jobs.image.stylise_image`) all hand frames to it. It owns, once:

* the working size (the frame scaled to the settings' long side) and scaling back;
* motion: the renderer's Vector/Depth passes when they are usable (:mod:`.motion`), else DIS optical
  flow estimated by the coherent stylizer (:class:`core.video.online.OnlineStylizer`);
* whether a frame continues the previous one (else it starts fresh);
* colour preservation after the network (:func:`.finish.finish_frame`) for every method;
* the state a resumed run needs (:meth:`~.frames.FrameEngine.restore`).

Modules: :mod:`.settings` (:class:`~.settings.FrameSettings`, torch-free: what a front end
chose), :mod:`.motion` (render passes → flow and confidence, one policy), :mod:`.finish` (colour
preservation and scaling back), :mod:`.frames` (the engine), :mod:`.read_ahead` (batch front ends
read the next frame before writing this one, so the engine can start on its motion).

May import: :mod:`core.video` and everything below it; used by :mod:`core.jobs`.
"""
