"""ICC profiles: the linear profile lenscal embeds, and inputs in other colour spaces, checked
against LittleCMS (Pillow's ImageCms) as the independent reader."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile

from lenscal.errors import UnreadableFileError
from lenscal.io.icc import linear_icc, srgb_icc
from lenscal.io.images import read_image, srgb_encode

ImageCms = pytest.importorskip("PIL.ImageCms", reason="Pillow (the test extra) is not installed")
from PIL import Image  # noqa: E402

# Display P3's colorants adapted to D50 (as in Apple's Display P3 profile)
P3_D50 = ((0.515121, 0.241196, -0.001053), (0.291977, 0.692245, 0.041885), (0.157104, 0.066574, 0.784073))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(v * 65536)) for v in xyz)


def _profile(colorants, gamma: float, colour_space: bytes = b"RGB ", drop_trc: bool = False) -> bytes:
    """A matrix/shaper profile: the bundled sRGB profile with other colorants and a gamma curve."""
    src = srgb_icc()
    count = struct.unpack(">I", src[128:132])[0]
    tags = []
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", src[132 + 12 * i:144 + 12 * i])
        data = src[off:off + size]
        if sig in (b"rXYZ", b"gXYZ", b"bXYZ"):
            data = _xyz_tag(colorants[b"rgb".index(sig[:1])])
        elif sig in (b"rTRC", b"gTRC", b"bTRC"):
            if drop_trc:
                continue
            data = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
        tags.append((sig, data))
    pos = 132 + 12 * len(tags)
    table, blobs = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        table += struct.pack(">4sII", sig, pos, len(data))
        blobs += data + bytes((-len(data)) % 4)
        pos += len(data) + (-len(data)) % 4
    header = bytearray(src[:128])
    header[0:4] = struct.pack(">I", 128 + len(table) + len(blobs))
    header[16:20] = colour_space
    header[84:100] = bytes(16)
    return bytes(header) + table + blobs


def _littlecms_srgb(rgb8: np.ndarray, icc: bytes) -> np.ndarray:
    """What LittleCMS makes of 8-bit pixels in a profile: sRGB-encoded [0, 1]."""
    transform = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"),
                                        "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    return np.asarray(ImageCms.applyTransform(Image.fromarray(rgb8), transform), np.float32) / 255.0


def test_linear_profile_is_linear_srgb_for_littlecms():
    lin = ImageCms.ImageCmsProfile(io.BytesIO(linear_icc()))
    assert "Linear sRGB" in ImageCms.getProfileDescription(lin) and lin.profile.is_matrix_shaper
    values = np.arange(0, 256, 5, dtype=np.uint8)
    rgb8 = np.stack([values, values[::-1], np.full_like(values, 46)], -1)[None]
    got = _littlecms_srgb(rgb8, linear_icc())
    assert np.abs(got - srgb_encode(rgb8 / 255.0)).max() <= 1.5 / 255


def test_other_rgb_spaces_are_converted_like_littlecms(tmp_path, rng):
    p3 = _profile(P3_D50, 2.2)
    rgb8 = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    expected = _littlecms_srgb(rgb8, p3)
    tif = tmp_path / "p3.tif"
    tifffile.imwrite(tif, rgb8, photometric="rgb", iccprofile=p3, metadata=None)
    jpg = tmp_path / "p3.jpg"
    Image.fromarray(rgb8).save(jpg, quality=100, subsampling=0, icc_profile=p3)
    for path, tolerance in ((tif, 1.5 / 255), (jpg, 6 / 255)):
        linear, _ = read_image(path)
        got = srgb_encode(linear)
        reference = expected if path == tif else _littlecms_srgb(np.asarray(Image.open(jpg).convert("RGB")), p3)
        assert np.abs(got - reference).max() <= tolerance, path.name
    # and it is not read as sRGB: a saturated P3 red is far from the same numbers taken as sRGB
    naive = srgb_encode(read_image(tif)[0]) - rgb8 / 255.0
    assert np.abs(naive).max() > 0.05


def test_srgb_profile_reads_as_before(tmp_path, rng):
    rgb16 = (rng.random((16, 16, 3)) * 65535).astype(np.uint16)
    with_icc, without = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(with_icc, rgb16, photometric="rgb", iccprofile=srgb_icc(), metadata=None)
    tifffile.imwrite(without, rgb16, photometric="rgb", metadata=None)
    assert np.array_equal(read_image(with_icc)[0], read_image(without)[0])


@pytest.mark.parametrize("case", ["cmyk", "lut"])
def test_profiles_that_cannot_be_converted_are_refused_in_one_line(tmp_path, rng, case):
    icc = _profile(P3_D50, 2.2, colour_space=b"CMYK") if case == "cmyk" else _profile(P3_D50, 2.2, drop_trc=True)
    path = tmp_path / f"{case}.tif"
    tifffile.imwrite(path, (rng.random((16, 16, 3)) * 255).astype(np.uint8), photometric="rgb",
                     iccprofile=icc, metadata=None)
    with pytest.raises(UnreadableFileError) as e:
        read_image(path)
    line = e.value.one_line()
    assert "\n" not in line and path.name in line
    assert ("CMYK" in line) if case == "cmyk" else ("lookup-table" in line)
