"""Writing real DNG files that LibRaw and raw editors read.

- :func:`write_dng`: an uncompressed Bayer CFA DNG, used by the synthetic camera and by tests, so
  that simulated shoots go through exactly the same reader (rawpy) as a photographer's files;
- :func:`write_linear_dng`: a demosaiced linear DNG (LinearRaw, 3 samples) in the camera's own
  colour space with its colour matrix, white balance and the photo's metadata: what
  ``lenscal correct --format dng`` writes, for raw editors to develop as a raw file.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

from lenscal import __version__
from lenscal.io.atomic import atomic_path
from lenscal.io.exif import write_camera_exif
from lenscal.photo import Metadata

LINEAR_RAW = 34892  # PhotometricInterpretation of demosaiced raw data

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
    if meta.focal_length:  # LensInfo, a DNG tag of IFD0; the rest of the EXIF goes to its own IFD
        tags.append((50736, "2I", 4, _rational(meta.focal_length, 100) * 2 + (17, 10, 17, 10), True))
    description = json.dumps({"lenscal": {"simulated": True, "version": __version__, **(note or {})}})
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, mosaic, photometric=32803, subfiletype=0, compression=None,
                         metadata=None, description=description, software=f"lenscal {__version__}",
                         extratags=tags)
        write_camera_exif(tmp, replace(meta, width=mosaic.shape[1], height=mosaic.shape[0]))


def unique_camera_model(meta: Metadata) -> str:
    """Adobe's style of camera name ("Canon EOS 30D", "Nikon D850"): the make's first word,
    capitalised, then the model without the make repeated. Raw editors pick their own camera
    profiles by this name; where it differs from theirs they use the DNG's ColorMatrix1."""
    make = (meta.make.split() or [""])[0]
    model = meta.model.strip()
    if make and model.lower().startswith(make.lower()):
        model = model[len(make):].strip()
    brand = make.capitalize() if make.isupper() and len(make) > 3 else make
    return " ".join(p for p in (brand, model) if p) or "lenscal linear camera"


def write_linear_dng(path: str | Path, camera: np.ndarray, meta: Metadata, colour, *,
                     source: Path | None = None, note: dict | None = None, overwrite: bool = False) -> None:
    """Write camera-space pixels (H, W, 3; 1.0 = sensor white) as a 16-bit LinearRaw DNG, atomically.

    ``colour`` (lenscal.io.rawcolour.CameraColour) gives ColorMatrix1 with its illuminant and
    AsShotNeutral; black 0, white 65535. The photo's EXIF/GPS/XMP/IPTC come from ``source``
    (lenscal.io.exif), with lenscal's note and the XMP that tells raw editors the capture
    sharpening is done. Uncompressed: Adobe's own readers take Deflate in DNG only for floating
    point data, so an integer DNG is written plain to open everywhere.
    """
    from lenscal.io.exif import write_metadata

    data = np.round(np.clip(camera, 0.0, 1.0) * 65535.0).astype(np.uint16)
    neutral = [float(v) for v in colour.as_shot_neutral]
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion: LinearRaw is DNG 1.0
        (50708, "s", 0, unique_camera_model(meta), True),  # UniqueCameraModel
        (50717, "H", 3, (65535, 65535, 65535), True),  # WhiteLevel
        (50721, "2i", 9, _srational(np.asarray(colour.xyz_to_camera).ravel()), True),  # ColorMatrix1
        (50778, "H", 1, int(colour.illuminant), True),  # CalibrationIlluminant1
        (50728, "2I", 3, _srational([v / max(neutral) for v in neutral], 1_000_000), True),  # AsShotNeutral
    ]
    info = {"encoding": "camera", "format": "dng", "version": __version__, **(note or {})}
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data, photometric=LINEAR_RAW, planarconfig="contig", subfiletype=0,
                         compression=None, metadata=None, software=f"lenscal {__version__}", extratags=tags)
        del data  # exiv2 rewrites the file in memory: keep the peak down on big photos
        write_metadata(tmp, source, meta, info, kind="dng")


def mosaic_from_rgb(rgb: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """Sample an (H, W, 3) image through a Bayer colour filter array -> (H, W)."""
    codes = CFA_CODES[cfa]
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for i, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, codes[i]]
    return out
