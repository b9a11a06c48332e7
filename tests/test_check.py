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
    sharp = [p["edge_width"] for p in report["photos"] if p["set"] == "sharp"]
    blurry = [p["edge_width"] for p in report["photos"] if p["set"] == "blurry"]
    assert max(sharp) < min(blurry)
    zones = report["sharpness"]
    assert zones["whole frame"]["blurry_px2"] > zones["whole frame"]["sharp_px2"] + 0.15


def test_check_refuses_swapped_folders(small_shoot):
    r = run_cli("check", "--sharp", small_shoot / "blurry", "--blurry", small_shoot / "sharp")
    assert r.returncode == 2
    assert "not blurrier than the sharp set anywhere" in r.stdout and "not usable" in r.stdout
