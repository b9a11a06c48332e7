"""lenscal installed like a tool: sdist -> wheel -> a fresh virtualenv, run from another folder.

Marked ``wheel`` (about 30 s). It really builds the sdist and the wheel from a copy of the
sources (the checkout is left alone), installs the wheel (not editable) with pip into a new venv
and runs its ``lenscal`` console script from a temporary folder. Only lenscal is installed: the
new venv sees the test environment's dependencies (torch, rawpy...) through a ``.pth`` line
naming their site-packages; that folder's own ``.pth`` files (the editable install of this
checkout among them) are not processed there, so ``import lenscal`` is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.wheel
SOURCES = ("lenscal", "profiles", "examples", "tools", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in")


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_bundled", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        (shutil.copytree(path, src / name, ignore=ignore) if path.is_dir() else shutil.copy2(path, src / name))
    build = "from setuptools import build_meta as b; import sys; print(getattr(b, sys.argv[1])(sys.argv[2]))"
    sdist = src / "dist" / _run([sys.executable, "-c", build, "build_sdist", "dist"], src).stdout.split()[-1]
    with tarfile.open(sdist) as tar:
        sdist_names = tar.getnames()
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12 / 3.11.4
        tar.extractall(root / "unpacked", **safe)
    unpacked = next((root / "unpacked").iterdir())
    wheel = unpacked / "wheels" / _run([sys.executable, "-c", build, "build_wheel", "wheels"], unpacked).stdout.split()[-1]
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root).stdout.strip())
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_lenscal_test_deps.pth").write_text("\n".join(deps) + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel], root)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HOME": str(root / "home"), "XDG_DATA_HOME": str(root / "home" / "data"),
           "COLUMNS": "200", "PYTHONPATH": ""}
    return {"venv": venv, "py": py, "purelib": purelib, "wheel": wheel, "sdist_names": sdist_names,
            "cwd": elsewhere, "env": env, "lenscal": venv / ("Scripts/lenscal.exe" if os.name == "nt" else "bin/lenscal")}


def test_sdist_and_wheel_carry_the_profiles_and_examples(installed):
    names = installed["sdist_names"]
    assert any(n.endswith("profiles/demo_gx9_25mm_f16.json") for n in names)
    assert sum(n.endswith(".png") and "/examples/kodak/" in n for n in names) == 18
    with zipfile.ZipFile(installed["wheel"]) as whl:
        files = whl.namelist()
    assert "lenscal/_bundled/profiles/demo_gx9_25mm_f16.json" in files
    assert sum(f.startswith("lenscal/_bundled/examples/kodak/") for f in files) == 18
    assert "lenscal/data/sRGB-linear.icc" in files and "lenscal/data/sRGB.icc" in files


def test_installed_console_script_lists_and_shows_bundled_profiles(installed):
    cwd, env = installed["cwd"], installed["env"]
    r = _run([installed["lenscal"], "profiles", "list", "--json"], cwd, env)
    entries = {e["name"]: e for e in json.loads(r.stdout)}
    bundled = Path(entries["demo_gx9_25mm_f16"]["path"])
    assert entries["demo_gx9_25mm_f16"]["valid"]
    assert bundled.is_relative_to(installed["purelib"] / "lenscal" / "_bundled")  # the wheel's copy
    before = sorted(p.name for p in bundled.parent.iterdir())
    r = _run([installed["lenscal"], "show", "demo_gx9_25mm_f16", "--json"], cwd, env)
    assert Path(json.loads(r.stdout)["picture"]).name == "demo_gx9_25mm_f16_sheet.png"
    assert (cwd / "demo_gx9_25mm_f16_sheet.png").stat().st_size > 1000  # written where the user is
    assert sorted(p.name for p in bundled.parent.iterdir()) == before  # never into the package


def test_installed_package_is_the_wheel_and_finds_the_demo_photos(installed):
    code = ("import lenscal; from lenscal.workflow import bundled_examples; e = bundled_examples(); "
            "print(lenscal.__file__); print(e); print(len(list(e.glob('*.png'))))")
    out = _run([installed["py"], "-c", code], installed["cwd"], installed["env"]).stdout.split("\n")
    assert Path(out[0]).is_relative_to(installed["purelib"])  # not this checkout
    assert Path(out[1]).is_relative_to(installed["purelib"]) and int(out[2]) == 18
