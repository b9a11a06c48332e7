"""RAW development through rawpy, on DNGs we write and on real camera files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lenscal.io.dng import mosaic_from_rgb, write_dng
from lenscal.io.metadata import read_metadata
from lenscal.io.raw import develop_raw
from lenscal.photo import Metadata
from tests.conftest import SHARED, needs_shared

META = Metadata(make="Testmaker", model="Cam 1", lens_make="Testmaker", lens_model="Test 50mm f/2",
                f_number=8.0, focal_length=50.0, iso=400, exposure_time=1 / 125,
                datetime="2026:01:02 03:04:05")


def _dng(path, scene, black=512, white=16383, response=(0.5, 1.0, 0.7)):
    raw = mosaic_from_rgb(scene * np.asarray(response, np.float32))
    dn = np.clip(np.round(black + raw * (white - black)), 0, white).astype(np.uint16)
    write_dng(path, dn, META, black=black, white=white, as_shot_neutral=response)


def test_dng_metadata_round_trip(tmp_path):
    _dng(tmp_path / "a.dng", np.full((64, 96, 3), 0.2, np.float32))
    m = read_metadata(tmp_path / "a.dng")
    assert (m.make, m.model, m.lens_model) == ("Testmaker", "Cam 1", "Test 50mm f/2")
    assert m.f_number == pytest.approx(8.0) and m.focal_length == pytest.approx(50.0)
    assert m.iso == 400 and m.exposure_time == pytest.approx(1 / 125)
    assert m.datetime == "2026:01:02 03:04:05" and (m.width, m.height) == (96, 64) and m.raw


def test_develop_is_linear_and_white_balanced(tmp_path, rng):
    """Doubling the scene's exposure doubles the developed values; grey stays grey."""
    scene = (0.05 + 0.2 * rng.random((64, 96, 1))).astype(np.float32).repeat(3, axis=2)
    _dng(tmp_path / "x1.dng", scene)
    _dng(tmp_path / "x2.dng", 2 * scene)
    one, _ = develop_raw(tmp_path / "x1.dng", demosaic="linear")
    two, _ = develop_raw(tmp_path / "x2.dng", demosaic="linear")
    inner = (slice(4, -4), slice(4, -4))
    ratio = two[inner].mean() / one[inner].mean()
    assert ratio == pytest.approx(2.0, rel=0.01)
    # 1.0 means sensor white: the scene values come back
    assert one[inner].mean() == pytest.approx(scene[inner].mean(), rel=0.01)
    # camera white balance undoes the sensor's colour response: a flat grey scene develops grey
    _dng(tmp_path / "grey.dng", np.full((64, 96, 3), 0.3, np.float32))
    grey, _ = develop_raw(tmp_path / "grey.dng")
    assert np.abs(grey[inner] - 0.3).max() < 0.003


def test_develop_keeps_sensor_orientation(tmp_path):
    scene = np.zeros((64, 96, 3), np.float32)
    scene[:8, :16] = 0.8  # a bright block top-left
    _dng(tmp_path / "o.dng", scene)
    img, meta = develop_raw(tmp_path / "o.dng")
    assert img.shape == (64, 96, 3)
    assert img[:6, :12].mean() > 10 * img[30:, 40:].mean()


def test_the_sensor_size_the_exif_says_reads_back(tmp_path):
    """The focal-plane resolution and the 35 mm equivalent: what gives the pixel pitch of a camera
    lensfun does not know (workflow._diffraction)."""
    _dng(tmp_path / "plain.dng", np.full((64, 96, 3), 0.2, np.float32))
    plain = read_metadata(tmp_path / "plain.dng")
    assert plain.sensor_width_mm is None and plain.focal_length_35mm is None
    write_dng(tmp_path / "sized.dng", np.full((64, 96), 4000, np.uint16),
              replace(META, sensor_width_mm=0.3168, focal_length_35mm=100.0), black=512, white=16383,
              as_shot_neutral=(0.5, 1.0, 0.7))
    sized = read_metadata(tmp_path / "sized.dng")
    assert sized.sensor_width_mm == pytest.approx(0.3168, rel=1e-4)  # 96 px of 3.3 um
    assert sized.focal_length_35mm == 100.0


@needs_shared
def test_real_canon_cr2_develops_with_size_and_metadata():
    path = SHARED / "raw" / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.CR2"
    img, meta = develop_raw(path)
    assert img.dtype == np.float32 and img.shape == (2348, 3522, 3)
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.mean() > 0.01
    assert (meta.make, meta.model) == ("Canon", "Canon EOS 30D")
    assert meta.lens_model == "EF-S18-55mm f/3.5-5.6"
    assert meta.f_number == pytest.approx(22) and meta.focal_length == pytest.approx(22)
    assert meta.iso == 640 and meta.exposure_time == pytest.approx(1 / 400)
    assert meta.datetime == "2009:07:21 13:03:20"
    assert meta.sensor_width_mm == pytest.approx(22.5, abs=0.1)  # the 30D's APS-C sensor, from its EXIF


@needs_shared
def test_real_kodak_kdc_develops():
    img, meta = develop_raw(SHARED / "raw" / "rawpy_RAW_KODAK_DC50.KDC")
    assert img.shape == (512, 768, 3)
    assert meta.make == "Eastman Kodak Company" and meta.f_number == pytest.approx(6.2)
    assert meta.focal_length == pytest.approx(37)


def test_no_hidden_per_image_exposure(tmp_path):
    """LibRaw's adjust_maximum would brighten a photo whose brightest pixel is near white: off."""
    scene = np.full((64, 96, 3), 0.3, np.float32)
    scene[10:20, 10:20] = 0.85  # brightest pixel above 75% of white, below white
    _dng(tmp_path / "bright.dng", scene)
    img, _ = develop_raw(tmp_path / "bright.dng")
    assert img[40:60, 40:80].mean() == pytest.approx(0.3, rel=0.01)


def test_one_white_balance_for_a_learn_removes_auto_white_balance_tints(tmp_path):
    """Auto white balance gives every scene its own multipliers. Learning develops every photo
    with one (the median as-shot), so two shots of one grey scene come out the same colour,
    where each with its own white balance differs by the tint a learner must not fit."""
    from lenscal.io.raw import camera_white_balance
    from lenscal.workflow import shared_white_balance

    scene = np.full((64, 96, 3), 0.3, np.float32)
    response = np.asarray((0.5, 1.0, 0.7), np.float32)
    raw = mosaic_from_rgb(scene * response)
    dn = np.clip(np.round(512 + raw * (16383 - 512)), 0, 16383).astype(np.uint16)
    neutrals = [(0.5, 1.0, 0.7), (0.55, 1.0, 0.63), (0.45, 1.0, 0.77)]  # the camera's AWB guesses
    for i, neutral in enumerate(neutrals):
        write_dng(tmp_path / f"awb{i}.dng", dn, META, black=512, white=16383, as_shot_neutral=neutral)
    paths = [tmp_path / f"awb{i}.dng" for i in range(3)]
    wb = camera_white_balance(paths[1])
    assert wb == pytest.approx((1 / 0.55, 1.0, 1 / 0.63, 1.0), rel=1e-3)  # multipliers = 1 / neutral
    common = shared_white_balance(paths + [tmp_path / "not_raw.tif"])
    assert common == pytest.approx((2.0, 1.0, 1 / 0.7, 1.0), rel=1e-3)  # the median of the three
    inner = (slice(4, -4), slice(4, -4))
    own = [develop_raw(p)[0][inner].mean((0, 1)) for p in paths]
    shared = [develop_raw(p, white_balance=common)[0][inner].mean((0, 1)) for p in paths]
    assert abs(own[1][0] / own[2][0] - 0.45 / 0.55) < 0.01  # own white balance: an R tint of 18%
    for colour in shared:
        assert colour == pytest.approx(shared[0], rel=1e-3)  # one white balance: the same colour
        assert colour == pytest.approx([0.3, 0.3, 0.3], rel=0.01)  # and the median is right here
