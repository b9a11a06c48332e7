"""The noise of a linear photo, measured on the photo itself: per channel and per brightness.

A camera's noise is Poisson-Gaussian: its variance grows linearly with the signal (shot noise)
from a floor (read noise), and demosaicing correlates it between neighbouring pixels. So one
number measured at the finest scale cannot describe it: a high-pass filter reads correlated noise
several times too low, and a photo's bright and dark areas differ in noise by several times.

:func:`measure_noise` reads it from the flattest blocks of the photo. Each 8x8 block's variance
around its own best plane is noise plus whatever detail the block holds; in every band of
brightness the lowest decile of those variances comes from blocks with (almost) no detail, and
for pure noise that decile sits at a known fraction of the variance (the chi-square quantile).
The decile is read per channel in ten bands of brightness and a line, variance = floor + slope *
level, is fitted through them. Blocks are large against the demosaicing's correlation length, so
the variance they read is the per-pixel variance, correlated or not.

Measured on the photo, because noise belongs to its ISO and exposure, not to the lens.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import nnls
from scipy.stats import chi2

BLOCK = 8
QUANTILE = 0.1  # of the block variances in each band of brightness: the flattest blocks
BANDS = 10
MAX_BLOCKS = 120_000  # per channel; more rows of blocks are sampled evenly, not read
CLIPPED = 0.95  # blocks reaching this are near white: clipped highlights carry no noise
MIN_BLOCKS = 200  # fewer usable blocks per channel and the photo is not measured
QUANTISATION = 1 / 65535 / np.sqrt(12)  # the noise of a 16-bit file's rounding alone

IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class NoiseModel:
    """Per-channel noise of a linear photo: variance = floor + slope * level (1.0 = white)."""

    floor: tuple[float, float, float]
    slope: tuple[float, float, float]

    def variance(self, level: np.ndarray | float, channel: int) -> np.ndarray:
        """The noise variance of ``channel`` at signal ``level`` (any shape)."""
        return np.maximum(self.floor[channel] + self.slope[channel] * np.clip(level, 0, 1), 1e-12)

    def sigma(self, levels: np.ndarray) -> np.ndarray:
        """Noise std (..., 3) at per-channel signal ``levels`` (..., 3)."""
        return np.sqrt(np.stack([self.variance(levels[..., c], c) for c in range(3)], -1))

    def rms(self, image: np.ndarray) -> float:
        """The photo's RMS noise over all its pixels and channels (what a noisy-minus-clean
        difference would show)."""
        sample = image[::4, ::4].reshape(-1, 3)
        return float(np.sqrt(np.mean([self.variance(sample[:, c], c).mean() for c in range(3)])))


def _planes() -> np.ndarray:
    """The projector (B*B, B*B) onto planes a + b y + c x over a block."""
    yy, xx = np.mgrid[0:BLOCK, 0:BLOCK]
    a = np.stack([np.ones(BLOCK * BLOCK), yy.ravel() - (BLOCK - 1) / 2, xx.ravel() - (BLOCK - 1) / 2], 1)
    return a @ np.linalg.pinv(a)


_RESIDUAL = np.eye(BLOCK * BLOCK) - _planes()
_DOF = BLOCK * BLOCK - 3
# the QUANTILE of the variance of pure noise around its plane, as a fraction of the variance
_QUANTILE_FRACTION = float(chi2.ppf(QUANTILE, _DOF) / _DOF)


def _tiles(plane: np.ndarray, margin: int = 0) -> np.ndarray:
    """The BLOCK x BLOCK blocks of a 2-D plane as rows (blocks, pixels), rows of blocks subsampled
    evenly beyond MAX_BLOCKS; with ``margin``, each block's pixels that far inside it only."""
    h, w = plane.shape[0] // BLOCK, plane.shape[1] // BLOCK
    step = max(1, int(np.ceil(h * w / MAX_BLOCKS)))
    x = plane[:h * BLOCK, :w * BLOCK].reshape(h, BLOCK, w, BLOCK)[::step]
    x = x[:, margin:BLOCK - margin, :, margin:BLOCK - margin]
    return x.transpose(0, 2, 1, 3).reshape(x.shape[0] * w, -1)


def _blocks(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, variances around their best plane and maxima of the BLOCK x BLOCK blocks of a
    2-D plane (:func:`_tiles`)."""
    flat = _tiles(plane).astype(np.float64)
    residual = flat @ _RESIDUAL
    return flat.mean(1), np.einsum("ij,ij->i", residual, residual) / _DOF, flat.max(1)


def _bands(plane: np.ndarray, *also: np.ndarray):
    """The unclipped blocks of ``plane`` by band of brightness: per band with enough blocks, its
    blocks' means, variances and the per-block values of ``also`` (other arrays, one per block),
    or nothing when too few blocks are unclipped."""
    mean, var, top = _blocks(plane)
    keep = top < CLIPPED
    if keep.sum() < MIN_BLOCKS:
        return
    mean, var, also = mean[keep], var[keep], [a[keep] for a in also]
    edges = np.quantile(mean, np.linspace(0, 1, BANDS + 1))
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (mean >= lo) & (mean <= hi)
        if band.sum() >= MIN_BLOCKS // BANDS:
            yield mean[band], var[band], *(a[band] for a in also)


def _fit_line(level: np.ndarray, noise: np.ndarray, rounds: int = 3) -> tuple[float, float]:
    """floor + slope * level through the bands' readings, both non-negative (a line through a
    narrow range of levels extrapolates wildly otherwise). Detail only ever adds variance, so a
    band read far above the line (one whose flattest blocks still hold detail) is dropped."""
    keep = np.ones(len(level), bool)
    for _ in range(rounds):
        (floor, slope), _ = nnls(np.stack([np.ones(keep.sum()), level[keep]], 1), noise[keep])
        fit = floor + slope * level
        outliers = noise > 1.5 * fit
        if not (outliers & keep).any() or (keep & ~outliers).sum() < 2:
            break
        keep &= ~outliers
    return float(floor), float(slope)


def channel_noise(plane: np.ndarray) -> tuple[float, float] | None:
    """(floor, slope) of the noise variance of one 2-D plane of a linear photo, or None when too
    little of it can be read."""
    level, noise = [], []
    for mean, var in _bands(plane):
        level.append(np.median(mean))
        noise.append(np.quantile(var, QUANTILE) / _QUANTILE_FRACTION)
    return _fit_line(np.asarray(level), np.asarray(noise)) if level else None


def gradient_ratio(plane: np.ndarray, gradient_sq: np.ndarray) -> float | None:
    """How strongly one plane's noise answers a gradient filter: the RMS of ``gradient_sq`` (the
    filter's squared response over the plane, same shape) per unit of noise std, read in the
    flattest blocks of each band of brightness as :func:`channel_noise` reads the variance (None
    when too little can be read).

    Why measured: demosaicing moves noise from the finest frequencies to the middle ones, where a
    fine gradient filter answers most, so the same std reads as a stronger gradient than white
    noise would, by how much depending on the demosaicing.
    """
    ratios = []
    per_block = _tiles(gradient_sq, margin=2).mean(1)  # the filter's reach from the block's neighbours kept out
    for _, var, g in _bands(plane, per_block):
        flat = var <= np.quantile(var, QUANTILE)
        if var[flat].mean() > 0:
            ratios.append(np.sqrt(g[flat].mean() / var[flat].mean()))
    return float(np.median(ratios)) if ratios else None


def plane_noise(plane: np.ndarray) -> float:
    """The RMS noise of one 2-D plane of a linear photo (0 when it cannot be measured)."""
    line = channel_noise(plane)
    if line is None:
        return 0.0
    return float(np.sqrt(np.mean(np.maximum(line[0] + line[1] * np.clip(plane[::4, ::4], 0, 1), 0))))


def measure_noise(image: np.ndarray) -> NoiseModel | None:
    """The noise model of a linear (H, W, 3) photo, or None when too little of it can be read
    (tiny, clipped or black photos)."""
    lines = [channel_noise(image[..., c]) for c in range(3)]
    if any(line is None for line in lines):
        return None
    return NoiseModel(tuple(f for f, _ in lines), tuple(s for _, s in lines))


def highpass(plane: np.ndarray) -> np.ndarray:
    """Immerkaer's 3x3 high-pass response of one 2-D plane (same size; borders reflected): it
    cancels smooth signal up to second order and keeps white noise with gain 6."""
    return cv2.filter2D(np.asarray(plane, np.float32), -1, IMMERKAER, borderType=cv2.BORDER_REFLECT)


def robust_sigma(response: np.ndarray) -> float:
    """White-noise std from Immerkaer high-pass responses (any shape), robust to the edges among
    them (median absolute response)."""
    return float(1.4826 * np.median(np.abs(response)) / 6.0)


def fine_scale_sigma(image: np.ndarray, max_rows: int = 384) -> float:
    """The white-noise std that Immerkaer's high-pass reads (low for demosaiced, correlated noise;
    the solver's prior weight is scaled to it)."""
    h = image.shape[0]
    step = max(1, h // max_rows)
    x = np.concatenate([image[r:r + 3] for r in range(0, h - 2, 3 * step)], axis=0) if step > 1 else image
    lap = np.stack([highpass(x[..., c]) for c in range(3)], -1)
    centre = (slice(1, -1), slice(1, -1)) if step == 1 else (slice(1, None, 3), slice(1, -1))
    ok = (x[centre] < 0.98).all(axis=2)
    if ok.sum() < 100:
        return 0.0
    return float(np.median([robust_sigma(lap[centre][..., c][ok]) for c in range(3)]))


def estimate_noise(image: np.ndarray) -> float:
    """The RMS noise of a linear photo (0 when it cannot be measured: see :func:`measure_noise`;
    or when it reads below a 16-bit file's own quantisation, as only a synthetic image can)."""
    model = measure_noise(image)
    rms = 0.0 if model is None else model.rms(image)
    return rms if rms > QUANTISATION else 0.0
