"""Foundation: what every other package uses — errors, progress, atomic writes, the weights registry, devices.

Modules: :mod:`.errors` (the one error hierarchy, :class:`~.errors.NSTError` … :class:`~.errors.Cancelled`),
:mod:`.progress` (progress events and cancelling), :mod:`.atomic_write` (temp file + fsync + rename),
:mod:`.registry` (sha256 checks against ``vendored_models/registry.toml``), :mod:`.device` (CPU/CUDA
policy, autocast), :mod:`.output_lock` (one job per output), :mod:`.overlap` (outputs never overlap
inputs), :mod:`.termination` (SIGTERM as an exception).

May import: the standard library; only :mod:`.device` imports torch. The lowest layer: nothing in
``core`` below it.
"""
