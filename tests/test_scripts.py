"""The benchmark and developer scripts are not run by the suite (they take hours), so a slip in
one would go unnoticed until someone needs it: each must at least compile, and the zoo must list
its cases."""

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("*.py")) + [ROOT / "dev.py"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_compiles(script: Path, tmp_path: Path) -> None:
    py_compile.compile(str(script), cfile=str(tmp_path / "x.pyc"), doraise=True)


def test_zoo_lists_its_cases() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "zoo.py"), "--list", "--half", "validation"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    names = [line for line in out.stdout.splitlines() if line.startswith("Case(")]
    assert len(names) >= 8 and all("half='validation'" in n for n in names)
