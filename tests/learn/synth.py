"""Test-only synthetic scenes and lenses: no shared data needed for the learning tests."""

from __future__ import annotations

import numpy as np

from lenscal.optics.blur import blur_image
from lenscal.optics.psf import gaussian


def dead_leaves(height: int, width: int, rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Linear RGB 'dead leaves' texture: occluding rectangles and discs with power-law sizes.

    Its spectrum falls like natural images' (~1/f) and it has sharp edges at every scale and
    orientation, which is what the blur has to be read from.
    """
    img = np.full((height, width, 3), 0.2, np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    sizes = np.clip(3 * (1 - rng.random(n)) ** (-1 / 1.2), 2, max(height, width) / 3)
    for r in sorted(sizes, reverse=True):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        colour = (rng.random(3) ** 2 * 0.8 + 0.02).astype(np.float32)
        r = int(r)
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, height), max(cx - r, 0), min(cx + r + 1, width)
        if rng.random() < 0.5:
            img[y0:y1, x0:x1] = colour
        else:
            mask = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
            img[y0:y1, x0:x1][mask] = colour
    return img


def true_grid(rows: int, cols: int, size: int = 13) -> np.ndarray:
    """A spatially varying RGB grid: wider and astigmatic towards the corners, R out / B in."""
    grid = np.zeros((rows, cols, 3, size, size), np.float64)
    for r in range(rows):
        for c in range(cols):
            y = r / max(rows - 1, 1) - 0.5
            x = c / max(cols - 1, 1) - 0.5
            rho = np.hypot(y, x) / np.hypot(0.5, 0.5)
            ang = np.arctan2(y, x)
            for ch in range(3):
                lc = 0.7 * rho * (1, 0, -1)[ch]
                s_rad = 1.0 + 0.8 * rho + 0.15 * abs(ch - 1)
                s_tan = 1.0 + 0.2 * rho + 0.15 * abs(ch - 1)
                grid[r, c, ch] = gaussian(s_rad, size, lc * np.sin(ang), lc * np.cos(ang), sigma_x=s_tan,
                                          theta=ang).numpy()
    return grid.astype(np.float32)


def shoot(n_sharp: int, n_blurry: int, height: int, width: int, grid: np.ndarray, sigma: float, seed: int,
          tint=(1.03, 1.0, 0.96)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Unpaired sets: sharp scenes as they are; other scenes blurred by ``grid`` with noise and a tint."""
    rng = np.random.default_rng(seed)
    sharp = [dead_leaves(height, width, rng) for _ in range(n_sharp)]
    blurry = []
    for _ in range(n_blurry):
        img = blur_image(dead_leaves(height, width, rng), grid) * np.asarray(tint, np.float32)
        blurry.append((img + rng.normal(0, sigma, img.shape)).astype(np.float32))
    return sharp, blurry


def varied_grid(rows: int, cols: int, size: int = 13) -> np.ndarray:
    """A lens whose blur changes a lot across the frame: sharp at the top, soft at the bottom,
    softer to the right, R/B a little wider than G, R pushed outwards left-right and B inwards.
    No single Gaussian fits it, which is what the learning test needs."""
    grid = np.zeros((rows, cols, 3, size, size), np.float64)
    for r in range(rows):
        for c in range(cols):
            y, x = r / max(rows - 1, 1), c / max(cols - 1, 1)
            for ch in range(3):
                width = 0.8 + 1.4 * y + 0.4 * x + 0.2 * abs(ch - 1)
                lc = 0.5 * (2 * x - 1) * (1, 0, -1)[ch]
                grid[r, c, ch] = gaussian(width, size, 0.0, lc, sigma_x=width * (1 + 0.3 * y)).numpy()
    return grid.astype(np.float32)
