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

Borders: tiles read the image through reflected indices (the forward model's own border rule);
each tile carries ``margin`` px of real context beyond its blend zone, which absorbs the FFT's
periodic wrap-around and is discarded. Clipped
highlights: pixels at or above ``saturation`` in any channel are not what the lens made (the
truth was brighter), so the correction is faded out around them instead of ringing.

Speed: the solver is memory-bandwidth bound. Tiles are solved a few at a time (their buffers
stay in cache), window sizes are FFT-friendly (2^a 3^b 5^c), the shrinkage and the x-step work in
place, and only a few HQS iterations are run. ``torch.compile`` is not used: its start-up in every
process costs more than it saves on one photo.

Pure functions over arrays: no file I/O, no printing; progress goes through a callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch

from lenscal.noise import fine_scale_sigma
from lenscal.optics.psf import interpolate
from lenscal.progress import Progress


@dataclass(frozen=True)
class SolverOptions:
    """Every knob of the solver (bench/solver_lab.py compares variants; docs/benchmarks.md)."""

    method: str = "hqs"  # hqs (sparse gradient prior) | wiener (classical baseline)
    tile: int | None = None  # tile core in px; None = about half a grid cell, 64..256
    overlap: int = 16  # width of the raised-cosine blend between neighbouring tiles (px)
    margin: int = 8  # context beyond the blend, discarded (absorbs the FFT wrap-around)
    # prior weight mu = weight * sigma^2, sigma measured on the photo itself (fine_scale_sigma).
    # Demosaicing correlates noise, so the fine-scale reading of a developed photo is well below
    # the noise the solver has to hold back: the weight is large to make up for it.
    weight: float = 600.0
    exponent: float = 0.8  # ... on |grad x|^exponent (1 = total variation)
    group: bool = True  # shrink gradients jointly over x/y and R, G, B (vectorial TV)
    # Weight and schedule are chosen on the tuning half of the validation zoo (bench/zoo.py,
    # bench/solver_lab.py) for the gain with the true grid AND with the true grid stretched (a
    # profile slightly too wide): a weaker prior sharpens more with the truth on a few lenses and
    # makes photos worse with a profile that is slightly off.
    iterations: int = 5  # HQS iterations: by the last the threshold is 1/256 of the first, converged
    threshold_start: float = 0.2  # first shrinkage threshold mu / rho (gradient units) ...
    rho_growth: float = 4.0  # ... then rho grows geometrically (K&F use 2*sqrt(2))
    wiener_nsr: float | None = None  # Wiener noise-to-signal ratio; None = from sigma
    min_sigma: float = 1e-3  # a floor on the noise level
    # Noise is a property of each photo (its ISO, its exposure), not of the lens: measure it on
    # the photo; the profile's sigma (the calibration shoot's) is used only when this is off.
    estimate_noise: bool = True
    saturation: float = 0.99  # pixels at or above this (any channel) are clipped highlights
    batch_pixels: int = 1_200_000  # tile pixels x channels per batch: 4 tiles of 288 px stay in cache

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
    window = fast_size(int(np.max(np.diff(bounds))) + 2 * pad)  # any extra is more margin
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
def fast_size(n: int) -> int:
    """The smallest even n' >= n whose only prime factors are 2, 3 and 5 (FFTs are quickest there)."""
    m = max(2, n + n % 2)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


def psf2otf(kernels: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(..., K, K) kernels centred -> rfft2 OTF of a true convolution on an (h, w) torus.

    The kernel is written straight into its wrapped position (centre at (0, 0)), no roll.
    """
    k = kernels.shape[-1]
    c = k // 2
    pad = kernels.new_zeros(*kernels.shape[:-2], *shape)
    rows = [(slice(0, k - c), slice(c, k)), (slice(shape[0] - c, shape[0]), slice(0, c))]
    cols = [(slice(0, k - c), slice(c, k)), (slice(shape[1] - c, shape[1]), slice(0, c))]
    for dst_r, src_r in rows:
        for dst_c, src_c in cols:
            pad[..., dst_r, dst_c] = kernels[..., src_r, src_c]
    return torch.fft.rfft2(pad)


def _grad_otfs(shape: tuple[int, int], dtype, device) -> torch.Tensor:
    """|Dx|^2 + |Dy|^2 of forward differences x[j+1] - x[j] on the torus (rfft2 layout)."""
    g = torch.zeros(2, *shape, dtype=dtype, device=device)
    g[0, 0, 0], g[0, 0, -1] = -1, 1
    g[1, 0, 0], g[1, -1, 0] = -1, 1
    return (torch.fft.rfft2(g).abs() ** 2).sum(0)


def shrunk_divergence(x: torch.Tensor, tau: float, p: float, group: bool) -> torch.Tensor:
    """The HQS w-step and its adjoint in one: D^T shrink(D x) for forward differences.

    Chartrand's p-shrinkage: soft thresholding for p = 1, nearer hard thresholding for p < 1 (the
    heavy-tailed gradients of photos). With ``group`` the magnitude is taken jointly over x/y and
    R, G, B (vectorial TV): edges sit at the same place in the three channels while noise does not,
    so colour edges survive a threshold that removes independent noise. The last row/column of
    differences is zero (no wrap-around). In-place arithmetic on two buffers: the solver is
    memory-bandwidth bound, and this is about as fast as a ``torch.compile`` fusion without its
    seconds of start-up per process.
    """
    gx = torch.empty_like(x)
    gy = torch.empty_like(x)
    torch.sub(x[..., 1:], x[..., :-1], out=gx[..., :-1])
    gx[..., -1] = 0
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=gy[..., :-1, :])
    gy[..., -1, :] = 0
    mag2 = gx.square().addcmul_(gy, gy)
    if group:
        mag2 = mag2.mean(dim=-3, keepdim=True)  # mean: a grey edge keeps one channel's scale
    mag2.clamp_min_(1e-24)
    if p >= 1:  # 1 - tau / |g|
        scale = mag2.rsqrt_().mul_(-tau).add_(1).clamp_min_(0)
    else:  # 1 - tau^(2-p) |g|^(p-2)
        scale = mag2.pow_((p - 2) / 2).mul_(-(tau ** (2 - p))).add_(1).clamp_min_(0)
    gx.mul_(scale)
    gy.mul_(scale)
    div = gx.neg()
    div[..., 1:] += gx[..., :-1]
    div.sub_(gy)
    div[..., 1:, :] += gy[..., :-1, :]
    return div


def solve_tiles(y: torch.Tensor, kernels: torch.Tensor, sigma: float, opts: SolverOptions) -> torch.Tensor:
    """Deconvolve a batch of tiles (B, 3, H, W), each channel with its kernel (B, 3, K, K).

    HQS x-step: X = (conj(K) Y + rho F(D^T w)) / (|K|^2 + rho |D|^2), done in place on the
    spectrum of D^T w. Two FFTs per iteration, plus two to set up.
    """
    n = tuple(y.shape[-2:])
    otf = psf2otf(kernels.to(y.dtype), n)
    kty = torch.fft.rfft2(y).mul_(otf.conj())
    k2 = torch.view_as_real(otf).square().sum(-1)  # |K|^2 without abs's square root
    del otf
    if opts.method == "wiener":
        nsr = opts.wiener_nsr if opts.wiener_nsr is not None else 2.0 * sigma**2
        return torch.fft.irfft2(kty.div_(k2.add_(nsr)), s=n)
    if opts.method != "hqs":
        raise ValueError(f"unknown deconvolution method {opts.method!r}")
    d2 = _grad_otfs(n, y.dtype, y.device)
    mu = opts.weight * sigma**2
    rho = mu / opts.threshold_start  # first shrinkage threshold mu / rho, in gradient units
    x = y
    for _ in range(opts.iterations):
        spec = torch.fft.rfft2(shrunk_divergence(x, mu / rho, opts.exponent, opts.group))
        spec.mul_(rho).add_(kty).mul_(torch.add(k2, d2, alpha=rho).reciprocal_())  # real: half the work
        x = torch.fft.irfft2(spec, s=n)
        del spec
        rho *= opts.rho_growth
    return x


# -- clipped highlights ------------------------------------------------------------------------
def channel_max(image: np.ndarray) -> np.ndarray:
    """max over R, G, B of an (H, W, 3) image (torch's reduction is several times numpy's speed)."""
    return torch.from_numpy(np.asarray(image, np.float32)).amax(-1).numpy()


def highlight_guard(image: np.ndarray, saturation: float, kernel_size: int) -> np.ndarray | None:
    """Weight in [0, 1] (H, W) of how much to keep the input near clipped highlights (None: none).

    A clipped highlight was brighter than the file says, so the blur model does not hold there and
    any deconvolution rings around it, within about one kernel width of the clipped edge. The guard covers the clipped pixels dilated by one kernel width, with a
    smooth edge; beyond it the correction is whole.
    """
    clipped = channel_max(image) >= saturation
    if not clipped.any():
        return None
    reach = kernel_size
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    mask = cv2.dilate(clipped.astype(np.uint8), disk).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=kernel_size / 4)
    return np.maximum(soft, clipped.astype(np.float32))


def _window(planes: torch.Tensor, r0: int, c0: int, n_r: int, n_c: int) -> torch.Tensor:
    """(3, n_r, n_c) window at (r0, c0) of (3, H, W) planes; outside the image it reads the mirror
    image (numpy's 'reflect'), the forward model's own border rule."""
    _, h, w = planes.shape
    if r0 >= 0 and c0 >= 0 and r0 + n_r <= h and c0 + n_c <= w:
        return planes[:, r0:r0 + n_r, c0:c0 + n_c]
    ri = torch.from_numpy(reflect_index(r0 + np.arange(n_r), h))
    ci = torch.from_numpy(reflect_index(c0 + np.arange(n_c), w))
    return planes[:, ri][:, :, ci]


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
    sigma = max(fine_scale_sigma(image) if opts.estimate_noise else float(noise_sigma), opts.min_sigma)
    tile = opts.tile or auto_tile(height, width, rows, cols)
    ax_r = cut_axis(height, tile, opts.overlap, opts.margin)
    ax_c = cut_axis(width, tile, opts.overlap, opts.margin)
    n_r, n_c = len(ax_r.starts), len(ax_c.starts)
    dev = torch.device(device)
    grid_t = torch.as_tensor(np.asarray(grid, np.float32), device=dev)
    # channels first: every tile window is then three contiguous-row slices
    planes = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    out = torch.zeros(3, height, width)
    per_tile = 3 * ax_r.window * ax_c.window
    batch = max(1, min(n_r * n_c, opts.batch_pixels // per_tile))
    tiles = torch.empty(batch, 3, ax_r.window, ax_c.window)
    order = [(i, j) for i in range(n_r) for j in range(n_c)]
    for b0 in range(0, len(order), batch):
        todo = order[b0:b0 + batch]
        for b, (i, j) in enumerate(todo):
            tiles[b] = _window(planes, ax_r.starts[i], ax_c.starts[j], ax_r.window, ax_c.window)
        centres = torch.tensor([[(ax_r.bounds[i] + ax_r.bounds[i + 1] - 1) / 2 / max(height - 1, 1),
                                 (ax_c.bounds[j] + ax_c.bounds[j + 1] - 1) / 2 / max(width - 1, 1)]
                                for i, j in todo], dtype=torch.float32, device=dev)
        kernels = interpolate(grid_t, centres)
        solved = solve_tiles(tiles[:len(todo)].to(dev), kernels, sigma, opts).cpu()
        for b, (i, j) in enumerate(todo):
            y0, y1 = max(ax_r.starts[i], 0), min(ax_r.starts[i] + ax_r.window, height)
            x0, x1 = max(ax_c.starts[j], 0), min(ax_c.starts[j] + ax_c.window, width)
            oy, ox = y0 - ax_r.starts[i], x0 - ax_c.starts[j]
            w = torch.from_numpy(np.outer(ax_r.weights[i, oy:oy + y1 - y0], ax_c.weights[j, ox:ox + x1 - x0]))
            out[:, y0:y1, x0:x1].addcmul_(solved[b, :, oy:oy + y1 - y0, ox:ox + x1 - x0], w)
        if progress:
            progress("deconvolving", b0 + len(todo), len(order), {})
    del planes, tiles
    out = out.permute(1, 2, 0).contiguous().numpy()
    guard = highlight_guard(image, opts.saturation, k)
    if strength != 1.0:
        out = image + np.float32(strength) * (out - image)
    if guard is not None:
        out += guard[..., None] * (image - out)
    np.maximum(out, 0, out=out)
    return out


__all__ = ["SolverOptions", "deconvolve", "solve_tiles", "cut_axis", "auto_tile", "highlight_guard",
           "psf2otf", "reflect_index"]
