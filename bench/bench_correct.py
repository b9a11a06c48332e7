#!/usr/bin/env python3
"""Correction benchmark: speed and memory on a 24 MP photo, quality against classical baselines.

    .venv/bin/python bench/bench_correct.py                    # both parts
    .venv/bin/python bench/bench_correct.py --skip-speed       # quality only (about 2 minutes)
    .venv/bin/python bench/bench_correct.py --profile learned.json   # + a learned profile

(a) Speed & memory: simulates one 24 MP DNG of the f/16 lens, then times, each in a fresh
    process (so peak RSS is that job's alone, from getrusage): ``develop`` (load_photo, the
    development itself), ``develop + write`` (what ``lenscal develop`` does per photo) and
    ``correct`` (develop + deconvolve + 16-bit TIFF write, what ``lenscal correct`` does per
    photo). Targets: correct <= 3x develop, peak memory <= 3 GB.
(b) Quality: held-out photos simulated through the lens (DNG: blur, vignetting, Bayer,
    Poisson-Gaussian noise), developed by lenscal, compared with their sharp references. PSNR
    gain of: our solver with the TRUE grid, with a PERTURBED grid (a stand-in for a learned one),
    with ``--profile`` when given; Wiener with the true grid; Richardson-Lucy with one Gaussian
    ("capture sharpening", as in RawTherapee), radius and iterations tuned on these very photos.
    Targets (with ``--profile``): learned gain >= tuned Gaussian RL + 0.5 dB and >= 80 % of the
    true grid's gain.
Prints and writes JSON (bench/results_correct.json).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "photos"


# -- (a) speed and memory, each job in its own process ---------------------------------------
def _child(job: str, dng: Path, profile: Path, out: Path) -> None:
    """Runs in a fresh interpreter: one timed job, then prints its wall time and peak RSS."""
    import torch

    from lenscal.correct.batch import CorrectOptions, correct_one
    from lenscal.develop import load_photo
    from lenscal.io.images import write_tiff
    from lenscal.profile import LensProfile

    torch.set_num_threads(max(1, torch.get_num_threads()))
    prof = LensProfile.load(profile)
    t = time.perf_counter()
    if job == "develop":
        load_photo(dng)
    elif job == "develop_write":
        photo, _ = load_photo(dng)
        write_tiff(out, photo.pixels, photo.meta)
    elif job == "correct":
        r = correct_one(dng, (out,), prof.grid(), prof.noise_sigma, prof,
                        CorrectOptions(overwrite=True, mismatch="ignore", profile_name=profile.name))
        assert r.status == "done", r.reason
    wall = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"wall_s": wall, "cpu_s_process": cpu, "peak_rss_gb": peak_gb}))


def _run_child(job: str, dng: Path, profile: Path, out: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", job, str(dng), str(profile), str(out)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _run_cli(job: str, dng: Path, profile: Path, out: Path) -> dict:
    """``lenscal develop FILE -o OUT`` or ``lenscal correct FILE --profile P -o OUT`` in a fresh
    process, start-up and metadata copy included: wall time and the child's peak RSS."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    profile_args = ["--profile", str(profile)] if job == "lenscal correct" else []
    cmd = [sys.executable, "-m", "lenscal", job.split()[1], str(dng), *profile_args, "-o", str(out)]
    code = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(json.dumps({'wall_s': time.perf_counter() - t, "
            "'peak_rss_gb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20}))")
    res = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def speed(scenes: list[Path], megapixels: float, repeat: int) -> dict:
    import torch

    from lenscal.simulate import ShootPlan, simulate_shoot

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        simulate_shoot(scenes[:1], tmp / "shoot", ShootPlan(n_sharp=0, n_blurry=1, n_test=0, megapixels=megapixels))
        dng = next((tmp / "shoot" / "blurry").glob("*.dng"))
        profile = tmp / "shoot" / "truth" / "blurry_psf.json"
        _run_child("correct", dng, profile, tmp / "warm.tif")  # warm the disk cache
        runs: dict[str, list[dict]] = {"develop": [], "develop_write": [], "correct": []}
        for _ in range(repeat):
            for job in runs:
                runs[job].append(_run_child(job, dng, profile, tmp / f"{job}.tif"))
        cli = {"lenscal develop": [], "lenscal correct": []}  # the commands as a user runs them
        for _ in range(repeat):
            for job in cli:
                cli[job].append(_run_cli(job, dng, profile, tmp / job.replace(" ", "_")))
        med = {job: float(np.median([r["wall_s"] for r in rs])) for job, rs in runs.items()}
        peak = {job: float(max(r["peak_rss_gb"] for r in rs)) for job, rs in runs.items()}
        cli_s = {job: float(np.median([r["wall_s"] for r in rs])) for job, rs in cli.items()}
        cli_peak = {job: float(max(r["peak_rss_gb"] for r in rs)) for job, rs in cli.items()}
        import rawpy

        with rawpy.imread(str(dng)) as raw:
            size = f"{raw.sizes.width}x{raw.sizes.height}"
    return {
        "file": f"simulated f/16 DNG {size} ({scenes[0].name})", "threads": torch.get_num_threads(),
        "repeat": repeat, "develop_s": round(med["develop"], 2), "develop_write_s": round(med["develop_write"], 2),
        "correct_s": round(med["correct"], 2), "deconvolve_s_approx": round(med["correct"] - med["develop_write"], 2),
        "cli_s": {k: round(v, 2) for k, v in cli_s.items()},
        "cli_peak_rss_gb": {k: round(v, 2) for k, v in cli_peak.items()},
        "ratio_cli_correct_vs_develop": round(cli_s["lenscal correct"] / cli_s["lenscal develop"], 2),
        "ratio_correct_vs_develop": round(med["correct"] / med["develop"], 2),
        "ratio_correct_vs_develop_write": round(med["correct"] / med["develop_write"], 2),
        "peak_rss_gb": {k: round(v, 2) for k, v in peak.items()},
        "cpu_s_whole_process": {job: round(float(np.median([r["cpu_s_process"] for r in rs])), 1)
                                for job, rs in runs.items()},
        "load_average_1min": round(__import__("os").getloadavg()[0], 2),
        "targets": {"ratio_cli_correct_vs_develop": 3.0, "peak_rss_gb": 3.0},
    }


# -- (b) quality --------------------------------------------------------------------------------
def richardson_lucy_gaussian(y: np.ndarray, radius: float, checkpoints: list[int]) -> dict[int, np.ndarray]:
    """RL deconvolution with one isotropic Gaussian for every pixel and channel (capture sharpening)."""
    from scipy.ndimage import gaussian_filter

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=(radius, radius, 0), mode="reflect", truncate=3.0)

    y = np.clip(y, 1e-4, None)
    x = y.copy()
    out = {}
    for it in range(1, max(checkpoints) + 1):
        x *= blur(y / np.maximum(blur(x), 1e-4))
        if it in checkpoints:
            out[it] = x.copy()
    return out


def perturb(grid: np.ndarray, seed: int = 0) -> np.ndarray:
    """A plausible imperfect estimate of a grid: every node shifted (<= 0.3 px), widened a little
    and noisy, like a learned grid with NCC ~0.95 to the truth."""
    import torch

    from lenscal.optics.psf import gaussian, normalise, shift

    rng = np.random.default_rng(seed)
    rows, cols, _, k, _ = grid.shape
    g = torch.as_tensor(grid, dtype=torch.float64)
    g = shift(g, torch.as_tensor(rng.uniform(-0.3, 0.3, (rows, cols, 1))), torch.as_tensor(rng.uniform(-0.3, 0.3, (rows, cols, 1))))
    widen = gaussian(0.45, 5).numpy()
    from scipy.signal import fftconvolve

    g = fftconvolve(g.numpy(), widen[None, None, None], mode="same", axes=(-2, -1))
    g = g * (1 + 0.1 * rng.standard_normal(g.shape)) + 0.002 * rng.random(g.shape) * g.max()
    return normalise(torch.as_tensor(g)).numpy().astype(np.float32)


def quality(scenes: list[Path], extremes: list[str], n_test: int, learned: Path | None) -> dict:
    from lenscal.correct.deconv import deconvolve
    from lenscal.develop import load_photo
    from lenscal.io.images import read_image
    from lenscal.optics.psf import grid_report
    from lenscal.profile import LensProfile
    from lenscal.simulate import EXTREMES, ShootPlan, lens_psf_grid, simulate_shoot
    from lenscal.workflow import psnr

    results: dict = {}
    for extreme in extremes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            summary = simulate_shoot(scenes, tmp, ShootPlan(extreme=extreme, n_sharp=0, n_blurry=0, n_test=n_test, seed=7))
            height, width = summary["size"]
            true = lens_psf_grid(extreme, height, width)
            # the simulator reports sensor-level noise; a profile's sigma (what step 2 learns from
            # developed patches) is the developed photo's, larger by the white-balance gains
            gains_wb = 1.0 / np.asarray(summary["sensor"]["response"])
            sigma = summary["noise_rms"]["test"] * float(np.sqrt(np.mean(gains_wb**2)))
            grids = {"true": (true, sigma), "perturbed": (perturb(true), sigma)}
            prof = LensProfile.load(learned) if learned is not None else None
            if prof is not None and prof.f_number_blurry in (None, EXTREMES[extreme]):  # its own lens state only
                grids["learned"] = (prof.grid(), prof.noise_sigma)
            photos = []
            for dng in sorted((tmp / "test").glob("*.dng")):
                y = load_photo(dng)[0].pixels
                ref = read_image(dng.with_name(dng.stem + "_reference.tif"))[0]
                photos.append((dng.name, y, ref))
            gains: dict[str, list[float]] = {name: [] for name in grids}
            wiener_nsr = (3e-3, 6e-3, 1e-2, 2e-2, 3e-2)
            wiener = {n: [] for n in wiener_nsr}
            rl_radii, rl_iters = (0.5, 0.7, 0.9, 1.1, 1.4, 1.8), [3, 5, 10, 20, 30]
            rl = {(r, i): [] for r in rl_radii for i in rl_iters}
            before = []
            t_ours = 0.0
            for name, y, ref in photos:
                base = psnr(y, ref, border=0)  # the whole frame
                before.append(base)
                for gname, (grid, s) in grids.items():
                    t = time.perf_counter()
                    gains[gname].append(psnr(deconvolve(y, grid, s), ref, border=0) - base)
                    t_ours += time.perf_counter() - t if gname == "true" else 0.0
                for n in wiener_nsr:
                    wiener[n].append(psnr(deconvolve(y, true, sigma, method="wiener", wiener_nsr=n), ref, border=0)
                                     - base)
                for r in rl_radii:
                    for it, x in richardson_lucy_gaussian(y, r, rl_iters).items():
                        rl[(r, it)].append(psnr(x, ref, border=0) - base)
            best_w = max(wiener, key=lambda n: np.mean(wiener[n]))
            best_rl = max(rl, key=lambda k: np.mean(rl[k]))
            entry = {
                "photos": [p[0] for p in photos], "size": [height, width], "noise_rms": round(sigma, 5),
                "psnr_before_db": round(float(np.mean(before)), 2),
                "gain_db": {g: round(float(np.mean(v)), 2) for g, v in gains.items()},
                "gain_db_per_photo": {g: [round(x, 2) for x in v] for g, v in gains.items()},
                "wiener_true_grid_gain_db": round(float(np.mean(wiener[best_w])), 2), "wiener_best_nsr": best_w,
                "gaussian_rl_gain_db": round(float(np.mean(rl[best_rl])), 2),
                "gaussian_rl_best": {"radius_px": best_rl[0], "iterations": best_rl[1]},
                "ours_minus_rl_db": round(float(np.mean(gains["true"]) - np.mean(rl[best_rl])), 2),
                "ours_minus_wiener_db": round(float(np.mean(gains["true"]) - np.mean(wiener[best_w])), 2),
                "perturbed_grid": {k: round(v, 3) for k, v in grid_report(grids["perturbed"][0], true).items()
                                   if k in ("ncc_mean", "ncc_worst", "l2")},
                "perturbed_vs_true_gain": round(float(np.mean(gains["perturbed"]) / np.mean(gains["true"])), 3),
                "ours_seconds_per_mp": round(t_ours / (len(photos) * height * width / 1e6), 2),
            }
            if "learned" in grids:
                entry["learned_vs_true_gain"] = round(float(np.mean(gains["learned"]) / np.mean(gains["true"])), 3)
                entry["learned_minus_rl_db"] = round(float(np.mean(gains["learned"]) - np.mean(rl[best_rl])), 2)
            results[extreme] = entry
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--n-test", type=int, default=4, help="held-out photos per lens state")
    ap.add_argument("--extremes", default="stopped,wide")
    ap.add_argument("--profile", type=Path, default=None, help="a learned profile of the simulated lens")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results_correct.json")
    args = ap.parse_args()
    kodak = sorted((SHARED / "kodak24").glob("*.png")) or sorted((ROOT / "examples" / "kodak").glob("*.png"))
    unsplash = sorted((SHARED / "unsplash").glob("*.jpg"))
    # parts not rerun (--skip-*) keep their previous figures
    result: dict = json.loads(args.json.read_text()) if args.json.is_file() else {}
    command = " ".join([".venv/bin/python bench/bench_correct.py", *sys.argv[1:]])
    result.pop("command", None)
    if not args.skip_quality:
        # held out: the last Kodak photos (learning benches use the first ones)
        result["quality"] = quality(kodak[-args.n_test:], args.extremes.split(","), args.n_test, args.profile)
        result["quality"]["command"] = command
        print(json.dumps(result["quality"], indent=1), flush=True)
    if not args.skip_speed:
        result["speed"] = speed(unsplash[:1] or kodak[:1], args.megapixels, args.repeat)
        result["speed"]["command"] = command
        print(json.dumps(result["speed"], indent=1), flush=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
