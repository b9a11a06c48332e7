"""Step 2: learn the PSF grid by distribution matching (Diff-Instruct on the blurry patches).

Sharp centre crops, each placed at a random spot of the frame, are blurred by the grid kernel of
that spot, scaled by a per-channel gain and given Gaussian noise of a learned sigma. A trainable
copy ("aux") of the step-1 model tracks the distribution of these simulated patches; the frozen
step-1 EMA ("real") knows the real ones. The grid moves along stopgrad(v_aux - v_real) * dy1/dw,
the integrated-KL gradient up to a time weight (docs/method.md, step 2). The loss VALUE means nothing.

Kernels are per-node, per-channel softmax logits: non-negative and summing to one by
construction, and a bilinear mix of normalised kernels stays normalised.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from lenscal.learn.flow import cfm_loss
from lenscal.learn.patches import model_view
from lenscal.learn.presets import MAGNIFY
from lenscal.optics.blur import blur_patches
from lenscal.optics.psf import (bilinear_weights, centroid, gaussian, interpolate, node_positions, normalise,
                                radial_coordinates, radial_shifts, resample, second_moment, shift)
from lenscal.optics.psf import magnify as magnify_kernels

# Step 2's fixed choices (not settings: none is worth tuning per lens).
SIGMA_LR = 2e-4  # the noise sigma's learning rate
GAIN_LR = 1e-3  # the exposure ratio's (GridModule.gains)
MAGNIFY_LR = 3e-2  # the kernel scales' (GridModule.log_scales), decaying with the kernels' lr
COM_WEIGHT = 0.01  # com_penalty: pins the common shift, which the patch statistics cannot see
SPREAD_WEIGHT = 0.1  # spread_penalty: the paper's prior towards compact kernels


class GridModule(nn.Module):
    """The PSF grid as step 2 learns it (a torch module; lenscal.profile.PSFGrid is the grid as a
    profile stores it). Kernel logits (R, C, 3, K, K), noise sigma, the gains (:meth:`gains`) and, with ``frame``
    given, a radial lateral-colour shift of R and B (see :meth:`lateral_shifts`). With
    ``diffraction`` (3, k, k) given, every kernel is the learned one convolved with it (the Airy
    pattern of the aperture, optics.diffraction): the logits then learn the lens's own blur.
    ``magnify`` "node" adds a learned scale of every node's kernel (see :meth:`log_scales`)."""

    def __init__(self, rows: int, cols: int, size: int, width: float = 1.5, sigma: float = 0.01,
                 kernels: torch.Tensor | None = None, smooth: float = 0.0,
                 frame: tuple[int, int] | None = None, diffraction: torch.Tensor | None = None,
                 magnify: str = "off"):
        super().__init__()
        if magnify not in MAGNIFY:
            raise ValueError(f"magnify must be one of {MAGNIFY}, got {magnify!r}")
        self.rows, self.cols, self.size = rows, cols, size
        self.smooth = float(smooth)
        self.frame = tuple(frame) if frame else None
        self.magnify = magnify
        # every node's q from the frame centre (|q| = 1 at a corner; a square frame when none is given)
        span = self.frame or (2, 2)
        q = radial_coordinates(node_positions(rows, cols) * [span[0] - 1, span[1] - 1], span)
        if magnify == "node":
            self.log_scale = nn.Parameter(torch.zeros(rows, cols))
        if self.frame:
            # (R, B) x (linear, cubic) coefficients, px at the corner; G is the reference
            self.lateral = nn.Parameter(torch.zeros(2, 2))
            self.register_buffer("radial", torch.as_tensor(q, dtype=torch.float32))
        self.diffraction: torch.Tensor | None
        self.register_buffer("diffraction", None if diffraction is None else torch.as_tensor(diffraction).float())
        if self.smooth > 0:
            self.register_buffer("smoother", gaussian(self.smooth, 2 * math.ceil(2.5 * self.smooth) + 1).float())
        if kernels is None:
            kernels = gaussian(width, size).float().expand(rows, cols, 3, size, size)
        self.logits = nn.Parameter(torch.log(kernels.float().clamp_min(1e-8)).clone())
        self.sigma = nn.Parameter(torch.tensor(float(sigma)))
        self.log_exposure = nn.Parameter(torch.zeros(()))

    @property
    def device(self) -> torch.device:
        return self.sigma.device

    def raw_kernels(self) -> torch.Tensor:
        return _softmax_kernels(self.logits)

    def kernels(self) -> torch.Tensor:
        """The softmax kernels, convolved with a small fixed Gaussian when ``smooth`` > 0.

        Why: the patch statistics barely constrain a kernel's finest detail (it sits near the
        noise at the highest frequencies), and Adam on per-pixel logits grew a one-pixel spike on
        a broad pedestal there; a fixed smoothing removes that spike, wide open and stopped down.
        A non-negative, normalised kernel convolved with one stays so (renormalised for the
        little mass pushed past the window edge).
        """
        k = self._smoothed(self.raw_kernels())
        if self.magnify != "off":
            k = magnify_kernels(k, self.log_scales()[..., None])
        if self.diffraction is not None:
            k = torch.stack([_convolve(k[:, :, c], self.diffraction[c]) for c in range(3)], dim=2)
        if self.frame:
            k = self._shift_rb(k)
        return k

    def log_scales(self) -> torch.Tensor:
        """(rows, cols): the log of each node's kernel scale (0 without ``magnify``), one free
        number per node.

        Applied to the smoothed kernel (before the diffraction and lateral shift), so a scale
        below 1 also narrows the smoothing where the lens is sharpest.
        """
        if self.magnify == "node":
            return self.log_scale
        return torch.zeros(self.rows, self.cols, device=self.device)

    def _smoothed(self, k: torch.Tensor) -> torch.Tensor:
        return _convolve(k, self.smoother) if self.smooth > 0 else k

    def lateral_shifts(self) -> torch.Tensor:
        """(rows, cols, 2, 2): the (dy, dx) shift of R and B at every node, px.

        Lateral colour is a difference of magnification between wavelengths: a radial shift
        (a + b r^2) * q of R and B against G at the normalised position q (lensfun's TCA model
        is the same polynomial). Per-pixel logits learned it poorly (a 1 px move has to carry
        mass across several logits, and each node sees few patches); four numbers fitted over
        every patch of the frame learn it quickly. The logits stay free for what is not radial.
        """
        return radial_shifts(self.lateral, self.radial)

    def _shift_rb(self, k: torch.Tensor) -> torch.Tensor:
        """Fourier-shift R and B by :meth:`lateral_shifts`, clip the ringing, renormalise.

        The phase shift rings on kernels narrower than about a pixel and a half (optics.psf
        .translate), which the learned lateral colour put back after step 2 no longer does; in
        step 2 itself a shift that does not ring made every channel's kernels narrower, further
        from the truth (docs/benchmarks.md), so step 2 keeps the shift it was built with."""
        d = self.lateral_shifts()
        rb = normalise(shift(k[:, :, 0::2], d[..., 0], d[..., 1]))
        return torch.stack([rb[:, :, 0], k[:, :, 1], rb[:, :, 1]], dim=2)

    def gains(self) -> torch.Tensor:
        """(3,) blurry/sharp gains: one learned exposure ratio, the same in every channel.

        Not a gain per channel: learned from two sets of DIFFERENT scenes, a per-channel tint
        mostly learns how the scenes' colours differ (far from the true white balance), and the
        kernels then narrow or widen per channel to make up the contrast.
        """
        return torch.exp(self.log_exposure.expand(3))

    def at(self, centres: torch.Tensor) -> torch.Tensor:
        return interpolate(self.kernels(), centres.to(self.device))

    def refined(self, rows: int, cols: int, magnify: str = "off") -> "GridModule":
        """The same field on a finer grid (same smoothing): the kernels interpolated at the new
        node positions, with ``magnify``'s scales starting at 1 (this grid's own must be off)."""
        if self.magnify != "off":
            raise ValueError("refining a magnified grid is not supported")
        with torch.no_grad():
            k = resample(self.raw_kernels().detach().cpu().double(), rows, cols).float()
            new = GridModule(rows, cols, k.shape[-1], kernels=k.cpu(), smooth=self.smooth, frame=self.frame,
                          diffraction=self.diffraction, magnify=magnify).to(self.device)
        with torch.no_grad():
            new.sigma.copy_(self.sigma)
            new.log_exposure.copy_(self.log_exposure)
            if self.frame:
                new.lateral.copy_(self.lateral)
        return new

    def forward(self, x: torch.Tensor, centres: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Simulated blurry patches in [0, 1] units and the per-sample kernels used."""
        k = self.at(centres)
        y = blur_patches(x * self.gains()[None, :, None, None], k)
        return y + self.sigma.abs() * noise, k


def _softmax_kernels(logits: torch.Tensor) -> torch.Tensor:
    """Kernels (..., K, K) from per-pixel logits: non-negative and summing to one."""
    return torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)


def _convolve(kernels: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Every (K, K) kernel convolved with the small kernel ``g`` ('same' size), renormalised for
    the little mass pushed past the window edge."""
    flat = torch.nn.functional.conv2d(kernels.reshape(-1, 1, *kernels.shape[-2:]), g[None, None].to(kernels.dtype),
                                      padding=g.shape[-1] // 2)
    return (flat / flat.sum((-2, -1), keepdim=True)).reshape(kernels.shape)


def com_penalty(k: torch.Tensor) -> torch.Tensor:
    """Squared distance (px^2) of the channel-pooled centre of mass from the kernel centre.

    Pooled so R and B may shift against G (lateral colour) while the common shift, which patch
    statistics cannot see, is pinned.
    """
    return centroid(k.sum(1)).square().sum(-1).mean()


def spread_penalty(k: torch.Tensor) -> torch.Tensor:
    """Per-channel second central moment, in half-kernel units, averaged over elements (the
    paper's "Gaussian" regulariser): favours compact kernels."""
    size = k.shape[-1]
    half = (size - 1) / 2
    return (second_moment(k) * k.sum((-2, -1))).mean() / (half**2 * size**2)


def colour_offset_penalty(kernels: torch.Tensor) -> torch.Tensor:
    """Squared frame-average of each channel's offset from the pooled centroid (px^2).

    Lateral colour of a centred lens is radial, so it averages to ~0 over a symmetric grid of
    nodes; its common mode (all nodes' R shifted the same way) is what the patch statistics
    constrain least and what drifted in our measurements. Node-to-node CA stays free.
    """
    offsets = centroid(kernels) - centroid(kernels.mean(-3, keepdim=True))
    return offsets.mean((0, 1)).square().sum()


class Matcher:
    """The two flow models and the grid, one aux update then one kernel update per cycle."""

    def __init__(self, real: nn.Module, grid: GridModule, settings, device: torch.device):
        self.settings = settings
        self.device = device
        self.real = copy.deepcopy(real).requires_grad_(bool(settings.train_real))
        self.aux = copy.deepcopy(real).requires_grad_(True)
        self.opt_aux = torch.optim.Adam(self.aux.parameters(), lr=settings.aux_lr, betas=(0.9, 0.99))
        self.opt_real = (torch.optim.Adam(self.real.parameters(), lr=settings.aux_lr, betas=(0.9, 0.99))
                         if settings.train_real else None)
        self.set_grid(grid)
        self.step_count = 0

    def set_grid(self, grid: GridModule, keep_schedule: bool = False) -> None:
        """Learn ``grid`` from here on: new optimiser, fresh kernel average; the lr schedule
        restarts unless ``keep_schedule`` (a refined grid continues where the coarse one was)."""
        s = self.settings
        self.grid = grid
        groups = [
            {"params": [grid.logits], "lr": s.kernel_lr, "name": "kernels"},
            {"params": [grid.sigma], "lr": SIGMA_LR, "name": "sigma"},
            {"params": [grid.log_exposure], "lr": GAIN_LR, "name": "exposure"},
        ]
        if grid.frame:
            groups.append({"params": [grid.lateral], "lr": s.lateral_lr, "name": "lateral"})
        if grid.magnify != "off":
            groups.append({"params": [grid.log_scale], "lr": MAGNIFY_LR, "name": "scale"})
        self.opt_kernel = torch.optim.Adam(groups, betas=(0.9, 0.99))
        self.stage_step = self.stage_step if keep_schedule else 0
        self.average: torch.Tensor | None = None
        self.coverage = torch.zeros(grid.rows * grid.cols, dtype=torch.float64)

    def _group(self, name: str) -> dict:
        """The kernel optimiser's parameter group ``name`` (looked up each time: loading a
        state replaces the group dicts, so a kept reference would go stale)."""
        return next(g for g in self.opt_kernel.param_groups if g["name"] == name)

    def kernel_lr(self) -> float:
        s = self.settings
        return max(s.kernel_lr * 0.5 ** (self.stage_step / s.kernel_lr_halving), s.kernel_lr_floor)

    def _noise(self, shape, gen):
        return torch.randn(shape, generator=gen).to(self.device)

    def aux_step(self, x: torch.Tensor, pos: torch.Tensor, centres: torch.Tensor, gen: torch.Generator) -> float:
        """One CFM update of the aux model on patches simulated with the current grid."""
        p = x.shape[-1] - self.grid.size + 1
        with torch.no_grad():
            y, _ = self.grid(x, centres, self._noise((x.shape[0], 3, p, p), gen))
        loss = cfm_loss(self.aux, model_view(y), pos, gen)
        self.opt_aux.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_aux.step()
        return loss.item()

    def real_step(self, y1: torch.Tensor, pos: torch.Tensor, gen: torch.Generator) -> float:
        """Keep training the real model on real patches exactly as the aux model is trained on
        simulated ones, so that v_aux - v_real reflects the data, not how far a short step 1 was
        from convergence (a CPU-budget deviation from the paper, which freezes it)."""
        loss = cfm_loss(self.real, y1, pos, gen)
        self.opt_real.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_real.step()
        return loss.item()

    def kernel_step(self, x: torch.Tensor, pos: torch.Tensor, centres: torch.Tensor, gen: torch.Generator) -> dict:
        """One update of the grid, sigma and gains along the distribution-matching gradient."""
        s = self.settings
        n = x.shape[0]
        p = x.shape[-1] - self.grid.size + 1
        y, k = self.grid(x, centres, self._noise((n, 3, p, p), gen))
        y1c = model_view(y)
        eps = self._noise(y1c.shape, gen)
        t = (s.t_min + (1 - s.t_min) * torch.rand(n, generator=gen)).to(self.device)
        tt = t[:, None, None, None]
        with torch.no_grad():
            yt = (1 - tt) * eps + tt * y1c
            d = self.aux(yt, t, pos) - self.real(yt, t, pos)
        di = (d * y1c).mean()
        com, spread = com_penalty(k), spread_penalty(k)
        loss = di + COM_WEIGHT * com + SPREAD_WEIGHT * spread
        if s.colour_weight > 0:
            loss = loss + s.colour_weight * colour_offset_penalty(self.grid.kernels())
        self._group("kernels")["lr"] = self.kernel_lr()
        if self.grid.frame:  # the lateral-colour shifts decay with the kernels (a faster decay lets them walk far past the truth)
            self._group("lateral")["lr"] = s.lateral_lr * self.kernel_lr() / s.kernel_lr
        if self.grid.magnify != "off":  # so do the scales
            self._group("scale")["lr"] = MAGNIFY_LR * self.kernel_lr() / s.kernel_lr
        self.opt_kernel.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_kernel.step()
        if s.kernel_average > 0:
            with torch.no_grad():
                now = self.grid.kernels().detach()
                self.average = now.clone() if self.average is None else self.average.lerp_(now, 1 - s.kernel_average)
        rows, cols = self.grid.rows, self.grid.cols
        idx, w = bilinear_weights(centres.double(), rows, cols)
        self.coverage.index_add_(0, idx.flatten(), w.flatten())
        self.step_count += 1
        self.stage_step += 1
        return {"com": com.item(), "spread": spread.item(), "sigma": self.grid.sigma.abs().item()}

    def estimate(self) -> torch.Tensor:
        """The grid to report: the running average of the kernels over the last ~1/(1-beta)
        cycles (iterate averaging: each Adam step on a small batch jitters every kernel pixel),
        or the current kernels when averaging is off."""
        k = self.average if self.average is not None else self.grid.kernels()
        return k.detach().cpu().clone()  # a copy: the average is updated in place (a snapshot must not follow it)

    def state_dict(self) -> dict:
        return {"average": self.average, "real": self.real.state_dict(), "aux": self.aux.state_dict(),
                "grid": self.grid.state_dict(),
                "opt_aux": self.opt_aux.state_dict(), "opt_kernel": self.opt_kernel.state_dict(),
                "opt_real": self.opt_real.state_dict() if self.opt_real else None,
                "step": self.step_count, "stage_step": self.stage_step, "coverage": self.coverage,
                "grid_shape": [self.grid.rows, self.grid.cols], "smooth": self.grid.smooth,
                "magnify": self.grid.magnify}

    def load_state_dict(self, state: dict) -> None:
        rows, cols = state["grid_shape"]
        grid = GridModule(rows, cols, self.grid.size, smooth=float(state["smooth"]), frame=self.grid.frame,
                       diffraction=self.grid.diffraction, magnify=str(state.get("magnify", "off"))).to(self.device)
        grid.load_state_dict(state["grid"])
        self.set_grid(grid)
        self.real.load_state_dict(state["real"])
        self.aux.load_state_dict(state["aux"])
        self.opt_aux.load_state_dict(state["opt_aux"])
        self.opt_kernel.load_state_dict(state["opt_kernel"])
        if self.opt_real is not None:
            self.opt_real.load_state_dict(state["opt_real"])
        self.step_count = int(state["step"])
        self.stage_step = int(state["stage_step"])
        self.coverage = state["coverage"].clone()
        self.average = state.get("average")
        if self.average is not None:
            self.average = self.average.to(self.device)


def node_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest relative L2 change of a node's kernel between two snapshots of a grid.

    Linear in the change (1 - NCC would be quadratic: a 4% move reads as 1e-3, so the
    stopping rule would fire as soon as it is allowed to).
    """
    diff = (a - b).flatten(-3).norm(dim=-1)
    return float((diff / b.flatten(-3).norm(dim=-1).clamp_min(1e-12)).max())


def confidence(coverage: np.ndarray, stability: np.ndarray) -> np.ndarray:
    """Per-node confidence in [0, 1]: how much data reached the node x how settled it is.

    Coverage is relative to the average node; stability is the node's NCC between the last two
    snapshots mapped so 0.99 -> 0 and 1 -> 1. A heuristic for the user, not a probability.
    """
    cov = np.clip(coverage / max(float(coverage.mean()), 1e-12), 0, 1)
    stab = np.clip((stability - 0.99) / 0.01, 0, 1)
    return (cov * (0.5 + 0.5 * stab)).astype(np.float32)
