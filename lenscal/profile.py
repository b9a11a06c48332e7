"""The lens profile: what ``learn`` writes and ``correct`` reads.

Plain JSON validated by pydantic (never a pickle), so a profile can be read, diffed and shared
safely. ``psf.data`` is nested lists of shape ``[rows, cols, 3, ky, kx]`` (R, G, B; node (0, 0)
at the top-left in sensor orientation; nodes spanning the full frame). Each kernel is
non-negative and sums to 1.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lenscal import __version__
from lenscal.errors import ProfileError
from lenscal.io.atomic import write_text_atomic
from lenscal.photo import Metadata

SCHEMA_VERSION = 1
SUM_TOLERANCE = 1e-3


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid")
    make: str
    model: str


class Lens(BaseModel):
    model_config = ConfigDict(extra="forbid")
    make: str = ""
    model: str = ""


class ImageInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    orientation: int = Field(default=1, ge=1, le=8)


class PSFGrid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grid_shape: tuple[int, int]
    kernel_size: int = Field(gt=0)
    channels: tuple[str, str, str] = ("R", "G", "B")
    data: list

    @model_validator(mode="after")
    def _check(self) -> "PSFGrid":
        rows, cols = self.grid_shape
        k = self.kernel_size
        if rows < 1 or cols < 1 or k % 2 == 0:
            raise ValueError("grid_shape must be positive and kernel_size odd")
        try:
            arr = np.asarray(self.data, dtype=np.float64)
        except (ValueError, TypeError) as e:
            raise ValueError("psf.data is not a regular array of numbers") from e
        if arr.shape != (rows, cols, 3, k, k):
            raise ValueError(f"psf.data has shape {list(arr.shape)}, expected {[rows, cols, 3, k, k]}")
        if not np.isfinite(arr).all():
            raise ValueError("psf.data contains NaN or infinite values")
        if (arr < -1e-9).any():
            raise ValueError("psf.data contains negative values")
        sums = arr.sum(axis=(-2, -1))
        if np.abs(sums - 1).max() > SUM_TOLERANCE:
            raise ValueError(f"every kernel must sum to 1 (found sums from {sums.min():.4f} to {sums.max():.4f})")
        return self

    def array(self) -> np.ndarray:
        return np.asarray(self.data, dtype=np.float32)


class LensProfile(BaseModel):
    """Everything needed to correct photos of one camera + lens at one aperture."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int
    lenscal_version: str = __version__
    camera: Camera
    lens: Lens
    f_number_sharp: float | None = None
    f_number_blurry: float | None = None  # the aperture this profile corrects
    focal_length: float | None = None
    image: ImageInfo
    psf: PSFGrid
    noise_sigma: float = Field(ge=0, le=1)
    confidence: list[list[float]] | None = None
    check: dict[str, Any] | None = None  # the learn's self-check: passed, reasons, agreement per channel
    settings: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    provenance: str = ""

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported (this lenscal reads {SCHEMA_VERSION})")
        return v

    @field_validator("noise_sigma")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("noise_sigma must be finite")
        return v

    @model_validator(mode="after")
    def _confidence_shape(self) -> "LensProfile":
        if self.confidence is not None:
            arr = np.asarray(self.confidence, dtype=np.float64)
            if arr.shape != tuple(self.psf.grid_shape) or not np.isfinite(arr).all():
                raise ValueError("confidence must be a finite rows x cols array")
        return self

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_grid(cls, grid: np.ndarray, noise_sigma: float, meta: Metadata, **extra) -> "LensProfile":
        grid = np.asarray(grid, dtype=np.float64)
        grid = np.clip(grid, 0, None)
        grid /= grid.sum(axis=(-2, -1), keepdims=True)
        rows, cols, _, k, _ = grid.shape
        return cls(
            schema_version=SCHEMA_VERSION,
            camera=Camera(make=meta.make, model=meta.model),
            lens=Lens(make=meta.lens_make, model=meta.lens_model),
            focal_length=meta.focal_length,
            f_number_blurry=meta.f_number,
            image=ImageInfo(width=meta.width, height=meta.height, orientation=meta.orientation or 1),
            psf=PSFGrid(grid_shape=(rows, cols), kernel_size=k, data=np.round(grid, 7).tolist()),
            noise_sigma=float(noise_sigma),
            **extra,
        )

    def grid(self) -> np.ndarray:
        """The PSF grid as float32 (rows, cols, 3, K, K)."""
        return self.psf.array()

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = True) -> None:
        write_text_atomic(path, self.model_dump_json(indent=1), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> "LensProfile":
        path = Path(path)
        if not path.is_file():
            raise ProfileError("no such profile file", path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ProfileError("not a lens profile (not valid JSON)", path) from e
        except OSError as e:
            raise ProfileError(f"cannot read profile: {e.strerror or e}", path) from e
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "profile"
            msg = first["msg"].removeprefix("Value error, ")
            raise ProfileError(f"invalid lens profile: {where}: {msg}", path,
                               "re-create it with 'lenscal learn'") from e

    # -- matching ---------------------------------------------------------------------------
    def mismatches(self, meta: Metadata) -> list[str]:
        """What differs between this profile and a photo (empty when it fits)."""
        out = []
        if meta.camera and (meta.make, meta.model) != (self.camera.make, self.camera.model):
            out.append(f"camera is {meta.camera}, profile is for {self.camera.make} {self.camera.model}")
        if meta.lens_model and self.lens.model and meta.lens_model != self.lens.model:
            out.append(f"lens is {meta.lens_model}, profile is for {self.lens.model}")
        if (meta.width, meta.height) != (self.image.width, self.image.height):
            out.append(f"size is {meta.width}x{meta.height}, profile is for {self.image.width}x{self.image.height}")
        if meta.f_number and self.f_number_blurry and abs(meta.f_number - self.f_number_blurry) > 0.05 * self.f_number_blurry:
            out.append(f"aperture is f/{meta.f_number:g}, profile is for f/{self.f_number_blurry:g}")
        return out
