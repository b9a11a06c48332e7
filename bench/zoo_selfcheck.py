#!/usr/bin/env python3
"""The self-check's readings on the zoo's learned grids, and rules for judging them, measured.

The self-check (learn.selfcheck) passes a grid when, at enough places, the sharp crops blurred by
it show edges as wide as the blurry photos' (learn.widths.forward_check). This collects, for every
learned row of the given results files, the check's readings of the grid before the edge-width
calibration, after it, and of the TRUE grid, replayed from the saved step-2 grids with the current
code (bench/zoo_posthoc.py); then scores judging rules against what the zoo knows: a grid is good
when its L2 is at most one fitted Gaussian's and its photos gain. Choose a rule on the tuning half,
read it on the validation half.

    .venv/bin/python bench/zoo_selfcheck.py --collect bench/results_zoo_own.json ... --out bench/results_zoo_selfcheck.json
    .venv/bin/python bench/zoo_selfcheck.py --out bench/results_zoo_selfcheck.json   # the rules' scores
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

from lenscal.learn import widths  # noqa: E402


def collect(files: list[Path], out: Path) -> list[dict]:
    """One entry per learned row (case and tag): the grid's L2 ratio and gain, and the readings."""
    done = json.loads(out.read_text()) if out.is_file() else []
    have = {(e["case"], e["tag"]) for e in done}
    by_name = {c.name: c for c in zoo.CASES}
    for f in files:
        for row in json.loads(f.read_text())["rows"]:
            learned = row["learn"].get("profile")
            if not learned or not Path(learned).with_name("grids.npz").is_file():
                continue
            tag, name = Path(learned).parent.name, row["case"]["name"]
            if (name, tag) in have:
                continue
            said = row["learn"].get("summary") or {}
            fitted = isinstance(said, dict) and isinstance(said.get("edge_widths"), dict)
            modes = ["off", "pattern", "truth"] if fitted else ["off", "truth"]
            got = {r["mode"]: r for r in zoo_posthoc.replay(by_name[name], tag, modes, "measured", evaluate=False)}
            final = got["pattern" if fitted else "off"]
            done.append({"case": name, "tag": tag, "half": row["case"]["half"], "source": f.name, "fitted": fitted,
                         "l2_ratio": final["l2_ratio"], "gain": row["psnr_gain"]["learned"],
                         "gain_true": row["psnr_gain"]["true"],
                         "readings": {"before": got["off"]["forward"] if fitted else None, "after": final["forward"],
                                      "truth": got["truth"]["forward"]}})
            have.add((name, tag))
            out.write_text(json.dumps(done, indent=1))  # entry by entry: resumable
            print(name, tag, final["l2_ratio"], row["psnr_gain"]["learned"], flush=True)
    return done


def _readings(forward: dict):
    """Per channel with at least two places read both ways: (name, measured w^2, predicted w^2)."""
    for name, ch in forward["channels"].items():
        m = np.array([np.nan if v is None else v for v in ch["measured_px2"]], float)
        p = np.array([np.nan if v is None else v for v in ch["predicted_px2"]], float)
        both = np.isfinite(m) & np.isfinite(p)
        if both.sum() >= 2:
            yield name, m[both], p[both]


def _share(forward: dict, px2: float, rel: float) -> dict[str, float]:
    """Per channel: the share of places whose predicted w^2 agrees with the measured (the
    self-check's own test, learn.widths.agrees, at the given tolerance)."""
    return {name: float(widths.agrees(p, m, px2, rel).mean()) for name, m, p in _readings(forward)}


def _bias(forward: dict) -> dict[str, float]:
    """Per channel: the median over places of predicted minus measured w^2."""
    return {name: float(np.median(p - m)) for name, m, p in _readings(forward)}


def passes(entry: dict, which: str, px2: float, rel: float, share: float, bias: float | None) -> bool:
    """The rule: every channel agrees at ``share`` of its places (and, with ``bias``, the median
    difference is within it), on the final grid and (when calibrated) on the grid before it."""
    for key in ("before", "after") if which == "learned" else ("truth",):
        forward = entry["readings"][key]
        if forward is None:
            continue
        if any(v < share for v in _share(forward, px2, rel).values()):
            return False
        if bias is not None and any(abs(v) > bias for v in _bias(forward).values()):
            return False
    return True


def score(entries: list[dict], px2: float, rel: float, share: float, bias: float | None) -> dict:
    """What a rule does: good grids passed, bad grids written, true grids refused."""
    good = [e for e in entries if e["l2_ratio"] <= 1.0 and e["gain"] > 0]
    bad = [e for e in entries if not (e["l2_ratio"] <= 1.0 and e["gain"] > 0)]
    return {"good_passed": f"{sum(passes(e, 'learned', px2, rel, share, bias) for e in good)}/{len(good)}",
            "bad_written": sorted(e["case"] + "/" + e["tag"] for e in bad if passes(e, "learned", px2, rel, share, bias)),
            "worse_written": sorted(e["case"] + "/" + e["tag"] for e in bad
                                    if e["gain"] <= 0 and passes(e, "learned", px2, rel, share, bias)),
            "truth_refused": f"{sum(not passes(e, 'truth', px2, rel, share, bias) for e in entries)}/{len(entries)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collect", nargs="*", type=Path, default=None, help="zoo results files whose rows to read")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_zoo_selfcheck.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.collect:
        collect(args.collect, args.out)
    entries = json.loads(args.out.read_text())
    current = (widths.AGREE_PX2, widths.AGREE_REL, widths.AGREE_SHARE, None)
    rules = {"current": current, **{f"current + |median| <= {b}": (*current[:3], b) for b in (0.1, 0.15, 0.2, 0.3)},
             **{f"tolerance {t} px^2": (t, widths.AGREE_REL, widths.AGREE_SHARE, None) for t in (0.2, 0.25, 0.5)}}
    for half in ("tuning", "validation"):
        part = [e for e in entries if e["half"] == half]
        print(f"== {half}: {len(part)} grids")
        for name, rule in rules.items():
            print(f"  {name}: {score(part, *rule)}")


if __name__ == "__main__":
    main()
