"""A folder (or list) of photos -> a validated set from one camera, lens, size and aperture.

Checked up front, from metadata alone, so that a long run never starts on photos that cannot be
used together. Refusals name the offending files and say what to do.
"""

from __future__ import annotations

import glob
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lenscal.errors import LenscalError, ShootError
from lenscal.io.formats import PHOTO_EXTENSIONS, is_photo
from lenscal.io.metadata import read_metadata
from lenscal.photo import Metadata


@dataclass
class Shoot:
    paths: list[Path]
    metas: list[Metadata]
    warnings: list[str] = field(default_factory=list)

    @property
    def meta(self) -> Metadata:
        return self.metas[0]

    def __len__(self) -> int:
        return len(self.paths)


GLOB_CHARS = "*?["


def is_pattern(item: str | Path) -> bool:
    """Whether an input is a glob pattern: only a path that does not exist and has glob characters
    (one the shell left alone because it was quoted). An existing path is always taken literally,
    so names such as ``a[1].png`` or ``vacation [final].png`` are files, not patterns."""
    return not os.path.lexists(item) and any(ch in str(item) for ch in GLOB_CHARS)


def expand_inputs(inputs: list[str | Path], skip: Callable[[Path], bool] | None = None,
                  on_pattern: Callable[[str, int], None] | None = None) -> list[Path]:
    """Folders (their photos, not recursive), glob patterns and files -> sorted unique photo paths.

    ``skip`` leaves out what folders and patterns find (e.g. lenscal's own outputs); a file named
    explicitly is always kept, so a missing or odd one fails later with its reason. A pattern is
    expanded as the shell would (hidden files left out) and ``on_pattern(pattern, matches)`` is told;
    one that matches no photo is an error, never silently nothing. One file reached by two paths
    (a link, ``./``) is kept once.
    """
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            hits = [q for q in sorted(p.iterdir()) if q.is_file() and is_photo(q) and not q.name.startswith(".")]
        elif is_pattern(item):
            hits = [Path(q) for q in sorted(glob.glob(str(item))) if Path(q).is_file() and is_photo(Path(q))]
            if not hits:
                raise LenscalError("no such file or folder, and no photo matches it as a pattern", p,
                                   "check the name; an existing file is always taken as it is")
            if on_pattern:
                on_pattern(str(item), len(hits))
        else:
            found.append(p)
            continue
        found += [q for q in hits if skip is None or not skip(q)]
    unique: dict[str, Path] = {}
    for q in sorted(found):
        unique.setdefault(os.path.realpath(q), q)
    return sorted(unique.values())


def _ev(m: Metadata) -> float | None:
    if not (m.f_number and m.exposure_time):
        return None
    return math.log2(m.f_number**2 / m.exposure_time) - math.log2((m.iso or 100) / 100)


def _describe_groups(values: list[str], paths: list[Path]) -> str:
    groups: dict[str, list[str]] = {}
    for v, p in zip(values, paths):
        groups.setdefault(v or "unknown", []).append(p.name)
    return "; ".join(f"{v}: {', '.join(names[:2])}{'...' if len(names) > 2 else ''}" for v, names in groups.items())


def scan_shoot(inputs: list[str | Path] | str | Path, *, name: str = "set", min_photos: int = 1) -> Shoot:
    """Read the metadata of every photo and refuse sets that cannot be used together."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    for item in inputs:
        p = Path(item)
        if not os.path.lexists(p) and not is_pattern(item):
            raise ShootError("no such file or folder", p)
    paths = expand_inputs(inputs)
    label = ", ".join(str(i) for i in inputs)
    if not paths:
        raise ShootError(f"no photos found in {label}",
                         hint=f"lenscal reads {', '.join(sorted(e.lstrip('.') for e in PHOTO_EXTENSIONS)[:8])}...")
    bad: list[str] = []
    metas: list[Metadata] = []
    for p in paths:
        if not is_photo(p):
            bad.append(f"{p.name} (not a photo file type)")
            continue
        try:
            metas.append(read_metadata(p))  # RAW data is unpacked here: truncation is caught
        except LenscalError as e:
            bad.append(f"{p.name} ({e.message})")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ShootError(f"{len(bad)} unreadable file(s) in the {name}: {'; '.join(bad[:3])}{more}",
                         hint="remove or replace them")
    if len(paths) < min_photos:
        raise ShootError(f"the {name} has {len(paths)} photo(s), at least {min_photos} are needed", label,
                         hint="add more photos of varied, detailed scenes")
    for what, key in (("cameras", lambda m: m.camera), ("lenses", lambda m: m.lens),
                      ("image sizes", lambda m: f"{m.width}x{m.height}"),
                      ("apertures", lambda m: f"f/{m.f_number:g}" if m.f_number else "")):
        values = [key(m) for m in metas]
        if len(set(values)) > 1:
            raise ShootError(f"the {name} mixes {what}: {_describe_groups(values, paths)}",
                             hint="put photos of one camera, lens and aperture in each folder")
    warnings: list[str] = []
    focals = {m.focal_length for m in metas}
    if len(focals) > 1:
        warnings.append(f"the {name} mixes focal lengths ({', '.join(f'{f:g} mm' for f in sorted(x for x in focals if x))}): "
                        "the blur of a zoom changes with focal length")
    evs = [e for e in (_ev(m) for m in metas) if e is not None]
    if evs and max(evs) - min(evs) > 2.0:
        warnings.append(f"exposures in the {name} differ by {max(evs) - min(evs):.1f} EV: keep them within 2 EV")
    return Shoot(paths, metas, warnings)


def check_compatible(a: Shoot, b: Shoot, names: tuple[str, str] = ("sharp set", "blurry set")) -> None:
    """Two sets of one learn must share camera, lens and image size (not aperture)."""
    ma, mb = a.meta, b.meta
    for what, va, vb in (("camera", ma.camera, mb.camera), ("lens", ma.lens, mb.lens),
                         ("image size", f"{ma.width}x{ma.height}", f"{mb.width}x{mb.height}")):
        if va != vb:
            raise ShootError(f"the {names[0]} and the {names[1]} differ in {what}: {va or 'unknown'} vs {vb or 'unknown'}",
                             hint="use photos of the same camera and lens for both")
    if ma.f_number and mb.f_number and ma.f_number == mb.f_number:
        raise ShootError(f"both sets were taken at f/{ma.f_number:g}",
                         hint="shoot the sharp set at a sharp aperture and the blurry set at an extreme one")
    counts = Counter(p.resolve() for p in a.paths + b.paths)
    dup = [p.name for p, n in counts.items() if n > 1]
    if dup:
        raise ShootError(f"the same photo is in both sets: {', '.join(dup[:3])}")
