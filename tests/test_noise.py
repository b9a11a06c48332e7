"""lenscal.noise: the noise of a photo, per channel and per brightness, measured on the photo."""

from __future__ import annotations

import numpy as np

from lenscal.noise import estimate_noise, measure_noise
from tests.learn.synth import dead_leaves


def test_white_noise_at_one_level():
    rng = np.random.default_rng(0)
    flat = (0.4 + rng.normal(0, 0.01, (300, 400, 3))).astype(np.float32)
    assert abs(estimate_noise(flat) - 0.01) < 0.0005
    tall = (0.4 + rng.normal(0, 0.02, (3000, 200, 3))).astype(np.float32)  # subsampled rows of blocks
    assert abs(estimate_noise(tall) - 0.02) < 0.001


def test_shot_noise_grows_with_the_signal():
    """Poisson-Gaussian noise: the floor and the slope are both recovered, per channel."""
    rng = np.random.default_rng(1)
    level = np.linspace(0.02, 0.9, 480, dtype=np.float32)[None, :, None] * np.ones((360, 1, 3), np.float32)
    floor, slope = np.array([2e-5, 1e-5, 4e-5]), np.array([4e-4, 2e-4, 3e-4])
    noisy = level + rng.normal(0, 1, level.shape).astype(np.float32) * np.sqrt(floor + slope * level)
    model = measure_noise(noisy)
    assert np.allclose(model.slope, slope, rtol=0.1)
    assert np.allclose(model.floor, floor, atol=1e-5)
    truth = float(np.sqrt(np.mean(floor + slope * level)))
    assert abs(model.rms(noisy) - truth) < 0.03 * truth


def test_demosaiced_noise_of_a_real_dng_on_a_textured_scene(tmp_path):
    """Read from a real DNG developed by rawpy: correlated (demosaiced) noise on a photo that is
    detail over two thirds of its frame. The high-pass estimate of earlier versions read it
    several times too low; the block estimate reads the per-pixel noise."""
    from lenscal.develop import load_photo
    from lenscal.io.dng import mosaic_from_rgb, write_dng
    from lenscal.simulate import CAMERA, Sensor

    rng = np.random.default_rng(2)
    h, w = 384, 576
    scene = np.empty((h, w, 3), np.float32)
    scene[:, : w // 3] = np.linspace(0.1, 0.5, h, dtype=np.float32)[:, None, None] * np.float32([1.0, 0.9, 0.7])
    scene[:, w // 3:] = dead_leaves(h, w - w // 3, rng) * 0.8
    s = Sensor()
    electrons = 2000.0
    mosaic = mosaic_from_rgb(scene * np.asarray(s.response, np.float32)).astype(np.float64)
    noisy = (rng.poisson(mosaic * electrons) + rng.normal(0, s.read_noise, mosaic.shape)) / electrons
    meta = CAMERA.__class__(**{**CAMERA.to_dict(), "f_number": 8.0, "iso": 800, "exposure_time": 0.01})
    for name, m in (("noisy", noisy), ("clean", mosaic)):
        dn = np.clip(np.round(s.black + m * (s.white - s.black)), 0, s.white).astype(np.uint16)
        write_dng(tmp_path / f"{name}.dng", dn, meta, black=s.black, white=s.white, as_shot_neutral=s.response)
    from lenscal.develop import DevelopSettings

    off = DevelopSettings(vignetting="off")
    a = load_photo(tmp_path / "noisy.dng", off)[0].pixels
    b = load_photo(tmp_path / "clean.dng", off)[0].pixels
    truth = float(np.std(a - b))
    assert abs(estimate_noise(a) - truth) < 0.3 * truth
    assert estimate_noise(b) < 0.25 * truth  # the clean photo's detail is not read as noise


def test_unmeasurable_photos():
    assert measure_noise(np.ones((64, 64, 3), np.float32)) is None  # clipped white
    assert estimate_noise(np.zeros((16, 16, 3), np.float32)) == 0.0  # too small
