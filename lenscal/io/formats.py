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

# How RAW containers begin. LibRaw also "recognises" a file with no header at all by its size alone
# (a sensor dump of a size in its table), and then develops it with a guessed layout: garbage.
# lenscal develops only files that say what they are. (offset, magic) pairs.
RAW_SIGNATURES = (
    (0, b"II*\x00"), (0, b"MM\x00*"),  # TIFF: DNG, CR2, NEF, ARW, PEF, SRW, 3FR, ERF, KDC, DCR, IIQ...
    (0, b"II+\x00"), (0, b"MM\x00+"),  # BigTIFF
    (0, b"IIU\x00"),  # Panasonic RW2 / RAW
    (0, b"IIRO"), (0, b"IIRS"), (0, b"MMOR"),  # Olympus ORF
    (0, b"FUJIFILM"),  # Fujifilm RAF
    (0, b"\x00MRM"),  # Minolta MRW
    (0, b"FOVb"),  # Sigma X3F
    (0, b"IIII"), (0, b"MMMM"),  # Phase One / Leaf
    (0, b"ARRI"),  # ARRI
    (4, b"ftyp"),  # ISO media: Canon CR3
    (6, b"HEAPCCDR"),  # Canon CRW
)


def has_raw_signature(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a RAW container (see RAW_SIGNATURES)."""
    return any(head[offset:offset + len(magic)] == magic for offset, magic in RAW_SIGNATURES)
