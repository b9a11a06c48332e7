#!/usr/bin/env python3
"""Benchmark of what a learn does after step 2 on large photos: the self-check before the
edge-width calibration, the calibration, the self-check after it (learn.widths).

Both self-checks and the calibration compare grids with the same blurry photos' edges. The
baseline reads those edges inside every call (R, G, B per check, G again for the calibration);
``shared`` reads them once (``widths.blurry_edges``) and hands them to each call, as a learn
does. The two must give the same readings to the bit; the ratio is their times in one run.

    .venv/bin/python bench/bench_selfcheck.py --megapixels 24 --photos 6 --out bench/results_selfcheck.json
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
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_learn import PHOTOS, load  # noqa: E402

from lenscal.learn import widths  # noqa: E402
from lenscal.learn.patches import centre_crop  # noqa: E402
from lenscal.optics.psf import gaussian  # noqa: E402


def grid_of(sigma: float, rows: int = 8, cols: int = 8) -> torch.Tensor:
    return gaussian(sigma, 13).double().expand(rows, cols, 3, 13, 13).clone()


def after_step2(blurry, crops, noise, scale, shared: list | None = None) -> tuple[dict, dict, dict]:
    """The three post-step-2 calls of a learn (check, calibration, check), as the pipeline makes
    them: with the ``shared`` readings, or reading the photos' edges anew for each call."""
    def edges() -> list:
        return shared or widths.blurry_edges(blurry, 8, 8, True, noise, scale)

    step2 = grid_of(1.8)
    before = widths.forward_check(step2, edges(), crops, noise, True, torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(1)
    tiles = widths.sharp_tiles(crops, gen)
    g = shared[1] if shared else widths.read_edges([img[:, :, 1] * np.float32(scale) for img in blurry], 8, 8, True,
                                                   noise[1])
    grid, info = widths.calibrate(step2, g, tiles, noise[1], True, gen)
    after = widths.forward_check(grid, edges(), crops, noise, True, torch.Generator().manual_seed(2))
    return before, info, after


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--photos", type=int, default=6, help="blurry photos (and as many sharp ones for the crops)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results_selfcheck.json")
    args = ap.parse_args()
    width = int(round(math.sqrt(args.megapixels * 1e6 * 3 / 2) / 2) * 2)
    height = int(round(width * 2 / 3 / 2) * 2)
    photos = sorted(PHOTOS.glob("*.jpg"))[:2 * args.photos]
    rng = np.random.default_rng(0)
    sharp = [load(p, (height, width)) for p in photos[0::2]]
    blurry = [cv2.GaussianBlur(load(p, (height, width)), (0, 0), 1.4) + rng.normal(0, 0.004, (height, width, 3))
              .astype(np.float32) for p in photos[1::2]]
    scale, sigma = 0.7, 0.004
    noise = (sigma * scale,) * 3
    crops = torch.from_numpy(np.stack([centre_crop(img, 0.5, 52, 3072) for img in sharp])) * scale
    del sharp
    t0 = time.perf_counter()
    baseline = after_step2(blurry, crops, noise, scale)
    t_baseline = time.perf_counter() - t0
    t0 = time.perf_counter()
    edges = widths.blurry_edges(blurry, 8, 8, True, noise, scale)
    shared = after_step2(blurry, crops, noise, scale, edges)
    t_shared = time.perf_counter() - t0
    same = baseline == shared
    result = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "size": [height, width], "photos": len(blurry), "baseline_seconds": round(t_baseline, 1),
              "shared_seconds": round(t_shared, 1), "speed_up": round(t_baseline / t_shared, 2),
              "readings_identical": same}
    print(json.dumps(result, indent=1))
    if not same:
        raise SystemExit("the shared readings differ from the baseline's")
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
