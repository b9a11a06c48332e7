"""Which files lenscal reads, decided by extension (content is checked when read)."""

from __future__ import annotations

from pathlib import Path

# Extensions LibRaw reads (a representative list of the common ones; LibRaw decides in the end).
RAW_EXTENSIONS = {
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".rw2", ".raw", ".orf",
    ".raf", ".pef", ".ptx", ".srw", ".kdc", ".dcr", ".k25", ".mrw", ".3fr", ".fff", ".iiq", ".mos",
    ".erf", ".mef", ".x3f", ".rwl", ".gpr",
}
IMAGE_EXTENSIONS = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}
PHOTO_EXTENSIONS = RAW_EXTENSIONS | IMAGE_EXTENSIONS


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_EXTENSIONS
