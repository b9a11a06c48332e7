"""Writing real DNG files (Adobe DNG 1.4 tags, uncompressed Bayer CFA) that LibRaw reads.

Used by the synthetic camera and by tests, so that simulated shoots go through exactly the same
reader (rawpy) as a photographer's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile

from lenscal import __version__
from lenscal.io.atomic import atomic_path
from lenscal.photo import Metadata

# XYZ(D65) -> linear sRGB. Used as the DNG ColorMatrix1 (XYZ -> camera), it declares camera RGB to
# be linear sRGB, so a developed simulated photo is the simulated scene itself.
XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
CFA_CODES = {"RGGB": (0, 1, 1, 2), "BGGR": (2, 1, 1, 0), "GRBG": (1, 0, 2, 1), "GBRG": (1, 2, 0, 1)}


def _srational(values, den: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out += [int(round(float(v) * den)), den]
    return tuple(out)


def _rational(v: float, den: int = 10000) -> tuple[int, int]:
    if 0 < v < 1:
        return (1, int(round(1 / v))) if abs(1 / v - round(1 / v)) < 1e-6 else (int(round(v * den)), den)
    return int(round(v * den)), den


def write_dng(path: str | Path, mosaic: np.ndarray, meta: Metadata, *, black: int, white: int,
              as_shot_neutral: tuple[float, float, float], cfa: str = "RGGB",
              note: dict | None = None, overwrite: bool = False) -> None:
    """Write a uint16 Bayer mosaic (H, W) as a DNG with camera EXIF, atomically."""
    mosaic = np.ascontiguousarray(mosaic, dtype=np.uint16)
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{meta.make} {meta.model}", True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, CFA_CODES[cfa], True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50714, "H", 1, int(black), True),  # BlackLevel
        (50717, "H", 1, int(white), True),  # WhiteLevel
        (50721, "2i", 9, _srational(XYZ_TO_SRGB.ravel()), True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, _srational(as_shot_neutral, 1_000_000), True),  # AsShotNeutral
        (271, "s", 0, meta.make, True),
        (272, "s", 0, meta.model, True),
    ]
    if meta.lens_make:
        tags.append((42035, "s", 0, meta.lens_make, True))
    if meta.lens_model:
        tags.append((42036, "s", 0, meta.lens_model, True))
    if meta.exposure_time:
        tags.append((33434, "2I", 1, _rational(meta.exposure_time), True))
    if meta.f_number:
        tags.append((33437, "2I", 1, _rational(meta.f_number, 100), True))
    if meta.iso:
        tags.append((34855, "H", 1, int(meta.iso), True))
    if meta.focal_length:
        tags.append((37386, "2I", 1, _rational(meta.focal_length, 100), True))
        tags.append((50736, "2I", 4, _rational(meta.focal_length, 100) * 2 + (17, 10, 17, 10), True))
    if meta.datetime:
        tags.append((36867, "s", 0, meta.datetime, True))
    description = json.dumps({"lenscal": {"simulated": True, "version": __version__, **(note or {})}})
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, mosaic, photometric=32803, subfiletype=0, compression=None,
                         metadata=None, description=description, software=f"lenscal {__version__}",
                         extratags=tags)


def mosaic_from_rgb(rgb: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """Sample an (H, W, 3) image through a Bayer colour filter array -> (H, W)."""
    codes = CFA_CODES[cfa]
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for i, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, codes[i]]
    return out
