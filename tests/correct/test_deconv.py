"""Deconvolution: it must sharpen with the true PSF grid, beat Wiener, and leave no seams,
border artefacts or highlight ringing.

Images are 256 x 384 (a crop of a Kodak photo, or a dead-leaves texture that needs no data), blurred
by the simulated lens's true grid through the forward model, with the simulated sensor's
Poisson-Gaussian noise (0.4-0.8 % RMS).
"""

from __future__ import annotations

import numpy as np
import pytest

from correct_data import SIZE, dead_leaves, kodak_crop, lens_grid, observe, psnr
from lenscal.correct.deconv import SolverOptions, cut_axis, deconvolve, reflect_index

SIGMA = 0.007
WIENER_NSR = (3e-3, 6e-3, 1e-2, 2e-2, 3e-2)  # Wiener is given its best NSR on the very test image
# These photos have white (not demosaiced) noise, for which the prior weight measured best is
# 20-30 (gains 4.7/5.0/4.1 dB at 20, 4.7/5.2/3.9 at 30); the default (300) is tuned for developed
# RAW files, whose demosaiced noise is correlated and measures at about half its raw level.
WHITE_NOISE = {"weight": 24.0}


def _gains(scene: np.ndarray, kind: str) -> tuple[float, dict[float, float]]:
    """PSNR gain of our solver, and of Wiener at each NSR, with the true grid."""
    grid = lens_grid(kind)
    y, sigma = observe(scene, grid)
    base = psnr(y, scene)
    ours = psnr(deconvolve(y, grid, sigma, **WHITE_NOISE), scene) - base
    wiener = {n: psnr(deconvolve(y, grid, sigma, method="wiener", wiener_nsr=n), scene) - base for n in WIENER_NSR}
    return ours, wiener


# Margins (measured: ours gains 3-5 dB, Wiener 2.3-4.5 dB): 2 dB is far above what a wrong kernel
# gives (see below). Wiener's NSR is tuned on the very test images with the true grid, an oracle
# no user has, and the sparse prior must still beat it: on the real-photo crop (little noise, the
# hardest case for a prior) by 0.25 dB on average (measured 0.35) and on each lens state; on the
# texture by 0.5 dB (measured 0.8-1.2).
def test_true_grid_sharpens_a_real_photo_and_beats_wiener():
    scene = kodak_crop()
    results = [_gains(scene, kind) for kind in ("stopped", "wide")]
    best = max(WIENER_NSR, key=lambda n: sum(w[n] for _, w in results))
    for ours, wiener in results:
        assert ours > 2.0, f"PSNR gain {ours:.2f} dB"
        assert ours > wiener[best], f"ours {ours:.2f} dB vs tuned Wiener {wiener[best]:.2f} dB"
    margin = np.mean([ours - wiener[best] for ours, wiener in results])
    assert margin > 0.25, f"lead over tuned Wiener {margin:.2f} dB"


def test_true_grid_sharpens_a_synthetic_texture_and_beats_wiener():
    ours, wiener = _gains(dead_leaves(), "wide")
    assert ours > 2.0, f"PSNR gain {ours:.2f} dB"
    assert ours > max(wiener.values()) + 0.5, f"ours {ours:.2f} dB vs best Wiener {max(wiener.values()):.2f} dB"


def test_wrong_grid_helps_less_than_the_true_one():
    scene = dead_leaves(seed=3)
    true, wrong = lens_grid("wide"), lens_grid("stopped")
    y, sigma = observe(scene, true)
    assert (psnr(deconvolve(y, true, sigma, **WHITE_NOISE), scene)
            > psnr(deconvolve(y, wrong, sigma, **WHITE_NOISE), scene) + 0.5)


def test_blend_weights_are_a_partition_of_unity():
    for size, tile in ((384, 64), (250, 64), (100, 256), (1000, 192)):
        ax = cut_axis(size, tile, overlap=32, margin=16)
        total = np.zeros(size)
        for start, w in zip(ax.starts, ax.weights):
            x = start + np.arange(ax.window)
            inside = (x >= 0) & (x < size)
            total[x[inside]] += w[inside]
        np.testing.assert_allclose(total, 1.0, atol=1e-6)
        # the blend stays clear of the discarded window edges (the FFT wrap-around lives there)
        assert (ax.weights[:, :16] == 0).all() or len(ax.starts) == 1 or ax.starts[0] < 0


def test_reflect_index_matches_numpy_reflect_padding():
    a = np.arange(7)
    idx = reflect_index(np.arange(-20, 27), 7)
    np.testing.assert_array_equal(a[idx], np.pad(a, 20, mode="reflect"))


@pytest.mark.parametrize("kind", ["stopped", "wide"])
def test_flat_image_stays_flat_across_tiles_and_borders(kind):
    grid = lens_grid(kind)
    flat = np.full((*SIZE, 3), 0.4, np.float32)
    out = deconvolve(flat, grid, SIGMA, tile=64)  # 24 tile seams in a 256 x 384 image
    assert np.abs(out - 0.4).max() < 2e-3


def test_smooth_gradient_stays_smooth_across_tiles_and_borders():
    grid = lens_grid("wide")
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    ramp = 0.1 + 0.6 * (0.6 * xx / SIZE[1] + 0.4 * yy / SIZE[0])
    scene = np.repeat(ramp[..., None], 3, axis=2) * np.array([1.0, 0.9, 0.8], np.float32)
    y, _ = observe(scene, grid, noise=False)
    out = deconvolve(y, grid, SIGMA, tile=64)
    err = out - scene
    assert np.abs(err[8:-8, 8:-8]).max() < 5e-3  # interior, tile seams included
    assert np.abs(err).max() < 2e-2  # the outermost pixels (reflected borders) included
    # no step at a seam: second differences along x are as small at the seams as anywhere
    d2 = np.abs(np.diff(out, 2, axis=1))[8:-8]
    seams = [64 * i - 1 for i in range(1, SIZE[1] // 64)]
    assert d2[:, seams].max() < 2e-3


def test_borders_are_sharpened_not_damaged():
    scene = dead_leaves(seed=5)
    grid = lens_grid("wide")
    y, _ = observe(scene, grid)
    out = deconvolve(y, grid, SIGMA)
    band = np.zeros(SIZE, bool)
    band[:12], band[-12:], band[:, :12], band[:, -12:] = True, True, True, True

    def mse(img, where):
        return float(np.mean((np.clip(img, 0, 1) - scene)[where] ** 2))

    # the 12-px frame edge gains, and as much as the rest of the frame does
    edge, inside = mse(out, band) / mse(y, band), mse(out, ~band) / mse(y, ~band)
    assert edge < 0.9 and edge < inside + 0.05, (edge, inside)


def _highlight_scene(bright: float):
    """Dead leaves with a lamp ``bright`` times white (clipped in the photo) at (128, 190)."""
    scene = dead_leaves(seed=11)
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]]
    d = np.hypot(yy - 128, xx - 190)
    scene[d < 40] = 0.25  # on a plain patch, so the ring measures ringing, not texture
    scene[d < 10] = bright
    return scene, d


@pytest.mark.parametrize("kind,bright", [("wide", 6.0), ("stopped", 50.0)])
def test_clipped_highlight_does_not_ring(kind, bright):
    grid = lens_grid(kind)
    scene, d = _highlight_scene(bright)
    y, sigma = observe(scene, grid)  # clipped at 1
    clipped = (y >= 0.99).any(axis=2)
    assert clipped.any() and d[clipped].max() < 15
    ring = (d > 10) & (d < 35)  # the clipped edge and 20 px beyond
    # envelope: no value outside [min, max] of the sharp and the blurry image, give or take noise
    lo = np.minimum(y, np.clip(scene, 0, 1)) - 0.05
    hi = np.maximum(y, np.clip(scene, 0, 1)) + 0.05
    out = deconvolve(y, grid, sigma, **WHITE_NOISE)
    dev = np.maximum(lo - out, out - hi)[ring]
    assert dev.max() < 0.0, f"ringing {dev.max() + 0.05:.3f} beyond the sharp/blurry envelope"
    # the guard is what keeps it away: without it the same solver rings (measured 0.3-0.5)
    raw = deconvolve(y, grid, sigma, saturation=2.0, **WHITE_NOISE)
    assert np.maximum(lo - raw, raw - hi)[ring].max() > 0.1
    far = d > 60
    assert psnr(out[far], scene[far]) > psnr(y[far], scene[far]) + 1  # elsewhere it still corrects


def test_strength_blends_and_zero_returns_the_input():
    grid = lens_grid("stopped")
    y, _ = observe(dead_leaves(seed=7), grid)
    np.testing.assert_array_equal(deconvolve(y, grid, SIGMA, strength=0.0), y)
    full = deconvolve(y, grid, SIGMA)
    half = deconvolve(y, grid, SIGMA, strength=0.5)
    both = (full > 0) & (half > 0)
    np.testing.assert_allclose(half[both], (0.5 * (y + full))[both], atol=1e-5)


def test_output_is_float32_non_negative_and_same_shape():
    grid = lens_grid("stopped", (100, 140))
    y, _ = observe(dead_leaves((100, 140), n=100), grid)
    out = deconvolve(y, grid, 0.0)  # a profile may claim zero noise: the floor keeps it stable
    assert out.shape == y.shape and out.dtype == np.float32
    assert out.min() >= 0 and np.isfinite(out).all()
    assert psnr(out, y) < 60  # it did something


def test_bad_arguments_are_refused():
    grid = lens_grid("stopped", (64, 64))
    img = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(TypeError, match="unknown solver option"):
        deconvolve(img, grid, 0.01, iterationz=3)
    with pytest.raises(ValueError):
        deconvolve(img[..., 0], grid, 0.01)
    with pytest.raises(ValueError):
        deconvolve(img, grid, 0.01, method="magic")
    assert SolverOptions().method == "hqs"


def test_fft_helpers_window_sizes_otf_and_reflected_windows():
    """Window sizes have only 2, 3, 5 as factors; the OTF is a true (not flipped, not shifted)
    circular convolution; a window off the image edge reads the mirror image."""
    import torch
    from scipy.ndimage import convolve

    from lenscal.correct.deconv import _window, fast_size, psf2otf

    for n in (2, 31, 97, 257, 289, 1000):
        m = fast_size(n)
        assert m >= n and m % 2 == 0 and m < 1.25 * n + 4
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1
    rng = np.random.default_rng(0)
    x = rng.random((24, 30)).astype(np.float32)
    k = rng.random((5, 5)).astype(np.float32)
    k[0, 4] = 3.0  # asymmetric: a flip or an off-by-one shift would show
    got = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(x)) * psf2otf(torch.from_numpy(k), x.shape), s=x.shape)
    np.testing.assert_allclose(got.numpy(), convolve(x, k, mode="wrap"), atol=1e-4)
    planes = torch.from_numpy(rng.random((3, 20, 16)).astype(np.float32))
    padded = np.pad(planes.numpy(), ((0, 0), (5, 5), (5, 5)), mode="reflect")
    for r0, c0 in ((-5, -5), (3, 2), (10, 7)):
        np.testing.assert_array_equal(_window(planes, r0, c0, 12, 14).numpy(),
                                      padded[:, r0 + 5:r0 + 17, c0 + 5:c0 + 19])
