"""Ctrl-C and SIGTERM on a real ``lenscal correct`` process: the one-line "interrupted" message,
exit code 130, no traceback (workers of --jobs 2 included, even while they start), no temporary
file left, every input unchanged. Real processes, signalled as a terminal does: the whole process
group for Ctrl-C (workers receive it too). That a temporary file being written is removed on
SIGTERM is tested on the atomic writer itself, where the moment can be chosen exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lenscal.io.images import read_image
from lenscal.io.metadata import read_metadata
from lenscal.optics.psf import gaussian
from lenscal.profile import LensProfile
from tests.conftest import REPO, make_dng, tree_hashes

SIZE = (256, 384)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, Path]:
    """Four DNGs that take a moment each to correct, and their profile."""
    root = tmp_path_factory.mktemp("signals")
    src = root / "src"
    src.mkdir()
    for i in range(4):
        make_dng(src / f"p{i}.dng", SIZE, seed=i, f_number=16.0)
    profile = root / "lens.json"
    grid = gaussian(1.0, 7).expand(3, 3, 3, 7, 7).numpy()
    LensProfile.from_grid(grid, 0.01, read_metadata(src / "p0.dng")).save(profile)
    return src, profile


def _as_from_a_terminal() -> None:
    """In the child before it runs lenscal: Ctrl-C's default disposition, as a shell gives a
    command it starts. A process inherits an ignored SIGINT, and the test runner's may be ignored
    by then (another test's worker pool, a library), which would make the test, not lenscal,
    ignore the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(batch, out: Path, sig: int, group: bool, jobs: int) -> subprocess.CompletedProcess:
    """Start a correct, wait until it has made its output folder (its batch has begun), signal it."""
    src, profile = batch
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lenscal", "correct", src, "-p", profile, "-o", out,
                             "--jobs", str(jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=env, start_new_session=True, preexec_fn=_as_from_a_terminal)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "finished before it could be interrupted"
    if group:
        os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C: the parent and its workers
    else:
        proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("sig, group, jobs", [(signal.SIGINT, True, 1), (signal.SIGTERM, False, 1),
                                              (signal.SIGINT, True, 2)],
                         ids=["ctrl-c", "sigterm", "ctrl-c-jobs-2-starting"])
def test_interrupted_correct_stops_cleanly(batch, tmp_path, sig, group, jobs):
    before = tree_hashes(batch[0])
    out = tmp_path / "out"
    r = _interrupt(batch, out, sig, group, jobs)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr and "Error" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("interrupted:"), r.stderr
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if n.endswith(".part")], left
    assert len(left) < 4, left  # it did stop
    for name in left:  # what was finished is whole
        assert read_image(out / name)[0].shape == (*SIZE, 3)
    assert tree_hashes(batch[0]) == before


def test_sigterm_removes_the_temporary_file_being_written(tmp_path):
    """The atomic writer's temporary file is removed when SIGTERM lands in the middle of a write."""
    target = tmp_path / "out.tif"
    script = (
        "import sys, time\n"
        "from lenscal.cli import _terminated\n"
        "from lenscal.io.atomic import atomic_path\n"
        "import signal\n"
        "signal.signal(signal.SIGTERM, _terminated)\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "writing"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode != 0 and list(tmp_path.iterdir()) == []  # stopped, nothing of the write left
