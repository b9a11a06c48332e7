"""The ``lenscal`` command. Thin: parse options, call one function per command, print with rich.

Every user-fixable problem is a LenscalError, printed as one line with a non-zero exit code
(see README "Exit codes"); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from lenscal import __version__
from lenscal.errors import EXIT_INTERRUPTED, EXIT_USAGE, LenscalError, OutputError
from lenscal.ui import Verbosity, console, detail, error, out, plain, print_json, progress_bars, safe, say, warn

app = typer.Typer(
    add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Calibrate a lens's blur from ordinary photos, then make every photo taken with it sharper.",
)


class Vignetting(str, Enum):
    auto = "auto"
    lensfun = "lensfun"
    off = "off"


class Demosaic(str, Enum):
    ahd = "ahd"
    aahd = "aahd"
    dcb = "dcb"
    dht = "dht"
    ppg = "ppg"
    vng = "vng"
    linear = "linear"


class Compress(str, Enum):
    none = "none"
    deflate = "deflate"


class OutputFormat(str, Enum):
    tiff = "tiff"
    dng = "dng"


class Extreme(str, Enum):
    stopped = "stopped"
    wide = "wide"


def _version(value: bool) -> None:
    if value:
        out.print(f"lenscal {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    Verbosity.debug, Verbosity.quiet, Verbosity.verbose = debug, quiet, verbose


def _settings(demosaic: Demosaic, exposure: float, vignetting: Vignetting):
    from lenscal.develop import DevelopSettings

    if not (0 < exposure <= 64):
        raise LenscalError(f"exposure {exposure} is out of range", hint="use a positive scale such as 1.0")
    return DevelopSettings(demosaic=demosaic.value, exposure=exposure, vignetting=vignetting.value)


# -- info -----------------------------------------------------------------------------------------
@app.command()
def info(
    photos: List[Path] = typer.Argument(..., help="Photos or folders."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show camera, lens and exposure metadata of photos."""
    from lenscal.io.metadata import read_metadata
    from lenscal.io.shoot import expand_inputs

    paths = expand_inputs(photos, on_pattern=_said_pattern)
    if not paths:
        raise LenscalError("no photos found", photos[0])
    rows = [(p, read_metadata(p)) for p in paths]
    if as_json:
        print_json([{"file": str(p), **m.to_dict()} for p, m in rows])
        return
    table = Table(title="Photo metadata")
    for col in ("file", "camera", "lens", "aperture", "focal", "ISO", "exposure", "size", "date"):
        table.add_column(col)
    for p, m in rows:
        exp = "" if not m.exposure_time else (f"1/{1 / m.exposure_time:.0f} s" if m.exposure_time < 1 else f"{m.exposure_time:g} s")
        table.add_row(*map(safe, (p.name, m.camera or "?", m.lens or "?", f"f/{m.f_number:g}" if m.f_number else "?",
                                  f"{m.focal_length:g} mm" if m.focal_length else "?", f"{m.iso:g}" if m.iso else "?",
                                  exp or "?", f"{m.width}x{m.height}", m.datetime or "?")))
    out.print(table)


def _said_pattern(pattern: str, matches: int) -> None:
    """Say what a pattern that lenscal expanded (the shell did not) stood for."""
    say(f"'{pattern}' is not a file: taken as a pattern, it matches {matches} photo(s)")


# -- develop --------------------------------------------------------------------------------------
# what develop finds in folders and patterns but never develops again: lenscal's own results
_RESULTS = ("develop", "correct", "preview", "show", "learn")


def _is_result(path: Path) -> bool:
    from lenscal.io.formats import IMAGE_EXTENSIONS
    from lenscal.io.outputs import made_by

    return path.suffix.lower() in IMAGE_EXTENSIONS | {".dng"} and made_by(path) in _RESULTS


@app.command()
def develop(
    photos: List[Path] = typer.Argument(..., help="RAW files (any LibRaw format), TIFF/PNG/JPEG, or folders."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
    linear: bool = typer.Option(False, "--linear", help="Write linear values (no sRGB curve; a linear sRGB ICC profile)."),
    demosaic: Demosaic = typer.Option(Demosaic.ahd, help="Demosaic algorithm."),
    exposure: float = typer.Option(1.0, help="One fixed exposure scale for every photo (never auto)."),
    vignetting: Vignetting = typer.Option(Vignetting.auto, help="Devignetting with lensfun."),
    compress: Compress = typer.Option(Compress.none, help="TIFF compression: none, or deflate (lossless, a fifth or so smaller; not baseline TIFF, so validators flag it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace lenscal's existing outputs (never other files)."),
) -> None:
    """Develop photos linearly (16-bit TIFF, sensor orientation, the photo's metadata kept)."""
    from lenscal.io.images import write_tiff
    from lenscal.io.outputs import check_target, plan_outputs, prepare_folder
    from lenscal.io.shoot import expand_inputs
    from lenscal.workflow import develop_each

    settings = _settings(demosaic, exposure, vignetting)
    paths = expand_inputs(photos, skip=_is_result, on_pattern=_said_pattern)
    if not paths:
        raise LenscalError("no photos found (lenscal's own outputs are left out)", photos[0])
    for p in paths:
        if not p.exists():
            raise LenscalError("no such file", p)
    plan = plan_outputs(paths, output, "", (".tif",))
    todo = [src for src in paths if check_target(plan[src][0], overwrite)]  # refuses foreign files first
    prepare_folder(output)
    with progress_bars() as progress:
        for src, photo in develop_each(todo, settings, "developing", progress, warn=warn, detail=detail):
            write_tiff(plan[src][0], photo.pixels, photo.meta, linear_output=linear,
                       note={"command": "develop", "devignetted": photo.devignetted, "source": src.name},
                       source=src, compress=compress.value)
    for src in paths:
        if src not in todo:
            detail(f"{plan[src][0]} exists, skipped (use --overwrite)")
    skipped = len(paths) - len(todo)
    say(f"developed {len(todo)} photo(s) into {output}" + (f", {skipped} already there" if skipped else ""))


# -- simulate -------------------------------------------------------------------------------------
@app.command()
def simulate(
    photos_dir: Path = typer.Argument(..., help="Folder of sharp photos (PNG/JPEG/TIFF) used as scenes."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the simulated shoot."),
    extreme: Extreme = typer.Option(Extreme.stopped, help="Blurry aperture: stopped (f/16) or wide (f/1.7)."),
    sharp: int = typer.Option(6, help="Photos in the sharp set (f/5.6)."),
    blurry: int = typer.Option(6, help="Photos in the blurry set."),
    test: int = typer.Option(2, help="Held-out test photos (with ideal references)."),
    megapixels: Optional[float] = typer.Option(None, help="Resize scenes to about this many megapixels."),
    seed: int = typer.Option(0, help="Random seed (noise)."),
    iso: float = typer.Option(200, help="ISO (sets the noise)."),
    same_scenes: bool = typer.Option(False, "--same-scenes",
                                     help="Shoot the sharp set's scenes again for the blurry set, reframed."),
) -> None:
    """Make a realistic DNG shoot with a KNOWN lens from real photos (for trying and testing lenscal)."""
    from lenscal.io.shoot import expand_inputs
    from lenscal.simulate import ShootPlan, simulate_shoot

    if not photos_dir.is_dir():
        raise LenscalError("not a folder", photos_dir)
    if min(sharp, blurry) < 1 or test < 0:
        raise LenscalError("the sets need at least one photo each", hint="check --sharp/--blurry/--test")
    plan = ShootPlan(extreme=extreme.value, n_sharp=sharp, n_blurry=blurry, n_test=test,
                     megapixels=megapixels, seed=seed, iso=iso, same_scenes=same_scenes)
    with progress_bars() as progress:
        summary = simulate_shoot(expand_inputs([photos_dir]), output, plan, progress)
    h, w = summary["size"]
    say(f"simulated shoot ({w}x{h}, sharp f/5.6, blurry {'f/16' if extreme == Extreme.stopped else 'f/1.7'}) "
        f"in {output}: sharp/ blurry/ test/ truth/")


# -- learn ----------------------------------------------------------------------------------------
@app.command()
def learn(
    sharp: Path = typer.Option(..., "--sharp", help="Folder of photos at a sharp aperture (e.g. f/5.6)."),
    blurry: List[Path] = typer.Option(..., "--blurry", help="Folder of photos at the aperture to correct; repeat "
                                                          "it for several apertures (one profile each)."),
    output: str = typer.Option(..., "-o", "--output",
                               help="Lens profile to write (.json); a folder (ending in / or existing, and "
                                    "always with several --blurry) for one profile per blurry set."),
    preset: str = typer.Option("fast", help="fast (CPU default) or paper (GPU)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same profile on one machine."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted learn from its checkpoint."),
    grid: int = typer.Option(8, min=1, max=32, help="PSF grid size (grid x grid nodes)."),
    pixel_pitch: Optional[float] = typer.Option(
        None, "--pixel-pitch", min=0.0, max=20.0,
        help="Pixel pitch in um (e.g. 3.3 for a 20 MP Micro Four Thirds body), used to model a "
             "stopped-down set's diffraction from its f-number. Default: from lensfun's sensor size "
             "for the camera, else from the photos' EXIF (focal-plane resolution or 35 mm equivalent "
             "focal length); 0 = do not model it."),
    demosaic: Demosaic = typer.Option(Demosaic.ahd, help="Demosaic algorithm."),
    vignetting: Vignetting = typer.Option(Vignetting.auto, help="Devignetting with lensfun."),
    truth: Optional[Path] = typer.Option(None, help="A true profile (simulated shoots) to score against."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing profile."),
    force: bool = typer.Option(False, "--force", help="Write the profile even if it fails its self-check (marked as failing)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    set_: List[str] = typer.Option([], "--set", help="Override a preset setting, e.g. --set step1_steps=500 "
                                   "(repeatable); the settings and what each means: docs/method.md, "
                                   "'Learn settings'."),
    threads: int = typer.Option(0, min=0, max=1024, help="CPU threads; 0 = every core (1 is faster on a core "
                                                         "shared with other work)."),
    checkpoint_seconds: float = typer.Option(60.0, "--checkpoint-seconds", min=0.0,
                                             help="Seconds between checkpoints for --resume; 0 = after every update."),
) -> None:
    """Learn the lens's blur (a grid of RGB PSFs and a noise level) from two sets of unpaired photos."""
    from lenscal.learn.presets import RunOptions, get_settings
    from lenscal.workflow import LearnRequest, learn_profile

    request = LearnRequest(preset=preset, seed=seed, device=device, grid=grid, overrides=_overrides(set_),
                           pixel_pitch=pixel_pitch, force=force,
                           options=RunOptions(threads=threads, checkpoint_seconds=checkpoint_seconds))
    if len(blurry) > 1 or output.endswith(("/", os.sep)) or Path(output).is_dir():  # a folder of profiles
        return _learn_several(sharp, blurry, Path(output), request, resume=resume, demosaic=demosaic,
                              vignetting=vignetting, truth=truth, overwrite=overwrite, as_json=as_json)
    blurry, output = blurry[0], Path(output)
    if output.suffix.lower() != ".json":
        raise LenscalError("the profile must be a .json file", output)
    if output.exists() and not overwrite and not resume:
        raise OutputError("exists already, not overwritten", output, "use --overwrite or another name")
    _check_learn_targets(output)
    get_settings(preset, request.overrides)  # a bad preset or --set is refused before any photo is read
    with progress_bars() as progress:
        summary = learn_profile(sharp, blurry, output, request, settings=_settings(demosaic, 1.0, vignetting),
                                resume=resume, truth=truth, progress=progress, warn=warn)
    if as_json:
        print_json(summary)
        return
    _say_learned(summary)


def _say_learned(summary: dict) -> None:
    say(f"profile: {summary['profile']}")
    say(f"PSF grid picture: {summary['psf_png']}")
    if summary.get("before_after_png"):
        say(f"before/after crops: {summary['before_after_png']}")
    for note in summary["notes"]:  # the learner's own account of what it did (workflow.learn_notes)
        say(note)
    check = summary.get("check")
    if check and check["status"] == "passed":
        say("self-check passed: the learned blur reproduces the blurry photos' edges in R, G and B")
    elif check and check["status"] == "unchecked":
        warn(f"self-check not possible: {check['reasons'][0]}; {check['advice']}")
    elif check:
        warn(f"self-check FAILED (written because of --force): {'; '.join(check['reasons'])}")
    say(f"noise sigma: {summary['noise_sigma']:.4f}   time: {summary['seconds']:.0f} s")
    if summary.get("score"):
        s = summary["score"]
        say(f"against the truth: NCC mean {s['ncc_mean']:.3f} (worst {s['ncc_worst']:.3f}), "
            f"L2 {s['l2']:.3f} vs best Gaussian {s['l2_gaussian']:.3f}, "
            f"lateral colour error {s['lateral_colour_error_mean']:.2f} px")


def _learn_several(sharp: Path, blurry: list[Path], folder: Path, request, *, resume: bool, demosaic: Demosaic,
                   vignetting: Vignetting, truth: Path | None, overwrite: bool, as_json: bool) -> None:
    """``learn --blurry A --blurry B -o FOLDER/``: one profile per blurry set into a folder (a
    profile set), the sharp set developed once; a profile that fails its self-check does not stop
    the others, and the exit code is then 5."""
    from lenscal.errors import EXIT_CHECK
    from lenscal.io.outputs import prepare_folder
    from lenscal.learn.presets import get_settings
    from lenscal.workflow import learn_outputs, learn_profiles, scan_learn_sets

    if truth is not None:
        raise LenscalError("--truth scores one profile", hint="give one --blurry folder with --truth")
    if folder.suffix.lower() == ".json":
        raise LenscalError("with several --blurry folders, -o is the folder to write their profiles into", folder,
                           "e.g. -o mylens/")
    get_settings(request.preset, request.overrides)  # a bad preset or --set is refused before any photo is read
    scanned = scan_learn_sets(sharp, blurry)
    for target in learn_outputs(folder, scanned[1]):  # refused before hours of work, as for one profile
        if target.exists() and not overwrite and not resume:
            raise OutputError("exists already, not overwritten", target, "use --overwrite, or --resume to keep it")
        _check_learn_targets(target)
    prepare_folder(folder)
    with progress_bars() as progress:
        summaries = learn_profiles(sharp, blurry, folder, request, settings=_settings(demosaic, 1.0, vignetting),
                                   resume=resume, progress=progress, warn=warn, scanned=scanned)
    failed = [s for s in summaries if "error" in s]
    if as_json:
        print_json({"folder": str(folder), "profiles": summaries})
    else:
        for s in summaries:
            if s.get("kept"):
                say(f"profile: {s['profile']} (kept: it was learned already)")
            elif "error" not in s:
                _say_learned(s)
        say(f"{len(summaries) - len(failed)} of {len(summaries)} profiles in {folder}: "
            f"'lenscal correct PHOTOS --profile {folder}' picks each photo's")
    if failed:
        for s in failed:
            error(s["error"])
        raise typer.Exit(EXIT_CHECK)


def _check_learn_targets(output: Path) -> None:
    """learn replaces a profile and its pictures, never a file of another kind: refused before
    hours of work (a .json that is not a lens profile, a picture lenscal did not draw)."""
    from lenscal.errors import ProfileError
    from lenscal.io.outputs import check_target
    from lenscal.profile import read_profile_json

    for picture in ("_psf.png", "_before_after.png"):
        check_target(output.with_name(output.stem + picture), overwrite=True)
    if os.path.lexists(output):
        try:
            found = read_profile_json(output) if output.is_file() else None
        except ProfileError:
            found = None
        if not (isinstance(found, dict) and "lenscal_version" in found):
            raise OutputError("exists and is not a lens profile: not replaced", output, "choose another name")


def _overrides(items: list[str]) -> dict:
    """``key=value`` pairs; values are parsed as JSON where they can be (numbers, lists, true)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LenscalError(f"--set {item!r} is not key=value", hint="e.g. --set step1_steps=500")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


# -- correct --------------------------------------------------------------------------------------
class Preview(str, Enum):
    png = "png"
    jpg = "jpg"


@app.command()
def correct(
    photos: List[Path] = typer.Argument(..., help="Photos, folders or glob patterns."),
    profile: Optional[Path] = typer.Option(
        None, "--profile", "-p",
        help="Lens profile: a .json file or a library name (one profile for every photo), or a folder of "
             "profiles (each photo gets the profile of its camera, lens, focal length and aperture, "
             "interpolated between calibrated apertures). Default: the library, as such a set."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output folder (default: next to each photo)."),
    strength: float = typer.Option(1.0, help="0 = unchanged, 1 = full correction."),
    output_format: OutputFormat = typer.Option(
        OutputFormat.tiff, "--format",
        help="tiff: 16-bit TIFF (sRGB, or linear with --linear); dng: linear DNG in camera colour "
             "that raw editors (Lightroom, darktable, RawTherapee) develop as a raw file."),
    linear: bool = typer.Option(False, "--linear", help="TIFF: write linear values (no sRGB curve; a linear sRGB ICC profile)."),
    compress: Compress = typer.Option(Compress.none, help="TIFF compression: none, or deflate (lossless, a fifth or so smaller; not baseline TIFF, so validators flag it)."),
    preview: Optional[Preview] = typer.Option(None, help="Also write an 8-bit preview (png or jpg)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (never originals)."),
    force: bool = typer.Option(False, "--force", help="Correct even if the profile is for another camera, lens, size or "
                                                      "aperture; with a folder, use the nearest calibrated aperture and "
                                                      "focal length outside their range."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Photos corrected in parallel (worker processes)."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler",
        help="Run the batch on a Dask cluster, e.g. tcp://HOST:8786 (pip install 'lenscal[cluster]'): one task "
             "per photo, outputs written here as a local run writes them."),
    device: str = typer.Option("auto", help="auto (CUDA or MPS when present, else CPU), cpu, cuda or mps."),
    demosaic: Demosaic = typer.Option(Demosaic.ahd, help="Demosaic algorithm (as for develop)."),
    vignetting: Vignetting = typer.Option(Vignetting.auto, help="Devignetting with lensfun."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Deconvolve photos with a lens profile: one photo or a whole shoot (resumable)."""
    from lenscal.correct.batch import CorrectOptions, correct_files, expand_photos
    from lenscal.devices import check_name, pick_device
    from lenscal.profileset import SingleProfile, load_chooser

    if not 0.0 <= strength <= 2.0:
        raise LenscalError(f"strength {strength} is out of range", hint="use a value from 0 to 1 (up to 2)")
    if jobs < 1:
        raise LenscalError("--jobs must be at least 1")
    if output_format == OutputFormat.dng and (compress != Compress.none or linear):
        raise LenscalError("--compress and --linear are for TIFF outputs",
                           hint="a DNG is always linear and written uncompressed")
    from lenscal.io.shoot import is_pattern

    for item in photos:
        if not Path(item).exists() and not is_pattern(item):
            raise LenscalError("no such file or folder", item)
    sources = expand_photos(photos, on_pattern=_said_pattern)
    if not sources:
        raise LenscalError(f"no photos found in {', '.join(str(p) for p in photos)}")
    chooser = load_chooser(profile)
    if isinstance(chooser, SingleProfile):
        profile_name = chooser.name
    else:
        profile_name = ""
        detail(f"{len(chooser.members)} profile(s) of {len(chooser.lenses())} lens(es) in {chooser.where}")
        for path, problem in chooser.problems:
            detail(f"{path}: left out ({problem})")
    options = CorrectOptions(develop=_settings(demosaic, 1.0, vignetting), strength=strength, linear=linear,
                             format=output_format.value, compress=compress.value,
                             preview=preview.value if preview else None, overwrite=overwrite,
                             mismatch="warn" if force else "refuse", profile_name=profile_name,
                             device=pick_device(device) if scheduler is None else check_name(device))
    if scheduler is not None and jobs != 1:
        raise LenscalError("--jobs is for a batch on this machine", hint="with --scheduler the workers' threads set it")
    with progress_bars() as progress:
        if scheduler is not None:
            from lenscal.correct.cluster import correct_on_cluster

            summary = correct_on_cluster(sources, chooser, output, scheduler=scheduler, options=options,
                                         progress=progress)
        else:
            summary = correct_files(sources, chooser, output, options=options, jobs=jobs, progress=progress)
    _report_correct(summary, as_json, one_file=isinstance(chooser, SingleProfile))


def _report_correct(summary, as_json: bool, one_file: bool) -> None:
    """The batch's summary (a table, or JSON) and its exit code (README "Exit codes")."""
    rows = [{"file": str(r.source), "status": r.status, "outputs": [str(o) for o in r.outputs],
             "reason": r.reason, "warnings": list(r.warnings), "profile": r.profile} for r in summary.results]
    if as_json:
        print_json({"done": len(summary.done), "skipped": len(summary.skipped),
                    "failed": len(summary.failed), "exit_code": summary.exit_code, "photos": rows})
    else:
        for r in summary.results:
            for w in r.warnings:
                warn(f"{r.source.name}: {w}")
        if len(rows) > 1 or summary.failed:
            table = Table(title="lenscal correct")
            for col in ("photo", "status", "profile", "output / reason"):
                table.add_column(col)
            for r in summary.results:
                colour = {"done": "green", "skipped": "yellow", "failed": "red"}[r.status]
                table.add_row(safe(r.source.name), f"[{colour}]{r.status}[/{colour}]", safe(r.profile),
                              safe(r.reason if r.status != "done" else ", ".join(str(o) for o in r.outputs)))
            out.print(table)
        elif summary.done and not one_file:
            say(f"using profile {summary.done[0].profile}")
        no_profile = [r for r in summary.skipped if r.exit_code]
        say(f"{len(summary.done)} corrected, {len(summary.skipped)} skipped"
            + (f" ({len(no_profile)} without a profile)" if no_profile else "") + f", {len(summary.failed)} failed")
    if summary.exit_code:
        if len(summary.results) == 1 and not as_json:
            error(summary.results[0].reason)
        raise typer.Exit(summary.exit_code)


# -- check ----------------------------------------------------------------------------------------
@app.command()
def check(
    sharp: Path = typer.Option(..., "--sharp", help="Folder of photos at a sharp aperture."),
    blurry: Path = typer.Option(..., "--blurry", help="Folder of photos at the aperture to correct."),
    vignetting: Vignetting = typer.Option(Vignetting.auto, help="Devignetting with lensfun."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Say before a long learn whether two sets are usable, and what to reshoot."""
    from lenscal.check import check_sets

    with progress_bars() as progress:
        report = check_sets(sharp, blurry, _settings(Demosaic.ahd, 1.0, vignetting), progress)
    if as_json:
        print_json(report)
    else:
        table = Table(title="Calibration photos")
        for col in ("file", "set", "detail", "edge width (px)", "exposure (EV)", "clipped"):
            table.add_column(col)
        for p in report["photos"]:
            width = "?" if p["edge_width"] is None else f"{p['edge_width']:.2f}"
            table.add_row(safe(p["file"]), p["set"], f"{p['textured']:.0%}", width,
                          f"{p['exposure_ev']:+.1f}", f"{p['clipped']:.1%}")
        out.print(table)
        for line in report["problems"]:
            out.print(f"[red]problem:[/red] {safe(line)}")
        for line in report["advice"]:
            out.print(f"[yellow]advice:[/yellow] {safe(line)}")
        out.print("[green]usable[/green]: go ahead with lenscal learn" if report["usable"]
                  else "[red]not usable[/red]: fix the problems above first")
    if not report["usable"]:
        raise typer.Exit(EXIT_USAGE)


# -- profiles -------------------------------------------------------------------------------------
profiles_app = typer.Typer(help="The profiles library: bundled profiles and your own.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("list")
def profiles_list(
    folder: Optional[Path] = typer.Argument(None, help="A folder of profiles (a profile set) instead of the library."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one entry per profile file)."),
) -> None:
    """List the profiles lenscal can find (yours first, then the bundled ones), grouped by lens."""
    from lenscal.library import folders
    from lenscal.profileset import ProfileSet, lens_summary

    found = ProfileSet.from_folder(folder) if folder is not None else ProfileSet.from_library()
    if as_json:
        print_json([{"name": m.path.stem, "path": str(m.path), "valid": True, "problem": "",
                     "camera": f"{m.profile.camera.make} {m.profile.camera.model}", "lens": m.profile.lens.model,
                     "f_number": m.f_number, "focal_length": m.focal_length, "size": list(m.frame)}
                    for m in found.members]
                   + [{"name": p.stem, "path": str(p), "valid": False, "problem": why} for p, why in found.problems])
        return
    table = Table(title=f"Lens profiles in {safe(found.where)}, by lens")
    for col in ("camera", "lens", "apertures", "focal lengths", "sizes", "profiles", "where"):
        table.add_column(col)
    for row in lens_summary(found):
        table.add_row(*map(safe, (row["camera"], row["lens"] or "?",
                                  ", ".join(f"f/{f:g}" for f in row["apertures"]) or "?",
                                  ", ".join(f"{f:g} mm" for f in row["focal_lengths"]) or "?",
                                  ", ".join(row["sizes"]), ", ".join(row["profiles"]), ", ".join(row["folders"]))))
    out.print(table)
    for path, problem in found.problems:
        out.print(f"[red]invalid:[/red] {safe(path)}: {safe(problem)}")
    say("searched: " + (str(folder) if folder is not None else ", ".join(str(f) for f in folders())))


@profiles_app.command("show")
def profiles_show(
    name: str = typer.Argument(..., help="Profile name (see list) or path."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="PNG to write (default: NAME_sheet.png in the current folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Render a library profile (same as `lenscal show`)."""
    from lenscal.library import resolve

    show(resolve(name), output, as_json)


@profiles_app.command("install")
def profiles_install(
    profile: Path = typer.Argument(..., help="Profile file to add to your library."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace one of the same name."),
) -> None:
    """Validate a profile and copy it into your profile folder."""
    from lenscal.library import install

    say(f"installed {install(profile, overwrite)}")


@app.command()
def show(
    profile: Path = typer.Argument(..., help="A lens profile: a .json file or a library name."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="PNG to write (default: PROFILE_sheet.png in the current folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Render a profile: PSF grid, blur size (FWHM) per node and lateral colour per node."""
    from lenscal.library import resolve
    from lenscal.profile import LensProfile
    from lenscal.report import save_profile_sheet

    profile = resolve(profile)
    p = LensProfile.load(profile)
    target = _sheet_target(profile, output)
    numbers = save_profile_sheet(p.grid(), target)
    summary = {"profile": str(profile), "picture": str(target), "camera": f"{p.camera.make} {p.camera.model}",
               "lens": p.lens.model, "f_number": p.f_number_blurry, "grid": list(p.psf.grid_shape),
               "kernel_size": p.psf.kernel_size, "noise_sigma": p.noise_sigma, **numbers}
    if as_json:
        print_json(summary)
        return
    out.print(safe(f"{summary['camera']} + {summary['lens'] or 'unknown lens'} at f/{p.f_number_blurry or 0:g}, "
                   f"{p.image.width}x{p.image.height}, grid {p.psf.grid_shape[0]}x{p.psf.grid_shape[1]}, "
                   f"{p.psf.kernel_size}x{p.psf.kernel_size} kernels"))
    out.print(f"blur (FWHM): centre {numbers['fwhm_px_centre']:.2f} px, range {numbers['fwhm_px_min']:.2f}-"
              f"{numbers['fwhm_px_max']:.2f} px; lateral colour up to {numbers['lateral_colour_px_max']:.2f} px; "
              f"noise sigma {p.noise_sigma:.4f}")
    out.print(f"picture: {safe(target)}")


def _sheet_target(profile: Path, output: Path | None) -> Path:
    """Where ``show`` draws: a .png that is not the profile and holds nothing but an earlier sheet
    (show replaces its own picture, a mere view of the profile, and nothing else: io.outputs)."""
    from lenscal.io.outputs import check_target, prepare_folder, real

    # by default in the current folder, never next to the profile: a bundled profile lives in the package
    target = output if output is not None else Path(f"{profile.stem}_sheet.png")
    if target.suffix.lower() != ".png":
        raise OutputError("the picture must be a .png file", target, "e.g. -o sheet.png")
    if real(target) == real(profile):
        raise OutputError("is the profile itself: not replaced", target, "choose another name, e.g. -o sheet.png")
    check_target(target, overwrite=True)
    prepare_folder(target.parent)
    return target


# -- demo -----------------------------------------------------------------------------------------
@app.command()
def demo(
    output: Path = typer.Option(Path("demo_out"), "-o", "--output", help="Folder for everything the demo makes."),
    photos: Optional[Path] = typer.Option(None, help="Scenes to use (default: the bundled examples)."),
    extreme: Extreme = typer.Option(Extreme.stopped, help="Blurry aperture: stopped (f/16) or wide (f/1.7)."),
    preset: str = typer.Option("fast", help="Learning preset."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """The whole job on example data: simulate a shoot, learn the lens, correct held-out photos."""
    from lenscal.demo import run_demo

    with progress_bars() as progress:
        summary = run_demo(output, photos=photos, extreme=extreme.value, preset=preset, seed=seed,
                           progress=progress, warn=warn)
    out.print(safe(summary["text"]))


# -- entry point ----------------------------------------------------------------------------------
def _terminated(signum, frame) -> None:
    """SIGTERM is handled as Ctrl-C is: the same unwinding removes half-written files."""
    raise KeyboardInterrupt


def _interrupted() -> int:
    from lenscal.io.atomic import remove_pending

    remove_pending()  # belt and braces: the writers' own clean-up has normally run already
    console.print("[yellow]interrupted[/yellow]: work done so far is kept; run the same command "
                  "again (with --resume for learn) to continue")
    return EXIT_INTERRUPTED


def _show_usage_error(e: Exception) -> None:
    """A command-line usage error as the parser words it, without the control characters that
    an argument may carry."""
    buf = io.StringIO()
    e.show(file=buf)
    lines = [plain(line) for line in buf.getvalue().splitlines()]
    sys.stderr.write("\n".join(lines) + "\n")


def _run(args: list[str], debug: bool) -> int:
    """Run the command; every way it can end becomes an exit code and at most one line."""
    try:
        result = app(args=args, prog_name="lenscal", standalone_mode=False)
    except LenscalError as e:
        if debug:
            raise
        error(e.one_line())
        return e.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted()
    except typer.Exit as e:
        return e.exit_code
    except MemoryError:
        if debug:
            raise
        error("out of memory (close other programs or use smaller photos)")
        return EXIT_USAGE
    except Exception as e:  # usage errors of the (vendored) click parser: show them as click would
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            _show_usage_error(e)
            return e.exit_code
        raise
    if result == EXIT_INTERRUPTED:  # typer has already turned a KeyboardInterrupt into this code
        return _interrupted()
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning user errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    previous = None
    with contextlib.suppress(ValueError):  # only the main thread may handle signals
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        code = _run(args, "--debug" in args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code)
