"""Where a stylising compositor node keeps its files; pure path logic, no ``bpy``.

Every node owns one folder under the scene's output folder (``scene.nst.output_folder``,
``//nst/`` by default, i.e. next to the .blend file)::

    <output folder>/<node folder>/
        capture/image_0001.exr     the node's Image input, scene-linear float (OpenEXR, 32 bit)
        capture/vector_0001.exr    its Vector input (Blender's Vector pass, X Y Z W), when connected
        capture/depth_0001.exr     its Depth input, when connected
        capture/mask1_0001.exr     StyleBank Fusion only: its Mask 1 … Mask 4 inputs
        input/frame_0001.png       the Image input through the scene's view transform: what the
                                   network sees (display-referred, 16-bit PNG)
        stylized/frame_0001.png    the stylised frame (display-referred, 8-bit PNG)

        .nst-owner                 which .blend rendered the captures (see below)

The node folder is the node's name made safe for file systems (``Style Transfer.001`` →
``Style_Transfer.001``). Frame numbers follow Blender's ``#`` rule: at least four digits,
``-001`` for frame −1.

Per .blend file:

* A saved file's ``//`` is its own folder. An unsaved file has no folder: it gets one of its own
  under the system's temporary folder (:class:`UnsavedFolder`, ``blender_nst_XXXXXXXX``), made once
  and kept until another file is loaded, so two unsaved files (two Blender windows, or File > New)
  never share captures.
* The owner file ``.nst-owner`` names the .blend whose render wrote the captures (its path, or
  the unsaved folder). Re-stylising captured frames refuses captures another file wrote (two
  .blend files beside each other share ``//nst/``).
* Intermediates are bounded (:meth:`NodeFolders.prune`): once a frame is stylised, its captures
  and network input PNG are deleted unless it is among the newest *Keep Captures* frames (the next
  frame's coherence keeps what it needs in memory).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

OWNER_FILE = ".nst-owner"
CAPTURE_DIR = "capture"
INPUT_DIR = "input"
STYLIZED_DIR = "stylized"

IMAGE = "image_"
VECTOR = "vector_"
DEPTH = "depth_"
MASK_COUNT = 4
"""Mask inputs of the StyleBank Fusion node."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def mask_prefix(index: int) -> str:
    """File prefix of mask input ``index`` (1-based): ``mask1_`` … ``mask4_``.

    Raises:
        ValueError: ``index`` outside 1 … :data:`MASK_COUNT`.
    """
    if not 1 <= index <= MASK_COUNT:
        raise ValueError(f"mask index must be 1 to {MASK_COUNT}, got {index}")
    return f"mask{index}_"


def folder_name(node_name: str) -> str:
    """A node's name as a safe folder name: runs of other characters become ``_``.

    Args:
        node_name: The compositor node's name, e.g. ``"Style Transfer.001"``.

    Returns:
        E.g. ``"Style_Transfer.001"``; no leading or trailing ``.`` or ``_`` (never ``..`` nor
        a hidden folder); ``"node"`` when nothing usable is left.
    """
    safe = _UNSAFE.sub("_", node_name).strip("_.")
    return safe or "node"


def frame_file(prefix: str, frame: int, extension: str = ".exr") -> str:
    """File name Blender's File Output node gives a slot ``prefix`` on ``frame``.

    >>> frame_file("image_", 7)
    'image_0007.exr'
    """
    return f"{prefix}{frame:04d}{extension}"


def resolve_output_root(setting: str, blend_dir: str | None, fallback_dir: str) -> Path:
    """Absolute output folder from the user's setting.

    Args:
        setting: ``scene.nst.output_folder``; ``//`` at the start means the .blend file's folder,
            as everywhere in Blender. Empty means ``//nst/``.
        blend_dir: Folder of the saved .blend file, or None for an unsaved file.
        fallback_dir: Used instead of the .blend file's folder while the file is unsaved
            (the system's temporary folder).

    Returns:
        An absolute, normalised path.
    """
    setting = setting or "//nst/"
    if setting.startswith("//"):
        base = blend_dir if blend_dir else fallback_dir
        path = os.path.join(base, setting[2:])
    else:
        path = os.path.expanduser(setting)
    return Path(os.path.abspath(path))


class UnsavedFolder:
    """The folder standing in for ``//`` while a .blend is unsaved: unique, made on first use.

    Args:
        parent: Where to make it; default the system's temporary folder.
        prefix: Start of its name.
    """

    def __init__(self, parent: str | None = None, prefix: str = "blender_nst_") -> None:
        self._parent = parent
        self._prefix = prefix
        self._path: Path | None = None

    def path(self) -> Path:
        """The folder; made now when there is none yet (or it was deleted meanwhile)."""
        if self._path is None or not self._path.is_dir():
            self._path = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._parent))
        return self._path

    def reset(self) -> None:
        """Another file was loaded: the next unsaved file gets a new folder."""
        self._path = None


UNSAVED = UnsavedFolder()
"""This Blender session's folder for the unsaved file."""


def file_identity(blend_path: str, unsaved_dir: Path | None) -> str:
    """What the owner file records: the saved .blend's absolute path, or ``unsaved:<its folder>``."""
    if blend_path:
        return os.path.abspath(blend_path)
    return f"unsaved:{unsaved_dir}"


def _frame_of(name: str, prefix: str, extension: str) -> int | None:
    if not (name.startswith(prefix) and name.endswith(extension)):
        return None
    digits = name[len(prefix):len(name) - len(extension)]
    try:
        return int(digits)
    except ValueError:
        return None


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def output_root_for(setting: str, blend_path: str) -> Path:
    """:func:`resolve_output_root` for a .blend: its folder, or while unsaved :data:`UNSAVED`.

    Args:
        setting: A folder setting (``//nst/``, ``//nst_strips/`` …, or an absolute folder).
        blend_path: ``bpy.data.filepath`` (``""`` while unsaved).
    """
    blend_dir = os.path.dirname(blend_path) if blend_path else None
    relative = (setting or "//").startswith("//")
    fallback = str(UNSAVED.path()) if relative and blend_dir is None else ""
    return resolve_output_root(setting, blend_dir, fallback)


@dataclass(frozen=True)
class NodeFolders:
    """The files of one node under one output folder.

    Attributes:
        root: ``<output folder>/<node folder>``.
    """

    root: Path

    @classmethod
    def for_node(cls, output_root: Path, node_name: str) -> NodeFolders:
        """The folders of the node called ``node_name`` under ``output_root``."""
        return cls(Path(output_root) / folder_name(node_name))

    @property
    def capture(self) -> Path:
        """Where the node's File Output writes its inputs (its ``base_path``, 5.x: ``directory``)."""
        return self.root / CAPTURE_DIR

    def captured(self, prefix: str, frame: int) -> Path:
        """A captured input of ``frame``, e.g. ``captured(IMAGE, 1)`` → ``…/capture/image_0001.exr``."""
        return self.capture / frame_file(prefix, frame)

    def display_input(self, frame: int) -> Path:
        """The Image input of ``frame`` through the view transform (display-referred PNG)."""
        return self.root / INPUT_DIR / frame_file("frame_", frame, ".png")

    def stylized(self, frame: int) -> Path:
        """The stylised result of ``frame`` (display-referred PNG)."""
        return self.root / STYLIZED_DIR / frame_file("frame_", frame, ".png")

    def frame_files(self, frame: int, *, coherent: bool, masks: int = 0, motion_blur: bool = False):
        """What :class:`core.jobs.render_frames.RenderFrameStylizer` reads and writes for ``frame``.

        The Vector and Depth captures are passed whenever coherence is on; whether they describe
        the motion is the engine's decision, told whether the scene rendered with motion blur
        (which empties the Vector pass).
        """
        from ..core.jobs.render_frames import FrameFiles

        return FrameFiles(
            frame=frame, display_input=self.display_input(frame), output=self.stylized(frame),
            vectors=self.captured(VECTOR, frame) if coherent else None,
            depth=self.captured(DEPTH, frame) if coherent else None,
            masks=tuple(self.captured(mask_prefix(i), frame) for i in range(1, masks + 1)),
            exact_vectors=not motion_blur,
        )

    def capture_prefixes(self, masks: int = 0) -> tuple[str, ...]:
        """Every capture prefix of a node with ``masks`` mask inputs."""
        return (IMAGE, VECTOR, DEPTH, *(mask_prefix(i) for i in range(1, masks + 1)))

    def remove_captures(self, frame: int, masks: int = 0) -> list[Path]:
        """Delete the captures of ``frame`` left by an earlier render, so stale files are never read.

        Returns:
            The files removed.
        """
        removed = []
        for prefix in self.capture_prefixes(masks):
            path = self.captured(prefix, frame)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return removed

    # ---------------------------------------------------------------------------------------
    # Which file owns the captures
    # ---------------------------------------------------------------------------------------

    @property
    def owner_file(self) -> Path:
        """``<node folder>/.nst-owner``."""
        return self.root / OWNER_FILE

    def owner(self) -> str | None:
        """The file that rendered the captures here, or None when nothing says."""
        try:
            return self.owner_file.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def claim(self, identity: str) -> None:
        """Record that ``identity`` (:func:`file_identity`) renders into this folder now."""
        if self.owner() == identity:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.owner_file.with_name(f"{OWNER_FILE}.{os.getpid()}.tmp")
        temporary.write_text(identity + "\n", encoding="utf-8")
        os.replace(temporary, self.owner_file)

    # ---------------------------------------------------------------------------------------
    # Keeping intermediates bounded
    # ---------------------------------------------------------------------------------------

    def captured_frames(self) -> list[int]:
        """Frames whose Image capture is here, in order."""
        if not self.capture.is_dir():
            return []
        frames = (_frame_of(p.name, IMAGE, ".exr") for p in self.capture.iterdir())
        return sorted(f for f in frames if f is not None)

    def is_stylized(self, frame: int) -> bool:
        """The stylised frame was written after the frame's capture (so it is this capture's)."""
        done = _mtime(self.stylized(frame))
        captured = _mtime(self.captured(IMAGE, frame))
        return done is not None and (captured is None or done >= captured)

    def prune(self, keep_captures: int, masks: int = MASK_COUNT) -> list[Path]:
        """Keep the intermediates of the newest ``keep_captures`` stylised frames only; never a stylised frame.

        A frame counts as stylised when ``stylized/frame_N.png`` is at least as new as its capture.
        Of the other stylised frames (older captures first) the captures (every prefix) and the
        network's input PNG are deleted; an input PNG newer than its stylised frame (a re-run is
        waiting for it) and everything of a frame not stylised yet are kept. The next frame's
        coherence needs none of them: the engine keeps the previous frame in memory.

        Args:
            keep_captures: How many stylised frames keep their files (for Stylise Again); 0 keeps all.
            masks: Mask inputs whose captures may exist (all by default).

        Returns:
            The files deleted.
        """
        if keep_captures <= 0:
            return []
        stylized = [f for f in self.captured_frames() if self.is_stylized(f)]
        stylized.sort(key=lambda f: (_mtime(self.captured(IMAGE, f)) or 0, f))
        kept = set(stylized[max(len(stylized) - keep_captures, 0):])
        removed: list[Path] = []
        inputs = self.root / INPUT_DIR
        if inputs.is_dir():
            for path in sorted(inputs.iterdir()):
                frame = _frame_of(path.name, "frame_", ".png")
                if frame is None or frame in kept:
                    continue
                done, written = _mtime(self.stylized(frame)), _mtime(path)
                if done is not None and written is not None and done >= written:
                    path.unlink(missing_ok=True)
                    removed.append(path)
        for frame in stylized:
            if frame not in kept:
                removed += self.remove_captures(frame, masks)
        return removed
        stylized = [f for f in self.captured_frames() if self.is_stylized(f)]
        stylized.sort(key=lambda f: (_mtime(self.captured(IMAGE, f)) or 0, f))
        for frame in stylized[:max(len(stylized) - keep_captures, 0)]:
            removed += self.remove_captures(frame, masks)
        return removed
