"""Every refusal of shoot scanning, through the real CLI: message, exit code, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lenscal.io.shoot import scan_shoot
from tests.conftest import make_dng, run_cli, tree_hashes


def _sets(tmp: Path, sharp: list[dict], blurry: list[dict]) -> tuple[Path, Path]:
    for name, specs, f in (("sharp", sharp, 5.6), ("blurry", blurry, 16.0)):
        (tmp / name).mkdir()
        for i, spec in enumerate(specs):
            make_dng(tmp / name / f"{name}{i}.dng", seed=i, **{"f_number": f, **spec})
    return tmp / "sharp", tmp / "blurry"


def _refused(tmp: Path, sharp: Path, blurry: Path, *expected: str) -> str:
    before = tree_hashes(tmp)
    r = run_cli("learn", "--sharp", sharp, "--blurry", blurry, "-o", tmp / "out" / "p.json")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    message = r.stderr.strip().splitlines()[-1]
    assert message.startswith("error:")
    for part in expected:
        assert part in message, message
    assert tree_hashes(tmp) == before  # nothing written, no original touched
    assert not (tmp / "out").exists()
    return message


def test_empty_folder(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{}, {}])
    for p in sharp.iterdir():
        p.unlink()
    _refused(tmp_path, sharp, blurry, "no photos found", "sharp")


def test_missing_folder(tmp_path):
    _, blurry = _sets(tmp_path, [{}, {}], [{}, {}])
    _refused(tmp_path, tmp_path / "nope", blurry, "no such file or folder", "nope")


def test_corrupt_files_are_named(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}, {}], [{}, {}])
    data = (sharp / "sharp1.dng").read_bytes()
    (sharp / "sharp1.dng").write_bytes(data[: len(data) // 3])
    (sharp / "sharp2.dng").write_bytes(b"")
    _refused(tmp_path, sharp, blurry, "2 unreadable file(s)", "sharp1.dng", "sharp2.dng", "truncated", "empty")


def test_non_raw_with_raw_extension(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{}, {}])
    (blurry / "notes.nef").write_text("shopping list")
    _refused(tmp_path, sharp, blurry, "notes.nef", "unreadable")


def test_too_few_photos(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{}])
    _refused(tmp_path, sharp, blurry, "blurry set has 1 photo(s), at least 2")


def test_mixed_cameras(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {"make": "Canon", "model": "EOS R5"}], [{}, {}])
    _refused(tmp_path, sharp, blurry, "sharp set mixes cameras", "Canon EOS R5", "Panasonic DC-GX9")


def test_mixed_lenses(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{}, {"lens_model": "Leica DG 25mm f/1.4"}])
    _refused(tmp_path, sharp, blurry, "blurry set mixes lenses", "Leica DG 25mm")


def test_mixed_sizes(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{}, {}])
    make_dng(sharp / "big.dng", size=(80, 120), f_number=5.6)
    _refused(tmp_path, sharp, blurry, "sharp set mixes image sizes", "96x64", "120x80")


def test_mixed_apertures(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {"f_number": 8.0}], [{}, {}])
    _refused(tmp_path, sharp, blurry, "sharp set mixes apertures", "f/5.6", "f/8")


def test_sets_from_different_cameras(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{"model": "DC-G9"}, {"model": "DC-G9"}])
    _refused(tmp_path, sharp, blurry, "differ in camera", "DC-G9")


def test_same_aperture_in_both_sets(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}], [{"f_number": 5.6}, {"f_number": 5.6}])
    _refused(tmp_path, sharp, blurry, "both sets were taken at f/5.6")


def test_warnings_for_focal_lengths_and_exposures(tmp_path):
    sharp, _ = _sets(tmp_path, [{}, {"focal_length": 35.0, "exposure_time": 1 / 15}], [{}, {}])
    shoot = scan_shoot(sharp, name="sharp set", min_photos=2)
    assert len(shoot) == 2
    assert any("focal lengths" in w and "35 mm" in w for w in shoot.warnings)
    assert any("EV" in w for w in shoot.warnings)


def test_good_set_scans(tmp_path):
    sharp, blurry = _sets(tmp_path, [{}, {}, {}], [{}, {}])
    shoot = scan_shoot(sharp, name="sharp set", min_photos=2)
    assert len(shoot) == 3 and shoot.meta.f_number == pytest.approx(5.6) and shoot.warnings == []
