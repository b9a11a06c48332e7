"""Shared fixtures: real files made by lenscal's own simulator and writers, read by real readers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
EXAMPLES = REPO / "examples" / "kodak"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present (fresh clone)")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m lenscal`` as a user would, capturing output and exit code."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "lenscal", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def tree_hashes(root: Path, max_bytes: int = 64 * 2**20) -> dict[str, str]:
    """sha256 of every file under root: proof that nothing was modified or added. A file larger
    than ``max_bytes`` (the corpus's sparse multi-GB files) is fingerprinted by its size and
    modification time instead of being read."""
    def digest(p: Path) -> str:
        st = p.stat()
        if st.st_size > max_bytes:
            return f"stat:{st.st_size}:{st.st_mtime_ns}"
        return hashlib.sha256(p.read_bytes()).hexdigest()

    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def small_shoot(tmp_path_factory) -> Path:
    """A real DNG shoot of the simulated lens: 2 sharp, 2 blurry (f/16), 1 test photo."""
    from lenscal.simulate import ShootPlan, simulate_shoot

    out = tmp_path_factory.mktemp("shoot")
    photos = sorted(EXAMPLES.glob("*.png"))
    simulate_shoot(photos, out, ShootPlan(n_sharp=2, n_blurry=2, n_test=1, seed=1))
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_dng(path: Path, size: tuple[int, int] = (64, 96), seed: int = 0, **meta_fields) -> Path:
    """A small real DNG of a random texture with the simulated camera's metadata (overridable)."""
    from lenscal.io.dng import mosaic_from_rgb, write_dng
    from lenscal.photo import Metadata
    from lenscal.simulate import CAMERA, Sensor

    fields = {**CAMERA.to_dict(), "f_number": 5.6, "iso": 200, "exposure_time": 1 / 250,
              "datetime": "2026:05:01 10:00:00", **meta_fields}
    fields.pop("width", None), fields.pop("height", None), fields.pop("raw", None)
    meta = Metadata(**fields)
    s = Sensor()
    scene = np.random.default_rng(seed).random((*size, 3)).astype(np.float32) * 0.5
    dn = s.black + mosaic_from_rgb(scene * np.asarray(s.response, np.float32)) * (s.white - s.black)
    write_dng(path, np.round(dn).astype(np.uint16), meta, black=s.black, white=s.white,
              as_shot_neutral=s.response, overwrite=True)
    return path
