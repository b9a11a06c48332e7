"""Benchmark of `lenscal learn` on a simulated 6 + 6 shoot with a known PSF grid.

For each lens state (f/16-like "stopped", f/1.7-like "wide") the Unsplash photos are brought to
the requested size (12-24 MP for the product target), the sharp set is left as is, the blurry set
is blurred with the simulated lens's grid (lenscal.simulate.lens_psf_grid, through the one
forward model blur_image), tinted and exposed a little differently and given Gaussian noise.
The learn is timed and judged with grid_report against the truth; the best single isotropic
Gaussian (grid_report's l2_gaussian) is the baseline measured in the same run. It also prints
how much the two sets' scenes differ (scene_mismatch): the part of the error no learner can avoid.
By default the 12 photos are 12 different scenes, alternating between the sets; --same-scenes
shoots the sharp set's 6 scenes again, reframed, as the README's shooting guide recommends.

    python bench/bench_learn.py --megapixels 16 --cases stopped wide --out bench/results_learn.json

With ``--dng`` the shoot is written as Bayer DNG files (a camera lensfun does not know, so
nothing is devignetted) and learned by the ``lenscal learn`` command in a fresh process, as a
user runs it: the time then includes start-up, development and writing the profile.

    python bench/bench_learn.py --megapixels 24 --cases wide --dng --out bench/results_learn_24mp_dng.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenscal.io.images import srgb_decode  # noqa: E402
from lenscal.learn import learn_grid  # noqa: E402
from lenscal.learn.presets import get_settings  # noqa: E402
from lenscal.optics.blur import blur_image  # noqa: E402
from lenscal.optics.psf import grid_report  # noqa: E402
from lenscal.optics.diffraction import relative_scales  # noqa: E402
from lenscal.simulate import EXTREMES, PIXEL_PITCH_UM, SHARP_F, random_crop  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos" / "unsplash"


def load(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A photo as linear light, landscape, resized (area) to exactly (height, width)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    if img.shape[0] > img.shape[1]:
        img = np.rot90(img)
    img = cv2.resize(np.ascontiguousarray(img), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return srgb_decode(img.astype(np.float32) / 255) * 0.85


def truth_grid(kind: str, height: int, width: int, band_um: float = 0.0) -> np.ndarray:
    try:
        from lenscal.simulate import lens_psf_grid

        return lens_psf_grid(kind, height, width, band_um=band_um)
    except ImportError:  # before the simulator existed: the test suite's synthetic lens
        sys.path.insert(0, str(REPO / "tests" / "learn"))
        from synth import true_grid

        return true_grid(8, 8)


def reframed(path: Path, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The same scene shot again by hand: 6% tighter framing at a random offset, so no pixel of
    the sharp and blurry versions corresponds (the sets stay unpaired)."""
    return random_crop(load(path, (int(size[0] * 1.06) // 2 * 2, int(size[1] * 1.06) // 2 * 2)), size, rng)


BANDS = ((0.02, 0.06), (0.06, 0.12), (0.12, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.71))  # cycles/px


def patch_power(images: list[np.ndarray], fraction: float, rng: np.random.Generator, size: int = 32,
                per_image: int = 2000) -> np.ndarray:
    """Mean power spectrum (3, size, size) of mean-removed, Hann-windowed patches of the central
    ``fraction`` (of each side) of the images."""
    window = np.hanning(size)[:, None] * np.hanning(size)[None, :]
    total = np.zeros((3, size, size))
    for img in images:
        h, w = img.shape[:2]
        ch, cw = int(h * fraction), int(w * fraction)
        crop = img[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
        r = rng.integers(0, ch - size, per_image)
        c = rng.integers(0, cw - size, per_image)
        p = np.stack([crop[i:i + size, j:j + size] for i, j in zip(r, c)]).transpose(0, 3, 1, 2).astype(np.float64)
        p -= p.mean((-2, -1), keepdims=True)
        total += (np.abs(np.fft.fft2(p * window)) ** 2).mean(0)
    return total / len(images)


def scene_mismatch(sharp: list[np.ndarray], scenes: list[np.ndarray], fraction: float) -> dict:
    """Per channel and frequency band, the power of the blurry set's SCENES (before the lens)
    over that of the sharp set's centre crops: 1 everywhere would mean the unpaired sets have the
    same statistics; whatever differs from 1 the learner cannot tell from blur."""
    rng = np.random.default_rng(0)
    ps, pb = patch_power(sharp, fraction, rng), patch_power(scenes, 1.0, rng)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32)))
    return {f"{lo:g}-{hi:g}": [round(float(pb[c][(f >= lo) & (f < hi)].mean() / ps[c][(f >= lo) & (f < hi)].mean()), 3)
                               for c in range(3)] for lo, hi in BANDS}


def make_shoot(kind: str, megapixels: float, sigma: float, seed: int, same_scenes: bool = False,
               band_um: float = 0.0):
    photos = sorted(PHOTOS.glob("*.jpg"))
    if len(photos) < 12:
        raise SystemExit(f"need 12 photos in {PHOTOS}")
    width = int(round(math.sqrt(megapixels * 1e6 * 3 / 2) / 2) * 2)
    height = int(round(width * 2 / 3 / 2) * 2)
    grid = truth_grid(kind, height, width, band_um)
    rng = np.random.default_rng(seed)
    # alternate the photos between the sets, as the README's shooting guide asks of a photographer:
    # the method compares the two sets' patch statistics, so one set of softer scenes reads as blur
    sharp = [load(p, (height, width)) for p in photos[0:12:2]]
    blurry, scenes = [], []
    for p in photos[0:12:2] if same_scenes else photos[1:12:2]:
        scene = reframed(p, (height, width), rng) if same_scenes else load(p, (height, width))
        scenes.append(scene)
        img = blur_image(scene, grid) * np.float32(0.92) * np.array([1.03, 1, 0.96], np.float32)
        img += rng.normal(0, sigma, img.shape).astype(np.float32)
        blurry.append(img)
    return sharp, blurry, grid, scenes


def write_shoot(folder: Path, sharp: list[np.ndarray], blurry: list[np.ndarray], f_blurry: float) -> None:
    """The two sets as Bayer DNG files in ``folder``/sharp and ``folder``/blurry."""
    from lenscal.io.dng import mosaic_from_rgb, write_dng
    from lenscal.photo import Metadata

    black, white = 512, 16383
    for which, f_number, images in (("sharp", SHARP_F, sharp), ("blurry", f_blurry, blurry)):
        h, w = images[0].shape[:2]
        meta = Metadata(make="Benchtech", model="B-1", lens_make="Benchtech", lens_model="Bench 50mm",
                        focal_length=50.0, f_number=f_number, iso=200.0, exposure_time=1 / 250 * (f_number / SHARP_F) ** 2,
                        datetime="2026:06:01 10:00:00", width=w, height=h)
        for i, img in enumerate(images):
            dn = black + np.clip(mosaic_from_rgb(img), 0, 1) * (white - black)
            write_dng(folder / which / f"{which}_{i:02d}.dng", np.round(dn).astype(np.uint16), meta, black=black,
                      white=white, as_shot_neutral=(1.0, 1.0, 1.0))


def learn_dng(folder: Path, preset: str, seed: int, pixel_pitch: float, overrides: dict):
    """``lenscal learn`` on the DNG shoot in a fresh process (``--force``: the profile is scored
    even if it fails its self-check); the learned grid and its noise sigma."""
    from lenscal.profile import LensProfile

    out = folder / "profile.json"
    cmd = [sys.executable, "-m", "lenscal", "learn", "--sharp", str(folder / "sharp"), "--blurry",
           str(folder / "blurry"), "-o", str(out), "--preset", preset, "--seed", str(seed), "--force"]
    cmd += ["--pixel-pitch", str(pixel_pitch)] if pixel_pitch > 0 else []
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={v}"]
    subprocess.run(cmd, check=True)
    profile = LensProfile.load(out)
    return profile.grid(), profile.noise_sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=16.0)
    ap.add_argument("--cases", nargs="+", default=["stopped", "wide"])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--sigma", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--same-scenes", action="store_true",
                    help="shoot the same 6 scenes (reframed) at both apertures instead of 12 different scenes")
    ap.add_argument("--overrides", default="{}", help="JSON dict of learn settings")
    ap.add_argument("--band", type=float, default=0.0,
                    help="um: the simulated f/16 lens's channels integrate this band of wavelengths, as real "
                         "colour filters do (the learner still models one wavelength per channel)")
    ap.add_argument("--pixel-pitch", type=float, default=PIXEL_PITCH_UM,
                    help="um, as lenscal learn --pixel-pitch: the diffraction is modelled from it and each "
                         "case's f-number (the simulator's 3.3 by default; 0 = learn it like any blur)")
    ap.add_argument("--dng", action="store_true",
                    help="write the shoot as DNG files and time the lenscal learn command on them")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results_learn.json")
    args = ap.parse_args()
    results = {"machine": platform.processor() or platform.machine(), "megapixels": args.megapixels,
               "preset": args.preset, "same_scenes": args.same_scenes, "overrides": json.loads(args.overrides),
               "pixel_pitch_um": args.pixel_pitch, "band_um": args.band, "dng": args.dng, "cases": {}}
    for kind in args.cases:
        t0 = time.perf_counter()
        sharp, blurry, truth, scenes = make_shoot(kind, args.megapixels, args.sigma, args.seed, args.same_scenes,
                                                  args.band)
        t_sim = time.perf_counter() - t0
        fraction = get_settings(args.preset, json.loads(args.overrides)).centre_fraction
        mismatch = scene_mismatch(sharp, scenes, fraction)
        del scenes
        print(f"  [{kind}] scene power, blurry set / sharp centres (R, G, B per band, cycles/px): {mismatch}", flush=True)
        last = [0.0]

        def progress(stage, done, total, info):
            now = time.perf_counter()
            if now - last[0] > 30 or done == total:
                last[0] = now
                print(f"  [{kind}] {stage}: {done}/{total} {info}", flush=True)

        if args.dng:
            with tempfile.TemporaryDirectory(prefix="bench_learn_") as tmp:
                write_shoot(Path(tmp), sharp, blurry, EXTREMES[kind])
                shape, n = list(sharp[0].shape[:2]), len(sharp) + len(blurry)
                del sharp, blurry
                t0 = time.perf_counter()
                grid, sigma = learn_dng(Path(tmp), args.preset, args.seed, args.pixel_pitch, json.loads(args.overrides))
                t_learn = time.perf_counter() - t0
            rep = grid_report(grid, truth)
            case = {"size": shape, "simulate_seconds": t_sim, "learn_seconds": t_learn, **rep,
                    "l2_over_gaussian": rep["l2"] / rep["l2_gaussian"], "sigma": sigma, "sigma_truth": args.sigma,
                    "scene_mismatch": mismatch, "photos": n}
            results["cases"][kind] = case
            print(f"{kind}: lenscal learn on {n} DNGs {t_learn / 60:.1f} min | "
                  f"L2 {rep['l2']:.3f} vs best Gaussian {rep['l2_gaussian']:.3f}", flush=True)
            args.out.write_text(json.dumps(results, indent=1))
            continue
        t0 = time.perf_counter()
        # the sharp photos are the scenes themselves here (no sharp-aperture diffraction to subtract)
        scales = relative_scales(EXTREMES[kind], args.pixel_pitch) if args.pixel_pitch > 0 else None
        result = learn_grid(sharp, blurry, preset=args.preset, seed=args.seed, progress=progress,
                            overrides=json.loads(args.overrides), diffraction=scales, f_number=EXTREMES[kind])
        t_learn = time.perf_counter() - t0
        rep = grid_report(result.grid, truth)
        case = {"size": list(sharp[0].shape[:2]), "simulate_seconds": t_sim, "learn_seconds": t_learn, **rep,
                "l2_over_gaussian": rep["l2"] / rep["l2_gaussian"], "sigma": result.sigma, "sigma_truth": args.sigma,
                "sigma_error": abs(result.sigma - args.sigma) / args.sigma, "gains": result.gains.tolist(),
                "gains_truth": [0.92 * 1.03, 0.92, 0.92 * 0.96], "step2_cycles": result.settings["step2_cycles"],
                "diffraction_scales": result.settings["diffraction_scales"], "magnify": result.settings["magnify"],
                "edge_widths": result.history.get("edge_widths"), "lateral": result.settings["lateral"],
                "confidence_mean": float(result.confidence.mean()),
                "step2_change": result.history.get("step2_change", []), "scene_mismatch": mismatch}
        results["cases"][kind] = case
        np.savez_compressed(args.out.with_name(args.out.stem + f"_{kind}_grids.npz"), learned=result.grid, truth=truth)
        print(f"{kind}: learn {t_learn / 60:.1f} min | NCC mean {rep['ncc_mean']:.3f} worst {rep['ncc_worst']:.3f} | "
              f"L2 {rep['l2']:.3f} vs best Gaussian {rep['l2_gaussian']:.3f} (ratio {case['l2_over_gaussian']:.2f}) | "
              f"lateral colour error mean {rep['lateral_colour_error_mean']:.2f} max {rep['lateral_colour_error_max']:.2f} px | "
              f"sigma {result.sigma:.4f} vs {args.sigma:.4f}", flush=True)
        args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
