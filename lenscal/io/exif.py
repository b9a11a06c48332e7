"""Copying a photo's metadata (EXIF, GPS, XMP, IPTC, maker notes) into lenscal's outputs.

Written with libexiv2 (the ``exiv2`` package, python-exiv2) after the pixels are written, so each
tag goes where the standards put it and editors look for it: exposure facts in the Exif IFD,
position in the GPS IFD, rating, keywords and captions in XMP and IPTC, camera, orientation,
artist and copyright in IFD0. exiv2 copies whole typed entries (maker notes included) instead of
lenscal rebuilding tags by number.

What is not copied, and why:
- the source's image structure (sizes, strips, compression, thumbnails, preview IFDs, Bayer and
  DNG calibration tags): the output has its own;
- JPEG-only EXIF fields that a TIFF must not carry (ComponentsConfiguration, PixelX/YDimension,
  the interoperability IFD that claims a DCF sRGB file);
- editing instructions of raw editors (Adobe ``crs:``, darktable) and XMP's document history:
  they describe edits of the raw file, not of this new one.

lenscal's own note (JSON: encoding, profile, strength...) is the XMP property ``lenscal:Note``;
files of earlier versions carry it in ImageDescription, and :func:`note_from_xmp` and the readers
accept both.
"""

from __future__ import annotations

import contextlib
import json
import re
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from lenscal.photo import Metadata

NS = "http://lenscal.org/ns/xmp/1.0/"  # an identifier only (XMP namespaces need not resolve)
PREFIX = "lenscal"

# IFD0 tags that describe the photo (not the image structure): copied.
IFD0_KEEP = {"Make", "Model", "Orientation", "DateTime", "Artist", "Copyright", "ImageDescription", "Rating",
             "RatingPercent", "XPTitle", "XPComment", "XPAuthor", "XPKeywords", "XPSubject", "HostComputer"}
# DNG colour tags of a DNG source: they describe its camera space, which a linear DNG output keeps.
DNG_COLOUR = {"UniqueCameraModel", "LocalizedCameraModel", "CameraSerialNumber", "LensInfo",
              "ColorMatrix1", "ColorMatrix2", "ColorMatrix3", "CameraCalibration1", "CameraCalibration2",
              "CameraCalibration3", "ReductionMatrix1", "ReductionMatrix2", "AnalogBalance",
              "BaselineExposure", "BaselineNoise", "BaselineExposureOffset", "LinearResponseLimit",
              "CalibrationIlluminant1", "CalibrationIlluminant2", "CalibrationIlluminant3",
              "ForwardMatrix1", "ForwardMatrix2", "ForwardMatrix3", "CameraCalibrationSignature",
              "ProfileCalibrationSignature", "ProfileName", "ProfileHueSatMapDims", "ProfileHueSatMapData1",
              "ProfileHueSatMapData2", "ProfileHueSatMapEncoding", "ProfileToneCurve", "ProfileEmbedPolicy",
              "ProfileCopyright", "ProfileLookTableDims", "ProfileLookTableData", "ProfileLookTableEncoding",
              "DefaultBlackRender", "AsShotProfileName"}
PHOTO_DROP = {"PixelXDimension", "PixelYDimension", "ComponentsConfiguration", "CompressedBitsPerPixel",
              "InteroperabilityTag", "ColorSpace"}
NOT_COPIED_GROUPS = {"Thumbnail", "Iop"}  # plus Image2, SubImage1... (see _copied)
XMP_DROP_PREFIXES = ("Xmp.crs.", "Xmp.darktable.", "Xmp.xmpMM.", "Xmp.lenscal.", "Xmp.tiff.",
                     "Xmp.photoshop.SidecarForExtension", "Xmp.exif.PixelXDimension", "Xmp.exif.PixelYDimension",
                     "Xmp.exif.ColorSpace", "Xmp.exif.NativeDigest", "Xmp.exif.ComponentsConfiguration")
XMP_KEEP_TIFF = {"Xmp.tiff.Artist", "Xmp.tiff.Copyright", "Xmp.tiff.ImageDescription"}
# What the raw editors read from a linear DNG lenscal corrected: Lightroom / Camera Raw apply
# the crs: settings of a DNG's own XMP when it is imported. Capture sharpening off (the blur
# is removed already) and no automatic lateral colour correction (lenscal's PSFs include it).
DNG_CRS = {"Xmp.crs.Sharpness": "0", "Xmp.crs.AutoLateralCA": "0"}


@lru_cache(maxsize=1)
def _exiv2():
    """The exiv2 module, quiet, with lenscal's XMP namespace registered (once)."""
    import exiv2

    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.error)  # exiv2's own warnings are not the user's business
    with contextlib.suppress(Exception):
        exiv2.XmpProperties.registerNs(NS, PREFIX)
    return exiv2


def _open(path: Path):
    """An exiv2 image with its metadata read, or None when exiv2 cannot read that file."""
    exiv2 = _exiv2()
    try:
        image = exiv2.ImageFactory.open(str(path))
        image.readMetadata()
        return image
    except Exception:  # exiv2.Exiv2Error and friends: a file exiv2 does not know has no metadata for us
        return None


def sidecars(source: Path) -> list[Path]:
    """XMP sidecar files of a photo (``IMG_1.xmp`` from Lightroom, ``IMG_1.CR2.xmp`` from darktable)."""
    found = []
    for candidate in (source.with_suffix(".xmp"), source.with_suffix(".XMP"),
                      source.with_name(source.name + ".xmp"), source.with_name(source.name + ".XMP")):
        if candidate.is_file() and candidate.resolve() not in {p.resolve() for p in found}:
            found.append(candidate)
    return found


def _is_lenscal_note(text: str) -> bool:
    """An ImageDescription that is lenscal's note of an earlier version (not a caption to keep)."""
    try:
        note = json.loads(text)
    except ValueError:
        return False
    return isinstance(note, dict) and "lenscal" in note


def _copied(datum, dng_source: bool, dng_target: bool) -> bool:
    """Whether one source EXIF entry belongs in the output."""
    group, name = datum.groupName(), datum.tagName()
    if group in NOT_COPIED_GROUPS or re.fullmatch(r"(Image|SubImage|SubThumb)\d+", group):
        return False
    if group == "Image":
        if name in DNG_COLOUR:
            return dng_source and dng_target
        if name == "ImageDescription":
            return not _is_lenscal_note(str(datum.toString()))
        return name in IFD0_KEEP
    if group == "Photo":
        return name not in PHOTO_DROP
    return True  # GPSInfo, MakerNote and the decoded maker-note groups


def _erase(exif, key: str) -> None:
    found = exif.findKey(_exiv2().ExifKey(key))
    if found != exif.end():  # erasing end() would crash libexiv2
        exif.erase(found)


def _set_if_missing(exif, key: str, value) -> None:
    exiv2 = _exiv2()
    if exif.findKey(exiv2.ExifKey(key)) == exif.end():
        exif[key] = value


def _rational(value: float, den: int = 1000) -> str:
    if 0 < value < 1 and abs(1 / value - round(1 / value)) < 1e-3:
        return f"1/{round(1 / value)}"
    return f"{round(value * den)}/{den}"


def _fill_from_metadata(exif, meta: Metadata) -> None:
    """Facts lenscal knows although the file's EXIF may not say them (rawpy reads Canon's lens
    from its maker note; a PNG has no EXIF at all): written where they belong, if absent."""
    for key, value in (("Exif.Image.Make", meta.make), ("Exif.Image.Model", meta.model),
                       ("Exif.Photo.LensMake", meta.lens_make), ("Exif.Photo.LensModel", meta.lens_model),
                       ("Exif.Photo.DateTimeOriginal", meta.datetime)):
        if value:
            _set_if_missing(exif, key, str(value))
    if meta.exposure_time:
        _set_if_missing(exif, "Exif.Photo.ExposureTime", _rational(meta.exposure_time))
    if meta.f_number:
        _set_if_missing(exif, "Exif.Photo.FNumber", _rational(meta.f_number, 100))
    if meta.focal_length:
        _set_if_missing(exif, "Exif.Photo.FocalLength", _rational(meta.focal_length, 100))
    if meta.iso:
        _set_if_missing(exif, "Exif.Photo.ISOSpeedRatings", str(int(min(meta.iso, 65535))))
    if meta.orientation and meta.orientation != 1:
        _set_if_missing(exif, "Exif.Image.Orientation", str(int(meta.orientation)))
    if meta.sensor_width_mm and meta.width:  # pixels per cm of this image's width on the sensor
        _set_if_missing(exif, "Exif.Photo.FocalPlaneXResolution", _rational(meta.width / (meta.sensor_width_mm / 10)))
        _set_if_missing(exif, "Exif.Photo.FocalPlaneResolutionUnit", "3")
    if meta.focal_length_35mm:
        _set_if_missing(exif, "Exif.Photo.FocalLengthIn35mmFilm", str(int(round(meta.focal_length_35mm))))


def write_camera_exif(target: Path, meta: Metadata) -> None:
    """The camera's EXIF (exposure, lens, time, sensor size) written where it belongs, in the Exif
    IFD of a raw file lenscal made (``write_dng``, whose TIFF writer has only IFD0)."""
    out = _open(target)
    if out is None:
        raise OutputError("cannot write metadata (exiv2 cannot open the file)", target)
    exif = out.exifData()
    _fill_from_metadata(exif, meta)
    _exif_version(exif)
    out.setExifData(exif)
    try:
        out.writeMetadata()
    except Exception as e:
        raise OutputError(f"cannot write metadata ({type(e).__name__})", target) from e


def _has_group(exif, group: str) -> bool:
    return any(d.groupName() == group for d in exif)


def _exif_version(exif) -> None:
    """EXIF 2.3 at least: lens make/model (filled from rawpy for Canon files, whose EXIF 2.21 keeps
    the lens in the maker note) are EXIF 2.3 fields."""
    exiv2 = _exiv2()
    if not _has_group(exif, "Photo"):
        return
    found = exif.findKey(exiv2.ExifKey("Exif.Photo.ExifVersion"))
    version = bytes(int(x) for x in str(found.toString()).split()).decode("latin-1") if found != exif.end() else ""
    if not re.fullmatch(r"\d{4}", version) or version < "0230":
        exif["Exif.Photo.ExifVersion"] = "48 50 51 48"  # "0230"


def _tiff_rules(exif, linear: bool) -> None:
    """What a TIFF's Exif and GPS IFDs must hold (the EXIF spec, as exiftool -validate checks)."""
    exiv2 = _exiv2()
    if _has_group(exif, "Photo"):
        _set_if_missing(exif, "Exif.Photo.FlashpixVersion", "48 49 48 48")  # "0100"
        exif["Exif.Photo.ColorSpace"] = str(0xFFFF if linear else 1)  # 0xFFFF: uncalibrated (the ICC says)
    if _has_group(exif, "GPSInfo"):
        version = exif.findKey(exiv2.ExifKey("Exif.GPSInfo.GPSVersionID"))
        numbers = [int(x) for x in str(version.toString()).split()] if version != exif.end() else []
        if numbers[:2] < [2, 2]:  # GPSProcessingMethod (below) is a 2.2 field
            exif["Exif.GPSInfo.GPSVersionID"] = "2 2 0 0"
        # Required in a TIFF's GPS IFD; a position in a RAW file comes from the camera's receiver.
        _set_if_missing(exif, "Exif.GPSInfo.GPSProcessingMethod", "charset=Ascii GPS")


def _xmp_merged(sources: list) -> dict[str, object]:
    """XMP data of the photo and its sidecars (later ones win), less the raw editors' edits."""
    merged: dict[str, object] = {}
    for image in sources:
        if image is None:
            continue
        for datum in image.xmpData():
            key = datum.key()
            if key.startswith(XMP_DROP_PREFIXES) and key not in XMP_KEEP_TIFF:
                continue
            merged[key] = datum
    return merged


def note_xmp_fields(note: dict) -> dict[str, str]:
    """lenscal's XMP properties: the JSON note, and a few plain fields for people and catalogues."""
    fields = {f"Xmp.{PREFIX}.Note": json.dumps(note, sort_keys=True), f"Xmp.{PREFIX}.Version": str(note.get("version", ""))}
    if "profile" in note:
        fields[f"Xmp.{PREFIX}.Deconvolved"] = "True"
        fields[f"Xmp.{PREFIX}.Profile"] = str(note["profile"])
        fields[f"Xmp.{PREFIX}.Strength"] = f"{note.get('strength', 1.0):g}"
    fields[f"Xmp.{PREFIX}.Encoding"] = str(note.get("encoding", ""))
    return fields


def write_metadata(target: Path, source: Path | None, meta: Metadata, note: dict, *, kind: str,
                   linear: bool = True) -> None:
    """Copy ``source``'s metadata into the freshly written ``target`` (a TIFF or DNG lenscal owns).

    ``kind`` is ``"tiff"`` or ``"dng"``; ``linear`` says a TIFF holds linear values (it then
    carries the linear ICC profile, and EXIF ColorSpace says uncalibrated). Raises
    :class:`OutputError` when exiv2 cannot write the output (the caller's temporary file).
    """
    from lenscal.errors import OutputError

    exiv2 = _exiv2()
    out = _open(target)
    if out is None:
        raise OutputError("cannot add metadata (exiv2 cannot read the file just written)", target)
    src = _open(source) if source is not None else None
    exif = out.exifData()
    if src is not None:
        dng_source = src.mimeType() == "image/x-adobe-dng" or (source is not None and source.suffix.lower() == ".dng")
        for datum in src.exifData():
            if _copied(datum, dng_source, kind == "dng"):
                _erase(exif, datum.key())  # the source's own (a DNG's full colour set) replaces lenscal's
                exif.add(datum)
    _fill_from_metadata(exif, meta)
    if meta.datetime:  # the photo's time, not the clock's: the same photo gives the same file
        _set_if_missing(exif, "Exif.Image.DateTime", str(meta.datetime))
    _exif_version(exif)
    if kind == "tiff":
        _tiff_rules(exif, linear)
    side = [_open(p) for p in sidecars(source)] if source is not None else []
    xmp = exiv2.XmpData()
    for key, datum in _xmp_merged([src, *side]).items():
        xmp.add(datum)
    for key, value in note_xmp_fields(note).items():
        xmp[key] = value
    if kind == "dng":
        for key, value in DNG_CRS.items():
            xmp[key] = value
    iptc = src.iptcData() if src is not None else exiv2.IptcData()
    out.setExifData(exif)
    out.setXmpData(xmp)
    out.setIptcData(iptc)
    try:
        out.writeMetadata()
        return
    except Exception:  # a maker note exiv2 cannot re-encode must not cost the photo the rest
        pass
    out = _open(target)
    plain = out.exifData()
    for datum in exif:
        if datum.groupName() in ("Image", "Photo", "GPSInfo") and datum.tagName() != "MakerNote" \
                and plain.findKey(exiv2.ExifKey(datum.key())) == plain.end():
            plain.add(datum)
    out.setExifData(plain)
    out.setXmpData(xmp)
    out.setIptcData(iptc)
    try:
        out.writeMetadata()
    except Exception as e:
        raise OutputError(f"cannot write metadata ({type(e).__name__})", target) from e


def note_from_xmp(packet: bytes | str | None) -> dict:
    """lenscal's note from an XMP packet (``{}`` when there is none or it is unreadable)."""
    if not packet:
        return {}
    text = packet.decode("utf-8", "replace") if isinstance(packet, (bytes, bytearray)) else str(packet)
    if NS not in text:
        return {}
    try:
        root = ElementTree.fromstring(text.strip().strip("\x00"))
    except ElementTree.ParseError:
        return {}
    tag = f"{{{NS}}}Note"
    for element in root.iter():
        value = element.attrib.get(tag)
        if value is None and element.tag == tag:
            value = element.text
        if value:
            try:
                note = json.loads(value)
            except ValueError:
                return {}
            return note if isinstance(note, dict) else {}
    return {}


def read_note(path: Path) -> dict:
    """lenscal's note in any file exiv2 reads (XMP ``lenscal:Note``), ``{}`` when there is none."""
    image = _open(Path(path))
    if image is None:
        return {}
    datum = image.xmpData().findKey(_exiv2().XmpKey(f"Xmp.{PREFIX}.Note"))
    if datum == image.xmpData().end():
        return {}
    try:
        note = json.loads(str(datum.toString()))
    except ValueError:
        return {}
    return note if isinstance(note, dict) else {}


def embedded_icc(path: Path) -> bytes | None:
    """The ICC profile embedded in an image file (JPEG, PNG, TIFF), or None."""
    image = _open(Path(path))
    if image is None or not image.iccProfileDefined():
        return None
    return bytes(image.iccProfile().data())
