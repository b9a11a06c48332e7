"""A small position-conditioned velocity U-Net, sized for CPUs.

Input: the noisy patch (3 ch), its position map (2 ch, [-1, 1]) and a constant-1 channel (so the
first layer can tell the zero-padded border from the image). Time and the patch-centre position
enter through fixed random Fourier features and modulate every block. Resampling is average pooling / nearest upsampling
(cheaper on CPU than strided or transposed convolutions); no attention, no dropout (tiny nets on
CPU gain nothing from either). The output layer starts at zero, so the initial velocity is 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class FourierTime(nn.Module):
    """Fixed random Fourier features of 2t - 1, then a small MLP to the embedding."""

    def __init__(self, features: int, dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(features, generator=g))
        self.register_buffer("phases", torch.rand(features, generator=g) * 2 * math.pi)
        self.mlp = nn.Sequential(nn.Linear(features, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        c = 2 * t[:, None] - 1
        return self.mlp(torch.cos(2 * math.pi * self.freqs * c + self.phases) * math.sqrt(2))


class FourierPosition(nn.Module):
    """Fixed random 2-D Fourier features of the patch-centre position, then a linear map.

    The position channels alone barely vary inside a patch and a small net learned to ignore
    them in short runs (the learned grids came out uniform); feeding the centre into the same
    per-block modulation as time makes the blur's dependence on place easy to express.
    """

    def __init__(self, features: int, dim: int, seed: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(2, features, generator=g) * 1.5)
        self.register_buffer("phases", torch.rand(features, generator=g) * 2 * math.pi)
        self.lin = nn.Linear(features, dim)

    def forward(self, centre: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.cos(math.pi * centre @ self.freqs + self.phases) * math.sqrt(2))


class Block(nn.Module):
    """Residual 3x3-conv block with a time-dependent per-channel scale (starts unmodulated)."""

    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        self.scale = nn.Linear(emb, cout)
        nn.init.zeros_(self.scale.weight)
        nn.init.zeros_(self.scale.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(x))
        h = h * (1 + self.scale(emb)[:, :, None, None])
        h = self.conv2(F.silu(h))
        return (self.skip(x) + h) * (0.5 ** 0.5)


class VelocityUNet(nn.Module):
    """v(y_t, t, position) for patches whose side is divisible by 2**(levels - 1)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), fourier: int = 16, emb: int = 64):
        super().__init__()
        self.time = FourierTime(fourier, emb)
        self.place = FourierPosition(fourier, emb)
        self.inp = nn.Conv2d(6, channels[0], 3, padding=1)
        self.enc = nn.ModuleList()
        prev = channels[0]
        for ch in channels:
            self.enc.append(Block(prev, ch, emb))
            prev = ch
        self.mid = Block(prev, prev, emb)
        self.dec = nn.ModuleList()
        for ch in reversed(channels):
            self.dec.append(Block(prev + ch, ch, emb))
            prev = ch
        self.out = nn.Conv2d(prev, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, y: torch.Tensor, t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        emb = self.time(t) + self.place(pos.mean((2, 3)))
        x = self.inp(torch.cat([y, pos, torch.ones_like(y[:, :1])], dim=1))
        skips = []
        for i, block in enumerate(self.enc):
            if i:
                x = F.avg_pool2d(x, 2)
            x = block(x, emb)
            skips.append(x)
        x = self.mid(x, emb)
        for i, block in enumerate(self.dec):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skips.pop()], dim=1), emb)
        return self.out(F.silu(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
