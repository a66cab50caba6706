"""Runners: one request in, files out — read, check everything, compute, write atomically.

Modules: :mod:`.stylize` (:func:`~.stylize.run_stylize`), :mod:`.video`
(:func:`~.video.run_video`, resumable), :mod:`.analogy` (:func:`~.analogy.run_analogy`),
:mod:`.learn_style` (:func:`~.learn_style.run_learn_style`, a new StyleBank style, resumable),
:mod:`.outputs` (never write over an input), :mod:`.identity` (what a resumable job's output was
made from). Every check that can fail on the user's input runs
before any heavy work; a failed or cancelled job leaves no partial file.

May import: every package below it (:mod:`core.video` and down); used by :mod:`core.cli` and the
Blender add-on.
"""
