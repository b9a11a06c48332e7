#!/usr/bin/env python3
"""Do the two sets' scenes explain step 2's width errors? Per zoo shoot: the Gaussian variance the
scenes alone would read as blur (the blurry set's scenes' radial power spectrum over the sharp
set's, before the lens, at 0.13-0.40 cycles/px; also with the ratio's level at 0.02-0.09
cycles/px taken off first) against the saved step-2 grid's error in mean kernel variance (G).

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_scene_spectra.py --tag draw --cases CASE...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import zoo  # noqa: E402

from lenscal.optics.psf import covariance  # noqa: E402

TILE = 128
EDGES = np.array([0.02, 0.04, 0.06, 0.09, 0.13, 0.18, 0.24, 0.31, 0.40, 0.5])  # cycles/px bands
LOW, HIGH = slice(0, 3), slice(4, 8)  # untouched by a blur of a px or two; where it acts


def spectrum(img: np.ndarray) -> np.ndarray:
    """Mean radial power per band of G over Hann-windowed tiles, the image scaled to mean 1."""
    g = img[:, :, 1] / img[:, :, 1].mean()
    window = np.outer(np.hanning(TILE), np.hanning(TILE))
    radius = np.hypot(np.fft.fftfreq(TILE)[:, None], np.fft.fftfreq(TILE)[None, :])
    band = np.digitize(radius, EDGES).ravel() - 1
    power = np.zeros(TILE * TILE)
    tiles = [g[r:r + TILE, c:c + TILE] for r in range(0, g.shape[0] - TILE + 1, TILE)
             for c in range(0, g.shape[1] - TILE + 1, TILE)]
    for t in tiles:
        power += np.abs(np.fft.fft2((t - t.mean()) * window)).ravel() ** 2
    return np.array([power[band == b].mean() for b in range(len(EDGES) - 1)]) / len(tiles)


def mean_variance(grid: np.ndarray) -> float:
    cov = covariance(torch.from_numpy(grid[:, :, 1]).double())[1]
    return float(((cov[..., 0, 0] + cov[..., 1, 1]) / 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--tag", default="draw")
    args = ap.parse_args()
    by_name = {c.name: c for c in zoo.CASES}
    centres = 0.5 * (EDGES[:-1] + EDGES[1:])
    f2 = (2 * np.pi * centres[HIGH]) ** 2  # a Gaussian of variance v multiplies power by exp(-f2 v)
    for name in args.cases:
        case = by_name[name]
        found = zoo.scenes(case)
        ratio = np.log(np.mean([spectrum(x) for x in found["blurry"]], 0) / np.mean([spectrum(x) for x in found["sharp"]], 0))
        step2 = np.load(zoo.WORK / name / args.tag / "grids.npz")["step2"]
        learned, true = mean_variance(step2), mean_variance(zoo.truth(case)[0])
        print(json.dumps({"case": name, "scenes_px2": round(float(np.mean(-ratio[HIGH] / f2)), 3),
                          "scenes_level_off_px2": round(float(np.mean(-(ratio[HIGH] - ratio[LOW].mean()) / f2)), 3),
                          "step2_minus_true_px2": round(learned - true, 3)}), flush=True)


if __name__ == "__main__":
    main()
