"""Camera, lens and exposure metadata.

rawpy gives exposure facts but not make/model, and often no lens name (Canon keeps it in its
makernote), so EXIF is read with exifread and rawpy fills the gaps.
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import exifread

from lenscal.errors import UnreadableFileError
from lenscal.io.formats import is_raw
from lenscal.photo import Metadata

_TAGS = {
    "make": ("Image Make",),
    "model": ("Image Model",),
    "lens_make": ("EXIF LensMake", "Image LensMake"),
    "lens_model": ("EXIF LensModel", "Image LensModel", "MakerNote LensModel", "MakerNote LensType"),
    "f_number": ("EXIF FNumber", "Image FNumber"),
    "focal_length": ("EXIF FocalLength", "Image FocalLength"),
    "iso": ("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "EXIF PhotographicSensitivity"),
    "exposure_time": ("EXIF ExposureTime", "Image ExposureTime"),
    "datetime": ("EXIF DateTimeOriginal", "Image DateTimeOriginal", "Image DateTime"),
    "orientation": ("Image Orientation",),
    "focal_length_35mm": ("EXIF FocalLengthIn35mmFilm", "Image FocalLengthIn35mmFilm"),
    "_plane_resolution": ("EXIF FocalPlaneXResolution", "Image FocalPlaneXResolution"),
    "_plane_unit": ("EXIF FocalPlaneResolutionUnit", "Image FocalPlaneResolutionUnit"),
    "_plane_width": ("EXIF ExifImageWidth", "Image ExifImageWidth"),
}
_NUMERIC = {"f_number", "focal_length", "iso", "exposure_time", "focal_length_35mm", "_plane_resolution",
            "_plane_unit", "_plane_width"}
# EXIF FocalPlaneResolutionUnit: mm per unit (2 inch, 3 cm, 4 mm, 5 um; 1 "none" is read as inches,
# as EXIF's readers do)
_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
# exifread logs its findings ("PNG file does not have exif data") as warnings on stderr, where
# only lenscal's one-line messages belong
logging.getLogger("exifread").setLevel(logging.ERROR)


def _number(tag) -> float | None:
    try:
        value = tag.values[0] if isinstance(tag.values, list) else tag.values
        if hasattr(value, "num"):
            return float(Fraction(value.num, value.den)) if value.den else None
        return float(value)
    except (ValueError, TypeError, IndexError, ZeroDivisionError):
        return None


def _text(tag) -> str:
    text = str(tag).strip().strip("\x00").strip()
    return "" if text.lower() in ("", "n/a", "unknown", "none") else text


def read_exif(path: Path) -> dict:
    """The metadata fields exifread finds; an empty dict when the file has no EXIF."""
    try:
        with open(path, "rb") as f:
            tags = exifread.process_file(f, details=True, debug=False)
    except OSError as e:
        raise UnreadableFileError(f"cannot read file: {e.strerror or e}", path) from e
    except Exception:  # exifread raises many things on odd files; metadata is optional there
        return {}
    out: dict = {}
    for field, names in _TAGS.items():
        for name in names:
            if name not in tags:
                continue
            tag = tags[name]
            if field in _NUMERIC:
                value = _number(tag)
                if value is not None and value > 0:
                    out[field] = value
                    break
            elif field == "orientation":
                out[field] = int(tag.values[0]) if tag.values else 1
                break
            else:
                text = _text(tag)
                if text:
                    out[field] = text
                    break
    desc = tags.get("Image ImageDescription")
    if desc is not None:
        try:
            note = json.loads(str(desc))
            if isinstance(note, dict) and isinstance(note.get("lenscal"), dict):
                out["lenscal"] = note["lenscal"]
        except ValueError:
            pass
    return out


def metadata_from_raw(path: Path, raw) -> Metadata:
    """Merge EXIF with what an open ``rawpy.RawPy`` knows (rawpy wins on exposure numbers)."""
    exif = read_exif(path)
    other, lens, sizes = raw.other, raw.lens, raw.sizes
    fields = dict(exif)
    for field, value in (
        ("f_number", other.aperture),
        ("focal_length", other.focal_length),
        ("iso", other.iso_speed),
        ("exposure_time", other.shutter_speed),
    ):
        if value and value > 0 and field not in fields:
            fields[field] = float(value)
    if lens.model and "lens_model" not in fields:
        fields["lens_model"] = lens.model.strip()
    if lens.make and "lens_make" not in fields:
        fields["lens_make"] = lens.make.strip()
    if not fields.get("datetime") and other.timestamp and other.timestamp.year > 1970:
        fields["datetime"] = other.timestamp.strftime("%Y:%m:%d %H:%M:%S")
    fields.pop("lenscal", None)
    return Metadata(width=int(sizes.width), height=int(sizes.height), raw=True, **_clean(fields, int(sizes.width)))


def metadata_from_image(path: Path, height: int, width: int) -> Metadata:
    exif = read_exif(path)
    extra = {"lenscal": exif.pop("lenscal")} if "lenscal" in exif else {}
    return Metadata(width=width, height=height, raw=False, extra=extra, **_clean(exif, width))


def sensor_width_mm(fields: dict, width: int) -> float | None:
    """The frame's width on the sensor from EXIF's focal-plane resolution (pixels per unit of an
    image ``ExifImageWidth`` wide, else as wide as the file's own image); None when not said."""
    resolution, unit = fields.get("_plane_resolution"), _UNIT_MM.get(int(fields.get("_plane_unit", 2)))
    reference = fields.get("_plane_width") or width
    if not (resolution and unit and reference):
        return None
    return reference / resolution * unit


def _clean(fields: dict, width: int) -> dict:
    allowed = set(Metadata.__dataclass_fields__) - {"width", "height", "raw", "extra", "sensor_width_mm"}
    return {**{k: v for k, v in fields.items() if k in allowed}, "sensor_width_mm": sensor_width_mm(fields, width)}


def read_metadata(path: Path) -> Metadata:
    """Metadata without developing the pixels (fast: used to scan whole shoots)."""
    from lenscal.io.raw import open_raw  # local: raw imports this module
    from lenscal.io.images import image_size

    path = Path(path)
    if is_raw(path):
        with open_raw(path) as raw:
            return metadata_from_raw(path, raw)
    height, width = image_size(path)
    return metadata_from_image(path, height, width)
