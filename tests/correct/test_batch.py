"""Batch correction on real files: DNGs written by lenscal's DNG writer and TIFFs by write_tiff,
read back through rawpy/tifffile; outputs checked through the real readers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import make_dng, tree_hashes
from lenscal.correct.batch import (BatchSummary, CorrectOptions, FileResult, correct_files, expand_photos,
                                   output_plan, profile_mismatches)
from lenscal.errors import EXIT_DISK, EXIT_FAILED, EXIT_MISMATCH, EXIT_OK, EXIT_USAGE
from lenscal.io.images import read_image
from lenscal.io.metadata import read_metadata
from lenscal.optics.psf import gaussian
from lenscal.profile import LensProfile

SIZE = (96, 128)
FAST = {"iterations": 3}  # the batch rules do not depend on the solver's quality


def _profile(meta) -> LensProfile:
    grid = gaussian(1.0, 7).expand(3, 3, 3, 7, 7).numpy()
    return LensProfile.from_grid(grid, 0.01, meta, provenance="test lens")


@pytest.fixture(scope="module")
def shoot(tmp_path_factory) -> tuple[Path, LensProfile]:
    """Three DNGs of the simulated camera at f/16, a corrupt DNG, and a matching profile."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(3):
        make_dng(root / f"img_{i}.dng", SIZE, seed=i, f_number=16.0)
    (root / "broken.dng").write_bytes(b"II*\x00" + os.urandom(2000))
    (root / "notes.txt").write_text("not a photo")
    meta = read_metadata(root / "img_0.dng")
    return root, _profile(meta)


def _opts(**kw) -> CorrectOptions:
    return CorrectOptions(solver=FAST, profile_name="test.json", **kw)


def test_expand_photos_sorted_photo_extensions_only_and_skips_outputs(shoot, tmp_path):
    root, _ = shoot
    found = expand_photos([root])
    assert [p.name for p in found] == ["broken.dng", "img_0.dng", "img_1.dng", "img_2.dng"]
    assert expand_photos([str(root / "img_*.dng"), root / "img_0.dng"]) == found[1:]
    (tmp_path / "a.tif").write_bytes(b"x")
    (tmp_path / "a_corrected.tif").write_bytes(b"x")
    assert [p.name for p in expand_photos([tmp_path])] == ["a.tif"]


def test_batch_writes_tiffs_with_exif_and_note_isolates_failures_and_resumes(shoot, tmp_path):
    root, profile = shoot
    before = tree_hashes(root)
    photos = expand_photos([root]) + [root / "missing.dng"]
    out = tmp_path / "out"
    events = []
    summary = correct_files(photos, profile, out, options=_opts(preview="png"),
                            progress=lambda *a: events.append(a))
    status = {r.source.name: r.status for r in summary.results}
    assert status == {"broken.dng": "failed", "img_0.dng": "done", "img_1.dng": "done", "img_2.dng": "done",
                      "missing.dng": "failed"}
    for r in summary.failed:
        assert "\n" not in r.reason and r.source.name in r.reason
    assert summary.exit_code == EXIT_USAGE  # every failure an unreadable input
    assert events[-1][:3] == ("correcting", 5, 5)
    assert tree_hashes(root) == before  # originals untouched, nothing written next to them

    tif = out / "img_0_corrected.tif"
    pixels, note = read_image(tif)
    assert pixels.shape == (*SIZE, 3)
    assert note["profile"] == "test.json" and note["strength"] == 1.0 and note["encoding"] == "srgb"
    meta = read_metadata(tif)
    assert (meta.make, meta.model, meta.f_number) == ("Panasonic", "DC-GX9", 16.0)
    with tifffile.TiffFile(tif) as t:
        assert t.pages[0].dtype == np.uint16
    assert read_image(out / "img_0_corrected.png")[0].shape == (*SIZE, 3)

    # resume: a second run skips what is finished and only retries what failed
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "img_2_corrected.tif").unlink()  # as if interrupted before this one was written
    again = correct_files(photos, profile, out, options=_opts(preview="png"))
    status = {r.source.name: r.status for r in again.results}
    assert status["img_0.dng"] == status["img_1.dng"] == "skipped"
    assert status["img_2.dng"] == "done"  # the missing TIFF redone; its existing PNG kept
    assert (out / "img_2_corrected.png").stat().st_mtime_ns == stamp["img_2_corrected.png"]
    assert (out / "img_0_corrected.tif").stat().st_mtime_ns == stamp["img_0_corrected.tif"]


def test_overwrite_replaces_lenscal_outputs_only_when_asked_and_foreign_files_never(shoot, tmp_path):
    root, profile = shoot
    src = [root / "img_1.dng"]
    out = tmp_path / "o"
    correct_files(src, profile, out, options=_opts())
    tif = out / "img_1_corrected.tif"
    stamp = tif.stat().st_mtime_ns
    assert correct_files(src, profile, out, options=_opts()).results[0].status == "skipped"
    assert tif.stat().st_mtime_ns == stamp
    assert correct_files(src, profile, out, options=_opts(overwrite=True)).exit_code == EXIT_OK
    assert tif.stat().st_mtime_ns != stamp and read_image(tif)[0].shape == (*SIZE, 3)
    tif.write_bytes(b"precious")  # a file lenscal did not write, where its output would go
    for overwrite in (False, True):
        summary = correct_files(src, profile, out, options=_opts(overwrite=overwrite))
        assert summary.exit_code == EXIT_DISK and "not written by lenscal" in summary.results[0].reason
        assert tif.read_bytes() == b"precious"


def test_in_place_outputs_never_replace_originals(tmp_path):
    """Outputs next to the originals (no -o): never an original's name, even with --overwrite."""
    from lenscal.io.images import write_tiff
    from lenscal.photo import Metadata

    meta = Metadata(make="Panasonic", model="DC-GX9", width=SIZE[1], height=SIZE[0], f_number=16.0)
    img = np.random.default_rng(0).random((*SIZE, 3)).astype(np.float32)
    write_tiff(tmp_path / "a.tif", img, meta)
    write_tiff(tmp_path / "a_corrected.tif", img, meta)  # a photo that happens to look like an output
    make_dng(tmp_path / "a.dng", SIZE, f_number=16.0)
    before = tree_hashes(tmp_path)
    photos = [tmp_path / "a.tif", tmp_path / "a_corrected.tif", tmp_path / "a.dng"]
    profile = _profile(read_metadata(tmp_path / "a.tif"))
    summary = correct_files(photos, profile, None, options=_opts(overwrite=True, mismatch="ignore"))
    after = tree_hashes(tmp_path)
    assert {k: after[k] for k in before} == before  # every original byte-identical
    status = {r.source.name: r.status for r in summary.results}
    assert status["a.dng"] == status["a.tif"] == "done"
    names = {o.name for r in summary.results for o in r.outputs}
    assert {"a_tif_corrected.tif", "a_dng_corrected.tif"} <= names  # same stem: no collision
    assert not names & {p.name for p in photos}


def test_profile_mismatch_refused_warned_or_ignored(shoot, tmp_path):
    root, _ = shoot
    make_dng(tmp_path / "f56.dng", SIZE, f_number=5.6)
    profile = _profile(read_metadata(root / "img_0.dng"))  # made for f/16
    photos = [tmp_path / "f56.dng", root / "img_0.dng"]
    assert list(profile_mismatches(photos, profile)) == [tmp_path / "f56.dng"]
    refused = correct_files(photos, profile, tmp_path / "r", options=_opts())
    assert [r.status for r in refused.results] == ["failed", "done"]
    assert "aperture" in refused.results[0].reason
    assert refused.exit_code == EXIT_MISMATCH
    warned = correct_files(photos[:1], profile, tmp_path / "w", options=_opts(mismatch="warn"))
    assert warned.results[0].status == "done" and any("aperture" in w for w in warned.results[0].warnings)
    assert warned.exit_code == EXIT_OK


def test_linear_output_and_strength_zero_round_trip(shoot, tmp_path):
    """strength 0 + --linear writes the developed photo itself: the pipeline adds nothing else."""
    from lenscal.develop import load_photo

    root, profile = shoot
    summary = correct_files([root / "img_2.dng"], profile, tmp_path, options=_opts(linear=True, strength=0.0))
    pixels, note = read_image(tmp_path / "img_2_corrected.tif")
    assert note["encoding"] == "linear" and note["strength"] == 0.0
    developed = load_photo(root / "img_2.dng")[0].pixels
    np.testing.assert_allclose(pixels, np.clip(developed, 0, 1), atol=1 / 65535 + 1e-6)
    assert summary.exit_code == EXIT_OK


def test_worker_processes_give_the_same_results(shoot, tmp_path):
    root, profile = shoot
    photos = expand_photos([root])
    one = correct_files(photos, profile, tmp_path / "one", options=_opts())
    two = correct_files(photos, profile, tmp_path / "two", options=_opts(), jobs=2)
    assert [r.status for r in two.results] == [r.status for r in one.results] == ["failed", "done", "done", "done"]
    for name in ("img_0_corrected.tif", "img_1_corrected.tif"):
        a, b = read_image(tmp_path / "one" / name)[0], read_image(tmp_path / "two" / name)[0]
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_summary_exit_codes():
    ok = FileResult(Path("a"), "done")
    skip = FileResult(Path("b"), "skipped")
    bad = FileResult(Path("c"), "failed", reason="c: corrupt", exit_code=2)
    mism = FileResult(Path("d"), "failed", reason="d: mismatch", exit_code=EXIT_MISMATCH)
    assert BatchSummary([ok, skip]).exit_code == EXIT_OK
    assert BatchSummary([ok, mism]).exit_code == EXIT_MISMATCH
    assert BatchSummary([ok, bad, mism]).exit_code == EXIT_FAILED
    assert BatchSummary([bad, skip]).exit_code == EXIT_USAGE
    disk = FileResult(Path("e"), "failed", reason="e: disk full", exit_code=EXIT_DISK)
    assert BatchSummary([ok, disk]).exit_code == EXIT_DISK
    plan = output_plan([Path("x/a.dng")], None, CorrectOptions(preview="jpg"))
    assert plan[Path("x/a.dng")] == (Path("x/a_corrected.tif"), Path("x/a_corrected.jpg"))
