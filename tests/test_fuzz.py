"""Fuzzing the readers with mutations of valid files (hypothesis, derandomised so CI is repeatable).

Whatever bytes arrive, the profile loader either returns a valid profile or raises ProfileError,
and the image readers (metadata, then development) either return finite pixels or raise a
LenscalError: never another exception, which the CLI would print as a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenscal.develop import DevelopSettings, load_photo
from lenscal.errors import LenscalError, ProfileError
from lenscal.io.metadata import read_metadata
from lenscal.optics.psf import gaussian
from lenscal.photo import Metadata
from lenscal.profile import LensProfile
from tests.conftest import make_dng

FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def fuzz(examples: int) -> settings:
    """The corpus's settings with a bound on the examples (derandomised: the same ones every run)."""
    return settings(FUZZ, max_examples=examples)
H, W = 32, 48


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, bytes]:
    """Valid files of each kind the readers take, small enough to fuzz quickly."""
    d = tmp_path_factory.mktemp("fuzz")
    img = (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(d / "a.tif", img.astype(np.uint16) * 257, photometric="rgb")
    grid = gaussian(1.0, 5).expand(2, 2, 3, 5, 5).numpy()
    meta = Metadata(make="Panasonic", model="DC-GX9", width=W, height=H, f_number=16.0)
    return {
        ".png": cv2.imencode(".png", img)[1].tobytes(),
        ".jpg": cv2.imencode(".jpg", img)[1].tobytes(),
        ".tif": (d / "a.tif").read_bytes(),
        ".dng": make_dng(d / "a.dng", size=(H, W)).read_bytes(),
        ".json": LensProfile.from_grid(grid, 0.01, meta).model_dump_json().encode(),
    }


def mutations(size_hint: int = 512):
    """Byte edits of a file: some bytes replaced (mostly in the header), a run inserted or cut,
    the end cut off."""
    edit = st.tuples(st.integers(0, 10**6), st.integers(0, 255))
    return st.fixed_dictionaries({
        "edits": st.lists(edit, max_size=8),
        "in_header": st.booleans(),
        "insert": st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=64))),
        "cut": st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(1, 256))),
        "keep": st.one_of(st.none(), st.floats(0, 1)),
    })


def mutate(data: bytes, m: dict, header: int = 512) -> bytes:
    out = bytearray(data)
    span = min(header, len(out)) if m["in_header"] else len(out)
    for pos, value in m["edits"]:
        out[pos % span] = value
    if m["insert"]:
        pos, chunk = m["insert"]
        out[pos % (len(out) + 1):pos % (len(out) + 1)] = chunk
    if m["cut"] and len(out) > 1:
        pos, n = m["cut"]
        pos %= len(out)
        del out[pos:pos + n]
    if m["keep"] is not None:
        out = out[:int(len(out) * m["keep"])]
    return bytes(out)


def _read_photo(path: Path) -> None:
    """Read a file as lenscal does; a user-facing refusal is fine, anything else fails the test."""
    try:
        meta = read_metadata(path)
        photo, _ = load_photo(path, DevelopSettings(vignetting="off"))
    except LenscalError as e:
        assert "\n" not in e.one_line()
        return
    assert photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3
    assert np.isfinite(photo.pixels).all()
    assert meta.width > 0 and meta.height > 0


@pytest.mark.parametrize("ext, examples", [(".png", 250), (".jpg", 250), (".tif", 250), (".dng", 250)])
def test_fuzz_image_readers(bases, tmp_path, ext, examples):
    path = tmp_path / f"fuzzed{ext}"

    @fuzz(examples)
    @given(m=mutations())
    def run(m):
        path.write_bytes(mutate(bases[ext], m))
        _read_photo(path)

    run()


def _load(path: Path) -> None:
    try:
        profile = LensProfile.load(path)
    except ProfileError as e:
        assert "\n" not in e.one_line()
        return
    grid = profile.grid()
    assert np.isfinite(grid).all() and grid.shape[2] == 3 and grid.shape[3] == profile.psf.kernel_size


def test_fuzz_profile_bytes(bases, tmp_path):
    path = tmp_path / "fuzzed.json"

    @fuzz(300)
    @given(m=mutations())
    def run(m):
        path.write_bytes(mutate(bases[".json"], m, header=len(bases[".json"])))
        _load(path)

    run()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def _paths(node, prefix=()):
    """Every place in a parsed profile (dict keys and list indices), psf.data's kernels sampled."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in list(enumerate(node))[:2]:
            yield from _paths(v, prefix + (i,))


def test_fuzz_profile_structure(bases, tmp_path):
    """Any value put anywhere in a valid profile: loaded or refused in one line."""
    base = json.loads(bases[".json"])
    places = list(_paths(base))[1:]
    path = tmp_path / "structured.json"

    @fuzz(300)
    @given(where=st.sampled_from(places), value=JSON_VALUES, delete=st.booleans())
    def run(where, value, delete):
        doc = json.loads(bases[".json"])
        node = doc
        for key in where[:-1]:
            node = node[key]
        if delete and isinstance(node, dict):
            node.pop(where[-1], None)
        else:
            node[where[-1]] = value
        path.write_text(json.dumps(doc))
        _load(path)

    run()
