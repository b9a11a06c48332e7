#!/usr/bin/env python3
"""Can the pixel pitch be read from where a stopped-down set's spectrum ends? Measured on the zoo,
not adopted (docs/benchmarks.md, "The pixel pitch read from where the spectrum ends").

The idea: a circular aperture passes no spatial frequency beyond 1 / (lambda N), whatever the
scene; at f/16-f/22 that cutoff lies inside a sensor's band, so where the blurry set's spectrum
ends would give the pitch where neither lensfun nor the EXIF does. The blurry set's mean G power
spectrum (Hann-windowed tiles) is fitted as

    B(f) = a f^b S(f) |M(f / fc_b) / M(f / fc_s)|^2 + n N(f),    fc = pitch / (lambda N)

S the sharp set's less its noise, M the diffraction MTF of a circular aperture, N the blurry
set's noise spectrum (its shape from the tiles flattest for their level), a, n >= 0 and the
slope b what the scenes differ by; the best pitch of 0.5-20 um is the reading, kept only where
the cutoff lies below MAX_CUTOFF. What it measures is where the blurry set's detail sinks under
its noise: the diffraction cutoff only when nothing else (focus shift, aberrations, noise at a
high ISO) ends it sooner, so on shoots it was not tuned on it read as little as 0.6x the pitch.

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_cutoff.py --out bench/results_zoo_cutoff.json [--cases CASE...]

``--pitches P...`` renders every stopped-down case again on sensors of these pitches (each a new
shoot, named CASE-pP, with its own scene draw from the case's half; the ray-traced lenses only,
the analytic lens's PSFs being drawn at 3.3 um): the reading on shoots no setting was chosen on.

    LENSCAL_ZOO_WORK=bench_out/zoo_pitches .venv/bin/python bench/zoo_cutoff.py --pitches 2 3 4 --out bench/results_zoo_cutoff_pitches.json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402

from lenscal.noise import channel_noise  # noqa: E402
from lenscal.optics.diffraction import PLAUSIBLE_PITCH_UM, WAVELENGTH_UM, relative_scales, significant  # noqa: E402

TILE = 64
BINS = np.linspace(0.0, 0.5, 33)  # cycles/px, radial
LOWEST = 0.04  # cycles/px: below this a tile's window and the scenes' layout decide the spectrum
FLAT = 0.05  # the share of tiles, the flattest for their level, that give the noise's shape
CLIPPED = 0.95  # a tile reaching this holds clipped highlights: no noise, no detail
# the highest cutoff (cycles/px) read as one: three bins of noise beyond it before the sensor's
# Nyquist frequency, to show that the spectrum ended rather than faded
MAX_CUTOFF = 0.5 - 3 * (BINS[1] - BINS[0])
PITCHES = np.exp(np.linspace(math.log(PLAUSIBLE_PITCH_UM[0]), math.log(PLAUSIBLE_PITCH_UM[1]), 300))
SLOPES = np.linspace(-2.0, 2.0, 21)
MIN_BINS = 8  # fewer frequencies where both sets hold detail and nothing is read
CHUNK = 1024  # tiles transformed at once (bounds the memory of a large frame)


@functools.lru_cache(maxsize=1)
def _binning() -> tuple[np.ndarray, np.ndarray]:
    """The Hann window of a tile and the matrix (frequencies of a real FFT, bins) that averages
    a tile's power spectrum over each radial bin."""
    window = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(TILE), np.fft.rfftfreq(TILE), indexing="ij")).ravel()
    idx = np.digitize(f, BINS) - 1
    avg = np.zeros((f.size, len(BINS) - 1), np.float32)
    for b in range(len(BINS) - 1):
        sel = idx == b
        avg[sel, b] = 1.0 / max(int(sel.sum()), 1)
    return window, avg


def plane_spectra(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile of a 2-D linear plane (clipped tiles left out): its radial power spectrum
    (tiles, bins) and the noise variance its level has (tiles,), or two empty arrays where the
    noise cannot be read."""
    line = channel_noise(plane)
    h, w = plane.shape
    n_r, n_c = h // TILE, w // TILE
    if line is None or n_r * n_c == 0:
        return np.zeros((0, len(BINS) - 1)), np.zeros(0)
    window, avg = _binning()
    tiles = plane[:n_r * TILE, :n_c * TILE].reshape(n_r, TILE, n_c, TILE).swapaxes(1, 2).reshape(-1, TILE, TILE)
    tiles = tiles[tiles.max(axis=(1, 2)) < CLIPPED]
    level = tiles.mean(axis=(1, 2))
    power = []
    for i in range(0, len(tiles), CHUNK):
        t = tiles[i:i + CHUNK].astype(np.float32)
        t = (t - level[i:i + CHUNK, None, None]) * window
        power.append((np.abs(np.fft.rfft2(t)) ** 2).reshape(len(t), -1) @ avg)
    floor, slope = line
    noise = np.maximum(floor + slope * np.clip(level, 0.0, 1.0), 1e-12)
    return (np.concatenate(power) if power else np.zeros((0, len(BINS) - 1))), noise


def set_spectrum(planes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """A set's mean radial power spectrum and its noise's (bins each), or None when no photo's
    noise can be read. The noise's shape is the mean spectrum per unit noise variance of the
    FLAT tiles with the least power for their level's noise (where the scene is flattest)."""
    read = [plane_spectra(p) for p in planes]
    power = np.concatenate([p for p, _ in read])
    noise = np.concatenate([n for _, n in read])
    if len(power) == 0:
        return None
    excess = power.sum(1) / noise
    flat = excess <= np.quantile(excess, FLAT)
    shape = (power[flat] / noise[flat, None]).mean(0)
    return power.mean(0), shape * noise.mean()


def airy_mtf(nu: np.ndarray) -> np.ndarray:
    """The diffraction MTF of a circular aperture at ``nu`` = frequency / cutoff (0 from 1 on)."""
    nu = np.clip(nu, 0.0, 1.0)
    return (2 / np.pi) * (np.arccos(nu) - nu * np.sqrt(1 - nu**2))


def fit_pitch(sharp: tuple[np.ndarray, np.ndarray], blurry: tuple[np.ndarray, np.ndarray], f_sharp: float,
              f_blurry: float, wavelength_um: float = WAVELENGTH_UM[1], aberrations: tuple[float, ...] = (0.0,),
              margin: float | None = None) -> float | None:
    """The pitch (um, within PITCHES) whose diffraction best turns the sharp set's spectrum into
    the blurry set's (the fit in the module's docstring), or None where fewer than MIN_BINS
    frequencies can be fitted; ``sharp`` and ``blurry`` are :func:`set_spectrum`'s (power, noise).
    The two mends measured (see VARIANTS): ``aberrations``, Gaussian variances (px^2) of a lens
    blur beside the Airy ratio, the best of them per pitch; ``margin``, the largest pitch whose
    residual is within that share of the best instead of the best."""
    f = 0.5 * (BINS[:-1] + BINS[1:])
    scenes = sharp[0] - sharp[1]
    power, noise = blurry
    use = (f >= LOWEST) & (scenes > 0) & (power > 0)
    if use.sum() < MIN_BINS:
        return None
    f, scenes, power, noise = f[use], scenes[use], power[use], noise[use]
    target = np.ones_like(f)
    residuals = []
    for pitch in PITCHES:
        cut_b, cut_s = pitch / (wavelength_um * f_blurry), pitch / (wavelength_um * f_sharp)
        relative = (airy_mtf(f / cut_b) / np.maximum(airy_mtf(f / cut_s), 1e-6)) ** 2
        best = math.inf
        for w2 in aberrations:
            lens = np.exp(-4 * np.pi**2 * w2 * f**2)
            for slope in SLOPES:
                columns = np.stack([scenes * f**slope * relative * lens, noise], 1) / power[:, None]
                best = min(best, nnls(columns, target)[1])
        residuals.append(best)
    residuals = np.asarray(residuals)
    if margin is None:
        return float(PITCHES[int(np.argmin(residuals))])
    return float(PITCHES[residuals <= residuals.min() * (1 + margin)].max())


VARIANTS = {"aberration": {"aberrations": tuple(np.linspace(0.0, 3.0, 13))}, "margin 10%": {"margin": 0.10},
            "margin 25%": {"margin": 0.25}}


def read_pitch(sharp: list[np.ndarray], blurry: list[np.ndarray], f_sharp: float, f_blurry: float,
               **variant) -> float | None:
    """The pixel pitch (um) that the blurry set's diffraction cutoff says, from the two sets'
    developed linear photos (H, W, 3), or None where no cutoff shows inside the recorded band
    (see MAX_CUTOFF) or a set's noise cannot be read; ``variant``: :func:`fit_pitch`'s mends."""
    if not f_sharp or not f_blurry or f_blurry <= f_sharp:
        return None
    s = set_spectrum([p[..., 1] for p in sharp])
    b = set_spectrum([p[..., 1] for p in blurry])
    if s is None or b is None:
        return None
    pitch = fit_pitch(s, b, f_sharp, f_blurry, **variant)
    return pitch if pitch is not None and pitch / (WAVELENGTH_UM[1] * f_blurry) <= MAX_CUTOFF else None


def row(case: zoo.Case) -> dict:
    sharp, blurry = zoo_posthoc.develop(zoo.ensure_shoot(case))
    start = time.perf_counter()
    pitch = read_pitch(sharp, blurry, case.f_sharp, case.f_blurry)
    seconds = time.perf_counter() - start
    variants = {name: read_pitch(sharp, blurry, case.f_sharp, case.f_blurry, **v) for name, v in VARIANTS.items()}
    true_cutoff = case.pitch_um / (WAVELENGTH_UM[1] * case.f_blurry)
    return {"case": case.name, "half": case.half, "f_blurry": case.f_blurry, "iso": case.iso,
            "pitch_true": case.pitch_um, "pitch_read": None if pitch is None else round(pitch, 3),
            "ratio": None if pitch is None else round(pitch / case.pitch_um, 3),
            "cutoff_true": round(true_cutoff, 3), "readable": bool(true_cutoff <= MAX_CUTOFF),
            "modelled_true": bool(case.f_blurry > case.f_sharp and significant(relative_scales(case.f_blurry, case.pitch_um, case.f_sharp))),
            "seconds": round(seconds, 2),
            "variants": {k: None if v is None else round(v / case.pitch_um, 3) for k, v in variants.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", help="default: all")
    ap.add_argument("--pitches", nargs="*", type=float, help="render the stopped-down cases again at these pitches (um)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cases = [c for c in zoo.CASES if not args.cases or c.name in args.cases]
    if args.pitches:
        cases = zoo.pitch_variants([c for c in cases if c.f_blurry > c.f_sharp], args.pitches)
    rows = []
    for c in cases:
        rows.append(row(c))
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps({"rows": rows, "command": " ".join(sys.argv)}, indent=1) + "\n")
    print(f"| shoot | half | f/ | ISO | true pitch um | read | read / true | true cutoff c/px |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['half']} | {r['f_blurry']} | {r['iso']} | {r['pitch_true']} | "
              f"{r['pitch_read'] if r['pitch_read'] is not None else 'none'} | {r['ratio'] if r['ratio'] is not None else '-'} | {r['cutoff_true']} |")


if __name__ == "__main__":
    main()
