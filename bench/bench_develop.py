#!/usr/bin/env python3
"""Develop speed: lenscal's development of a 24 MP DNG next to rawpy's bare postprocess.

    .venv/bin/python bench/bench_develop.py [--megapixels 24] [--repeat 3]

Simulates one 24 MP DNG (an Unsplash photo from ../shared when present, else a bundled Kodak
photo upscaled), then times in the same run: rawpy.imread + postprocess() with defaults (the
baseline), lenscal's develop (linear 16-bit, no auto-bright, lensfun devignetting), and develop +
16-bit TIFF write (what `lenscal develop` does per photo). Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import rawpy
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lenscal.develop import load_photo  # noqa: E402
from lenscal.io.images import write_tiff  # noqa: E402
from lenscal.simulate import ShootPlan, simulate_shoot  # noqa: E402


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results_develop.json")
    args = ap.parse_args()
    unsplash = ROOT.parent / "shared" / "data" / "photos" / "unsplash"
    scenes = sorted(unsplash.glob("*.jpg"))[:1] or sorted((ROOT / "examples" / "kodak").glob("*.png"))[:1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        simulate_shoot(scenes, tmp / "shoot", ShootPlan(n_sharp=1, n_blurry=0, n_test=0, megapixels=args.megapixels))
        dng = next((tmp / "shoot" / "sharp").glob("*.dng"))

        def bare():
            with rawpy.imread(str(dng)) as raw:
                raw.postprocess()

        def develop():
            load_photo(dng)

        def develop_write():
            photo, _ = load_photo(dng)
            write_tiff(tmp / "out.tif", photo.pixels, photo.meta)

        develop()  # warm caches (lensfun database, imports)
        t_bare, t_dev, t_dev_write = timed(bare, args.repeat), timed(develop, args.repeat), timed(develop_write, args.repeat)
        with rawpy.imread(str(dng)) as raw:
            size = f"{raw.sizes.width}x{raw.sizes.height}"
    result = {"file": f"simulated DNG {size} ({scenes[0].name})", "threads": torch.get_num_threads(),
              "rawpy_postprocess_s": round(t_bare, 3), "lenscal_develop_s": round(t_dev, 3),
              "lenscal_develop_and_write_tiff_s": round(t_dev_write, 3),
              "ratio_develop_vs_rawpy": round(t_dev / t_bare, 3),
              "ratio_develop_write_vs_rawpy": round(t_dev_write / t_bare, 3)}
    print(json.dumps(result, indent=1))
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
