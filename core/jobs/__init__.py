"""Runners: one request in, files out — read, check everything, compute, write atomically.

Modules: :mod:`.stylize` (:func:`~.stylize.run_stylize`), :mod:`.video`
(:func:`~.video.run_video`, resumable), :mod:`.analogy` (:func:`~.analogy.run_analogy`),
:mod:`.learn_style` (:func:`~.learn_style.run_learn_style`, a new StyleBank style, resumable);
the Blender add-on's jobs, bpy-free: :mod:`.render_frames` (a compositor node's rendered frames),
:mod:`.strip` and :mod:`.strip_record` (Stylize Strip), :mod:`.image` (Stylize Image) — every frame
goes through the one engine, :class:`core.engine.frames.FrameEngine`; :mod:`.outputs` (never write
over an input), :mod:`.identity` (what a resumable job's output was made from). Every check that can fail on the user's input runs
before any heavy work; a failed or cancelled job leaves no partial file.

May import: every package below it (:mod:`core.engine` and down); used by :mod:`core.cli` and the
Blender add-on.
"""
