"""One photo file -> a linear, devignetted :class:`Photo`: the same for develop, learn and correct."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lenscal.errors import UnreadableFileError
from lenscal.io.formats import is_raw
from lenscal.io.images import read_image
from lenscal.io.metadata import metadata_from_image
from lenscal.io.raw import develop_raw
from lenscal.optics.vignetting import VignettingNote, VignettingOutcome, devignette
from lenscal.photo import Photo


@dataclass(frozen=True)
class DevelopSettings:
    demosaic: str = "ahd"
    exposure: float = 1.0  # one fixed scale for every photo of a set, never per-image auto
    vignetting: str = "auto"  # auto | lensfun | off
    white_balance: tuple[float, ...] | None = None  # RAW: (R, G, B, G2) for every photo; None = each one's own


def load_photo(path: str | Path, settings: DevelopSettings = DevelopSettings()) -> tuple[Photo, VignettingNote]:
    """Develop (RAW) or read (TIFF/PNG/JPEG) a photo, then devignette it; returns what was done about vignetting."""
    path = Path(path)
    if is_raw(path):
        pixels, meta = develop_raw(path, settings.demosaic, settings.exposure, settings.white_balance)
    else:
        pixels, note = read_image(path)
        meta = metadata_from_image(path, pixels.shape[0], pixels.shape[1])
        if note.get("devignetted"):
            return (Photo(pixels * settings.exposure, meta, path, devignetted=True),
                    VignettingNote(VignettingOutcome.ALREADY, "already devignetted"))
        if settings.exposure != 1.0:
            pixels *= settings.exposure
    meta = replace(meta, width=pixels.shape[1], height=pixels.shape[0])
    pixels, note = devignette(pixels, meta, settings.vignetting)
    return Photo(pixels, meta, path, devignetted=note.devignetted), note


def load_camera_photo(path: str | Path, settings: DevelopSettings = DevelopSettings()):
    """As :func:`load_photo`, for a linear DNG output: (Photo in the working space, note, CameraColour).

    The working space is load_photo's (linear sRGB primaries, white balanced), so the lens profile
    applies as it was learned; CameraColour takes the corrected pixels back to the camera's raw
    space (lenscal.io.rawcolour). The working pixels are not clipped: colours outside sRGB are
    negative there. Only RAW photos: a TIFF/JPEG has no camera space left, and a DNG naming its
    camera would have raw editors apply that camera's profile to sRGB values.
    """
    from lenscal.io.rawcolour import develop_camera

    path = Path(path)
    if not is_raw(path):
        raise UnreadableFileError("a linear DNG needs a RAW photo (this one is developed already)", path,
                                  "use --format tiff for TIFF, PNG and JPEG photos")
    pixels, meta, colour = develop_camera(path, settings.demosaic, settings.white_balance)
    meta = replace(meta, width=pixels.shape[1], height=pixels.shape[0])
    pixels, note = devignette(pixels, meta, settings.vignetting)
    if note.devignetted:  # the DNG keeps the raw file's vignetting: the editor's lens profile removes it
        colour = replace(colour, vignetting=vignetting_gain(meta, settings.vignetting))
    return Photo(pixels, meta, path, devignetted=note.devignetted), note, colour


def vignetting_gain(meta, mode: str) -> np.ndarray:
    """The (H, W) gain lensfun's devignetting multiplies a photo by. Vignetting is smooth, so it
    is computed on a grid 8x coarser and interpolated (memory: one plane, not three)."""
    import cv2

    h, w = meta.height, meta.width
    small = replace(meta, width=max(16, w // 8), height=max(16, h // 8))
    ones = np.ones((small.height, small.width, 3), np.float32)
    gain, _ = devignette(ones, small, mode)
    return cv2.resize(np.ascontiguousarray(gain[..., 1]), (w, h), interpolation=cv2.INTER_LINEAR)
