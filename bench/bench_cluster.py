#!/usr/bin/env python3
"""A batch on a local Dask cluster against the same batch with --jobs: what the cluster path costs.

    .venv/bin/python bench/bench_cluster.py [--photos 8] [--megapixels 12] [--workers 2] [--repeat 2]

Simulates one DNG (a bundled Kodak scene, upscaled) and copies it to ``--photos`` files, then
times, each as a user runs it (a fresh ``lenscal correct`` process, outputs into an empty folder):

- ``lenscal correct PHOTOS --profile P -o OUT --jobs N`` (N = --workers: worker processes);
- ``lenscal correct PHOTOS --profile P -o OUT --scheduler ADDR`` against a LocalCluster of N
  worker processes of one thread each, started once before (a cluster is up before a batch is
  sent to it; its start-up is reported apart).

The ratio cluster / jobs says what sending photos and results through Dask costs on one machine
(on several machines the cluster adds their cores). Outputs are checked equal within one 16-bit
step. Prints and writes bench/results_cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(args: list[str]) -> float:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lenscal", *args], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    if r.returncode != 0:
        sys.exit(f"lenscal {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results_cluster.json")
    args = ap.parse_args()
    from distributed import LocalCluster

    from lenscal.io.images import read_image
    from lenscal.simulate import ShootPlan, simulate_shoot

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scenes = sorted((ROOT / "examples" / "kodak").glob("*.png"))[:1]
        simulate_shoot(scenes, tmp / "shoot", ShootPlan(n_sharp=0, n_blurry=1, n_test=0, megapixels=args.megapixels))
        dng = next((tmp / "shoot" / "blurry").glob("*.dng"))
        photos = tmp / "photos"
        photos.mkdir()
        for i in range(args.photos):
            shutil.copy(dng, photos / f"photo_{i:02d}.dng")
        profile = tmp / "shoot" / "truth" / "blurry_psf.json"
        base = ["correct", str(photos), "--profile", str(profile)]
        start = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=50) as cluster:
            cluster_start = time.perf_counter() - start
            times: dict[str, list[float]] = {"jobs": [], "cluster": []}
            for i in range(args.repeat):
                order = ("jobs", "cluster") if i % 2 == 0 else ("cluster", "jobs")  # alternate: fair to both
                for how in order:
                    out = tmp / f"{how}_{i}"
                    extra = ["--jobs", str(args.workers)] if how == "jobs" else ["--scheduler", cluster.scheduler_address]
                    times[how].append(run([*base, "-o", str(out), *extra]))
                    print(f"run {i} {how}: {times[how][-1]:.1f} s", flush=True)
        worst = 0.0
        for p in sorted((tmp / "jobs_0").glob("*.tif")):
            a, b = read_image(p)[0], read_image(tmp / "cluster_0" / p.name)[0]
            worst = max(worst, float(np.abs(a - b).max()))
        width, height = read_image(next((tmp / "jobs_0").glob("*.tif")))[0].shape[1::-1]
    jobs, cluster_s = statistics.median(times["jobs"]), statistics.median(times["cluster"])
    result = {"photos": args.photos, "size": [width, height], "workers": args.workers, "cpu_count": os.cpu_count(),
              "repeat": args.repeat, "jobs_s": times["jobs"], "cluster_s": times["cluster"],
              "jobs_median_s": jobs, "cluster_median_s": cluster_s, "ratio_cluster_over_jobs": cluster_s / jobs,
              "cluster_start_s": cluster_start, "max_abs_difference": worst,
              "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    print(json.dumps(result, indent=1))
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
