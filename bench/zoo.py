#!/usr/bin/env python3
"""The validation zoo: lenscal learned and used as a new user would, on many lenses, cameras and
photo sets, with the truth known. One command writes a table, JSON and a picture.

    .venv/bin/python bench/zoo.py                       # every case (hours on 2 cores)
    .venv/bin/python bench/zoo.py --quick               # the quick subset, for iterating
    .venv/bin/python bench/zoo.py --half validation     # one half only
    .venv/bin/python bench/zoo.py --cases sim-f16-diff-T ...
    .venv/bin/python bench/zoo.py --cases ef100-wide-alt-T-flat ef100-wide-alt-T-iso100   # variants: same scenes, no vignetting / ISO 100

Every case is a simulated shoot written as real DNG files: real photographs (the scenes) imaged
through a lens (the analytic lens of ``lenscal simulate``, or a real lens design ray-traced from a
patent prescription, ``bench/zoo_optics.py``) at a sharp and at an extreme aperture, vignetted
(a lensfun-known camera: lensfun's own model, corrected by lenscal; an unknown camera: a falloff
left in the files), through a Bayer sensor with Poisson-Gaussian noise at the case's ISO. The
blur is rendered with a finer grid (12x12) and larger kernels than a profile holds, so a learned
8x8 grid of 13x13 kernels can only approximate it, as with a real lens.

Photos are split into a tuning half (Kodak and Unsplash photos of even rank) and a validation
half (odd rank), and the lens designs too: settings are chosen on the tuning cases and judged on
the validation cases. Sets: ``alternated`` (the shooting guide: each photo's one half in the sharp
set, the other half in the blurry set, or interleaved photos where they are too small to halve),
``different`` (no photo in common), ``few`` (4 + 4 alternated).

For each case: ``lenscal learn`` (the workflow function the CLI calls, default settings) either
refuses with a reason or writes a profile, which is scored against the true relative grid (the
kernels that blur the sharp lens's centre into the blurry lens at each node): NCC, L2 against the
best single Gaussian's, lateral colour error, noise sigma against the developed photos' true
noise. Held-out test photos at the blurry aperture are then corrected with the learned profile,
with the true grid, the true grid stretched 1.15x and 1.3x, and by textbook Richardson-Lucy with
the true grid (iterations 5/10/20/40, the best picked on the photos themselves: a strong
baseline); PSNR gains against references (the scenes through the sharp lens's centre PSF, no
noise). Step 1 models are cached (bench_out/zoo/<case>/step1.pt) so step-2 work iterates faster.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from baselines import psnr, relative_grid, richardson_lucy, stretch  # noqa: E402

from lenscal.io.dng import mosaic_from_rgb, write_dng  # noqa: E402
from lenscal.optics.blur import blur_image  # noqa: E402
from lenscal.photo import Metadata  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORK = Path(os.environ.get("LENSCAL_ZOO_WORK", ROOT / "bench_out" / "zoo"))  # shoots, step-1 models, profiles
RENDER_NODES = 12  # the rendering grid: finer than a profile's 8x8
STEP1_CACHE = "step1.pt"  # per tag when step 1's settings differ (--step1-cache)
TAG = "default"  # profiles of one run go to WORK/<case>/<TAG>/ (--tag), shoots and step 1 are shared
KNOWN = Metadata(make="Panasonic", model="DC-GX9", lens_make="Panasonic", lens_model="Lumix G 25mm f/1.7 Asph.",
                 focal_length=25.0)  # a pair lensfun has vignetting data for
UNKNOWN = Metadata(make="Zootech", model="Z-1000", lens_make="Zootech", lens_model="Zoo 50mm", focal_length=50.0)


@dataclass(frozen=True)
class Case:
    """One simulated shoot and what it is meant to exercise."""

    name: str
    half: str  # tuning | validation
    lens: str  # "analytic" or a prescription of bench/zoo_psfs
    f_sharp: float
    f_blurry: float
    pitch_um: float  # PSF scale (the analytic lens is fixed at 3.3)
    known_camera: bool  # lensfun knows it: devignetted, pixel pitch given
    size: tuple[int, int]  # (height, width)
    iso: float
    sets: str  # alternated | different | few
    n_photos: int = 6  # per set
    n_test: int = 2
    seed: int = 0
    field: float = 1.0  # how far out in the lens's image circle the frame's corner lies (1: full frame)
    vignetted: bool = True  # an unknown camera's falloff left in the files (False: CASE-flat, none)


def _c(name, half, lens, fs, fb, pitch, known, size, iso, sets, **kw) -> Case:
    return Case(name, half, lens, fs, fb, pitch, known, size, iso, sets, **kw)


S04, S1, S3, S12, S24 = (512, 768), (800, 1280), (1280, 1920), (2832, 4240), (4000, 6000)
CASES = [
    # tuning half: the analytic lens and three lens designs, even-ranked photos
    _c("sim-f16-alt-T", "tuning", "analytic", 5.6, 16, 3.3, True, S04, 200, "alternated"),
    _c("sim-f16-diff-T", "tuning", "analytic", 5.6, 16, 3.3, True, S1, 200, "different"),
    _c("sim-f1.7-diff-T", "tuning", "analytic", 5.6, 1.7, 3.3, False, S1, 400, "different"),
    _c("sim-f1.7-alt-T", "tuning", "analytic", 5.6, 1.7, 3.3, True, S1, 100, "alternated"),
    _c("rf24-f22-few-T", "tuning", "rf24mm_f1.8", 5.6, 22, 2.0, False, S1, 1600, "few", n_photos=4, field=0.5),
    _c("rf24-wide-alt-T", "tuning", "rf24mm_f1.8", 8.0, 1.85, 3.0, True, S3, 200, "alternated", field=0.6),
    _c("sigma70-wide-diff-T", "tuning", "sigma70mm_f2.8", 5.6, 2.88, 6.0, True, S1, 100, "different"),
    _c("sigma70-f16-diff-T", "tuning", "sigma70mm_f2.8", 5.6, 16, 3.0, False, S12, 400, "different", n_photos=3,
       field=0.7),
    _c("ef100-wide-alt-T", "tuning", "ef100mm_f2.8", 5.6, 2.88, 4.5, False, S1, 800, "alternated", field=0.8),
    _c("ef100-f22-diff-T", "tuning", "ef100mm_f2.8", 8.0, 22, 4.0, True, S1, 200, "different"),
    # validation half: six other lens designs, odd-ranked photos
    _c("sim-f16-diff-V", "validation", "analytic", 5.6, 16, 3.3, False, S1, 400, "different"),
    _c("sim-f1.7-alt-V", "validation", "analytic", 5.6, 1.7, 3.3, True, S04, 200, "alternated"),
    _c("ef85-f16-alt-V", "validation", "ef85mm_f1.8", 5.6, 16, 4.0, False, S1, 200, "alternated", field=0.7),
    _c("ef85-wide-diff-V", "validation", "ef85mm_f1.8", 5.6, 1.76, 4.0, False, S1, 400, "different", field=0.7),
    _c("ef35-wide-alt-V", "validation", "ef35mm_f2.0", 8.0, 1.99, 3.0, True, S3, 100, "alternated", field=0.6),
    _c("ef35-f22-diff-V", "validation", "ef35mm_f2.0", 5.6, 22, 2.0, False, S1, 800, "different", field=0.5),
    _c("yn50-wide-few-V", "validation", "yongnuo_50mm_f1.8", 5.6, 1.76, 4.5, False, S1, 200, "few", n_photos=4,
       field=0.6),
    _c("ef40-wide-alt-V", "validation", "ef40mm_f2.8", 5.6, 2.8, 3.3, False, S1, 400, "alternated", field=0.7),
    _c("rf16-f16-diff-V", "validation", "rf16mm_f2.8", 5.6, 16, 6.0, True, S1, 1600, "different"),
    _c("rf50-wide-alt-V", "validation", "rf50mm_f1.8", 5.6, 1.85, 3.0, False, S24, 200, "alternated", n_photos=3,
       field=0.7),
]
QUICK = ["sim-f16-alt-T", "sim-f1.7-diff-T", "rf24-f22-few-T", "sigma70-wide-diff-T"]


# -- photos ---------------------------------------------------------------------------------------
VARIANT = "-p"  # CASE-pP: the case rendered on a sensor of pitch P (no case's own name holds it)


def pitch_variants(cases: list[Case], pitches: list[float]) -> list[Case]:
    """Each ray-traced case rendered again on sensors of these pitches (um): new shoots, named
    CASE-pP, each with its own scene draw from its half. The analytic lens is left out: its PSFs
    are drawn at 3.3 um whatever the pitch."""
    return [dataclasses.replace(c, name=f"{c.name}{VARIANT}{p:g}", pitch_um=p)
            for c in cases if c.lens != "analytic" for p in pitches]


FLAT = "-flat"  # CASE-flat: an unknown camera's shoot rendered without vignetting (same scenes)
ISO = "-iso"  # CASE-isoN: the shoot at ISO N (same scenes)


def split_variant(name: str) -> tuple[str, dict]:
    """(CASE, the fields it changes) for a CASE-flat or CASE-isoN name; (name, {}) otherwise."""
    base, sep, iso = name.rpartition(ISO)
    if sep and iso.isdigit():
        return base, {"iso": float(iso)}
    if name.endswith(FLAT):
        return name.removesuffix(FLAT), {"vignetted": False}
    return name, {}


def scene_draw(name: str) -> str:
    """The name a case's scenes are drawn by: a CASE-flat or CASE-isoN shoot holds CASE's scenes
    (so it differs from CASE in that alone); a pitch variant draws its own."""
    base, changes = split_variant(name)
    return scene_draw(base) if changes else name


def find_case(name: str) -> Case:
    """The zoo case of this name, a pitch variant of one (CASE-pP), an unknown camera's shoot
    without vignetting (CASE-flat) or a shoot at another ISO (CASE-isoN)."""
    base, changes = split_variant(name)
    if changes:
        case = find_case(base)
        if case.known_camera and "vignetted" in changes:  # lensfun's vignetting is corrected anyway
            raise KeyError(name)
        return dataclasses.replace(case, name=name, **changes)
    base, _, pitch = name.partition(VARIANT)
    case = next((c for c in CASES if c.name == base), None)
    if case is None or (pitch and case.lens == "analytic"):
        raise KeyError(name)
    return pitch_variants([case], [float(pitch)])[0] if pitch else case


def photo_pool(half: str, size: tuple[int, int]) -> list[Path]:
    """The half's photos that can fill a frame of ``size``: Kodak (768x512) for the smallest
    frames, Unsplash (2600-6000 px) otherwise. Even ranks tune, odd ranks validate."""
    folder, pattern = (("kodak24", "*.png") if size[1] <= 768 else ("unsplash", "*.jpg"))
    photos = sorted((SHARED / "photos" / folder).glob(pattern))
    return photos[0::2] if half == "tuning" else photos[1::2]


def load_linear(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    if img.shape[0] > img.shape[1]:
        img = np.rot90(img)
    x = np.ascontiguousarray(img).astype(np.float32) / 255
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def cover(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resized (area) to cover ``size`` (height, width), then centre-cropped to it."""
    h, w = img.shape[:2]
    f = max(size[0] / h, size[1] / w)
    if abs(f - 1) > 1e-3:
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        img = np.clip(cv2.resize(img, (max(size[1], round(w * f)), max(size[0], round(h * f))), interpolation=interp), 0, None)
    h, w = img.shape[:2]
    r0, c0 = (h - size[0]) // 2, (w - size[1]) // 2
    return np.ascontiguousarray(img[r0:r0 + size[0], c0:c0 + size[1]])


def frames(photo: Path, size: tuple[int, int], two: bool) -> list[np.ndarray]:
    """One frame of ``size`` from a photo, or two (its left and right halves: the same kind of
    scene, other pixels)."""
    img = load_linear(photo)
    if not two:
        return [cover(img, size)]
    both = cover(img, (size[0], 2 * size[1]))
    return [both[:, :size[1]].copy(), both[:, size[1]:].copy()]


def scenes(case: Case) -> dict[str, list[np.ndarray]]:
    """Linear scenes (each exposed to a mean of 0.2 of white) for the sharp, blurry and test sets."""
    pool = photo_pool(case.half, case.size)
    # each case draws its own photos from its half: with one draw per half, every case of a half
    # held the same scenes in the same roles, so whatever those scenes differ by between the sets
    # was one bias shared by the whole half, and a median over the half measured one draw
    seed = int(hashlib.sha256(scene_draw(case.name).encode()).hexdigest()[:8], 16)
    order = np.random.default_rng(seed).permutation(len(pool))
    pool = [pool[i] for i in order]
    two = pool[0].suffix == ".jpg" and case.size[1] <= 1920  # photos large enough to halve
    n = case.n_photos
    if case.sets in ("alternated", "few"):
        if two:  # the other half of each photo, as the hidden shoots' "same kinds of scene"
            pairs = [frames(p, case.size, True) for p in pool[:n]]
            sharp, blurry, rest = [a for a, _ in pairs], [b for _, b in pairs], pool[n:]
        else:  # interleaved photos of one walk
            sharp = [frames(p, case.size, False)[0] for p in pool[0:2 * n:2]]
            blurry = [frames(p, case.size, False)[0] for p in pool[1:2 * n:2]]
            rest = pool[2 * n:]
    else:  # different: no photo in common between the sets
        k = math.ceil(n / 2) if two else n
        sharp = [f for p in pool[:k] for f in frames(p, case.size, two)][:n]
        blurry = [f for p in pool[k:2 * k] for f in frames(p, case.size, two)][:n]
        rest = pool[2 * k:]
    if len(rest) < case.n_test:  # small Kodak frames: test scenes from the half's Unsplash photos
        rest = list(rest) + photo_pool(case.half, (800, 1280))[::-1]
    test = [frames(p, case.size, False)[0] for p in rest[:case.n_test]]
    if min(len(sharp), len(blurry)) < n:
        raise SystemExit(f"{case.name}: the {case.half} half has too few photos for {n} + {n}")
    out = {"sharp": sharp, "blurry": blurry, "test": test}
    return {k: [np.clip(s * np.float32(0.2 / max(float(s.mean()), 1e-3)), 0, 1.5) for s in v] for k, v in out.items()}


# -- lenses ---------------------------------------------------------------------------------------
def lens_grid(case: Case, f_number: float, rows: int, cols: int) -> np.ndarray:
    """The PSF grid (rows, cols, 3, K, K) of the case's lens at ``f_number``, with kernels large
    enough for rendering (the analytic lens's are 13 px; a real design's blur has longer tails)."""
    h, w = case.size
    if case.lens == "analytic":
        from lenscal.simulate import lens_psf_grid

        kind = "sharp" if f_number == case.f_sharp else ("stopped" if f_number >= 11 else "wide")
        return lens_psf_grid(kind, h, w, rows, cols)
    from zoo_optics import psf_grid

    return psf_grid(case.lens, f_number, h, w, case.pitch_um, rows, cols, 31, field=case.field)


_TRUTH: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def truth(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The true 8x8 relative grid and the sharp lens's centre PSF (3, K, K)."""
    key = case_key(case)
    if key not in _TRUTH:
        centre = lens_grid(case, case.f_sharp, 3, 3)[1, 1]
        lo = (centre.shape[-1] - 9) // 2
        _TRUTH[key] = relative_grid(centre[:, lo:lo + 9, lo:lo + 9], lens_grid(case, case.f_blurry, 8, 8)), centre
    return _TRUTH[key]


# -- the camera -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sensor:
    black: int = 512
    white: int = 16383
    electrons_base: float = 12000.0  # at white, ISO 100
    read_noise: float = 3.0
    response: tuple[float, float, float] = (0.52, 1.0, 0.71)


def vignetting(case: Case, meta: Metadata) -> np.ndarray:
    h, w = case.size
    if case.known_camera:
        from lenscal.optics.vignetting import vignetting_gain

        return vignetting_gain(meta, w, h, reverse=True)
    if not case.vignetted:
        return np.ones((h, w, 3), np.float32)
    y, x = np.mgrid[0:h, 0:w]
    r2 = ((y - (h - 1) / 2) ** 2 + (x - (w - 1) / 2) ** 2) / ((h - 1) ** 2 / 4 + (w - 1) ** 2 / 4)
    falloff = (1 / (1 + 0.35 * r2) ** 2).astype(np.float32)  # about -1 EV in the corners
    return np.repeat(falloff[..., None], 3, axis=2)


def capture(scene: np.ndarray, grid: np.ndarray, vign: np.ndarray, iso: float, rng: np.random.Generator | None,
            tint=(1.0, 1.0, 1.0), sensor: Sensor = Sensor()) -> np.ndarray:
    """Lens blur, vignetting, colour response, Bayer mosaic, noise (none if ``rng`` is None)."""
    img = blur_image(scene, grid) * vign * np.asarray(tint, np.float32) * np.asarray(sensor.response, np.float32)
    mosaic = mosaic_from_rgb(np.clip(img, 0, None)).astype(np.float64)
    if rng is not None:
        e = sensor.electrons_base * 100 / iso
        mosaic = (rng.poisson(mosaic * e) + rng.normal(0, sensor.read_noise, mosaic.shape)) / e
    dn = sensor.black + mosaic * (sensor.white - sensor.black)
    return np.clip(np.round(dn), 0, sensor.white).astype(np.uint16)


def render(case: Case, folder: Path) -> dict:
    """Write the case's DNG shoot into ``folder`` (sharp/, blurry/, test/, noiseless/)."""
    sensor = Sensor()
    rng = np.random.default_rng(case.seed)
    camera = KNOWN if case.known_camera else UNKNOWN
    grids = [lens_grid(case, f, RENDER_NODES, RENDER_NODES) for f in (case.f_sharp, case.f_blurry)]
    found = scenes(case)
    refs = []
    _, centre = truth(case)
    for which, f_number, grid in (("sharp", case.f_sharp, grids[0]), ("blurry", case.f_blurry, grids[1]),
                                  ("test", case.f_blurry, grids[1])):
        meta = replace(camera, f_number=float(f_number), iso=float(case.iso), exposure_time=1 / 250 * (f_number / 5.6) ** 2,
                       width=case.size[1], height=case.size[0], datetime="2026:06:01 10:00:00")
        vign = vignetting(case, meta)
        tint = (1.0, 1.0, 1.0) if which == "sharp" else (1.03, 1.0, 0.96)
        exposure = 1.0 if which == "sharp" else 0.92
        for i, scene in enumerate(found[which]):
            mosaic = capture(scene * np.float32(exposure), grid, vign, case.iso, rng, tint)
            kw = dict(black=sensor.black, white=sensor.white, as_shot_neutral=sensor.response, overwrite=True)
            write_dng(folder / which / f"{which}_{i:02d}.dng", mosaic, meta, **kw)
            if which == "blurry" and i == 0:  # the same shot without noise: the true noise level
                write_dng(folder / "noiseless" / "blurry_00.dng", capture(scene * np.float32(exposure), grid, vign,
                                                                           case.iso, None, tint), meta, **kw)
            if which == "test":
                ref = blur_image(scene, centre[None, None]) * np.float32(exposure) * np.asarray(tint, np.float32)
                if not case.known_camera:
                    ref = ref * vign
                refs.append(np.clip(ref, 0, 1).astype(np.float32))
    np.savez_compressed(folder / "test" / "references.npz", *refs)
    return {"scenes": {k: len(v) for k, v in found.items()}}


# -- one case -------------------------------------------------------------------------------------
SCENE_DRAW = "per-case"  # in the shoots' key: the shoots of one draw per half are rendered again


def case_key(case: Case, shoot: bool = False) -> str:
    """The case's key: of its lens and camera (the truth), or with ``shoot`` of its photos too."""
    spec = asdict(case)
    if spec["field"] == 1.0:  # keys of the cases written before the field existed stay as they were
        spec.pop("field")
    if spec["vignetted"]:
        spec.pop("vignetted")
    if shoot:
        spec["scenes"] = SCENE_DRAW
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def ensure_shoot(case: Case) -> Path:
    folder = WORK / case.name / "shoot"
    stamp = folder / "case.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == case_key(case, shoot=True):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    info = render(case, folder)
    stamp.write_text(json.dumps({"key": case_key(case, shoot=True), "case": asdict(case), **info}))
    return folder


def true_noise(folder: Path) -> float:
    from lenscal.develop import load_photo

    noisy = load_photo(folder / "blurry" / "blurry_00.dng")[0].pixels
    clean = load_photo(folder / "noiseless" / "blurry_00.dng")[0].pixels
    return float(np.std(noisy - clean))


def learn(case: Case, folder: Path, overrides: dict, seed: int) -> dict:
    from lenscal.develop import DevelopSettings
    from lenscal.errors import LenscalError
    from lenscal.workflow import learn_profile

    out = WORK / case.name / TAG / "profile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    t0 = time.perf_counter()
    try:
        def record(r) -> None:  # the step-2 grid, for post-hoc experiments (zoo_posthoc)
            np.savez_compressed(out.with_name("grids.npz"), step2=r.step2_grid, final=r.grid, sigma=r.sigma,
                                gains=r.gains)

        pitch = case.pitch_um if case.known_camera or GIVE_PITCH else None
        common = dict(settings=DevelopSettings(), warn=notes.append, step1_cache=WORK / case.name / STEP1_CACHE)
        if "request" in learn_profile.__code__.co_varnames:
            from lenscal.learn.presets import RunOptions
            from lenscal.workflow import LearnRequest

            request = LearnRequest(seed=seed, overrides=overrides, pixel_pitch=pitch, force=True,  # scored even if
                                   options=RunOptions(threads=THREADS))  # it fails its check
            summary = learn_profile(folder / "sharp", folder / "blurry", out, request, on_result=record, **common)
        else:  # older versions, for before/after runs
            kw = {"force": True} if "force" in learn_profile.__code__.co_varnames else {}
            if THREADS and "options" in learn_profile.__code__.co_varnames:
                from lenscal.learn.presets import RunOptions

                kw["options"] = RunOptions(threads=THREADS)
            elif THREADS:
                overrides = {**overrides, "threads": THREADS}
            if "on_result" in learn_profile.__code__.co_varnames:
                kw["on_result"] = record
            summary = learn_profile(folder / "sharp", folder / "blurry", out, seed=seed, pixel_pitch=pitch,
                                    overrides=overrides, **common, **kw)
    except LenscalError as e:
        return {"refused": e.one_line(), "seconds": time.perf_counter() - t0, "notes": notes}
    check = summary.get("check")
    if check and not check["passed"]:  # what learn would refuse without --force; its scores say if rightly
        return {"refused": "self-check: " + "; ".join(check["reasons"]), "profile": str(out),
                "seconds": time.perf_counter() - t0, "notes": notes, "summary": summary}
    return {"profile": str(out), "seconds": time.perf_counter() - t0, "notes": notes, "summary": summary}


def crops(size: tuple[int, int], side: int = 1024) -> list[tuple[int, int, int, int]]:
    """Regions (y0, x0, h, w) PSNR is measured on: the whole frame up to ~1.3 MP, else the
    centre and two corners."""
    h, w = size
    if h * w <= 1_400_000:
        return [(0, 0, h, w)]
    s = min(side, h, w)
    return [((h - s) // 2, (w - s) // 2, s, s), (0, 0, s, s), (h - s, w - s, s, s)]


SOLVER: dict = {}  # SolverOptions for every correction of this run (--solver)
RL = True  # measure the Richardson-Lucy baselines (--no-rl skips them)
LEARN = True  # learn a profile (--no-learn: only the corrections with the true grid, for solver work)
THREADS = 0  # torch threads of the learn (--threads); 0: every core
GIVE_PITCH = False  # --give-pitch: the pixel pitch given to the learn for unknown cameras too


def evaluate(case: Case, folder: Path, profile_path: Path | None, true8: np.ndarray, sigma_true: float) -> dict:
    """PSNR gains on the held-out photos: learned, true, stretched true, RL with the true grid."""
    from lenscal.correct.deconv import deconvolve
    from lenscal.develop import load_photo
    from lenscal.optics.psf import best_gaussian
    from lenscal.profile import LensProfile

    refs = np.load(folder / "test" / "references.npz")
    grids = {"true": true8, "true_x1.15": stretch(true8, 1.15), "true_x1.3": stretch(true8, 1.3)}
    sigma_g, _ = best_gaussian(true8)
    from lenscal.optics.psf import gaussian

    gauss = np.broadcast_to(gaussian(sigma_g, 13).numpy().astype(np.float32), true8.shape).copy()
    if profile_path is not None:
        grids["learned"] = LensProfile.load(profile_path).grid()
    gains: dict[str, list[float]] = {k: [] for k in [*grids, "rl_true", "rl_gauss"]}
    rl_iters: dict[str, dict[int, list[float]]] = {"rl_true": {}, "rl_gauss": {}}
    for i, dng in enumerate(sorted((folder / "test").glob("*.dng"))):
        y = load_photo(dng)[0].pixels
        ref = refs[f"arr_{i}"]
        outs = {k: deconvolve(y, g, sigma_true, **SOLVER) for k, g in grids.items()}
        for y0, x0, h, w in crops(case.size):
            sl = (slice(y0, y0 + h), slice(x0, x0 + w))
            base = psnr(y[sl], ref[sl])
            for k, o in outs.items():
                gains[k].append(psnr(o[sl], ref[sl]) - base)
            m = 32 if (h, w) != case.size else 0  # context around a crop, dropped
            cy0, cx0 = max(y0 - m, 0), max(x0 - m, 0)
            cy1, cx1 = min(y0 + h + m, case.size[0]), min(x0 + w + m, case.size[1])
            region = y[cy0:cy1, cx0:cx1]
            inner = (slice(y0 - cy0, y0 - cy0 + h), slice(x0 - cx0, x0 - cx0 + w))
            for name, g in (("rl_true", true8), ("rl_gauss", gauss)) if RL else ():
                for it, x in richardson_lucy(region, g, case.size, (cy0, cx0)).items():
                    rl_iters[name].setdefault(it, []).append(psnr(x[inner], ref[sl]) - base)
    for name, by_it in rl_iters.items():
        if not by_it:
            gains[name] = [np.nan]
            continue
        best = max(by_it, key=lambda it: np.mean(by_it[it]))
        gains[name] = by_it[best]
        gains[f"{name}_iterations"] = best
    return {k: (round(float(np.mean(v)), 3) if isinstance(v, list) else v) for k, v in gains.items()}


def evaluate_grids(case: Case, folder: Path, grids: dict[str, np.ndarray], sigma: float = 0.01) -> dict[str, float]:
    """Mean PSNR gain of the held-out photos corrected with each grid (no baselines), the
    solver told noise ``sigma`` (evaluate tells it the true one)."""
    from lenscal.correct.deconv import deconvolve
    from lenscal.develop import load_photo

    refs = np.load(folder / "test" / "references.npz")
    gains: dict[str, list[float]] = {k: [] for k in grids}
    for i, dng in enumerate(sorted((folder / "test").glob("*.dng"))):
        y = load_photo(dng)[0].pixels
        ref = refs[f"arr_{i}"]
        for k, g in grids.items():
            out = deconvolve(y, g, sigma, **SOLVER)
            for y0, x0, h, w in crops(case.size):
                sl = (slice(y0, y0 + h), slice(x0, x0 + w))
                gains[k].append(psnr(out[sl], ref[sl]) - psnr(y[sl], ref[sl]))
    return {k: round(float(np.mean(v)), 3) for k, v in gains.items()}


def run_case(case: Case, overrides: dict, seed: int) -> dict:
    from lenscal.optics.psf import grid_report
    from lenscal.profile import LensProfile

    t0 = time.perf_counter()
    folder = ensure_shoot(case)
    true8, _ = truth(case)
    sigma_true = true_noise(folder)
    learned = learn(case, folder, overrides, seed) if LEARN else {"refused": "not learned (--no-learn)", "seconds": 0.0}
    row = {"case": asdict(case), "learn": learned, "sigma_true": sigma_true}
    profile = Path(learned["profile"]) if "profile" in learned else None
    if profile is not None:
        p = LensProfile.load(profile)
        rep = grid_report(p.grid(), true8)
        row["grid"] = {**{k: round(v, 4) for k, v in rep.items()}, "l2_ratio": round(rep["l2"] / rep["l2_gaussian"], 3),
                       "sigma_ratio": round(p.noise_sigma / sigma_true, 3)}
    row["psnr_gain"] = evaluate(case, folder, profile, true8, sigma_true)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["verdict"] = verdict(row)
    return row


def verdict(row: dict) -> str:
    """refused | ok | HARMFUL (a profile that makes photos worse, or is no better than a Gaussian).
    A refusal by the self-check is scored too: "refused (rightly)" when the profile would have
    been harmful, "refused (needlessly)" when it would have been fine."""
    good = "grid" in row and row["psnr_gain"].get("learned", 0.0) > 0 and row["grid"]["l2_ratio"] <= 1.0
    if "refused" in row["learn"]:
        return "refused" if "grid" not in row else ("refused (needlessly)" if good else "refused (rightly)")
    return "ok" if good else "HARMFUL"


# -- the report -----------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    head = ("| case | lens | f/ | cam | MP | ISO | sets | verdict | NCC (worst) | L2/Gauss | lat. px | sigma x | "
            "gain learned | true | x1.15 | x1.3 | RL true | RL Gauss | min |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c, g, p = r["case"], r.get("grid", {}), r["psnr_gain"]
        f = lambda v, d=2: "" if v is None else f"{v:+.{d}f}"  # noqa: E731
        lines.append(
            f"| {c['name']} | {c['lens']} | {c['f_sharp']:g}->{c['f_blurry']:g} | {'known' if c['known_camera'] else 'unknown'} | "
            f"{c['size'][0] * c['size'][1] / 1e6:.1f} | {c['iso']:g} | {c['sets']} | {r['verdict']}"
            f"{(': ' + r['learn']['refused'][:60]) if r['verdict'].startswith('refused') else ''} | "
            f"{g.get('ncc_mean', float('nan')):.3f} ({g.get('ncc_worst', float('nan')):.3f}) | {g.get('l2_ratio', float('nan')):.2f} | "
            f"{g.get('lateral_colour_error_mean', float('nan')):.2f} | {g.get('sigma_ratio', float('nan')):.2f} | "
            f"{f(p.get('learned'))} | {f(p['true'])} | {f(p['true_x1.15'])} | {f(p['true_x1.3'])} | "
            f"{f(p['rl_true'])} | {f(p['rl_gauss'])} | {r['learn']['seconds'] / 60:.1f} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict:
    """Medians and worst cases of a half, and the issue's targets."""
    out = {}
    for half in ("tuning", "validation"):
        rs = [r for r in rows if r["case"]["half"] == half]
        if not rs:
            continue
        learned = [r for r in rs if "grid" in r and not r["verdict"].startswith("refused")]
        forced = [r for r in rs if "grid" in r and r["psnr_gain"].get("learned") is not None]
        guide = [r for r in learned if r["case"]["sets"] in ("alternated", "few")]
        def stat(values):
            v = [x for x in values if x is not None]
            return {"median": round(float(np.median(v)), 3), "worst": round(float(min(v) if v else np.nan), 3)} if v else None
        gain = [r["psnr_gain"]["learned"] for r in learned]
        share = [r["psnr_gain"]["learned"] / r["psnr_gain"]["true"] for r in guide if r["psnr_gain"]["true"] > 0]
        out[half] = {
            "cases": len(rs), "refused": sum(r["verdict"].startswith("refused") for r in rs),
            "harmful": [r["case"]["name"] for r in rs if r["verdict"] == "HARMFUL"],
            "learned_gain_db": stat(gain),
            "l2_ratio_guide": {"median": _median([r["grid"]["l2_ratio"] for r in guide]),
                               "worst": _max([r["grid"]["l2_ratio"] for r in guide])},
            "lateral_guide_px_median": _median([r["grid"]["lateral_colour_error_mean"] for r in guide]),
            "gain_share_of_true_guide_median": _median(share),
            "sigma_ratio_median": _median([r["grid"]["sigma_ratio"] for r in learned]),
            "solver_true_minus_rl": {"median": _median([r["psnr_gain"]["true"] - r["psnr_gain"]["rl_true"] for r in rs]),
                                     "worst": _min([r["psnr_gain"]["true"] - r["psnr_gain"]["rl_true"] for r in rs])},
            "true_x1.15_worst": _min([r["psnr_gain"]["true_x1.15"] for r in rs]),
            "true_x1.3_worst": _min([r["psnr_gain"]["true_x1.3"] for r in rs]),
            # every profile, refused or not (learned with --force): what the learner does, apart from its guard
            "forced": {"l2_ratio": {"median": _median([r["grid"]["l2_ratio"] for r in forced]),
                                    "worst": _max([r["grid"]["l2_ratio"] for r in forced])},
                       "gain_db": stat([r["psnr_gain"]["learned"] for r in forced]),
                       "gain_share_of_true_median": _median([r["psnr_gain"]["learned"] / r["psnr_gain"]["true"]
                                                             for r in forced if r["psnr_gain"]["true"] > 0]),
                       "losing": sum(r["psnr_gain"]["learned"] <= 0 for r in forced)},
        }
    return out


def _median(v):
    return round(float(np.median(v)), 3) if len(v) else None


def _min(v):
    return round(float(np.min(v)), 3) if len(v) else None


def _max(v):
    return round(float(np.max(v)), 3) if len(v) else None


def picture(rows: list[dict], path: Path) -> None:
    """Per case: the true (left) and learned (right) kernels at 3x3 nodes, and the gains."""
    from lenscal.profile import LensProfile
    from lenscal.report import psf_grid_image

    missing = [r["case"]["name"] for r in rows if "profile" in r["learn"] and not Path(r["learn"]["profile"]).is_file()]
    if missing:  # profiles live under bench_out/, which is not kept: leave the picture as it was drawn
        print(f"{path} not redrawn: the profiles of {len(missing)} rows are not on this machine ({', '.join(missing)})")
        return
    tiles = []
    for r in rows:
        case = Case(**{**r["case"], "size": tuple(r["case"]["size"])})
        true8, _ = truth(case)
        pick = np.ix_([0, 3, 7], [0, 3, 7])
        parts = [psf_grid_image(true8[pick], zoom=5)]
        if "profile" in r["learn"]:
            parts.append(psf_grid_image(LensProfile.load(r["learn"]["profile"]).grid()[pick], zoom=5))
        else:
            parts.append(np.full_like(parts[0], 90))
        img = np.concatenate([parts[0], np.full((parts[0].shape[0], 6, 3), 255, np.uint8), parts[1]], axis=1)
        bar = np.full((34, img.shape[1], 3), 255, np.uint8)
        g = r["psnr_gain"]
        text = f"{r['case']['name']}  {r['verdict']}"
        cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        gains = f"learned {g.get('learned', float('nan')):+.2f} true {g['true']:+.2f} RL {g['rl_true']:+.2f} dB"
        cv2.putText(bar, gains, (3, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([bar, img], axis=0))
    if not tiles:
        return
    per_row = 4
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0] + 8), (0, w - t.shape[1] + 8), (0, 0)), constant_values=255) for t in tiles]
    while len(tiles) % per_row:
        tiles.append(np.full_like(tiles[0], 255))
    sheet = np.concatenate([np.concatenate(tiles[i:i + per_row], axis=1) for i in range(0, len(tiles), per_row)], axis=0)
    cv2.imwrite(str(path), sheet[..., ::-1])


def rescore(path: Path) -> list[dict]:
    """A results file's rows scored again with the current solver (the learned profiles and the
    shoots as they are), and their verdicts with the current self-check rule where the learn
    fitted its kernel widths to the edges: the grid as step 2 left it (grids.npz) must pass the
    check too. For runs of older code, without learning again."""
    import zoo_posthoc

    data = json.loads(path.read_text())
    for row in data["rows"]:
        case = find_case(row["case"]["name"])
        folder = WORK / case.name / "shoot"
        true8, _ = truth(case)
        grids = {"true": true8, "true_x1.15": stretch(true8, 1.15), "true_x1.3": stretch(true8, 1.3)}
        learned = row["learn"].get("profile")
        if learned and Path(learned).is_file():
            from lenscal.profile import LensProfile

            grids["learned"] = LensProfile.load(Path(learned)).grid()
            fitted = (row["learn"].get("summary") or {}).get("edge_widths")
            saved = Path(learned).with_name("grids.npz")
            if fitted and saved.is_file() and "refused" not in row["learn"]:
                tag = Path(learned).parent.name
                before = zoo_posthoc.replay(case, tag, ["off"], "measured", evaluate=False)[0]
                if not before["check"]:
                    row["learn"]["refused"] = ("self-check: before the edge-width calibration the grid disagrees "
                                               f"with the photos' edges (agreement {before['agreement']})")
        row["psnr_gain"].update(evaluate_grids(case, folder, grids))
        row["verdict"] = verdict(row)
        print(table([row]).splitlines()[-1], flush=True)
    data["rescored"] = {"command": " ".join([".venv/bin/python bench/zoo.py", *sys.argv[1:]]),
                        "solver": "the current defaults"}
    data["summary"] = summary(data["rows"])
    path.write_text(json.dumps(data, indent=1))
    return data["rows"]


def replay(path: Path) -> list[dict]:
    """A results file's learned rows with their saved step-2 grids (grids.npz) put through the
    current code's steps after step 2 (mirror average, edge widths as the learn chose them, the
    lateral colour as measured, Gaussian kernels where learn.presets.resolve_auto writes them, the
    self-check) and scored again: for changes after step 2, without learning again. The rows say
    they were replayed."""
    import zoo_posthoc
    import zoo_project

    data = json.loads(path.read_text())
    for row in data["rows"]:
        learned = row["learn"].get("profile")
        if not learned or not Path(learned).with_name("grids.npz").is_file():
            continue
        case = find_case(row["case"]["name"])
        said = row["learn"].get("summary") or {}
        fitted = isinstance(said.get("edge_widths"), dict)
        lateral, gaussian = "measured", zoo_project.stopped_down(case)
        tag = Path(learned).parent.name
        after = zoo_posthoc.replay(case, tag, ["pattern" if fitted else "off"], lateral, evaluate=True,
                                   summaries=(gaussian,))[0]
        reasons = [] if after["check"] else list(after["reasons"])
        if fitted:
            before = zoo_posthoc.replay(case, tag, ["off"], lateral, evaluate=False)[0]
            if not before["check"]:
                reasons = ["before the edge-width calibration: " + r for r in before["reasons"]] + reasons
        rep = after["report"]
        row["grid"] = {**{k: round(v, 4) for k, v in rep.items()}, "l2_ratio": round(rep["l2"] / rep["l2_gaussian"], 3),
                       "sigma_ratio": row.get("grid", {}).get("sigma_ratio")}
        row["psnr_gain"]["learned"] = after["gain"]
        row["learn"].pop("refused", None)
        if reasons:
            row["learn"]["refused"] = "self-check: " + "; ".join(reasons)
        row["learn"]["replayed"] = {"edge_widths": "pattern" if fitted else "off", "lateral": lateral,
                                    "kernel_shape": "gaussian" if gaussian else "learned"}
        row["verdict"] = verdict(row)
        print(table([row]).splitlines()[-1], flush=True)
        path.write_text(json.dumps(data, indent=1))  # row by row: a long replay can be cut short
    data["replayed"] = {"command": " ".join([".venv/bin/python bench/zoo.py", *sys.argv[1:]]),
                        "what": "step-2 grids of the rows' learns, the steps after step 2 by the current code"}
    data["summary"] = summary(data["rows"])
    path.write_text(json.dumps(data, indent=1))
    return data["rows"]


def merge(path: Path, others: list[Path]) -> list[dict]:
    """``path``'s rows with those of ``others`` (runs of other cases, side by side); a case in
    several files keeps its last row. The rows stay in the zoo's order and record their runs'
    commands."""
    data = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    commands = [data["command"]] if data.get("command") else []
    by_name = {row["case"]["name"]: row for row in data["rows"]}
    for other in others:
        extra = json.loads(other.read_text())
        commands.append(extra["command"])
        by_name.update({row["case"]["name"]: row for row in extra["rows"]})
    order = [c.name for c in CASES]

    def rank(row: dict) -> tuple[int, str]:
        case = row["case"]["name"].split(VARIANT)[0]  # a pitch variant goes beside its case
        return order.index(case) if case in order else len(order), row["case"]["name"]

    rows = sorted(by_name.values(), key=rank)
    data.update(rows=rows, command=" ; ".join(commands), summary=summary(rows), machine=platform.machine())
    path.write_text(json.dumps(data, indent=1))
    return rows


def main() -> None:
    global STEP1_CACHE, TAG, SOLVER, RL, LEARN, THREADS, GIVE_PITCH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--quick", action="store_true", help="the quick subset (small frames), for iterating")
    ap.add_argument("--half", choices=["tuning", "validation"], default=None)
    ap.add_argument("--overrides", default="{}", help="JSON dict of learn settings (--set)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="default", help="name of this run's profiles (shoots and step 1 are shared)")
    ap.add_argument("--step1-cache", default=STEP1_CACHE, help="file name of the cached step-1 model in each case's folder")
    ap.add_argument("--solver", default="{}", help="JSON dict of SolverOptions for every correction")
    ap.add_argument("--give-pitch", action="store_true",
                    help="give the learn the pixel pitch for cameras lensfun does not know too (vignetting still left in)")
    ap.add_argument("--pitch-variant", type=float, default=None,
                    help="render each chosen ray-traced case again on a sensor of this pitch (um), as a new shoot "
                         "named CASE-pP with its own scene draw from its half (bench/zoo_cutoff.py renders the same)")
    ap.add_argument("--no-rl", action="store_true", help="skip the Richardson-Lucy baselines")
    ap.add_argument("--no-learn", action="store_true", help="only correct with the true grid (solver work)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_zoo.json")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--replay", action="store_true", help="redo the steps after step 2 on --out's saved step-2 grids, score again")
    ap.add_argument("--rescore", action="store_true", help="score --out's rows again with the current code")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: every core; 1 on a busy machine)")
    ap.add_argument("--merge", nargs="+", type=Path, default=None,
                    help="results files of runs in parallel (each its own --out): their rows into --out, by case")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    by_name = {c.name: c for c in CASES}
    for n in set(args.cases or []) - set(by_name):  # variants: CASE-flat, CASE-isoN, CASE-pP
        try:
            by_name[n] = find_case(n)
        except (KeyError, ValueError):
            pass
    unknown = [n for n in args.cases or [] if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}")
    ordered = [by_name[n] for n in args.cases] if args.cases else CASES  # in the order asked
    chosen = [c for c in ordered if (not args.quick or c.name in QUICK) and (args.half is None or c.half == args.half)]
    if args.pitch_variant:
        chosen = pitch_variants(chosen, [args.pitch_variant])
    if args.list:
        for c in chosen:
            print(c)
        return
    STEP1_CACHE = args.step1_cache
    TAG, SOLVER, RL, LEARN, THREADS = args.tag, json.loads(args.solver), not args.no_rl, not args.no_learn, args.threads
    GIVE_PITCH = args.give_pitch
    if args.merge:
        rows = merge(args.out, args.merge)
        print(table(rows))
        print(json.dumps(summary(rows), indent=1))
        picture(rows, args.out.with_suffix(".png"))
        return
    if args.replay:
        rows = replay(args.out)
        print(json.dumps(summary(rows), indent=1))
        picture(rows, args.out.with_suffix(".png"))
        return
    if args.rescore:
        rows = rescore(args.out)
        print(table(rows))
        print(json.dumps(summary(rows), indent=1))
        picture(rows, args.out.with_suffix(".png"))
        return
    command = " ".join([".venv/bin/python bench/zoo.py", *sys.argv[1:]])
    rows = []
    for case in chosen:
        print(f"[{case.name}] ...", flush=True)
        row = run_case(case, json.loads(args.overrides), args.seed)
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
        result = {"command": command, "machine": platform.machine(), "rows": rows, "summary": summary(rows)}
        args.out.write_text(json.dumps(result, indent=1))
    print(table(rows))
    print(json.dumps(summary(rows), indent=1))
    picture(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
