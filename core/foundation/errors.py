"""Typed errors raised by ``core``.

Every error a user can cause derives from :class:`NSTError`; the CLI turns one into a single
``error: ...`` line on stderr and a non-zero exit code. Messages say what was expected, what was
found and, where there is one, the fix.
"""

from __future__ import annotations

import re


class NSTError(Exception):
    """Base class of every error ``core`` raises on purpose."""

    exit_code = 1


class InputError(NSTError, ValueError):
    """A user-supplied input (image, mask, option value) is missing, corrupt or unsupported."""

    exit_code = 2


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
    """A progress callback asked to stop; nothing was written."""

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
