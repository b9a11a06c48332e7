"""Classical baselines the benchmarks measure lenscal against, and the bench's own image maths.

- :func:`varying_blur`: the spatially varying blur of a PSF grid on any crop of a frame (each
  pixel's kernel is the bilinear mix of its four nodes', exactly as ``lenscal.optics.blur``).
- :func:`richardson_lucy`: textbook Richardson-Lucy with that blur and its flipped kernels.
- :func:`relative_grid`: the kernels that blur the sharp lens's centre into the blurry lens at
  each node (what a profile learned from a sharp and a blurry set should hold).
- :func:`stretch`: a grid made wider or narrower, each channel about its own centroid.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lenscal.optics.psf import centroid, magnify, normalise
from lenscal.workflow import psnr  # noqa: F401 (the bench scores with the package's PSNR)


def _weights(n: int, start: int, total: int, nodes: int) -> np.ndarray:
    """Bilinear (tent) weights (nodes, n) of pixels start..start+n-1 of a frame axis of ``total``."""
    coord = (start + np.arange(n)) / max(total - 1, 1) * (nodes - 1)
    return np.clip(1 - np.abs(coord[None, :] - np.arange(nodes)[:, None]), 0, 1).astype(np.float32)


def varying_blur(x: np.ndarray, grid: np.ndarray, frame: tuple[int, int], offset: tuple[int, int] = (0, 0),
                 flip: bool = False) -> np.ndarray:
    """Blur (h, w, 3) ``x``, a crop at ``offset`` of a ``frame`` (H, W), with the grid
    (rows, cols, 3, K, K): out(p) = sum_n w_n(p) (k_n * x)(p), reflected borders. ``flip`` uses
    every kernel mirrored (the adjoint's kernels, as Richardson-Lucy needs)."""
    h, w = x.shape[:2]
    rows, cols, _, k, _ = grid.shape
    pad = k // 2
    wy, wx = _weights(h, offset[0], frame[0], rows), _weights(w, offset[1], frame[1], cols)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    xp = F.pad(xt, (pad, pad, pad, pad), mode="reflect")
    kern = torch.from_numpy(np.asarray(grid, np.float32))
    if not flip:  # conv2d correlates: a true convolution needs the flipped kernel
        kern = kern.flip(-2, -1)
    out = torch.zeros(3, h, w)
    for r in range(rows):
        ry = np.flatnonzero(wy[r])
        if not len(ry):
            continue
        y0, y1 = ry[0], ry[-1] + 1
        for c in range(cols):
            cx = np.flatnonzero(wx[c])
            if not len(cx):
                continue
            x0, x1 = cx[0], cx[-1] + 1
            window = xp[:, :, y0:y1 + 2 * pad, x0:x1 + 2 * pad]
            blurred = F.conv2d(window, kern[r, c][:, None], groups=3)[0]
            weight = torch.from_numpy(np.outer(wy[r, y0:y1], wx[c, x0:x1]))
            out[:, y0:y1, x0:x1] += blurred * weight
    return out.permute(1, 2, 0).numpy()


def richardson_lucy(y: np.ndarray, grid: np.ndarray, frame: tuple[int, int], offset: tuple[int, int] = (0, 0),
                    checkpoints: tuple[int, ...] = (5, 10, 20, 40)) -> dict[int, np.ndarray]:
    """Richardson-Lucy with a spatially varying grid; the estimate after each checkpoint count."""
    y = np.clip(y, 1e-5, None).astype(np.float32)
    x = y.copy()
    out = {}
    for it in range(1, max(checkpoints) + 1):
        x *= varying_blur(y / np.maximum(varying_blur(x, grid, frame, offset), 1e-5), grid, frame, offset, flip=True)
        if it in checkpoints:
            out[it] = x.copy()
    return out


def relative_grid(sharp_centre: np.ndarray, blurry: np.ndarray, size: int = 13, steps: int = 400) -> np.ndarray:
    """Kernels (rows, cols, 3, size, size) k_n with sharp_centre * k_n ~ blurry_n, each >= 0 and
    summing to 1 (softmax logits, Adam on the squared error of the full convolution).

    ``sharp_centre`` (3, S, S) and ``blurry`` (rows, cols, 3, B, B), odd sizes, each centred on
    its window. What a profile can hold is the best size x size kernel: blur beyond it is lost.
    """
    s = torch.as_tensor(sharp_centre, dtype=torch.float64)
    b = torch.as_tensor(blurry, dtype=torch.float64)
    rows, cols, _, big, _ = b.shape
    n = s.shape[-1] + size - 1  # the full convolution's size
    if big >= n:
        lo = (big - n) // 2
        target = b[..., lo:lo + n, lo:lo + n]
    else:
        lo = (n - big) // 2
        target = F.pad(b, (lo, n - big - lo, lo, n - big - lo))
    target = target / target.sum((-2, -1), keepdim=True)
    start = target[..., (n - size) // 2:(n - size) // 2 + size, (n - size) // 2:(n - size) // 2 + size]
    logits = torch.log(normalise(start) + 1e-6).clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.05)
    weight = s.flip(-2, -1)[:, None]  # (3, 1, S, S): conv2d with a flipped kernel convolves
    pad = s.shape[-1] - 1
    for _ in range(steps):
        k = torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)
        flat = k.reshape(rows * cols, 3, size, size)
        full = F.conv2d(F.pad(flat, (pad, pad, pad, pad)), weight, groups=3).reshape(target.shape)
        loss = (full - target).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        k = torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)
    return k.numpy().astype(np.float32)


def stretch(grid: np.ndarray, factor: float) -> np.ndarray:
    """Every kernel scaled in width by ``factor`` about its own centroid (lateral colour kept)."""
    g = torch.as_tensor(grid, dtype=torch.float64)
    scale = torch.full(g.shape[:-2], float(np.log(factor)), dtype=torch.float64)
    return magnify(g, scale, about=centroid(g)).numpy().astype(np.float32)
