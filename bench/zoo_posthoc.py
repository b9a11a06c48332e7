#!/usr/bin/env python3
"""Post-hoc experiments on the zoo's saved step-2 grids: the steps that follow step 2 (mirror
average, edge-width calibration, measured lateral colour, self-check) replayed with other
settings, without learning again. Scores as bench/zoo.py does.

    .venv/bin/python bench/zoo_posthoc.py --tag default --cases sim-f16-diff-T --modes off pattern
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
import zoo_project  # noqa: E402

from lenscal.develop import DevelopSettings  # noqa: E402
from lenscal.io.shoot import scan_shoot  # noqa: E402
from lenscal.learn import widths  # noqa: E402
from lenscal.learn.lateral import measure_lateral, set_lateral  # noqa: E402
from lenscal.learn.pipeline import _Run  # noqa: E402
from lenscal.learn.presets import get_settings  # noqa: E402
from lenscal.learn.selfcheck import judge  # noqa: E402
from lenscal.optics.moments import gaussian_summary  # noqa: E402
from lenscal.optics.psf import grid_report, mirror_average  # noqa: E402
from lenscal.workflow import develop_shoot, with_shared_white_balance  # noqa: E402


def develop(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A zoo shoot's sharp and blurry photos, developed as ``lenscal learn`` develops them."""
    sharp_set, blurry_set = scan_shoot(folder / "sharp"), scan_shoot(folder / "blurry")
    settings = with_shared_white_balance(DevelopSettings(), sharp_set, blurry_set)
    return ([p.pixels for p in develop_shoot(sharp_set, settings, "", None)],
            [p.pixels for p in develop_shoot(blurry_set, settings, "", None)])


def replay(case, tag: str, modes: list[str], lateral: str, evaluate: bool, summaries: tuple[bool, ...] = (False,)) -> list[dict]:
    folder = zoo.WORK / case.name / "shoot"
    saved = np.load(zoo.WORK / case.name / tag / "grids.npz")
    sharp, blurry = develop(folder)
    run = _Run(sharp, blurry, get_settings("fast"), 0, torch.device("cpu"), (8, 8), 13, None, None)
    gain = float(saved["gains"][1] / run.gain0[1])
    true8, _ = zoo.truth(case)
    step2 = torch.from_numpy(saved["step2"]).double()
    grid0 = mirror_average(step2)
    coef = measure_lateral(blurry)[0] if lateral == "measured" else None  # the same for every mode
    learned_mode = json.loads((zoo.WORK / case.name / tag / "profile.json").read_text())["settings"]["edge_widths"]
    out = []
    for mode, summary in [(m, s) for s in summaries for m in modes]:
        mode = learned_mode if mode == "learn" else mode
        grid = grid0
        info = {}
        if mode == "truth":  # the true grid, read by the same check (what a right grid scores)
            grid = torch.from_numpy(true8).double()
        elif mode != "off":
            gen = torch.Generator().manual_seed(1)
            tiles = widths.sharp_tiles(run.crops, gen) * gain
            grid, info = widths.calibrate(grid0, run.edges()[1], tiles, run.noise_rgb[1] * run.scale, True, gen)
        if coef is not None and mode != "truth":
            grid = set_lateral(grid, coef, run.frame)
        if summary and mode != "truth":
            grid = gaussian_summary(grid, zoo_project.diffraction(case))
        forward = run.forward(grid, gain)
        check = judge(forward)
        rep = grid_report(grid, true8)
        row = {"case": case.name, "mode": mode + (" summary" if summary else ""), "l2_ratio": round(rep["l2"] / rep["l2_gaussian"], 3),
               "ncc": round(rep["ncc_mean"], 4), "lateral": round(rep["lateral_colour_error_mean"], 3),
               "check": check.passed, "agreement": check.agreement, "reasons": check.reasons,
               "cells": info.get("cells"), "report": rep, "forward": forward,
               "grid": grid.numpy().astype(np.float32)}  # the replayed grid itself (not written to --out)
        if evaluate:
            gains = zoo.evaluate_grids(case, folder, {"learned": row["grid"], "true": true8})
            row["gain"], row["gain_true"] = gains["learned"], gains["true"]
        out.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("cells", "report", "reasons", "forward", "grid")}),
              flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--tag", default="default")
    ap.add_argument("--modes", nargs="+", default=["off", "pattern"], choices=["off", "pattern", "truth", "learn"],
                    help="after step 2: pattern (the edge-width calibration), off, truth (the true grid), "
                         "or learn (the learn's own)")
    ap.add_argument("--lateral", default="learned", choices=["learned", "measured"])
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--summary", choices=["off", "on", "both"], default="off",
                    help="each kernel replaced by its Gaussian summary (optics.moments) last, before the self-check")
    ap.add_argument("--percentile", type=float, default=None, help="of edge widths read per place (learn.widths)")
    ap.add_argument("--fourier-putback", action="store_true",
                    help="put the measured lateral colour back by the Fourier phase shift (the version before "
                         "optics.psf.translate), to compare on the same grids")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.fourier_putback:
        import lenscal.learn.lateral as lateral_module
        from lenscal.optics.psf import shift

        lateral_module.translate = shift
    if args.percentile is not None:
        widths.PERCENTILE = args.percentile
    rows = []
    for name in args.cases:
        case = zoo.find_case(name)
        summaries = {"off": (False,), "on": (True,), "both": (False, True)}[args.summary]
        rows += replay(case, args.tag, args.modes, args.lateral, not args.no_eval, summaries)
    if args.out:
        args.out.write_text(json.dumps([{k: v for k, v in r.items() if k != "grid"} for r in rows], indent=1))


if __name__ == "__main__":
    main()
