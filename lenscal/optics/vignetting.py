"""Devignetting with lensfun, in linear float32.

Only vignetting is corrected. Distortion and lateral-colour (TCA) correction are never applied
before calibration: they move pixels, and the PSF grid lives in sensor coordinates, with lateral
colour part of what it learns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import lensfunpy
import numpy as np

from lenscal.errors import LenscalError
from lenscal.photo import Metadata

MODES = ("auto", "lensfun", "off")


class VignettingOutcome(Enum):
    """What devignetting did to a photo."""

    CORRECTED = "corrected"  # lensfun's correction applied
    ALREADY = "already"  # a photo lenscal wrote devignetted already (develop.load_photo)
    OFF = "off"  # not asked for (--vignetting off)
    UNAVAILABLE = "unavailable"  # asked for (auto) but lensfun has no data: worth a warning


@dataclass(frozen=True)
class VignettingNote:
    """What devignetting did (``outcome``, for code) and the sentence that says so (``text``)."""

    outcome: VignettingOutcome
    text: str

    @property
    def devignetted(self) -> bool:
        return self.outcome in (VignettingOutcome.CORRECTED, VignettingOutcome.ALREADY)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class VignettingModel:
    """A lensfun camera+lens pair that has vignetting data, or why there is none."""

    camera: object | None
    lens: object | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.lens is not None


@lru_cache(maxsize=1)
def _database() -> lensfunpy.Database:
    return lensfunpy.Database()


def _apply(pixels: np.ndarray, camera, lens, focal: float, f_number: float, reverse: bool = False) -> None:
    """lensfun's vignetting correction (``reverse``: the vignetting itself) applied in place to
    float32 (H, W, 3) ``pixels``, a whole frame of the photo's aspect ratio; focus at 1000 m."""
    height, width = pixels.shape[:2]
    mod = lensfunpy.Modifier(lens, camera.crop_factor, width, height)
    mod.initialize(focal, f_number, 1000.0, pixel_format=np.float32, flags=lensfunpy.ModifyFlags.VIGNETTING,
                   reverse=reverse)
    mod.apply_color_modification(pixels)


@lru_cache(maxsize=64)
def _lookup(make: str, model: str, lens_make: str, lens_model: str, focal: float, f_number: float,
            aspect: float) -> VignettingModel:
    if not make or not model:
        return VignettingModel(None, None, "the photo does not name its camera")
    db = _database()
    cams = db.find_cameras(make, model, loose_search=True)
    if not cams:
        return VignettingModel(None, None, f"lensfun does not know the camera '{make} {model}'")
    cam = cams[0]
    if not lens_model:
        return VignettingModel(cam, None, "the photo does not name its lens")
    lenses = db.find_lenses(cam, lens_make or None, lens_model, loose_search=True)
    if not lenses:
        return VignettingModel(cam, None, f"lensfun does not know the lens '{lens_model}'")
    lens = lenses[0]
    if not focal or not f_number:
        return VignettingModel(cam, None, "the photo does not record focal length and aperture")
    # lensfun has no direct "has vignetting data" query: probe a tiny flat frame.
    h = 16
    w = max(16, int(round(h * aspect)))
    probe = np.ones((h, w, 3), np.float32)
    _apply(probe, cam, lens, focal, f_number)
    if np.allclose(probe, 1.0, atol=1e-4):
        return VignettingModel(cam, None, f"lensfun has no vignetting data for '{lens.model}'")
    return VignettingModel(cam, lens)


@lru_cache(maxsize=64)
def crop_factor(make: str, model: str) -> float | None:
    """lensfun's crop factor for a camera (its sensor size), or None when lensfun does not know it."""
    if not make or not model:
        return None
    cams = _database().find_cameras(make, model, loose_search=True)
    exact = [c for c in cams if c.model.lower() == model.lower()]
    found = (exact or cams or [None])[0]
    return float(found.crop_factor) if found is not None and found.crop_factor > 0 else None


def find_model(meta: Metadata, width: int, height: int) -> VignettingModel:
    return _lookup(meta.make, meta.model, meta.lens_make, meta.lens_model,
                   float(meta.focal_length or 0), float(meta.f_number or 0), width / max(height, 1))


def vignetting_gain(meta: Metadata, width: int, height: int, reverse: bool = False) -> np.ndarray:
    """The (H, W, 3) float32 factor lensfun multiplies by to remove (or, reversed, add) vignetting."""
    model = find_model(meta, width, height)
    if not model.available:
        raise LenscalError(f"no vignetting correction: {model.reason}",
                           hint="use --vignetting auto or off")
    gain = np.ones((height, width, 3), np.float32)
    _apply(gain, model.camera, model.lens, float(meta.focal_length), float(meta.f_number), reverse)
    return gain


def devignette(pixels: np.ndarray, meta: Metadata, mode: str = "auto") -> tuple[np.ndarray, VignettingNote]:
    """Remove vignetting in place where lensfun can; returns the pixels and what was done.

    ``auto`` corrects when lensfun has data and otherwise says why not; ``lensfun`` insists
    (error when it cannot); ``off`` never corrects.
    """
    if mode not in MODES:
        raise LenscalError(f"unknown vignetting mode '{mode}'", hint="use auto, lensfun or off")
    if mode == "off":
        return pixels, VignettingNote(VignettingOutcome.OFF, "vignetting correction off")
    height, width = pixels.shape[:2]
    model = find_model(meta, width, height)
    if not model.available:
        if mode == "lensfun":
            raise LenscalError(f"no vignetting correction: {model.reason}",
                               hint="use --vignetting auto or off")
        return pixels, VignettingNote(VignettingOutcome.UNAVAILABLE, f"no vignetting correction: {model.reason}")
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    _apply(pixels, model.camera, model.lens, float(meta.focal_length), float(meta.f_number))
    return pixels, VignettingNote(VignettingOutcome.CORRECTED,
                                  f"vignetting corrected with lensfun ({model.lens.maker} {model.lens.model})")
