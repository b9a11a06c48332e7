"""A corpus of bad inputs: every one gives a one-line error naming the file and a non-zero exit,
no traceback, no partial output, and leaves the original untouched (checked by hashing).

The corpus is built from real files (DNGs written by lenscal, TIFF/PNG/JPEG written by the real
libraries, the real camera RAWs of ../shared when present) damaged in the ways files get damaged.
Calls go through ``lenscal.cli.main`` in-process, exactly as the console script does.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
import tifffile

from lenscal.cli import main
from lenscal.photo import Metadata
from lenscal.profile import LensProfile
from tests.conftest import SHARED, make_dng, tree_hashes

CR2 = SHARED / "raw" / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.CR2"


def _good_dng(d: Path) -> bytes:
    return make_dng(d / ".src.dng", size=(64, 96)).read_bytes()


def _png_bytes(ext: str = ".png") -> bytes:
    img = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    return cv2.imencode(ext, img)[1].tobytes()


def _tiff_bytes(d: Path, data: np.ndarray, **kw) -> bytes:
    tifffile.imwrite(d / ".t.tif", data, **kw)
    return (d / ".t.tif").read_bytes()


def _huge_tiff(d: Path) -> bytes:
    raw = bytearray(_tiff_bytes(d, np.zeros((8, 8, 3), np.uint16), photometric="rgb"))
    # patch ImageWidth/ImageLength (tags 256/257) in IFD0 to 200000 x 200000
    ifd = struct.unpack_from("<I", raw, 4)[0]
    n = struct.unpack_from("<H", raw, ifd)[0]
    for i in range(n):
        off = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", raw, off)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into("<H", raw, off + 8, 60000)
            else:
                struct.pack_into("<I", raw, off + 8, 200000)
    return bytes(raw)


def _huge_dng(d: Path) -> bytes:
    raw = bytearray(_good_dng(d))
    ifd = struct.unpack_from("<I", raw, 4)[0]
    n = struct.unpack_from("<H", raw, ifd)[0]
    for i in range(n):
        off = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", raw, off)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into("<H", raw, off + 8, 65000)
            else:
                struct.pack_into("<I", raw, off + 8, 900000)
    return bytes(raw)


def _noise(n: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


# name -> builder(folder) returning the bytes of the file (or None when it builds the path itself)
PHOTO_CASES: dict[str, Callable[[Path], bytes | None]] = {
    "empty.dng": lambda d: b"",
    "empty.cr2": lambda d: b"",
    "empty.nef": lambda d: b"",
    "empty.tif": lambda d: b"",
    "empty.png": lambda d: b"",
    "empty.jpg": lambda d: b"",
    "trunc10.dng": lambda d: _good_dng(d)[:len(_good_dng(d)) // 10],
    "trunc50.dng": lambda d: _good_dng(d)[:len(_good_dng(d)) // 2],
    "trunc90.dng": lambda d: _good_dng(d)[:len(_good_dng(d)) * 9 // 10],
    "header_only.dng": lambda d: _good_dng(d)[:16],
    "badmagic.dng": lambda d: b"XX" + _good_dng(d)[2:],
    "noise.dng": lambda d: _noise(seed=1),
    "noise.arw": lambda d: _noise(seed=2),
    "noise.rw2": lambda d: _noise(seed=3),
    "noise.orf": lambda d: _noise(seed=4),
    "noise.raf": lambda d: _noise(seed=5),
    "noise.tif": lambda d: _noise(seed=6),
    "noise.png": lambda d: _noise(seed=7),
    "noise.jpg": lambda d: _noise(seed=8),
    "text.dng": lambda d: b"this is not a raw file\n" * 20,
    "html.cr2": lambda d: b"<html><body>404 not found</body></html>",
    "text.png": lambda d: b"hello",
    "png_named.nef": lambda d: _png_bytes(),
    "jpeg_named.dng": lambda d: _png_bytes(".jpg"),
    "trunc.png": lambda d: _png_bytes()[:60],
    "trunc.jpg": lambda d: _png_bytes(".jpg")[:100],
    "trunc.tif": lambda d: _tiff_bytes(d, np.zeros((64, 64, 3), np.uint16), photometric="rgb")[:300],
    "huge_dims.tif": _huge_tiff,
    "huge_dims.dng": _huge_dng,
    "five_channels.tif": lambda d: _tiff_bytes(d, np.zeros((16, 16, 5), np.uint16), planarconfig="contig",
                                               photometric="minisblack", extrasamples=[0, 0, 0, 0]),
    "two_channels.tif": lambda d: _tiff_bytes(d, np.zeros((16, 16, 2), np.uint8), photometric="minisblack",
                                              extrasamples=[0]),
    "complex.tif": lambda d: _tiff_bytes(d, np.zeros((16, 16), np.complex64)),
    "tiny.dng": lambda d: make_dng(d / "tiny.dng", size=(4, 6)) and None,
    "notes.txt": lambda d: b"a text file",
    "photo.heic": lambda d: b"\x00\x00\x00\x18ftypheic",
    "photo.gif": lambda d: b"GIF89a\x01\x00\x01\x00",
}
if CR2.exists():
    PHOTO_CASES["canon_trunc.cr2"] = lambda d: CR2.read_bytes()[:200_000]
    PHOTO_CASES["canon_header.cr2"] = lambda d: CR2.read_bytes()[:4096]


def _special(d: Path, name: str) -> Path:
    p = d / name
    if name == "dir.dng":
        p.mkdir()
    elif name == "dangling.dng":
        p.symlink_to(d / "nowhere.dng")
    elif name == "sparse_huge.dng":
        with open(p, "wb") as f:
            f.truncate(3 * 2**30)  # 3 GB of zeros, no disk used
    return p


SPECIAL = ["dir.dng", "dangling.dng", "sparse_huge.dng", "missing.dng"]


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code, capsys.readouterr().err


def _assert_one_line_error(code: int, err: str, name: str) -> None:
    assert code not in (0, None), err
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert lines, "no message"
    last = lines[-1]
    assert last.startswith("error:"), err
    assert name in last, last


def _make(tmp_path: Path, name: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    if name in SPECIAL:
        return _special(src, name)
    data = PHOTO_CASES[name](src)
    p = src / name
    if data is not None:
        p.write_bytes(data)
    for hidden in src.glob(".*"):
        hidden.unlink()
    return p


@pytest.mark.parametrize("name", sorted(PHOTO_CASES) + SPECIAL)
def test_bad_photo(tmp_path, capsys, name):
    path = _make(tmp_path, name)
    before = tree_hashes(tmp_path / "src")
    out = tmp_path / "out"
    code, err = _run(["develop", path, "-o", out], capsys)
    _assert_one_line_error(code, err, name)
    assert not out.exists() or not any(out.iterdir())  # no partial output
    assert tree_hashes(tmp_path / "src") == before  # original untouched
    if name not in ("notes.txt", "photo.heic", "photo.gif"):
        code, err = _run(["info", path], capsys)
        _assert_one_line_error(code, err, name)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_permissions(tmp_path, capsys):
    p = make_dng(tmp_path / "locked.dng")
    p.chmod(0)
    try:
        code, err = _run(["develop", p, "-o", tmp_path / "out"], capsys)
        _assert_one_line_error(code, err, "locked.dng")
    finally:
        p.chmod(0o644)


def _profile(tmp_path: Path) -> dict:
    grid = np.random.default_rng(0).random((2, 2, 3, 5, 5))
    meta = Metadata(make="Panasonic", model="DC-GX9", lens_model="Lumix G 25mm f/1.7 Asph.", f_number=16.0,
                    width=96, height=64)
    return json.loads(LensProfile.from_grid(grid, 0.01, meta).model_dump_json())


def _set(d: dict, path: str, value) -> dict:
    keys = path.split(".")
    node = d
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        node.pop(last)
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


_DELETE = object()
PROFILE_CASES: dict[str, Callable[[dict], bytes]] = {
    "missing_camera.json": lambda p: json.dumps(_set(p, "camera", _DELETE)).encode(),
    "missing_psf.json": lambda p: json.dumps(_set(p, "psf", _DELETE)).encode(),
    "missing_data.json": lambda p: json.dumps(_set(p, "psf.data", _DELETE)).encode(),
    "missing_sigma.json": lambda p: json.dumps(_set(p, "noise_sigma", _DELETE)).encode(),
    "missing_image.json": lambda p: json.dumps(_set(p, "image", _DELETE)).encode(),
    "wrong_shape.json": lambda p: json.dumps(_set(p, "psf.grid_shape", [3, 3])).encode(),
    "ragged.json": lambda p: json.dumps(_set(p, "psf.data.0.0.0", [[0.04] * 5] * 4)).encode(),
    "even_kernel.json": lambda p: json.dumps(_set(p, "psf.kernel_size", 4)).encode(),
    "nan_kernel.json": lambda p: json.dumps(_set(p, "psf.data.0.1.2.2", [float("nan")] * 5)).encode(),
    "inf_kernel.json": lambda p: json.dumps(_set(p, "psf.data.1.1.0.0", [float("inf")] * 5)).encode(),
    "negative_kernel.json": lambda p: json.dumps(_set(p, "psf.data.1.0.1.3", [-0.2, 0.1, 0.1, 0.1, 0.1])).encode(),
    "unnormalised.json": lambda p: json.dumps(_set(p, "psf.data.0.0.0.0", [1.0] * 5)).encode(),
    "string_data.json": lambda p: json.dumps(_set(p, "psf.data", "kernels")).encode(),
    "schema_99.json": lambda p: json.dumps(_set(p, "schema_version", 99)).encode(),
    "schema_0.json": lambda p: json.dumps(_set(p, "schema_version", 0)).encode(),
    "negative_sigma.json": lambda p: json.dumps(_set(p, "noise_sigma", -0.1)).encode(),
    "nan_sigma.json": lambda p: json.dumps(_set(p, "noise_sigma", float("nan"))).encode(),
    "zero_size.json": lambda p: json.dumps(_set(p, "image.width", 0)).encode(),
    "bad_confidence.json": lambda p: json.dumps(_set(p, "confidence", [[1.0]])).encode(),
    "extra_field.json": lambda p: json.dumps(_set(p, "payload", "exec")).encode(),
    "list.json": lambda p: b"[1, 2, 3]",
    "empty.json": lambda p: b"",
    "not_json.json": lambda p: b"camera = GX9",
    "truncated.json": lambda p: json.dumps(p).encode()[:500],
    "pickle.json": lambda p: b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.",
    "binary.json": lambda p: _noise(seed=9),
}


@pytest.mark.parametrize("name", sorted(PROFILE_CASES) + ["dir_profile.json", "missing_profile.json"])
def test_bad_profile(tmp_path, capsys, name):
    src = tmp_path / "src"
    src.mkdir()
    path = src / name
    if name == "dir_profile.json":
        path.mkdir()
    elif name != "missing_profile.json":
        path.write_bytes(PROFILE_CASES[name](_profile(tmp_path)))
    before = tree_hashes(src)
    code, err = _run(["show", path, "-o", tmp_path / "out" / "sheet.png"], capsys)
    _assert_one_line_error(code, err, name)
    assert not (tmp_path / "out").exists()
    assert tree_hashes(src) == before


def test_corpus_is_large_enough():
    assert len(PHOTO_CASES) + len(SPECIAL) + len(PROFILE_CASES) + 2 >= 50
