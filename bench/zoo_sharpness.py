#!/usr/bin/env python3
"""The sharpness comparison (``lenscal check``, learn's pre-check: learn.widths.compare_sets) on
the zoo's shoots: is the blurry set read as blurrier, zone by zone? Every zoo shoot's blurry set
is blurrier everywhere (its lens is stopped down past diffraction or opened up), so every zone
read "not blurrier" is a miss.

Two readings of the same photos: each set's edges above one white noise level (its median RMS
noise: the version before), and both above the camera's noise model (level-dependent,
demosaiced: widths.PlaneNoise, the lesser of the two sets' readings: the current version).

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_sharpness.py --cases CASE... --out FILE
    .venv/bin/python bench/zoo_sharpness.py --merge FILE... --out bench/results_zoo_sharpness.json

``--halves``: the control. Each set of four photos or more split in two halves of one aperture,
each half read against the other both ways: every zone read "blurrier" is a false one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402

from lenscal.learn import widths  # noqa: E402
from lenscal.noise import plane_noise  # noqa: E402


def white(images: list[np.ndarray]) -> np.ndarray:
    """The version before: a set's zones read above one white noise level, its median RMS noise."""
    g = [np.ascontiguousarray(img[:, :, 1], dtype=np.float32) for img in images]
    return widths.set_widths(images, widths.PlaneNoise.white(float(np.median([plane_noise(x) for x in g]))))


def row(case: zoo.Case) -> dict:
    sharp, blurry = zoo_posthoc.develop(zoo.ensure_shoot(case))
    out = {"case": case.name, "half": case.half, "iso": case.iso, "camera": "known" if case.known_camera else "unknown",
           "f": [case.f_sharp, case.f_blurry]}
    for label, s in (("before", widths.Sharpness(white(sharp), white(blurry))),
                     ("after", widths.compare_sets(sharp, blurry))):
        out[label] = {"sharp_px2": np.round(s.sharp, 3).tolist(), "blurry_px2": np.round(s.blurry, 3).tolist(),
                      "blurrier_zones": int(s.blurrier().sum()), "verdict": s.verdict()}
    return out


def halves(case: zoo.Case) -> dict:
    """Zones read blurrier between two halves of one set (one aperture), both ways, both readings."""
    sharp, blurry = zoo_posthoc.develop(zoo.ensure_shoot(case))
    out = {"case": case.name, "half": case.half, "iso": case.iso, "pairs": 0, "before": 0, "after": 0}
    for images in (sharp, blurry):
        if len(images) < 4:
            continue
        a, b = images[: len(images) // 2], images[len(images) // 2:]
        for x, y in ((a, b), (b, a)):
            out["pairs"] += 1
            out["before"] += int(widths.Sharpness(white(x), white(y)).blurrier().sum())
            out["after"] += int(widths.compare_sets(x, y).blurrier().sum())
    return out


def table(rows: list[dict]) -> str:
    lines = ["| shoot | half | ISO | zones read blurrier (of 5): before -> after | whole frame w^2, sharp / blurry: before -> after |",
             "|---|---|---|---|---|"]
    for r in rows:
        b, a = r["before"], r["after"]
        lines.append(f"| {r['case']} | {r['half']} | {r['iso']:g} | {b['blurrier_zones']} -> {a['blurrier_zones']} | "
                     f"{b['sharp_px2'][4]:.2f} / {b['blurry_px2'][4]:.2f} -> {a['sharp_px2'][4]:.2f} / {a['blurry_px2'][4]:.2f} |")
    for half in ("tuning", "validation"):
        part = [r for r in rows if r["half"] == half]
        for label in ("before", "after"):
            zones = sum(r[label]["blurrier_zones"] for r in part)
            none = sum(r[label]["blurrier_zones"] == 0 for r in part)
            lines.append(f"\n{half}, {label}: {zones} of {5 * len(part)} zones read blurrier; "
                         f"{none} of {len(part)} shoots read not blurrier anywhere")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=[])
    ap.add_argument("--merge", nargs="*", type=Path, default=[])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--halves", action="store_true", help="the control: halves of one set against each other")
    args = ap.parse_args()
    by_name = {c.name: c for c in zoo.CASES}
    if args.halves:
        rows = [halves(by_name[name]) for name in args.cases]
        for r in rows:
            print(json.dumps(r), flush=True)
        pairs = sum(r["pairs"] for r in rows)
        print(f"false zones read blurrier: {sum(r['before'] for r in rows)} -> {sum(r['after'] for r in rows)} "
              f"of {5 * pairs} ({pairs} pairs of halves)")
        args.out.write_text(json.dumps({"rows": rows, "command": " ".join(sys.argv)}, indent=1))
        return
    rows = [r for f in args.merge for r in json.loads(f.read_text())["rows"]]
    for name in args.cases:
        rows.append(row(by_name[name]))
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=1))
    order = [c.name for c in zoo.CASES]
    rows.sort(key=lambda r: order.index(r["case"]))
    args.out.write_text(json.dumps({"rows": rows, "command": " ".join(sys.argv)}, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
