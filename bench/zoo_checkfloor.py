#!/usr/bin/env python3
"""The self-check with a diffraction floor, replayed on the zoo's saved learns: where the Airy
pattern is modelled, a place whose blurry photos read edges sharper than the Airy pattern alone
makes them (beyond the check's tolerance) is read as noise and not counted. Verdicts of the
learned grid and of the TRUE grid, with and without the floor.

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_checkfloor.py --tag draw --cases CASE...
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402

from lenscal.learn.pipeline import _Run  # noqa: E402
from lenscal.learn.presets import get_settings  # noqa: E402
from lenscal.learn.selfcheck import judge  # noqa: E402
from lenscal.learn.widths import AGREE_PX2, AGREE_REL  # noqa: E402
from lenscal.optics.diffraction import diffraction_kernels  # noqa: E402
from lenscal.profile import LensProfile  # noqa: E402


def floored(forward: dict, floor_px2: dict[str, float]) -> dict:
    """``forward`` with the places whose measured w^2 is below the floor (per channel, beyond the
    tolerance) taken out."""
    out = copy.deepcopy(forward)
    for name, ch in out["channels"].items():
        f = floor_px2[name]
        m = np.asarray(ch["measured_px2"], float)
        noise = m < f - np.maximum(AGREE_PX2, AGREE_REL * abs(f))
        agree = np.asarray(ch["agree"], bool) & ~noise
        both = np.isfinite(m) & np.isfinite(np.asarray(ch["predicted_px2"], float)) & ~noise
        ch["agree"], ch["places"] = agree.tolist(), int(both.sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--tag", default="draw")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    by_name = {c.name: c for c in zoo.CASES}
    rows = []
    for name in args.cases:
        case = by_name[name]
        folder = zoo.WORK / name / args.tag
        profile = LensProfile.load(folder / "profile.json")
        scales = profile.settings.get("diffraction_scales")
        if not scales:
            print(json.dumps({"case": name, "tag": args.tag, "floor": "no diffraction modelled"}), flush=True)
            continue
        saved = np.load(folder / "grids.npz")
        sharp, blurry = zoo_posthoc.develop(zoo.WORK / name / "shoot")
        run = _Run(sharp, blurry, get_settings("fast"), 0, torch.device("cpu"), (8, 8), 13, None, None)
        gain = float(saved["gains"][1] / run.gain0[1])
        airy = torch.from_numpy(diffraction_kernels(tuple(scales), 13)).double()
        floor = run.forward(airy.expand(8, 8, 3, 13, 13), gain)["channels"]  # the Airy pattern alone's edges
        floor_px2 = {n: round(float(np.nanmedian(np.asarray(c["predicted_px2"], float))), 3) for n, c in floor.items()}
        row = {"case": name, "tag": args.tag, "floor_px2": floor_px2}
        for which, grid in (("learned", torch.from_numpy(profile.grid()).double()),
                            ("truth", torch.from_numpy(zoo.truth(case)[0]).double())):
            forward = run.forward(grid, gain)
            before, after = judge(forward), judge(floored(forward, floor_px2))
            row[which] = {"before": before.status, "after": after.status, "places_after": after.places,
                          "agreement_before": before.agreement, "agreement_after": after.agreement}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
