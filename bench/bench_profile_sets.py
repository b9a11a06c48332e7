#!/usr/bin/env python3
"""Profile sets: how close is a grid interpolated between two calibrated apertures to the truth?

    .venv/bin/python bench/bench_profile_sets.py [--tables bench/zoo_psfs] [--zoo-optics bench/zoo_optics.py]
                                                 [--pitch 4 6] [--frame 4000x6000] [--lenses ...]

Real lens designs, ray traced (bench/zoo_optics.py and its tables bench/zoo_psfs/*.npz; both
paths can be given when they are elsewhere): for each lens and each
bracket of calibrated apertures (a, b) around a middle one m, the true 8x8 grid of 13x13 RGB
kernels at m against the grid lenscal.profileset makes from the true grids at a and b:

- ``lenscal``: lenscal's rule (lenscal.optics.mix.mix_kernels: centroids linear, each kernel
  stretched halfway to the geometric interpolation of the widths, shapes mixed once aligned;
  weight t in log f-number);
- ``full``, ``aligned``: the same with each kernel stretched all the way to the interpolated
  width, or not at all (centroids aligned, shapes mixed as they are): the variants tried;
- ``pixels``: plain pixel mixing with the same t;
- ``nearest``: the nearer calibrated grid (what --force would use outside the range).

Brackets: f/8-f/16 around f/11 and f/4-f/8 around f/5.6 (stopped down), and the design aperture
to f/4 around f/2.8 (wide open). Scores are lenscal.optics.psf.grid_report's (both grids centred:
L2 relative error, NCC mean and worst node, lateral colour error) and the G second moment's error
at the centre and the corner. Prints a table; writes bench/results_profile_sets.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lenscal.optics.mix import log_weight, mix_kernels, mix_pixels  # noqa: E402
from lenscal.optics.psf import grid_report, second_moment  # noqa: E402

BRACKETS = (("stopped", 8.0, 11.0, 16.0), ("stopped", 4.0, 5.6, 8.0), ("wide", None, 2.8, 4.0))
METHODS = ("lenscal", "full", "aligned", "pixels", "nearest")


def load_zoo_optics(path: Path):
    spec = importlib.util.spec_from_file_location("zoo_optics", path)
    if spec is None or not path.is_file():
        sys.exit(f"{path}: not found (give --zoo-optics)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(estimate: np.ndarray, truth: np.ndarray) -> dict:
    r = grid_report(estimate, truth)
    m_est, m_tru = second_moment(estimate)[..., 1], second_moment(truth)[..., 1]  # G, (rows, cols)
    rows, cols = truth.shape[:2]
    centre = (rows // 2, cols // 2)
    return {"l2": r["l2"], "ncc_mean": r["ncc_mean"], "ncc_worst": r["ncc_worst"],
            "lateral_colour_error_px": r["lateral_colour_error_mean"],
            "g_width_error_centre": float(m_est[centre] / m_tru[centre] - 1),
            "g_width_error_corner": float(m_est[0, 0] / m_tru[0, 0] - 1)}


def bracket_rows(zoo, lens: str, tables: Path, height: int, width: int, pitch: float, nodes: int) -> list[dict]:
    """Every bracket of one lens at one pixel pitch, scored by every method."""
    stops = zoo.f_numbers(lens, tables)

    def table_f(f: float) -> float | None:  # the tabulated f-number nearest f (within 3%)
        best = min(stops, key=lambda s: abs(math.log(s / f)))
        return best if abs(math.log(best / f)) < 0.03 else None

    rows = []
    for kind, fa, fm, fb in BRACKETS:
        fa = stops[0] if fa is None else table_f(fa)
        fm, fb = table_f(fm), table_f(fb)
        if None in (fa, fm, fb) or not fa < fm < fb:
            continue
        grid = {f: zoo.psf_grid(lens, f, height, width, pitch, nodes, nodes, 13, folder=tables) for f in (fa, fm, fb)}
        t = log_weight(fa, fb, fm)
        row = {"lens": lens, "pitch_um": pitch, "kind": kind, "f_a": fa, "f_mid": fm, "f_b": fb, "t": t,
               "lenscal": score(mix_kernels(grid[fa], grid[fb], t), grid[fm]),
               "full": score(mix_kernels(grid[fa], grid[fb], t, stretch=1.0), grid[fm]),
               "aligned": score(mix_kernels(grid[fa], grid[fb], t, stretch=0.0), grid[fm]),
               "pixels": score(mix_pixels(grid[fa], grid[fb], t), grid[fm]),
               "nearest": score(grid[fa] if t < 0.5 else grid[fb], grid[fm])}
        rows.append(row)
        print(f"{pitch:g} um {lens:20s} f/{fa:g}-f/{fb:g} -> f/{fm:g}  L2 lenscal {row['lenscal']['l2']:.3f}  "
              f"pixels {row['pixels']['l2']:.3f}  nearest {row['nearest']['l2']:.3f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=Path, default=ROOT / "bench" / "zoo_psfs")
    ap.add_argument("--zoo-optics", type=Path, default=ROOT / "bench" / "zoo_optics.py")
    ap.add_argument("--pitch", type=float, nargs="+", default=[4.0, 6.0], help="pixel pitches (um)")
    ap.add_argument("--frame", default="4000x6000", help="HEIGHTxWIDTH (px)")
    ap.add_argument("--grid", type=int, default=8)
    ap.add_argument("--lenses", nargs="*", default=None)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results_profile_sets.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    zoo = load_zoo_optics(args.zoo_optics)
    height, width = (int(v) for v in args.frame.split("x"))
    lenses = args.lenses or zoo.available_lenses(args.tables)
    if not lenses:
        sys.exit(f"no PSF tables in {args.tables} (give --tables)")
    start = time.perf_counter()
    rows = []
    for pitch in args.pitch:
        for lens in lenses:
            rows += bracket_rows(zoo, lens, args.tables, height, width, pitch, args.grid)
    summary = {}
    for pitch in args.pitch:
        for kind, _, fm, _ in BRACKETS:
            sel = [r for r in rows if r["pitch_um"] == pitch and r["kind"] == kind and abs(math.log(r["f_mid"] / fm)) < 0.03]
            if not sel:
                continue
            summary[f"{pitch:g} um, {kind} f/{fm:g}"] = {
                method: {key: float(np.mean([r[method][key] for r in sel])) for key in sel[0][method]}
                | {"l2_worst": float(max(r[method]["l2"] for r in sel))}
                for method in METHODS} | {"lenses": len(sel)}
    print("\nmean over lenses: L2 (worst lens) / NCC mean / NCC worst node / lateral colour error / G width error centre, corner")
    for name, s in summary.items():
        for method in METHODS:
            m = s[method]
            print(f"  {name:24s} {method:8s} {m['l2']:.3f} ({m['l2_worst']:.3f}) / {m['ncc_mean']:.4f} / "
                  f"{m['ncc_worst']:.4f} / {m['lateral_colour_error_px']:.3f} px / "
                  f"{m['g_width_error_centre']:+.1%}, {m['g_width_error_corner']:+.1%}")
    result = {"frame": [height, width], "pitch_um": args.pitch, "grid": args.grid, "kernel_size": 13,
              "lenses": lenses,
              "seconds": time.perf_counter() - start, "summary": summary, "rows": rows}
    args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
