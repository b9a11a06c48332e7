"""What the two photo sets must satisfy before learning, and how they are levelled.

The kernels sum to one per channel, so they cannot absorb an exposure or white-balance difference
between the sets: a gain (blurry = gain x blur(sharp)) starts from the ratio of the set means
and is refined per channel in step 2. Everything else here turns a bad shoot into one clear sentence.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from lenscal.errors import ShootError
from lenscal.noise import highpass, robust_sigma


def validate(sharp: list[np.ndarray], blurry: list[np.ndarray], minimum_side: int) -> tuple[int, int]:
    """(height, width) shared by every photo, or a ShootError saying what is wrong."""
    for name, images in (("sharp", sharp), ("blurry", blurry)):
        if len(images) < 2:
            raise ShootError(f"the {name} set needs at least 2 photos, got {len(images)}")
        for i, img in enumerate(images):
            if img.ndim != 3 or img.shape[2] != 3:
                raise ShootError(f"{name} photo {i + 1} is not an RGB image (shape {img.shape})")
    shapes = {img.shape for img in sharp + blurry}
    if len(shapes) != 1:
        raise ShootError("all photos must have the same size and orientation, found "
                         + ", ".join(f"{s[1]}x{s[0]}" for s in sorted(shapes)))
    height, width = sharp[0].shape[:2]
    if min(height, width) < minimum_side:
        raise ShootError(f"photos of {width}x{height} px are too small to learn from",
                         hint=f"at least {minimum_side} px a side")
    return height, width


def channel_means(images: list[np.ndarray], stride: int = 4) -> np.ndarray:
    """Per-channel mean over a set (subsampled: a mean needs no more)."""
    return np.mean([img[::stride, ::stride].reshape(-1, 3).mean(0) for img in images], axis=0).astype(np.float64)


def _luma_crop(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    side = min(side, h, w)
    r0, c0 = (h - side) // 2, (w - side) // 2
    crop = img[r0:r0 + side, c0:c0 + side].astype(np.float64)
    return np.sqrt(np.clip(crop @ np.array([0.25, 0.5, 0.25]), 0, None))  # a tone curve: fair to shadows


def _band_noise_gains() -> tuple[float, float]:
    """Energy that unit white noise leaves in the two bands of :func:`fine_detail`."""
    impulse = np.zeros((33, 33))
    impulse[16, 16] = 1.0
    g1, g2 = gaussian_filter(impulse, 1.0), gaussian_filter(impulse, 2.0)
    return float(np.sum((impulse - g1) ** 2)), float(np.sum((g1 - g2) ** 2))


_NOISE_GAINS = _band_noise_gains()


def fine_detail(img: np.ndarray, side: int = 512) -> float:
    """Energy at the finest scale relative to the next scale, at the image centre, noise removed.

    A ratio of two bands of the same image, so it depends little on the scene (natural images
    share a ~1/f spectrum) but drops when the lens blurs: a sharpness score comparable across
    unpaired photos. Noise is white, so it lifts the fine band most and made noisy blurry sets
    (f/16 often needs a higher ISO) score as sharper than clean sharp ones; its expected energy
    in each band is subtracted.
    """
    y = _luma_crop(img, side)
    g1, g2 = gaussian_filter(y, 1.0), gaussian_filter(y, 2.0)
    # deep shadows are left out: there the tone curve magnifies noise far beyond its median level
    lit = g2 > np.sqrt(0.02)
    if lit.mean() < 0.1:
        lit = np.ones_like(lit)
    var = robust_sigma(highpass(y)[1:-1, 1:-1]) ** 2
    fine = max(float(np.mean((y - g1)[lit] ** 2)) - var * _NOISE_GAINS[0], 0.0)
    coarse = max(float(np.mean((g1 - g2)[lit] ** 2)) - var * _NOISE_GAINS[1], 1e-20)
    return fine / coarse


def check_sharper(sharp: list[np.ndarray], blurry: list[np.ndarray], margin: float = 1.05) -> tuple[float, float]:
    """The median fine-detail scores of both sets; refuse when the sharp set is not sharper."""
    s = float(np.median([fine_detail(i) for i in sharp]))
    b = float(np.median([fine_detail(i) for i in blurry]))
    if s < b * margin:
        raise ShootError(f"the sharp set is not sharper than the blurry set (fine-detail score {s:.3f} vs {b:.3f})",
                         hint="put the mid-aperture photos in the sharp folder and check their focus")
    return s, b
