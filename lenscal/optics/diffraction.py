"""Diffraction at the aperture: the Airy pattern a stopped-down lens cannot avoid.

Why it is modelled rather than learned: at f/16 on a 3.3 um sensor the Airy disc's first dark ring
sits 3 px out, and the pattern (a flat core, a dark ring, a faint bright ring) is what a blur
learned from unpaired photos gets least right. The small flow models see a width, not a ring, and
the learned kernels come out Gaussian-like. The pattern itself follows from the f-number in the
EXIF and the pixel pitch alone, so the learner only has to find the lens's own (aberration) blur
on top of it, which it learns far better.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import j1

# effective wavelengths of a Bayer sensor's R, G, B channels (um). A channel integrates a band
# about 100 nm wide; learning with one wavelength per channel does as well as integrating the band.
WAVELENGTH_UM = (0.61, 0.54, 0.46)
# below this G-channel scale (lambda N / pitch, px) the Airy disc is within a pixel or two and is
# learned as well as it is modelled (e.g. f/1.7 gives about 0.3 px, f/16 on a 3.3 um pitch 2.6 px)
SIGNIFICANT_SCALE_PX = 1.5


def airy(size: int, scale_px: float, oversample: int = 5) -> np.ndarray:
    """Pixel-integrated Airy pattern (size, size) summing to 1; ``scale_px`` = lambda * N / pitch
    (the first dark ring at 1.22x)."""
    r = (np.arange(size * oversample) - (size * oversample - 1) / 2) / oversample
    rr = np.hypot(r[:, None], r[None, :])
    x = np.pi * rr / scale_px
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(x > 1e-8, (2 * j1(x) / x) ** 2, 1.0)
    a = a.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    return a / a.sum()


def relative_scales(f_number: float, pixel_pitch_um: float, sharp_f_number: float | None = None) -> tuple[float, ...]:
    """Per-channel Airy scales (px) of the blurry set's diffraction beyond the sharp set's.

    The sharp set has its own, smaller Airy disc, which the learned blur is relative to. Airy
    patterns do not compose exactly, so the two f-numbers are combined in quadrature (as the
    widths of their cores roughly are): f/16 against f/5.6 acts like f/15.
    """
    if f_number <= 0 or pixel_pitch_um <= 0:
        raise ValueError("f-number and pixel pitch must be positive")
    n = f_number if not sharp_f_number else math.sqrt(max(f_number**2 - sharp_f_number**2, 0.0))
    return tuple(w * n / pixel_pitch_um for w in WAVELENGTH_UM)


FULL_FRAME_DIAGONAL_MM = 43.27


def pixel_pitch_from_crop(crop_factor: float, width: int, height: int) -> float:
    """The pitch (um) of an image's pixels on a sensor of this crop factor: the sensor diagonal
    over the image diagonal. Right for a downsized image too (its pixels are that much larger)."""
    return FULL_FRAME_DIAGONAL_MM / crop_factor * 1000.0 / math.hypot(width, height)


PLAUSIBLE_PITCH_UM = (0.5, 20.0)  # a pitch read from EXIF outside this is a camera's wrong tag, not used


def plausible_pitch(pitch_um: float | None) -> bool:
    """Can a camera's pixels be this size?"""
    lo, hi = PLAUSIBLE_PITCH_UM
    return pitch_um is not None and lo <= pitch_um <= hi


def significant(scales: tuple[float, ...]) -> bool:
    """Is the diffraction of these per-channel scales worth modelling (see SIGNIFICANT_SCALE_PX)?"""
    return scales[1] >= SIGNIFICANT_SCALE_PX


# the smaller pixel pitches of interchangeable-lens cameras (20 MP Micro Four Thirds 3.3 um, 32 MP
# APS-C 3.2 um): where the pitch is unknown, diffraction is judged as if on such a sensor
SMALL_PITCH_UM = 3.0


def diffraction_limited(f_number: float | None, scales: tuple[float, ...] | None) -> bool | None:
    """Is the blurry set's blur mostly the aperture's diffraction (flat across the frame)?

    From its Airy ``scales`` where the pitch is known, else from the ``f_number`` alone on a
    small-pitch sensor (f/9 and beyond count as diffraction-limited, f/8 and wider do not); None when
    neither is known."""
    if scales is not None:
        return significant(scales)
    if f_number:
        return significant(relative_scales(f_number, SMALL_PITCH_UM))
    return None


def diffraction_kernels(scales: tuple[float, ...], size: int) -> np.ndarray | None:
    """(3, size, size) Airy kernels for per-channel ``scales``, or None when the diffraction is
    too small to be worth modelling (:func:`significant`)."""
    if not significant(scales):
        return None
    return np.stack([airy(size, s) for s in scales]).astype(np.float32)
