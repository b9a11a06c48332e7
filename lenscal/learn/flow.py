"""Step 1: conditional flow matching of the real blurry patches, conditioned on position.

Convention (as in the paper): t = 0 is noise, t = 1 is data, y_t = (1 - t) eps + t y1, and the
net regresses the velocity y1 - eps. Step 2 uses the power-function EMA of the weights: it smooths
the end of a short, noisy CPU run much better than the raw weights.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def cfm_loss(model: nn.Module, y1: torch.Tensor, pos: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mean squared velocity error on data ``y1`` in [-1, 1] (noise and t drawn from ``gen``)."""
    eps = torch.randn(y1.shape, generator=gen).to(y1.device)
    t = torch.rand(y1.shape[0], generator=gen).to(y1.device)
    tt = t[:, None, None, None]
    return (model((1 - tt) * eps + tt * y1, t, pos) - (y1 - eps)).square().mean()


def ema_exponent(std: float) -> float:
    """EDM2's power-EMA exponent gamma for a relative std: (g+1) / ((g+2)^2 (g+3)) = std^2."""
    lo, hi = 0.0, 1e6
    for _ in range(200):
        g = (lo + hi) / 2
        if (g + 1) / ((g + 2) ** 2 * (g + 3)) > std**2:
            lo = g
        else:
            hi = g
    return (lo + hi) / 2


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, step: int, gamma: float) -> None:
    """Power-function EMA after update ``step`` (1-based): beta = (1 - 1/step)^(gamma + 1)."""
    beta = (1 - 1 / step) ** (gamma + 1)
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - beta)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


class FlowTrainer:
    """The model, its EMA and Adam, one CFM update at a time; resumable through ``state_dict``."""

    def __init__(self, model: nn.Module, lr: float, ema_std: float):
        self.model = model
        self.ema = copy.deepcopy(model).requires_grad_(False)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))
        self.gamma = ema_exponent(ema_std)
        self.step_count = 0

    def step(self, y1: torch.Tensor, pos: torch.Tensor, gen: torch.Generator) -> float:
        loss = cfm_loss(self.model, y1, pos, gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_count += 1
        ema_update(self.ema, self.model, self.step_count, self.gamma)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError("step 1 diverged (non-finite loss)")
        return value

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "opt": self.opt.state_dict(), "step": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step_count = int(state["step"])
