"""`lenscal learn` end to end on real DNGs: profile, pictures, JSON summary, SIGKILL + --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from lenscal.optics.diffraction import diffraction_kernels, relative_scales
from lenscal.optics.moments import gaussian_summary
from lenscal.optics.psf import mirror_average, relative_l2
from lenscal.profile import LensProfile
from tests.conftest import REPO, run_cli, tree_hashes

# A tiny run (a couple of minutes of CPU in all): the point here is the command's behaviour, not
# the accuracy, which tests/learn and bench/bench_learn.py measure. --checkpoint-seconds 0 saves
# after every update so a kill always finds a checkpoint to resume from.
TINY = ["--grid", "2", "--set", "patch=16", "--set", "channels=[8,16]", "--set", "step1_steps=60",
        "--set", "step1_batch=8", "--set", "step2_steps=40", "--set", "step2_min_steps=40",
        "--set", "step2_batch=8", "--set", "coarse=null", "--threads", "1", "--checkpoint-seconds", "0"]


def learn_args(shoot, out):
    return ["learn", "--sharp", shoot / "sharp", "--blurry", shoot / "blurry", "-o", out, *TINY]


def test_learn_writes_profile_pictures_and_summary(small_shoot, tmp_path):
    before = tree_hashes(small_shoot)
    out = tmp_path / "lens.json"
    r = run_cli(*learn_args(small_shoot, out), "--truth", small_shoot / "truth" / "blurry_psf.json", "--json",
                "--pixel-pitch", "3.3")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    profile = LensProfile.load(out)
    # the f/16 set's diffraction beyond the f/5.6 set's, from the EXIF f-numbers and the pitch
    assert np.allclose(profile.settings["diffraction_scales"], relative_scales(16, 3.3, 5.6))
    assert summary["diffraction"] == {"pixel_pitch_um": 3.3, "pitch_from": "given", "modelled": True,
                                      "scales_px": list(relative_scales(16, 3.3, 5.6)), "limited": True}
    # diffraction-limited: no kernel scale (magnify=auto learns one only where aberrations dominate)
    assert summary["magnify"] == "off" and profile.settings["magnify"] == "off"
    assert summary["edge_widths"] is None and profile.settings["edge_widths"] == "off"
    assert profile.settings["lateral"] == "measured"  # measured in the blurry photos and kept
    # diffraction-limited: every kernel a Gaussian convolved with the Airy pattern (optics.moments),
    # so summarising the written grid again changes it little
    assert profile.settings["kernel_shape"] == "gaussian"
    airy = diffraction_kernels(relative_scales(16, 3.3, 5.6), 13)
    assert relative_l2(gaussian_summary(profile.grid(), airy), profile.grid()) < 0.05
    # lensfun knows the GX9 and its lens, so both sets were devignetted: sharp crops at their own place
    assert summary["sharp_place"] == "own" and profile.settings["sharp_place"] == "own"
    # what the CLI says without --json, one sentence per thing the learn did beyond its usual course
    assert len(summary["notes"]) == 1 and summary["notes"][0].startswith("diffraction modelled: pixel pitch 3.30 um")
    assert tuple(profile.psf.grid_shape) == (2, 2) and profile.psf.kernel_size == 13
    assert profile.camera.model == "DC-GX9" and profile.f_number_blurry == 16
    assert np.allclose(profile.grid().sum((-2, -1)), 1, atol=1e-4)
    # by default the grid is reported mirror-averaged, as a centred lens's blur is (--set mirror=false not given)
    assert np.allclose(profile.grid(), mirror_average(profile.grid()).numpy(), atol=1e-6)
    assert (tmp_path / "lens_psf.png").stat().st_size > 1000
    assert (tmp_path / "lens_before_after.png").stat().st_size > 1000
    assert 0 < summary["score"]["ncc_mean"] <= 1 and summary["profile"] == str(out)
    assert not list(tmp_path.glob(".*checkpoint")), "a finished learn removes its checkpoint"
    assert tree_hashes(small_shoot) == before
    again = run_cli(*learn_args(small_shoot, out))
    assert again.returncode != 0 and "--overwrite" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_learn_killed_midway_resumes_to_the_same_result(small_shoot, tmp_path):
    """SIGKILL mid-learn, then --resume: the same profile as an uninterrupted run with the seed."""
    clean = tmp_path / "clean.json"
    r = run_cli(*learn_args(small_shoot, clean))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "killed" / "lens.json"
    out.parent.mkdir()
    checkpoint = out.parent / ".lens.lenscal-checkpoint" / "learn.pt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lenscal", *map(str, learn_args(small_shoot, out))], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not checkpoint.exists():
        time.sleep(0.05)
    time.sleep(1.0)  # let it get some way into the run
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not out.exists(), "the kill should land mid-learn"
    assert not list(out.parent.glob("*.part")) and not list(out.parent.glob("*.tmp*"))
    r = run_cli(*learn_args(small_shoot, out), "--resume", "--json")
    assert r.returncode == 0, r.stderr
    resumed_at = json.loads(r.stdout)["resumed_at"]
    assert len(resumed_at) == 1 and sum(resumed_at[0]) > 0, "it resumed from the checkpoint, not from scratch"
    a, b = LensProfile.load(clean), LensProfile.load(out)
    assert np.allclose(a.grid(), b.grid(), atol=1e-5)
    assert abs(a.noise_sigma - b.noise_sigma) < 1e-6


def test_a_wide_open_set_learns_the_kernel_widths_node_by_node(tmp_path):
    """f/1.7: the blur is aberrations, which grow towards the corners, so magnify=auto learns a
    scale per node and edge_widths=auto matches the widths to the photos' edges (the f/16 run
    above does neither), and says so."""
    from lenscal.simulate import ShootPlan, simulate_shoot
    from tests.conftest import EXAMPLES

    shoot = tmp_path / "shoot"
    simulate_shoot(sorted(EXAMPLES.glob("*.png")), shoot,
                   ShootPlan(extreme="wide", n_sharp=2, n_blurry=2, n_test=0, megapixels=0.1, seed=2))
    out = tmp_path / "wide.json"
    r = run_cli(*learn_args(shoot, out), "--pixel-pitch", "3.3", "--vignetting", "off")
    assert r.returncode == 0, r.stderr
    assert "kernel widths learned node by node" in r.stderr and "diffraction modelled" not in r.stderr
    assert "matched to the blurry photos' edges" in r.stderr
    profile = LensProfile.load(out)
    assert profile.settings["magnify"] == "node" and profile.f_number_blurry == 1.7
    assert profile.settings["edge_widths"] == "pattern" and profile.settings["lateral"] == "measured"
    assert profile.settings["kernel_shape"] == "learned"  # wide open: cores with halos, kept as learned
    # the vignetting left in (--vignetting off): sharp crops from the centre (sharp_place=auto)
    assert profile.settings["sharp_place"] == "random"
    assert np.allclose(profile.grid().sum((-2, -1)), 1, atol=1e-4)


def test_a_mistyped_setting_is_refused_before_any_photo_is_read(tmp_path):
    """``--set mirror=False`` arrives as the string "False", which Python reads as true: refused,
    in one line, before the (here missing) photo folders are even looked at."""
    r = run_cli("learn", "--sharp", tmp_path / "none", "--blurry", tmp_path / "none", "-o", tmp_path / "p.json",
                "--set", "mirror=False")
    assert r.returncode == 2 and "mirror must be true or false" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "p.json").exists()


def test_a_given_pixel_pitch_without_an_f_number_is_refused_before_learning(tmp_path):
    """--pixel-pitch asks for the diffraction model, which needs the blurry set's f-number: photos
    that do not record it get a one-line error and no profile, not a learn without it."""
    from tests.conftest import make_dng

    for i in range(2):
        make_dng(tmp_path / "sharp" / f"s{i}.dng", size=(96, 128), seed=i)
        make_dng(tmp_path / "blurry" / f"b{i}.dng", size=(96, 128), seed=10 + i, f_number=None)
    out = tmp_path / "p.json"
    r = run_cli("learn", "--sharp", tmp_path / "sharp", "--blurry", tmp_path / "blurry", "-o", out,
                "--pixel-pitch", "3.3", *TINY)
    assert r.returncode != 0 and "f-number" in r.stderr and "--pixel-pitch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    assert not list(tmp_path.glob(".*checkpoint")) and not list(tmp_path.glob("p_*.png"))
