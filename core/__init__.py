"""Neural style transfer core: pure Python + torch/numpy/OpenCV, never imports Blender.

Entry points: :func:`core.jobs.stylize.run_stylize` (a :class:`core.requests.video.StylizeRequest` end to end),
:func:`core.gatys.solver.stylize_gatys` (tensors in, tensor out), and the CLI ``python -m core``.
"""

__version__ = "0.1.0"
