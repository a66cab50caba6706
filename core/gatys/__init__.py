"""Gatys et al.'s optimisation-based style transfer ("Style Transfer"): several styles, masks, colour preservation, coarse-to-fine, tiles.

Modules: :mod:`.solver` (:func:`~.solver.stylize_gatys`), :mod:`.tiling` (tile grid and feathered
blending). Settings: :class:`core.requests.gatys.GatysConfig`.

May import: :mod:`core.foundation`, :mod:`core.requests`, :mod:`core.imaging`, :mod:`core.nn`, torch.
"""
