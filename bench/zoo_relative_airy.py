#!/usr/bin/env python3
"""The relative diffraction kernel of a stopped-down set, two ways, against the zoo's TRUE grids.

The learn models the blurry aperture's diffraction beyond the sharp one's as one Airy pattern at
the f-number sqrt(N_b^2 - N_s^2) (optics.diffraction.relative_scales: quadrature). Exactly, the
kernel that turns the sharp aperture's Airy pattern into the blurry one's has the OTF ratio
M(f / fc_b) / M(f / fc_s) (negative lobes clipped here). Which is nearer the truth, as a floor
model with no lens blur on top? L2 over one fitted Gaussian's, per stopped-down shoot.

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_relative_airy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import zoo  # noqa: E402
from zoo_cutoff import airy_mtf  # noqa: E402

from lenscal.optics.diffraction import WAVELENGTH_UM, diffraction_kernels, relative_scales  # noqa: E402
from lenscal.optics.psf import grid_report  # noqa: E402

FINE = 128  # the DFT grid the exact kernel is sampled on (px)


def exact(f_blurry: float, f_sharp: float, pitch_um: float, size: int = 13) -> np.ndarray:
    """(3, size, size): per channel, the kernel whose OTF is the two Airy MTFs' ratio."""
    f = np.fft.fftfreq(FINE)
    f = np.hypot(f[:, None], f[None, :])
    out = []
    for lam in WAVELENGTH_UM:
        ratio = airy_mtf(f * lam * f_blurry / pitch_um) / np.maximum(airy_mtf(f * lam * f_sharp / pitch_um), 1e-6)
        k = np.fft.fftshift(np.real(np.fft.ifft2(ratio)))
        c, h = FINE // 2, size // 2
        k = k[c - h:c + h + 1, c - h:c + h + 1].clip(0)
        out.append(k / k.sum())
    return np.stack(out).astype(np.float32)


def main() -> None:
    print("| shoot | half | L2 / one Gaussian: quadrature Airy | exact ratio |\n|---|---|---|---|")
    for c in zoo.CASES:
        quadrature = diffraction_kernels(relative_scales(c.f_blurry, c.pitch_um, c.f_sharp), 13) if c.f_blurry >= 11 else None
        if quadrature is None:
            continue
        t = zoo.truth(c)[0].astype(np.float32)
        q = grid_report(np.broadcast_to(quadrature, t.shape), t)
        e = grid_report(np.broadcast_to(exact(c.f_blurry, c.f_sharp, c.pitch_um), t.shape), t)
        print(f"| {c.name} | {c.half} | {q['l2'] / q['l2_gaussian']:.2f} | {e['l2'] / e['l2_gaussian']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
