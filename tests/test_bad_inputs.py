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


def _declare_size(data: bytes, short: int, long: int) -> bytes:
    """A TIFF/DNG whose IFD0 ImageWidth/ImageLength (tags 256/257) claim a huge size: ``short``
    where the tag is a SHORT, ``long`` where it is a LONG."""
    raw = bytearray(data)
    ifd = struct.unpack_from("<I", raw, 4)[0]
    n = struct.unpack_from("<H", raw, ifd)[0]
    for i in range(n):
        off = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", raw, off)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into("<H", raw, off + 8, short)
            else:
                struct.pack_into("<I", raw, off + 8, long)
    return bytes(raw)


def _huge_tiff(d: Path) -> bytes:
    return _declare_size(_tiff_bytes(d, np.zeros((8, 8, 3), np.uint16), photometric="rgb"), 60000, 200000)


def _huge_dng(d: Path) -> bytes:
    return _declare_size(_good_dng(d), 65000, 900000)


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


# =================================================================================================
# The trust corpus (issue #22): hostile and careless inputs by class, each variant generated here.
# Every case asserts the exit code, at most one "error:" line (the last one) and no traceback, no
# temporary or partial output left anywhere, and every input file unchanged (sha256).
# =================================================================================================
import os as _os
import stat
from dataclasses import dataclass

from lenscal.optics.psf import gaussian

H, W = 32, 48  # small photos: the corpus is about the rules, not the maths


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def cli(capsys, *args) -> Result:
    """``lenscal ARGS`` in this process, as the console script runs it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    got = capsys.readouterr()
    return Result(e.value.code if isinstance(e.value.code, int) else 0, got.out, got.err)


def ok(r: Result) -> Result:
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and not r.errors, r.err
    return r


def refused(r: Result, code: int, *names: str) -> Result:
    """A refusal: the code, exactly one error line, the last one, naming what it is about."""
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err + r.out, r.err
    assert len(r.errors) == 1, r.err
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert lines[-1] == r.errors[0], r.err
    for name in names:
        assert name in r.errors[0], r.errors[0]
    return r


def no_parts(root: Path) -> None:
    """No temporary (``.part``) file anywhere under root: every output is whole or absent."""
    left = [f for _, _, files in _os.walk(root) for f in files if f.endswith(".part")]
    assert not left, left


def _photo(seed: int = 0, size: tuple[int, int] = (H, W)) -> np.ndarray:
    return (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)


def _png(seed: int = 0) -> bytes:
    return cv2.imencode(".png", _photo(seed))[1].tobytes()


def _profile_json(**meta) -> dict:
    grid = gaussian(1.0, 5).expand(2, 2, 3, 5, 5).numpy()
    fields = {"make": "Panasonic", "model": "DC-GX9", "width": W, "height": H, "f_number": 16.0, **meta}
    return json.loads(LensProfile.from_grid(grid, 0.01, Metadata(**fields)).model_dump_json())


@pytest.fixture
def prof(tmp_path) -> Path:
    """A valid profile for the corpus's photos, outside the inputs' folder."""
    p = tmp_path / "prof" / "lens.json"
    p.parent.mkdir()
    p.write_text(json.dumps(_profile_json()))
    return p


@pytest.fixture
def src(tmp_path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return d


def _cmd(command: str, inputs: list, out: Path | None, prof: Path, *extra) -> list:
    if command == "develop":
        return ["develop", *inputs, "-o", out, *extra]
    return ["correct", *inputs, "-p", prof, "--force", *(["-o", out] if out is not None else []), *extra]


def _out_name(command: str, stem: str) -> str:
    return f"{stem}.tif" if command == "develop" else f"{stem}_corrected.tif"


# -- class 1: output names never name an input or a foreign file ---------------------------------------
def _n_same_stem(command, src, prof, capsys, overwrite):
    (src / "a.png").write_bytes(_png(1))
    tifffile.imwrite(src / "a.tif", _photo(2), photometric="rgb")
    before = tree_hashes(src)
    extra = ["--overwrite"] if overwrite else []
    r = ok(cli(capsys, *_cmd(command, [src / "a.png", src / "a.tif"], src, prof, *extra)))
    after = tree_hashes(src)
    assert {k: after[k] for k in before} == before
    new = set(after) - set(before)
    assert new == {_out_name(command, "a_png"), _out_name(command, "a_tif")}, new
    assert "already there" not in r.err


def n_same_stem(command, src, prof, capsys):
    _n_same_stem(command, src, prof, capsys, overwrite=False)


def n_same_stem_overwrite(command, src, prof, capsys):
    _n_same_stem(command, src, prof, capsys, overwrite=True)


def n_raw_and_png_same_stem(command, src, prof, capsys):
    make_dng(src / "IMG_1.dng", size=(H, W))
    (src / "IMG_1.png").write_bytes(_png())
    before = tree_hashes(src)
    ok(cli(capsys, *_cmd(command, [src / "IMG_1.dng", src / "IMG_1.png"], src, prof, "--overwrite")))
    after = tree_hashes(src)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {_out_name(command, "IMG_1_dng"), _out_name(command, "IMG_1_png")}


def n_output_name_is_another_input(command, src, prof, capsys):
    (src / "a.png").write_bytes(_png())
    other = src / _out_name(command, "a")  # a photo of the user's that bears a's output name
    tifffile.imwrite(other, _photo(3), photometric="rgb")
    before = tree_hashes(src)
    ok(cli(capsys, *_cmd(command, [src / "a.png", other], src, prof, "--overwrite")))
    after = tree_hashes(src)
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 2


def n_output_is_its_own_input(command, src, prof, capsys):
    name = _out_name(command, "a")
    tifffile.imwrite(src / name, _photo(), photometric="rgb")
    before = tree_hashes(src)
    ok(cli(capsys, *_cmd(command, [src / name], src, prof, "--overwrite")))
    after = tree_hashes(src)
    assert after[name] == before[name] and len(after) == 2


def _n_foreign(command, src, prof, capsys, overwrite):
    (src / "a.png").write_bytes(_png())
    out = src.parent / "out"
    out.mkdir()
    (out / _out_name(command, "a")).write_bytes(b"the user's own file")
    before, outside = tree_hashes(src), tree_hashes(out)
    extra = ["--overwrite"] if overwrite else []
    refused(cli(capsys, *_cmd(command, [src / "a.png"], out, prof, *extra)), 4,
            _out_name(command, "a"), "not written by lenscal")
    assert tree_hashes(src) == before and tree_hashes(out) == outside


def n_foreign_file_at_target(command, src, prof, capsys):
    _n_foreign(command, src, prof, capsys, overwrite=False)


def n_foreign_file_at_target_overwrite(command, src, prof, capsys):
    _n_foreign(command, src, prof, capsys, overwrite=True)


def _n_own_again(command, src, prof, capsys, overwrite):
    (src / "a.png").write_bytes(_png())
    out = src.parent / "out"
    ok(cli(capsys, *_cmd(command, [src / "a.png"], out, prof)))
    target = out / _out_name(command, "a")
    stamp = target.stat().st_mtime_ns
    before = tree_hashes(src)
    r = ok(cli(capsys, *_cmd(command, [src / "a.png"], out, prof, *(["--overwrite"] if overwrite else []))))
    assert (target.stat().st_mtime_ns != stamp) == overwrite, r.err
    assert tree_hashes(src) == before and sorted(p.name for p in out.iterdir()) == [target.name]


def n_own_output_skipped(command, src, prof, capsys):
    _n_own_again(command, src, prof, capsys, overwrite=False)


def n_own_output_replaced_with_overwrite(command, src, prof, capsys):
    _n_own_again(command, src, prof, capsys, overwrite=True)


def _n_odd_target(command, src, prof, capsys, make):
    (src / "a.png").write_bytes(_png())
    out = src.parent / "out"
    out.mkdir()
    target = out / _out_name(command, "a")
    make(target, src)
    before = tree_hashes(src)
    refused(cli(capsys, *_cmd(command, [src / "a.png"], out, prof, "--overwrite")), 4, _out_name(command, "a"))
    assert tree_hashes(src) == before
    assert _os.path.lexists(target)


def n_folder_at_target(command, src, prof, capsys):
    _n_odd_target(command, src, prof, capsys, lambda t, s: t.mkdir())


def n_link_to_a_foreign_file_at_target(command, src, prof, capsys):
    def make(t, s):
        (s / "elsewhere.tif").write_bytes(_tiff_bytes(s.parent, _photo(), photometric="rgb"))
        t.symlink_to(s / "elsewhere.tif")
    _n_odd_target(command, src, prof, capsys, make)


def n_link_to_the_input_at_target(command, src, prof, capsys):
    """A link named like the output that leads to the input: the output is named otherwise."""
    (src / "a.png").write_bytes(_png())
    out = src.parent / "out"
    out.mkdir()
    link = out / _out_name(command, "a")
    link.symlink_to(src / "a.png")
    before = tree_hashes(src)
    ok(cli(capsys, *_cmd(command, [src / "a.png"], out, prof, "--overwrite")))
    assert tree_hashes(src) == before and link.is_symlink() and _os.readlink(link) == str(src / "a.png")
    assert sorted(p.name for p in out.iterdir()) == sorted([link.name, _out_name(command, "a_png")])


def n_dangling_link_at_target(command, src, prof, capsys):
    _n_odd_target(command, src, prof, capsys, lambda t, s: t.symlink_to(s / "nowhere.tif"))


def n_fifo_at_target(command, src, prof, capsys):
    _n_odd_target(command, src, prof, capsys, lambda t, s: _os.mkfifo(t))


def n_in_place_twice(command, src, prof, capsys):
    """``develop shoot -o shoot`` / ``correct shoot``: a second run finds only its own outputs."""
    for i in range(2):
        (src / f"p{i}.png").write_bytes(_png(i))
    out = src if command == "develop" else None
    ok(cli(capsys, *_cmd(command, [src], out, prof)))
    first = tree_hashes(src)
    assert len(first) == 4
    r = ok(cli(capsys, *_cmd(command, [src], out, prof)))
    assert tree_hashes(src) == first, r.err


def n_case_variant_inputs(command, src, prof, capsys):
    (src / "A.png").write_bytes(_png(1))
    (src / "a.PNG").write_bytes(_png(2))
    before = tree_hashes(src)
    ok(cli(capsys, *_cmd(command, [src / "A.png", src / "a.PNG"], src, prof)))
    after = tree_hashes(src)
    new = [k for k in after if k not in before]
    assert len({k.casefold() for k in new}) == 2, new  # distinct even on a case-insensitive disk
    assert {k: after[k] for k in before} == before


def n_one_file_twice(command, src, prof, capsys):
    (src / "a.png").write_bytes(_png())
    (src / "alias.png").symlink_to(src / "a.png")
    out = src.parent / "out"
    ok(cli(capsys, *_cmd(command, [src / "a.png", f"{src}/./a.png", src / "alias.png"], out, prof)))
    assert [p.name for p in out.iterdir()] == [_out_name(command, "a")]


def n_stale_parts_removed_at_start(command, src, prof, capsys):
    """A killed run (SIGKILL) leaves its temporary file; the next run into that folder removes it,
    but not one of a live writer."""
    (src / "a.png").write_bytes(_png())
    out = src.parent / "out"
    out.mkdir()
    dead = out / ".x_corrected.tif.999999999.abcdefgh.part"  # no such process
    legacy = out / ".y.tif.k3j4h5g6.part"  # an earlier version's name, without a process id
    live = out / f".z.tif.{_os.getpid()}.abcdefgh.part"  # this process is alive
    for p in (dead, legacy, live):
        p.write_bytes(b"half")
    ok(cli(capsys, *_cmd(command, [src / "a.png"], out, prof)))
    assert not dead.exists() and not legacy.exists() and live.exists()
    live.unlink()


NAMING = [n_same_stem, n_same_stem_overwrite, n_raw_and_png_same_stem, n_output_name_is_another_input,
          n_output_is_its_own_input, n_foreign_file_at_target, n_foreign_file_at_target_overwrite,
          n_own_output_skipped, n_own_output_replaced_with_overwrite, n_folder_at_target,
          n_link_to_a_foreign_file_at_target, n_link_to_the_input_at_target, n_dangling_link_at_target, n_fifo_at_target, n_in_place_twice,
          n_case_variant_inputs, n_one_file_twice, n_stale_parts_removed_at_start]


@pytest.mark.parametrize("command", ["develop", "correct"])
@pytest.mark.parametrize("case", NAMING, ids=lambda f: f.__name__)
def test_output_names(case, command, src, prof, capsys, tmp_path):
    case(command, src, prof, capsys)
    no_parts(tmp_path)


# -- class 2: show / profiles show -o never replace what is not their own picture ------------------------
def _o_default_foreign(d: Path, p: Path) -> Path:
    (d / "lens_sheet.png").write_bytes(_png())  # a PNG of the user's where the sheet would go
    return None


SHEET_TARGETS = {  # name -> (make the target in folder d given profile p; None = no -o, code, name in the error)
    "the_profile_itself": (lambda d, p: p, 4, "lens.json"),
    "a_raw_file": (lambda d, p: make_dng(d / "IMG_1.dng", size=(H, W)), 4, "IMG_1.dng"),
    "a_tiff_photo": (lambda d, p: (d / "t.tif").write_bytes(_tiff_bytes(d, _photo(), photometric="rgb")) and d / "t.tif",
                     4, "t.tif"),
    "a_foreign_png": (lambda d, p: (d / "photo.png").write_bytes(_png()) and d / "photo.png", 4, "photo.png"),
    "a_folder_named_png": (lambda d, p: (d / "dir.png").mkdir() or d / "dir.png", 4, "dir.png"),
    "a_link_to_the_profile": (lambda d, p: (d / "s.png").symlink_to(p) or d / "s.png", 4, "s.png"),
    "a_fifo_named_png": (lambda d, p: _os.mkfifo(d / "f.png") or d / "f.png", 4, "f.png"),
    "a_device": (lambda d, p: Path("/dev/null"), 4, "/dev/null"),
    "not_a_png_name": (lambda d, p: d / "sheet.jpg", 4, "sheet.jpg"),
    "under_a_file": (lambda d, p: (d / "file.txt").write_text("x") and d / "file.txt" / "s.png", 4, "file.txt"),
    "in_a_link_loop": (lambda d, p: (d / "loop").symlink_to(d / "loop") or d / "loop" / "s.png", 4, "loop"),
    "default_name_taken_by_a_foreign_png": (_o_default_foreign, 4, "lens_sheet.png"),
}


@pytest.mark.parametrize("command", [["show"], ["profiles", "show"]], ids=" ".join)
@pytest.mark.parametrize("name", sorted(SHEET_TARGETS))
def test_sheet_target_refused(name, command, tmp_path, capsys, monkeypatch):
    d = tmp_path / "src"
    d.mkdir()
    monkeypatch.chdir(d)  # where show draws without -o
    p = d / "lens.json"
    p.write_text(json.dumps(_profile_json()))
    make, code, word = SHEET_TARGETS[name]
    target = make(d, p)
    before = tree_hashes(d)
    args = [*command, p] + (["-o", target] if target is not None else [])
    refused(cli(capsys, *args), code, word)
    assert tree_hashes(d) == before
    assert stat.S_ISCHR(_os.stat("/dev/null").st_mode)
    no_parts(tmp_path)


def test_sheet_replaces_only_its_own_picture(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # show draws into the current folder
    p = tmp_path / "lens.json"
    p.write_text(json.dumps(_profile_json()))
    ok(cli(capsys, "show", p))
    sheet = tmp_path / "lens_sheet.png"
    first = sheet.stat().st_mtime_ns
    ok(cli(capsys, "show", p))  # its own earlier picture: redrawn
    assert sheet.stat().st_mtime_ns != first and cv2.imread(str(sheet)) is not None
    no_parts(tmp_path)


# -- class 3: a path that exists is taken literally; only a quoted pattern is expanded -------------------
def _lit_files(d: Path, names: list[str]) -> None:
    for i, n in enumerate(names):
        (d / n).write_bytes(_png(i))


LITERAL = {  # name -> (files in the folder, the arguments, the photos that must be taken, exit code)
    "brackets_exist_beside_their_match": (["a[1].png", "a1.png"], ["a[1].png"], ["a[1].png"], 0),
    "spaced_brackets_and_another": (["vacation [final].png", "b.png"], ["vacation [final].png", "b.png"],
                                    ["vacation [final].png", "b.png"], 0),
    "spaced_brackets_alone": (["vacation [final].png", "vacation f.png"], ["vacation [final].png"],
                              ["vacation [final].png"], 0),
    "star_in_a_name": (["st*r.png", "stXr.png"], ["st*r.png"], ["st*r.png"], 0),
    "question_mark_in_a_name": (["q?.png", "qa.png"], ["q?.png"], ["q?.png"], 0),
    "quoted_pattern_expanded": (["shot_1.png", "shot_2.png", "other.png"], ["shot_*.png"], ["shot_1.png", "shot_2.png"], 0),
    "pattern_leaves_hidden_files": ([".hidden.png", "seen.png"], ["*.png"], ["seen.png"], 0),
    "pattern_matching_nothing": (["a.png"], ["nothing[0-9].png"], [], 2),
}


@pytest.mark.parametrize("command", ["info", "develop", "correct"])
@pytest.mark.parametrize("name", sorted(LITERAL))
def test_literal_paths(name, command, src, prof, capsys, tmp_path):
    files, args, taken, code = LITERAL[name]
    _lit_files(src, files)
    before = tree_hashes(src)
    inputs = [src / a for a in args]
    out = tmp_path / "out"
    cmd = ["info", *inputs, "--json"] if command == "info" else _cmd(command, inputs, out, prof)
    r = cli(capsys, *cmd)
    if code:
        refused(r, code, args[0])
    else:
        ok(r)
        if command == "info":
            assert sorted(Path(row["file"]).name for row in json.loads(r.out)) == sorted(taken)
        else:
            made = sorted(p.name for p in out.iterdir())
            assert made == sorted(_out_name(command, Path(t).stem) for t in taken), made
    assert tree_hashes(src) == before
    no_parts(tmp_path)


# -- class 4: text from files, EXIF and profiles is printed, never obeyed ---------------------------------
HOSTILE = {
    "markup_close": "EOS [/x] 30D",
    "markup_style": "[bold red]EOS[/] 5D",
    "markup_link": "[link=file:///etc/passwd]EOS[/link]",
    "title_escape": "EOS\x1b]0;pwned\x07 R5",
    "clear_screen": "EOS\x1b[2J\x1b[H R6",
    "c1_csi": "EOS\x9b31m R7",
    "trailing_backslash": "EOS R8\\",
    "bidi_override": "EOS \u202egnp.exe",
}
_BAD_CHARS = "\x1b\x07\x9b\u202e"


def _clean_output(r: Result, text: str | None = None) -> None:
    """No traceback, no control character, and ``text`` shown as the characters it is (markup too)."""
    from lenscal.ui import plain

    assert "Traceback" not in r.err and "MarkupError" not in r.err
    assert not any(ch in r.out + r.err for ch in _BAD_CHARS), repr(r.out + r.err)
    if text is not None:
        shown = plain(text).split()[0]  # e.g. "[bold" stays "[bold": it was not taken as markup
        assert shown in r.out + r.err, (shown, r.out + r.err)


def _exif_jpeg(path: Path, model: str) -> Path:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", model
    Image.fromarray(_photo()).save(path, "JPEG", exif=exif.tobytes())
    return path


def h_exif_info(text, src, tmp_path, capsys):
    p = _exif_jpeg(src / "cam.jpg", text)
    r = ok(cli(capsys, "info", p))
    _clean_output(r, text)
    r = ok(cli(capsys, "info", p, "--json"))
    assert "EOS" in json.loads(r.out)[0]["model"]  # the data itself is kept, escaped as JSON


def h_exif_correct_mismatch(text, src, tmp_path, capsys):
    p = _exif_jpeg(src / "cam.jpg", text)
    prof = tmp_path / "lens.json"
    prof.write_text(json.dumps(_profile_json()))
    r = refused(cli(capsys, "correct", p, "-p", prof, "-o", tmp_path / "out"), 3, "cam.jpg")
    _clean_output(r, text)


def h_profile_show(text, src, tmp_path, capsys):
    prof = src / "lens.json"
    prof.write_text(json.dumps(_profile_json(model=text, lens_model=text)))
    r = ok(cli(capsys, "show", prof, "-o", tmp_path / "sheet.png"))
    _clean_output(r, text)
    r = ok(cli(capsys, "show", prof, "-o", tmp_path / "sheet.png", "--json"))
    assert text in json.loads(r.out)["camera"]


def h_profile_list(text, src, tmp_path, capsys, monkeypatch=None):
    prof = src / "lens.json"
    prof.write_text(json.dumps(_profile_json(model=text)))
    ok(cli(capsys, "profiles", "install", prof))
    r = ok(cli(capsys, "profiles", "list"))
    _clean_output(r, text)
    r = ok(cli(capsys, "profiles", "list", "--json"))
    assert any(text in e.get("camera", "") for e in json.loads(r.out))


def h_file_name(text, src, tmp_path, capsys):
    name = text.replace("/", "_") + ".png"
    (src / name).write_bytes(b"not a png")
    r = refused(cli(capsys, "develop", src / name, "-o", tmp_path / "out"), 2)
    _clean_output(r, name)
    (src / name).write_bytes(_png())
    r = ok(cli(capsys, "info", src / name))
    _clean_output(r, name)


HOSTILE_CARRIERS = [h_exif_info, h_exif_correct_mismatch, h_profile_show, h_profile_list, h_file_name]


@pytest.mark.parametrize("carrier", HOSTILE_CARRIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("text", sorted(HOSTILE))
def test_hostile_text_is_printed_not_obeyed(text, carrier, src, tmp_path, capsys, monkeypatch):
    from lenscal import ui

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for console in (ui.out, ui.console):  # wide enough that no table cell wraps what is looked for
        monkeypatch.setattr(console, "width", 400)
    before = tree_hashes(src)
    carrier(HOSTILE[text], src, tmp_path, capsys)
    after = tree_hashes(src)
    assert {k: after[k] for k in before} == before
    no_parts(tmp_path)


def test_undecodable_file_name(src, tmp_path, capsys):
    """A name that is not UTF-8 (a camera card written elsewhere) prints, it does not crash."""
    name = _os.fsdecode(b"IMG_\xff\xfe.png")
    (src / name).write_bytes(_png())
    r = ok(cli(capsys, "info", src / name))
    assert "IMG_" in r.out
    (src / name).write_bytes(b"broken")
    refused(cli(capsys, "develop", src / name, "-o", tmp_path / "out"), 2, "IMG_")


# -- class 5: limits are checked before anything is parsed or decoded ------------------------------------
def _big_profile_file(p: Path) -> None:
    with open(p, "wb") as f:
        f.truncate(25 * 2**20)  # sparse: 25 MB of zeros, no disk used


def _kernel_profile(k: int, rows: int = 1, cols: int = 1) -> str:
    d = _profile_json()
    kern = np.zeros((k, k))
    kern[k // 2, k // 2] = 1.0
    d["psf"] = {"grid_shape": [rows, cols], "kernel_size": k, "channels": ["R", "G", "B"],
                "data": [[[kern.tolist()] * 3] * cols] * rows}
    return json.dumps(d)


def _with(field: str, value) -> str:
    return json.dumps(_set(_profile_json(), field, value))


PROFILE_LIMITS = {  # name -> (write the file, exit code: 0 = loads)
    "nested_200000": (lambda p: p.write_text("[" * 200_000), 2),
    "nested_40": (lambda p: p.write_text('{"a": ' + "[" * 40 + "]" * 40 + "}"), 2),
    "int_100000_digits": (lambda p: p.write_text('{"schema_version": 1' + "0" * 100_000 + "}"), 2),
    "int_19_digits_sigma": (lambda p: p.write_text(_with("seed", 10**19)), 2),
    "nan_literal_f_number": (lambda p: p.write_text(_with("f_number_blurry", 0).replace(
        '"f_number_blurry":0', '"f_number_blurry":NaN')), 2),
    "infinity_literal_sigma": (lambda p: p.write_text(_with("noise_sigma", 0.5).replace("0.5", "Infinity")), 2),
    "minus_infinity_focal": (lambda p: p.write_text(_with("focal_length", 1.5).replace("1.5", "-Infinity")), 2),
    "exponent_overflow_f_number": (lambda p: p.write_text(_with("f_number_blurry", 1.5).replace("1.5", "1e999")), 2),
    "zero_f_number": (lambda p: p.write_text(_with("f_number_blurry", 0.0)), 2),
    "file_25mb": (_big_profile_file, 2),
    "kernel_301": (lambda p: p.write_text(_kernel_profile(301)), 2),
    "kernel_65": (lambda p: p.write_text(_kernel_profile(65)), 2),
    "kernel_1": (lambda p: p.write_text(_kernel_profile(1)), 2),
    "grid_64_rows": (lambda p: p.write_text(_kernel_profile(3, rows=64)), 2),
    "grid_0": (lambda p: p.write_text(_with("psf.grid_shape", [0, 2])), 2),
    "camera_5000_chars": (lambda p: p.write_text(_with("camera.model", "x" * 5000)), 2),
    "image_width_1e9": (lambda p: p.write_text(_with("image.width", 10**9)), 2),
    "utf8_bom_is_fine": (lambda p: p.write_bytes(b"\xef\xbb\xbf" + json.dumps(_profile_json()).encode()), 0),
    "kernel_63_is_fine": (lambda p: p.write_text(_kernel_profile(63)), 0),
}


@pytest.mark.parametrize("command", ["show", "correct", "install"])
@pytest.mark.parametrize("name", sorted(PROFILE_LIMITS))
def test_profile_limits(name, command, src, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = src / f"{name}.json"
    make, code = PROFILE_LIMITS[name]
    make(p)
    (src / "photo.png").write_bytes(_png())
    before = tree_hashes(src)
    out = tmp_path / "out"
    args = {"show": ["show", p, "-o", out / "sheet.png"],
            "correct": ["correct", src / "photo.png", "-p", p, "--force", "-o", out],
            "install": ["profiles", "install", p]}[command]
    r = cli(capsys, *args)
    if code:
        refused(r, code, p.name)
        assert not out.exists() or not any(out.iterdir())
        assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.json"))
    else:
        ok(r)
    assert tree_hashes(src) == before
    no_parts(tmp_path)


def _png_declaring(width: int, height: int) -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def _jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(cv2.imencode(".jpg", _photo())[1].tobytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


IMAGE_LIMITS = {  # name -> bytes; each refused by info (from the header) and by develop
    "png_30000x30000_in_1kb.png": lambda: _png_declaring(30000, 30000),
    "png_20000x14000.png": lambda: _png_declaring(20000, 14000),
    "png_1x1.png": lambda: _png_declaring(1, 1),
    "jpeg_65000x65000.jpg": lambda: _jpeg_declaring(65000, 65000),
    "jpeg_60000x1.jpg": lambda: _jpeg_declaring(60000, 1),
}


@pytest.mark.parametrize("name", sorted(IMAGE_LIMITS))
def test_image_size_limits(name, src, tmp_path, capsys):
    p = src / name
    p.write_bytes(IMAGE_LIMITS[name]())
    before = tree_hashes(src)
    refused(cli(capsys, "info", p), 2, name, "size")
    refused(cli(capsys, "develop", p, "-o", tmp_path / "out"), 2, name)
    assert tree_hashes(src) == before
    no_parts(tmp_path)


def test_info_reads_headers_only(src, capsys):
    """info of a PNG whose pixel data is damaged (its header and end intact) works: no decoding."""
    data = bytearray(cv2.imencode(".png", _photo(size=(600, 800)))[1].tobytes())
    idat = data.index(b"IDAT")
    data[idat + 40: idat + 400] = bytes(360)  # zeroed compressed pixels
    (src / "damaged.png").write_bytes(bytes(data))
    r = ok(cli(capsys, "info", src / "damaged.png", "--json"))
    assert json.loads(r.out)[0]["width"] == 800
    refused(cli(capsys, "develop", src / "damaged.png", "-o", src.parent / "out"), 2, "damaged.png")


# -- class 6: image content lenscal cannot take as it is: refused in one line ------------------------------
def _float_tiff(d: Path, value) -> bytes:
    img = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    img[3, 4, 1] = value
    return _tiff_bytes(d, img, photometric="rgb")


def _headerless_raw(d: Path) -> bytes:
    bayer = np.random.default_rng(0).integers(0, 4096, (512, 768), dtype=np.uint16)
    return bayer.astype("<u2").tobytes()  # LibRaw would guess a camera from this size alone


IMAGE_CONTENT = {  # name -> bytes builder (folder) refused with a one-line reason
    "nan.tif": lambda d: _float_tiff(d, np.nan),
    "inf.tif": lambda d: _float_tiff(d, np.inf),
    "minus_inf.tif": lambda d: _float_tiff(d, -np.inf),
    "float_1e30.tif": lambda d: _float_tiff(d, 1e30),
    "float_0_255.tif": lambda d: _tiff_bytes(d, np.random.default_rng(0).random((H, W, 3)).astype(np.float32) * 255,
                                             photometric="rgb"),
    "cmyk.tif": lambda d: _tiff_bytes(d, np.zeros((H, W, 4), np.uint8), photometric="separated"),
    "miniswhite.tif": lambda d: _tiff_bytes(d, np.zeros((H, W), np.uint8), photometric="miniswhite"),
    "palette.tif": lambda d: _tiff_bytes(d, np.zeros((H, W), np.uint8), photometric="palette",
                                         colormap=np.zeros((3, 256), np.uint16)),
    "cielab.tif": lambda d: _tiff_bytes(d, np.zeros((H, W, 3), np.uint8), photometric="cielab"),
    "cmyk.jpg": lambda d: _pillow_bytes("CMYK", "JPEG"),
    "headerless_dump.raw": _headerless_raw,
    "headerless_dump.dng": _headerless_raw,
}
if (SHARED / "raw" / "isp_DSC_1339_768x512_rggb_u16le.raw").exists():
    IMAGE_CONTENT["shared_bayer_dump.raw"] = lambda d: (SHARED / "raw" / "isp_DSC_1339_768x512_rggb_u16le.raw").read_bytes()


def _pillow_bytes(mode: str, fmt: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (W, H)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(IMAGE_CONTENT))
def test_image_content_refused(name, src, tmp_path, capsys):
    p = src / name
    p.write_bytes(IMAGE_CONTENT[name](tmp_path))
    before = tree_hashes(src)
    out = tmp_path / "out"
    refused(cli(capsys, "develop", p, "-o", out), 2, name)
    assert not out.exists() or not any(out.iterdir())
    assert tree_hashes(src) == before
    no_parts(tmp_path)


READABLE = {  # name -> write the file given the reference pixels (uint8 RGB): each must read back as it
    "lzw.tif": lambda p, img: tifffile.imwrite(p, img, photometric="rgb", compression="lzw"),
    "deflate.tif": lambda p, img: tifffile.imwrite(p, img, photometric="rgb", compression="deflate"),
    "packbits.tif": lambda p, img: tifffile.imwrite(p, img, photometric="rgb", compression="packbits"),
    "zstd.tif": lambda p, img: tifffile.imwrite(p, img, photometric="rgb", compression="zstd"),
    "jpeg.tif": lambda p, img: tifffile.imwrite(p, img, photometric="rgb", compression="jpeg"),
    "planar.tif": lambda p, img: tifffile.imwrite(p, np.moveaxis(img, -1, 0), photometric="rgb", planarconfig="separate"),
    "rgba.tif": lambda p, img: tifffile.imwrite(p, np.dstack([img, img[..., :1]]), photometric="rgb", extrasamples=[2]),
    "rgb16.png": lambda p, img: cv2.imwrite(str(p), (img[..., ::-1].astype(np.uint16) * 257)),
    "grey.png": lambda p, img: cv2.imwrite(str(p), img[..., 1]),
    "rgba.png": lambda p, img: cv2.imwrite(str(p), np.dstack([img[..., ::-1], img[..., :1]])),
}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_image_formats_read_back(name, src, tmp_path, capsys):
    from lenscal.io.images import read_image, srgb_decode

    y, x = np.mgrid[0:64, 0:80]
    img = np.stack([x * 3, y * 3, 255 - x * 2], axis=-1).astype(np.uint8)  # smooth: JPEG keeps it
    p = src / name
    READABLE[name](p, img)
    pixels, _ = read_image(p)
    want = srgb_decode(img.astype(np.float32) / 255)
    if name == "grey.png":
        want = np.repeat(want[..., 1:2], 3, axis=2)
    tol = 0.01 if name == "jpeg.tif" else 1e-6  # JPEG is lossy
    assert np.abs(pixels - want).mean() < tol
    ok(cli(capsys, "develop", p, "-o", tmp_path / "out"))
    no_parts(tmp_path)


# -- class 7: learn settings out of range are refused before any photo is read --------------------------
BAD_SETTINGS = ["step1_steps=-5", "step1_steps=0", "step1_steps=2.5", "step1_steps=1e12", "step2_batch=0",
                "kernel_lr=-1", "kernel_lr=NaN", "kernel_smooth=-0.5", "init_width=0", "step2_min_steps=-1",
                "channels=[]", "channels=[8,0]", "coarse=[3]", "coarse=[0,0]", "patch=4", "kernel_average=1"]


@pytest.mark.parametrize("setting", BAD_SETTINGS)
def test_learn_settings_ranges(setting, tmp_path, capsys):
    r = refused(cli(capsys, "learn", "--sharp", tmp_path / "no_sharp", "--blurry", tmp_path / "no_blurry",
                    "-o", tmp_path / "p.json", "--set", setting), 2, setting.split("=")[0])
    assert "photo" not in r.errors[0]  # refused before the folders were looked at
    assert not any(tmp_path.iterdir())


# -- class 8: output folders that cannot be one --------------------------------------------------------
def _loop(t: Path) -> Path:
    (t / "loop").symlink_to(t / "loop")
    return t / "loop"


OUT_FOLDERS = {  # name -> the -o path built in tmp_path
    "link_loop": _loop,
    "inside_link_loop": lambda t: _loop(t) / "sub",
    "a_file": lambda t: (t / "file.txt").write_text("x") and t / "file.txt",
    "under_a_file": lambda t: (t / "file.txt").write_text("x") and t / "file.txt" / "sub",
    "dangling_link": lambda t: (t / "gone").symlink_to(t / "nowhere") or t / "gone",
    "name_too_long": lambda t: t / ("x" * 300),
    "a_device": lambda t: Path("/dev/null"),
}


@pytest.mark.parametrize("command", ["develop", "correct"])
@pytest.mark.parametrize("name", sorted(OUT_FOLDERS))
def test_output_folder_refused(name, command, src, prof, tmp_path, capsys):
    (src / "a.png").write_bytes(_png())
    out = OUT_FOLDERS[name](tmp_path)
    before = tree_hashes(src)
    refused(cli(capsys, *_cmd(command, [src / "a.png"], out, prof)), 4)
    assert tree_hashes(src) == before
    no_parts(tmp_path)


# -- class 9: every --json is strict JSON -----------------------------------------------------------------
def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_check_json_is_strict_json(tmp_path, capsys):
    """Photos too small for check's statistics give NaN inside; the JSON says null."""
    for folder in ("sharp", "blurry"):
        (tmp_path / folder).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / folder / f"{i}.png"), _photo(i, size=(16, 16)))
    r = cli(capsys, "check", "--sharp", tmp_path / "sharp", "--blurry", tmp_path / "blurry", "--json")
    assert r.code in (0, 2) and "Traceback" not in r.err
    report = _strict_json(r.out)
    assert any(p["textured"] is None for p in report["photos"])


def test_profiles_install_names_it_json(tmp_path, capsys, monkeypatch):
    """A profile kept as .txt is installed as .json, so that list shows what install wrote."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = tmp_path / "my lens.txt"
    p.write_text(json.dumps(_profile_json()))
    r = ok(cli(capsys, "profiles", "install", p))
    assert "my lens.json" in r.err
    listed = _strict_json(ok(cli(capsys, "profiles", "list", "--json")).out)
    assert "my lens" in [e["name"] for e in listed]


def test_corpus_of_trust_is_large_enough():
    cases = (2 * len(NAMING) + 2 * len(SHEET_TARGETS) + 3 * len(LITERAL) + len(HOSTILE) * len(HOSTILE_CARRIERS)
             + 3 * len(PROFILE_LIMITS) + len(IMAGE_LIMITS) + len(IMAGE_CONTENT) + len(READABLE) + len(BAD_SETTINGS)
             + 2 * len(OUT_FOLDERS) + len(LEARN_TARGETS))
    assert cases >= 150, cases


LEARN_TARGETS = {  # name -> (make the foreign file next to the profile lens.json, the name refused)
    "foreign_json_as_profile": (lambda d: (d / "lens.json").write_text('{"my": "notes"}'), "lens.json"),
    "foreign_psf_picture": (lambda d: (d / "lens_psf.png").write_bytes(_png()), "lens_psf.png"),
    "foreign_before_after": (lambda d: (d / "lens_before_after.png").write_bytes(_png()), "lens_before_after.png"),
    "folder_as_psf_picture": (lambda d: (d / "lens_psf.png").mkdir(), "lens_psf.png"),
}


@pytest.mark.parametrize("name", sorted(LEARN_TARGETS))
def test_learn_never_replaces_foreign_files(name, src, tmp_path, capsys):
    make, word = LEARN_TARGETS[name]
    make(src)
    before = tree_hashes(src)
    refused(cli(capsys, "learn", "--sharp", tmp_path / "s", "--blurry", tmp_path / "b", "-o", src / "lens.json",
                "--overwrite"), 4, word)
    assert tree_hashes(src) == before
