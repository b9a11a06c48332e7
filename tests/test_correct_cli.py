"""`lenscal correct` end to end on real DNGs: quality, profile matching, library lookup, kill+resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lenscal.develop import load_photo
from lenscal.io.images import read_image
from lenscal.workflow import psnr
from tests.conftest import REPO, run_cli, tree_hashes


@pytest.fixture(scope="module")
def many_tests(tmp_path_factory):
    """A shoot with 5 held-out photos (small, to keep the batch tests quick)."""
    from lenscal.simulate import ShootPlan, simulate_shoot
    from tests.conftest import EXAMPLES

    out = tmp_path_factory.mktemp("many")
    simulate_shoot(sorted(EXAMPLES.glob("*.png")), out,
                   ShootPlan(n_sharp=1, n_blurry=1, n_test=5, megapixels=0.25, seed=3))
    return out


def test_true_profile_sharpens_and_keeps_exif(small_shoot, tmp_path):
    truth = small_shoot / "truth" / "blurry_psf.json"
    before = tree_hashes(small_shoot)
    r = run_cli("correct", small_shoot / "test", "--profile", truth, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    dng = next((small_shoot / "test").glob("*.dng"))
    out = tmp_path / f"{dng.stem}_corrected.tif"
    assert summary["done"] >= 1 and out.exists()
    fixed, note = read_image(out)
    assert note["profile"] == "blurry_psf.json" and note["strength"] == 1.0
    ref, _ = read_image(dng.with_name(dng.stem + "_reference.tif"))
    blurry, _ = load_photo(dng)
    gain = psnr(fixed, ref) - psnr(blurry.pixels, ref)
    # sRGB 16-bit round trip costs < 0.05 dB; the simulated f/16 blur is ~3.5 px FWHM, so a
    # correct deconvolution with the true PSFs must gain well over 1 dB (measured: ~3 dB)
    assert gain > 1.0, gain
    m = read_image.__globals__["tifffile"].TiffFile(out).pages[0].tags
    assert m["Make"].value == "Panasonic" and m["Model"].value == "DC-GX9"
    assert tree_hashes(small_shoot) == before


def test_profile_for_another_camera_is_refused_unless_forced(many_tests, tmp_path):
    data = json.loads((many_tests / "truth" / "blurry_psf.json").read_text())
    data["camera"]["model"] = "DC-G9"
    other = tmp_path / "g9.json"
    other.write_text(json.dumps(data))
    one = next((many_tests / "test").glob("*.dng"))
    r = run_cli("correct", one, "--profile", other, "-o", tmp_path / "out")
    assert r.returncode == 3
    assert "DC-G9" in r.stderr.strip().splitlines()[-1] and "--force" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    r = run_cli("correct", one, "--profile", other, "-o", tmp_path / "out", "--force")
    assert r.returncode == 0 and "warning" in r.stderr
    assert (tmp_path / "out" / f"{one.stem}_corrected.tif").exists()


def test_profile_that_failed_its_self_check_is_refused_unless_forced(many_tests, tmp_path):
    """A profile written by `learn --force` despite a failed self-check may make photos worse:
    correct refuses it (exit 5, one line naming the reason) and uses it only when forced."""
    data = json.loads((many_tests / "truth" / "blurry_psf.json").read_text())
    data["check"] = {"status": "failed", "passed": False, "advice": "",
                     "reasons": ["the learned blur makes edges wider than the blurry photos show in G at 5 of 6 places"]}
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(data))
    one = next((many_tests / "test").glob("*.dng"))
    r = run_cli("correct", one, "--profile", failing, "-o", tmp_path / "out")
    assert r.returncode == 5, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "self-check" in last and "wider" in last and "--force" in last and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    r = run_cli("correct", one, "--profile", failing, "-o", tmp_path / "out", "--force")
    assert r.returncode == 0 and "self-check" in r.stderr
    assert (tmp_path / "out" / f"{one.stem}_corrected.tif").exists()


def test_profile_found_in_library(many_tests, tmp_path, monkeypatch):
    """Without --profile the library is a profile set: the bundled demo profile is this camera and
    lens at f/16, but for 768x512 photos, so this smaller one is skipped with the reason (exit 6)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    one = next((many_tests / "test").glob("*.dng"))
    r = run_cli("correct", one, "-o", tmp_path / "out")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 6 and "no profile in the library for Panasonic DC-GX9" in last, r.stderr
    assert "768x512" in last and one.name in last
    r = run_cli("profiles", "install", many_tests / "truth" / "blurry_psf.json")
    assert r.returncode == 0, r.stderr
    r = run_cli("correct", one, "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "using profile" in r.stderr and (tmp_path / "out" / f"{one.stem}_corrected.tif").exists()


def test_batch_killed_midway_resumes_to_the_same_result(many_tests, tmp_path):
    """SIGKILL during a batch, re-run: same outputs as an uninterrupted run, nothing half-written."""
    truth = many_tests / "truth" / "blurry_psf.json"
    dngs = sorted((many_tests / "test").glob("*.dng"))
    clean = run_cli("correct", *dngs, "--profile", truth, "-o", tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lenscal", "correct", *map(str, dngs), "--profile", str(truth),
                             "-o", str(out)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*_corrected.tif"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in out.glob("*_corrected.tif"))
    assert 2 <= len(finished) < len(dngs), "the kill should land mid-batch"
    r = run_cli("correct", *dngs, "--profile", truth, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skipped"] == len(finished) and summary["done"] == len(dngs) - len(finished)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "clean").iterdir())
    # the same pixels up to one 16-bit step: multi-threaded FFT libraries (MKL) do not promise
    # bit-identical sums from run to run, which once flipped the rounding of a few pixels
    for p in (tmp_path / "clean").iterdir():
        a, b = read_image(p)[0], read_image(out / p.name)[0]
        assert a.shape == b.shape and np.abs(a - b).max() <= 2.5 / 65535, p.name  # one sRGB step, at most 2.3/65535 in linear


def test_failed_photo_does_not_stop_the_batch(many_tests, tmp_path):
    truth = many_tests / "truth" / "blurry_psf.json"
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((many_tests / "test").glob("*.dng"))[:2]:
        (src / p.name).write_bytes(p.read_bytes())
    (src / "broken.dng").write_bytes(b"\x00" * 1000)
    r = run_cli("correct", src, "--profile", truth, "--json")
    assert r.returncode == 2
    s = json.loads(r.stdout)
    assert s["done"] == 2 and s["failed"] == 1
    failed = [p for p in s["photos"] if p["status"] == "failed"]
    assert failed[0]["file"].endswith("broken.dng") and "broken.dng" in failed[0]["reason"]
    assert len(list(src.glob("*_corrected.tif"))) == 2  # next to the originals, never over them


def test_bad_options(many_tests):
    one = next((many_tests / "test").glob("*.dng"))
    truth = many_tests / "truth" / "blurry_psf.json"
    for args, text in ((["--strength", "5"], "strength"), (["--jobs", "0"], "--jobs"),
                       (["--device", "tpu"], "unknown device")):
        r = run_cli("correct", one, "--profile", truth, *args)
        assert r.returncode == 2 and text in r.stderr, r.stderr
    r = run_cli("correct", one.with_name("nope.dng"), "--profile", truth)
    assert r.returncode == 2 and "no such file" in r.stderr
