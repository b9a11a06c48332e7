"""The photo's metadata in lenscal's outputs, read back by independent readers.

A small real DNG gets rich metadata (GPS, XMP rating and keywords, IPTC, artist, copyright,
orientation, exposure program, flash) written into it with libexiv2, plus a Lightroom-style XMP
sidecar; ``lenscal correct`` turns it into a TIFF and a linear DNG, which are read back with
exiv2 (always), rawpy (the DNG as a raw file) and exiftool (``-validate``, when it is on PATH).
The same for the real Canon CR2 of ../shared when it is present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.conftest import SHARED, make_dng, needs_shared, run_cli

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not on PATH (the exiv2 checks still run)")
CR2 = SHARED / "raw" / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.CR2"


def _exiv2(path: Path):
    import exiv2

    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    return image


def _tags(path: Path) -> dict[str, str]:
    """Every EXIF, XMP and IPTC entry of a file, key -> text (repeated IPTC keys joined by '|')."""
    image = _exiv2(path)
    out: dict[str, str] = {}
    for data in (image.exifData(), image.xmpData(), image.iptcData()):
        for d in data:
            key, text = d.key(), str(d.toString())
            out[key] = f"{out[key]}|{text}" if key in out and key.startswith("Iptc.") else text
    return out


def _num(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def _enrich(path: Path) -> None:
    """What a photographer's file carries beyond the basics: written with libexiv2 itself."""
    image = _exiv2(path)
    exif, xmp, iptc = image.exifData(), image.xmpData(), image.iptcData()
    exif["Exif.Image.Orientation"] = "6"
    exif["Exif.Image.Artist"] = "Jane Doe"
    exif["Exif.Image.Copyright"] = "(c) 2026 Jane Doe"
    exif["Exif.Photo.ExposureProgram"] = "3"
    exif["Exif.Photo.Flash"] = "16"
    exif["Exif.Photo.ExifVersion"] = "48 50 51 50"
    exif["Exif.GPSInfo.GPSVersionID"] = "2 3 0 0"
    exif["Exif.GPSInfo.GPSLatitudeRef"] = "N"
    exif["Exif.GPSInfo.GPSLatitude"] = "48/1 51/1 2400/100"
    exif["Exif.GPSInfo.GPSLongitudeRef"] = "E"
    exif["Exif.GPSInfo.GPSLongitude"] = "2/1 21/1 300/100"
    xmp["Xmp.xmp.Rating"] = "4"
    xmp["Xmp.dc.subject"] = "bridge"
    xmp["Xmp.crs.Exposure2012"] = "+1.00"  # an edit of the raw: must not follow into the outputs
    iptc["Iptc.Application2.Keywords"] = "bridge"
    iptc["Iptc.Application2.Copyright"] = "(c) 2026 Jane Doe"
    iptc["Iptc.Application2.Byline"] = "Jane Doe"
    image.setExifData(exif)
    image.setXmpData(xmp)
    image.setIptcData(iptc)
    image.writeMetadata()


@pytest.fixture(scope="module")
def corrected(tmp_path_factory) -> dict[str, Path]:
    """A rich-metadata DNG (with a sidecar) corrected to TIFF, deflate TIFF and linear DNG."""
    root = tmp_path_factory.mktemp("meta")
    src = make_dng(root / "IMG_0001.dng", size=(128, 192), seed=3)
    _enrich(src)
    (root / "IMG_0001.xmp").write_text(  # Lightroom keeps a raw file's later rating/label here
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Label="Red"/>'
        "</rdf:RDF></x:xmpmeta>")
    outs = {}
    for name, args in (("deflate", ["--compress", "deflate"]), ("dng", ["--format", "dng"])):
        folder = root / name
        # the bundled profile by its library name; --force: it is for 768x512 photos
        r = run_cli("correct", src, "--profile", "demo_gx9_25mm_f16", "--force", "-o", folder, *args)
        assert r.returncode == 0, r.stderr
        outs[name] = next(folder.glob("IMG_0001_corrected.*"))
    from lenscal.correct.batch import CorrectOptions, correct_files
    from lenscal.library import resolve
    from lenscal.profile import LensProfile

    profile = LensProfile.load(resolve("demo_gx9_25mm_f16"))
    summary = correct_files([src], profile, root / "tiff", options=CorrectOptions(
        mismatch="ignore", profile_name="demo_gx9_25mm_f16.json"))
    outs["tiff"] = summary.results[0].outputs[0]
    outs["source"] = src
    return outs


@pytest.mark.parametrize("kind", ["tiff", "dng"])
def test_exif_gps_xmp_iptc_in_their_places(corrected, kind):
    tags = _tags(corrected[kind])
    # exposure facts in the Exif IFD (Exif.Photo), never in IFD0 (Exif.Image)
    assert tags["Exif.Photo.ExposureTime"] == "1/250" and _num(tags["Exif.Photo.FNumber"]) == 5.6
    assert tags["Exif.Photo.ISOSpeedRatings"] == "200" and _num(tags["Exif.Photo.FocalLength"]) == 25
    assert tags["Exif.Photo.DateTimeOriginal"] == "2026:05:01 10:00:00"
    assert tags["Exif.Photo.LensModel"] == "Lumix G 25mm f/1.7 Asph."
    assert tags["Exif.Photo.ExposureProgram"] == "3" and tags["Exif.Photo.Flash"] == "16"
    for name in ("ExposureTime", "FNumber", "ISOSpeedRatings", "DateTimeOriginal", "FocalLength", "LensModel"):
        assert f"Exif.Image.{name}" not in tags
    assert tags["Exif.Image.Make"] == "Panasonic" and tags["Exif.Image.Model"] == "DC-GX9"
    assert tags["Exif.Image.Orientation"] == "6"
    assert tags["Exif.Image.Artist"] == "Jane Doe" and tags["Exif.Image.Copyright"] == "(c) 2026 Jane Doe"
    assert tags["Exif.GPSInfo.GPSLatitude"] == "48/1 51/1 2400/100" and tags["Exif.GPSInfo.GPSLongitudeRef"] == "E"
    assert tags["Xmp.xmp.Rating"] == "4" and tags["Xmp.dc.subject"] == "bridge"
    assert tags["Xmp.xmp.Label"] == "Red"  # from the sidecar
    assert not any(k.startswith("Xmp.crs.Exposure") for k in tags)  # the raw's edits stay behind
    assert tags["Iptc.Application2.Keywords"] == "bridge" and tags["Iptc.Application2.Byline"] == "Jane Doe"
    assert tags["Iptc.Application2.Copyright"] == "(c) 2026 Jane Doe"
    note = json.loads(tags["Xmp.lenscal.Note"])
    assert note["profile"] == "demo_gx9_25mm_f16.json" and note["corrected_from"] == "IMG_0001.dng"
    assert tags["Xmp.lenscal.Deconvolved"] == "True"
    assert "Exif.Image.ImageDescription" not in tags  # the caption field stays the photographer's


def test_tiff_reads_back_as_lenscal_output(corrected):
    from lenscal.io.images import read_image

    plain, note = read_image(corrected["tiff"])
    packed, _ = read_image(corrected["deflate"])
    assert note["encoding"] == "srgb" and plain.shape == (128, 192, 3)
    assert np.array_equal(plain, packed)  # lossless
    with tifffile.TiffFile(corrected["deflate"]) as tif:
        assert tif.pages[0].compression == 8 and tif.pages[0].predictor == 2
    assert corrected["deflate"].stat().st_size < corrected["tiff"].stat().st_size


def test_linear_dng_is_a_raw_file_in_camera_colour(corrected):
    import rawpy

    from lenscal.develop import load_photo
    from lenscal.io.images import read_image

    dng = corrected["dng"]
    with tifffile.TiffFile(dng) as tif:
        page = tif.pages[0]
        assert page.photometric == 34892 and page.samplesperpixel == 3 and page.dtype == np.uint16
        assert tuple(page.tags["DNGVersion"].value) == (1, 4, 0, 0)
    tags = _tags(dng)
    assert tags["Xmp.crs.Sharpness"] == "0" and tags["Xmp.crs.AutoLateralCA"] == "0"
    # the source DNG's own colour description, whose camera space the data keeps
    src_tags = _tags(corrected["source"])
    assert tags["Exif.Image.ColorMatrix1"] == src_tags["Exif.Image.ColorMatrix1"]
    assert tags["Exif.Image.UniqueCameraModel"] == src_tags["Exif.Image.UniqueCameraModel"]
    raw = rawpy.imread(str(dng))
    try:
        assert (raw.sizes.width, raw.sizes.height) == (192, 128)
        assert raw.camera_whitebalance[:3] == pytest.approx([1 / 0.52, 1.0, 1 / 0.71], rel=1e-3)
    finally:
        raw.close()
    # developed by lenscal as a raw file, it is the corrected TIFF's picture
    developed = load_photo(dng)[0].pixels
    tiff, _ = read_image(corrected["tiff"])
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(np.abs(developed[inner] - tiff[inner])) < 2e-3


@needs_exiftool
@pytest.mark.parametrize("kind", ["tiff", "dng"])
def test_exiftool_validate_has_no_warning(corrected, kind):
    r = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", str(corrected[kind])],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "Validate                        : OK", r.stdout


@needs_exiftool
def test_exiftool_validate_has_no_warning_for_a_simulated_raw(tmp_path):
    """What ``lenscal simulate`` writes: the camera's EXIF in the Exif IFD, not in IFD0."""
    path = make_dng(tmp_path / "sim.dng", sensor_width_mm=0.63, focal_length_35mm=50.0)
    r = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "Validate                        : OK", r.stdout


@needs_shared
def test_real_canon_cr2_metadata_in_tiff_and_dng(tmp_path):
    """244 tags in the CR2: exposure facts, maker notes and all reach both outputs, validated."""
    from lenscal.correct.batch import CorrectOptions, correct_files
    from lenscal.library import resolve
    from lenscal.profile import LensProfile

    profile = LensProfile.load(resolve("demo_gx9_25mm_f16"))
    before = len(_tags(CR2))
    for fmt in ("tiff", "dng"):
        # strength 0: the whole correct path but the deconvolution (8 MP, twice), which is not what
        # this test is about
        summary = correct_files([CR2], profile, tmp_path, options=CorrectOptions(
            mismatch="ignore", format=fmt, strength=0.0))
        assert summary.results[0].status == "done", summary.results[0].reason
        out = summary.results[0].outputs[0]
        tags = _tags(out)
        assert tags["Exif.Photo.ExposureTime"] == "1/400" and _num(tags["Exif.Photo.FNumber"]) == 22
        assert tags["Exif.Photo.ISOSpeedRatings"] == "640" and tags["Exif.Photo.ExposureProgram"] == "1"
        assert tags["Exif.Photo.LensModel"] == "EF-S18-55mm f/3.5-5.6"  # from Canon's maker note, via rawpy
        assert tags["Exif.Image.Model"] == "Canon EOS 30D" and "Exif.Canon.LensModel" in tags
        assert len(tags) >= before - 40  # the source's structure and thumbnails are not photo metadata
        if EXIFTOOL:
            r = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", str(out)], capture_output=True,
                               text=True, timeout=60)
            assert r.stdout.strip() == "Validate                        : OK", (fmt, r.stdout)
    import rawpy

    raw = rawpy.imread(str(tmp_path / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22_corrected.dng"))
    try:
        assert (raw.sizes.width, raw.sizes.height) == (3522, 2348)
        assert np.allclose(raw.rgb_xyz_matrix[:3], rawpy.imread(str(CR2)).rgb_xyz_matrix[:3], atol=1e-4)
    finally:
        raw.close()


def test_old_outputs_with_the_note_in_image_description_still_read_as_linear(tmp_path, rng):
    """Earlier versions kept lenscal's note in ImageDescription: such files still read as linear."""
    from lenscal.io.images import read_image

    img = rng.random((20, 30, 3)).astype(np.float32)
    path = tmp_path / "old.tif"
    tifffile.imwrite(path, np.round(img * 65535).astype(np.uint16), photometric="rgb", metadata=None,
                     description=json.dumps({"lenscal": {"encoding": "linear", "devignetted": True}}))
    back, note = read_image(path)
    assert note == {"encoding": "linear", "devignetted": True}
    assert np.abs(back - img).max() < 1e-4


def test_linear_dng_needs_a_raw_photo(corrected, tmp_path):
    """A TIFF has no camera space left: --format dng refuses it with the reason, per photo."""
    from lenscal.correct.batch import CorrectOptions, correct_files
    from lenscal.library import resolve
    from lenscal.profile import LensProfile

    profile = LensProfile.load(resolve("demo_gx9_25mm_f16"))
    summary = correct_files([corrected["tiff"]], profile, tmp_path, options=CorrectOptions(mismatch="ignore", format="dng"))
    result = summary.results[0]
    assert result.status == "failed" and "needs a RAW photo" in result.reason and "--format tiff" in result.reason
    assert list(tmp_path.iterdir()) == []
