"""One photo file -> a linear, devignetted :class:`Photo`: the same for develop, learn and correct."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lenscal.io.formats import is_raw
from lenscal.io.images import read_image
from lenscal.io.metadata import metadata_from_image
from lenscal.io.raw import develop_raw
from lenscal.optics.vignetting import devignette
from lenscal.photo import Photo


@dataclass(frozen=True)
class DevelopSettings:
    demosaic: str = "ahd"
    exposure: float = 1.0  # one fixed scale for every photo of a set, never per-image auto
    vignetting: str = "auto"  # auto | lensfun | off
    white_balance: tuple[float, ...] | None = None  # RAW: (R, G, B, G2) for every photo; None = each one's own


def load_photo(path: str | Path, settings: DevelopSettings = DevelopSettings()) -> tuple[Photo, str]:
    """Develop (RAW) or read (TIFF/PNG/JPEG) a photo, then devignette it; returns a note on vignetting."""
    path = Path(path)
    if is_raw(path):
        pixels, meta = develop_raw(path, settings.demosaic, settings.exposure, settings.white_balance)
    else:
        pixels, note = read_image(path)
        meta = metadata_from_image(path, pixels.shape[0], pixels.shape[1])
        if note.get("devignetted"):
            return Photo(pixels * settings.exposure, meta, path, devignetted=True), "already devignetted"
        if settings.exposure != 1.0:
            pixels *= settings.exposure
    meta = replace(meta, width=pixels.shape[1], height=pixels.shape[0])
    pixels, message = devignette(pixels, meta, settings.vignetting)
    return Photo(pixels, meta, path, devignetted=message.startswith("vignetting corrected")), message
