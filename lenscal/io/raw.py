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
from lenscal.io.formats import has_raw_signature
from lenscal.io.images import MAX_PIXELS, _check_file
from lenscal.ui import quiet_c_stderr

DEMOSAIC = {
    "linear": rawpy.DemosaicAlgorithm.LINEAR,
    "vng": rawpy.DemosaicAlgorithm.VNG,
    "ppg": rawpy.DemosaicAlgorithm.PPG,
    "ahd": rawpy.DemosaicAlgorithm.AHD,
    "dcb": rawpy.DemosaicAlgorithm.DCB,
    "dht": rawpy.DemosaicAlgorithm.DHT,
    "aahd": rawpy.DemosaicAlgorithm.AAHD,
}


def _check_signature(path: Path) -> None:
    """Refuse files without a RAW header: LibRaw would guess a headerless dump's layout from its size."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise UnreadableFileError(f"cannot read file: {e.strerror or e}", path) from e
    if not has_raw_signature(head):
        raise UnreadableFileError("not a RAW file: no camera header (a headerless sensor dump?)", path,
                                  "convert it to DNG with its real size and colour pattern")


@contextlib.contextmanager
def open_raw(path: Path) -> Iterator[rawpy.RawPy]:
    """Open a RAW file, turning LibRaw's errors into one-line messages."""
    path = Path(path)
    _check_file(path)
    _check_signature(path)
    try:
        with quiet_c_stderr():
            raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError as e:
        raise UnreadableFileError("not a RAW file LibRaw can read (unsupported or corrupt)", path,
                                  "check the file, or convert it to DNG") from e
    except (rawpy.LibRawIOError, rawpy.LibRawError, OSError) as e:
        raise UnreadableFileError(f"cannot read RAW file ({type(e).__name__})", path,
                                  "the file may be truncated: copy it again") from e
    try:
        try:
            with quiet_c_stderr():
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


def camera_white_balance(path: Path) -> tuple[float, float, float, float] | None:
    """The as-shot white-balance multipliers (R, G, B, G2) scaled to G = 1, or None if unknown.

    Reads only the header (no unpacking); a file that cannot be read gives None here and its
    clear error when it is developed.
    """
    try:
        raw = rawpy.imread(str(path))
    except (rawpy.LibRawError, rawpy.LibRawIOError, OSError):
        return None
    try:
        wb = [float(v) for v in raw.camera_whitebalance]
    finally:
        raw.close()
    if len(wb) != 4 or wb[1] <= 0 or min(wb[:3]) <= 0:
        return None
    wb[3] = wb[3] or wb[1]  # LibRaw leaves G2 at 0 when it equals G
    return tuple(v / wb[1] for v in wb)


def develop_raw(path: Path, demosaic: str = "ahd", exposure: float = 1.0,
                white_balance: tuple[float, ...] | None = None):
    """Develop a RAW file to linear float32 RGB in [0, 1] (1 = sensor white) and its metadata.

    ``white_balance`` (R, G, B, G2 multipliers) replaces the photo's own as-shot white balance:
    learning develops both sets with one, so that auto white balance, which picks other
    multipliers for every scene, cannot pass for a colour difference between the sets.
    """
    from lenscal.io.metadata import metadata_from_raw

    path = Path(path)
    wb = {"use_camera_wb": True} if white_balance is None else {"use_camera_wb": False, "user_wb": list(white_balance)}
    with open_raw(path) as raw:
        meta = metadata_from_raw(path, raw)
        try:
            rgb = raw.postprocess(
                demosaic_algorithm=DEMOSAIC[demosaic],
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                user_flip=0,
                use_auto_wb=False,
                **wb,
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
