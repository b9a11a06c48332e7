#!/usr/bin/env python3
"""Set everything up in a local virtualenv, then run the demo or the tests.

    python3 dev.py demo    # simulate a shoot from the bundled photos, learn the lens, correct photos
    python3 dev.py test    # the test suite (what CI runs)

Needs only python3 (>= 3.10, with its venv module). The pinned CPU build of torch is installed
first, so pip never pulls a multi-GB CUDA build; set LENSCAL_TORCH_INDEX (for example
https://download.pytorch.org/whl/cpu) to choose where torch comes from.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*cmd: str | Path, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def setup() -> Path:
    if sys.version_info < (3, 10):
        sys.exit(f"lenscal needs Python 3.10 or newer (this is {sys.version.split()[0]})")
    py = venv_python()
    if not py.exists():
        try:
            run(sys.executable, "-m", "venv", VENV)
        except subprocess.CalledProcessError:
            sys.exit("could not create a virtualenv: install your system's python3-venv package and retry")
    stamp = VENV / ".lenscal-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return py
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    index = os.environ.get("LENSCAL_TORCH_INDEX")
    run(*pip, TORCH, *(["--index-url", index] if index else []))
    run(*pip, "-e", f"{ROOT}[test]")
    stamp.write_text(digest)
    return py


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if task not in ("demo", "test", "setup"):
        print(__doc__)
        sys.exit(0 if task == "help" else 2)
    py = setup()
    if task == "demo":
        run(py, "-m", "lenscal", "demo", *extra, cwd=ROOT)
    elif task == "test":
        # pytest exits 5 when it collects nothing: that is a failure here too
        run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, cwd=ROOT)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode or 1)
