"""The pixel pitch read from where a stopped-down set's spectrum ends (optics.cutoff), through
real DNGs developed by rawpy: different scenes in the two sets, shot noise, demosaicing."""

from __future__ import annotations

import numpy as np
import pytest

from lenscal.optics.blur import blur_image
from lenscal.optics.cutoff import MAX_CUTOFF, airy_mtf, read_pitch
from lenscal.optics.diffraction import WAVELENGTH_UM, airy

from tests.conftest import developed_through_dng
from tests.learn.synth import dead_leaves


def test_the_airy_mtf_falls_from_one_to_nothing_at_the_cutoff():
    nu = np.linspace(0, 1.2, 25)
    m = airy_mtf(nu)
    assert m[0] == pytest.approx(1.0) and np.all(np.diff(m) <= 0) and np.all(m[nu >= 1] == 0)
    assert airy_mtf(np.array([0.5]))[0] == pytest.approx(0.3910, abs=1e-3)  # the textbook value


def stopped_down_set(tmp_path, rng, f_number: float, pitch_um: float, n: int, name: str, size=(512, 768)) -> list[np.ndarray]:
    """``n`` photos of different scenes through a lens limited by diffraction at ``f_number``
    on a sensor of ``pitch_um``, each through a real DNG."""
    kernels = np.stack([airy(33, w * f_number / pitch_um) for w in WAVELENGTH_UM])[None, None]
    return [developed_through_dng(tmp_path, blur_image(dead_leaves(*size, rng), kernels), 2000.0, f"{name}{i}", rng,
                                  f_number=f_number) for i in range(n)]


def test_a_stopped_down_sets_spectrum_gives_the_pixel_pitch(tmp_path, rng):
    """f/16 against f/5.6 on a 3 um sensor: the cutoff at 0.35 cycles/px gives the pitch back,
    from other scenes than the sharp set's."""
    sharp = stopped_down_set(tmp_path, rng, 5.6, 3.0, 2, "s")
    blurry = stopped_down_set(tmp_path, rng, 16.0, 3.0, 2, "b")
    pitch = read_pitch(sharp, blurry, 5.6, 16.0)
    assert pitch is not None and abs(pitch / 3.0 - 1) < 0.15, pitch


def test_no_pitch_is_read_where_the_spectrum_does_not_end_within_the_band(tmp_path, rng):
    """On 6 um pixels f/16's cutoff lies past the sensor's Nyquist frequency (0.69 cycles/px):
    nothing to read it from, so no pitch rather than a guess. A wider blurry aperture is no
    stopped-down set."""
    assert 6.0 / (WAVELENGTH_UM[1] * 16.0) > MAX_CUTOFF
    sharp = stopped_down_set(tmp_path, rng, 5.6, 6.0, 2, "s")
    blurry = stopped_down_set(tmp_path, rng, 16.0, 6.0, 2, "b")
    assert read_pitch(sharp, blurry, 5.6, 16.0) is None
    assert read_pitch(blurry, sharp, 16.0, 5.6) is None


def test_photos_with_nothing_to_read_give_no_pitch(rng):
    """Photos smaller than a tile, clipped white, or flat with no noise to read: no pitch, no error."""
    tiny = [rng.random((40, 60, 3), dtype=np.float32)]
    assert read_pitch(tiny, tiny, 5.6, 16.0) is None
    white = [np.ones((256, 256, 3), np.float32)]
    assert read_pitch(white, white, 5.6, 16.0) is None
    flat = [np.full((256, 256, 3), 0.3, np.float32)]
    assert read_pitch(flat, flat, 5.6, 16.0) is None
