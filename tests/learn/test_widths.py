"""Kernel widths read from the blurry photos' own edges (learn.widths), against known blur."""

from __future__ import annotations

import numpy as np
import torch

from lenscal.learn import widths
from lenscal.learn.patches import centre_crop
from lenscal.optics.blur import blur_image
from lenscal.optics.psf import gaussian, second_moment

from .synth import dead_leaves


def test_an_isolated_blurred_edge_reads_its_blur_width():
    """1/|grad|^2 at three scales is linear in s^2 for a blurred step, and meets s^2 = 0 at the
    blur's w^2 plus the pixel's own (a sampled step reads about 0.25 px^2, which cancels, as it is
    the same in both sets): three Gaussian blurs read back to within 10%."""
    def read(kernel: np.ndarray) -> float:
        step = np.zeros((48, 96, 3), np.float32)
        step[:, 48:] = 0.5
        image = np.ascontiguousarray(blur_image(step, np.broadcast_to(kernel, (1, 1, 3, 13, 13)))[..., 1])
        t = torch.from_numpy(image)[None, None]
        w2, mask = widths.edge_widths([widths._gradient(t, s) for s in widths.SCALES], 0.01)
        assert mask.sum() >= 20  # the edge is found all along
        return float(w2[mask].median())

    delta = np.zeros((13, 13), np.float32)
    delta[6, 6] = 1
    pixel = read(delta)
    assert 0.1 < pixel < 0.4, pixel
    for sigma in (0.8, 1.2, 1.8):
        assert abs((read(gaussian(sigma, 13).numpy()) - pixel) / sigma**2 - 1) < 0.1, sigma


def _gaussian_grid(sigmas: np.ndarray) -> np.ndarray:
    rows, cols = sigmas.shape
    grid = np.zeros((rows, cols, 3, 13, 13), np.float32)
    for r in range(rows):
        for c in range(cols):
            grid[r, c] = gaussian(float(sigmas[r, c]), 13).numpy()
    return grid


def test_a_compressed_width_pattern_is_stretched_back_towards_the_truth(rng):
    """Step 2 wide open gets the grid's mean width right but compresses how it grows towards the
    corners. Given a grid of the right mean width everywhere, the calibration must recover most
    of the true pattern (1 px in the middle, 1.9 px in the corners; 2.1 -> 7.2 px^2) from the blurry photos'
    edges, keep the mean, and keep the lateral colour where it is."""
    height, width, rows, cols = 720, 1080, 8, 8
    y, x = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, cols), indexing="ij")
    rho = np.hypot(y, x) / np.sqrt(2)
    truth = _gaussian_grid(1.0 + 0.9 * rho**2)
    flat = _gaussian_grid(np.full((rows, cols), float(np.sqrt(((1.0 + 0.9 * rho**2) ** 2).mean()))))
    flat[..., 0, :, :] = np.roll(flat[..., 0, :, :], 1, axis=-1)  # R one px right: lateral colour
    blurry = [blur_image(dead_leaves(height, width, rng), truth) for _ in range(3)]
    blurry = [(img + rng.normal(0, 0.003, img.shape)).astype(np.float32)[..., 1] for img in blurry]
    crops = torch.from_numpy(np.stack([centre_crop(dead_leaves(height, width, rng), 0.5, 64, 3072) for _ in range(3)]))
    gen = torch.Generator().manual_seed(0)
    out, info = widths.calibrate(torch.from_numpy(flat).double(), widths.read_edges(blurry, rows, cols, True, 0.003),
                                 widths.sharp_tiles(crops, gen, 16), 0.003, True, gen)
    assert info["nodes_measured"] == info["nodes"] == 16 and info["edges"] > 16 * widths.MIN_EDGES, info
    m_true = second_moment(torch.from_numpy(truth).double())[..., 1].numpy()
    m_before = second_moment(torch.from_numpy(flat).double())[..., 1].numpy()
    m_after = second_moment(out)[..., 1].numpy()
    before = np.abs(m_before - m_true).mean()
    after = np.abs(m_after - m_true).mean()
    assert after < 0.35 * before, (after, before)  # measured: 0.19x
    assert m_after[0, 0] > 1.5 * m_after[3, 3]  # the corners wider than the middle, as in truth
    assert abs(np.log(m_after).mean() - np.log(m_before).mean()) < 0.15  # the mean width kept
    assert np.allclose(out.sum((-2, -1)).numpy(), 1, atol=1e-6) and (out >= 0).all()
    dx = lambda k: float((k.sum(-2) * torch.arange(13, dtype=k.dtype)).sum())  # noqa: E731
    assert abs(dx(out[0, 0, 0]) - dx(out[0, 0, 1]) - 1.0) < 0.05  # R still one px right of G


def test_the_forward_check_passes_the_true_blur_refuses_one_too_wide_and_reads_scaled_photos(rng):
    """Applied to sharp crops, the true blur reproduces the blurry photos' edge widths at most
    places in each channel and a kernel twice as wide at few; photos given in their own units
    with ``scale`` read exactly as photos scaled beforehand (the learn passes them unscaled, so no
    scaled copy of every photo is held)."""
    height, width, rows, cols = 480, 720, 4, 4
    truth = _gaussian_grid(np.full((rows, cols), 1.3))
    wide = _gaussian_grid(np.full((rows, cols), 2.6))
    blurry = [(blur_image(dead_leaves(height, width, rng), truth) + rng.normal(0, 0.002, (height, width, 3)))
              .astype(np.float32)]
    crops = torch.from_numpy(centre_crop(dead_leaves(height, width, rng), 0.5, 64, 3072)[None])
    scale = 0.7

    def share(grid: np.ndarray, photos: list[np.ndarray], scale_by: float = 1.0) -> tuple[dict, dict]:
        edges = widths.blurry_edges(photos, rows, cols, True, (0.002 * scale,) * 3, scale_by)
        out = widths.forward_check(torch.from_numpy(grid).double(), edges, crops * scale, (0.002 * scale,) * 3,
                                   True, torch.Generator().manual_seed(0))
        return out, {c: np.mean(v["agree"]) for c, v in out["channels"].items() if v["places"] >= 4}

    read, true_share = share(truth, blurry, scale)
    assert len(true_share) == 3 and min(true_share.values()) >= widths.AGREE_SHARE, true_share
    assert max(share(wide, blurry, scale)[1].values()) < 0.5
    assert read == share(truth, [b * np.float32(scale) for b in blurry])[0]
    # the photos' edges read once serve every check and the calibration (as in a learn): reading
    # them again gives the same, and their G reading is that of the G planes scaled beforehand
    edges = widths.blurry_edges(blurry, rows, cols, True, (0.002 * scale,) * 3, scale)
    out = widths.forward_check(torch.from_numpy(truth).double(), edges, crops * scale, (0.002 * scale,) * 3, True,
                               torch.Generator().manual_seed(0))
    assert read == out
    assert share(wide, blurry, scale) == share(wide, blurry, scale)
    tiles = widths.sharp_tiles(crops * scale, torch.Generator().manual_seed(0), 16)
    calibrated = [widths.calibrate(torch.from_numpy(wide).double(), e, tiles, 0.002 * scale, True,
                                   torch.Generator().manual_seed(0))
                  for e in (widths.read_edges([b[..., 1] * np.float32(scale) for b in blurry], rows, cols, True,
                                              0.002 * scale), edges[1])]
    assert torch.equal(calibrated[0][0], calibrated[1][0]) and calibrated[0][1] == calibrated[1][1]


def _developed(tmp_path, scene: np.ndarray, electrons: float, name: str, rng) -> np.ndarray:
    """``scene`` (linear RGB) through a real DNG: Bayer mosaic, shot and read noise at
    ``electrons`` per unit of signal, developed by rawpy (demosaiced, so its noise is correlated)."""
    from lenscal.develop import DevelopSettings, load_photo
    from lenscal.io.dng import mosaic_from_rgb, write_dng
    from lenscal.simulate import CAMERA, Sensor

    s = Sensor()
    mosaic = mosaic_from_rgb(scene * np.asarray(s.response, np.float32)).astype(np.float64)
    noisy = (rng.poisson(np.clip(mosaic, 0, None) * electrons) + rng.normal(0, s.read_noise, mosaic.shape)) / electrons
    dn = np.clip(np.round(s.black + noisy * (s.white - s.black)), 0, s.white).astype(np.uint16)
    meta = CAMERA.__class__(**{**CAMERA.to_dict(), "f_number": 8.0, "iso": 1600, "exposure_time": 0.01})
    write_dng(tmp_path / f"{name}.dng", dn, meta, black=s.black, white=s.white, as_shot_neutral=s.response)
    return load_photo(tmp_path / f"{name}.dng", DevelopSettings(vignetting="off"))[0].pixels


def test_the_noise_model_reads_shot_noise_and_the_demosaicings_gradient(tmp_path, rng):
    """White shot noise: its line and the white ratio back. Through a real DNG: demosaiced noise
    answers the finest gradient filter more strongly than white noise of the same std."""
    level = np.linspace(0.05, 0.9, 512, dtype=np.float32)[None, :] * np.ones((384, 1), np.float32)
    white = (level + rng.normal(0, 1, level.shape) * np.sqrt(4e-4 * level)).astype(np.float32)
    n = widths.PlaneNoise.of([white])
    assert abs(n.slope / 4e-4 - 1) < 0.15 and n.floor < 1e-5, n
    assert abs(n.ratio / widths.WHITE_RATIO - 1) < 0.1, n
    flat = np.ones((384, 576, 3), np.float32) * np.linspace(0.1, 0.6, 576, dtype=np.float32)[None, :, None]
    developed = _developed(tmp_path, flat, 300.0, "flat", rng)
    d = widths.PlaneNoise.of([np.ascontiguousarray(developed[..., 1])])
    assert d.ratio > 1.15 * widths.WHITE_RATIO and d.slope > 0, d
    # the threshold follows the local level: shot noise at 0.8 is twice that at 0.2
    t = widths.Threshold(0.0, widths.PlaneNoise(0.0, 1e-3))
    at = t.at(torch.tensor([0.2, 0.8]).repeat_interleave(64).reshape(1, 1, 1, -1).expand(1, 1, 32, -1).contiguous())
    assert abs(float(at[0, 0, 16, -1] / at[0, 0, 16, 0]) - 2) < 0.05


def test_a_blurrier_set_at_a_high_iso_is_read_blurrier_through_real_dngs(tmp_path, rng):
    """At a high ISO the weak steps a wide blur leaves hold the noise's fluctuations, which read
    as sharp edges: read above one white noise level the blurry set reads as sharp as the sharp
    one. Read above the camera's noise (at each pixel's level, with the demosaicing's
    correlation) it reads blurrier over the frame, and the sharp set still reads sharp."""
    from lenscal.noise import plane_noise

    def grid(sigma: float) -> np.ndarray:
        return np.broadcast_to(gaussian(sigma, 13).numpy(), (1, 1, 3, 13, 13))

    scenes = [dead_leaves(384, 576, rng, n=300) for _ in range(4)]
    sharp = [_developed(tmp_path, blur_image(x, grid(0.5)), 300.0, f"s{i}", rng) for i, x in enumerate(scenes[:2])]
    blurry = [_developed(tmp_path, blur_image(x, grid(2.5)), 300.0, f"b{i}", rng) for i, x in enumerate(scenes[2:])]
    found = widths.compare_sets(sharp, blurry)
    assert found.blurrier()[-1] and found.verdict() is None, found
    assert found.sharp[-1] < 0.2, found

    def one_level(images: list[np.ndarray]) -> np.ndarray:
        g = [np.ascontiguousarray(x[..., 1]) for x in images]
        return widths.set_widths(images, widths.PlaneNoise.white(float(np.median([plane_noise(x) for x in g]))))

    before = widths.Sharpness(one_level(sharp), one_level(blurry))
    assert not before.blurrier().any(), before
