"""Where lenscal writes: the one naming rule of every command that writes from input files.

The rules, each a promise of README "develop" / "correct" / "show":

- an output is never an input of the batch, nor a path that resolves to one (symbolic links,
  ``..``, a case-insensitive disk): such a name gets the input's extension, then a number;
- two inputs never share an output: inputs that land in one folder with one stem (``a.png a.tif``,
  ``IMG_1.dng IMG_1.png``) each carry their extension (``a_png.tif``, ``a_tif.tif``);
- names depend on the batch alone, never on what exists on disk, so running a command again finds
  the same names and skips what is finished;
- an existing file at a name is lenscal's own output only when it carries lenscal's note (the
  JSON ``{"lenscal": ...}`` of every TIFF, PNG and JPEG lenscal writes, see :func:`lenscal_note`).
  Lenscal's own is skipped, or replaced with ``--overwrite``; anything else (a photo of the user's,
  a folder, a device, a link) is refused with its reason and never touched.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path

from lenscal.errors import OutputError

# the note's key naming the command that wrote an output; outputs of earlier versions are known by
# the keys their notes always had
_MADE_BY_KEYS = {"source": "develop", "corrected_from": "correct"}


def real(path: Path) -> str:
    """The path with links, ``..`` and case folded away, for comparing (never raises: loops stay)."""
    return os.path.normcase(os.path.realpath(path)).casefold()


def _note_json(text: str | bytes | None) -> dict | None:
    if not text:
        return None
    try:
        note = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    return note["lenscal"] if isinstance(note, dict) and isinstance(note.get("lenscal"), dict) else None


def lenscal_note(path: Path) -> dict | None:
    """The note lenscal writes into every TIFF, PNG and JPEG it makes, or None (not lenscal's).

    Reads the header only: the TIFF's or DNG's XMP (``lenscal:Note``; ImageDescription in earlier
    versions), the PNG ``lenscal`` text chunk, the JPEG comment. Any file that cannot be read that
    far is not lenscal's.
    """
    path = Path(path)
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic[:2] in (b"II", b"MM"):  # TIFF and DNG: XMP lenscal:Note, or (earlier versions) the description
            import tifffile

            from lenscal.io.images import _tiff_note

            with tifffile.TiffFile(path) as tif:
                return _tiff_note(tif.pages.first) or None
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return _note_json(im.info.get("lenscal") or im.info.get("comment"))
    except Exception:  # a damaged or foreign file: simply not one of lenscal's
        return None


def made_by(path: Path) -> str | None:
    """Which lenscal command wrote ``path`` ("develop", "correct", "show"...), or None."""
    note = lenscal_note(path)
    if note is None:
        return None
    if isinstance(note.get("command"), str):
        return note["command"]
    return next((cmd for key, cmd in _MADE_BY_KEYS.items() if key in note), "lenscal")


def plan_outputs(sources: list[Path], out_dir: Path | None, tag: str, exts: tuple[str, ...]) -> dict[Path, tuple[Path, ...]]:
    """The outputs of every source: ``STEM{tag}{ext}`` for each of ``exts``, in ``out_dir`` or
    next to the source, following the rules of this module's docstring."""
    sources = [Path(s) for s in sources]
    folder = {s: Path(out_dir) if out_dir is not None else s.parent for s in sources}
    inputs = {real(s) for s in sources}
    stems = Counter((real(folder[s]), s.stem.casefold()) for s in sources)
    taken: set[str] = set()
    plan: dict[Path, tuple[Path, ...]] = {}
    for s in sources:
        shared = stems[(real(folder[s]), s.stem.casefold())] > 1
        base = f"{s.stem}_{s.suffix.lstrip('.').lower()}" if shared and s.suffix else s.stem
        candidates = [base] if shared or not s.suffix else [base, f"{s.stem}_{s.suffix.lstrip('.').lower()}"]
        n = 1
        while True:
            name = candidates[n - 1] if n <= len(candidates) else f"{candidates[-1]}_{n - len(candidates) + 1}"
            paths = tuple(folder[s] / f"{name}{tag}{ext}" for ext in exts)
            keys = {real(p) for p in paths}
            if not keys & (taken | inputs):
                break
            n += 1
        taken |= keys
        plan[s] = paths
    return plan


def check_target(path: Path, overwrite: bool) -> bool:
    """Whether to write ``path`` (False: lenscal's own output is there, skip it); refuses the rest.

    Raises OutputError for anything at ``path`` that lenscal did not write: a file of the user's,
    a folder, a device, a link (replacing a link would not change what it points to).
    """
    path = Path(path)
    if not os.path.lexists(path):
        return True
    if path.is_symlink():
        raise OutputError("is a symbolic link: not replaced", path, "remove it or choose another output folder with -o")
    if not path.is_file():
        raise OutputError("exists and is not a file: not replaced", path, "choose another output name or folder")
    if lenscal_note(path) is None:
        raise OutputError("exists and was not written by lenscal: not replaced", path,
                          "move it away or choose another output folder with -o")
    return overwrite


def prepare_folder(folder: Path) -> None:
    """Make the output folder (one-line OutputError when it cannot be one) and remove temporary
    files that killed earlier runs left in it."""
    from lenscal.io.atomic import explain, remove_stale_parts

    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        if folder.is_symlink() and not folder.exists():
            raise OutputError("is a broken symbolic link or a loop of them, not a folder", folder,
                              "choose another output folder with -o")
        raise OutputError("is a file, not a folder", folder, "choose another output folder with -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise explain(e, folder) from e
    remove_stale_parts(folder)
