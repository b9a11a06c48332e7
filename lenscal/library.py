"""The profiles library: bundled profiles (``profiles/``) and the user's own folder.

``correct`` can then find the profile for a photo by itself: the match is on camera, lens, image
size and aperture, the same facts a profile is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from lenscal.errors import OutputError, ProfileError
from lenscal.io.atomic import write_bytes_atomic
from lenscal.photo import Metadata
from lenscal.profile import LensProfile


def user_folder() -> Path:
    return Path(platformdirs.user_data_dir("lenscal", appauthor=False)) / "profiles"


def bundled_folder() -> Path:
    return Path(__file__).resolve().parents[1] / "profiles"


def folders() -> list[Path]:
    """Where profiles are looked for, the user's first (their own profiles win)."""
    return [user_folder(), bundled_folder()]


@dataclass
class Entry:
    path: Path
    profile: LensProfile | None
    problem: str = ""

    @property
    def name(self) -> str:
        return self.path.stem


def list_profiles() -> list[Entry]:
    entries = []
    for folder in folders():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                entries.append(Entry(path, LensProfile.load(path)))
            except ProfileError as e:
                entries.append(Entry(path, None, e.message))
    return entries


def resolve(name_or_path: str | Path) -> Path:
    """A profile path from a path or a library name (file stem)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    for entry in list_profiles():
        if entry.name == str(name_or_path):
            return entry.path
    raise ProfileError(f"no profile named '{name_or_path}'", hint="see 'lenscal profiles list'")


def find_matching(meta: Metadata) -> Path | None:
    """The first valid library profile that fits a photo, or None."""
    for entry in list_profiles():
        if entry.profile is not None and not entry.profile.mismatches(meta):
            return entry.path
    return None


def install(path: Path, overwrite: bool = False) -> Path:
    """Validate a profile and copy it into the user's folder, always as ``NAME.json`` (what
    :func:`list_profiles` lists), whatever the file was called."""
    LensProfile.load(path)  # refuses anything invalid, with its reason
    target = user_folder() / f"{Path(path).stem}.json"
    if target.exists() and not overwrite:
        raise OutputError("a profile of this name is installed already", target, "use --overwrite")
    write_bytes_atomic(target, path.read_bytes())
    return target

