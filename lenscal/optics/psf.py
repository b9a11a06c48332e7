"""PSF-grid maths: interpolation, normalisation and the measures used to judge a grid.

One layout everywhere: ``grid[row, col, channel(R,G,B), ky, kx]``; node (0, 0) at the top-left of
the image in sensor orientation, nodes spanning the full frame (first and last rows/columns of
nodes on the image borders). Positions are normalised full-frame (row, col) in [0, 1]:
pixel (i, j) of an H x W image is at (i / (H - 1), j / (W - 1)).

Blur is a true convolution, so a kernel whose mass sits at offset (+dy, +dx) from its centre
moves the image content by (+dy, +dx): a kernel's centroid is the image shift it causes.
All functions take torch tensors (and are differentiable where it matters) or numpy arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch

Array = torch.Tensor | np.ndarray


def _t(x: Array, dtype=torch.float64) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=dtype)


def normalise(kernels: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Clamp to >= 0 and make every (ky, kx) kernel sum to 1."""
    k = kernels.clamp_min(0)
    return k / k.sum(dim=(-2, -1), keepdim=True).clamp_min(eps)


def bilinear_weights(pos: torch.Tensor, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (N, 4) into a flattened rows*cols grid and their bilinear weights (N, 4)."""
    pos = pos.clamp(0.0, 1.0)
    u = pos[:, 0] * (rows - 1)
    v = pos[:, 1] * (cols - 1)
    r0 = u.floor().clamp(max=max(rows - 2, 0)).long()
    c0 = v.floor().clamp(max=max(cols - 2, 0)).long()
    fr = (u - r0).to(pos.dtype) if rows > 1 else torch.zeros_like(u)
    fc = (v - c0).to(pos.dtype) if cols > 1 else torch.zeros_like(v)
    r1 = (r0 + 1).clamp(max=rows - 1)
    c1 = (c0 + 1).clamp(max=cols - 1)
    idx = torch.stack([r0 * cols + c0, r0 * cols + c1, r1 * cols + c0, r1 * cols + c1], dim=1)
    w = torch.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], dim=1)
    return idx, w


def interpolate(grid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Kernels (N, 3, K, K) at positions (N, 2), bilinear over the grid (R, C, 3, K, K).

    A convex mix of normalised non-negative kernels stays normalised and non-negative.
    """
    rows, cols = grid.shape[:2]
    idx, w = bilinear_weights(pos.to(grid.dtype), rows, cols)
    flat = grid.reshape(rows * cols, *grid.shape[2:])
    return torch.einsum("nj,njcyx->ncyx", w, flat[idx])


def node_positions(rows: int, cols: int) -> np.ndarray:
    """Normalised (row, col) of every grid node, shape (rows, cols, 2)."""
    r = np.linspace(0, 1, rows) if rows > 1 else np.array([0.5])
    c = np.linspace(0, 1, cols) if cols > 1 else np.array([0.5])
    return np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1)


def radial_coordinates(pixels: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """The lateral-colour model's q of full-frame pixels (..., 2) (y, x): from the frame centre,
    |q| = 1 at a corner. One definition for the grid's nodes and for measured tiles."""
    half = np.array([(frame[0] - 1) / 2, (frame[1] - 1) / 2])
    return (np.asarray(pixels, dtype=np.float64) - half) / np.linalg.norm(half)


def resample(grid: Array, rows: int, cols: int) -> torch.Tensor:
    """The same PSF field on another grid: kernels interpolated at the new nodes' positions.

    Lets a coarse learned grid be compared with (or refined from) a finer one node by node.
    """
    g = _t(grid)
    if tuple(g.shape[:2]) == (rows, cols):
        return g
    pos = torch.as_tensor(node_positions(rows, cols).reshape(-1, 2), dtype=g.dtype)
    return interpolate(g, pos).reshape(rows, cols, *g.shape[2:])


def mirror_average(grid: Array) -> torch.Tensor:
    """The grid (R, C, ..., K, K) made mirror-symmetric about the frame's centre lines, as the
    blur of a centred lens is: each node averaged with its mirror images across the vertical and
    horizontal centre lines, their kernels mirrored the same way."""
    g = _t(grid)
    x = g.flip(1, -1)
    y = g.flip(0, -2)
    return (g + x + y + y.flip(1, -1)) / 4


def radial_shifts(coef: Array, q: Array) -> torch.Tensor:
    """(..., 2, 2): the (dy, dx) shift of R and B against G at normalised positions ``q`` (..., 2)
    under the radial lateral-colour model (a + b r^2) q, lensfun's TCA polynomial;
    ``coef`` (2, 2) holds (a, b) for R, then B.

    Lateral colour is a difference of magnification between wavelengths, hence radial.
    """
    q = _t(q)
    coef = _t(coef, q.dtype)
    r2 = q.square().sum(-1, keepdim=True)[..., None, :]  # (..., 1, 1)
    return (coef[:, 0, None] + coef[:, 1, None] * r2) * q[..., None, :]


def centroid(kernels: Array) -> torch.Tensor:
    """Centre of mass (dy, dx) of each kernel relative to the kernel centre, shape (..., 2)."""
    k = _t(kernels)
    size_y, size_x = k.shape[-2:]
    y = torch.arange(size_y, dtype=k.dtype, device=k.device) - (size_y - 1) / 2
    x = torch.arange(size_x, dtype=k.dtype, device=k.device) - (size_x - 1) / 2
    mass = k.sum(dim=(-2, -1)).clamp_min(1e-12)
    return torch.stack([(k.sum(-1) * y).sum(-1) / mass, (k.sum(-2) * x).sum(-1) / mass], dim=-1)


def _about_centroid(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each kernel's centroid (..., 2), every pixel's offset from it in y and x (..., K, K), and
    its mass (..., 1, 1)."""
    size_y, size_x = k.shape[-2:]
    y = (torch.arange(size_y, dtype=k.dtype, device=k.device) - (size_y - 1) / 2)[:, None]
    x = (torch.arange(size_x, dtype=k.dtype, device=k.device) - (size_x - 1) / 2)[None, :]
    c = centroid(k)
    return c, y - c[..., 0, None, None], x - c[..., 1, None, None], k.sum(dim=(-2, -1)).clamp_min(1e-12)


def second_moment(kernels: Array) -> torch.Tensor:
    """Mean squared distance of each kernel's mass from its own centroid (px^2)."""
    k = _t(kernels)
    _, dy, dx, mass = _about_centroid(k)
    return (k * (dy**2 + dx**2)).sum(dim=(-2, -1)) / mass


def covariance(kernels: Array) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid (..., 2) as (dy, dx) px from the window centre, and covariance (..., 2, 2) of each
    (K, K) kernel (its trace is :func:`second_moment`)."""
    k = _t(kernels)
    c, dy, dx, mass = _about_centroid(k)
    yy, xx, xy = ((k * a * b).sum((-2, -1)) / mass for a, b in ((dy, dy), (dx, dx), (dx, dy)))
    return c, torch.stack([torch.stack([yy, xy], -1), torch.stack([xy, xx], -1)], -2)


def lateral_colour(grid: Array) -> torch.Tensor:
    """Per node, the R-G and B-G centroid offsets (dy, dx) in pixels: shape (R, C, 2, 2)."""
    c = centroid(grid)  # (R, C, 3, 2)
    return torch.stack([c[..., 0, :] - c[..., 1, :], c[..., 2, :] - c[..., 1, :]], dim=-2)


def shift(kernels: Array, dy: Array, dx: Array) -> torch.Tensor:
    """Sub-pixel shift of kernels by (dy, dx) (broadcast over leading dims) via the Fourier phase."""
    k = _t(kernels)
    size_y, size_x = k.shape[-2:]
    fy = torch.fft.fftfreq(size_y, dtype=k.dtype, device=k.device)[:, None]
    fx = torch.fft.fftfreq(size_x, dtype=k.dtype, device=k.device)[None, :]
    dy = _t(dy, k.dtype)[..., None, None]
    dx = _t(dx, k.dtype)[..., None, None]
    phase = torch.exp(-2j * math.pi * (fy * dy + fx * dx))
    return torch.fft.ifft2(torch.fft.fft2(k) * phase).real


def _shift_matrix(d: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size, size) matrices that move N signals of ``size`` samples by ``d`` (N,) samples by
    Catmull-Rom cubic interpolation: out[x] = sum_i M[x, i] in[i], zero beyond the ends."""
    p = -d  # out[x] reads in[x + p]
    o = torch.floor(p).detach()
    a = (p - o)[:, None, None]
    weights = ((-a**3 + 2 * a**2 - a) / 2, (3 * a**3 - 5 * a**2 + 2) / 2,
               (-3 * a**3 + 4 * a**2 + a) / 2, (a**3 - a**2) / 2)  # taps -1, 0, 1, 2
    x = torch.arange(size, device=d.device, dtype=d.dtype)
    lag = x[None, None, :] - x[None, :, None] - o[:, None, None]  # i - x - o
    return sum(w * (lag == t) for w, t in zip(weights, (-1, 0, 1, 2)))


def translate(kernels: torch.Tensor, dy: Array, dx: Array) -> torch.Tensor:
    """Kernels (..., K, K) moved by (dy, dx) px (broadcast over the leading dims), clipped at 0
    and renormalised. Differentiable in the shift.

    Catmull-Rom cubic interpolation, separable: it moves a kernel's centroid by exactly the shift
    and keeps its second moment (it reproduces polynomials up to the second degree); only
    clipping its small negative lobes, which reach one pixel, changes either, a little.
    Why not the Fourier phase (:func:`shift`): a kernel narrower than about a pixel and a half is
    not band-limited, and a sub-pixel phase shift rings along the axes to the window's edges;
    clipped at zero, the ringing leaves a cross of dots far from the kernel, which widens it and
    which a deconvolution takes for blur. (Bilinear cannot ring either, but widens a kernel by
    f (1 - f) px^2 per axis for a shift by a fraction f of a pixel.)
    """
    lead, (ky, kx) = kernels.shape[:-2], kernels.shape[-2:]
    dy = _t(dy, kernels.dtype).to(kernels.device).expand(lead).reshape(-1)
    dx = _t(dx, kernels.dtype).to(kernels.device).expand(lead).reshape(-1)
    flat = kernels.reshape(-1, ky, kx)
    out = _shift_matrix(dy, ky) @ flat @ _shift_matrix(dx, kx).transpose(-1, -2)
    return normalise(out.reshape(kernels.shape))


def magnify(kernels: torch.Tensor, log_scale: torch.Tensor, about: torch.Tensor | None = None) -> torch.Tensor:
    """Every kernel (..., K, K) stretched about the window centre by ``exp(log_scale)`` (one
    number per kernel, broadcast over the leading dims), clipped at 0 and renormalised.
    ``about`` (..., 2): stretch about these (dy, dx) px from the centre instead (e.g. each
    kernel's centroid, which then stays where it is).

    Why: in step 2 a node's width is otherwise carried by its K*K logits, and a change of width
    has to move mass across many of them, each seeing few patches. Wide open, that leaves the
    growth of blur from the middle to the corners too small (the middle too wide, the corners too
    narrow). One scale per node moves the width directly and both ways.
    Bicubic resampling, so that a scale of 1 is exactly the identity; differentiable.
    """
    size = kernels.shape[-2:]
    flat = kernels.reshape(-1, 1, *size)
    inv = torch.exp(-log_scale).to(kernels.dtype).expand(kernels.shape[:-2]).reshape(-1)
    theta = torch.zeros(inv.shape[0], 2, 3, dtype=kernels.dtype, device=kernels.device)
    theta[:, 0, 0] = inv
    theta[:, 1, 1] = inv
    if about is not None:  # x_in = c + (x_out - c) / scale, in grid_sample's [-1, 1] units
        c = (_t(about, kernels.dtype).to(kernels.device).expand(*kernels.shape[:-2], 2).reshape(-1, 2)
             * (2 / (size[-1] - 1)))
        theta[:, 0, 2] = c[:, 1] * (1 - inv)
        theta[:, 1, 2] = c[:, 0] * (1 - inv)
    where = torch.nn.functional.affine_grid(theta, list(flat.shape), align_corners=True)
    out = torch.nn.functional.grid_sample(flat, where, mode="bicubic", padding_mode="zeros", align_corners=True)
    return normalise(out.reshape(kernels.shape))


def centre(grid: Array) -> torch.Tensor:
    """Shift each node so its channel-pooled centroid is at the kernel centre.

    Keeps the R/B offsets against G (lateral colour): only the common shift, which patch
    statistics cannot see, is removed.
    """
    k = _t(grid)
    pooled = centroid(k.sum(dim=-3))  # (..., 2)
    return shift(k, -pooled[..., 0, None], -pooled[..., 1, None])


def ncc(a: Array, b: Array) -> torch.Tensor:
    """Normalised cross-correlation of each node's RGB kernel (flattened over channel, ky, kx)."""
    a, b = _t(a), _t(b)
    a = a.flatten(-3) - a.flatten(-3).mean(-1, keepdim=True)
    b = b.flatten(-3) - b.flatten(-3).mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-12)


def relative_l2(estimate: Array, truth: Array) -> float:
    """||estimate - truth|| / ||truth|| over the whole grid."""
    e, t = _t(estimate), _t(truth)
    return float((e - t).norm() / t.norm().clamp_min(1e-12))


def gaussian(sigma: float | Array, size: int, dy: Array = 0.0, dx: Array = 0.0,
             sigma_x: float | Array | None = None, theta: float | Array = 0.0) -> torch.Tensor:
    """Normalised (possibly anisotropic, rotated, shifted) Gaussian kernels of odd ``size``."""
    s_y = _t(sigma)
    s_x = s_y if sigma_x is None else _t(sigma_x)
    dy, dx, th = _t(dy), _t(dx), _t(theta)
    s_y, s_x, dy, dx, th = torch.broadcast_tensors(s_y, s_x, dy, dx, th)
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y = r[:, None] - dy[..., None, None]
    x = r[None, :] - dx[..., None, None]
    c, s = torch.cos(th)[..., None, None], torch.sin(th)[..., None, None]
    u = c * y + s * x
    v = -s * y + c * x
    k = torch.exp(-0.5 * ((u / s_y[..., None, None]) ** 2 + (v / s_x[..., None, None]) ** 2))
    return k / k.sum(dim=(-2, -1), keepdim=True)


def best_gaussian(truth: Array, sigmas: np.ndarray | None = None) -> tuple[float, torch.Tensor]:
    """The single centred isotropic Gaussian (one sigma for every node and channel) closest in L2.

    This is the "one global sharpening" baseline a learned grid has to beat clearly.
    """
    t = _t(truth)
    size = t.shape[-1]
    sigmas = np.linspace(0.2, size / 2, 400) if sigmas is None else sigmas
    best = (math.inf, 0.0)
    for s in sigmas:
        err = relative_l2(gaussian(float(s), size).expand_as(t), t)
        best = min(best, (err, float(s)))
    return best[1], gaussian(best[1], size).expand_as(t).clone()


def fwhm(kernels: Array) -> torch.Tensor:
    """Full width at half maximum (px) of each kernel, from its second moment (Gaussian equivalent)."""
    return 2.3548 * torch.sqrt(second_moment(kernels) / 2)


def grid_report(estimate: Array, truth: Array) -> dict:
    """Every figure by which a learned grid is judged against the truth."""
    est, tru = centre(_t(estimate)), centre(_t(truth))
    n = ncc(est, tru)
    sigma_g, gauss = best_gaussian(tru)
    lc_err = (lateral_colour(_t(estimate)) - lateral_colour(_t(truth))).norm(dim=-1)
    return {
        "ncc_mean": float(n.mean()),
        "ncc_worst": float(n.min()),
        "l2": relative_l2(est, tru),
        "l2_gaussian": relative_l2(gauss, tru),
        "gaussian_sigma": sigma_g,
        "lateral_colour_error_mean": float(lc_err.mean()),
        "lateral_colour_error_max": float(lc_err.max()),
    }
