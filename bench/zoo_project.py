#!/usr/bin/env python3
"""Post-hoc: the zoo's written (or forced) grids summarised node by node by a Gaussian, scored
against the truth (kernel L2) and on the held-out photos (PSNR gain), as bench/zoo.py scores.

Question: does step 2 pin each kernel's low-order moments (centroid, covariance) better than its
fine shape, so that a per-node Gaussian of the learned kernel is closer to the truth than the
learned kernel itself?

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_project.py --tag draw --cases sim-f16-alt-T
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

from lenscal.optics.moments import gaussian_of, gaussian_summary  # noqa: E402
from lenscal.optics.psf import covariance, grid_report  # noqa: E402


def fitted_gaussian(k: torch.Tensor, steps: int = 300) -> torch.Tensor:
    """Each kernel's Gaussian closest in L2 (centroid and covariance fitted; low tails matter less)."""
    c, cov = covariance(k)
    ly, lx = torch.log(cov[..., 0, 0].clamp_min(0.05)) / 2, torch.log(cov[..., 1, 1].clamp_min(0.05)) / 2
    rho = torch.atanh((cov[..., 0, 1] / (cov[..., 0, 0] * cov[..., 1, 1]).sqrt()).clamp(-0.9, 0.9))
    p = [t.clone().requires_grad_(True) for t in (c, ly, lx, rho)]
    opt = torch.optim.Adam(p, lr=0.03)

    def draw() -> torch.Tensor:
        c_, ly_, lx_, r_ = p
        sy, sx, rr = torch.exp(ly_), torch.exp(lx_), torch.tanh(r_)
        xy = rr * sy * sx
        spread = torch.stack([torch.stack([sy * sy, xy], -1), torch.stack([xy, sx * sx], -1)], -2)
        return gaussian_of(spread, k.shape[-1], c_)

    for _ in range(steps):
        loss = ((draw() - k) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return draw()


def windowed(k: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
    """Each kernel times a Gaussian window ``factor`` times its own spread: the core's shape
    kept, the far tails dropped."""
    c, cov = covariance(k)
    out = k * gaussian_of(cov * factor**2, k.shape[-1], c)
    return out / out.sum((-2, -1), keepdim=True)


VARIANTS = {"as_is": lambda k: k, "moment": gaussian_summary, "fitted": fitted_gaussian,
            "window2": windowed, "window1.5": lambda k: windowed(k, 1.5)}


def score(case, tag: str, variants: list[str], evaluate: bool) -> list[dict]:
    folder = zoo.WORK / case.name / "shoot"
    saved = np.load(zoo.WORK / case.name / tag / "grids.npz")
    true8, _ = zoo.truth(case)
    grid = torch.from_numpy(saved["final"]).double()
    sigma_true = zoo.true_noise(folder)
    out, grids = [], {}
    airy = diffraction(case)
    for name in variants:
        if name == "product":  # the learn's summary, wide open too
            g = gaussian_summary(grid, airy)
        elif name == "learn":  # what the learn writes now: the summary only where diffraction-limited
            g = gaussian_summary(grid, airy) if stopped_down(case) else grid
        else:
            g = VARIANTS[name](grid)
        rep = grid_report(g, true8)
        row = {"case": case.name, "half": case.half, "variant": name, "l2_ratio": round(rep["l2"] / rep["l2_gaussian"], 3),
               "ncc": round(rep["ncc_mean"], 4), "lateral": round(rep["lateral_colour_error_mean"], 3)}
        out.append(row)
        grids[name] = g.numpy().astype(np.float32)
    if evaluate:
        grids["true"] = true8
        gains = zoo.evaluate_grids(case, folder, grids, sigma_true)  # as zoo.evaluate: the true sigma
        for row in out:
            row["gain"], row["gain_true"] = gains[row["variant"]], gains["true"]
    for row in out:
        print(json.dumps(row), flush=True)
    return out


def scales(case) -> tuple[float, ...] | None:
    """The case's Airy scales as the learn reads them: only where the camera, so its pitch, is known."""
    from lenscal.optics.diffraction import relative_scales

    return relative_scales(case.f_blurry, case.pitch_um, case.f_sharp) if case.known_camera else None


def diffraction(case) -> torch.Tensor | None:
    """The Airy kernels the learn modelled for this case (a known camera at a small aperture)."""
    from lenscal.optics.diffraction import diffraction_kernels

    found = None if scales(case) is None else diffraction_kernels(scales(case), 13)
    return None if found is None else torch.from_numpy(found).double()

def stopped_down(case) -> bool:
    """Does the learn write this case's kernels as Gaussians (presets.resolve_auto's own rule)?"""
    from lenscal.learn.presets import get_settings, resolve_auto
    from lenscal.optics.diffraction import diffraction_limited

    limited = diffraction_limited(case.f_blurry, scales(case))
    return resolve_auto(get_settings("fast"), limited).kernel_shape == "gaussian"

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=[])
    ap.add_argument("--tag", default="default")
    ap.add_argument("--variants", nargs="+", choices=[*VARIANTS, "product", "learn"], default=["as_is", "learn"])
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--assemble", nargs="+", type=Path, default=None, metavar="FILE",
                    help="the zoo results file, then zoo reruns, this script's outputs and zoo_posthoc's: "
                         "the table before and after, into --out")
    args = ap.parse_args()
    if args.assemble:
        files = args.assemble
        kinds = {"rerun": [], "score": [], "check": []}
        for f in files[1:]:
            data = json.loads(f.read_text())
            kinds["rerun" if isinstance(data, dict) else "check" if "mode" in data[0] else "score"].append(f)
        result = assemble(files[0], kinds["rerun"], kinds["score"], kinds["check"], args.out)
        for c in result["cases"]:
            print(json.dumps(c))
        print(json.dumps({"before": result["before"], "after": result["after"]}, indent=1))
        return
    torch.set_num_threads(1)
    rows = []
    for name in args.cases:
        case = next(c for c in zoo.CASES if c.name == name)
        rows += score(case, args.tag, args.variants, not args.no_eval)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))



def assemble(base: Path, reruns: list[Path], scores: list[Path], checks: list[Path], out: Path) -> dict:
    """The zoo table before and after the learn's Gaussian kernels, case by case on the same
    step-2 grids: ``base`` (a zoo results file) with the rows of cases learned again (``reruns``)
    put in; after, the diffraction-limited cases' rows scored with their summarised grids
    (``scores``: this script's ``learn`` rows) and their self-checks replayed on them (``checks``:
    bench/zoo_posthoc.py --summary on rows)."""
    rows = {r["case"]["name"]: r for r in json.loads(base.read_text())["rows"]}
    for path in reruns:
        for r in json.loads(path.read_text())["rows"]:
            rows[r["case"]["name"]] = r
    scored = {r["case"]: r for p in scores for r in json.loads(p.read_text()) if r["variant"] == "learn"}
    checked = {r["case"]: r for p in checks for r in json.loads(p.read_text()) if r["mode"].endswith("summary")}
    after = []
    for name, row in rows.items():
        case = next(c for c in zoo.CASES if c.name == name)
        row = json.loads(json.dumps(row))
        if stopped_down(case):
            s, c = scored[name], checked[name]
            row["grid"].update(l2_ratio=s["l2_ratio"], ncc_mean=s["ncc"], lateral_colour_error_mean=s["lateral"])
            row["psnr_gain"]["learned"] = s["gain"]
            row["learn"].pop("refused", None)
            if not c["check"]:
                row["learn"]["refused"] = "self-check: " + "; ".join(c["reasons"])
            row["verdict"] = zoo.verdict(row)
        after.append(row)
    before = list(rows.values())
    result = {"command": " ".join(sys.argv), "before": zoo.summary(before), "after": zoo.summary(after),
              "cases": [{"case": b["case"]["name"], "half": b["case"]["half"], "stopped_down": stopped_down(
                  next(c for c in zoo.CASES if c.name == b["case"]["name"])),
                         "before": {"verdict": b["verdict"], "l2_ratio": b["grid"]["l2_ratio"],
                                    "gain": b["psnr_gain"]["learned"], "true": b["psnr_gain"]["true"]},
                         "after": {"verdict": a["verdict"], "l2_ratio": a["grid"]["l2_ratio"],
                                   "gain": a["psnr_gain"]["learned"]}} for b, a in zip(before, after)],
              "rows": after}
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
