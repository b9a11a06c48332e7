"""Kernels between two calibrated lens states (apertures, focal lengths): the optics of a blend.

Mixing two PSFs pixel by pixel does not give the PSF in between: the mix of a narrow and a wide
kernel is a narrow peak on a wide pedestal, and the mix of two kernels whose centroids differ
(lateral colour, coma) is a double image. A blur's position and width change smoothly with the
aperture, so they are interpolated themselves, and the shapes are mixed once they agree:

1. for every node and channel, each kernel's centroid c (the shift it causes: lateral colour) and
   its width s = sqrt(second moment);
2. the target centroid is ``(1 - t) c_a + t c_b`` and the target width ``s_a^(1-t) s_b^t``;
3. each kernel is moved so that its centroid lands on the target one and stretched about it
   halfway (in log width) towards the target width (one bicubic resampling, no Fourier shift, so
   no ringing);
4. the two aligned kernels are mixed ``(1 - t) a + t b`` and renormalised.

Why these rules. The width is interpolated geometrically with ``t`` in log f-number because
diffraction's width is proportional to N and an aberration's (defocus, spherical, coma) falls as
a power of 1/N: every pure term is a straight line in (log N, log width). Stretching each kernel
all the way to that width assumes the blur only changes scale between the two apertures, which
holds where one term dominates; mixing unstretched kernels assumes it only changes the share of
a core and a halo, which is what an aberration halo fading as the lens stops down does. Real
lenses do both, and halfway lies between: the full stretch makes the middle kernels too narrow
and the plain mix too wide, and stretching halfway keeps the widths closest (docs/benchmarks.md,
"Profile sets", compares the rules). Focal length (zooms) gets the same rule with ``t`` in log
focal length, a ratio scale like the f-number.

Pure functions on numpy/torch arrays; the profile set (lenscal.profileset) decides what to mix.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lenscal.optics.psf import centroid, normalise, second_moment

# the narrowest width (px) a kernel is taken to have: a kernel that is one pixel holds no
# measurable width, and stretching it from zero would be a division by zero
MIN_WIDTH = 0.2


def log_weight(a: float, b: float, x: float) -> float:
    """Where ``x`` lies between ``a`` (0) and ``b`` (1) on a log scale (f-numbers, focal lengths)."""
    if a <= 0 or b <= 0 or x <= 0:
        raise ValueError("log_weight needs positive values")
    if math.isclose(a, b):
        return 0.0
    return math.log(x / a) / math.log(b / a)


def warp(kernels: torch.Tensor, scale: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Kernels (..., K, K) stretched by ``scale`` (...) about ``src`` (..., 2) and moved so that
    ``src`` lands on ``dst`` (both (dy, dx) px from the window centre): out(x) = in(src + (x - dst)
    / scale). Bicubic; clipped at 0 and renormalised (mass pushed out of the window is lost)."""
    size = kernels.shape[-2:]
    lead = kernels.shape[:-2]
    flat = kernels.reshape(-1, 1, *size)
    inv = (1.0 / scale).to(kernels.dtype).expand(lead).reshape(-1)
    s = src.to(kernels.dtype).expand(*lead, 2).reshape(-1, 2)
    d = dst.to(kernels.dtype).expand(*lead, 2).reshape(-1, 2)
    unit_y, unit_x = 2 / (size[0] - 1), 2 / (size[1] - 1)  # grid_sample's [-1, 1] per pixel
    theta = torch.zeros(inv.shape[0], 2, 3, dtype=kernels.dtype)
    theta[:, 0, 0] = inv
    theta[:, 1, 1] = inv
    theta[:, 0, 2] = (s[:, 1] - d[:, 1] * inv) * unit_x
    theta[:, 1, 2] = (s[:, 0] - d[:, 0] * inv) * unit_y
    where = torch.nn.functional.affine_grid(theta, list(flat.shape), align_corners=True)
    out = torch.nn.functional.grid_sample(flat, where, mode="bicubic", padding_mode="zeros", align_corners=True)
    return normalise(out.reshape(kernels.shape))


STRETCH = 0.5  # how far (in log width) each kernel is stretched towards the interpolated width


def mix_kernels(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, t: float,
                stretch: float = STRETCH) -> np.ndarray:
    """The kernels a fraction ``t`` of the way from ``a`` to ``b`` (same shape, (..., K, K), each
    kernel normalised): centroids mixed linearly, each kernel stretched towards the geometric
    interpolation of the widths, shapes mixed once aligned (module docstring). t = 0 gives ``a``
    and t = 1 ``b`` exactly. ``stretch``: how far each kernel is stretched, in log width (1: all
    the way; 0: only the centroids aligned)."""
    if t <= 0:
        return np.asarray(a, dtype=np.float32).copy()
    if t >= 1:
        return np.asarray(b, dtype=np.float32).copy()
    ka = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    kb = torch.as_tensor(np.asarray(b), dtype=torch.float64)
    if ka.shape != kb.shape:
        raise ValueError(f"kernels of different shapes: {tuple(ka.shape)} and {tuple(kb.shape)}")
    ca, cb = centroid(ka), centroid(kb)
    wa = second_moment(ka).sqrt().clamp_min(MIN_WIDTH)
    wb = second_moment(kb).sqrt().clamp_min(MIN_WIDTH)
    c = (1 - t) * ca + t * cb
    w = wa ** (1 - t) * wb ** t
    aligned_a = warp(ka, (w / wa) ** stretch, ca, c)
    aligned_b = warp(kb, (w / wb) ** stretch, cb, c)
    return normalise((1 - t) * aligned_a + t * aligned_b).numpy().astype(np.float32)


def mix_pixels(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Plain pixel mixing ``(1 - t) a + t b``, the simple alternative to :func:`mix_kernels`."""
    return ((1 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)).astype(np.float32)
