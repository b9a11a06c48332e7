"""ICC profiles: the two lenscal embeds, and reading the colour of TIFF/PNG/JPEG inputs.

lenscal works in linear light with the sRGB / Rec. 709 primaries. An input whose embedded
profile is another RGB space (Adobe RGB, Display P3, ProPhoto, a linear profile...) is converted
into that space here, in float, at full 16-bit precision: the profile's tone curves are undone
and its colorants (XYZ, D50) mapped to sRGB's. That covers the matrix/shaper profiles that
photo editors embed. LittleCMS (Pillow's ImageCms) would also read lookup-table profiles, but
only for 8-bit images; a LUT-based, CMYK or grey profile is refused with its reason, never misread.
"""

from __future__ import annotations

import struct
from importlib import resources

import numpy as np

# sRGB's colorants adapted to D50 (the ICC connection space), as in the bundled sRGB profile:
# columns are the XYZ of R, G and B.
SRGB_TO_XYZ_D50 = np.array([[0.4360747, 0.3850649, 0.1430804],
                            [0.2225045, 0.7168786, 0.0606169],
                            [0.0139322, 0.0971045, 0.7141733]])


class ProfileNotSupported(ValueError):
    """An embedded ICC profile lenscal cannot convert; the message says why."""


def srgb_icc() -> bytes:
    """The sRGB profile embedded in sRGB-encoded TIFFs."""
    return resources.files("lenscal").joinpath("data/sRGB.icc").read_bytes()


def linear_icc() -> bytes:
    """Linear sRGB (Rec. 709 primaries, D65, gamma 1), embedded in ``--linear`` TIFFs
    (made by tools/make_linear_icc.py)."""
    return resources.files("lenscal").joinpath("data/sRGB-linear.icc").read_bytes()


def _tags(icc: bytes) -> dict[bytes, bytes]:
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ProfileNotSupported("the embedded ICC profile is damaged")
    count = struct.unpack(">I", icc[128:132])[0]
    tags = {}
    for i in range(min(count, 200)):
        entry = icc[132 + 12 * i:144 + 12 * i]
        if len(entry) < 12:
            raise ProfileNotSupported("the embedded ICC profile is damaged")
        sig, off, size = struct.unpack(">4sII", entry)
        tags[sig] = icc[off:off + size]
    return tags


def _s15(raw: bytes) -> float:
    return struct.unpack(">i", raw)[0] / 65536.0


def _xyz(tag: bytes) -> np.ndarray:
    if tag[:4] != b"XYZ " or len(tag) < 20:
        raise ProfileNotSupported("the embedded ICC profile's colorants are unreadable")
    return np.array([_s15(tag[8 + 4 * i:12 + 4 * i]) for i in range(3)])


def _curve(tag: bytes):
    """A tone curve (encoded -> linear) from a ``curv`` or ``para`` tag, as a numpy function."""
    kind = tag[:4]
    if kind == b"curv":
        n = struct.unpack(">I", tag[8:12])[0]
        if n == 0:
            return lambda x: x
        if n == 1:
            gamma = struct.unpack(">H", tag[12:14])[0] / 256.0
            return lambda x: np.power(x, gamma)
        table = np.frombuffer(tag[12:12 + 2 * n], ">u2").astype(np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, n)
        return lambda x: np.interp(x, grid, table)
    if kind == b"para":
        fn = struct.unpack(">H", tag[8:10])[0]
        counts = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
        if fn not in counts:
            raise ProfileNotSupported("the embedded ICC profile has an unknown tone curve")
        g, a, b, c, d, e, f = ([_s15(tag[12 + 4 * i:16 + 4 * i]) for i in range(counts[fn])] + [0.0] * 7)[:7]
        if fn == 0:
            return lambda x: np.power(x, g)
        if fn == 1:
            return lambda x: np.where(x >= -b / a, np.power(np.maximum(a * x + b, 0), g), 0.0)
        if fn == 2:
            return lambda x: np.where(x >= -b / a, np.power(np.maximum(a * x + b, 0), g) + c, c)
        if fn == 3:
            return lambda x: np.where(x >= d, np.power(np.maximum(a * x + b, 0), g), c * x)
        return lambda x: np.where(x >= d, np.power(np.maximum(a * x + b, 0), g) + e, c * x + f)
    raise ProfileNotSupported("the embedded ICC profile's tone curves are unreadable")


def matrix_shaper(icc: bytes):
    """(tone curves R, G, B; 3x3 matrix profile RGB -> linear sRGB) of an RGB matrix/shaper profile."""
    if icc[16:20] != b"RGB ":
        space = icc[16:20].decode("latin-1").strip() or "unknown"
        raise ProfileNotSupported(f"the embedded ICC profile is for {space} images, not RGB")
    tags = _tags(icc)
    needed = (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
    if not all(t in tags for t in needed):
        raise ProfileNotSupported("the embedded ICC profile is a lookup-table profile (not matrix/shaper)")
    to_xyz = np.stack([_xyz(tags[b"rXYZ"]), _xyz(tags[b"gXYZ"]), _xyz(tags[b"bXYZ"])], axis=1)
    curves = [_curve(tags[t]) for t in (b"rTRC", b"gTRC", b"bTRC")]
    return curves, np.linalg.solve(SRGB_TO_XYZ_D50, to_xyz)


def is_srgb(icc: bytes) -> bool:
    """Whether a profile is sRGB (its colorants and curve, whatever its name)."""
    try:
        curves, matrix = matrix_shaper(icc)
    except ProfileNotSupported:
        return False
    from lenscal.io.images import srgb_decode

    x = np.linspace(0, 1, 256)
    return bool(np.abs(matrix - np.eye(3)).max() < 2e-3
                and all(np.abs(c(x) - srgb_decode(x)).max() < 2e-3 for c in curves))


def to_linear_srgb(encoded: np.ndarray, icc: bytes) -> np.ndarray:
    """(H, W, 3) values in [0, 1] encoded in the profile's space -> linear sRGB primaries, float32.

    Colours outside sRGB's gamut come out below 0 or above 1 and are clipped at 0 (the rest of
    lenscal works on non-negative light).
    """
    curves, matrix = matrix_shaper(icc)
    lin = np.empty(encoded.shape, np.float32)
    for c in range(3):
        lin[..., c] = curves[c](np.clip(encoded[..., c].astype(np.float64), 0.0, 1.0))
    out = lin.reshape(-1, 3) @ matrix.T.astype(np.float32)
    return np.maximum(out, 0).reshape(encoded.shape).astype(np.float32)
