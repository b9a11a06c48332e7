"""Test data for correction: real textures blurred by the simulated lens's true PSF grid."""

from __future__ import annotations

import numpy as np
import pytest

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

KODAK = SHARED / "photos" / "kodak24"
SIZE = (256, 384)


def dead_leaves(size: tuple[int, int] = SIZE, seed: int = 0, n: int = 600) -> np.ndarray:
    """A dead-leaves texture (occluding discs with power-law radii): edges at every scale and
    orientation, the standard synthetic stand-in for natural images in deblurring tests."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), 0.3, np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    radii = 3.0 / np.sqrt(rng.random(n) * (1 - (3 / 60) ** 2) + (3 / 60) ** 2)  # p(r) ~ r^-3, 3..60 px
    for r in radii:
        cy, cx = rng.random() * h, rng.random() * w
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = rng.random(3) * 0.75 + 0.03
    fine = rng.normal(0, 0.02, (h, w, 1)).astype(np.float32)  # a little fine texture
    return np.clip(img * (1 + fine), 0, 1).astype(np.float32)


def kodak_crop(name: str = "kodim05.png", size: tuple[int, int] = SIZE) -> np.ndarray:
    from lenscal.io.images import read_image

    if not (KODAK / name).is_file():
        pytest.skip(f"{KODAK / name} is not present (../shared missing in a fresh clone)")
    pixels, _ = read_image(KODAK / name)
    h, w = size
    y0, x0 = (pixels.shape[0] - h) // 2, (pixels.shape[1] - w) // 2
    return np.ascontiguousarray(pixels[y0:y0 + h, x0:x0 + w] * 0.85)


FULL_WELL = 6000.0  # electrons at white, the simulated sensor's (lenscal.simulate.Sensor)
READ_NOISE = 3.0  # electrons


def observe(scene: np.ndarray, grid: np.ndarray, seed: int = 1, noise: bool = True) -> tuple[np.ndarray, float]:
    """Blur with the forward model, add the sensor's Poisson-Gaussian noise, clip at white.

    Returns the photo and its RMS noise (what a profile's ``noise_sigma`` holds): about 0.7 %
    at mid-grey, signal dependent as on a real sensor.
    """
    from lenscal.optics.blur import blur_image

    clean = blur_image(scene, grid)
    if not noise:
        return np.clip(clean, 0, 1), 0.0
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(np.clip(clean, 0, None).astype(np.float64) * FULL_WELL)
    noisy = (electrons + rng.normal(0, READ_NOISE, clean.shape)) / FULL_WELL
    sigma = float(np.sqrt(np.mean((noisy - clean) ** 2)))
    return np.clip(noisy, 0, 1).astype(np.float32), sigma


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    a, b = np.clip(a, 0, 1), np.clip(b, 0, 1)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def lens_grid(kind: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    """The simulated lens's true PSF grid: ``stopped`` (f/16 diffraction) or ``wide`` (f/1.7)."""
    from lenscal.simulate import lens_psf_grid

    return lens_psf_grid(kind, *size)
