"""The Airy pattern of the aperture, as the learner models a stopped-down set's diffraction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenscal.optics.diffraction import (SIGNIFICANT_SCALE_PX, WAVELENGTH_UM, airy, diffraction_kernels,
                                        diffraction_limited, pixel_pitch_from_crop, relative_scales)
from lenscal.optics.vignetting import crop_factor


def test_airy_is_normalised_with_its_dark_ring_where_optics_puts_it():
    scale = 4.0  # large, so the pixel integration barely moves the ring
    a = airy(41, scale)
    assert abs(a.sum() - 1) < 1e-9 and a.min() >= 0
    profile = a[20, 20:]  # centre outwards along a row
    ring = int(np.argmin(profile[:8]))
    assert abs(ring - 1.22 * scale) <= 0.6  # the first zero at 1.22 lambda N / pitch
    assert profile[ring] < 0.02 * profile[0] and profile[ring + 2] > profile[ring]  # dark, then the bright ring


def test_relative_scales_follow_wavelength_f_number_and_pitch():
    r, g, b = relative_scales(16, 3.3)
    assert g == pytest.approx(0.54 * 16 / 3.3) and r > g > b
    assert (r / g, b / g) == pytest.approx((WAVELENGTH_UM[0] / 0.54, WAVELENGTH_UM[2] / 0.54))
    # the sharp set's own diffraction is taken off in quadrature: f/16 against f/5.6 acts as f/15
    assert relative_scales(16, 3.3, 5.6)[1] == pytest.approx(0.54 * math.sqrt(16**2 - 5.6**2) / 3.3)
    with pytest.raises(ValueError):
        relative_scales(16, 0)


def test_only_a_significant_diffraction_is_modelled():
    assert diffraction_kernels(relative_scales(1.7, 3.3), 13) is None  # wide open: well within a pixel
    k = diffraction_kernels(relative_scales(16, 3.3), 13)
    assert k.shape == (3, 13, 13) and np.allclose(k.sum((-2, -1)), 1, atol=1e-6)
    assert relative_scales(16, 3.3)[1] > SIGNIFICANT_SCALE_PX
    # R spreads more than B: a wider pattern puts less of itself in the middle pixel
    assert k[0, 6, 6] < k[1, 6, 6] < k[2, 6, 6]


def test_a_set_is_diffraction_limited_by_its_airy_scale_or_else_its_f_number():
    assert diffraction_limited(16, relative_scales(16, 3.3)) is True
    assert diffraction_limited(1.7, relative_scales(1.7, 3.3)) is False
    # f/16 on a large-pixel sensor (8.4 um, 12 MP full frame) is within about a pixel: not limited
    assert diffraction_limited(16, relative_scales(16, 8.4)) is False
    # no pitch: judged on a small-pitch sensor, where f/9 and beyond are limited
    assert diffraction_limited(16, None) is True and diffraction_limited(9, None) is True
    assert diffraction_limited(8, None) is False and diffraction_limited(1.7, None) is False
    assert diffraction_limited(None, None) is None


def test_the_pixel_pitch_follows_from_lensfuns_sensor_size():
    """A 20 MP Micro Four Thirds body (lensfun: crop factor 2) has 3.3 um pixels; an image
    downsized by 4 has pixels 4x as large, and its diffraction is 4x smaller in pixels."""
    crop = crop_factor("Panasonic", "DC-GX9")
    assert crop == 2.0
    assert pixel_pitch_from_crop(crop, 5184, 3888) == pytest.approx(3.34, abs=0.01)
    assert pixel_pitch_from_crop(crop, 1296, 972) == pytest.approx(4 * pixel_pitch_from_crop(crop, 5184, 3888))
    assert crop_factor("Nobody", "Camera 3000") is None and crop_factor("", "") is None
