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
import re
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lenscal import __version__
from lenscal.errors import ProfileError
from lenscal.io.atomic import write_text_atomic
from lenscal.photo import Metadata

SCHEMA_VERSION = 1
SUM_TOLERANCE = 1e-3
# Limits checked before and while parsing, so that no file can exhaust memory or the stack.
# A profile is small: the default 8x8 grid of 13x13 RGB kernels takes about 0.6 MB as lenscal
# writes it (one number a line), and the largest grid a learn makes in practice, 16x16 of 31x31,
# about 14 MB. Within the schema's bounds a file could declare more (32x32 of 63x63), so the byte
# cap is what bounds the memory: parsed, 20 MB of JSON is at most about 2 million numbers.
MAX_PROFILE_BYTES = 20 * 2**20
MAX_JSON_DEPTH = 32  # a profile nests 7 deep (psf.data is 5)
MAX_INT_DIGITS = 18
KERNEL_SIZES = (3, 63)  # odd kernel sizes allowed (px): deconvolution tiles need the kernel well inside them
GRID_SIDE = (1, 32)  # nodes per side
_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=1000)


class Camera(BaseModel):
    model_config = _CONFIG
    make: str
    model: str


class Lens(BaseModel):
    model_config = _CONFIG
    make: str = ""
    model: str = ""


class ImageInfo(BaseModel):
    model_config = _CONFIG
    width: int = Field(gt=0, le=1_000_000)
    height: int = Field(gt=0, le=1_000_000)
    orientation: int = Field(default=1, ge=1, le=8)


GridSide = Annotated[int, Field(ge=GRID_SIDE[0], le=GRID_SIDE[1])]


class PSFGrid(BaseModel):
    model_config = _CONFIG
    grid_shape: tuple[GridSide, GridSide]
    kernel_size: int = Field(ge=KERNEL_SIZES[0], le=KERNEL_SIZES[1])
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

    model_config = _CONFIG
    schema_version: int
    lenscal_version: str = __version__
    camera: Camera
    lens: Lens
    f_number_sharp: float | None = Field(default=None, gt=0, le=1000)
    f_number_blurry: float | None = Field(default=None, gt=0, le=1000)  # the aperture this profile corrects
    focal_length: float | None = Field(default=None, gt=0, le=100_000)
    image: ImageInfo
    psf: PSFGrid
    noise_sigma: float = Field(ge=0, le=1)
    confidence: list[list[float]] | None = None
    check: dict[str, Any] | None = None  # the learn's self-check: passed, reasons, agreement per channel
    settings: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    provenance: str = Field(default="", max_length=10_000)

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
        raw = read_profile_json(path)
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "profile"
            msg = first["msg"].removeprefix("Value error, ")
            raise ProfileError(f"invalid lens profile: {where}: {msg}", path,
                               "re-create it with 'lenscal learn'") from e

    # -- matching ---------------------------------------------------------------------------
    def mismatches(self, meta: Metadata, size: bool = True) -> list[str]:
        """What differs between this profile and a photo (empty when it fits). ``size=False``
        leaves the image size out (lenscal.profileset maps a photo of another size itself)."""
        out = []
        if meta.camera and (meta.make, meta.model) != (self.camera.make, self.camera.model):
            out.append(f"camera is {meta.camera}, profile is for {self.camera.make} {self.camera.model}")
        if meta.lens_model and self.lens.model and meta.lens_model != self.lens.model:
            out.append(f"lens is {meta.lens_model}, profile is for {self.lens.model}")
        if size and (meta.width, meta.height) != (self.image.width, self.image.height):
            out.append(f"size is {meta.width}x{meta.height}, profile is for {self.image.width}x{self.image.height}")
        if meta.f_number and self.f_number_blurry and abs(meta.f_number - self.f_number_blurry) > 0.05 * self.f_number_blurry:
            out.append(f"aperture is f/{meta.f_number:g}, profile is for f/{self.f_number_blurry:g}")
        return out


class _Refused(ValueError):
    """A JSON value lenscal will not parse (raised from json's hooks)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"a number with {len(text)} digits")
    return int(text)


def _parse_constant(text: str):
    raise _Refused(f"{text} (not a JSON number)")


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """How deep ``[`` and ``{`` nest in JSON text (strings left out): checked before parsing,
    because json's parser recurses once per level."""
    brackets = _STRINGS.sub(b'""', data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    arr = np.frombuffer(brackets, np.uint8)
    steps = np.where((arr == ord("[")) | (arr == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def read_profile_json(path: Path) -> Any:
    """Parse a profile file's JSON within the limits above; every refusal is one ProfileError."""
    if not path.is_file():
        raise ProfileError("no such profile file", path)
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"too large for a lens profile ({size / 2**20:.0f} MB, the limit is "
                               f"{MAX_PROFILE_BYTES // 2**20} MB)", path)
        with open(path, "rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as e:
        raise ProfileError(f"cannot read profile: {e.strerror or e}", path) from e
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"too large for a lens profile (the limit is {MAX_PROFILE_BYTES // 2**20} MB)", path)
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ProfileError(f"not a lens profile (JSON nested {depth} deep, a profile is 7)", path)
    try:
        return json.loads(data.decode("utf-8-sig"), parse_int=_parse_int, parse_constant=_parse_constant)
    except _Refused as e:
        raise ProfileError(f"not a lens profile (it holds {e})", path) from e
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProfileError("not a lens profile (not valid JSON)", path) from e
