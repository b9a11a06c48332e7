from __future__ import annotations

import numpy as np
import torch
from scipy.signal import fftconvolve

from lenscal.optics.blur import blur_image, blur_patches
from lenscal.optics.psf import gaussian, interpolate


def test_blur_is_a_true_convolution_that_moves_content_by_the_centroid(rng):
    img = np.zeros((41, 41, 3), np.float32)
    img[20, 20] = 1.0
    k = gaussian(0.5, 13, dy=2.0, dx=-3.0).numpy()
    out = blur_image(img, np.broadcast_to(np.stack([k] * 3), (2, 2, 3, 13, 13)).copy())
    y, x = np.unravel_index(out[..., 1].argmax(), out.shape[:2])
    assert (y, x) == (22, 17)


def test_uniform_grid_equals_plain_convolution(rng):
    img = rng.random((50, 70, 3)).astype(np.float32)
    k = gaussian(1.3, 13, dy=0.5).numpy()
    out = blur_image(img, np.broadcast_to(np.stack([k] * 3), (3, 3, 3, 13, 13)).copy())
    ref = fftconvolve(np.pad(img[..., 2], 6, mode="reflect"), k, mode="valid")
    assert np.abs(out[..., 2] - ref).max() < 1e-5


def test_varying_grid_is_the_per_pixel_interpolated_kernel(rng):
    """blur_image at a pixel equals convolving with the grid interpolated at that pixel."""
    h, w = 60, 80
    img = rng.random((h, w, 3)).astype(np.float32)
    grid = np.stack([np.stack([np.stack([gaussian(s, 13).numpy()] * 3) for s in (0.7, 1.5, 2.2)])
                     for _ in range(2)]).astype(np.float32)  # (2, 3, 3, 13, 13)
    out = blur_image(img, grid)
    i, j = 33, 51
    k = interpolate(torch.tensor(grid, dtype=torch.float64), torch.tensor([[i / (h - 1), j / (w - 1)]]))[0]
    patch = img[i - 6:i + 7, j - 6:j + 7, 0]
    assert abs(out[i, j, 0] - float((patch * k[0].numpy()[::-1, ::-1]).sum())) < 1e-5


def test_blur_patches_matches_blur_image(rng):
    img = rng.random((48, 48, 3)).astype(np.float32)
    k = np.stack([gaussian(s, 13, dx=d).numpy() for s, d in ((1.0, 1.0), (1.4, 0.0), (0.8, -1.0))])
    full = blur_image(img, np.broadcast_to(k, (2, 2, 3, 13, 13)).copy())
    x = torch.tensor(img[5:5 + 32, 7:7 + 32]).permute(2, 0, 1)[None].double()
    out = blur_patches(x, torch.tensor(k)[None])
    assert out.shape == (1, 3, 20, 20)
    assert np.abs(out[0].permute(1, 2, 0).numpy() - full[11:31, 13:33]).max() < 1e-5
