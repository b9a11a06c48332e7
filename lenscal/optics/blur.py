"""The forward model, one definition for the simulator, learning and tests.

Blur is a true (flipped) per-channel convolution with the kernel of the position. For patches
the kernel is the grid interpolated at the patch centre and borders are "valid" (a crop of
P + K - 1 gives P); for whole images the kernel varies per pixel, computed exactly as the
bilinear mix of the node-blurred images (convolution is linear in the kernel).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import fftconvolve

from lenscal.optics.psf import node_positions


def blur_patches(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur patches (B, C, P+K-1, P+K-1) each with its own kernels (B, C, K, K) -> (B, C, P, P)."""
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    weight = kernels.flip(-2, -1).reshape(b * c, 1, k, k).to(x.dtype)
    out = F.conv2d(x.reshape(1, b * c, h, w), weight, groups=b * c)
    return out.reshape(b, c, h - k + 1, w - k + 1)


def node_weight_map(height: int, width: int, rows: int, cols: int, r: int, c: int,
                    r_slice: slice, c_slice: slice) -> np.ndarray:
    """Bilinear weight of node (r, c) over a window of the image (separable tent)."""
    def tent(n: int, nodes: int, i: int, sl: slice) -> np.ndarray:
        coords = np.arange(sl.start, sl.stop) / max(n - 1, 1) * (nodes - 1)
        return np.clip(1 - np.abs(coords - i), 0, 1) if nodes > 1 else np.ones(sl.stop - sl.start)

    return np.outer(tent(height, rows, r, r_slice), tent(width, cols, c, c_slice)).astype(np.float32)


def blur_image(image: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Blur a linear (H, W, 3) image with a PSF grid (R, C, 3, K, K), kernel varying per pixel.

    Borders are reflected. Each node only touches the image within one grid cell of it, so the
    work is about four image-sized FFT convolutions per channel whatever the grid size.
    """
    height, width = image.shape[:2]
    rows, cols, _, k, _ = grid.shape
    pad = k // 2
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.zeros_like(image, dtype=np.float32)
    for r in range(rows):
        r0 = int(np.floor((r - 1) / max(rows - 1, 1) * (height - 1))) if rows > 1 else 0
        r1 = int(np.ceil((r + 1) / max(rows - 1, 1) * (height - 1))) + 1 if rows > 1 else height
        rs = slice(max(r0, 0), min(r1, height))
        for c in range(cols):
            c0 = int(np.floor((c - 1) / max(cols - 1, 1) * (width - 1))) if cols > 1 else 0
            c1 = int(np.ceil((c + 1) / max(cols - 1, 1) * (width - 1))) + 1 if cols > 1 else width
            cs = slice(max(c0, 0), min(c1, width))
            weight = node_weight_map(height, width, rows, cols, r, c, rs, cs)
            if not weight.any():
                continue
            window = padded[rs.start:rs.stop + 2 * pad, cs.start:cs.stop + 2 * pad]
            for ch in range(3):
                blurred = fftconvolve(window[..., ch], grid[r, c, ch], mode="valid")
                out[rs, cs, ch] += weight * blurred.astype(np.float32)
    return out


__all__ = ["blur_patches", "blur_image", "node_positions"]
