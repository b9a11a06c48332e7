"""Where the bundled profiles and example photos are: inside the installed package, or in the
source checkout.

A wheel (``pip install``, ``pipx install``) carries them as package data under
``lenscal/_bundled/`` (setup.py copies them there at build time), found with importlib.resources
so that lenscal works from any folder. An editable checkout (``python3 dev.py``) has no
``_bundled`` folder and reads the repository's own ``profiles/`` and ``examples/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled(name: str) -> Path | None:
    """The bundled folder ``name`` (``profiles`` or ``examples``), or None when there is none."""
    packaged = resources.files("lenscal").joinpath("_bundled").joinpath(name)
    if isinstance(packaged, Path) and packaged.is_dir():  # an installed wheel: a plain folder
        return packaged
    checkout = Path(__file__).resolve().parents[1]
    source = checkout / name
    if source.is_dir() and (checkout / "pyproject.toml").is_file():  # a source checkout
        return source
    return None
