"""lenscal.noise: the noise level a photo is corrected (and a profile learned) with."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from lenscal.noise import estimate_noise


def _blurred_texture(shape=(384, 512), block: int = 6, blur: float = 1.5) -> np.ndarray:
    """Piecewise-constant random patches (hard edges at every scale down to ``block`` px),
    blurred like a lens would: detail that a poor estimator reads as noise."""
    rng = np.random.default_rng(3)
    cells = rng.uniform(0.05, 0.95, (shape[0] // block, shape[1] // block, 3))
    sharp = np.kron(cells, np.ones((block, block, 1)))
    return np.stack([gaussian_filter(sharp[..., c], blur) for c in range(3)], -1).astype(np.float32)


def test_noise_estimate_measures_noise_not_texture():
    rng = np.random.default_rng(0)
    flat = (0.4 + rng.normal(0, 0.01, (300, 400, 3))).astype(np.float32)
    assert abs(estimate_noise(flat) - 0.01) < 0.001
    tall = (0.4 + rng.normal(0, 0.02, (3000, 200, 3))).astype(np.float32)  # row-subsampled path
    assert abs(estimate_noise(tall) - 0.02) < 0.002
    clean = _blurred_texture()
    assert estimate_noise(clean) < 0.002  # blurred texture is not mistaken for noise
    noisy = clean + rng.normal(0, 0.01, clean.shape).astype(np.float32)
    assert abs(estimate_noise(noisy) - 0.01) < 0.0015  # and noise on texture is still measured
