"""The commands' work, file to file: scan, develop, learn/correct, write, report.

Sits between the thin CLI and the pure maths; no printing (progress and warnings are callbacks).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from lenscal.develop import DevelopSettings, load_photo
from lenscal.errors import SelfCheckError, ShootError
from lenscal.io.shoot import Shoot, check_compatible, scan_shoot
from lenscal.learn.presets import RunOptions
from lenscal.optics.vignetting import VignettingOutcome
from lenscal.photo import Metadata, Photo
from lenscal.progress import Progress

if TYPE_CHECKING:
    from lenscal.learn.selfcheck import SelfCheck
    from lenscal.profile import LensProfile

MIN_PHOTOS = 2


def develop_each(paths: list[Path], settings: DevelopSettings, stage: str, progress: Progress | None,
                 warn: Callable[[str], None] | None = None,
                 detail: Callable[[str], None] | None = None) -> Iterator[tuple[Path, Photo]]:
    """Develop photos one at a time (a generator: one photo in memory while the caller uses it),
    saying once per distinct vignetting note what was done: ``warn`` where lensfun could not
    devignette, ``detail`` for the rest."""
    said = set()
    for i, path in enumerate(paths):
        if progress:
            progress(stage, i, len(paths), {"file": path.name})
        photo, note = load_photo(path, settings)
        if note not in said:
            said.add(note)
            tell = warn if note.outcome is VignettingOutcome.UNAVAILABLE else detail
            if tell:
                tell(note.text)
        yield path, photo
    if progress:
        progress(stage, len(paths), len(paths), {})


def develop_shoot(shoot: Shoot, settings: DevelopSettings, stage: str, progress: Progress | None,
                  warn: Callable[[str], None] | None = None) -> list[Photo]:
    """Develop every photo of a set (:func:`develop_each`), warning where lensfun could not devignette."""
    return [photo for _, photo in develop_each(shoot.paths, settings, stage, progress, warn)]


def with_shared_white_balance(settings: DevelopSettings, *shoots: Shoot) -> DevelopSettings:
    """``settings`` to develop the photos of a learn (or its check) with: one white balance for
    all of them, unless the caller chose one."""
    if settings.white_balance is not None:
        return settings
    return replace(settings, white_balance=shared_white_balance([p for shoot in shoots for p in shoot.paths]))


def shared_white_balance(paths: list[Path]) -> tuple[float, ...] | None:
    """One white balance for every RAW photo of a learn: the median of their as-shot ones.

    Why: the blur is per channel and a white balance is a per-channel scale, so any one white
    balance serves. Each photo's own (auto white balance picks other multipliers for every
    scene) would differ between the sets by a colour tint that the learner must not fit: from
    unpaired scenes a learned tint mostly learns the scenes' colours (match.GridModule.gains).
    None when no photo is RAW or none says its white balance.
    """
    from lenscal.io.formats import is_raw
    from lenscal.io.raw import camera_white_balance

    found = [wb for wb in (camera_white_balance(p) for p in paths if is_raw(p)) if wb is not None]
    if not found:
        return None
    return tuple(float(v) for v in np.median(np.asarray(found), axis=0))


def _diffraction(sharp: Metadata, blurry: Metadata, pixel_pitch: float | None, blurry_dir: Path) -> dict:
    """The pixel pitch and the blurry set's Airy scales beyond the sharp set's, worked out from the
    scan before any photo is developed. The pitch: given, else the sensor size lensfun knows for
    the camera, else what the photos' EXIF says (the focal-plane resolution, then the 35 mm
    equivalent focal length), over the image size."""
    from lenscal.optics.diffraction import (diffraction_limited, pixel_pitch_from_crop, plausible_pitch,
                                            relative_scales, significant)
    from lenscal.optics.vignetting import crop_factor

    pitch, source = (pixel_pitch, "given") if pixel_pitch is not None else (None, "unknown")
    if pixel_pitch is None and blurry.width and blurry.height:
        w, h = blurry.width, blurry.height
        crop = crop_factor(blurry.make, blurry.model)
        exif_crop = blurry.focal_length_35mm / blurry.focal_length if blurry.focal_length_35mm and blurry.focal_length else None
        candidates = ((pixel_pitch_from_crop(crop, w, h) if crop else None, "lensfun"),
                      (blurry.sensor_width_mm * 1000.0 / w if blurry.sensor_width_mm else None, "EXIF focal-plane resolution"),
                      (pixel_pitch_from_crop(exif_crop, w, h) if exif_crop else None, "EXIF 35 mm equivalent"))
        pitch, source = next(((p, s) for p, s in candidates if plausible_pitch(p)), (pitch, source))
    if pixel_pitch and not blurry.f_number:
        raise ShootError("the blurry photos do not say their f-number, so the diffraction cannot be modelled",
                         blurry_dir, "run again without --pixel-pitch")
    scales = relative_scales(blurry.f_number, pitch, sharp.f_number) if pitch and blurry.f_number else None
    return {"pixel_pitch_um": pitch, "pitch_from": source, "modelled": bool(scales and significant(scales)),
            "scales_px": list(scales) if scales else None, "limited": diffraction_limited(blurry.f_number, scales)}


@dataclass(frozen=True)
class LearnRequest:
    """What a learn is asked for, apart from the photos and where the profile goes: the
    ``lenscal learn`` options that shape the profile, and how the learn runs."""

    preset: str = "fast"
    seed: int = 0
    device: str = "auto"
    grid: int = 8  # nodes per side of the PSF grid
    overrides: dict = field(default_factory=dict)  # --set NAME=VALUE
    pixel_pitch: float | None = None  # um; None: lensfun's sensor size over the image size, if it knows the camera
    force: bool = False  # write a profile that fails its self-check, marked as failing
    options: RunOptions = field(default_factory=RunOptions)  # threads, checkpoints: never written into a profile


def learn_profile(sharp_dir: Path, blurry_dir: Path, output: Path, request: LearnRequest = LearnRequest(), *,
                  settings: DevelopSettings = DevelopSettings(), resume: bool = False, truth: Path | None = None,
                  progress: Progress | None = None, warn: Callable[[str], None] | None = None,
                  step1_cache: Path | None = None, on_result: Callable | None = None) -> dict:
    """Scan, develop, learn and save a profile with its pictures; returns a JSON-able summary.

    With the pixel pitch and the sets' f-numbers known, the blurry set's diffraction is modelled
    (optics.diffraction) and only the lens's own blur is learned on top of it. ``truth``: a
    profile of the true blur to score the learned one against. ``step1_cache`` and
    ``on_result`` serve benchmarks: a step-1 model reused across learns of the same photos, and
    a look at the learn's result before it is judged.
    """
    from lenscal.profile import LensProfile

    start = time.perf_counter()
    sharp_set = scan_shoot(sharp_dir, name="sharp set", min_photos=MIN_PHOTOS)
    blurry_set = scan_shoot(blurry_dir, name="blurry set", min_photos=MIN_PHOTOS)
    check_compatible(sharp_set, blurry_set)
    diffraction = _diffraction(sharp_set.meta, blurry_set.meta, request.pixel_pitch, blurry_dir)
    for w in sharp_set.warnings + blurry_set.warnings:
        if warn:
            warn(w)
    true_profile = LensProfile.load(truth) if truth else None  # a bad file is refused before any photo is developed
    settings = with_shared_white_balance(settings, sharp_set, blurry_set)
    sharp = develop_shoot(sharp_set, settings, "developing sharp set", progress, warn)
    return _learn_from(sharp_set, sharp, blurry_set, output, diffraction, request, start=start, settings=settings,
                       resume=resume, true_profile=true_profile, progress=progress, warn=warn,
                       step1_cache=step1_cache, on_result=on_result)


def profile_file_name(meta: Metadata) -> str:
    """A profile's file name in a folder of several: ``MODEL_LENS_FOCALmm_fN.json``, e.g.
    ``DC-GX9_Lumix-G-25mm-f1.7-Asph_25mm_f16.json``. Camera and lens are in the name, not only the
    aperture, so that profiles of several lenses can share a folder (the library too)."""
    import re

    def clean(text: str) -> str:
        return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9.+-]", "-", text.replace("/", ""))).strip("-.")

    parts = [clean(meta.model), clean(meta.lens_model),
             f"{meta.focal_length:g}mm" if meta.focal_length else "",
             f"f{meta.f_number:g}" if meta.f_number else ""]
    return "_".join(p for p in parts if p) + ".json"


def scan_learn_sets(sharp_dir: Path, blurry_dirs: list[Path]) -> tuple[Shoot, list[Shoot]]:
    """The sets of a learn of several apertures, checked before anything is developed: each
    blurry set against the sharp one, and no two blurry sets at one aperture and focal length."""
    sharp_set = scan_shoot(sharp_dir, name="sharp set", min_photos=MIN_PHOTOS)
    blurry_sets = [scan_shoot(d, name=f"blurry set {d}", min_photos=MIN_PHOTOS) for d in blurry_dirs]
    seen: dict[str, Path] = {}
    for d, b in zip(blurry_dirs, blurry_sets):
        check_compatible(sharp_set, b, ("sharp set", f"blurry set {d}"))
        name = profile_file_name(b.meta)
        if name in seen:
            raise ShootError(f"the blurry sets {seen[name]} and {d} are at the same aperture and focal length "
                             f"({name})", hint="give one --blurry folder per aperture")
        seen[name] = d
    for i, a in enumerate(blurry_sets):
        for b in blurry_sets[i + 1:]:
            common = {p.resolve() for p in a.paths} & {p.resolve() for p in b.paths}
            if common:
                raise ShootError(f"the same photo is in two blurry sets: {sorted(p.name for p in common)[0]}")
    return sharp_set, blurry_sets


def learn_profiles(sharp_dir: Path, blurry_dirs: list[Path], folder: Path, request: LearnRequest = LearnRequest(),
                   *, settings: DevelopSettings = DevelopSettings(), resume: bool = False,
                   progress: Progress | None = None, warn: Callable[[str], None] | None = None,
                   scanned: tuple[Shoot, list[Shoot]] | None = None) -> list[dict]:
    """One profile per blurry set into ``folder`` (named by :func:`profile_file_name`), the sharp
    set scanned, developed and checked once for all of them, one white balance for every photo.

    Each profile is learned in turn as :func:`learn_profile` learns one. ``resume``: a profile
    already in the folder is kept (``{"profile": ..., "kept": True}``), one with a checkpoint
    continues from it, the others start. A profile that fails its self-check (without ``force``)
    does not stop the others: its summary is ``{"profile": ..., "error": one line, "exit_code": 5}``.
    ``scanned``: what :func:`scan_learn_sets` returned for these folders, if the caller has it.
    """
    start = time.perf_counter()
    sharp_set, blurry_sets = scanned or scan_learn_sets(sharp_dir, blurry_dirs)
    diffractions = [_diffraction(sharp_set.meta, b.meta, request.pixel_pitch, d)
                    for d, b in zip(blurry_dirs, blurry_sets)]
    for w in dict.fromkeys(sharp_set.warnings + [w for b in blurry_sets for w in b.warnings]):
        if warn:
            warn(w)
    settings = with_shared_white_balance(settings, sharp_set, *blurry_sets)
    outputs = learn_outputs(folder, blurry_sets)
    kept = [resume and o.exists() for o in outputs]
    sharp = develop_shoot(sharp_set, settings, "developing sharp set", progress, warn) if not all(kept) else []
    summaries = []
    for b, output, diffraction, keep in zip(blurry_sets, outputs, diffractions, kept):
        if keep:
            summaries.append({"profile": str(output), "kept": True})
            continue
        try:
            summaries.append(_learn_from(sharp_set, sharp, b, output, diffraction, request, start=start,
                                         settings=settings, resume=resume and _checkpoints(output).exists(),
                                         progress=progress, warn=warn))
        except SelfCheckError as e:
            summaries.append({"profile": str(output), "error": e.one_line(), "exit_code": e.exit_code})
        start = time.perf_counter()
    return summaries


def learn_outputs(folder: Path, blurry_sets: list[Shoot]) -> list[Path]:
    """Where :func:`learn_profiles` writes each blurry set's profile."""
    return [Path(folder) / profile_file_name(b.meta) for b in blurry_sets]


def _learn_from(sharp_set: Shoot, sharp: list[Photo], blurry_set: Shoot, output: Path, diffraction: dict,
                request: LearnRequest, *, start: float, settings: DevelopSettings, resume: bool,
                true_profile: LensProfile | None = None, progress: Progress | None = None,
                warn: Callable[[str], None] | None = None, step1_cache: Path | None = None,
                on_result: Callable | None = None) -> dict:
    """Develop one blurry set, learn its profile from an already developed sharp set, judge it,
    write it and draw it: the steps of a learn after the sharp set is developed."""
    from lenscal.learn.pipeline import learn_grid

    blurry = develop_shoot(blurry_set, settings, "developing blurry set", progress, warn)
    checkpoints = _prepare_checkpoints(output, resume)
    result = learn_grid([p.pixels for p in sharp], [p.pixels for p in blurry], preset=request.preset,
                        seed=request.seed, device=request.device, grid_shape=(request.grid, request.grid),
                        checkpoint_dir=checkpoints, resume=resume, progress=progress, overrides=request.overrides,
                        diffraction=diffraction["scales_px"], f_number=blurry_set.meta.f_number,
                        f_number_sharp=sharp_set.meta.f_number, step1_cache=step1_cache, options=request.options,
                        devignetted=all(p.devignetted for p in [*sharp, *blurry]))
    if on_result is not None:  # a caller that scores the learn keeps what it found before it is judged
        on_result(result)
    if result.check is not None:
        result = replace(result, check=advise(result.check, sharp_set, blurry_set, diffraction))
    if result.check is not None and not result.check.passed and not request.force:
        raise SelfCheckError(f"the learned profile failed its self-check: {result.check.reasons[0]}; "
                             "nothing was written", output,
                             f"{result.check.advice}; --force writes it anyway, marked as failing")
    profile = _profile(result, sharp_set, blurry_set, request, settings, len(sharp), len(blurry))
    profile.save(output)
    summary = {"profile": str(output), "noise_sigma": result.sigma,
               "photos": {"sharp": len(sharp), "blurry": len(blurry)},
               "step2_cycles": result.settings.get("step2_cycles"),
               "resumed_at": result.history.get("resumed_at", []),
               "diffraction": diffraction, "magnify": result.settings["magnify"],
               "sharp_place": result.settings["sharp_place"],
               "edge_widths": result.history.get("edge_widths"), "lateral": result.settings["lateral"],
               "check": result.check.to_dict() if result.check is not None else None,
               "notes": learn_notes(diffraction, result.settings["magnify"], result.history.get("edge_widths"),
                                    result.history.get("sharpness_unseen"))}
    summary.update(_pictures(profile, blurry[0], output, true_profile))
    summary["seconds"] = time.perf_counter() - start
    import shutil

    shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


def _checkpoints(output: Path) -> Path:
    """The folder of a learn's checkpoints, next to its profile."""
    return output.parent / f".{output.stem}.lenscal-checkpoint"


def _prepare_checkpoints(output: Path, resume: bool) -> Path:
    """The checkpoint folder for a learn: a new learn clears an old one; a resumed learn needs it."""
    checkpoints = _checkpoints(output)
    if not resume and checkpoints.exists():
        import shutil

        shutil.rmtree(checkpoints)
    if resume and not checkpoints.exists():
        raise ShootError("nothing to resume: no checkpoint next to the profile", output,
                         "run the same command without --resume")
    return checkpoints


def _profile(result, sharp_set: Shoot, blurry_set: Shoot, request: LearnRequest, settings: DevelopSettings,
             n_sharp: int, n_blurry: int) -> LensProfile:
    """The lens profile of a learn's result (learn.pipeline.LearnResult), with its provenance."""
    from lenscal.profile import LensProfile

    meta = blurry_set.meta
    return LensProfile.from_grid(
        result.grid, result.sigma, meta, f_number_sharp=sharp_set.meta.f_number,
        confidence=np.round(np.asarray(result.confidence, dtype=float), 4).tolist(),
        check=result.check.to_dict() if result.check is not None else None,
        settings={"preset": request.preset, "device": request.device, "develop": asdict(settings),
                  **result.settings},
        seed=request.seed,
        provenance=f"learned by lenscal from {n_sharp} sharp (f/{sharp_set.meta.f_number:g}) and "
                   f"{n_blurry} blurry (f/{meta.f_number:g}) photos",
    )


def _pictures(profile: LensProfile, photo: Photo, output: Path, true_profile: LensProfile | None) -> dict:
    """The profile's pictures next to it (its PSF grid, drawn beside the truth's when there is
    one; before/after crops of one blurry photo) and its scores against the truth: the
    summary's entries for them."""
    from lenscal.optics.psf import grid_report, resample
    from lenscal.report import save_psf_grid

    grid = profile.grid()
    truth_grid = None
    if true_profile is not None:  # compared node by node on the learned grid's nodes
        truth_grid = resample(true_profile.grid(), grid.shape[0], grid.shape[1]).numpy().astype(np.float32)
    psf_png = output.with_name(output.stem + "_psf.png")
    save_psf_grid(grid, psf_png, truth=truth_grid)
    entries: dict = {"psf_png": str(psf_png)}
    before_after = _before_after(photo, profile, output.with_name(output.stem + "_before_after.png"))
    if before_after:
        entries["before_after_png"] = str(before_after)
    if true_profile is not None:
        entries["score"] = {**grid_report(grid, truth_grid), "sigma_truth": true_profile.noise_sigma}
    return entries


def advise(check: SelfCheck, sharp_set: Shoot, blurry_set: Shoot, diffraction: dict) -> SelfCheck:
    """The self-check's verdict with advice from the shoot's metadata (learn.selfcheck.advised):
    the highest ISO of both sets, and whether the pixel pitch a stopped-down set needs is missing."""
    from lenscal.learn.selfcheck import advised

    isos = [m.iso for m in [*sharp_set.metas, *blurry_set.metas] if m.iso]
    return advised(check, max(isos, default=None), _pitch_missing(diffraction))


def _pitch_missing(diffraction: dict) -> bool:
    """Whether the blurry set may be diffraction-limited and the pixel pitch is unknown (so its
    Airy pattern cannot be modelled)."""
    return diffraction["pitch_from"] == "unknown" and diffraction["limited"] is not False


def learn_notes(diffraction: dict, magnify: str, edge_widths: dict | None,
                sharpness_unseen: str | None = None) -> list[str]:
    """How the learn went beyond its usual course, one sentence each for a person (the summary's
    ``notes``, which the CLI prints): sets whose edges looked alike, the diffraction modelled or
    not, how the kernel widths were settled, and the setting that would
    change each."""
    notes = []
    if sharpness_unseen:
        notes.append(f"{sharpness_unseen}: learned anyway because the two sets' apertures differ; the "
                     "self-check judged the profile")
    if diffraction["modelled"]:
        notes.append(f"diffraction modelled: pixel pitch {diffraction['pixel_pitch_um']:.2f} um "
                     f"({diffraction['pitch_from']}), Airy scale {diffraction['scales_px'][1]:.2f} px in G")
    elif _pitch_missing(diffraction):
        notes.append("diffraction not modelled: neither lensfun nor the photos' EXIF says this camera's sensor size; "
                     "stopped down, a profile learned with it is closer to the lens (give --pixel-pitch)")
    if magnify != "off":
        notes.append("kernel widths learned node by node (--set magnify=off to keep them as step 2 finds them)")
    if edge_widths:
        notes.append(f"kernel widths across the frame matched to the blurry photos' edges ({edge_widths['edges']} "
                     f"edges, {edge_widths['nodes_measured']} of {edge_widths['nodes']} places; "
                     f"--set edge_widths=off to skip)")
    return notes


def _before_after(photo: Photo, profile, path: Path, size: int = 160) -> Path | None:
    """Before/after crops at the centre, a border and a corner of one blurry photo."""
    try:
        from lenscal.correct.deconv import deconvolve
    except ImportError:
        return None
    from lenscal.optics.psf import interpolate
    from lenscal.report import crop_positions, save_before_after
    import torch

    h, w = photo.shape
    grid = profile.grid()
    k = grid.shape[-1]
    pairs = []
    for y, x in crop_positions(h, w, size):
        y0, x0 = max(0, y - 2 * k), max(0, x - 2 * k)
        y1, x1 = min(h, y + size + 2 * k), min(w, x + size + 2 * k)
        region = photo.pixels[y0:y1, x0:x1]
        centre = torch.tensor([[(y + size / 2) / (h - 1), (x + size / 2) / (w - 1)]], dtype=torch.float64)
        local = interpolate(torch.as_tensor(grid, dtype=torch.float64), centre).numpy()[None].astype(np.float32)
        fixed = deconvolve(region, local, profile.noise_sigma)
        pairs.append((region[y - y0:y - y0 + size, x - x0:x - x0 + size],
                      fixed[y - y0:y - y0 + size, x - x0:x - x0 + size]))
    save_before_after(pairs, path)
    return path


def bundled_examples() -> Path | None:
    """The bundled example photos (the demo's scenes): in the installed package or the checkout."""
    from lenscal.bundled import bundled

    examples = bundled("examples")
    return examples / "kodak" if examples is not None and (examples / "kodak").is_dir() else None


def psnr(a: np.ndarray, b: np.ndarray, border: int = 16) -> float:
    """PSNR (dB, peak 1.0) of linear images, ignoring a border where any method is unreliable
    (``border=0``: the whole frame)."""
    inner = (slice(border, a.shape[0] - border), slice(border, a.shape[1] - border))
    mse = float(np.mean((np.clip(a[inner], 0, 1) - np.clip(b[inner], 0, 1)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))
