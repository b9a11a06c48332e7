"""The synthetic camera: real DNGs, a known lens, and the properties the issues ask of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from lenscal.develop import load_photo
from lenscal.io.images import read_image
from lenscal.io.metadata import read_metadata
from lenscal.optics import psf
from lenscal.profile import LensProfile
from lenscal.simulate import ShootPlan, lens_psf_grid, simulate_shoot
from tests.conftest import EXAMPLES, tree_hashes


def scene_of(dng) -> str:
    """The source photo a simulated DNG was made from (written into its description)."""
    return json.loads(tifffile.TiffFile(dng).pages[0].description)["lenscal"]["scene"]


def test_shoot_layout_and_metadata(small_shoot):
    assert len(list((small_shoot / "sharp").glob("*.dng"))) == 2
    assert len(list((small_shoot / "blurry").glob("*.dng"))) == 2
    assert len(list((small_shoot / "test").glob("*.dng"))) == 1
    scenes = [scene_of(p) for p in sorted(small_shoot.rglob("*.dng"))]
    assert len(set(scenes)) == 5  # disjoint photos in the sets
    m = read_metadata(next((small_shoot / "blurry").glob("*.dng")))
    assert (m.make, m.model, m.f_number, m.focal_length) == ("Panasonic", "DC-GX9", 16.0, 25.0)
    assert read_metadata(next((small_shoot / "sharp").glob("*.dng"))).f_number == pytest.approx(5.6)
    truth = LensProfile.load(small_shoot / "truth" / "blurry_psf.json")
    assert truth.psf.grid_shape == (8, 8) and truth.psf.kernel_size == 13
    assert 0.001 < truth.noise_sigma < 0.05


def test_developed_test_photo_matches_its_reference(small_shoot):
    """Develop + lensfun devignetting recover the scene up to blur and noise."""
    dng = next((small_shoot / "test").glob("*.dng"))
    photo, note = load_photo(dng)
    assert note.devignetted and "lensfun" in note.text
    ref, _ = read_image(dng.with_name(dng.stem + "_reference.tif"))
    assert photo.pixels.shape == ref.shape
    assert np.abs(photo.pixels.mean((0, 1)) - ref.mean((0, 1))).max() < 0.01  # exposure, WB, vignetting
    corner = (slice(0, 60), slice(0, 90))
    assert abs(photo.pixels[corner].mean() / ref[corner].mean() - 1) < 0.05  # devignetted corners


@pytest.mark.parametrize("kind", ["stopped", "wide"])
def test_lens_states(kind):
    sharp = lens_psf_grid("sharp", 512, 768)
    blurry = lens_psf_grid(kind, 512, 768)
    fw_sharp, fw_blurry = psf.fwhm(torch.tensor(sharp)), psf.fwhm(torch.tensor(blurry))
    assert fw_sharp[3:5, 3:5].max() < 0.8  # compact centre at the sharp aperture
    assert fw_sharp[0, 0].mean() > 1.5 * fw_sharp[3:5, 3:5].mean()  # softer corners
    assert fw_blurry.mean() > 2 * fw_sharp[3:5, 3:5].mean()
    lc = psf.lateral_colour(blurry)
    r_minus_b = (lc[..., 0, :] - lc[..., 1, :]).norm(dim=-1)
    assert 1.0 <= r_minus_b[0, 0] <= 2.0 and r_minus_b[3:5, 3:5].max() < 0.3
    rows = fw_blurry.mean(-1)
    spread = (rows.max() - rows.min()) / rows.mean()
    if kind == "stopped":
        assert spread < 0.35  # diffraction: nearly uniform
        assert (fw_blurry[..., 0] > fw_blurry[..., 2]).all()  # red diffracts wider than blue
    else:
        assert spread > 0.5  # aberrations change strongly across the frame


def test_same_seed_same_files(tmp_path):
    photos = sorted(EXAMPLES.glob("*.png"))[:3]
    plan = ShootPlan(n_sharp=1, n_blurry=1, n_test=1, seed=7, megapixels=0.1)
    simulate_shoot(photos, tmp_path / "a", plan)
    simulate_shoot(photos, tmp_path / "b", plan)
    a, b = tree_hashes(tmp_path / "a"), tree_hashes(tmp_path / "b")
    assert a == b and len(a) >= 7
    simulate_shoot(photos, tmp_path / "c", ShootPlan(n_sharp=1, n_blurry=1, n_test=1, seed=8, megapixels=0.1))
    assert tree_hashes(tmp_path / "c") != a


def test_same_scenes_reshoots_the_sharp_scenes_reframed(tmp_path):
    """The shooting guide's best practice: each scene once per aperture, framed a little differently."""
    photos = sorted(EXAMPLES.glob("*.png"))[:3]
    plan = ShootPlan(n_sharp=2, n_blurry=2, n_test=1, seed=3, megapixels=0.1, same_scenes=True)
    summary = simulate_shoot(photos, tmp_path, plan)
    sharp = [scene_of(p) for p in sorted((tmp_path / "sharp").glob("*.dng"))]
    blurry = [scene_of(p) for p in sorted((tmp_path / "blurry").glob("*.dng"))]
    test = [scene_of(p) for p in sorted((tmp_path / "test").glob("*.dng"))]
    assert sharp == blurry == [p.name for p in photos[:2]] and test == [photos[2].name]
    # every photo of the shoot has one size, the scene's less the reframing margin
    from lenscal.simulate import load_scene

    fh, fw = load_scene(photos[0], 0.1).shape[:2]
    assert summary["size"] == [int(fh * 0.95) // 2 * 2, int(fw * 0.95) // 2 * 2]
    # unpaired: the two shots of a scene line up best at a non-zero offset (phase correlation)
    a, _ = load_photo(next((tmp_path / "sharp").glob("*.dng")))
    b, _ = load_photo(next((tmp_path / "blurry").glob("*.dng")))
    fa, fb = np.fft.fft2(a.pixels.mean(-1)), np.fft.fft2(b.pixels.mean(-1))
    corr = np.fft.ifft2(fa * fb.conj() / np.maximum(np.abs(fa * fb.conj()), 1e-12)).real
    assert np.unravel_index(corr.argmax(), corr.shape) != (0, 0)
    assert corr.max() > 50 * np.abs(corr).mean()  # ... and they are the same scene


def test_a_band_of_wavelengths_only_softens_the_f16_rings():
    """Real colour filters integrate ~100 nm: the Airy rings wash out a little, nothing more (what
    the learner's one-wavelength diffraction model leaves out; bench_learn --band measures it)."""
    mono = lens_psf_grid("stopped", 400, 600)
    band = lens_psf_grid("stopped", 400, 600, band_um=0.1)
    assert np.allclose(band.sum((-2, -1)), 1, atol=1e-5) and band.min() >= 0
    change = np.linalg.norm(band - mono) / np.linalg.norm(mono)
    assert 1e-3 < change < 0.03
