"""Typed errors: the one error vocabulary of ``core``, the CLI and the Blender add-on.

Every error a user can cause derives from :class:`NSTError`; the CLI turns one into a single
``error: ...`` line on stderr and a non-zero exit code, the add-on into one report line. Messages
say what was expected, what was found and, where there is one, the fix — in words that make sense
in every front end: they name settings ("the working size"), never a front end's controls (a CLI
flag, a Blender panel). An error may carry the request field it is about (``setting``), from which
a front end can point at its own control (the CLI adds ``--size``).

Cancelling is an error too (:class:`Cancelled`): core raises it when a progress callback says
stop, the add-on when its job is cancelled.
"""

from __future__ import annotations

import re


class NSTError(Exception):
    """Base class of every error ``core`` (and the add-on built on it) raises on purpose.

    Args:
        *args: The message (one sentence).
        setting: The request field the user changes to fix it (``"size"``, ``"style_names"``), or
            ``None``.

    Attributes:
        exit_code: The CLI's exit code for this kind of error.
        setting: See Args.
    """

    exit_code = 1

    def __init__(self, *args: object, setting: str | None = None) -> None:
        super().__init__(*args)
        self.setting = setting


class InputError(NSTError, ValueError):
    """A user-supplied input (image, mask, option value) is missing, corrupt or unsupported."""

    exit_code = 2


class SettingsError(InputError):
    """A front end's settings cannot work (no style chosen, a missing style image, …).

    Raised by front ends (the add-on's nodes, strips and panels) for what they check themselves;
    core's own checks raise :class:`InputError`.
    """


class ImageReadError(InputError):
    """An image file cannot be read: missing, empty, truncated, corrupt or of the wrong format."""


class ImageTooLargeError(InputError):
    """An image is larger than what can be decoded or processed within the limits."""


class OutputError(NSTError, OSError):
    """An output cannot be written (unsupported extension, read-only folder, disk full)."""

    exit_code = 3


class ModelError(NSTError):
    """Model weights are missing, do not match their registered hash, or have an unexpected layout."""

    exit_code = 4


class WeightsNotFoundError(ModelError, FileNotFoundError):
    """No source of encoder weights could be found; the message names how to install one."""


class HashMismatchError(ModelError):
    """A weights file's sha256 differs from the one recorded in ``vendored_models/registry.toml``."""


class DeviceError(NSTError):
    """The requested compute device is not available."""

    exit_code = 5


class Cancelled(NSTError):
    """The user stopped a job: a progress callback returned ``False``, or a front end's cancel.

    What a cancelled job had already finished is kept only where the job says so (video frames,
    which a rerun resumes from); a cancelled still writes nothing.
    """

    exit_code = 130


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line_reason(exc: BaseException) -> str:
    """A third-party exception's message as one line, for the CLI's single ``error:`` line.

    ``torch.load(weights_only=True)`` refuses a pickle payload with a multi-line, colour-coded text
    whose first lines advise loading the file unrestricted; only its ``WeightsUnpickler error``
    sentence (what was refused) is kept. Other messages are reduced to their first line.
    """
    text = _ANSI.sub("", str(exc)).strip()
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
        text = text.split(". ", 1)[0].rstrip(".")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
