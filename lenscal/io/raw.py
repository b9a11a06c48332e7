"""RAW development with rawpy (LibRaw): linear, unrotated, one fixed exposure for a whole set.

Why these settings: the blur we learn acts on light, so pixels must stay proportional to it
(gamma 1, no auto-brightening, 16-bit); PSFs live on the sensor, so the image is not rotated
(``user_flip=0``); and sharp and blurry photos must be comparable, so every photo gets the same
exposure scale instead of LibRaw's per-image auto exposure (including its quiet white-point
adjustment, ``adjust_maximum_thr``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rawpy

from lenscal.errors import UnreadableFileError
from lenscal.io.images import MAX_PIXELS, _check_file

DEMOSAIC = {
    "linear": rawpy.DemosaicAlgorithm.LINEAR,
    "vng": rawpy.DemosaicAlgorithm.VNG,
    "ppg": rawpy.DemosaicAlgorithm.PPG,
    "ahd": rawpy.DemosaicAlgorithm.AHD,
    "dcb": rawpy.DemosaicAlgorithm.DCB,
    "dht": rawpy.DemosaicAlgorithm.DHT,
    "aahd": rawpy.DemosaicAlgorithm.AAHD,
}


@contextlib.contextmanager
def open_raw(path: Path) -> Iterator[rawpy.RawPy]:
    """Open a RAW file, turning LibRaw's errors into one-line messages."""
    path = Path(path)
    _check_file(path)
    try:
        raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError as e:
        raise UnreadableFileError("not a RAW file LibRaw can read (unsupported or corrupt)", path,
                                  "check the file, or convert it to DNG") from e
    except (rawpy.LibRawIOError, rawpy.LibRawError, OSError) as e:
        raise UnreadableFileError(f"cannot read RAW file ({type(e).__name__})", path,
                                  "the file may be truncated: copy it again") from e
    try:
        try:
            raw.unpack()  # read all the data now: truncated files fail here, with a clear message
        except (rawpy.LibRawError, ValueError) as e:
            raise UnreadableFileError("RAW data is truncated or corrupt", path,
                                      "copy the file again from the card") from e
        sizes = raw.sizes
        if sizes.width * sizes.height > MAX_PIXELS or sizes.width < 16 or sizes.height < 16:
            raise UnreadableFileError(f"implausible image size {sizes.width}x{sizes.height}", path)
        yield raw
    finally:
        raw.close()


def develop_raw(path: Path, demosaic: str = "ahd", exposure: float = 1.0):
    """Develop a RAW file to linear float32 RGB in [0, 1] (1 = sensor white) and its metadata."""
    from lenscal.io.metadata import metadata_from_raw

    path = Path(path)
    with open_raw(path) as raw:
        meta = metadata_from_raw(path, raw)
        try:
            rgb = raw.postprocess(
                demosaic_algorithm=DEMOSAIC[demosaic],
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                user_flip=0,
                use_camera_wb=True,
                use_auto_wb=False,
                output_color=rawpy.ColorSpace.sRGB,
                half_size=False,
                # LibRaw raises the white point to the brightest pixel when that exceeds 75% of
                # white: a per-image exposure change. Off, so 1.0 is always sensor white.
                adjust_maximum_thr=0.0,
            )
        except (rawpy.LibRawError, rawpy.LibRawIOError, MemoryError, ValueError) as e:
            raise UnreadableFileError(f"RAW data cannot be decoded ({type(e).__name__})", path,
                                      "the file may be truncated or corrupt: copy it again") from e
    pixels = rgb.astype(np.float32)
    pixels *= np.float32(exposure / 65535.0)
    return pixels, meta
