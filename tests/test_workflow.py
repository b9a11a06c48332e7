"""How a learn finds the pixel pitch that models a stopped-down set's diffraction (workflow)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lenscal.io.dng import write_dng
from lenscal.io.shoot import scan_shoot
from lenscal.optics.diffraction import pixel_pitch_from_crop, relative_scales
from lenscal.photo import Metadata
from lenscal.workflow import _diffraction, learn_notes

# a camera lensfun does not know, 24 MP at 3.9 um (23.5 mm across 6000 px)
UNKNOWN = Metadata(make="Zootech", model="Z-1000", focal_length=50.0, f_number=16.0, width=6000, height=4000)
SHARP = replace(UNKNOWN, f_number=5.6)


def _pitch(meta: Metadata, given: float | None = None) -> dict:
    return _diffraction(SHARP, meta, given, None)


def test_the_pitch_comes_from_the_exif_when_lensfun_does_not_know_the_camera():
    assert _pitch(UNKNOWN) == {"pixel_pitch_um": None, "pitch_from": "unknown", "modelled": False, "scales_px": None,
                               "limited": True}  # f/16: diffraction-limited on any small-pitch sensor
    found = _pitch(replace(UNKNOWN, sensor_width_mm=23.5))
    assert found["pitch_from"] == "EXIF focal-plane resolution" and found["modelled"]
    assert found["pixel_pitch_um"] == pytest.approx(23.5 / 6000 * 1000)
    assert found["scales_px"] == pytest.approx(list(relative_scales(16.0, 23.5 / 6, 5.6)))
    # without the focal-plane resolution, the 35 mm equivalent focal length gives the crop factor
    equivalent = _pitch(replace(UNKNOWN, focal_length_35mm=75.0))
    assert equivalent["pitch_from"] == "EXIF 35 mm equivalent"
    assert equivalent["pixel_pitch_um"] == pytest.approx(pixel_pitch_from_crop(1.5, 6000, 4000))
    # both said: the focal-plane resolution, which does not depend on the lens's focal length being right
    assert _pitch(replace(UNKNOWN, sensor_width_mm=23.5, focal_length_35mm=100.0))["pitch_from"].startswith("EXIF focal")


def test_a_wrong_exif_tag_is_not_used_and_lensfun_or_the_user_come_first():
    # a pitch no camera has (a sensor 500 mm wide) is a wrong tag: left unknown, not modelled
    assert _pitch(replace(UNKNOWN, sensor_width_mm=500.0))["pitch_from"] == "unknown"
    assert _pitch(replace(UNKNOWN, sensor_width_mm=500.0, focal_length_35mm=75.0))["pitch_from"] == "EXIF 35 mm equivalent"
    gx9 = replace(UNKNOWN, make="Panasonic", model="DC-GX9", width=5184, height=3888, sensor_width_mm=50.0)
    assert _pitch(gx9)["pitch_from"] == "lensfun" and _pitch(gx9)["pixel_pitch_um"] == pytest.approx(3.34, abs=0.01)
    assert _pitch(replace(UNKNOWN, sensor_width_mm=23.5), given=3.3)["pixel_pitch_um"] == 3.3
    assert _pitch(replace(UNKNOWN, sensor_width_mm=23.5), given=0.0)["modelled"] is False  # 0: not modelled


def test_real_files_of_an_unknown_camera_give_their_pitch(tmp_path):
    """Through the files: DNGs that say their focal-plane resolution, scanned as a learn scans them."""
    for which, f_number in (("sharp", 5.6), ("blurry", 16.0)):
        meta = replace(UNKNOWN, f_number=f_number, width=0, height=0, sensor_width_mm=96 * 0.0039)
        for i in range(2):
            write_dng(tmp_path / which / f"{i}.dng", np.full((64, 96), 3000 + 100 * i, np.uint16), meta,
                      black=512, white=16383, as_shot_neutral=(0.5, 1.0, 0.7))
    sharp, blurry = scan_shoot(tmp_path / "sharp"), scan_shoot(tmp_path / "blurry")
    found = _diffraction(sharp.meta, blurry.meta, None, tmp_path / "blurry")
    assert found["pitch_from"] == "EXIF focal-plane resolution"
    assert found["pixel_pitch_um"] == pytest.approx(3.9, rel=1e-3) and found["modelled"]


def test_the_learn_asks_for_the_pitch_only_where_the_diffraction_matters():
    stopped = learn_notes(_pitch(UNKNOWN), "off", None)
    assert len(stopped) == 1 and stopped[0].startswith("diffraction not modelled") and "--pixel-pitch" in stopped[0]
    assert learn_notes(_pitch(replace(UNKNOWN, f_number=2.8)), "off", None) == []  # wide open: no Airy worth modelling
    assert learn_notes(_pitch(replace(UNKNOWN, sensor_width_mm=23.5)), "off", None)[0].startswith("diffraction modelled")


def test_a_refused_learn_of_noisy_files_of_an_unknown_camera_says_so(tmp_path):
    """Through real DNGs: the ISO the files say and the pitch no tag gives reach the advice."""
    from lenscal.learn.selfcheck import SCENES, SelfCheck
    from lenscal.workflow import advise

    for which, f_number, iso in (("sharp", 5.6, 200.0), ("blurry", 16.0, 1600.0)):
        meta = replace(UNKNOWN, f_number=f_number, width=0, height=0, iso=iso)
        for i in range(2):
            write_dng(tmp_path / which / f"{i}.dng", np.full((64, 96), 3000 + 100 * i, np.uint16), meta,
                      black=512, white=16383, as_shot_neutral=(0.5, 1.0, 0.7))
    sharp, blurry = scan_shoot(tmp_path / "sharp"), scan_shoot(tmp_path / "blurry")
    failed = SelfCheck("failed", ("the learned blur makes edges wider than the blurry photos show in G at 8 of 8 places",))
    advice = advise(failed, sharp, blurry, _diffraction(sharp.meta, blurry.meta, None, tmp_path / "blurry")).advice
    assert advice.startswith("give --pixel-pitch") and "ISO 1600" in advice and advice.endswith(SCENES)
    given = advise(failed, sharp, blurry, _diffraction(sharp.meta, blurry.meta, 3.9, tmp_path / "blurry")).advice
    assert "--pixel-pitch" not in given and "ISO 1600" in given
