from __future__ import annotations

import json

import cv2

from tests.conftest import run_cli


def test_show_renders_sheet_and_numbers(small_shoot, tmp_path):
    png = tmp_path / "sheet.png"
    r = run_cli("show", small_shoot / "truth" / "blurry_psf.json", "-o", png, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    img = cv2.imread(str(png))
    assert img is not None and img.shape[1] > 2 * img.shape[0]  # three panels side by side
    assert 2.5 < s["fwhm_px_centre"] < 5 and s["fwhm_px_max"] >= s["fwhm_px_min"]
    assert 0.5 < s["lateral_colour_px_max"] < 1.5  # R-G and B-G, each about half the R-B offset
    assert s["grid"] == [8, 8] and s["camera"] == "Panasonic DC-GX9"


def test_profiles_install_list_show(small_shoot, tmp_path, monkeypatch):
    import os

    env_home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(env_home))
    monkeypatch.setenv("XDG_DATA_HOME", str(env_home / ".local" / "share"))
    src = tmp_path / "my_lens.json"
    src.write_bytes((small_shoot / "truth" / "blurry_psf.json").read_bytes())
    r = run_cli("profiles", "install", src)
    assert r.returncode == 0, r.stderr
    installed = env_home / ".local" / "share" / "lenscal" / "profiles" / "my_lens.json"
    assert installed.exists() and os.environ["XDG_DATA_HOME"] in r.stderr.replace("\n", "")
    r = run_cli("profiles", "install", src)
    assert r.returncode == 4 and "installed already" in r.stderr
    r = run_cli("profiles", "list", "--json")
    names = {e["name"]: e for e in json.loads(r.stdout)}
    assert names["my_lens"]["valid"] and names["my_lens"]["camera"] == "Panasonic DC-GX9"
    r = run_cli("profiles", "show", "my_lens", "-o", tmp_path / "s.png")
    assert r.returncode == 0 and (tmp_path / "s.png").exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = run_cli("profiles", "install", bad)
    assert r.returncode == 2 and "invalid lens profile" in r.stderr


def test_bundled_demo_profile_is_found_and_sharpens_the_simulated_lens(small_shoot, tmp_path, monkeypatch):
    """The shipped profile was LEARNED (lenscal demo, seed 0); correcting another simulated shoot
    of the same lens with it, found through the library, must raise PSNR against the ideal
    reference (the demo measured +2.0 dB; 1 dB leaves room for other scenes and noise)."""
    import numpy as np

    from lenscal.develop import load_photo
    from lenscal.io.images import read_image
    from lenscal.profile import LensProfile
    from lenscal.workflow import psnr
    from tests.conftest import REPO

    bundled = REPO / "profiles" / "demo_gx9_25mm_f16.json"
    profile = LensProfile.load(bundled)
    assert "learned" in profile.provenance and "not a real lens" in profile.provenance
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # an empty user folder
    names = {e["name"] for e in json.loads(run_cli("profiles", "list", "--json").stdout)}
    assert "demo_gx9_25mm_f16" in names
    dng = next((small_shoot / "test").glob("*.dng"))
    r = run_cli("correct", dng, "-o", tmp_path / "out", "--linear")
    assert r.returncode == 0, r.stderr
    assert "demo_gx9_25mm_f16" in r.stderr.replace("\n", "")
    reference, _ = read_image(dng.with_name(dng.stem + "_reference.tif"))
    before = load_photo(dng)[0].pixels
    after, _ = read_image(tmp_path / "out" / f"{dng.stem}_corrected.tif")
    gain = psnr(np.asarray(after, np.float32), reference) - psnr(before, reference)
    assert gain > 1.0, f"PSNR gain {gain:.2f} dB"


def test_profile_names_resolve_and_unknown_names_say_so(tmp_path, monkeypatch):
    import pytest

    from lenscal.errors import ProfileError
    from lenscal.library import resolve

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert resolve("demo_gx9_25mm_f16").name == "demo_gx9_25mm_f16.json"
    assert resolve("demo_gx9_25mm_f16.json") == resolve("demo_gx9_25mm_f16")
    with pytest.raises(ProfileError, match="no profile named 'nope' in the library"):
        resolve("nope")
    assert resolve(tmp_path / "missing.json") == tmp_path / "missing.json"  # a path: loading it says why


def test_show_without_output_writes_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    r = run_cli("profiles", "show", "demo_gx9_25mm_f16", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo_gx9_25mm_f16_sheet.png").exists()
    from tests.conftest import REPO

    assert not (REPO / "profiles" / "demo_gx9_25mm_f16_sheet.png").exists()
