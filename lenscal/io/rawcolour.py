"""A RAW photo in its camera's own colour space, for linear DNG outputs.

A linear DNG goes back into a raw editor, which applies its own camera profile, white balance
and tone: its pixels must be the camera's demosaiced raw values (not white balanced, no colour
matrix), described by the camera's matrix (ColorMatrix1, XYZ D65 -> camera) and the white
balance as shot (AsShotNeutral).

The lens profile, though, was learned on photos developed to linear sRGB primaries with a white
balance (lenscal.io.raw.develop_raw), and it is in that space that its per-channel PSFs hold. So
the DNG path deconvolves in that same working space and goes back: LibRaw demosaics the white-
balanced data (as for the TIFF path) but leaves it in camera space, unclipped
(``highlight_mode=Ignore`` scales by the largest multiplier instead of clipping); lenscal applies
LibRaw's own camera -> sRGB matrix in float (no clipping, so no colour outside sRGB is lost),
and after the deconvolution applies the exact inverse. For colours inside sRGB the working
pixels are the TIFF path's (LibRaw's own 16-bit sRGB output agrees to 1e-5 on the median).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenscal.errors import UnreadableFileError

# linear sRGB (D65) -> XYZ, LibRaw's xyz_rgb, which its camera -> sRGB matrix is built from
SRGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])


@dataclass(frozen=True)
class CameraColour:
    """How a camera's raw space (demosaiced, 1.0 = sensor white, not white balanced) relates to
    lenscal's working space (linear sRGB primaries, white balanced)."""

    to_working: np.ndarray  # 3x3: camera raw -> working
    xyz_to_camera: np.ndarray  # 3x3: the DNG ColorMatrix1 (XYZ -> camera)
    as_shot_neutral: tuple[float, float, float]  # the white balance used, as the DNG's AsShotNeutral
    illuminant: int = 21  # EXIF LightSource code of the matrix: D65
    vignetting: np.ndarray | None = None  # (H, W) gain the working pixels were devignetted with

    def to_camera(self, working: np.ndarray) -> np.ndarray:
        """Working-space pixels (H, W, 3) -> camera raw values, float32 (not clipped), with the
        lens's vignetting put back as the raw file had it (the raw editor's lens profile removes it)."""
        back = np.linalg.inv(self.to_working).astype(np.float32)
        camera = (working.reshape(-1, 3) @ back.T).reshape(working.shape)
        if self.vignetting is not None:
            camera /= self.vignetting[..., None]
        return camera


def _white_balance(raw, chosen: tuple[float, ...] | None) -> np.ndarray:
    """(R, G, B, G2) multipliers scaled to G = 1: the given ones, else as shot, else daylight."""
    for candidate in (chosen, raw.camera_whitebalance, raw.daylight_whitebalance):
        if candidate is None:
            continue
        wb = np.array([float(v) for v in candidate][:4] + [0.0] * (4 - len(candidate)))
        wb[3] = wb[3] or wb[1]
        if wb[1] > 0 and wb[:3].min() > 0:
            return wb / wb[1]
    return np.ones(4)


def libraw_rgb_cam(cam_xyz: np.ndarray, embedded: np.ndarray, is_dng: bool) -> np.ndarray:
    """The camera -> sRGB matrix LibRaw develops with (its ``rgb_cam``), which rawpy does not expose.

    A DNG's own matrix (rawpy's ``color_matrix``, LibRaw's ``cmatrix``, used for DNGs by default),
    else LibRaw's cam_xyz_coeff of its camera table (``rgb_xyz_matrix``): camera <- sRGB rows
    normalised so that white stays white after the white balance, inverted.
    """
    if is_dng and embedded[0, 0] > 0.125:
        return embedded
    cam_rgb = cam_xyz @ SRGB_TO_XYZ
    cam_rgb /= cam_rgb.sum(axis=1, keepdims=True)
    return np.linalg.inv(cam_rgb)


def develop_camera(path: Path, demosaic: str = "ahd",
                   white_balance: tuple[float, ...] | None = None):
    """Develop a RAW file for a linear DNG: (working-space pixels, metadata, CameraColour).

    Refuses (one line) cameras LibRaw has no colour matrix for and non-RGB sensors, whose raw
    space a DNG reader could not interpret.
    """
    import rawpy

    from lenscal.io.metadata import metadata_from_raw
    from lenscal.io.raw import DEMOSAIC, open_raw

    path = Path(path)
    with open_raw(path) as raw:
        meta = metadata_from_raw(path, raw)
        cam_xyz = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3]
        if raw.num_colors != 3 or not np.abs(cam_xyz).any():
            raise UnreadableFileError("no colour matrix for this camera, so it cannot become a linear DNG",
                                      path, "use --format tiff")
        wb = _white_balance(raw, white_balance)
        embedded = np.asarray(raw.color_matrix, np.float64)[:, :3]
        try:
            cam = raw.postprocess(
                demosaic_algorithm=DEMOSAIC[demosaic], gamma=(1, 1), no_auto_bright=True, output_bps=16,
                user_flip=0, use_auto_wb=False, use_camera_wb=False, user_wb=[float(v) for v in wb],
                output_color=rawpy.ColorSpace.raw, highlight_mode=rawpy.HighlightMode.Ignore,
                half_size=False, adjust_maximum_thr=0.0)
        except (rawpy.LibRawError, rawpy.LibRawIOError, MemoryError, ValueError) as e:
            raise UnreadableFileError(f"RAW data cannot be decoded ({type(e).__name__})", path,
                                      "the file may be truncated or corrupt: copy it again") from e
    rgb_cam = libraw_rgb_cam(cam_xyz, embedded, path.suffix.lower() == ".dng")
    # highlight_mode=Ignore scaled the white-balanced values by 1 / max(wb) so that none clips
    balanced = cam.astype(np.float32)
    balanced *= np.float32(wb[:3].max() / 65535.0)
    working = (balanced.reshape(-1, 3) @ rgb_cam.T.astype(np.float32)).reshape(balanced.shape)
    colour = CameraColour(to_working=rgb_cam @ np.diag(wb[:3]), xyz_to_camera=cam_xyz,
                          as_shot_neutral=tuple(float(1 / w) for w in wb[:3]))
    return working, meta, colour
