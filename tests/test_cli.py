"""The CLI as a user meets it: real files in, real files out, one-line errors, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenscal.io.images import read_image
from tests.conftest import SHARED, needs_shared, run_cli, tree_hashes


def test_version_and_help():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("lenscal ")
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("develop", "info", "simulate", "learn", "correct"):
        assert command in r.stdout


def test_info_json(small_shoot):
    r = run_cli("info", small_shoot / "blurry", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 2 and rows[0]["model"] == "DC-GX9" and rows[0]["f_number"] == 16.0


def test_develop_writes_tiffs_and_never_touches_originals(small_shoot, tmp_path):
    before = tree_hashes(small_shoot)
    r = run_cli("develop", small_shoot / "sharp", "-o", tmp_path / "dev", "--linear")
    assert r.returncode == 0, r.stderr
    outs = sorted((tmp_path / "dev").glob("*.tif"))
    assert len(outs) == 2
    img, note = read_image(outs[0])
    assert note["encoding"] == "linear" and note["devignetted"] is True and img.shape == (512, 768, 3)
    # a second run skips what exists; --overwrite replaces
    mtime = outs[0].stat().st_mtime_ns
    r = run_cli("develop", small_shoot / "sharp", "-o", tmp_path / "dev")
    assert r.returncode == 0 and "2 already there" in r.stderr and outs[0].stat().st_mtime_ns == mtime
    r = run_cli("develop", small_shoot / "sharp", "-o", tmp_path / "dev", "--overwrite")
    assert r.returncode == 0 and read_image(outs[0])[1]["encoding"] == "srgb"
    assert tree_hashes(small_shoot) == before


def test_develop_into_the_source_folder_does_not_overwrite_a_tiff(tmp_path, rng):
    from lenscal.io.images import write_tiff
    from lenscal.photo import Metadata

    src = tmp_path / "photo.tif"
    write_tiff(src, rng.random((32, 48, 3)).astype(np.float32), Metadata())
    digest = tree_hashes(tmp_path)
    r = run_cli("develop", src, "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    assert tree_hashes(tmp_path)["photo.tif"] == digest["photo.tif"]
    assert (tmp_path / "photo_tif.tif").exists()  # the input's extension added: never its own name


@needs_shared
def test_develop_real_cr2_says_no_vignetting_data(tmp_path):
    r = run_cli("develop", SHARED / "raw" / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.CR2", "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no vignetting data" in r.stderr
    img, _ = read_image(tmp_path / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.tif")
    assert img.shape == (2348, 3522, 3)


def test_errors_are_one_line_and_debug_shows_traceback(tmp_path):
    (tmp_path / "bad.dng").write_bytes(b"\x00" * 100)
    r = run_cli("develop", tmp_path / "bad.dng", "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.dng" in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    r = run_cli("--debug", "develop", tmp_path / "bad.dng", "-o", tmp_path / "out")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_simulate_cli(tmp_path):
    from tests.conftest import EXAMPLES

    r = run_cli("simulate", EXAMPLES, "-o", tmp_path / "shoot", "--sharp", "1", "--blurry", "1", "--test", "1",
                "--extreme", "wide", "--megapixels", "0.1")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "shoot").rglob("*.dng"))) == 3
    assert (tmp_path / "shoot" / "truth" / "blurry_psf.json").exists()
    r = run_cli("info", tmp_path / "shoot" / "blurry", "--json")
    assert json.loads(r.stdout)[0]["f_number"] == pytest.approx(1.7)
