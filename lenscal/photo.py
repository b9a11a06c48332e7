"""The developed photo that every stage after ``io`` works on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Metadata:
    """Camera, lens and exposure facts, as far as the file tells them (None when unknown)."""

    make: str = ""
    model: str = ""
    lens_make: str = ""
    lens_model: str = ""
    f_number: float | None = None
    focal_length: float | None = None
    iso: float | None = None
    exposure_time: float | None = None
    datetime: str = ""
    width: int = 0
    height: int = 0
    orientation: int = 1  # EXIF orientation; pixels stay in sensor orientation
    sensor_width_mm: float | None = None  # the frame's width on the sensor (EXIF focal-plane resolution)
    focal_length_35mm: float | None = None  # EXIF's 35 mm equivalent focal length
    raw: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()

    @property
    def lens(self) -> str:
        return f"{self.lens_make} {self.lens_model}".strip() if self.lens_model else ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return d


@dataclass
class Photo:
    """Linear float32 RGB pixels (H, W, 3) in sensor orientation, 1.0 = sensor white.

    Values above 1 are impossible (clipped at white); ``clipped`` marks pixels that hit white in
    any channel, so deconvolution can keep ringing away from them.
    """

    pixels: np.ndarray
    meta: Metadata
    path: Path | None = None
    devignetted: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[0], self.pixels.shape[1]
