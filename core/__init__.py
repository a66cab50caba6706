"""Neural style transfer core: Gatys, StyleBank, coherent video, Deep Image Analogy. Never imports Blender.

The public API, loaded lazily (``import core`` is instant and torch-free; torch is imported the
first time a name that needs it is used)::

    import core

    request = core.StylizeRequest(content=Path("photo.jpg"), styles=(Path("painting.jpg"),),
                                  output=Path("out.png"), size=512)
    request.validate()                       # torch-free: check settings before any heavy work
    outcome = core.run_stylize(request)      # read, stylise, write atomically

    core.run_video(core.VideoRequest(source=Path("clip.mp4"), output=Path("out.mp4"),
                                     style_names=("la_muse",)))
    core.run_analogy(core.AnalogyRequest(a=Path("photo.jpg"), b_prime=Path("painting.jpg"),
                                         output=Path("analogy/")))

* Jobs (files in, files out): :func:`run_stylize`, :func:`run_video`, :func:`run_analogy`,
  :func:`run_learn_style` (a new StyleBank style from one painting, resumable), each taking its
  request (:class:`StylizeRequest`, :class:`VideoRequest`, :class:`AnalogyRequest`,
  :class:`LearnStyleRequest`) and an optional progress callback (:class:`ProgressEvent` →
  ``False`` cancels).
* Tensors in, tensors out: :func:`stylize_gatys`, :func:`stylize_stylebank` (with
  :func:`load_stylebank`), :func:`deep_image_analogy`, the coherent stylizer :class:`OnlineStylizer`;
  :func:`get_encoder`, :func:`read_image` / :func:`write_image` (:class:`ImageData`),
  :func:`open_frames` / :func:`open_sink`.
* Frames one by one, as the Blender add-on drives them: :class:`FrameEngine` (working size,
  render-pass motion :class:`FramePasses`, coherence, colour preservation) from a
  :class:`VideoRequest` or a torch-free :class:`FrameSettings`.
* Errors: :class:`NSTError` and its subclasses; :class:`Cancelled`.

Packages, lowest layer first (each imports only from layers below it; see ``docs/design.md``):
:mod:`.foundation`, :mod:`.requests`, :mod:`.imaging`, :mod:`.io`, :mod:`.nn`, the methods
:mod:`.gatys`, :mod:`.stylebank`, :mod:`.analogy`, then :mod:`.video`, :mod:`.engine`, :mod:`.jobs`,
:mod:`.cli`.

Installed with pip this package is named ``blender_nst`` (``import blender_nst``); inside the
Blender extension and in this repository it is ``core``. Everything inside uses relative imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name → the module (relative to this package) that defines it.
_EXPORTS: dict[str, str] = {
    # jobs
    "run_stylize": ".jobs.stylize",
    "StylizeOutcome": ".jobs.stylize",
    "run_video": ".jobs.video",
    "VideoOutcome": ".jobs.video",
    "run_analogy": ".jobs.analogy",
    "AnalogyOutcome": ".jobs.analogy",
    "run_learn_style": ".jobs.learn_style",
    "LearnStyleRequest": ".jobs.learn_style",
    "LearnStyleOutcome": ".jobs.learn_style",
    # requests and settings (torch-free)
    "StylizeRequest": ".requests.stylize",
    "VideoRequest": ".requests.video",
    "AnalogyRequest": ".requests.analogy",
    "AnalogyConfig": ".requests.analogy",
    "GatysConfig": ".requests.gatys",
    # tensors in, tensors out
    "stylize_gatys": ".gatys.solver",
    "stylize_stylebank": ".stylebank.infer",
    "load_stylebank": ".stylebank.model",
    "deep_image_analogy": ".analogy.deep_analogy",
    "OnlineStylizer": ".video.online",
    # the frame engine every front end drives
    "FrameEngine": ".engine.frames",
    "FrameSettings": ".engine.settings",
    "FramePasses": ".engine.motion",
    "get_encoder": ".nn.vgg",
    "ImageData": ".io.images",
    "read_image": ".io.images",
    "write_image": ".io.images",
    "open_frames": ".io.sequences",
    "open_sink": ".io.sequences",
    # progress and errors (torch-free)
    "ProgressEvent": ".foundation.progress",
    "NSTError": ".foundation.errors",
    "InputError": ".foundation.errors",
    "SettingsError": ".foundation.errors",
    "ImageReadError": ".foundation.errors",
    "ImageTooLargeError": ".foundation.errors",
    "OutputError": ".foundation.errors",
    "ModelError": ".foundation.errors",
    "DeviceError": ".foundation.errors",
    "Cancelled": ".foundation.errors",
}
#: Public names whose defining module has another name for them.
_RENAMED = {"load_stylebank": "load_model"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs only; at run time names load lazily
    from .analogy.deep_analogy import deep_image_analogy
    from .foundation.errors import (
        Cancelled,
        DeviceError,
        ImageReadError,
        ImageTooLargeError,
        InputError,
        ModelError,
        NSTError,
        OutputError,
        SettingsError,
    )
    from .foundation.progress import ProgressEvent
    from .gatys.solver import stylize_gatys
    from .io.images import ImageData, read_image, write_image
    from .io.sequences import open_frames, open_sink
    from .jobs.analogy import AnalogyOutcome, run_analogy
    from .jobs.learn_style import LearnStyleOutcome, LearnStyleRequest, run_learn_style
    from .jobs.stylize import StylizeOutcome, run_stylize
    from .jobs.video import VideoOutcome, run_video
    from .nn.vgg import get_encoder
    from .requests.analogy import AnalogyConfig, AnalogyRequest
    from .requests.gatys import GatysConfig
    from .requests.stylize import StylizeRequest
    from .requests.video import VideoRequest
    from .stylebank.infer import stylize_stylebank
    from .stylebank.model import load_model as load_stylebank
    from .video.online import OnlineStylizer
