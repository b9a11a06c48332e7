from __future__ import annotations

import json

from tests.conftest import run_cli


def test_check_accepts_a_good_shoot_and_advises(small_shoot):
    r = run_cli("check", "--sharp", small_shoot / "sharp", "--blurry", small_shoot / "blurry", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["usable"] and report["problems"] == []
    assert len(report["photos"]) == 4
    assert any("6 or more" in a for a in report["advice"])  # only 2 photos a set
    sharp = [p["acutance"] for p in report["photos"] if p["set"] == "sharp"]
    blurry = [p["acutance"] for p in report["photos"] if p["set"] == "blurry"]
    assert min(sharp) > max(blurry)


def test_check_refuses_swapped_folders(small_shoot):
    r = run_cli("check", "--sharp", small_shoot / "blurry", "--blurry", small_shoot / "sharp")
    assert r.returncode == 2
    assert "not sharper than the blurry set" in r.stdout and "not usable" in r.stdout
