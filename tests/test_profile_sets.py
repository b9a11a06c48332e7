"""Profile sets end to end on real files: DNGs whose EXIF says f/8, f/11, f/16 and f/22 (written by
make_dng, read back by rawpy and exifread), profiles for f/8 and f/16 saved into a folder and read
back by the profile loader; outputs read back through the real readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lenscal.correct.batch import BatchSummary, CorrectOptions, FileResult, correct_files
from lenscal.errors import EXIT_FAILED, EXIT_NO_PROFILE, EXIT_OK, EXIT_USAGE
from lenscal.io.images import read_image
from lenscal.io.metadata import read_metadata
from lenscal.optics.psf import gaussian, lateral_colour, mirror_average, node_positions, second_moment
from lenscal.profile import LensProfile
from lenscal.profileset import ProfileSet, SingleProfile, load_chooser
from tests.conftest import make_dng, run_cli

SIZE = (96, 128)  # rows, columns
FAST = {"iterations": 3}  # the choice of profile does not depend on the solver's quality


def lens_grid(sigma: float, lateral: float, rows: int = 3, cols: int = 4) -> np.ndarray:
    """A centred lens's grid: kernels wider towards the corners, R pushed out and B in (lateral
    colour) by ``lateral`` px at the corners; mirror-symmetric, as learn writes them."""
    q = node_positions(rows, cols) * 2 - 1  # (rows, cols, 2), -1..1
    r2 = (q**2).sum(-1) / 2
    widths = sigma * (1 + 0.4 * r2)[..., None] * np.array([1.1, 1.0, 0.9])
    push = lateral * np.array([1.0, 0.0, -1.0])
    grid = gaussian(widths, 13, dy=q[..., 0, None] * push, dx=q[..., 1, None] * push)
    return mirror_average(grid).numpy()


def save_profile(path: Path, dng: Path, sigma: float, lateral: float, noise: float = 0.01) -> Path:
    LensProfile.from_grid(lens_grid(sigma, lateral), noise, read_metadata(dng),
                          provenance=f"test lens {path.stem}").save(path)
    return path


@pytest.fixture(scope="module")
def shoot(tmp_path_factory) -> Path:
    """photos/ at f/8, f/11, f/16, f/22 and set/ with profiles for f/8 and f/16 (the same camera
    and lens, 25 mm, 128x96)."""
    root = tmp_path_factory.mktemp("sets")
    for i, f in enumerate((8, 11, 16, 22)):
        make_dng(root / "photos" / f"f{f}.dng", SIZE, seed=i, f_number=float(f))
    save_profile(root / "set" / "f8.json", root / "photos" / "f8.dng", 0.8, 0.2, noise=0.01)
    save_profile(root / "set" / "f16.json", root / "photos" / "f16.dng", 1.6, 0.4, noise=0.02)
    (root / "set" / "notes.json").write_text("{}")  # not a profile: left out, with its reason
    return root


def _g_centre_width(grid: np.ndarray) -> float:
    return float(second_moment(grid[1, 1, 1]))


def test_each_photo_gets_the_profile_of_its_aperture(shoot):
    found = ProfileSet.from_folder(shoot / "set")
    assert [m.name for m in found.members] == ["f16.json", "f8.json"]
    assert found.problems and found.problems[0][0].name == "notes.json"
    f8, f16 = LensProfile.load(shoot / "set" / "f8.json"), LensProfile.load(shoot / "set" / "f16.json")
    at8 = found.choose(read_metadata(shoot / "photos" / "f8.dng"))
    assert at8.label == "f8.json" and np.array_equal(at8.grid, f8.grid()) and at8.noise_sigma == f8.noise_sigma
    at11 = found.choose(read_metadata(shoot / "photos" / "f11.dng"))
    assert at11.label == "interpolated f/8-f/16 (f8.json, f16.json)"
    # between the two calibrated apertures: the width, the lateral colour and the noise
    assert _g_centre_width(f8.grid()) < _g_centre_width(at11.grid) < _g_centre_width(f16.grid())
    corner = lambda g: float(lateral_colour(g)[0, 0, 0].norm())  # R-G at the top-left node
    assert corner(f8.grid()) < corner(at11.grid) < corner(f16.grid())
    assert f8.noise_sigma < at11.noise_sigma < f16.noise_sigma
    assert np.allclose(at11.grid.sum((-2, -1)), 1, atol=1e-5) and at11.grid.min() >= 0
    from lenscal.errors import NoProfileError

    with pytest.raises(NoProfileError, match=r"f/22 is outside the calibrated f/8-f/16 .*--force to use the nearest, f/16"):
        found.choose(read_metadata(shoot / "photos" / "f22.dng"))
    forced = found.choose(read_metadata(shoot / "photos" / "f22.dng"), "warn")
    assert forced.label == "f16.json" and np.array_equal(forced.grid, f16.grid())
    assert "nearest, f/16" in forced.warnings[0]


def test_correct_with_a_folder_corrects_each_photo_with_its_profile_and_skips_the_rest(shoot, tmp_path):
    photos = shoot / "photos"
    r = run_cli("correct", photos, "--profile", shoot / "set", "-o", tmp_path / "set", "--json")
    assert r.returncode == EXIT_NO_PROFILE, r.stderr
    summary = json.loads(r.stdout)
    by = {Path(p["file"]).name: p for p in summary["photos"]}
    assert [by[n]["status"] for n in ("f8.dng", "f11.dng", "f16.dng", "f22.dng")] == ["done", "done", "done", "skipped"]
    assert by["f8.dng"]["profile"] == "f8.json" and by["f16.dng"]["profile"] == "f16.json"
    assert by["f11.dng"]["profile"] == "interpolated f/8-f/16 (f8.json, f16.json)"
    reason = by["f22.dng"]["reason"]
    assert "f22.dng" in reason and "f/22 is outside the calibrated f/8-f/16" in reason and "\n" not in reason
    assert summary["exit_code"] == EXIT_NO_PROFILE and not (tmp_path / "set" / "f22_corrected.tif").exists()
    note = read_image(tmp_path / "set" / "f11_corrected.tif")[1]
    assert note["profile"] == "interpolated f/8-f/16 (f8.json, f16.json)"

    # the f/8 photo: the same output as naming f8.json itself
    r = run_cli("correct", photos / "f8.dng", "--profile", shoot / "set" / "f8.json", "-o", tmp_path / "file")
    assert r.returncode == 0, r.stderr
    (a, note_a), (b, note_b) = (read_image(tmp_path / d / "f8_corrected.tif") for d in ("set", "file"))
    assert note_a == note_b and note_a["profile"] == "f8.json"
    assert np.abs(a - b).max() <= 2.5 / 65535  # one sRGB step at most (threaded FFT sums may differ)

    # photos corrected already are skipped as ever: exit 0 when nothing lacked a profile
    r = run_cli("correct", photos / "f8.dng", photos / "f11.dng", "--profile", shoot / "set", "-o", tmp_path / "set")
    assert r.returncode == 0, r.stderr
    assert "0 corrected, 2 skipped" in r.stderr

    # --force: the nearest calibrated aperture, with a warning
    r = run_cli("correct", photos / "f22.dng", "--profile", shoot / "set", "-o", tmp_path / "set", "--force")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "nearest, f/16" in r.stderr
    assert read_image(tmp_path / "set" / "f22_corrected.tif")[1]["profile"] == "f16.json"


def test_a_single_photo_without_a_profile_says_why_in_one_line(shoot, tmp_path):
    r = run_cli("correct", shoot / "photos" / "f22.dng", "--profile", shoot / "set", "-o", tmp_path)
    assert r.returncode == EXIT_NO_PROFILE
    last = r.stderr.strip().splitlines()[-1]
    assert "f22.dng" in last and "outside the calibrated f/8-f/16" in last and "--force" in last


def test_a_profile_file_keeps_refusing_another_aperture(shoot, tmp_path):
    """--profile FILE: one profile for every photo, a mismatch refused (exit 3) unless --force."""
    r = run_cli("correct", shoot / "photos" / "f11.dng", "--profile", shoot / "set" / "f8.json", "-o", tmp_path)
    assert r.returncode == 3 and "aperture is f/11, profile is for f/8" in r.stderr


def test_a_zoom_is_interpolated_in_focal_length_too(tmp_path):
    """Profiles at 12 and 35 mm (f/8 and f/16 each): a photo at 20 mm f/11 mixes all four; 50 mm
    is outside the calibrated focal lengths."""
    from lenscal.errors import NoProfileError

    zoom = {"lens_model": "Lumix G Vario 12-35mm f/2.8", "focal_length": 12.0}
    grids = {}
    for focal, widen in ((12.0, 1.0), (35.0, 1.5)):
        for f, sigma in ((8.0, 0.8), (16.0, 1.6)):
            dng = make_dng(tmp_path / "cal" / f"{focal:g}_{f:g}.dng", SIZE, **{**zoom, "focal_length": focal}, f_number=f)
            path = save_profile(tmp_path / "set" / f"z{focal:g}_f{f:g}.json", dng, sigma * widen, 0.2)
            grids[focal, f] = LensProfile.load(path).grid()
    photo = make_dng(tmp_path / "p" / "z20.dng", SIZE, **{**zoom, "focal_length": 20.0}, f_number=11.0)
    far = make_dng(tmp_path / "p" / "z50.dng", SIZE, **{**zoom, "focal_length": 50.0}, f_number=11.0)
    found = load_chooser(tmp_path / "set")
    chosen = found.choose(read_metadata(photo))
    assert chosen.label.startswith("interpolated f/8-f/16, 12-35 mm (")
    assert chosen.label.count(".json") == 4
    widths = [_g_centre_width(g) for g in grids.values()]
    assert min(widths) < _g_centre_width(chosen.grid) < max(widths)
    # between the two focal lengths' own f/11 (the lens is wider at 35 mm)
    from dataclasses import replace

    at = {f: _g_centre_width(found.choose(replace(read_metadata(photo), focal_length=f)).grid) for f in (12.0, 35.0)}
    assert at[12.0] < _g_centre_width(chosen.grid) < at[35.0]
    with pytest.raises(NoProfileError, match="focal length 50 mm is outside the calibrated 12-35 mm"):
        found.choose(read_metadata(far))
    summary = correct_files([photo, far], found, tmp_path / "out", options=CorrectOptions(solver=FAST))
    assert [r.status for r in summary.results] == ["done", "skipped"]
    assert summary.results[0].profile == chosen.label and summary.exit_code == EXIT_NO_PROFILE


def test_photos_of_another_size_are_mapped_or_refused_with_the_reason(shoot, tmp_path):
    """A TIFF turned a quarter and a 16:9-style crop are mapped onto the calibration frame; a
    resized one is skipped with the reason. The same mapping applies to one profile file."""
    from dataclasses import replace

    from lenscal.develop import load_photo
    from lenscal.io.images import write_tiff

    photo, _ = load_photo(shoot / "photos" / "f8.dng")
    pixels, meta = photo.pixels, photo.meta
    cases = {"turned.tif": np.rot90(pixels).copy(), "crop.tif": pixels[24:72].copy(),
             "small.tif": pixels[::2, ::2].copy()}
    for name, img in cases.items():
        write_tiff(tmp_path / name, img, replace(meta, width=img.shape[1], height=img.shape[0]))
    found = load_chooser(shoot / "set")
    summary = correct_files([tmp_path / n for n in cases], found, tmp_path / "out", options=CorrectOptions(solver=FAST))
    by = {r.source.name: r for r in summary.results}
    assert by["turned.tif"].status == "done" and by["turned.tif"].profile == "f8.json, turned a quarter"
    assert by["crop.tif"].status == "done" and by["crop.tif"].profile == "f8.json, a centred 128x48 crop"
    assert by["small.tif"].status == "skipped" and "cannot tell where on the sensor" in by["small.tif"].reason
    assert "photo is 64x48, profiles are for 128x96" in by["small.tif"].reason
    turned = found.choose(read_metadata(tmp_path / "turned.tif"))
    assert turned.grid.shape[:2] == (4, 3)  # the 3x4 grid turned with the photo
    f8 = LensProfile.load(shoot / "set" / "f8.json")
    one = SingleProfile(f8, "f8.json")
    assert one.choose(read_metadata(tmp_path / "crop.tif")).label == "f8.json, a centred 128x48 crop"
    from lenscal.errors import ProfileMismatchError

    with pytest.raises(ProfileMismatchError, match="size is 64x48, profile is for 128x96"):
        one.choose(read_metadata(tmp_path / "small.tif"))


def test_a_photo_without_its_camera_in_the_set_is_skipped(shoot, tmp_path):
    other = make_dng(tmp_path / "g9.dng", SIZE, model="DC-G9", f_number=8.0)
    summary = correct_files([other], load_chooser(shoot / "set"), tmp_path / "out", options=CorrectOptions(solver=FAST))
    r = summary.results[0]
    assert r.status == "skipped" and "no profile in" in r.reason and "Panasonic DC-G9" in r.reason
    assert summary.exit_code == EXIT_NO_PROFILE


def test_summary_exit_codes_with_photos_without_a_profile():
    done = FileResult(Path("a"), "done")
    corrected = FileResult(Path("b"), "skipped", reason="already corrected")
    no_profile = FileResult(Path("c"), "skipped", reason="c: f/22 outside", exit_code=EXIT_NO_PROFILE)
    broken = FileResult(Path("d"), "failed", reason="d: corrupt", exit_code=EXIT_USAGE)
    assert BatchSummary([done, corrected]).exit_code == EXIT_OK
    assert BatchSummary([done, corrected, no_profile]).exit_code == EXIT_NO_PROFILE
    assert BatchSummary([done, no_profile, broken]).exit_code == EXIT_FAILED


def test_profiles_list_groups_a_set_by_lens(shoot):
    r = run_cli("profiles", "list", shoot / "set")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if "DC-GX9" in line]
    assert len(rows) == 1 and "f/8, f/16" in rows[0] and "25 mm" in rows[0] and "128x96" in rows[0]
    assert "invalid" in r.stdout and "notes.json" in r.stdout
    entries = json.loads(run_cli("profiles", "list", shoot / "set", "--json").stdout)
    valid = sorted((e["name"], e["f_number"]) for e in entries if e["valid"])
    assert valid == [("f16", 16.0), ("f8", 8.0)] and any(not e["valid"] for e in entries)


def test_learn_several_apertures_into_a_folder_develops_the_sharp_set_once(tmp_path, monkeypatch):
    """learn --sharp S --blurry A --blurry B -o FOLDER/: one profile per blurry set, named by
    camera, lens, focal length and aperture, each photo developed once; the folder is then a
    profile set that correct and profiles list read. A tiny learn (tests/test_learn_cli.py's
    settings): the command's behaviour is tested here, not the accuracy."""
    import lenscal.workflow as workflow
    from lenscal.cli import _run
    from lenscal.simulate import ShootPlan, simulate_shoot
    from tests.conftest import EXAMPLES
    from tests.test_learn_cli import TINY

    scenes = sorted(EXAMPLES.glob("*.png"))
    for extreme in ("stopped", "wide"):
        simulate_shoot(scenes, tmp_path / extreme, ShootPlan(extreme=extreme, n_sharp=2, n_blurry=2, n_test=0,
                                                              megapixels=0.05, seed=4))
    developed: list[str] = []
    real = workflow.load_photo

    def counting(path, settings):
        developed.append(Path(path).name)
        return real(path, settings)

    monkeypatch.setattr(workflow, "load_photo", counting)
    out = tmp_path / "lens"
    args = ["learn", "--sharp", str(tmp_path / "stopped" / "sharp"), "--blurry", str(tmp_path / "stopped" / "blurry"),
            "--blurry", str(tmp_path / "wide" / "blurry"), "-o", f"{out}/", "--force", *map(str, TINY)]
    assert _run(args, debug=False) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["DC-GX9_Lumix-G-25mm-f1.7-Asph_25mm_f1.7.json", "DC-GX9_Lumix-G-25mm-f1.7-Asph_25mm_f16.json"]
    assert sorted(developed) == sorted(p.name for d in ("stopped/sharp", "stopped/blurry", "wide/blurry")
                                       for p in (tmp_path / d).glob("*.dng"))  # each photo once
    f16 = LensProfile.load(out / names[1])
    assert f16.f_number_blurry == 16 and f16.f_number_sharp == 5.6 and tuple(f16.psf.grid_shape) == (2, 2)
    assert ProfileSet.from_folder(out).lenses()  # a profile set: correct and profiles list read it
    stamp = {n: (out / n).stat().st_mtime_ns for n in names}
    developed.clear()
    assert _run([*args, "--resume"], debug=False) == 0  # both finished: kept, nothing developed again
    assert developed == [] and {n: (out / n).stat().st_mtime_ns for n in names} == stamp
    r = _run([a for a in args if a != "--force"], debug=False)  # without --overwrite: refused up front
    assert r == 4


def test_a_folder_without_a_valid_profile_is_refused_up_front(shoot, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.json").write_text("{}")
    r = run_cli("correct", shoot / "photos" / "f8.dng", "--profile", tmp_path / "empty", "-o", tmp_path / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "no valid lens profile in this folder" in r.stderr and "notes.json" in r.stderr
    assert not (tmp_path / "out").exists()


def test_learn_output_names_a_folder_when_it_ends_with_a_slash(tmp_path, monkeypatch):
    """-o mylens/ with one --blurry is a folder too (the shell keeps the slash; a Path would not),
    and -o lens.json with several is refused before any photo is read."""
    import lenscal.workflow as workflow
    from lenscal.cli import _run

    for d, f in (("sharp", 5.6), ("f16", 16.0), ("f8", 8.0)):
        for i in range(2):
            make_dng(tmp_path / d / f"{d}_{i}.dng", SIZE, seed=i, f_number=f)
    called = {}
    monkeypatch.setattr(workflow, "learn_profiles", lambda *a, **k: called.setdefault("args", a) and [])
    assert _run(["learn", "--sharp", str(tmp_path / "sharp"), "--blurry", str(tmp_path / "f16"),
                 "-o", f"{tmp_path / 'lens'}/"], debug=False) == 0
    assert called["args"][1] == [tmp_path / "f16"] and called["args"][2] == tmp_path / "lens"
    assert (tmp_path / "lens").is_dir()
    assert _run(["learn", "--sharp", str(tmp_path / "sharp"), "--blurry", str(tmp_path / "f16"), "--blurry",
                 str(tmp_path / "f8"), "-o", str(tmp_path / "lens.json")], debug=False) == 2
    assert not (tmp_path / "lens.json").exists()
