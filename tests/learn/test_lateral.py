"""Lateral colour registered in blurry photos, against known shifts of R and B."""

from __future__ import annotations

import numpy as np
import torch

from lenscal.learn.lateral import measure_lateral, register_tiles
from lenscal.optics.blur import blur_image
from lenscal.optics.psf import gaussian, lateral_colour, node_positions, radial_coordinates

from .synth import dead_leaves


def _grid(shifts: np.ndarray, width: float = 1.2) -> np.ndarray:
    """(rows, cols, 3, 13, 13) Gaussians, G centred, R and B moved by ``shifts`` (rows, cols, 2, 2)."""
    rows, cols = shifts.shape[:2]
    grid = np.zeros((rows, cols, 3, 13, 13), np.float32)
    grid[:, :, 1] = gaussian(width, 13).numpy()
    for i, ch in enumerate((0, 2)):
        grid[:, :, ch] = gaussian(width, 13, torch.as_tensor(shifts[..., i, 0]), torch.as_tensor(shifts[..., i, 1])).numpy()
    return grid


def _colours(image: np.ndarray, saturation: float = 0.5) -> np.ndarray:
    """Dead leaves' random colours made as saturated as a photo's: fully random colours often have
    no edge in R where G has a strong one (harder than photos, whose colours are correlated)."""
    grey = image.mean(-1, keepdims=True)
    return (grey + saturation * (image - grey)).astype(np.float32)


def test_a_uniform_shift_of_r_and_b_is_read_to_within_a_tenth_of_a_pixel(rng):
    shift = np.broadcast_to(np.array([[0.0, 0.45], [-0.3, 0.0]]), (2, 2, 2, 2))
    image = blur_image(_colours(dead_leaves(576, 864, rng)), _grid(shift))
    image = image + rng.normal(0, 0.003, image.shape).astype(np.float32)
    centres, shifts, weights = register_tiles(image)
    assert len(centres) >= 30 and (weights > 0).all()
    assert np.allclose(np.median(shifts, axis=0), shift[0, 0], atol=0.08), np.median(shifts, axis=0)


def test_radial_lateral_colour_is_recovered_across_the_frame(rng):
    """R outwards and B inwards, growing like a + b r^2 (the grid's own radial model)."""
    height, width, rows, cols = 480, 720, 8, 8
    q = radial_coordinates(node_positions(rows, cols).reshape(-1, 2) * [height - 1, width - 1], (height, width))
    q = q.reshape(rows, cols, 2)
    r2 = (q**2).sum(-1, keepdims=True)
    truth = np.array([[0.5, 0.3], [-0.4, -0.2]])
    shifts = np.stack([(truth[c, 0] + truth[c, 1] * r2) * q for c in range(2)], 2)
    grid = _grid(shifts)
    images = [blur_image(_colours(dead_leaves(height, width, rng)), grid) for _ in range(4)]
    images = [(img + rng.normal(0, 0.003, img.shape)).astype(np.float32) for img in images]
    coef, tiles = measure_lateral(images)
    assert tiles >= 30
    found = np.stack([(coef[c, 0] + coef[c, 1] * r2) * q for c in range(2)], 2)
    true_lc = lateral_colour(torch.as_tensor(grid).double()).numpy()
    error = np.linalg.norm(found - true_lc, axis=-1)
    # the corners move 0.8 (R) and 0.6 px (B); a frame-wide fit lands within a tenth on average.
    # The edges are compared smoothed (lateral.SMOOTH), which costs some precision on these clean
    # Gaussian kernels (the corners, read from fewest tiles, within 0.4 px) and buys the unbiased
    # reading of demosaiced, noisy photos of real lenses (the next test)
    assert error.mean() < 0.1 and error.max() < 0.4, (coef, error.mean(), error.max())
    assert np.linalg.norm(true_lc, axis=-1).mean() > 3 * error.mean()  # far better than assuming none


def test_lateral_colour_is_read_in_noisy_demosaiced_raw_photos(rng, tmp_path):
    """Real DNGs at a high ISO, developed by rawpy: demosaicing makes R and B from G's
    neighbours, so their noise is correlated with G's at zero offset, which once pulled the whole
    reading to no lateral colour at all."""
    from lenscal.develop import DevelopSettings, load_photo
    from lenscal.io.dng import mosaic_from_rgb, write_dng
    from lenscal.simulate import CAMERA, Sensor

    height, width, rows, cols = 480, 720, 8, 8
    q = radial_coordinates(node_positions(rows, cols).reshape(-1, 2) * [height - 1, width - 1], (height, width))
    q = q.reshape(rows, cols, 2)
    shifts = np.stack([1.2 * q, -0.8 * q], 2)  # R outwards, B inwards: 1.2 and 0.8 px at the corners
    grid = _grid(shifts)
    s = Sensor()
    electrons = 600.0  # at white: about ISO 1600
    meta = CAMERA.__class__(**{**CAMERA.to_dict(), "f_number": 16.0, "iso": 1600, "exposure_time": 0.01})
    images = []
    for i in range(3):
        scene = blur_image(_colours(dead_leaves(height, width, rng)), grid) * np.float32(0.8)
        mosaic = mosaic_from_rgb(scene * np.asarray(s.response, np.float32)).astype(np.float64)
        noisy = (rng.poisson(np.clip(mosaic, 0, None) * electrons) + rng.normal(0, s.read_noise, mosaic.shape)) / electrons
        dn = np.clip(np.round(s.black + noisy * (s.white - s.black)), 0, s.white).astype(np.uint16)
        write_dng(tmp_path / f"b{i}.dng", dn, meta, black=s.black, white=s.white, as_shot_neutral=s.response)
        images.append(load_photo(tmp_path / f"b{i}.dng", DevelopSettings(vignetting="off"))[0].pixels)
    coef, tiles = measure_lateral(images)
    assert tiles >= 30
    found = np.stack([(coef[c, 0] + coef[c, 1] * (q**2).sum(-1, keepdims=True)) * q for c in range(2)], 2)
    true_lc = lateral_colour(torch.as_tensor(grid).double()).numpy()
    error = np.linalg.norm(found - true_lc, axis=-1)
    assert error.mean() < 0.15, (coef, error.mean())
    assert np.linalg.norm(true_lc, axis=-1).mean() > 3 * error.mean()


def test_flat_or_clipped_photos_give_no_measurement():
    flat = np.full((384, 576, 3), 0.3, np.float32)
    clipped = np.ones((384, 576, 3), np.float32)
    coef, tiles = measure_lateral([flat, clipped])
    assert tiles == 0 and not coef.any()


def test_the_measured_lateral_colour_is_put_back_on_a_learned_grid():
    """After step 2, wide open: R and B moved to where a radial model puts them against G, G as
    it was, every kernel still non-negative and of unit sum."""
    from lenscal.learn.lateral import node_shifts, set_lateral

    rows, cols, frame = 4, 6, (400, 600)
    wrong = np.full((rows, cols, 2, 2), 0.3)  # R and B both off by (0.3, 0.3) everywhere
    learned = torch.as_tensor(_grid(wrong, width=1.4)).double()
    coef = np.array([[0.4, 0.3], [-0.3, -0.2]])
    out = set_lateral(learned, coef, frame)
    error = np.linalg.norm(lateral_colour(out).numpy() - node_shifts(coef, rows, cols, frame), axis=-1)
    assert error.max() < 0.03, error.max()
    assert np.linalg.norm(node_shifts(coef, rows, cols, frame), axis=-1).max() > 0.5  # a real move
    assert torch.equal(out[:, :, 1], learned[:, :, 1])
    assert (out >= 0).all() and torch.allclose(out.sum((-2, -1)), torch.ones(rows, cols, 3, dtype=out.dtype))
    # a lens sharper than a pixel (wide open, near the middle): R and B moved without a ring of
    # dots around them (as a Fourier shift leaves, which a deconvolution reads as blur)
    sharp = set_lateral(torch.as_tensor(_grid(wrong, width=0.4)).double(), coef, frame)
    y, x = np.mgrid[-6:7, -6:7]
    far = torch.as_tensor(np.hypot(y, x) > 4)
    assert (sharp * far).sum((-2, -1)).max() < 1e-3
