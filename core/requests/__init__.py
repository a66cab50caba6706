"""What a job is asked to do: frozen request dataclasses and settings, validated without torch.

Owns :class:`StylizeRequest`, :class:`VideoRequest`, :class:`AnalogyRequest` (one per job, run by
:mod:`core.jobs`) and the algorithm settings inside them (:class:`GatysConfig`,
:class:`AnalogyConfig`), with the choices and ranges they accept; :mod:`.checks` holds the one
number check, the memory estimate and the bit-depth check they share. Front ends (the CLI, the Blender
add-on) build and validate requests before anything heavy is imported.

May import: :mod:`core.foundation.errors` and the standard library only — never torch, numpy or
OpenCV (``tests/core/test_public_api.py`` checks it).
"""

from .analogy import LAYERS, MAX_SIDE, AnalogyConfig, AnalogyRequest, check_analogy_size, min_side
from .gatys import COLOR_MODES, INITS, OPTIMIZERS, GatysConfig
from .stylize import StylizeRequest
from .video import BLENDS, DIS_PRESETS, FLOWS, VideoRequest

__all__ = [
    "BLENDS",
    "COLOR_MODES",
    "DIS_PRESETS",
    "FLOWS",
    "INITS",
    "LAYERS",
    "MAX_SIDE",
    "OPTIMIZERS",
    "AnalogyConfig",
    "AnalogyRequest",
    "GatysConfig",
    "StylizeRequest",
    "VideoRequest",
    "check_analogy_size",
    "min_side",
]
