"""Step 3: non-blind deconvolution of a linear photo with a spatially varying PSF grid.

The photo is cut into overlapping tiles finer than the PSF grid (the PSF barely changes across a
tile), each tile takes the grid interpolated at its centre, every tile and channel is solved at
once as one batched torch FFT problem, and the tiles are blended with raised-cosine weights that
sum to exactly one (no seams: the authors of the method overwrote tiles and got visible seams).

Solver: half-quadratic splitting (Krishnan & Fergus, "Fast image deconvolution using
hyper-Laplacian priors", NIPS 2009) of

    min_x  1/2 ||k * x - y||^2  +  mu * sum |grad x|^p,     mu = weight * sigma^2,

alternating a closed-form shrinkage of the gradients (Chartrand's p-shrinkage, p < 1 approximates
the heavy-tailed gradient statistics of photos) and an exact FFT solve of the quadratic x-step.
A sparse gradient prior keeps edges crisp and flat areas clean where Wiener (a Gaussian prior)
must trade noise against ringing; :func:`deconvolve` with ``method="wiener"`` is kept as the
classical baseline.

Borders: tiles read the image through reflected indices (the forward model's own border rule),
and each tile is edge-tapered so the FFT's periodic wrap-around does not ring. Clipped highlights:
pixels at or above ``saturation`` in any channel are not what the lens made (the truth was
brighter), so the correction is faded out around them instead of ringing.

Pure functions over arrays: no file I/O, no printing; progress goes through a callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import cv2
import numpy as np
import torch

from lenscal.optics.psf import interpolate

Progress = Callable[[str, int, int, dict], None]


@dataclass(frozen=True)
class SolverOptions:
    """Every knob of the solver, with the values measured best on simulated lenses (bench/)."""

    method: str = "hqs"  # hqs (sparse gradient prior) | wiener (classical baseline)
    tile: int | None = None  # tile core in px; None = about half a grid cell, 64..256
    overlap: int = 32  # width of the raised-cosine blend between neighbouring tiles (px)
    margin: int = 24  # context beyond the blend, discarded (absorbs the FFT wrap-around)
    weight: float = 10.0  # prior weight mu = weight * sigma^2 ...
    exponent: float = 0.8  # ... on |grad x|^exponent (1 = total variation)
    group: bool = True  # shrink gradients jointly over x/y and R, G, B (vectorial TV)
    iterations: int = 6  # HQS iterations (rho grows geometrically)
    threshold_start: float = 0.05  # first shrinkage threshold mu / rho (gradient units) ...
    rho_growth: float = 3.0  # ... then rho grows geometrically (K&F use 2*sqrt(2))
    wiener_nsr: float | None = None  # Wiener noise-to-signal ratio; None = from sigma
    min_sigma: float = 1e-3  # a floor on the noise level (a profile may claim 0)
    saturation: float = 0.99  # pixels at or above this (any channel) are clipped highlights
    batch_pixels: int = 6_000_000  # tile pixels x channels solved per batch (memory bound)

    @classmethod
    def from_kwargs(cls, **kwargs) -> "SolverOptions":
        known = {f.name for f in fields(cls)}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"unknown solver option(s): {', '.join(sorted(unknown))}")
        return cls(**kwargs)


# -- tiling ------------------------------------------------------------------------------------
def auto_tile(height: int, width: int, rows: int, cols: int) -> int:
    """Tile core: about half a grid cell (the PSF then changes little across a tile), 64..256 px."""
    cell = min(height / max(rows - 1, 1), width / max(cols - 1, 1))
    return int(np.clip(32 * round(cell / 2 / 32), 64, 256))


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices folded into [0, n) by mirror reflection without edge repeat (numpy's 'reflect')."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


def _ramp(t: np.ndarray, width: int) -> np.ndarray:
    """0 -> 1 raised-cosine ramp centred on t = 0; ramp(t) + (1 - ramp(t)) = 1 pairs neighbours."""
    if width <= 0:
        return (t >= 0).astype(np.float32)
    u = np.clip(t / width + 0.5, 0.0, 1.0)
    return (np.sin(0.5 * math.pi * u) ** 2).astype(np.float32)


@dataclass(frozen=True)
class Axis:
    """One image axis cut into tiles: core bounds, window starts and blend weights."""

    bounds: np.ndarray  # (n + 1,) core boundaries, 0 .. size
    starts: np.ndarray  # (n,) first window coordinate (may be < 0: reflected)
    window: int  # window length N (same for all tiles, FFT size)
    weights: np.ndarray  # (n, N) blend weight of each window pixel (sum over tiles = 1 in-image)


def cut_axis(size: int, tile: int, overlap: int, margin: int) -> Axis:
    """Tiles along one axis: cores of <= ``tile`` px, windows padded by overlap/2 + margin."""
    n = max(1, math.ceil(size / tile))
    bounds = np.round(np.linspace(0, size, n + 1)).astype(int)
    pad = overlap // 2 + margin
    window = int(np.max(np.diff(bounds))) + 2 * pad
    window += window % 2  # even sizes suit rfft
    starts = bounds[:-1] - pad
    x = starts[:, None] + np.arange(window)[None, :]
    w = np.ones((n, window), np.float32)
    for i in range(n):
        if i > 0:
            w[i] *= _ramp(x[i] - bounds[i] + 0.5, overlap)
        if i < n - 1:
            w[i] *= 1.0 - _ramp(x[i] - bounds[i + 1] + 0.5, overlap)
    return Axis(bounds, starts, window, w)


# -- Fourier helpers ---------------------------------------------------------------------------
def psf2otf(kernels: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(..., K, K) kernels centred -> rfft2 OTF of a true convolution on an (h, w) torus."""
    k = kernels.shape[-1]
    pad = torch.zeros(*kernels.shape[:-2], *shape, dtype=kernels.dtype, device=kernels.device)
    pad[..., :k, :k] = kernels
    pad = torch.roll(pad, shifts=(-(k // 2), -(k // 2)), dims=(-2, -1))
    return torch.fft.rfft2(pad)


def _grad_otfs(shape: tuple[int, int], dtype, device) -> torch.Tensor:
    """|Dx|^2 + |Dy|^2 of forward differences x[j+1] - x[j] on the torus (rfft2 layout)."""
    g = torch.zeros(2, *shape, dtype=dtype, device=device)
    g[0, 0, 0], g[0, 0, -1] = -1, 1
    g[1, 0, 0], g[1, -1, 0] = -1, 1
    return (torch.fft.rfft2(g).abs() ** 2).sum(0)


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.roll(x, -1, -1) - x, torch.roll(x, -1, -2) - x


def _grad_t(wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_grad` (a negative divergence)."""
    return (torch.roll(wx, 1, -1) - wx) + (torch.roll(wy, 1, -2) - wy)


def _shrink(gx: torch.Tensor, gy: torch.Tensor, tau: float, p: float,
            group: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Chartrand's p-shrinkage of the gradients: soft thresholding for p = 1, nearer hard for p < 1.

    With ``group`` the magnitude is taken jointly over x/y and the three channels (vectorial TV):
    edges sit at the same place in R, G and B while noise does not, so colour edges survive a
    threshold that removes independent noise.
    """
    if group:
        mag = (gx * gx + gy * gy).sum(dim=-3, keepdim=True).sqrt().clamp_min(1e-12)
        mag = mag / math.sqrt(3.0)  # same threshold scale as one channel for a grey edge
    else:
        mag = (gx * gx + gy * gy).sqrt().clamp_min(1e-12)
    scale = (1 - tau ** (2 - p) * mag ** (p - 2)).clamp_min(0)
    return gx * scale, gy * scale


def edge_taper(y: torch.Tensor, otf: torch.Tensor, width: int) -> torch.Tensor:
    """Fade each tile's border into its own circular blur, so the torus sees no jump (edgetaper)."""
    def ramp(n: int) -> torch.Tensor:
        t = torch.arange(n, dtype=y.dtype, device=y.device)
        d = torch.minimum(t, n - 1 - t)
        return torch.sin(0.5 * math.pi * (d / max(width, 1)).clamp(max=1.0)) ** 2

    alpha = ramp(y.shape[-2])[:, None] * ramp(y.shape[-1])[None, :]
    blurred = torch.fft.irfft2(torch.fft.rfft2(y) * otf, s=y.shape[-2:])
    return alpha * y + (1 - alpha) * blurred


def solve_tiles(y: torch.Tensor, kernels: torch.Tensor, sigma: float, opts: SolverOptions) -> torch.Tensor:
    """Deconvolve a batch of tiles (B, 3, H, W), each channel with its kernel (B, 3, K, K)."""
    n = tuple(y.shape[-2:])
    otf = psf2otf(kernels.to(y.dtype), n)
    y = edge_taper(y, otf, width=max(opts.margin, kernels.shape[-1]))
    yf = torch.fft.rfft2(y)
    k2 = otf.real ** 2 + otf.imag ** 2
    kty = otf.conj() * yf
    del yf
    d2 = _grad_otfs(n, y.dtype, y.device)
    if opts.method == "wiener":
        nsr = opts.wiener_nsr if opts.wiener_nsr is not None else 2.0 * sigma**2
        return torch.fft.irfft2(kty / (k2 + nsr), s=n)
    if opts.method != "hqs":
        raise ValueError(f"unknown deconvolution method {opts.method!r}")
    mu = opts.weight * sigma**2
    p = opts.exponent
    x = y
    rho = mu / opts.threshold_start  # first shrinkage threshold mu / rho, in gradient units
    for _ in range(opts.iterations):
        gx, gy = _grad(x)
        tau = mu / rho
        wx, wy = _shrink(gx, gy, tau, p, opts.group)
        del gx, gy
        num = kty + rho * torch.fft.rfft2(_grad_t(wx, wy))
        del wx, wy
        x = torch.fft.irfft2(num / (k2 + rho * d2), s=n)
        rho *= opts.rho_growth
    return x


# -- clipped highlights ------------------------------------------------------------------------
def highlight_guard(image: np.ndarray, saturation: float, kernel_size: int) -> np.ndarray | None:
    """Weight in [0, 1] (H, W) of how much to keep the input near clipped highlights (None: none).

    A clipped highlight was brighter than the file says, so the blur model does not hold there and
    any deconvolution rings around it (measured: up to 0.5 of white, within about one kernel width
    of the clipped edge). The guard covers the clipped pixels dilated by one kernel width, with a
    smooth edge; beyond it the correction is whole.
    """
    clipped = (image >= saturation).any(axis=2)
    if not clipped.any():
        return None
    reach = kernel_size
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    mask = cv2.dilate(clipped.astype(np.uint8), disk).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=kernel_size / 4)
    return np.maximum(soft, clipped.astype(np.float32))


# -- the whole image ---------------------------------------------------------------------------
def deconvolve(image: np.ndarray, grid: np.ndarray, noise_sigma: float, *, strength: float = 1.0,
               device: str | torch.device = "cpu", progress: Progress | None = None,
               **options) -> np.ndarray:
    """Sharpen a linear (H, W, 3) photo blurred by the PSF grid (R, C, 3, K, K).

    ``noise_sigma`` (RMS noise in white units, e.g. the profile's) sets the regularisation;
    ``strength`` blends between the input (0) and the full correction (1); ``options`` are
    :class:`SolverOptions` fields. Returns float32 (H, W, 3), linear, >= 0.
    """
    opts = SolverOptions.from_kwargs(**options)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {image.shape}")
    if not 0.0 <= strength <= 4.0:
        raise ValueError(f"strength {strength} is out of range (0..4)")
    if strength == 0:
        return image.copy()
    height, width = image.shape[:2]
    rows, cols, _, k, _ = grid.shape
    sigma = max(float(noise_sigma), opts.min_sigma)
    tile = opts.tile or auto_tile(height, width, rows, cols)
    ax_r = cut_axis(height, tile, opts.overlap, opts.margin)
    ax_c = cut_axis(width, tile, opts.overlap, opts.margin)
    n_r, n_c = len(ax_r.starts), len(ax_c.starts)
    dev = torch.device(device)
    grid_t = torch.as_tensor(np.asarray(grid, np.float32), device=dev)
    out = np.zeros_like(image)
    per_tile = 3 * ax_r.window * ax_c.window
    rows_per_batch = max(1, opts.batch_pixels // (per_tile * n_c))
    col_idx = reflect_index(ax_c.starts[:, None] + np.arange(ax_c.window)[None, :], width)  # (n_c, N)
    done = 0
    for r0 in range(0, n_r, rows_per_batch):
        rs = range(r0, min(n_r, r0 + rows_per_batch))
        row_idx = reflect_index(ax_r.starts[list(rs), None] + np.arange(ax_r.window)[None, :], height)
        # (nr, N, nc, N, 3) gathered through reflected indices: borders mirror like the forward model
        tiles = image[row_idx[:, :, None, None], col_idx[None, None, :, :]]
        tiles = torch.from_numpy(np.ascontiguousarray(tiles.transpose(0, 2, 4, 1, 3))).to(dev)
        tiles = tiles.reshape(-1, 3, ax_r.window, ax_c.window)
        centres = np.array([[(ax_r.bounds[i] + ax_r.bounds[i + 1] - 1) / 2 / max(height - 1, 1),
                             (ax_c.bounds[j] + ax_c.bounds[j + 1] - 1) / 2 / max(width - 1, 1)]
                            for i in rs for j in range(n_c)], np.float32)
        kernels = interpolate(grid_t, torch.as_tensor(centres, device=dev))
        solved = solve_tiles(tiles, kernels, sigma, opts).cpu().numpy()
        solved = solved.reshape(len(rs), n_c, 3, ax_r.window, ax_c.window)
        for a, i in enumerate(rs):
            y0 = max(ax_r.starts[i], 0)
            y1 = min(ax_r.starts[i] + ax_r.window, height)
            wy = ax_r.weights[i, y0 - ax_r.starts[i]:y1 - ax_r.starts[i]]
            for j in range(n_c):
                x0 = max(ax_c.starts[j], 0)
                x1 = min(ax_c.starts[j] + ax_c.window, width)
                wx = ax_c.weights[j, x0 - ax_c.starts[j]:x1 - ax_c.starts[j]]
                part = solved[a, j, :, y0 - ax_r.starts[i]:y1 - ax_r.starts[i], x0 - ax_c.starts[j]:x1 - ax_c.starts[j]]
                out[y0:y1, x0:x1] += (wy[:, None, None] * wx[None, :, None]) * part.transpose(1, 2, 0)
        done += len(rs) * n_c
        if progress:
            progress("deconvolving", done, n_r * n_c, {})
    guard = highlight_guard(image, opts.saturation, k)
    if strength != 1.0:
        out = image + np.float32(strength) * (out - image)
    if guard is not None:
        out += guard[..., None] * (image - out)
    np.maximum(out, 0, out=out)
    return out


__all__ = ["SolverOptions", "deconvolve", "solve_tiles", "cut_axis", "auto_tile", "highlight_guard",
           "psf2otf", "reflect_index"]
