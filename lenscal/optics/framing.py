"""Where a photo lies on the sensor a profile was calibrated on, and its PSF grid there.

A profile's grid covers the calibration photos' frame (width x height, sensor orientation). A
photo of another size is mapped onto that frame when lenscal can tell where it lies:

- **turned a quarter** (width and height swapped exactly: a TIFF whose pixels an editor rotated;
  never a RAW file, always in sensor orientation): the grid
  and its kernels are turned with it. Which way it was turned is not recorded once the pixels are
  rotated, so this is done only for a grid that is the same either way: a mirror-symmetric one
  (the default of ``learn``, a centred lens), where a quarter turn left and right agree;
- **a centred crop that keeps one side whole**: in-camera aspect-ratio modes (16:9, 1:1, 3:2 on a
  4:3 sensor) keep the middle of the sensor at the same pixel size and one side of it whole. The
  grid is then the profile's kernels interpolated at the crop's own node positions. A photo
  smaller on both sides is refused: it may be a crop (an APS-C mode on a full-frame body) or a
  resized image (a TIFF or JPEG exported smaller, a camera's small RAW such as Canon's sRAW), and
  a resized photo's blur is narrower in pixels than the profile's;
- anything else (larger than the frame, resized, cropped off-centre, turned and cropped) is
  refused with the reason.

Pure functions; lenscal.profileset decides when to use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lenscal.optics.psf import interpolate, mirror_average, node_positions, relative_l2

SYMMETRY_TOLERANCE = 1e-3  # relative L2 from the mirror average: what "mirror-symmetric" allows


class NoMapping(ValueError):
    """A photo cannot be placed on the profile's frame: the message says what and why (one line),
    ``why`` the reason alone."""

    def __init__(self, photo: tuple[int, int], frame: tuple[int, int], why: str):
        super().__init__(f"photo is {photo[0]}x{photo[1]}, profile is for {frame[0]}x{frame[1]}: {why}")
        self.why = why


@dataclass(frozen=True)
class FrameMap:
    """How a photo lies on the calibration frame: turned a quarter or not, then a crop of the
    (turned) frame of ``size`` (width, height) at ``origin`` (y, x) px."""

    turned: bool
    origin: tuple[float, float]
    size: tuple[int, int]

    @property
    def identity(self) -> bool:
        return not self.turned and self.origin == (0.0, 0.0)

    def describe(self) -> str:
        """e.g. "turned a quarter", "a centred 5184x2916 crop"."""
        parts = (["turned a quarter"] if self.turned else []) + (
            [f"a centred {self.size[0]}x{self.size[1]} crop"] if self.origin != (0.0, 0.0) else [])
        return " and ".join(parts) or "the whole frame"


def place(frame: tuple[int, int], photo: tuple[int, int], raw: bool) -> FrameMap:
    """Where a ``photo`` (width, height) lies on the calibration ``frame`` (width, height); raises
    NoMapping with the reason when lenscal cannot tell. ``raw``: the photo is a RAW file (always in
    sensor orientation, so never turned)."""
    fw, fh = frame
    pw, ph = photo
    if (pw, ph) == (fw, fh):
        return FrameMap(False, (0.0, 0.0), (pw, ph))
    if (pw, ph) == (fh, fw) and not raw:  # a RAW file is always in sensor orientation
        return FrameMap(True, (0.0, 0.0), (pw, ph))
    if pw <= fw and ph <= fh and (pw == fw or ph == fh):
        return FrameMap(False, ((fh - ph) / 2, (fw - pw) / 2), (pw, ph))
    if pw > max(fw, fh) or ph > max(fw, fh) or pw * ph > fw * fh:
        why = "it is larger than the calibration frame"
    else:
        why = "it may be resized or cropped on both sides, and lenscal cannot tell where on the sensor it lies"
    raise NoMapping(photo, frame, why)


def is_mirror_symmetric(grid: np.ndarray) -> bool:
    """Whether a grid is its own mirror average (learn's default output; a centred lens)."""
    return relative_l2(mirror_average(grid), grid) <= SYMMETRY_TOLERANCE


def turn_grid(grid: np.ndarray) -> np.ndarray:
    """The grid (R, C, 3, K, K) of the frame turned a quarter anticlockwise: nodes and kernels."""
    return np.ascontiguousarray(np.rot90(np.rot90(np.asarray(grid), 1, axes=(0, 1)), 1, axes=(-2, -1)))


def crop_grid(grid: np.ndarray, frame: tuple[int, int], origin: tuple[float, float],
              size: tuple[int, int]) -> np.ndarray:
    """The grid of a ``size`` (width, height) crop at ``origin`` (y, x) px of a ``frame`` (width,
    height): the same node layout, each node's kernel interpolated where it falls on the frame."""
    rows, cols = grid.shape[:2]
    fw, fh = frame
    w, h = size
    nodes = node_positions(rows, cols).reshape(-1, 2)
    y = (origin[0] + nodes[:, 0] * (h - 1)) / max(fh - 1, 1)
    x = (origin[1] + nodes[:, 1] * (w - 1)) / max(fw - 1, 1)
    pos = torch.as_tensor(np.stack([y, x], axis=1), dtype=torch.float64)
    out = interpolate(torch.as_tensor(np.asarray(grid), dtype=torch.float64), pos)
    return out.reshape(grid.shape).numpy().astype(np.float32)


def map_grid(grid: np.ndarray, frame: tuple[int, int], where: FrameMap) -> np.ndarray:
    """The profile's grid on the photo (see :func:`place`); raises NoMapping when the photo is
    turned and the grid is not mirror-symmetric (which way it was turned then matters)."""
    if where.identity:
        return np.asarray(grid, dtype=np.float32)
    if where.turned:
        if not is_mirror_symmetric(grid):
            raise NoMapping(where.size, frame, "it is turned a quarter and the profile is not mirror-"
                            "symmetric, so which way it was turned matters, and that is not recorded")
        grid = turn_grid(grid)
        frame = (frame[1], frame[0])
    if where.origin != (0.0, 0.0):
        grid = crop_grid(grid, frame, where.origin, where.size)
    return np.asarray(grid, dtype=np.float32)
