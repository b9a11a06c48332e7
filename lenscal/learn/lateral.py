"""Lateral colour measured directly in the blurry photos: R and B registered to G, tile by tile.

Why: lateral colour is a shift of R and B against G, and a shift needs no sharp reference. In
any textured tile the colour channels share their edges, so the sub-pixel offset that best aligns
R's edges (or B's) with G's is the offset between their kernels' centroids. Distribution matching
alone learns it poorly (the corners' R-G shift comes out far too small):
its gradient on the four radial coefficients is weak and noisy, while thousands of registered tiles
(cross-correlation of edge maps, all tiles in one batch of FFTs) pin them down. The model is
GridModule.lateral_shifts' radial (a + b r^2) q, lensfun's TCA polynomial, fitted by robust weighted
least squares; step 2 starts from it, and it is put back after step 2 (:func:`set_lateral`)
unless ``lateral=learned``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from lenscal.optics.psf import lateral_colour, node_positions, radial_coordinates, radial_shifts, translate

TILE = 96  # px: large enough for a sub-pixel peak, small enough to resolve the radial growth
MIN_NCC = 0.25  # correlation of the channels' edge maps at the peak; below it a tile is not trusted
SEARCH = 4  # px: the largest shift looked for
SMOOTH = 2.0  # px, the Gaussian the channels are smoothed with before their edges are compared (_edges)
MIN_TILES = 24  # fewer than this and the four coefficients are left at 0 (no lateral colour)


def _edges(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude per channel (H, W, 3) at the scale of SMOOTH: edges line up across
    channels whatever their colours (an edge may be brighter in G and darker in R, which defeats
    correlating the channels themselves), and a shifted channel shifts its edge map by as much.

    Why smoothed: demosaicing makes R and B from G's neighbours, so the channels' noise and finest
    detail are correlated at zero offset, which pulls the peak towards no shift (at high ISO the
    whole reading collapses to zero); and at the finest scale the peak aligns the kernels' sharp
    cores, while the lateral colour that matters is the shift of their centroids (of where each
    channel's light lands), which the smoothed edges follow.
    """
    image = cv2.GaussianBlur(np.ascontiguousarray(image, np.float32), (0, 0), SMOOTH)  # each channel
    gy, gx = np.gradient(image, axis=(0, 1))
    return np.hypot(gy, gx).astype(np.float32)


def _peak(surface: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peaks (n, 2) of correlation surfaces (n, S, S) centred at S // 2, and the peak
    values: a Gaussian (parabola on the log) through each axis's three samples."""
    n, size, _ = surface.shape
    flat = surface.reshape(n, -1).argmax(1)
    iy, ix = np.clip(flat // size, 1, size - 2), np.clip(flat % size, 1, size - 2)
    rows = np.arange(n)
    top = surface[rows, iy, ix]
    def offset(minus, plus):
        lm, l0, lp = (np.log(np.maximum(v, 1e-12)) for v in (minus, top, plus))
        den = lm - 2 * l0 + lp
        return np.where(den < 0, 0.5 * (lm - lp) / np.where(den < 0, den, -1), 0.0)
    dy = offset(surface[rows, iy - 1, ix], surface[rows, iy + 1, ix])
    dx = offset(surface[rows, iy, ix - 1], surface[rows, iy, ix + 1])
    return np.stack([iy + np.clip(dy, -0.5, 0.5), ix + np.clip(dx, -0.5, 0.5)], 1) - size // 2, top


def register_tiles(image: np.ndarray, tile: int = TILE, min_std: float = 0.004) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per textured tile of one linear (H, W, 3) photo: its centre (px, (y, x)), the (dy, dx)
    shift of R and of B against G (2, 2) and a weight (the weaker channel's peak correlation).

    The correlation of edge maps is computed for all tiles at once with FFTs. Tiles with
    clipped pixels, too little texture in G or a weak peak are left out.
    """
    height, width = image.shape[:2]
    ny, nx = height // tile, width // tile
    if ny == 0 or nx == 0:
        return np.zeros((0, 2)), np.zeros((0, 2, 2)), np.zeros(0)
    crop = image[:ny * tile, :nx * tile]
    def split(a):  # (ny * tile, nx * tile, 3) -> (ny * nx, 3, tile, tile), row by row
        return a.reshape(ny, tile, nx, tile, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, tile, tile)
    tiles, edges = split(crop), split(_edges(crop))
    keep = (tiles.max((1, 2, 3)) < 0.98) & (tiles[:, 1].std((1, 2)) >= min_std)
    if not keep.any():
        return np.zeros((0, 2)), np.zeros((0, 2, 2)), np.zeros(0)
    yy, xx = np.divmod(np.arange(ny * nx), nx)
    centres = np.stack([yy * tile + (tile - 1) / 2, xx * tile + (tile - 1) / 2], 1)[keep]
    e = edges[keep].astype(np.float64)
    e -= e.mean((2, 3), keepdims=True)
    window = np.hanning(tile)[:, None] * np.hanning(tile)[None, :]
    e *= window
    norm = np.sqrt((e**2).sum((2, 3)))  # (n, 3)
    f = np.fft.rfft2(e)
    shifts, quality = [], []
    for ch in (0, 2):
        corr = np.fft.irfft2(np.conj(f[:, 1]) * f[:, ch], s=(tile, tile))
        corr = np.fft.fftshift(corr, axes=(1, 2))
        mid = tile // 2
        window_corr = corr[:, mid - SEARCH - 1:mid + SEARCH + 2, mid - SEARCH - 1:mid + SEARCH + 2]
        d, top = _peak(window_corr)
        shifts.append(d)
        quality.append(top / np.maximum(norm[:, 1] * norm[:, ch], 1e-12))
    shifts = np.stack(shifts, 1)  # (n, 2 channels, 2)
    weight = np.minimum(*quality)
    good = (weight >= MIN_NCC) & (np.abs(shifts).max((1, 2)) < SEARCH)
    return centres[good], shifts[good], weight[good]


def fit_radial(q: np.ndarray, shifts: np.ndarray, weights: np.ndarray, rounds: int = 3) -> np.ndarray:
    """(2, 2) coefficients (R, B) x (a, b) of shift = (a + b |q|^2) q, weighted least squares
    with the worst residuals (beyond 3 robust sigmas: tiles where R and G edges differ, e.g.
    coloured objects) dropped each round."""
    r2 = (q**2).sum(1)
    design = np.concatenate([np.stack([q[:, 0], r2 * q[:, 0]], 1), np.stack([q[:, 1], r2 * q[:, 1]], 1)])
    coef = np.zeros((2, 2))
    for c in range(2):
        target = np.concatenate([shifts[:, c, 0], shifts[:, c, 1]])
        w = np.concatenate([weights, weights])
        keep = np.ones_like(w, bool)
        for _ in range(rounds):
            sw = np.sqrt(w * keep)
            coef[c] = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)[0]
            res = target - design @ coef[c]
            mad = np.median(np.abs(res[keep])) * 1.4826
            keep = np.abs(res) <= 3 * max(mad, 1e-3)
    return coef


def measure_lateral(images: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """The radial lateral-colour coefficients (2, 2) of a set of photos and how many tiles spoke."""
    frame = images[0].shape[:2]
    parts = [register_tiles(img) for img in images]
    centres = np.concatenate([p[0] for p in parts])
    if len(centres) < MIN_TILES:
        return np.zeros((2, 2)), len(centres)
    shifts = np.concatenate([p[1] for p in parts])
    weights = np.concatenate([p[2] for p in parts])
    return fit_radial(radial_coordinates(centres, frame), shifts, weights), len(centres)


def node_shifts(coef: np.ndarray, rows: int, cols: int, frame: tuple[int, int]) -> np.ndarray:
    """(rows, cols, 2, 2): the (dy, dx) of R and B against G at every node of a full-frame grid
    under the radial model ``coef`` (as match.GridModule.lateral_shifts)."""
    height, width = frame
    q = radial_coordinates(node_positions(rows, cols).reshape(-1, 2) * [height - 1, width - 1], frame)
    return radial_shifts(coef, q.reshape(rows, cols, 2)).numpy()


def set_lateral(grid: torch.Tensor, coef: np.ndarray, frame: tuple[int, int]) -> torch.Tensor:
    """The grid (rows, cols, 3, K, K) with R and B moved so that their centroids sit against G
    where the photos' measurement puts them.

    Why: step 2 refines the measured lateral colour with a weak, noisy gradient that leaves it
    worse than the measurement alone, wide open or stopped down, and varying from run to run;
    put back, the measurement gives the same lateral colour every run.
    """
    rows, cols = grid.shape[:2]
    move = torch.as_tensor(node_shifts(coef, rows, cols, frame)) - lateral_colour(grid)  # (rows, cols, 2, 2)
    rb = translate(grid[:, :, 0::2].double(), move[..., 0], move[..., 1])
    return torch.stack([rb[:, :, 0], grid[:, :, 1].double(), rb[:, :, 1]], dim=2).to(grid.dtype)
