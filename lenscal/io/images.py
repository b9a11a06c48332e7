"""Non-RAW images: 16-bit TIFF (tifffile) and PNG/JPEG (OpenCV), read and written.

lenscal works in linear light. Files are sRGB-encoded unless lenscal's note says
``{"encoding": "linear"}`` (``--linear`` outputs: the XMP property ``lenscal:Note``, or
ImageDescription in files of earlier versions) or an embedded ICC profile says another colour
space (converted to linear sRGB primaries by lenscal.io.icc, or refused with the reason).

Every file's header is read and judged before any pixel is decoded (size within the pixel budget,
an RGB or grey colour model lenscal can read), so a 1 KB PNG declaring 30000x30000 pixels or a CMYK
TIFF is refused in one line instead of exhausting memory or giving wrong colours. PNG and JPEG
headers come from Pillow, which opens files lazily; the pixels from OpenCV (16-bit PNG, speed).
"""

from __future__ import annotations

import io
import json
import warnings
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from lenscal.errors import LenscalError, UnreadableFileError
from lenscal.io.atomic import atomic_path, write_bytes_atomic
from lenscal.io.icc import ProfileNotSupported, is_srgb, linear_icc, srgb_icc, to_linear_srgb
from lenscal.photo import Metadata
from lenscal.ui import quiet_c_stderr

MAX_PIXELS = 250_000_000  # refuse absurd declared sizes before allocating memory
MAX_FILE_BYTES = 2 * 2**30  # the largest RAW/TIFF photos are a few hundred MB
# linear float data is 0..1 (1 = white); values beyond this are another scale (0..255, 0..65535,
# garbage), not highlights, and would come out as a white frame
MAX_FLOAT_VALUE = 64.0
# PNG/JPEG colour models (Pillow's modes) that OpenCV decodes to grey or RGB(A) as they are
# Pillow's own bomb check (an error beyond twice this) set to lenscal's budget: lenscal checks the
# declared size itself, with the numbers in its message
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_PILLOW_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "I", "I;16", "I;16B", "I;16L", "I;16N"}
_TIFF_MODELS = {tifffile.PHOTOMETRIC.MINISBLACK: "grey", tifffile.PHOTOMETRIC.RGB: "RGB"}
_TIFF_MODEL_ADVICE = {
    tifffile.PHOTOMETRIC.SEPARATED: "a CMYK (print) TIFF",
    tifffile.PHOTOMETRIC.MINISWHITE: "an inverted-grey TIFF",
    tifffile.PHOTOMETRIC.PALETTE: "a palette TIFF",
    tifffile.PHOTOMETRIC.CFA: "a RAW mosaic (CFA) in a TIFF",
    tifffile.PHOTOMETRIC.LINEAR_RAW: "a linear RAW TIFF",
}


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> sRGB-encoded [0,1] (IEC 61966-2-1)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0,1] -> linear [0,1]."""
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


_LUT_BITS = 20


@lru_cache(maxsize=1)
def _srgb16_lut() -> np.ndarray:
    x = np.arange(1 << _LUT_BITS, dtype=np.float64) / ((1 << _LUT_BITS) - 1)
    return np.round(srgb_encode(x).astype(np.float64) * 65535).astype(np.uint16)


def srgb_encode16(linear: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> 16-bit sRGB codes, by a 2^20-entry table.

    The table is fine enough that the steepest part of the curve (slope 12.92 near black) stays
    within one 16-bit code of the exact value. Done in torch, which uses every core (numpy's
    lookup and pow() use one).
    """
    import torch

    lut = torch.from_numpy(_srgb16_lut().view(np.int16))  # torch has no uint16 indexing; same bits
    idx = torch.from_numpy(np.asarray(linear, np.float32)).clamp(0, 1)
    idx = idx.mul_(float((1 << _LUT_BITS) - 1)).add_(0.5).to(torch.int32)
    return lut[idx].numpy().view(np.uint16)


COMPRESSIONS = ("none", "deflate")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UnreadableFileError("no such file", path)
    if not path.is_file():
        raise UnreadableFileError("not a file", path)
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except PermissionError as e:
        raise UnreadableFileError("permission denied", path, "check the file's permissions") from e
    if size == 0:
        raise UnreadableFileError("empty file (0 bytes)", path, "copy it again from the card")
    if size > MAX_FILE_BYTES:
        raise UnreadableFileError(f"file is too large to be a photo ({size / 2**30:.1f} GiB)", path)


def _check_pixels(height: int, width: int, path: Path) -> None:
    """Refuse declared sizes no camera makes, before memory is allocated for them."""
    if height * width > MAX_PIXELS or min(height, width) < 8:
        raise UnreadableFileError(f"implausible image size {width}x{height}", path)


def _check_dtype(dtype: np.dtype, path: Path) -> None:
    if not (dtype in (np.uint8, np.uint16) or dtype.kind == "f"):
        raise UnreadableFileError(f"unsupported sample type {dtype}", path, "use 8/16-bit or float")


def _check_extent(page, path: Path) -> None:
    """A TIFF whose pixel data runs past the end of the file is truncated (header alone survived)."""
    ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
    if ends and max(ends) > path.stat().st_size:
        raise UnreadableFileError("TIFF is truncated (pixel data missing)", path, "copy the file again")


def _check_tiff_page(page, path: Path) -> None:
    """A TIFF page lenscal can read as a grey or RGB(A) photo: judged from its tags alone."""
    photometric = page.photometric
    jpeg_ycbcr = photometric == tifffile.PHOTOMETRIC.YCBCR and page.compression == tifffile.COMPRESSION.JPEG
    if photometric not in _TIFF_MODELS and not jpeg_ycbcr:
        what = _TIFF_MODEL_ADVICE.get(photometric, f"a TIFF with colour model {getattr(photometric, 'name', photometric)}")
        raise UnreadableFileError(f"{what}: lenscal reads RGB or grey images", path, "convert it to RGB")
    samples = int(page.samplesperpixel)
    allowed = (1,) if photometric == tifffile.PHOTOMETRIC.MINISBLACK else (3, 4)
    if samples not in allowed or int(getattr(page, "imagedepth", 1) or 1) > 1:
        raise UnreadableFileError(f"unsupported image layout {tuple(page.shape)}", path, "use an RGB image")
    _check_dtype(np.dtype(page.dtype), path)
    _check_pixels(int(page.imagelength), int(page.imagewidth), path)
    _check_extent(page, path)


def _pillow_header(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG or JPEG from its header, without decoding a pixel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, mode, (width, height) = im.format, im.mode, im.size
    except Image.DecompressionBombError as e:
        raise UnreadableFileError("implausible image size (more pixels than any camera makes)", path) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise UnreadableFileError("not a readable image (corrupt or unsupported)", path) from e
    if fmt not in ("PNG", "JPEG", "MPO"):
        raise UnreadableFileError(f"not a PNG or JPEG file (it is {fmt or 'unknown'})", path,
                                  "convert it to TIFF, PNG or JPEG")
    if mode == "CMYK":
        raise UnreadableFileError("a CMYK (print) JPEG: lenscal reads RGB or grey images", path, "convert it to RGB")
    if mode not in _PILLOW_MODES:
        raise UnreadableFileError(f"colour model {mode} is not supported", path, "convert it to RGB")
    _check_pixels(height, width, path)
    _check_ending(path, fmt)
    return height, width


# how a whole PNG / JPEG ends (the IEND chunk; the EOI marker, which entropy-coded data cannot
# contain), looked for near the end because some cameras append data after it
_ENDINGS = {"PNG": b"IEND", "JPEG": b"\xff\xd9", "MPO": b"\xff\xd9"}
_TAIL = 1 << 20


def _check_ending(path: Path, fmt: str) -> None:
    """A file cut short (a copy that stopped) has lost its end: found without decoding a pixel."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - _TAIL))
        tail = f.read()
    if _ENDINGS[fmt] not in tail:
        raise UnreadableFileError(f"{fmt} file is truncated (its end is missing)", path, "copy the file again")


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header alone, after checking lenscal can read the file."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                _check_tiff_page(page, path)
                return int(page.imagelength), int(page.imagewidth)
        except UnreadableFileError:
            raise
        except Exception as e:
            raise UnreadableFileError(f"not a readable TIFF ({type(e).__name__})", path) from e
    return _pillow_header(path)


def _read_cv2(path: Path, size: tuple[int, int]) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    try:
        with quiet_c_stderr():
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    except cv2.error as e:  # OpenCV's allocation failures and decoder errors
        raise UnreadableFileError("image cannot be decoded (corrupt, or too large for the memory)", path) from e
    if img is None:
        raise UnreadableFileError("not a readable image (corrupt or unsupported)", path)
    if img.shape[:2] != tuple(size):
        raise UnreadableFileError("image data does not match its header (corrupt)", path)
    return img


def _check_float(img: np.ndarray, path: Path) -> None:
    """Float data must be finite and on lenscal's 0..1 scale, or the result is silently wrong."""
    finite = np.isfinite(img)
    if not finite.all():
        raise UnreadableFileError(f"float image holds {int((~finite).sum())} NaN or infinite values", path,
                                  "repair or re-export it")
    top = float(img.max(initial=0.0))
    if top > MAX_FLOAT_VALUE:
        raise UnreadableFileError(f"float values reach {top:.3g}: lenscal reads linear data scaled 0..1", path,
                                  "rescale it to 0..1 or save it as 16-bit")


def _to_rgb(img: np.ndarray, path: Path, bgr: bool) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise UnreadableFileError(f"unsupported image layout {img.shape}", path, "use an RGB image")
    img = img[..., :3]
    if bgr:
        img = img[..., ::-1]
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype.kind == "f":
        _check_float(img, path)
        return np.clip(img.astype(np.float32), 0, None)
    raise UnreadableFileError(f"unsupported sample type {img.dtype}", path, "use 8/16-bit or float")


def _read_tiff(path: Path) -> tuple[np.ndarray, dict, bytes | None]:
    """Pixels, lenscal's note and the embedded ICC profile of a TIFF's first page."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            _check_tiff_page(page, path)
            note = _tiff_note(page)
            icc = page.iccprofile
            img = page.asarray()
            if page.axes.startswith("S"):  # planar (one plane per colour): to (H, W, S)
                img = np.moveaxis(img, 0, -1)
    except UnreadableFileError:
        raise
    except MemoryError:
        raise
    except Exception as e:
        raise UnreadableFileError(f"not a readable TIFF ({type(e).__name__})", path) from e
    if img.dtype.kind == "f":
        note.setdefault("encoding", "linear")
    return img, note, icc


def read_image(path: Path) -> tuple[np.ndarray, dict]:
    """Linear float32 (H, W, 3) pixels and lenscal's note (if any) of a TIFF/PNG/JPEG.

    Integer files are taken as sRGB-encoded unless lenscal's note says linear; float TIFFs are
    read as they are (0..1), clipped at 0.
    """
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        img, note, icc = _read_tiff(path)
        rgb = _to_rgb(img, path, bgr=False)
    else:
        note = {}
        rgb = _to_rgb(_read_cv2(path, _pillow_header(path)), path, bgr=True)
        icc = _embedded_icc(path)
    if note.get("encoding") == "linear":
        pixels = rgb
    elif icc and not note and not is_srgb(icc):
        try:
            pixels = to_linear_srgb(rgb, icc)
        except ProfileNotSupported as e:
            raise UnreadableFileError(str(e), path, "convert it to sRGB, Adobe RGB or ProPhoto RGB first") from e
    else:
        pixels = srgb_decode(rgb)
    return np.ascontiguousarray(pixels, dtype=np.float32), note


def _tiff_note(page) -> dict:
    """lenscal's note of a TIFF page: XMP ``lenscal:Note``, else (earlier versions) ImageDescription."""
    from lenscal.io.exif import note_from_xmp

    xmp = page.tags.get(700)
    note = note_from_xmp(xmp.value) if xmp is not None else {}
    if note:
        return note
    try:
        old = json.loads(page.description or "{}").get("lenscal", {})
    except (ValueError, AttributeError, RecursionError):
        return {}
    return old if isinstance(old, dict) else {}


def _embedded_icc(path: Path) -> bytes | None:
    """The ICC profile embedded in a PNG or JPEG (exiv2 reads both), or None."""
    from lenscal.io.exif import embedded_icc

    return embedded_icc(path)


def write_tiff(path: Path, linear: np.ndarray, meta: Metadata, *, linear_output: bool = False,
               note: dict | None = None, overwrite: bool = True, source: Path | None = None,
               compress: str = "none") -> None:
    """Write a 16-bit RGB TIFF atomically, with the photo's metadata.

    sRGB-encoded with the sRGB ICC profile, or linear with the linear sRGB profile. ``source``
    is the photo the pixels came from: its EXIF, GPS, XMP (and sidecar) and IPTC metadata are
    copied (lenscal.io.exif); ``meta`` fills what the file does not say. ``compress="deflate"``
    writes Adobe Deflate (zlib) strips with the horizontal predictor: lossless, a fifth or so
    smaller on 16-bit photos (LZW, the baseline TIFF alternative, makes them larger). Deflate is
    not baseline TIFF: raw editors read it, strict validators (ExifTool's) flag it.
    """
    from lenscal import __version__
    from lenscal.io.exif import write_metadata

    if compress not in COMPRESSIONS:
        raise LenscalError(f"unknown compression '{compress}'", hint="use none or deflate")
    data = np.round(np.clip(linear, 0, 1) * 65535.0).astype(np.uint16) if linear_output else srgb_encode16(linear)
    info = {"encoding": "linear" if linear_output else "srgb", "version": __version__, **(note or {})}
    packing = {"compression": "zlib", "predictor": True} if compress == "deflate" else {"compression": None}
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data, photometric="rgb", metadata=None, software=f"lenscal {__version__}",
                         iccprofile=linear_icc() if linear_output else srgb_icc(), **packing)
        del data  # exiv2 rewrites the file in memory: keep the peak down on big photos
        write_metadata(tmp, source, meta, info, kind="tiff", linear=linear_output)


def encode_picture(rgb8: np.ndarray, fmt: str, note: dict, quality: int = 92) -> bytes:
    """An 8-bit RGB picture as PNG or JPEG bytes carrying lenscal's note (a PNG text chunk, a JPEG
    comment), so lenscal knows it as its own output later (io.outputs.lenscal_note)."""
    from lenscal import __version__

    text = json.dumps({"lenscal": {"version": __version__, **note}})
    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(rgb8, dtype=np.uint8), "RGB")
    if fmt.lower().lstrip(".") in ("jpg", "jpeg"):
        img.save(buf, "JPEG", quality=quality, comment=text.encode())
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("lenscal", text)
        img.save(buf, "PNG", pnginfo=info, compress_level=3)
    return buf.getvalue()


def write_preview(path: Path, linear: np.ndarray, quality: int = 92, overwrite: bool = True,
                  note: dict | None = None) -> None:
    """An 8-bit sRGB PNG or JPEG, for looking at (not for editing)."""
    path = Path(path)
    rgb8 = np.round(srgb_encode(linear) * 255).astype(np.uint8)
    data = encode_picture(rgb8, path.suffix, {"command": "preview", **(note or {})}, quality)
    write_bytes_atomic(path, data, overwrite=overwrite)
