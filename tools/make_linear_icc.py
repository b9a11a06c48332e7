#!/usr/bin/env python3
"""Write lenscal/data/sRGB-linear.icc: the bundled sRGB profile with a gamma 1.0 tone curve.

Run once; its output is committed. Linear TIFFs (``--linear``) embed it, so editors know that
their values are linear light with the sRGB / Rec. 709 primaries and the D65 white. Everything
but the tone curves and the description is the bundled sRGB profile's (LittleCMS's "sRGB
built-in", ICC v4: D50 white point, Bradford adaptation from D65, sRGB colorants), so both
profiles describe the same primaries and differ only in the curve.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "lenscal" / "data"
DESCRIPTION = "Linear sRGB (Rec. 709 primaries, D65, gamma 1.0)"


def mluc(text: str) -> bytes:
    """An ICC v4 multiLocalizedUnicode tag: one en-US record."""
    body = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(body), 28) + body


def gamma_one() -> bytes:
    """A parametricCurve of function type 0 (Y = X^g) with g = 1.0 (s15Fixed16)."""
    return b"para" + bytes(4) + struct.pack(">HH", 0, 0) + struct.pack(">i", 1 << 16)


def build(srgb: bytes) -> bytes:
    count = struct.unpack(">I", srgb[128:132])[0]
    tags = []
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", srgb[132 + 12 * i:144 + 12 * i])
        data = srgb[off:off + size]
        if sig == b"desc":
            data = mluc(DESCRIPTION)
        elif sig in (b"rTRC", b"gTRC", b"bTRC"):
            data = gamma_one()
        tags.append((sig, data))
    table_end = 132 + 12 * len(tags)
    offsets, blobs, pos, shared = [], b"", table_end, {}
    for sig, data in tags:  # identical tags share one copy, as in the sRGB profile
        if data in shared:
            offsets.append((sig, shared[data], len(data)))
            continue
        pad = (-pos) % 4
        blobs += bytes(pad)
        pos += pad
        shared[data] = pos
        offsets.append((sig, pos, len(data)))
        blobs += data
        pos += len(data)
    table = struct.pack(">I", len(tags)) + b"".join(struct.pack(">4sII", s, o, n) for s, o, n in offsets)
    header = bytearray(srgb[:128])
    body = bytes(table) + blobs
    header[0:4] = struct.pack(">I", 128 + len(body))
    header[84:100] = bytes(16)  # profile ID: MD5 of the profile with flags, intent and ID zeroed
    profile = bytearray(bytes(header) + body)
    digest_input = bytearray(profile)
    digest_input[44:48] = bytes(4)
    digest_input[64:68] = bytes(4)
    digest_input[84:100] = bytes(16)
    profile[84:100] = hashlib.md5(digest_input).digest()
    return bytes(profile)


def main() -> None:
    out = DATA / "sRGB-linear.icc"
    out.write_bytes(build((DATA / "sRGB.icc").read_bytes()))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
