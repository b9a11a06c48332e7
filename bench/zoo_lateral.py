#!/usr/bin/env python3
"""How well the lateral colour is read in the zoo's blurry photos (learn.lateral.measure_lateral),
against the true grid's R and B centroids, for a few smoothing scales of the edges compared.

    .venv/bin/python bench/zoo_lateral.py --half tuning --smooth 0.01 1 1.5 2 3 --out bench/results_zoo_lateral.json

Mean error over the 8x8 nodes, px, per case; the cases' shoots must exist (bench/zoo.py makes them).
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

from lenscal.develop import load_photo  # noqa: E402
from lenscal.learn import lateral  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--half", choices=["tuning", "validation"], default=None)
    ap.add_argument("--smooth", nargs="+", type=float, default=[lateral.SMOOTH])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cases = [c for c in zoo.CASES if (args.cases is None or c.name in args.cases)
             and (args.half is None or c.half == args.half)]
    rows = []
    for case in cases:
        folder = zoo.WORK / case.name / "shoot" / "blurry"
        if not folder.is_dir():
            continue
        true8, _ = zoo.truth(case)
        truth = lateral.lateral_colour(torch.from_numpy(true8).double()).numpy()
        images = [load_photo(p)[0].pixels for p in sorted(folder.glob("*.dng"))]
        row = {"case": case.name, "true_mean_px": round(float(np.linalg.norm(truth, axis=-1).mean()), 3), "error_px": {}}
        for s in args.smooth:
            lateral.SMOOTH = s
            coef, _ = lateral.measure_lateral(images)
            found = lateral.node_shifts(coef, 8, 8, images[0].shape[:2])
            row["error_px"][f"{s:g}"] = round(float(np.linalg.norm(found - truth, axis=-1).mean()), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {f"{s:g}": {"median": round(float(np.median([r["error_px"][f"{s:g}"] for r in rows])), 3),
                          "worst": max(r["error_px"][f"{s:g}"] for r in rows)} for s in args.smooth}
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join([".venv/bin/python bench/zoo_lateral.py", *sys.argv[1:]]),
                                        "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
