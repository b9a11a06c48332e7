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
