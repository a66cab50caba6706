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

The node folder is the node's name made safe for file systems (``Style Transfer.001`` →
``Style_Transfer.001``). Frame numbers follow Blender's ``#`` rule: at least four digits,
``-001`` for frame −1.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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
