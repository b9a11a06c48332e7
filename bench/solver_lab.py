#!/usr/bin/env python3
"""Solver work on the zoo's held-out photos: lenscal's deconvolution with the TRUE grid (and the
true grid stretched) under SolverOptions variants, against textbook Richardson-Lucy with the
same grid (its best iteration count among 5/10/20/40, picked on the photos themselves).

    .venv/bin/python bench/solver_lab.py --cases sim-f16-alt-T ef85-f16-alt-V --variants '{}' '{"weight": 150}'

The developed test photos and the RL figures are cached per case (bench_out/zoo/<case>/solver/).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
from baselines import psnr, richardson_lucy, stretch  # noqa: E402


def photos(case) -> list[tuple[np.ndarray, np.ndarray]]:
    from lenscal.develop import load_photo

    folder = zoo.WORK / case.name / "shoot"
    cache = zoo.WORK / case.name / "solver" / "photos.npz"
    if not cache.is_file():
        refs = np.load(folder / "test" / "references.npz")
        ys = [load_photo(p)[0].pixels for p in sorted((folder / "test").glob("*.dng"))]
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{f"y{i}": y for i, y in enumerate(ys)}, **{f"r{i}": refs[f"arr_{i}"] for i in range(len(ys))})
    d = np.load(cache)
    return [(d[f"y{i}"], d[f"r{i}"]) for i in range(len([k for k in d.files if k.startswith("y")]))]


def regions(case, y, ref):
    for y0, x0, h, w in zoo.crops(case.size):
        yield (slice(y0, y0 + h), slice(x0, x0 + w)), (y0, x0, h, w)


def rl_gain(case, pics, true8) -> dict:
    cache = zoo.WORK / case.name / "solver" / "rl.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    by_it: dict[int, list[float]] = {}
    for y, ref in pics:
        for sl, (y0, x0, h, w) in regions(case, y, ref):
            m = 32 if (h, w) != case.size else 0
            cy0, cx0 = max(y0 - m, 0), max(x0 - m, 0)
            cy1, cx1 = min(y0 + h + m, case.size[0]), min(x0 + w + m, case.size[1])
            inner = (slice(y0 - cy0, y0 - cy0 + h), slice(x0 - cx0, x0 - cx0 + w))
            base = psnr(y[sl], ref[sl])
            for it, x in richardson_lucy(y[cy0:cy1, cx0:cx1], true8, case.size, (cy0, cx0)).items():
                by_it.setdefault(it, []).append(psnr(x[inner], ref[sl]) - base)
    best = max(by_it, key=lambda it: np.mean(by_it[it]))
    out = {"gain": round(float(np.mean(by_it[best])), 3), "iterations": best,
           "by_iterations": {str(k): round(float(np.mean(v)), 3) for k, v in by_it.items()}}
    cache.write_text(json.dumps(out))
    return out


def discrepancy_weight(y: np.ndarray, grid: np.ndarray, options: dict, tau: float, ladder, n: int = 4) -> float:
    """The largest prior weight whose residual |k * x - y|^2 on a sample of tiles stays within
    ``tau`` times the noise variance the photo's noise model expects there (Morozov)."""
    from lenscal.correct.deconv import SolverOptions, fast_size, psf2otf, solve_tiles
    from lenscal.noise import fine_scale_sigma, measure_noise
    from lenscal.optics.psf import interpolate

    model = measure_noise(y)
    opts = SolverOptions.from_kwargs(**options)
    if model is None:
        return opts.weight
    sigma = max(fine_scale_sigma(y), opts.min_sigma)
    h, w = y.shape[:2]
    side, pad = 128, 24
    win = fast_size(side + 2 * pad)
    tiles, centres = [], []
    for fy in np.linspace(0.15, 0.85, n):
        for fx in np.linspace(0.15, 0.85, n):
            r0 = int(fy * (h - win)); c0 = int(fx * (w - win))
            tiles.append(y[r0:r0 + win, c0:c0 + win].transpose(2, 0, 1))
            centres.append(((r0 + win / 2) / (h - 1), (c0 + win / 2) / (w - 1)))
    t = torch.from_numpy(np.ascontiguousarray(np.stack(tiles)))
    k = interpolate(torch.as_tensor(grid, dtype=torch.float32), torch.tensor(centres, dtype=torch.float32))
    otf = psf2otf(k, (win, win))
    core = (slice(None), slice(None), slice(pad, pad + side), slice(pad, pad + side))
    expected = np.mean([model.variance(t[:, c][:, pad:pad + side, pad:pad + side].numpy(), c).mean()
                        for c in range(3)])
    ratios = []
    for weight in ladder:
        x = solve_tiles(t, k, sigma, SolverOptions.from_kwargs(**{**options, "weight": weight}))
        blurred = torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=(win, win))
        ratios.append(float((blurred - t)[core].square().mean()) / expected)
    ok = [wt for wt, r in zip(ladder, ratios) if r <= tau]
    return float(max(ok)) if ok else float(ladder[0])  # ladder[0]: the least regularisation allowed


def gains(case, pics, grid, options: dict) -> tuple[float, float]:
    from lenscal.correct.deconv import deconvolve

    out, t = [], 0.0
    rule = dict(options)
    tau = rule.pop("discrepancy", None)
    ladder = rule.pop("ladder", [75, 106, 150, 212, 300, 424, 600, 848, 1200, 1700, 2400, 3400, 4800])
    for y, ref in pics:
        t0 = time.perf_counter()
        options = rule if tau is None else {**rule, "weight": discrepancy_weight(y, grid, rule, tau, ladder)}
        if tau is not None:
            print(f"   weight {options['weight']:g}", flush=True)
        x = deconvolve(y, grid, 0.01, **options)
        t += time.perf_counter() - t0
        for sl, _ in regions(case, y, ref):
            out.append(psnr(x[sl], ref[sl]) - psnr(y[sl], ref[sl]))
    return round(float(np.mean(out)), 3), t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--variants", nargs="+", default=["{}"], help="JSON SolverOptions each")
    ap.add_argument("--stretch", nargs="*", type=float, default=[1.15, 1.3])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.cases:
        case = next(c for c in zoo.CASES if c.name == name)
        zoo.ensure_shoot(case)
        pics = photos(case)
        true8, _ = zoo.truth(case)
        rl = rl_gain(case, pics, true8)
        for v in args.variants:
            opts = json.loads(v)
            g, t = gains(case, pics, true8, opts)
            row = {"case": name, "variant": opts, "true": g, "rl": rl["gain"], "minus_rl": round(g - rl["gain"], 3),
                   "seconds": round(t, 1)}
            for f in args.stretch:
                row[f"x{f:g}"] = gains(case, pics, stretch(true8, f), opts)[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
