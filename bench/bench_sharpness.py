#!/usr/bin/env python3
"""How long the sharpness comparison (learn.widths.compare_sets: ``lenscal check`` and learn's
pre-check) takes on 6 + 6 photos of 24 MP, this checkout against another version of the code in
the same run (each in its own process, one after the other, with the same photos).

    git worktree add /tmp/before COMMIT
    .venv/bin/python bench/bench_sharpness.py --baseline /tmp/before [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(tree: Path, threads: int) -> float:
    """Seconds compare_sets takes with the lenscal package of ``tree``."""
    import numpy as np
    import torch

    sys.path.insert(0, str(tree))
    from lenscal.learn import widths

    sys.path.insert(1, str(ROOT))
    from tests.learn.synth import dead_leaves

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    tile = dead_leaves(1000, 1500, rng)
    photos = [np.clip(np.tile(tile, (4, 4, 1)) + rng.normal(0, 0.01, (4000, 6000, 3)).astype(np.float32), 0, 1)
              for _ in range(2)]
    start = time.perf_counter()
    widths.compare_sets(photos * 3, photos * 3)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the version to compare with")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: time one tree, print seconds
    args = ap.parse_args()
    if args.one:
        print(timed(args.one, args.threads))
        return
    seconds = {}
    for label, tree in (("baseline", args.baseline.resolve()), ("this", ROOT)):
        out = subprocess.run([sys.executable, __file__, "--baseline", str(args.baseline), "--one", str(tree),
                              "--threads", str(args.threads)], check=True, capture_output=True, text=True)
        seconds[label] = round(float(out.stdout.split()[-1]), 1)
    print(json.dumps({**seconds, "speedup": round(seconds["baseline"] / seconds["this"], 2), "threads": args.threads}))


if __name__ == "__main__":
    main()
