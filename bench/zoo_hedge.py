#!/usr/bin/env python3
"""Each zoo shoot's final grid (the profile a learn writes, or would write with --force) with
every kernel made narrower by a fixed factor before the correction: does hedging against kernels
that come out too wide pay? A width error costs more gain when the kernel is too wide (ringing)
than too narrow (less sharpening), so a narrower kernel than the best estimate could be the
better bet. Scores the held-out photos as bench/zoo.py does, the true grid narrowed alike.

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_hedge.py --results bench/results_zoo_now.json --out FILE --cases CASE...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402
from baselines import stretch  # noqa: E402

from lenscal.optics.psf import grid_report  # noqa: E402
from lenscal.profile import LensProfile  # noqa: E402

FACTORS = (1.0, 0.9, 0.8, 0.7)


def final_grid(row: dict) -> np.ndarray:
    """The row's grid as the current code writes it: replayed from its saved step-2 grid where the
    row was replayed (zoo.py --replay), else the learned profile."""
    profile = Path(row["learn"]["profile"])
    replayed = row["learn"].get("replayed")
    if not replayed:
        return LensProfile.load(profile).grid()
    return zoo_posthoc.replay(zoo.find_case(row["case"]["name"]), profile.parent.name, [replayed["edge_widths"]],
                              replayed["lateral"], False, (replayed["kernel_shape"] == "gaussian",))[0]["grid"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True, help="a zoo results file whose rows to take")
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = {r["case"]["name"]: r for r in json.loads(args.results.read_text())["rows"]}
    out = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.cases:
        if name in out:
            continue
        row, case = rows[name], zoo.find_case(name)
        true8, _ = zoo.truth(case)
        grid = final_grid(row)
        grids = {}
        for f in FACTORS:
            grids[f"learned_x{f}"] = grid if f == 1.0 else stretch(grid, f)
            grids[f"true_x{f}"] = true8 if f == 1.0 else stretch(true8, f)
        gains = zoo.evaluate_grids(case, zoo.WORK / name / "shoot", grids, row["sigma_true"])
        l2 = {}
        for k, g in grids.items():
            if k.startswith("learned"):
                rep = grid_report(g, true8)
                l2[k] = round(rep["l2"] / rep["l2_gaussian"], 3)
        out[name] = {"half": case.half, "verdict": row["verdict"], "gains": gains, "l2": l2}
        print(name, json.dumps(out[name]), flush=True)
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
