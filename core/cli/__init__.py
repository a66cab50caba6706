"""The command line, ``python -m core`` (installed as ``nst``): parsers and commands, one module each.

Owns the argument parsers (:mod:`.stylize`, :mod:`.video`, :mod:`.analogy`, :mod:`.stylebank`), the
entry point with its one-line error contract (:mod:`.app`), what they share (:mod:`.common`: tqdm
progress bars, option hints for core's errors) and the demo (:mod:`.demo`, ``make demo``).

May import everything below it; heavy modules (torch, the jobs) only inside command functions, so
``import core.cli`` and ``--help`` stay fast and torch-free.
"""

from .app import main

__all__ = ["main"]
