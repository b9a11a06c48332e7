#!/usr/bin/env python3
"""Does a profile's per-node confidence say where its PSFs are wrong? For every zoo case with a
learned profile: the Spearman correlation, over the nodes, of the confidence with the node's
kernel error against the truth (relative L2, both centred). A confidence worth tempering the
correction by would correlate negatively on every case.

    .venv/bin/python bench/zoo_confidence.py [--tag default]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402

from lenscal.optics.psf import centre  # noqa: E402
from lenscal.profile import LensProfile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", default="default")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_zoo_confidence.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for case in zoo.CASES:
        path = zoo.WORK / case.name / args.tag / "profile.json"
        if not path.is_file():
            continue
        profile = LensProfile.load(path)
        est, tru = centre(profile.grid()), centre(zoo.truth(case)[0])
        error = ((est - tru).flatten(2).norm(dim=-1) / tru.flatten(2).norm(dim=-1)).numpy()
        confidence = np.asarray(profile.confidence, dtype=float)
        r = spearmanr(confidence.ravel(), error.ravel())
        rows.append({"case": case.name, "half": case.half, "spearman": round(float(r.correlation), 3),
                     "p": float(r.pvalue), "error_range": [round(float(error.min()), 3), round(float(error.max()), 3)]})
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps({"command": " ".join([".venv/bin/python bench/zoo_confidence.py", *sys.argv[1:]]),
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
