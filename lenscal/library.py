"""The profiles library: bundled profiles (``profiles/``, shipped in the package) and the user's own folder.

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


def bundled_folder() -> Path | None:
    """The profiles shipped with lenscal (in the installed package, or the checkout's ``profiles/``)."""
    from lenscal.bundled import bundled

    return bundled("profiles")


def folders() -> list[Path]:
    """Where profiles are looked for, the user's first (their own profiles win)."""
    return [f for f in (user_folder(), bundled_folder()) if f is not None]


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
    """A profile path from a path or a library name (``lenscal profiles list``'s name column).

    An existing file wins; then a library profile of that name (``demo_gx9_25mm_f16`` or
    ``demo_gx9_25mm_f16.json``); anything else that looks like a path is returned as it is, so
    that loading it says what is wrong with that file.
    """
    p = Path(name_or_path)
    if p.exists():
        return p
    looks_like_path = len(p.parts) > 1 or p.suffix.lower() == ".json"
    name = p.stem if looks_like_path and len(p.parts) == 1 else str(name_or_path)
    for entry in list_profiles():
        if entry.name == name:
            return entry.path
    if looks_like_path:
        return p
    raise ProfileError(f"no profile named '{name}' in the library", hint="see 'lenscal profiles list', or give a path")


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

