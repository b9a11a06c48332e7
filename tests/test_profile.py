from __future__ import annotations

import json

import numpy as np
import pytest

from lenscal.errors import ProfileError
from lenscal.photo import Metadata
from lenscal.profile import LensProfile

META = Metadata(make="Panasonic", model="DC-GX9", lens_make="Panasonic", lens_model="Lumix G 25mm f/1.7 Asph.",
                f_number=16.0, focal_length=25.0, width=768, height=512)


@pytest.fixture
def profile_path(tmp_path, rng):
    grid = rng.random((2, 3, 3, 5, 5))
    p = LensProfile.from_grid(grid, 0.01, META, f_number_sharp=5.6, confidence=[[1, 1, 1], [0.5, 0.5, 0.5]], seed=3)
    path = tmp_path / "p.json"
    p.save(path)
    return path


def test_round_trip(profile_path):
    p = LensProfile.load(profile_path)
    g = p.grid()
    assert g.shape == (2, 3, 3, 5, 5) and np.allclose(g.sum((-2, -1)), 1, atol=1e-5)
    data = json.loads(profile_path.read_text())
    assert data["schema_version"] == 1 and data["psf"]["grid_shape"] == [2, 3]
    assert data["camera"] == {"make": "Panasonic", "model": "DC-GX9"} and data["f_number_blurry"] == 16.0
    assert p.mismatches(META) == []


def _broken(profile_path, edit):
    data = json.loads(profile_path.read_text())
    edit(data)
    profile_path.write_text(json.dumps(data))
    with pytest.raises(ProfileError) as e:
        LensProfile.load(profile_path)
    return e.value.one_line()


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["psf"]["data"][0][0][0][0].__setitem__(0, float("nan")), "NaN"),
    (lambda d: d["psf"]["data"][1][2][1][2].__setitem__(2, -0.5), "negative"),
    (lambda d: d["psf"].__setitem__("data", d["psf"]["data"][:1]), "shape"),
    (lambda d: d["psf"]["data"][0][0][0][0].__setitem__(0, 5.0), "sum to 1"),
    (lambda d: d.__setitem__("schema_version", 99), "schema_version 99"),
    (lambda d: d.pop("camera"), "camera"),
    (lambda d: d.__setitem__("noise_sigma", -1), "noise_sigma"),
    (lambda d: d.__setitem__("confidence", [[1]]), "confidence"),
    (lambda d: d.__setitem__("pickle", "cos\nsystem"), "pickle"),
])
def test_invalid_profiles_are_rejected_clearly(profile_path, edit, message):
    line = _broken(profile_path, edit)
    assert message in line and "p.json" in line and "\n" not in line


def test_not_json(tmp_path):
    (tmp_path / "x.json").write_bytes(b"\x80\x04\x95 pickle bytes")
    with pytest.raises(ProfileError, match="not valid JSON"):
        LensProfile.load(tmp_path / "x.json")


def test_mismatches(profile_path):
    p = LensProfile.load(profile_path)
    other = Metadata(**{**META.to_dict(), "model": "DC-G9", "width": 100, "f_number": 8.0})
    found = " | ".join(p.mismatches(other))
    assert "DC-G9" in found and "100x512" in found and "f/8" in found
