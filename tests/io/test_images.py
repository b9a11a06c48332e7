from __future__ import annotations

import os
import subprocess

import exifread
import numpy as np
import pytest
import tifffile

from lenscal.errors import OutputError, UnreadableFileError
from lenscal.io.atomic import write_bytes_atomic
from lenscal.io.images import read_image, srgb_decode, srgb_encode, write_preview, write_tiff
from lenscal.photo import Metadata

META = Metadata(make="Panasonic", model="DC-GX9", lens_make="Panasonic", lens_model="Lumix G 25mm f/1.7 Asph.",
                f_number=16.0, focal_length=25.0, iso=200, exposure_time=1 / 30, datetime="2026:05:01 10:00:00")


def test_srgb_round_trip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(srgb_decode(srgb_encode(x)) - x).max() < 1e-5
    assert srgb_encode(np.float32(0.18)) == pytest.approx(0.4614, abs=1e-3)  # mid grey


@pytest.mark.parametrize("linear", [False, True])
def test_tiff_16bit_with_icc_and_exif_reads_back(tmp_path, rng, linear):
    img = rng.random((40, 60, 3)).astype(np.float32)
    path = tmp_path / "out.tif"
    write_tiff(path, img, META, linear_output=linear)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.shape == (40, 60, 3)
        icc = page.tags["InterColorProfile"].value  # sRGB, or linear sRGB for linear values
        assert ("Linear sRGB".encode("utf-16-be") in bytes(icc)) == linear
    back, note = read_image(path)
    assert note["encoding"] == ("linear" if linear else "srgb")
    assert np.abs(back - img).max() < 2e-4 if linear else np.abs(back - img).max() < 1e-3
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False)
    # camera in IFD0, exposure facts in the Exif IFD (where Lightroom and darktable read them)
    assert str(tags["Image Make"]) == "Panasonic" and str(tags["Image Model"]) == "DC-GX9"
    assert str(tags["EXIF LensModel"]) == "Lumix G 25mm f/1.7 Asph."
    assert str(tags["EXIF FNumber"]) == "16" and str(tags["EXIF FocalLength"]) == "25"
    assert str(tags["EXIF ISOSpeedRatings"]) == "200" and str(tags["EXIF ExposureTime"]) == "1/30"
    assert str(tags["EXIF DateTimeOriginal"]) == "2026:05:01 10:00:00"
    assert "Image FNumber" not in tags and "Image ExposureTime" not in tags
    assert str(tags["EXIF ColorSpace"]) == ("Uncalibrated" if linear else "sRGB")


def test_preview_png_and_jpeg(tmp_path, rng):
    img = rng.random((20, 30, 3)).astype(np.float32)
    for ext in (".png", ".jpg"):
        write_preview(tmp_path / f"p{ext}", img)
        back, _ = read_image(tmp_path / f"p{ext}")
        assert back.shape == (20, 30, 3)
    assert np.abs(read_image(tmp_path / "p.png")[0] - img).max() < 0.02


def test_unreadable_files_say_what(tmp_path):
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    for name, msg in (("empty.tif", "empty file"), ("junk.png", "not a readable image"), ("none.tif", "no such file")):
        with pytest.raises(UnreadableFileError, match=msg) as e:
            read_image(tmp_path / name)
        assert name in e.value.one_line()


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        from lenscal.io.atomic import atomic_path

        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    write_bytes_atomic(target, b"whole")
    with pytest.raises(OutputError, match="exists already"):
        write_bytes_atomic(target, b"again", overwrite=False)
    assert target.read_bytes() == b"whole"


@pytest.fixture
def full_disk(tmp_path):
    """A real 256 KiB filesystem (tmpfs); skipped where mounting is not allowed (non-root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_gives_clear_error_and_no_partial_file(full_disk, rng):
    img = rng.random((400, 400, 3)).astype(np.float32)  # ~1 MB as 16-bit TIFF: does not fit
    with pytest.raises(OutputError, match="disk full") as e:
        write_tiff(full_disk / "big.tif", img, META)
    assert e.value.exit_code != 0
    assert os.listdir(full_disk) == []


def test_srgb16_table_matches_exact_curve():
    from lenscal.io.images import srgb_encode16

    x = np.concatenate([np.linspace(0, 0.01, 20001), np.linspace(0, 1, 100001)]).astype(np.float32)
    exact = np.round(srgb_encode(x).astype(np.float64) * 65535)
    assert np.abs(srgb_encode16(x).astype(np.float64) - exact).max() <= 1
