"""Benchmark of `lenscal learn` on a simulated 6 + 6 shoot with a known PSF grid.

For each lens state (f/16-like "stopped", f/1.7-like "wide") the Unsplash photos are brought to
the requested size (12-24 MP for the product target), the sharp set is left as is, the blurry set
is blurred with the simulated lens's grid (lenscal.simulate.lens_psf_grid, through the one
forward model blur_image), tinted and exposed a little differently and given Gaussian noise.
The learn is timed and judged with grid_report against the truth; the best single isotropic
Gaussian (grid_report's l2_gaussian) is the baseline measured in the same run.

    python bench/bench_learn.py --megapixels 16 --cases stopped wide --out bench/results_learn.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenscal.learn import learn_grid  # noqa: E402
from lenscal.optics.blur import blur_image  # noqa: E402
from lenscal.optics.psf import grid_report  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos" / "unsplash"


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def load(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A photo as linear light, landscape, resized (area) to exactly (height, width)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    if img.shape[0] > img.shape[1]:
        img = np.rot90(img)
    img = cv2.resize(np.ascontiguousarray(img), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return srgb_to_linear(img.astype(np.float32) / 255) * 0.85


def truth_grid(kind: str, height: int, width: int) -> np.ndarray:
    try:
        from lenscal.simulate import lens_psf_grid

        return lens_psf_grid(kind, height, width)
    except ImportError:  # before the simulator existed: the test suite's synthetic lens
        sys.path.insert(0, str(REPO / "tests" / "learn"))
        from synth import true_grid

        return true_grid(8, 8)


def make_shoot(kind: str, megapixels: float, sigma: float, seed: int):
    photos = sorted(PHOTOS.glob("*.jpg"))
    if len(photos) < 12:
        raise SystemExit(f"need 12 photos in {PHOTOS}")
    width = int(round(math.sqrt(megapixels * 1e6 * 3 / 2) / 2) * 2)
    height = int(round(width * 2 / 3 / 2) * 2)
    grid = truth_grid(kind, height, width)
    rng = np.random.default_rng(seed)
    # alternate the photos between the sets, as the README's shooting guide asks of a photographer:
    # the method compares the two sets' patch statistics, so one set of softer scenes reads as blur
    sharp = [load(p, (height, width)) for p in photos[0:12:2]]
    blurry = []
    for p in photos[1:12:2]:
        img = blur_image(load(p, (height, width)), grid) * np.float32(0.92) * np.array([1.03, 1, 0.96], np.float32)
        img += rng.normal(0, sigma, img.shape).astype(np.float32)
        blurry.append(img)
    return sharp, blurry, grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=16.0)
    ap.add_argument("--cases", nargs="+", default=["stopped", "wide"])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--sigma", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overrides", default="{}", help="JSON dict of learn settings")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results_learn.json")
    args = ap.parse_args()
    results = {"machine": platform.processor() or platform.machine(), "megapixels": args.megapixels,
               "preset": args.preset, "overrides": json.loads(args.overrides), "cases": {}}
    for kind in args.cases:
        t0 = time.perf_counter()
        sharp, blurry, truth = make_shoot(kind, args.megapixels, args.sigma, args.seed)
        t_sim = time.perf_counter() - t0
        last = [0.0]

        def progress(stage, done, total, info):
            now = time.perf_counter()
            if now - last[0] > 30 or done == total:
                last[0] = now
                print(f"  [{kind}] {stage}: {done}/{total} {info}", flush=True)

        t0 = time.perf_counter()
        result = learn_grid(sharp, blurry, preset=args.preset, seed=args.seed, progress=progress,
                            overrides=json.loads(args.overrides))
        t_learn = time.perf_counter() - t0
        rep = grid_report(result.grid, truth)
        case = {"size": list(sharp[0].shape[:2]), "simulate_seconds": t_sim, "learn_seconds": t_learn, **rep,
                "l2_over_gaussian": rep["l2"] / rep["l2_gaussian"], "sigma": result.sigma, "sigma_truth": args.sigma,
                "sigma_error": abs(result.sigma - args.sigma) / args.sigma, "gains": result.gains.tolist(),
                "gains_truth": [0.92 * 1.03, 0.92, 0.92 * 0.96], "step2_cycles": result.settings["step2_cycles"],
                "confidence_mean": float(result.confidence.mean())}
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
