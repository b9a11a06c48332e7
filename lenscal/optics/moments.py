"""Each kernel summarised by its centroid and covariance: the Gaussian of the same moments.

Why: distribution matching of unpaired photos pins a kernel's low-order moments (where it moves
the image, how far and in which direction it spreads it) better than its fine shape, which can
come out as too sharp a core on too broad a pedestal where the two sets' scenes differ. The
Gaussian of the same centroid and covariance keeps the moments and drops the shape. That is
right where the true blur beyond the diffraction is small and smooth (stopped down), and wrong
where it has a sharp core in a wide halo (wide open): the learn decides which
(learn.presets.resolve_auto).

Where the aperture's diffraction is modelled (optics.diffraction), its Airy pattern is known
exactly and is not summarised: covariances add under convolution, so the lens's own part is the
Gaussian of the kernel's covariance less the Airy pattern's, convolved with the pattern again.
"""

from __future__ import annotations

import torch

from lenscal.optics.psf import Array, _t, centroid, covariance, normalise

# px^2: the least variance of a summarised lens part, before the pixel's own 1/12: a narrower one,
# drawn at OVERSAMPLE samples per pixel, would not move smoothly with its centre
MIN_VARIANCE = 0.1
MAX_CORRELATION = 0.95  # of a summary's two axes: keeps every covariance positive definite
CENTRING_STEPS = 4  # corrections of where a summary is drawn, so its centroid is the kernel's
OVERSAMPLE = 5  # samples per pixel side where a Gaussian is drawn


def gaussian_of(cov: torch.Tensor, size: int, centre: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel-integrated Gaussians (..., size, size) of covariance ``cov`` (..., 2, 2), centred on
    the window or at ``centre`` (..., 2) (dy, dx), each summing to 1. Integrated over each pixel
    (OVERSAMPLE^2 samples), so that a narrow one moves smoothly with its centre."""
    n = OVERSAMPLE
    r = (torch.arange(size * n, dtype=cov.dtype, device=cov.device) - (size * n - 1) / 2) / n
    c = torch.zeros(*cov.shape[:-2], 2, dtype=cov.dtype, device=cov.device) if centre is None else centre
    y = r[:, None] - c[..., 0, None, None]
    x = r[None, :] - c[..., 1, None, None]
    inv = torch.linalg.inv(cov)[..., None, None, :, :]
    q = inv[..., 0, 0] * y * y + inv[..., 1, 1] * x * x + 2 * inv[..., 0, 1] * x * y
    g = torch.exp(-0.5 * q)
    g = g.reshape(*g.shape[:-2], size, n, size, n).sum((-3, -1))
    return g / g.sum((-2, -1), keepdim=True)


def _valid(cov: torch.Tensor) -> torch.Tensor:
    """``cov`` with each variance at least MIN_VARIANCE and the correlation at most MAX_CORRELATION."""
    yy, xx = cov[..., 0, 0].clamp_min(MIN_VARIANCE), cov[..., 1, 1].clamp_min(MIN_VARIANCE)
    bound = MAX_CORRELATION * (yy * xx).sqrt()
    xy = torch.maximum(torch.minimum(cov[..., 0, 1], bound), -bound)
    return torch.stack([torch.stack([yy, xy], -1), torch.stack([xy, xx], -1)], -2)


def gaussian_summary(grid: Array, diffraction: Array | None = None) -> torch.Tensor:
    """The grid (..., 3, K, K) with every kernel replaced by the Gaussian of its centroid and
    covariance; with ``diffraction`` (3, k, k), the Airy pattern of each channel, by its lens part's
    Gaussian convolved with that pattern (the module's docstring says why). Centroids, so the
    lateral colour, are kept; every kernel is non-negative and sums to 1."""
    g = _t(grid)
    size = g.shape[-1]
    c, cov = covariance(g)
    airy = None if diffraction is None else _t(diffraction).to(g.dtype)

    def draw(at: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
        out = gaussian_of(spread, size, at)
        if airy is None:
            return out
        out = torch.conv2d(out.reshape(-1, 3, size, size), airy[:, None], padding=airy.shape[-1] // 2, groups=3)
        return normalise(out.reshape(spread.shape[:-2] + (size, size)))

    # covariances add under convolution: the Airy pattern's and the pixel's own (1/12 px^2 per axis)
    spread = _valid(cov - torch.eye(2, dtype=g.dtype, device=g.device) / 12
                    - (0 if airy is None else covariance(airy)[1]))
    # drawn where the window's edge, which cuts wide kernels, leaves their centroids where the
    # learned kernels' are (the lateral colour); each kernel keeps the best place tried
    edge = (size - 1) / 2 - 1
    at = c.clone()
    best = draw(at, spread)
    offset = c - centroid(best)
    best_error = offset.norm(dim=-1)[..., None, None]
    for _ in range(CENTRING_STEPS):
        at = (at + offset).clamp(-edge, edge)
        out = draw(at, spread)
        offset = c - centroid(out)
        error = offset.norm(dim=-1)[..., None, None]
        best = torch.where(error < best_error, out, best)
        best_error = torch.minimum(error, best_error)
    return normalise(best)
