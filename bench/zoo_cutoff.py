#!/usr/bin/env python3
"""The pixel pitch read from the photos (lenscal.optics.cutoff) on every shoot of the zoo, against
the pitch the shoot was rendered with. Stopped down (blurry f-number >= 11) the reading should
come back near the truth or not at all; wide open, never (the learn does not ask there: the
blurry aperture is wider than the sharp one).

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_cutoff.py --out bench/results_zoo_cutoff.json [--cases CASE...]

``--pitches P...`` renders every stopped-down case again on sensors of these pitches (each a new
shoot, named CASE-pP, with its own scene draw from the case's half; the ray-traced lenses only,
the analytic lens's PSFs being drawn at 3.3 um): the reading on shoots no
setting was chosen on.

    LENSCAL_ZOO_WORK=bench_out/zoo_pitches .venv/bin/python bench/zoo_cutoff.py --pitches 2 3 4 --out bench/results_zoo_cutoff_pitches.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402

from lenscal.optics.cutoff import MAX_CUTOFF, read_pitch  # noqa: E402
from lenscal.optics.diffraction import WAVELENGTH_UM, relative_scales, significant  # noqa: E402


def row(case: zoo.Case) -> dict:
    sharp, blurry = zoo_posthoc.develop(zoo.ensure_shoot(case))
    start = time.perf_counter()
    pitch = read_pitch(sharp, blurry, case.f_sharp, case.f_blurry)
    seconds = time.perf_counter() - start
    true_cutoff = case.pitch_um / (WAVELENGTH_UM[1] * case.f_blurry)
    return {"case": case.name, "half": case.half, "f_blurry": case.f_blurry, "iso": case.iso,
            "pitch_true": case.pitch_um, "pitch_read": None if pitch is None else round(pitch, 3),
            "ratio": None if pitch is None else round(pitch / case.pitch_um, 3),
            "cutoff_true": round(true_cutoff, 3), "readable": bool(true_cutoff <= MAX_CUTOFF),
            "modelled_true": bool(case.f_blurry > case.f_sharp and significant(relative_scales(case.f_blurry, case.pitch_um, case.f_sharp))),
            "seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", help="default: all")
    ap.add_argument("--pitches", nargs="*", type=float, help="render the stopped-down cases again at these pitches (um)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cases = [c for c in zoo.CASES if not args.cases or c.name in args.cases]
    if args.pitches:
        cases = [dataclasses.replace(c, name=f"{c.name}-p{p:g}", pitch_um=p)
                 for c in cases if c.f_blurry > c.f_sharp and c.lens != "analytic"  # its PSFs are at 3.3 um, whatever the pitch
                 for p in args.pitches]
    rows = []
    for c in cases:
        rows.append(row(c))
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps({"rows": rows, "command": " ".join(sys.argv)}, indent=1) + "\n")
    print(f"| shoot | half | f/ | ISO | true pitch um | read | read / true | true cutoff c/px |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['half']} | {r['f_blurry']} | {r['iso']} | {r['pitch_true']} | "
              f"{r['pitch_read'] if r['pitch_read'] is not None else 'none'} | {r['ratio'] if r['ratio'] is not None else '-'} | {r['cutoff_true']} |")


if __name__ == "__main__":
    main()
