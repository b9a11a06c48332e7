"""Build step that ships the bundled profiles and example photos inside the wheel.

Everything else about the package is in pyproject.toml. The repository keeps ``profiles/`` and
``examples/`` at its top level (where people look for them); a wheel only carries what is under
``lenscal/``, so ``build_py`` copies them to ``lenscal/_bundled/`` in the build folder, never in
the source tree. lenscal finds them there with importlib.resources (lenscal/bundled.py); an
editable checkout has no ``_bundled`` and reads the top-level folders instead.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# folder -> file patterns shipped (the demo's scenes, the bundled profiles, their READMEs)
BUNDLED = {"profiles": ("*.json", "README.md"), "examples": ("README.md", "kodak/*.png")}


class BuildPyWithBundled(build_py):
    """setuptools' build_py, plus a copy of ``profiles/`` and ``examples/`` as package data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # editable: lenscal reads the source tree
            return
        for folder, patterns in BUNDLED.items():
            for pattern in patterns:
                for src in sorted((ROOT / folder).glob(pattern)):
                    target = Path(self.build_lib, "lenscal", "_bundled", folder, src.relative_to(ROOT / folder))
                    self.mkpath(str(target.parent))
                    self.copy_file(str(src), str(target))


setup(cmdclass={"build_py": BuildPyWithBundled})
