#!/usr/bin/env python3
"""A spectral reading of the blur between the two sets, tried as a self-check on the zoo.

The edge-width self-check (learn.widths.forward_check) reads too little of a kernel to judge it.
This tries the two sets' power spectra instead: at the same places of the frame, the blurry
set's over the sharp set's is the kernel's |K(f)|^2 times what the scenes differ by. Scenes
differ in contrast and exposure (a constant in log R) and in spectral slope; only the constant is
fitted out: log R(f) = a - 4 pi^2 w^2 f^2 (a Gaussian's |K|^2), each spectrum less its noise's,
read between 0.04 cycles/px and where either set's spectrum comes within ABOVE times its noise's. Fitting a slope term b log f too takes the blur for slope on a band this short. The
same fit on a grid's own |K|^2 gives the width it predicts, like with like.

    .venv/bin/python bench/zoo_spectral.py --collect CASE...        # spectra, bench_out/zoo/_spectral/CASE.npz
    .venv/bin/python bench/zoo_spectral.py --truth CASE...          # the shoots rendered if need be; photos/truth
    .venv/bin/python bench/zoo_spectral.py --score bench/results_zoo_selfcheck_relative.json --out bench/results_zoo_spectral.json

Then a guard is chosen on the tuning half and read on the validation half: refuse a grid whose G
width (median over the zones) exceeds K times the photos' plus T, K the least that passes every
tuning case's TRUE grid.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
import zoo_posthoc  # noqa: E402

from lenscal.noise import channel_noise  # noqa: E402
from lenscal.optics.psf import mirror_average  # noqa: E402

TILE = 64
BINS = np.linspace(0.0, 0.5, 33)  # cycles/px, radial
CACHE = zoo.WORK / "_spectral"  # per shoot, beside the shoots read (LENSCAL_ZOO_WORK)
ZONES = ((1, 1), (0, 1), (1, 0), (0, 0))  # centre, top/bottom, left/right, corners (3x3, mirror-pooled)


@functools.lru_cache
def _bin_masks(h: int, w: int) -> tuple[np.ndarray, ...]:
    """Per radial bin of BINS, the mask of an h x w spectrum's frequencies in it (once per shape:
    every tile shares it)."""
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    idx = np.clip(np.digitize(f, BINS) - 1, 0, len(BINS) - 2)
    return tuple(idx == b for b in range(len(BINS) - 1))


def _radial(power: np.ndarray) -> np.ndarray:
    """(..., T, T) power spectra (fftshift-free) radially averaged into BINS."""
    out = np.zeros(power.shape[:-2] + (len(BINS) - 1,))
    for b, sel in enumerate(_bin_masks(*power.shape[-2:])):
        if sel.any():
            out[..., b] = power[..., sel].mean(-1)
    return out


FLAT = 0.05  # the share of tiles, the flattest for their level, whose spectra give the noise's shape


def zone_spectra(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(4 zones, 3 channels, bins) each: the mean radial power of Hann-windowed TILE tiles per
    mirror-pooled zone, and the noise's within it. The noise's: the spectra of the FLAT tiles
    with the least variance for their level (lenscal.noise's variance line), per unit of noise
    variance, times the zone's mean noise variance, so the demosaiced noise's own shape is
    subtracted, not a flat floor."""
    window = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
    zones, spectra, excess, noise_var = [], [], [], []
    for img in images:
        lines = [channel_noise(img[..., c]) or (0.0, 0.0) for c in range(3)]
        h, w = img.shape[:2]
        for y in range(0, h - TILE + 1, TILE):
            for x in range(0, w - TILE + 1, TILE):
                zy = min(int(3 * (y + TILE / 2) / h), 2)
                zx = min(int(3 * (x + TILE / 2) / w), 2)
                t = img[y:y + TILE, x:x + TILE].transpose(2, 0, 1).astype(np.float64)
                level = np.clip(t.mean((-2, -1)), 0, 1)
                var = np.array([max(a + b * m, 1e-12) for (a, b), m in zip(lines, level)])
                t = (t - t.mean((-2, -1), keepdims=True)) * window
                zones.append(ZONES.index((min(zy, 2 - zy), min(zx, 2 - zx))))
                spectra.append(_radial(np.abs(np.fft.fft2(t)) ** 2))
                excess.append(t.var((-2, -1)) / var)
                noise_var.append(var)
    zones, spectra, excess, noise_var = map(np.asarray, (zones, spectra, excess, noise_var))
    signal = np.zeros((4, 3, len(BINS) - 1))
    noise = np.zeros_like(signal)
    for c in range(3):
        flat = excess[:, c] <= np.quantile(excess[:, c], FLAT)
        shape = (spectra[flat, c] / noise_var[flat, c, None]).mean(0)
        for z in range(4):
            sel = zones == z
            signal[z, c] = spectra[sel, c].mean(0)
            noise[z, c] = shape * noise_var[sel, c].mean()
    return signal, noise


def collect(name: str) -> Path:
    case = {c.name: c for c in zoo.CASES}[name]
    out = CACHE / f"{name}.npz"
    if out.is_file():
        return out
    sharp_photos, blurry_photos = zoo_posthoc.develop(zoo.WORK / name / "shoot")
    sharp, sharp_noise = zone_spectra(sharp_photos)
    blurry, blurry_noise = zone_spectra(blurry_photos)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(out, sharp=sharp, blurry=blurry, sharp_noise=sharp_noise, blurry_noise=blurry_noise)
    print(name, flush=True)
    return out


def kernel_spectra(grid: np.ndarray) -> np.ndarray:
    """(4 zones, 3, bins): the mean radial |K|^2 of each zone's nodes (an 8x8 grid over the frame)."""
    rows, cols = grid.shape[:2]
    k = grid.shape[-1]
    pad = np.zeros(grid.shape[:3] + (TILE, TILE))
    pad[..., :k, :k] = grid
    mtf2 = _radial(np.abs(np.fft.fft2(pad)) ** 2)  # (rows, cols, 3, bins)
    out = np.zeros((4, 3, len(BINS) - 1))
    for z, (zy, zx) in enumerate(ZONES):
        sel = []
        for r in range(rows):
            for c in range(cols):
                ry, cx = min(int(3 * (r + 0.5) / rows), 2), min(int(3 * (c + 0.5) / cols), 2)
                if (min(ry, 2 - ry), min(cx, 2 - cx)) == (zy, zx):
                    sel.append(mtf2[r, c])
        out[z] = np.mean(sel, 0)
    return out


def fit_width(log_ratio: np.ndarray, f: np.ndarray) -> float:
    """w^2 of a - 4 pi^2 w^2 f^2 fitted to ``log_ratio``."""
    coef, *_ = np.linalg.lstsq(np.stack([np.ones_like(f), -4 * np.pi**2 * f**2], 1), log_ratio, rcond=None)
    return float(coef[1])


ABOVE = 3.0  # a set's spectrum over its noise's, for a bin to be read


def band(signal: np.ndarray, noise: np.ndarray, lo: float = 0.04, above: float = ABOVE) -> np.ndarray:
    """The bins used: from ``lo`` up to the first where a set's spectrum is less than ``above``
    times its noise's."""
    f = 0.5 * (BINS[:-1] + BINS[1:])
    ok = (signal > above * noise).all(0)
    first_bad = np.flatnonzero(~ok & (f >= lo))
    hi = f[first_bad[0]] if len(first_bad) else 1.0
    return (f >= lo) & (f < hi)


def readings(spec: dict, grids: dict[str, np.ndarray]) -> dict:
    """Per grid, zone and channel: the w^2 its |K|^2 reads, and the photos' (key "measured")."""
    f = 0.5 * (BINS[:-1] + BINS[1:])
    out: dict = {"measured": np.full((4, 3), np.nan), **{k: np.full((4, 3), np.nan) for k in grids}}
    ks = {k: kernel_spectra(g) for k, g in grids.items()}
    for z in range(4):
        for c in range(3):
            s, b = spec["sharp"][z, c], spec["blurry"][z, c]
            ns, nb = spec["sharp_noise"][z, c], spec["blurry_noise"][z, c]
            sel = band(np.stack([s, b]), np.stack([ns, nb]))
            if sel.sum() < 5:
                continue
            ratio = np.log(np.maximum(b[sel] - nb[sel], 1e-30) / np.maximum(s[sel] - ns[sel], 1e-30))
            out["measured"][z, c] = fit_width(ratio, f[sel])
            for k in grids:
                out[k][z, c] = fit_width(np.log(np.maximum(ks[k][z, c, sel], 1e-30)), f[sel])
    return out


T = 0.25  # px^2: below this a width is not told from none


def needed(row: dict, key: str) -> float:
    """The K at which the grid ``key`` (G, median over zones) just passes the guard."""
    m = np.array(row["measured"], float)[:, 1]
    g = np.array(row[key], float)[:, 1]
    if not np.isfinite(m).any():
        return np.nan
    return float((np.nanmedian(g) - T) / max(np.nanmedian(m), 0.05))


def guard(rows: list[dict]) -> dict:
    tuning = [needed(r, "truth") for r in rows if r["half"] == "tuning"]
    k = float(np.nanmax(tuning))
    out = {"K": round(k, 3), "T": T, "unreadable": sorted({r["case"] for r in rows if not np.isfinite(needed(r, "truth"))})}
    for half in ("tuning", "validation"):
        part = [r for r in rows if r["half"] == half and np.isfinite(needed(r, "truth"))]
        cases = {r["case"]: r for r in part}
        good = [r for r in part if r["gain"] > 0]
        out[half] = {"truth_refused": sorted(c for c, r in cases.items() if needed(r, "truth") > k),
                     "worse_written": sorted(f"{r['case']}/{r['tag']}" for r in part if r["gain"] <= 0 and needed(r, "learned") <= k),
                     "worse_refused": sorted(f"{r['case']}/{r['tag']}" for r in part if r["gain"] <= 0 and needed(r, "learned") > k),
                     "gaining_refused": f"{sum(needed(r, 'learned') > k for r in good)}/{len(good)}"}
    return out


def truth_only(names: list[str], out: Path | None) -> None:
    """Per case (rendered first if its shoot is missing or stale): the photos' reading over the
    TRUE grid's, G, per zone and median; no learned grid needed."""
    cases = {c.name: c for c in zoo.CASES}
    rows = []
    for name in names:
        case = cases[name]
        zoo.ensure_shoot(case)
        spec = dict(np.load(collect(name)))
        r = readings(spec, {"truth": np.asarray(zoo.truth(case)[0], np.float64)})
        ratio = r["measured"][:, 1] / r["truth"][:, 1]
        median = float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else None
        rows.append({"case": name, "half": case.half, "sets": case.sets, "measured": np.round(r["measured"], 3).tolist(),
                     "truth": np.round(r["truth"], 3).tolist(), "ratio_g": np.round(ratio, 3).tolist(), "median": median})
        print(f"{case.half[:3]} {name:20s} {case.sets:10s} photos/truth G {np.round(ratio, 2)} median {median}", flush=True)
        if out:
            out.write_text(json.dumps(rows, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collect", nargs="*", default=None)
    ap.add_argument("--truth", nargs="*", default=None, help="cases whose TRUE grid to read against their photos")
    ap.add_argument("--score", type=Path, default=None, help="a zoo_selfcheck results file: its grids are read")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.collect or []:
        collect(name)
    if args.truth:
        truth_only(args.truth, args.out)
        return
    if not args.score:
        return
    rows = []
    cases = {c.name: c for c in zoo.CASES}
    for e in json.loads(args.score.read_text()):
        spec = dict(np.load(collect(e["case"])))
        saved = np.load(zoo.WORK / e["case"] / e["tag"] / "grids.npz")
        true8, _ = zoo.truth(cases[e["case"]])
        grids = {"truth": np.asarray(true8, np.float64), "learned": np.asarray(saved["final"], np.float64),
                 "step2": mirror_average(torch.from_numpy(saved["step2"]).double()).numpy()}
        r = readings(spec, grids)
        row = {"case": e["case"], "tag": e["tag"], "half": e["half"], "l2_ratio": e["l2_ratio"], "gain": e["gain"],
               "gain_true": e["gain_true"], **{k: np.round(v, 3).tolist() for k, v in r.items()}}
        rows.append(row)
        m, t, lr = r["measured"], r["truth"], r["learned"]
        print(f"{e['case']:20s} {e['tag']:7s} L2 {e['l2_ratio']:.2f} g {e['gain']:+.2f} | meas G {np.round(m[:, 1], 2)} "
              f"truth G {np.round(t[:, 1], 2)} learned G {np.round(lr[:, 1], 2)}", flush=True)
    summary = guard(rows)
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"guard": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
