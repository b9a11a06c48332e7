#!/usr/bin/env python3
"""Ray-traced PSF tables of real camera lens designs, for lenscal's validation zoo.

Two halves:

* ``compute`` (needs optiland, in its own virtualenv; imported only inside functions): loads a
  DeepLens-format patent prescription (``../shared/data/lenses``), traces it with optiland's
  real-ray tracer and writes, per (lens, f-number), ``bench/zoo_psfs/<lens>__f<NN.NN>.npz`` with
  polychromatic R/G/B PSFs at 9 field heights along one image axis (minutes per lens).
* ``psf_grid`` and the ``summary`` / ``picture`` / ``check`` commands (numpy + scipy only): turn a
  table into a lenscal PSF grid (rows, cols, 3, size, size) for any frame size and pixel pitch.

    /work/optiland-venv/bin/python bench/zoo_optics.py compute --lenses ef85mm_f1.8 ...
    .venv/bin/python bench/zoo_optics.py summary [--pitch 4] [--frame 4000x6000]
    .venv/bin/python bench/zoo_optics.py picture --lens ef85mm_f1.8 --f-number 1.76 -o g.png
    .venv/bin/python bench/zoo_optics.py check
    /work/optiland-venv/bin/python bench/zoo_optics.py validate --lenses ef85mm_f1.8

Lenses: all of the folder but ef50mm_f1.8, whose file gives 0.45 mm of axial colour between
0.46 and 0.60 um (the others: < 0.15 mm); it vanishes when L3's Abbe number is 32.1 (SF5, whose
n_d is the file's 1.6727) instead of 25.6, so a transcription error.  The files' ``foclen`` and
``fnum`` of rf16mm and rf24mm belong to other lenses (13.05 / 39.54 mm); optiland's paraxial
16.46 mm f/2.8 and 24.70 mm f/1.8 match the lens names, so they are used.  yongnuo_50mm_f1.8 has
3-5x the field curvature of the Canon designs (tangential focus -0.32 mm at rho 0.6, -0.92 mm
at the corner): its outer field is soft at every aperture.

How a PSF is computed (diffraction included).  For a field, the object is at infinity in the
direction s0 = (0, sin t, cos t); t is solved so that the chief ray at the G reference wavelength
(0.55 um; the chief ray is the real ray through the centre of the stop) lands at y = +rho *
r_sensor on the image plane, so the field point lies along +y and "outwards" is +y.  Rays start
on a plane perpendicular to s0 (one wavefront), on a square grid (301 x 301) that overfills the
real entrance pupil; they are traced WITHOUT clipping and each ray's height on every surface is
kept, so that any aperture (the lens rims' semi-diameters ``r`` from the file, and the stop at
any f-number) becomes a mask.  At the image plane each ray j has a position r_j, direction
cosines (L_j, M_j) and optical path OPL_j; its plane-wave phase at image point r0 + w is
k (T_j + L_j w_x + M_j w_y) with T_j = OPL_j - L_j (x_j - x0) - M_j (y_j - y0) (the angle
eikonal).  T and the aperture margins are interpolated (cubic splines on the launch grid, whose
map to (L, M) is inverted by Newton steps) onto a uniform grid in (L, M), and the field is the
2-D DFT of exp(i k T) over the transmitted pupil (a matrix DFT, so the output grid is chosen
freely): this is the Debye / angular-spectrum integral; it needs no exit-pupil location, it
handles the off-axis pupil's real shape (vignetting, anamorphism), its stationary points are the
real ray intersections, and every wavelength lands where its rays land relative to the ONE
origin r0 = the G (0.55 um) chief ray's intersection: lateral colour is in the tables with no
shifting afterwards.  Uniform amplitude over the (L, M) pupil (the ray-density variation, a
sine-condition error, is neglected).  Each wavelength's PSF is normalised to 1 on its window
(+-120 um at most), then channel c = sum_l w[c, l] PSF_l.

Spectral model: 15 wavelengths 0.41..0.69 um (0.02 steps); channel sensitivities are Gaussians
of FWHM 0.10 um centred at 0.600 (R), 0.530 (G), 0.460 (B) um on an equal-energy spectrum,
weights below 5 % of the peak dropped, each channel normalised (``channel_weights()``: R uses
0.51-0.69, G 0.43-0.63, B 0.41-0.55 um).  Glass: the file's "n_d/V_d" through optiland's
Buchdahl Abbe model (d-line); real glasses' partial dispersions are unknown, so the blue end
(hence B's lateral colour) is the least certain part.

Focus: the files' image planes (``d_sensor``) are up to 0.11 mm from the best focus (the on-axis
spot there up to 2x the best one), so every lens is refocused once, to the best polychromatic
RMS spot on axis at the design aperture (wavelengths weighted as a Bayer quad, R + 2 G + B); the
shift is stored (``focus_shift_um``).  Stopping down keeps that focus (a real lens does not
refocus): the best-focus drift with aperture (residual spherical aberration: the focus shift of
real lenses) is stored per table (``best_focus_drift_um``, on axis, same criterion); it reaches
20-55 um for several lenses, beyond the depth of focus at f/2.8-5.6, so the stopped-down centre
is slightly defocused, as in a real lens focused wide open.

Stopping down scales the stop semi-diameter (hence the entrance pupil) by F_paraxial / F.  The
design table is labelled by its working f-number (``f_number_working``, 1 / (2 NA) from the
on-axis pupil's area in direction cosines), which exceeds the paraxial f / EPD where the rims
clip the axial beam (ef85: 1.62 -> 1.76, ef35: 1.91 -> 1.99); the other tables' working
f-numbers are their nominal ones within 1-2 %.

Stored tables (one npz per lens and f-number): ``psf`` (9, 3, S, S) float16 times ``psf_scale``
(a power of two; psf * psf_scale sums to 1 per map; the scale keeps the ~1e-6 samples of wide
PSFs out of float16's subnormal range), mantissa rounded to 4 bits (3 % per sample, averaging
out over a pixel's samples), the PSF intensity POINT-SAMPLED at ``sample_um``: computed at
max(0.5 um, Nyquist interval of the diffraction cut-off at the shortest wavelength, lambda_min /
(2 * pupil width in direction cosines)), then band-limited and resampled to 1.0 um where finer
(the repository's size: 17 MB for 68 tables; at 4 um pitch this changes kernels by 0.7 % of
their peak (median), 3.6 % at most, for the sharpest wide-open centres; ``compute`` keeps the
0.5 um float32 tables if STORE_SAMPLE_UM is lowered).  Stopped-down tables are coarser (f/22:
~5 um) but complete (band-limited).  Each map is centred (index (S-1)/2) on the G chief ray; axis -2 is radial (increasing
index = outwards from the image centre, image-plane +y), axis -1 tangential (the PSF is mirror
symmetric in it).  The window is the smallest centred square holding 99 % of every map's energy,
at most +-80 um (41 px at 4 um); the fraction of the computed energy inside is ``energy_kept``
(below 0.99 only for wide-open corners).  Also: ``rho``, ``field_angle_deg``, ``chief_y_um``
(per field and wavelength: real chief-ray image heights, um), ``origin_y_um``, ``centroid_um`` /
``geo_centroid_um`` (per field and channel, (y, x) from the origin: diffraction PSF and ray
average over the same pupil), ``chief_offset_um`` (channel-weighted chief-ray heights minus the
origin), ``rel_illum`` (projected solid angle of the transmitted G pupil relative to the axis:
vignetting, cos^4 and pupil growth together), ``focus_tan_sag_um`` (G tangential and sagittal
foci per field, from the image plane), ``distortion``, ``wavelengths_um``, ``weights`` (3, 15),
``f_number``, ``f_number_design`` (paraxial), ``f_number_working``, ``foclen_mm`` (paraxial),
``foclen_file_mm``, ``r_sensor_mm``, ``lens``, ``info``, ``orientation``.

psf_grid conventions (lenscal's): node (r, c) sits at pixel (r/(rows-1)*(height-1),
c/(cols-1)*(width-1)); kernel index [ky, kx] with ky down the image; applied as a true
convolution (scipy.signal.fftconvolve(image, kernel)), so a kernel's centre of mass is where a
point's light lands.  The frame shows the whole field of view: its corner (pixel centre) is
rho = 1, the lens's own sensor half-diagonal, whatever the pixel count; ``pitch_um`` only sets
the PSF's scale in pixels (a 4000x6000 frame at 4 um stands for the lens's full field scaled to
a 24x16 mm sensor's pixel scale).  Per node: the PSF is interpolated linearly in rho between the
two nearest field heights ON THE FINE GRID (both tables share the chief-ray origin, adjacent
fields differ little in position, and the blend's G centroid is known exactly), evaluated by
cubic-spline interpolation at rotated sub-pixel points (radial axis towards the node, y down),
summed over square pixels of ``pitch_um`` (up to 12x12 sub-samples per pixel), cropped to
size x size about the node's own G centroid (R and B keep their offsets against G: lateral
colour), clipped at 0 and renormalised per channel.  ``size=None`` gives the uncropped kernels
(the whole stored window).  Nodes with the same rho in the four quadrants are mirror images.

Verified (``compute`` prints these, ``check`` re-checks them from the tables, ``validate``
against optiland): optiland's paraxial focal length matches the files' ``foclen`` within 2 %
(not rf16mm / rf24mm, see above); every real G chief ray reaches rho * r_sensor up to the
corner (field angles 12-53 deg; distortion -0.02 % (ef100) to -17 % (rf16, -13 % rf24)); on
axis every channel's centroid is 0; at every field the diffraction PSF's R-G and B-G centroid
offsets equal the ray averages over the same pupil within 0.3 um (1.4 um for the yongnuo's
truncated wide-open corner), and at f/16-22 the chief-ray offsets within 0.3 um; the corner's
lateral colour is 1-16 um (B-G: rf24 +16, ef35 +11, rf50 -11, ef40 +10, rf16 +10/R-G +10,
ef100 -8, sigma70 -5/R-G -5, yongnuo +4, ef85 +1 um); at f/16 and f/22 the azimuthal mean of
the centre G PSF has its first minimum within 2.5 % of 1.22 * 0.53 um * N_working (all lenses);
wide open the G second moment grows 4-14x from the centre to the corner (41x41 at 4 um);
the DFT agrees with optiland's FFTPSF on axis (ef85, f/4 and f/8: encircled energy within
0.011) and the relative illumination from pupil areas with one from beam areas and the image
Jacobian (f/8: 0.903 vs 0.907 at the corner); 301 vs 451 rays across the pupil change a
monochromatic wide-open corner PSF binned to 3.85 um by 0.5 % (L1).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LENS_FOLDER = ROOT.parent / "shared" / "data" / "lenses"
PSF_FOLDER = HERE / "zoo_psfs"

RHOS = (0.0, 0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 1.0)
WAVELENGTHS = tuple(round(0.41 + 0.02 * i, 2) for i in range(15))  # um
CHANNEL_CENTRES = (0.600, 0.530, 0.460)  # R, G, B (um)
CHANNEL_FWHM = 0.10  # um
G_REF = 0.55  # um: the wavelength whose chief ray is each field's origin
STOPS = (2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0)
R_COMPUTE_UM = 120.0  # largest half-width of the window a PSF is computed on
R_CAP_UM = 80.0  # largest half-width of a stored PSF window (41 px at 4 um)
MIN_SAMPLE_UM = 0.5  # tables are computed at max(Nyquist, this)
STORE_SAMPLE_UM = 1.0  # and stored (band-limited) at max(that, this): the repo's size
KEEP_ENERGY = 0.99  # a table's window holds at least this much of every map's energy
MANTISSA_BITS = 4  # float16 mantissa kept (of 10): 3 % per sample (averages out over a pixel)
# Lenses whose prescriptions load cleanly (see the report); ef50mm_f1.8 is left out: its file
# gives 0.45 mm of axial colour between 0.46 and 0.60 um (the others: under 0.15 mm), which
# vanishes when L3's Abbe number is 32.1 (SF5, n_d 1.6727) instead of 25.6: a transcription error.
DEFAULT_LENSES = ("ef35mm_f2.0", "ef40mm_f2.8", "ef85mm_f1.8", "ef100mm_f2.8", "rf16mm_f2.8",
                  "rf24mm_f1.8", "rf50mm_f1.8", "sigma70mm_f2.8", "yongnuo_50mm_f1.8")
ORIENTATION = ("psf[field, channel, iy, ix]: channel 0,1,2 = R,G,B; centre index (S-1)/2 = the G "
               "(0.55 um) chief ray's intersection; iy is radial, increasing iy = image-plane +y "
               "= outwards from the image centre (the field point lies along +y); ix tangential "
               "(mirror symmetric); point samples of the intensity at sample_um, each map sums to 1")


def channel_weights(wavelengths=WAVELENGTHS) -> np.ndarray:
    """(3, n) spectral weights of R, G, B: Gaussian bands, small ones dropped, rows sum to 1."""
    wl = np.asarray(wavelengths, float)
    sigma = CHANNEL_FWHM / (2 * math.sqrt(2 * math.log(2)))
    w = np.exp(-0.5 * ((wl[None] - np.asarray(CHANNEL_CENTRES)[:, None]) / sigma) ** 2)
    w[w < 0.05] = 0.0
    return w / w.sum(axis=1, keepdims=True)


def _fname(lens: str, f_number: float) -> str:
    return f"{lens}__f{f_number:05.2f}.npz"


# --------------------------------------------------------------------------------------------
# consumer side: numpy / scipy only
# --------------------------------------------------------------------------------------------

def available_lenses(folder: Path | str = PSF_FOLDER) -> list[str]:
    """Lenses with at least one table in ``folder``."""
    names = {p.name.split("__f")[0] for p in Path(folder).glob("*__f*.npz")}
    return sorted(names)


def f_numbers(lens: str, folder: Path | str = PSF_FOLDER) -> list[float]:
    """The f-numbers tabulated for ``lens``, widest first (the first is the design aperture)."""
    out = []
    for p in Path(folder).glob(f"{lens}__f*.npz"):
        m = re.fullmatch(re.escape(lens) + r"__f([0-9.]+)\.npz", p.name)
        if m:
            out.append(float(m.group(1)))
    return sorted(out)


def _table_path(lens: str, f_number: float, folder) -> Path:
    fs = f_numbers(lens, folder)
    if not fs:
        raise FileNotFoundError(f"no PSF tables for {lens!r} in {folder} "
                                f"(have: {available_lenses(folder)})")
    best = min(fs, key=lambda f: abs(math.log(f / float(f_number))))
    if abs(math.log(best / float(f_number))) > 0.03:
        raise ValueError(f"{lens}: no table for f/{f_number}; have {fs}")
    return Path(folder) / _fname(lens, best)


@lru_cache(maxsize=32)
def load_table(path: str) -> dict:
    """A table as a dict (psf as float64), with each map's spline coefficients and centroids."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    psf = d["psf"].astype(np.float64)
    psf /= psf.sum(axis=(-2, -1), keepdims=True)
    d["psf"] = psf
    S = psf.shape[-1]
    ax = (np.arange(S) - (S - 1) / 2) * float(d["sample_um"])
    d["cen"] = np.stack([(psf * ax[:, None]).sum((-2, -1)), (psf * ax[None, :]).sum((-2, -1))], -1)
    d["spline"] = np.stack([[ndimage.spline_filter(m, order=3, mode="constant") for m in f]
                            for f in psf])
    return d


def _node_kernels(d: dict, rho: float, direction: tuple[float, float], pitch_um: float,
                  size: int) -> np.ndarray:
    """(3, size, size) kernel of one node: rho in [0, 1], direction = unit (dy, dx) outwards."""
    rhos = d["rho"]
    rho = float(np.clip(rho, rhos[0], rhos[-1]))
    i = int(np.clip(np.searchsorted(rhos, rho, side="right") - 1, 0, len(rhos) - 2))
    t = (rho - rhos[i]) / (rhos[i + 1] - rhos[i])
    s = float(d["sample_um"])
    S = d["psf"].shape[-1]
    m = int(min(12, max(1, math.ceil(2 * pitch_um / s))))  # sub-samples per pixel and axis
    cg = (1 - t) * d["cen"][i, 1] + t * d["cen"][i + 1, 1]  # blended G centroid (y, x), um
    o = (np.arange(size * m) - (size * m - 1) / 2) / m * pitch_um  # sub-sample offsets, um
    dy, dx = np.meshgrid(o, o, indexing="ij")  # display frame, y down
    ry, rx = direction
    ys = dy * ry + dx * rx + cg[0]  # radial (table's +y)
    xs = -dy * rx + dx * ry + cg[1]  # tangential
    coords = np.stack([ys / s + (S - 1) / 2, xs / s + (S - 1) / 2])
    out = np.zeros((3, size, size))
    for c in range(3):
        v = 0.0
        for j, wj in ((i, 1 - t), (i + 1, t)):
            if wj > 0:
                v = v + wj * ndimage.map_coordinates(d["spline"][j, c], coords, order=3,
                                                     mode="constant", cval=0.0, prefilter=False)
        out[c] = v.reshape(size, m, size, m).sum(axis=(1, 3))
    out = np.clip(out, 0, None)
    return out / np.maximum(out.sum(axis=(-2, -1), keepdims=True), 1e-300)


def full_size(lens: str, f_number: float, pitch_um: float, folder=PSF_FOLDER) -> int:
    """The odd kernel size that holds a table's whole window (what ``size=None`` gives)."""
    d = load_table(str(_table_path(lens, f_number, folder)))
    half = (d["psf"].shape[-1] - 1) / 2 * float(d["sample_um"])
    return 2 * int(math.ceil(half / pitch_um)) + 1


def psf_grid(lens: str, f_number: float, height: int, width: int, pitch_um: float,
             rows: int = 8, cols: int = 8, size: int | None = 13,
             folder: Path | str = PSF_FOLDER, field: float = 1.0) -> np.ndarray:
    """The lens's PSF grid for a height x width frame at ``pitch_um``: (rows, cols, 3, size, size).

    float32, each kernel >= 0 summing to 1, lenscal conventions (see the module docstring): node
    (r, c) at pixel (r/(rows-1)*(height-1), c/(cols-1)*(width-1)), [ky, kx] with ky down, true
    convolution, the frame's corner = rho 1 (the lens's sensor half-diagonal), each kernel
    centred on its own G centroid (R/B keep the lateral colour).  ``size=None``: uncropped.
    ``field``: the frame's corner at rho = field instead (a sensor smaller than the lens's image
    circle: 0.67 for an APS-C body behind a full-frame lens, 0.5 for Micro Four Thirds).
    """
    return _psf_grid(lens, float(f_number), int(height), int(width), float(pitch_um), int(rows),
                     int(cols), None if size is None else int(size), str(folder), float(field)).copy()


@lru_cache(maxsize=16)
def _psf_grid(lens, f_number, height, width, pitch_um, rows, cols, size, folder, field=1.0):
    path = _table_path(lens, f_number, folder)
    d = load_table(str(path))
    if size is None:
        size = full_size(lens, f_number, pitch_um, folder)
    if size % 2 == 0:
        raise ValueError("size must be odd")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    half_diag = math.hypot(cy, cx)
    py = np.linspace(0, height - 1, rows) if rows > 1 else np.array([cy])
    px = np.linspace(0, width - 1, cols) if cols > 1 else np.array([cx])
    grid = np.zeros((rows, cols, 3, size, size), np.float32)
    done = np.zeros((rows, cols), bool)
    for r in range(rows):
        for c in range(cols):
            if done[r, c]:
                continue
            vy, vx = py[r] - cy, px[c] - cx
            dist = math.hypot(vy, vx)
            direction = (vy / dist, vx / dist) if dist > 1e-9 else (-1.0, 0.0)
            k = _node_kernels(d, field * dist / half_diag, direction, pitch_um, size).astype(np.float32)
            # mirror nodes (same rho, mirrored direction) get the mirrored kernel: the PSF is
            # symmetric about its radial axis.
            for rr, flip_y in ((r, False), (rows - 1 - r, True)):
                for cc, flip_x in ((c, False), (cols - 1 - c, True)):
                    if done[rr, cc]:
                        continue
                    if abs((py[rr] - cy) + (vy if flip_y else -vy)) > 1e-6 or \
                            abs((px[cc] - cx) + (vx if flip_x else -vx)) > 1e-6:
                        continue
                    kk = k[:, ::-1] if flip_y else k
                    kk = kk[:, :, ::-1] if flip_x else kk
                    grid[rr, cc] = kk
                    done[rr, cc] = True
    grid /= grid.sum(axis=(-2, -1), keepdims=True)
    return grid


def node_kernel(lens: str, f_number: float, rho: float, pitch_um: float, size: int | None = 13,
                direction=(-1.0, 0.0), folder=PSF_FOLDER) -> np.ndarray:
    """(3, size, size) kernel at one rho (outwards = ``direction`` (dy, dx), default up)."""
    d = load_table(str(_table_path(lens, f_number, folder)))
    if size is None:
        size = full_size(lens, f_number, pitch_um, folder)
    return _node_kernels(d, rho, direction, pitch_um, size).astype(np.float32)


# --------------------------------------------------------------------------------------------
# figures of a kernel
# --------------------------------------------------------------------------------------------

def _centroid(k: np.ndarray) -> np.ndarray:
    n = k.shape[-1]
    a = np.arange(n) - (n - 1) / 2
    m = k.sum(axis=(-2, -1))
    return np.stack([(k * a[:, None]).sum((-2, -1)) / m, (k * a[None, :]).sum((-2, -1)) / m], -1)


def second_moment(k: np.ndarray) -> np.ndarray:
    """Mean squared distance of the mass from its own centroid (px^2), lenscal's definition."""
    n = k.shape[-1]
    a = np.arange(n) - (n - 1) / 2
    c = _centroid(k)
    dy = a[:, None] - c[..., 0, None, None]
    dx = a[None, :] - c[..., 1, None, None]
    return (k * (dy ** 2 + dx ** 2)).sum((-2, -1)) / k.sum((-2, -1))


def _inner(k: np.ndarray, size: int) -> np.ndarray:
    n = k.shape[-1]
    a = (n - size) // 2
    return k[..., a:a + size, a:a + size]


def _half_max_width(d: dict, rho: float, channel: int = 1) -> float:
    """Optical FWHM (um) at rho (before pixel integration): diameter of the equal-area disc
    of the region above half the peak, on the fine table (Fourier-upsampled 4x)."""
    rhos = d["rho"]
    i = int(np.clip(np.searchsorted(rhos, rho, side="right") - 1, 0, len(rhos) - 2))
    t = (rho - rhos[i]) / (rhos[i + 1] - rhos[i])
    p = (1 - t) * d["psf"][i, channel] + t * d["psf"][i + 1, channel]
    up = 4
    S = p.shape[-1]
    F = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(p)))
    pad = (S * up - S) // 2
    F = np.pad(F, pad)
    q = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(F))))
    area = (q >= 0.5 * q.max()).sum() * (float(d["sample_um"]) / (q.shape[0] / S)) ** 2
    return 2 * math.sqrt(area / math.pi)


# --------------------------------------------------------------------------------------------
# compute side: optiland (imported lazily)
# --------------------------------------------------------------------------------------------

def _F(v) -> float:
    return float(np.ravel(np.asarray(v))[0])


class TracedLens:
    """A DeepLens JSON prescription as an optiland Optic, traced with rays launched by hand."""

    def __init__(self, path: Path):
        import warnings
        warnings.filterwarnings("ignore")
        from optiland.materials import AbbeMaterial
        from optiland.optic import Optic
        from optiland.rays import RealRays
        self._RealRays = RealRays
        self.path = Path(path)
        self.name = self.path.stem
        spec = json.loads(self.path.read_text())
        self.spec = spec
        surfs = spec["surfaces"]
        op = Optic()
        op.surfaces.add(index=0, radius=np.inf, thickness=np.inf)
        self.stop = None
        r_semi = []
        for i, s in enumerate(surfs):
            typ = s["type"]
            is_stop = typ in ("Aperture", "Stop")
            roc = float(s.get("roc", 0.0) or 0.0)
            radius = np.inf if (is_stop or roc == 0.0) else roc
            mat2 = s.get("mat2", "air")
            mat = "air" if mat2 == "air" else AbbeMaterial(*map(float, mat2.split("/")),
                                                              model="buchdahl")
            kw = dict(index=i + 1, radius=radius, thickness=float(s["d_next"]), material=mat)
            if is_stop:
                kw["is_stop"] = True
                self.stop = i
            if typ == "Aspheric":
                kw.update(surface_type="even_asphere", conic=float(s.get("k", 0.0)),
                          coefficients=[float(a) for a in s["ai"]])
            elif typ not in ("Spheric", "Aperture", "Stop"):
                raise ValueError(f"{self.name}: surface type {typ!r} not supported")
            op.surfaces.add(**kw)
            r_semi.append(float(s["r"]))
        op.surfaces.add(index=len(surfs) + 1)
        if self.stop is None:
            raise ValueError(f"{self.name}: no aperture stop")
        self.r_semi = np.array(r_semi)
        self.r_stop0 = self.r_semi[self.stop]
        op.set_aperture(aperture_type="float_by_stop_size", value=2 * self.r_stop0)
        op.fields.set_type(field_type="angle")
        op.fields.add(y=0)
        op.wavelengths.add(value=G_REF, is_primary=True)
        self.optic = op
        p = op.paraxial
        self.f = _F(p.f2())
        self.epd = _F(p.EPD())
        try:
            self.z_ep = _F(p.entrance_pupil_axial_position())
        except Exception:  # older optiland
            self.z_ep = _F(p.EPL())
        self.F0 = self.f / self.epd
        self.z_img = _F(op.surfaces.surfaces[-1].geometry.cs.z)
        self.dz_um = 0.0  # refocus, applied to every trace
        self.r_sensor = float(spec["r_sensor"])
        self.d_sensor = float(spec.get("d_sensor", spec.get("(d_sensor)", self.z_img)))

    # -- rays ---------------------------------------------------------------------------------
    def trace(self, theta: float, u, v, wl: float) -> dict:
        """Rays of a collimated beam at field angle theta (rad, towards +y on the image) through
        launch-plane points (u, v) (mm, plane perpendicular to the beam, v in the y-z plane,
        (0, 0) aimed at the paraxial entrance pupil centre).  Units: um for x, y, opl."""
        u = np.atleast_1d(np.asarray(u, float)).ravel()
        v = np.atleast_1d(np.asarray(v, float)).ravel()
        s0 = np.array([0.0, math.sin(theta), math.cos(theta)])
        ev = np.array([0.0, math.cos(theta), -math.sin(theta)])
        D = self.z_ep / max(math.cos(theta), 0.2) + self.epd + 20.0
        C = np.array([0.0, 0.0, self.z_ep]) - D * s0
        P = C[None] + u[:, None] * np.array([1.0, 0, 0])[None] + v[:, None] * ev[None]
        n = len(u)
        rays = self._RealRays(P[:, 0].copy(), P[:, 1].copy(), P[:, 2].copy(), np.zeros(n),
                              np.full(n, s0[1]), np.full(n, s0[2]), intensity=np.ones(n),
                              wavelength=np.full(n, wl))
        with np.errstate(all="ignore"):
            self.optic.surfaces.trace(rays, record=True)
            surfs = self.optic.surfaces.surfaces[1:-1]
            rad = np.stack([np.hypot(np.asarray(s.x), np.asarray(s.y)) for s in surfs])
            norm = rad / self.r_semi[:, None]
            others = np.delete(norm, self.stop, axis=0)
            g0 = np.where(np.isfinite(others).all(0), others.max(0), np.inf)
            rs = rad[self.stop]
            ys = np.asarray(surfs[self.stop].y, float)
            L, M, N = (np.asarray(a, float) for a in (rays.L, rays.M, rays.N))
            dz = self.dz_um
            x = np.asarray(rays.x, float) * 1e3 + L / N * dz
            y = np.asarray(rays.y, float) * 1e3 + M / N * dz
            opl = np.asarray(rays.opd, float) * 1e3 + dz / N
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(opl) & np.isfinite(L) & np.isfinite(M)
        ok &= np.isfinite(rs)
        return dict(x=x, y=y, L=L, M=M, N=N, opl=opl, g0=g0, rs=np.where(ok, rs, np.inf),
                    ys=ys, ok=ok)

    def chief(self, theta: float, wl: float) -> tuple[float, float]:
        """(v on the launch plane, image height um) of the real ray through the stop centre."""
        def ystop(v):
            return float(self.trace(theta, [0.0], [v], wl)["ys"][0])
        v0, v1 = 0.0, 0.02 * self.epd
        f0, f1 = ystop(v0), ystop(v1)
        for _ in range(30):
            if abs(f1) < 1e-9 or f1 == f0:
                break
            v0, v1, f0 = v1, v1 - f1 * (v1 - v0) / (f1 - f0), f1
            f1 = ystop(v1)
        r = self.trace(theta, [0.0], [v1], wl)
        if not r["ok"][0]:
            raise RuntimeError(f"{self.name}: chief ray fails at {math.degrees(theta):.2f} deg")
        return v1, float(r["y"][0])

    def field_angle(self, h_um: float) -> float:
        """Field angle (rad) whose G chief ray lands at image height h_um."""
        if h_um == 0:
            return 0.0
        t0 = math.atan(h_um * 1e-3 / self.f)
        t1 = t0 * 1.02
        g0 = self.chief(t0, G_REF)[1] - h_um
        g1 = self.chief(t1, G_REF)[1] - h_um
        for _ in range(40):
            if abs(g1) < 1e-4 or g1 == g0:
                break
            t0, t1, g0 = t1, t1 - g1 * (t1 - t0) / (g1 - g0), g1
            g1 = self.chief(t1, G_REF)[1] - h_um
        if abs(g1) > 1e-2:
            raise RuntimeError(f"{self.name}: no field angle reaches h = {h_um:.0f} um")
        return t1

    def pupil_box(self, theta: float, r_stop: float, n: int = 48) -> tuple:
        """Launch-plane box (umin, umax, vmin, vmax) holding every transmitted ray (any colour)."""
        A = 0.5 * self.epd * 1.6
        for _ in range(6):
            g = np.linspace(-A, A, n)
            uu, vv = np.meshgrid(g, g)
            keep = np.zeros(uu.size, bool)
            for wl in (WAVELENGTHS[0], G_REF, WAVELENGTHS[-1]):
                r = self.trace(theta, uu, vv, wl)
                keep |= r["ok"] & (r["g0"] <= 1) & (r["rs"] <= r_stop)
            if not keep.any():
                raise RuntimeError(f"{self.name}: no ray gets through at "
                                   f"{math.degrees(theta):.2f} deg")
            step = g[1] - g[0]
            box = (uu.ravel()[keep].min(), uu.ravel()[keep].max(),
                   vv.ravel()[keep].min(), vv.ravel()[keep].max())
            if max(abs(b) for b in box) < A - 1.5 * step:
                pad = 1.5 * step
                return box[0] - pad, box[1] + pad, box[2] - pad, box[3] + pad
            A *= 1.5
        raise RuntimeError(f"{self.name}: pupil box does not converge")

    def grid_rays(self, theta, box, n, wl):
        uu, vv = np.meshgrid(np.linspace(box[0], box[1], n), np.linspace(box[2], box[3], n))
        return self.trace(theta, uu, vv, wl)

    def refocus(self) -> dict:
        """Move the image plane to the best Bayer-weighted RMS spot on axis, design aperture."""
        W = channel_weights()
        wb = 0.25 * W[0] + 0.5 * W[1] + 0.25 * W[2]
        box = self.pupil_box(0.0, self.r_stop0)
        A = B = C = 0.0
        self.dz_um = 0.0
        for wl, w in zip(WAVELENGTHS, wb):
            r = self.grid_rays(0.0, box, 121, wl)
            k = r["ok"] & (r["g0"] <= 1) & (r["rs"] <= self.r_stop0)
            x, y, a, b = r["x"][k], r["y"][k], (r["L"] / r["N"])[k], (r["M"] / r["N"])[k]
            A += w * np.mean(x * x + y * y)
            B += w * np.mean(x * a + y * b)
            C += w * np.mean(a * a + b * b)
        dz = -B / C
        self.dz_um = dz
        return dict(dz_um=dz, rms_file_um=math.sqrt(A), rms_best_um=math.sqrt(A + 2 * B * dz + C * dz * dz))


class _PupilMap:
    """Ray data on the regular launch grid, evaluated at arbitrary direction cosines (L, M).

    The launch-grid -> (L, M) map is smooth and nearly affine: it is inverted by Newton steps
    on cubic splines of L and M; T, x, y are then cubic-spline interpolated, the aperture
    margins (g0, rs) and the ray validity linearly."""

    def __init__(self, r: dict, n: int, origin_y: float):
        ok = r["ok"].reshape(n, n)
        with np.errstate(invalid="ignore"):
            T = r["opl"] - r["L"] * r["x"] - r["M"] * (r["y"] - origin_y)
        T = T - np.median(T[r["ok"]])
        arrs = dict(L=r["L"], M=r["M"], T=T, x=r["x"], y=r["y"] - origin_y,
                    g0=np.minimum(r["g0"], 10.0), rs=np.minimum(r["rs"], 1e3))
        arrs = {k: np.asarray(v, float).reshape(n, n) for k, v in arrs.items()}
        if not ok.all():
            idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
            arrs = {k: v[idx[0], idx[1]] for k, v in arrs.items()}
        self.n = n
        self.c3 = {k: ndimage.spline_filter(arrs[k], order=3, mode="nearest")
                   for k in ("L", "M", "T", "x", "y")}
        self.c1 = {k: arrs[k] for k in ("g0", "rs")}
        self.valid = ok.astype(float)
        ii, jj = np.nonzero(ok)
        A = np.c_[np.ones(ii.size), ii, jj]
        self.aff = np.linalg.lstsq(A, np.c_[arrs["L"][ok], arrs["M"][ok]], rcond=None)[0]

    def _ev(self, key, i, j):
        return ndimage.map_coordinates(self.c3[key], [i, j], order=3, mode="nearest",
                                       prefilter=False)

    def sample(self, l: np.ndarray, m: np.ndarray) -> dict:
        shape = l.shape
        l, m = l.ravel(), m.ravel()
        a = self.aff
        J0 = np.array([[a[1, 0], a[2, 0]], [a[1, 1], a[2, 1]]])  # d(L,M)/d(i,j)
        ij = np.linalg.solve(J0, np.stack([l - a[0, 0], m - a[0, 1]]))
        i, j = ij[0], ij[1]
        h = 0.25
        for _ in range(8):
            Lv, Mv = self._ev("L", i, j), self._ev("M", i, j)
            rl, rm = l - Lv, m - Mv
            Li = (self._ev("L", i + h, j) - Lv) / h
            Lj = (self._ev("L", i, j + h) - Lv) / h
            Mi = (self._ev("M", i + h, j) - Mv) / h
            Mj = (self._ev("M", i, j + h) - Mv) / h
            det = Li * Mj - Lj * Mi
            det = np.where(np.abs(det) < 1e-300, 1e-300, det)
            di = (Mj * rl - Lj * rm) / det
            dj = (-Mi * rl + Li * rm) / det
            i = np.clip(i + di, -2, self.n + 1)
            j = np.clip(j + dj, -2, self.n + 1)
        res = np.hypot(l - self._ev("L", i, j), m - self._ev("M", i, j))
        inside = (i >= 0) & (i <= self.n - 1) & (j >= 0) & (j <= self.n - 1) & (res < 1e-7)
        valid = ndimage.map_coordinates(self.valid, [i, j], order=1, mode="constant", cval=0.0)
        out = dict(ok=inside & (valid > 0.999))
        for k in ("T", "x", "y"):
            out[k] = self._ev(k, i, j).reshape(shape)
        for k in ("g0", "rs"):
            out[k] = ndimage.map_coordinates(self.c1[k], [i, j], order=1, mode="nearest").reshape(shape)
        out["ok"] = out["ok"].reshape(shape)
        return out


def _mono_psf(r: dict, pm: _PupilMap, wl: float, r_stop: float, win: float, samp: float):
    """One wavelength's PSF (sums to 1) on the grid w x w (w = +-win at samp, um, origin = the
    map's origin), the transmitted pupil's area in (L, M) and its ray-average position (y, x)."""
    ok = r["ok"]
    trans = ok & (r["g0"] <= 1) & (r["rs"] <= r_stop)
    Lt, Mt = r["L"][trans], r["M"][trans]
    lc, mc = 0.5 * (Lt.min() + Lt.max()), 0.5 * (Mt.min() + Mt.max())
    dl = min(max(np.ptp(Lt), np.ptp(Mt)) / 64, wl / (2.2 * win))
    nx = int(math.ceil(np.ptp(Lt) / dl)) + 4
    ny = int(math.ceil(np.ptp(Mt) / dl)) + 4
    lg = (np.arange(nx) - (nx - 1) / 2) * dl
    mg = (np.arange(ny) - (ny - 1) / 2) * dl
    GL, GM = np.meshgrid(lg + lc, mg + mc)
    v = pm.sample(GL, GM)
    mask = v["ok"] & (v["g0"] <= 1) & (v["rs"] <= r_stop)
    k0 = 2 * math.pi / wl
    P = np.where(mask, np.exp(1j * k0 * np.where(mask, v["T"], 0.0)), 0).astype(np.complex64)
    M_half = int(math.ceil(win / samp))
    w = np.arange(-M_half, M_half + 1) * samp
    Ex = np.exp(1j * k0 * np.outer(w, lg)).astype(np.complex64)
    Ey = np.exp(1j * k0 * np.outer(w, mg)).astype(np.complex64)
    U = Ey @ P @ Ex.T
    I = U.real.astype(np.float64) ** 2 + U.imag.astype(np.float64) ** 2
    I /= I.sum()
    return I, w, mask.sum() * dl * dl, (float(v["y"][mask].mean()), float(v["x"][mask].mean()))


def validate(name: str, f_numbers=(4.0, 8.0), lens_folder: Path = LENS_FOLDER, log=print) -> None:
    """On-axis 0.55 um PSF of this module vs optiland's own FFTPSF (encircled energy), and the
    relative illumination from (L, M) pupil areas vs from launch-plane beam areas."""
    from optiland.psf import FFTPSF
    lens = TracedLens(Path(lens_folder) / f"{name}.json")
    lens.refocus()
    op = lens.optic
    n_s = len(lens.r_semi)
    op.set_thickness(_F(op.surfaces.surfaces[n_s].thickness) + lens.dz_um * 1e-3, n_s)
    lens.dz_um = 0.0  # the optic itself now carries the refocus
    box = lens.pupil_box(0.0, lens.r_stop0)
    for F in f_numbers:
        r_stop = lens.r_stop0 * lens.F0 / F
        r = lens.grid_rays(0.0, box, 301, G_REF)
        pm = _PupilMap(r, 301, 0.0)
        I, w, _, _ = _mono_psf(r, pm, G_REF, r_stop, 12 * G_REF * F + 10, 0.1)
        op.set_aperture(aperture_type="EPD", value=lens.f / F)
        ref = FFTPSF(op, (0, 0), G_REF, num_rays=256, grid_size=2048)
        R = np.asarray(ref.psf, float)
        R /= R.sum()
        Q = ref.grid_size / (ref.num_rays - 1)
        dx = G_REF * _F(ref._get_working_FNO()) / Q
        def ee(img, step, radii):
            n = img.shape[0]
            a = (np.arange(n) - (n - 1) / 2) * step
            rr = np.hypot(a[:, None], a[None, :])
            return [float(img[rr <= q].sum()) for q in radii]
        radii = np.array([0.5, 1.0, 1.5, 2.0, 3.0]) * G_REF * F
        e1 = ee(I, 0.1, radii)
        n = R.shape[0]
        c = np.unravel_index(np.argmax(R), R.shape)
        e2 = ee(np.roll(R, ((n - 1) // 2 - c[0], (n - 1) // 2 - c[1]), (0, 1)), dx, radii)
        log(f"{name} f/{F:g} on axis, 0.55 um, encircled energy at r = "
            f"{', '.join(f'{q:.1f}' for q in radii)} um: this module "
            f"{', '.join(f'{v:.3f}' for v in e1)}; optiland FFTPSF {', '.join(f'{v:.3f}' for v in e2)}")
    op.set_aperture(aperture_type="float_by_stop_size", value=2 * lens.r_stop0)
    # relative illumination two ways, at f/8 (no vignetting by the rims)
    r_stop = lens.r_stop0 * lens.F0 / 8.0
    out = []
    for rho in (0.0, 0.5, 1.0):
        th = lens.field_angle(rho * lens.r_sensor * 1e3)
        bx = lens.pupil_box(th, r_stop)
        n = 201
        rr = lens.grid_rays(th, bx, n, G_REF)
        pm = _PupilMap(rr, n, 0.0)
        _, _, area, _ = _mono_psf(rr, pm, G_REF, r_stop, 20.0, 1.0)
        trans = rr["ok"] & (rr["g0"] <= 1) & (rr["rs"] <= r_stop)
        beam = trans.sum() * (bx[1] - bx[0]) * (bx[3] - bx[2]) / (n - 1) ** 2
        # image area per object solid angle: radial dh/dtheta times sagittal h/sin(theta)
        h = lambda t: lens.chief(t, G_REF)[1] * 1e-3
        if th == 0:
            jac = lens.f ** 2
        else:
            dt = 1e-4
            jac = (h(th + dt) - h(th - dt)) / (2 * dt) * h(th) / math.sin(th)
        out.append((rho, area, beam / jac))
    log(f"{name} f/8 relative illumination, (L,M) pupil area vs beam area / image Jacobian: " +
        ", ".join(f"rho {q:.1f}: {a / out[0][1]:.3f} vs {b / out[0][2]:.3f}" for q, a, b in out))


def _pack(psf: np.ndarray, bits: int = MANTISSA_BITS) -> tuple[np.ndarray, float]:
    """(float16 array, scale) with psf ~= array * scale: scale is a power of two putting the
    largest sample near 2^15, so every sample down to 1e-9 of it is a normal float16 (a wide PSF
    summing to 1 has samples ~1e-6, float16's subnormal range); the mantissa is rounded to
    ``bits`` bits (the zeroed bits compress away)."""
    psf = np.asarray(psf, np.float64)
    k = int(math.floor(math.log2(32768.0 / psf.max())))
    u = (psf * 2.0 ** k).astype(np.float16).view(np.uint16).astype(np.uint32)
    drop = 10 - bits
    u = ((u + (1 << (drop - 1))) >> drop) << drop
    return u.astype(np.uint16).view(np.float16), 2.0 ** -k


def _resample(psf: np.ndarray, s: float, s_new: float, half: float) -> np.ndarray:
    """Band-limit maps (..., S, S) sampled at s to 1/(2 s_new) and sample them at s_new over
    +-half (centre kept at the centre): exact Fourier interpolation by matrix DFT."""
    S = psf.shape[-1]
    f = np.fft.fftfreq(S, s)
    keep = np.abs(f) < 0.5 / s_new
    x = (np.arange(S) - (S - 1) / 2) * s
    n = int(half / s_new)
    xn = np.arange(-n, n + 1) * s_new
    A = np.exp(-2j * np.pi * np.outer(f[keep], x))  # forward DFT restricted to kept freqs
    B = np.exp(2j * np.pi * np.outer(xn, f[keep])) / S  # inverse at new positions
    Mx = (B @ A).real  # (n', S): band-limited interpolation matrix along one axis
    out = (Mx @ psf @ Mx.T) * (s_new / s) ** 2
    out = np.clip(out, 0, None)
    return out / out.sum(axis=(-2, -1), keepdims=True)


def _extra_meta(lens: TracedLens, thetas, F_list) -> dict:
    """Working f-numbers (on axis, from the G pupil's area in (L, M): NA = sqrt(area / pi)) and
    the tangential / sagittal G foci of every field relative to the image plane (um)."""
    box = lens.pupil_box(0.0, lens.r_stop0)
    n = 301
    r = lens.grid_rays(0.0, box, n, G_REF)
    pm = _PupilMap(r, n, 0.0)
    f_work = {}
    for F in F_list:
        _, _, area, _ = _mono_psf(r, pm, G_REF, lens.r_stop0 * lens.F0 / F, 10.0, 1.0)
        f_work[F] = 1 / (2 * math.sqrt(area / math.pi))
    foci = []
    for th in thetas:
        vc, _ = lens.chief(th, G_REF)
        d = 0.02 * lens.epd
        rt = lens.trace(th, [0.0, 0.0], [vc - d, vc + d], G_REF)
        rs = lens.trace(th, [-d, d], [vc, vc], G_REF)
        zt = -(rt["y"][1] - rt["y"][0]) / (rt["M"][1] / rt["N"][1] - rt["M"][0] / rt["N"][0])
        zs = -(rs["x"][1] - rs["x"][0]) / (rs["L"][1] / rs["N"][1] - rs["L"][0] / rs["N"][0])
        foci.append((zt, zs))
    return dict(f_work=f_work, foci=np.array(foci))


def refresh_meta(name: str, lens_folder: Path = LENS_FOLDER, folder: Path = PSF_FOLDER,
                 log=print) -> None:
    """Recompute the cheap metadata (_extra_meta) of existing tables and rewrite them."""
    lens = TracedLens(Path(lens_folder) / f"{name}.json")
    lens.refocus()
    Fs = f_numbers(name, folder)
    with np.load(Path(folder) / _fname(name, Fs[0])) as z0:
        thetas = np.radians(z0["field_angle_deg"])
    meta = _extra_meta(lens, thetas, Fs)
    for F in Fs:
        path = Path(folder) / _fname(name, F)
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        d["f_number_working"] = np.float64(meta["f_work"][F])
        d["focus_tan_sag_um"] = meta["foci"]
        if F == Fs[0]:  # the design aperture is labelled by its working f-number
            d["f_number"] = np.float64(round(meta["f_work"][F], 2))
            path.unlink()
            path = Path(folder) / _fname(name, float(d["f_number"]))
        np.savez_compressed(path, **d)
    log(f"{name}: working f-numbers " + ", ".join(f"{F:g}->{meta['f_work'][F]:.2f}" for F in Fs)
        + "; G tangential/sagittal focus vs image plane (um) by rho: "
        + ", ".join(f"{r:g}: {t:+.0f}/{s_:+.0f}" for r, (t, s_) in zip(RHOS, meta["foci"])))
    load_table.cache_clear()
    _psf_grid.cache_clear()


def repack(folder: Path = PSF_FOLDER) -> None:
    """Rewrite float32 tables (as computed) for storage: band-limited resampling to
    STORE_SAMPLE_UM where finer, then scaled float16 (``_pack``)."""
    for path in sorted(Path(folder).glob("*__f*.npz")):
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        if d["psf"].dtype == np.float16:
            continue
        p, s = d["psf"].astype(np.float64), float(d["sample_um"])
        if s < STORE_SAMPLE_UM:
            p = _resample(p, s, STORE_SAMPLE_UM, float(d["half_width_um"]))
            d["sample_um"] = np.float64(STORE_SAMPLE_UM)
            d["half_width_um"] = np.float64((p.shape[-1] - 1) / 2 * STORE_SAMPLE_UM)
        d["psf"], scale = _pack(p)
        d["psf_scale"] = np.float64(scale)
        np.savez_compressed(path, **d)


def _fnums(F0: float) -> list[float]:
    return [round(F0, 2)] + [f for f in STOPS if f > F0 * 1.03]


def compute_lens(name: str, lens_folder: Path = LENS_FOLDER, out_folder: Path = PSF_FOLDER,
                 n_rays: int = 301, fnums: list[float] | None = None, log=print) -> list[Path]:
    """Trace one lens and write its tables; returns the files written."""
    t_start = time.time()
    lens = TracedLens(Path(lens_folder) / f"{name}.json")
    spec = lens.spec
    f_file = float(spec.get("foclen", float("nan")))
    log(f"== {name}: {spec.get('info', '')}")
    log(f"   paraxial f = {lens.f:.2f} mm (file {f_file:.2f}, {100 * (lens.f / f_file - 1):+.1f} %),"
        f" EPD {lens.epd:.2f} mm, design F/{lens.F0:.3f} (file fnum {spec.get('fnum', float('nan')):.3f}),"
        f" r_sensor {lens.r_sensor} mm")
    foc = lens.refocus()
    log(f"   focus: best RMS spot on axis is {foc['dz_um']:+.1f} um from the file's image plane "
        f"(RMS {foc['rms_file_um']:.2f} -> {foc['rms_best_um']:.2f} um); refocused there")
    F_list = _fnums(lens.F0) if fnums is None else [round(lens.F0, 2) if f <= 0 else f for f in fnums]
    r_stop = {F: lens.r_stop0 * lens.F0 / F for F in F_list}
    W = channel_weights()
    wls = np.array(WAVELENGTHS)
    nf = len(RHOS)

    # fields: angle, chief rays per wavelength
    thetas, chief_y = [], np.zeros((nf, len(wls)))
    for fi, rho in enumerate(RHOS):
        th = lens.field_angle(rho * lens.r_sensor * 1e3)
        thetas.append(th)
        for li, wl in enumerate(wls):
            chief_y[fi, li] = lens.chief(th, wl)[1]
    origin = chief_y[:, list(wls).index(G_REF)]
    dist = [origin[i] / (math.tan(t) * lens.f * 1e3) - 1 if t else 0.0
            for i, t in enumerate(thetas)]
    log(f"   full field: {math.degrees(thetas[-1]):.2f} deg for h = {origin[-1] / 1e3:.3f} mm "
        f"(paraxial f tan t = {lens.f * math.tan(thetas[-1]):.3f} mm, distortion {100 * dist[-1]:+.2f} %)")

    # pre-pass: windows and sampling per f-number
    boxes = [lens.pupil_box(th, lens.r_stop0) for th in thetas]
    r_geo = {F: 0.0 for F in F_list}
    dl_max = {F: 0.0 for F in F_list}
    na_axis = {F: 0.0 for F in F_list}
    drift = {}
    wb = 0.25 * W[0] + 0.5 * W[1] + 0.25 * W[2]
    for fi, th in enumerate(thetas):
        for wl in (wls[0], G_REF, wls[-1]):
            r = lens.grid_rays(th, boxes[fi], 81, wl)
            for F in F_list:
                k = r["ok"] & (r["g0"] <= 1) & (r["rs"] <= r_stop[F])
                if k.sum() < 20:
                    raise RuntimeError(f"{name}: too few rays at rho {RHOS[fi]} f/{F}")
                rad = np.hypot(r["x"][k], r["y"][k] - origin[fi])
                r_geo[F] = max(r_geo[F], float(np.percentile(rad, 99.8)))
                dl_max[F] = max(dl_max[F], np.ptp(r["L"][k]), np.ptp(r["M"][k]))
                if fi == 0:
                    na_axis[F] = max(na_axis[F], float(np.hypot(r["L"][k], r["M"][k]).max()))
    # best-focus drift with aperture (on axis, same weighting as the refocus)
    for F in F_list:
        B = C = 0.0
        for wl, w in zip(wls, wb):
            if w == 0:
                continue
            r = lens.grid_rays(0.0, boxes[0], 81, wl)
            k = r["ok"] & (r["g0"] <= 1) & (r["rs"] <= r_stop[F])
            x, y, a, b = r["x"][k], r["y"][k], (r["L"] / r["N"])[k], (r["M"] / r["N"])[k]
            B += w * np.mean(x * a + y * b)
            C += w * np.mean(a * a + b * b)
        drift[F] = -B / C
    win, samp = {}, {}
    for F in F_list:
        F_eff = 1 / (2 * na_axis[F])
        win[F] = min(R_COMPUTE_UM, r_geo[F] + 8 * wls[-1] * F_eff + 4.0)
        s_nyq = wls[0] / (2 * dl_max[F])
        samp[F] = max(MIN_SAMPLE_UM, math.floor(s_nyq * 20) / 20)
    log("   windows: " + ", ".join(f"f/{F:g}: +-{win[F]:.0f} um @ {samp[F]:.2f} um" for F in F_list))

    # main pass
    M_half = {F: int(math.ceil(win[F] / samp[F])) for F in F_list}
    acc = {F: np.zeros((nf, 3, 2 * M_half[F] + 1, 2 * M_half[F] + 1)) for F in F_list}
    cen_psf = {F: np.zeros((nf, 3, 2)) for F in F_list}
    cen_geo = {F: np.zeros((nf, 3, 2)) for F in F_list}
    area = {F: np.zeros(nf) for F in F_list}
    for fi, th in enumerate(thetas):
        t_field = time.time()
        for li, wl in enumerate(wls):
            r = lens.grid_rays(th, boxes[fi], n_rays, wl)
            pm = _PupilMap(r, n_rays, origin[fi])
            for F in F_list:
                I, w, mask_area, (gy, gx) = _mono_psf(r, pm, wl, r_stop[F], win[F], samp[F])
                cy = float((I.sum(1) * w).sum())
                cx = float((I.sum(0) * w).sum())
                for c in range(3):
                    if W[c, li] > 0:
                        acc[F][fi, c] += W[c, li] * I
                        cen_psf[F][fi, c] += W[c, li] * np.array([cy, cx])
                        cen_geo[F][fi, c] += W[c, li] * np.array([gy, gx])
                if wl == G_REF:
                    area[F][fi] = mask_area
        log(f"   rho {RHOS[fi]:.2f}: {math.degrees(th):6.2f} deg, {time.time() - t_field:5.1f} s")

    meta = _extra_meta(lens, thetas, F_list)
    written = []
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    ch_y = (W @ chief_y.T).T - origin[:, None]  # weighted chief-ray heights per channel vs origin
    for F in F_list:
        psf = acc[F]
        S = psf.shape[-1]
        s = samp[F]
        # crop: smallest centred square holding >= KEEP_ENERGY of every map's energy
        c0 = (S - 1) // 2
        keep_half = min(c0, int(R_CAP_UM / s))
        for h in range(4, keep_half):
            e = psf[..., c0 - h:c0 + h + 1, c0 - h:c0 + h + 1].sum((-2, -1))
            if e.min() >= KEEP_ENERGY:
                keep_half = h
                break
        crop = psf[..., c0 - keep_half:c0 + keep_half + 1, c0 - keep_half:c0 + keep_half + 1]
        kept = crop.sum((-2, -1))
        crop = crop / kept[..., None, None]
        p16, scale = _pack(crop)
        nz = crop > 1e-9 * crop.max()
        err = float((np.abs(p16.astype(np.float64) * scale - crop)[nz] / crop[nz]).max())
        label = round(meta["f_work"][F], 2) if F == F_list[0] else F
        path = out_folder / _fname(name, label)
        np.savez_compressed(
            path, psf=crop.astype(np.float32), sample_um=np.float64(s), half_width_um=np.float64(keep_half * s),
            rho=np.array(RHOS), field_angle_deg=np.degrees(thetas), chief_y_um=chief_y,
            origin_y_um=origin, centroid_um=cen_psf[F], geo_centroid_um=cen_geo[F],
            chief_offset_um=ch_y, energy_kept=kept, rel_illum=area[F] / area[F][0],
            wavelengths_um=wls, weights=W, lens=np.array(name), f_number=np.float64(label),
            f_number_design=np.float64(lens.F0), f_number_working=np.float64(meta["f_work"][F]),
            focus_tan_sag_um=meta["foci"],
            foclen_mm=np.float64(lens.f), foclen_file_mm=np.float64(f_file),
            r_sensor_mm=np.float64(lens.r_sensor), focus_shift_um=np.float64(lens.dz_um),
            best_focus_drift_um=np.float64(drift[F]),
            distortion=np.array(dist), orientation=np.array(ORIENTATION),
            info=np.array(str(spec.get("info", ""))))
        written.append(path)
        log(f"   f/{F:g}: F_work {meta['f_work'][F]:.2f}, window +-{keep_half * s:.1f} um "
            f"(S={2 * keep_half + 1} @ {s:.2f} um, min energy kept {kept.min():.4f}), "
            f"stored to {err:.1e} relative, {path.stat().st_size / 1e3:.0f} kB, "
            f"best-focus drift {drift[F]:+.1f} um, RI corner {area[F][-1] / area[F][0]:.2f}")
        for fi in (0, nf // 2, nf - 1):
            pc, gc, ch = cen_psf[F][fi], cen_geo[F][fi], ch_y[fi]
            log(f"      rho {RHOS[fi]:.2f}: R-G / B-G centroid (radial, um) psf "
                f"{pc[0, 0] - pc[1, 0]:+.2f} / {pc[2, 0] - pc[1, 0]:+.2f}, rays "
                f"{gc[0, 0] - gc[1, 0]:+.2f} / {gc[2, 0] - gc[1, 0]:+.2f}, chief rays "
                f"{ch[0] - ch[1]:+.2f} / {ch[2] - ch[1]:+.2f}")
    repack(out_folder)  # storage format: band-limited to STORE_SAMPLE_UM, scaled float16
    log(f"   {name}: {time.time() - t_start:.0f} s")
    return written


# --------------------------------------------------------------------------------------------
# checks, summary, picture
# --------------------------------------------------------------------------------------------

def airy_first_min(d: dict, channel: int = 1) -> float:
    """Radius (um) of the first minimum of the centre PSF's azimuthal mean."""
    p = d["psf"][0, channel]
    S = p.shape[-1]
    s = float(d["sample_um"])
    up = max(1, int(math.ceil(s / 0.1)))
    F = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(p)))
    F = np.pad(F, (S * up - S) // 2)
    q = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(F))))
    n = q.shape[0]
    a = (np.arange(n) - (n - 1) / 2) * s * S / n
    rr = np.hypot(a[:, None], a[None, :])
    bins = np.arange(0, rr.max(), s * S / n)
    idx = np.digitize(rr.ravel(), bins)
    prof = np.bincount(idx, q.ravel(), minlength=len(bins) + 1) / np.maximum(
        np.bincount(idx, minlength=len(bins) + 1), 1)
    prof = prof[1:len(bins)]
    r_axis = bins[:-1] + 0.5 * (bins[1] - bins[0])
    for i in range(2, len(prof) - 1):
        if prof[i] < prof[i - 1] and prof[i] <= prof[i + 1]:
            return float(r_axis[i])
    return float("nan")


def check(folder=PSF_FOLDER, log=print) -> bool:
    """Sanity checks from the stored tables (no optiland)."""
    ok = True
    for lens in available_lenses(folder):
        fs = f_numbers(lens, folder)
        for F in fs:
            d = load_table(str(_table_path(lens, F, folder)))
            sums = d["psf"].sum((-2, -1))
            if np.abs(sums - 1).max() > 1e-6:
                ok = False
            cen, geo = d["centroid_um"], d["geo_centroid_um"]
            lat_psf = cen[:, [0, 2], 0] - cen[:, [1], 0]
            lat_geo = geo[:, [0, 2], 0] - geo[:, [1], 0]
            dev = float(np.abs(lat_psf - lat_geo).max())
            msg = (f"{lens:18s} f/{F:<5g} sums-1 {np.abs(sums - 1).max():.0e}; lateral colour "
                   f"R-G,B-G at corner {lat_psf[-1, 0]:+.2f},{lat_psf[-1, 1]:+.2f} um "
                   f"(psf vs rays max diff {dev:.2f} um)")
            if F >= 16:
                chief = d["chief_offset_um"][-1]
                dc = max(abs(lat_psf[-1, 0] - (chief[0] - chief[1])), abs(lat_psf[-1, 1] - (chief[2] - chief[1])))
                msg += f"; vs chief rays {dc:.2f} um"
                r1 = airy_first_min(d)
                ref = 1.22 * 0.53 * float(d["f_number_working"])
                good = abs(r1 / ref - 1) < 0.10
                ok &= good
                msg += f"; centre G first dark ring {r1:.2f} um vs 1.22*0.53*N_work {ref:.2f} ({'ok' if good else 'OFF'})"
            if F == fs[0]:
                m2c = second_moment(node_kernel(lens, F, 0.0, 4.0, 41)[1:2])[0]
                m2e = second_moment(node_kernel(lens, F, 1.0, 4.0, 41)[1:2])[0]
                msg += f"; wide open G M2 centre {m2c:.2f} -> corner {m2e:.2f} px^2 @4um"
                ok &= bool(m2e > m2c)
            log(msg)
    return ok


def summary(folder=PSF_FOLDER, pitch_um: float = 4.0, frame=(4000, 6000), lenses=None,
            fnums=None, log=print) -> list[dict]:
    """Per lens and f-number: G second moment at the centre and corner, FWHM, lateral colour,
    energy outside 13x13 at the corner (corner = node (0, 0) of an 8x8 grid of a 3:2 frame)."""
    H, W_ = frame
    rows = []
    log(f"pitch {pitch_um} um, frame {H}x{W_}; M2 = G second moment (px^2) of the 13x13 kernel "
        f"[41x41]; FWHM = optical (before pixels) half-max width, px; LC = R-B centroid, radial, px "
        f"(+ = red outwards); out13 = G energy outside 13x13 (uncropped kernel), corner")
    log(f"{'lens':18s} {'f/':>6s} {'Fwork':>5s} {'M2 ctr':>13s} {'M2 corner':>14s} {'FWHM c/e':>10s} "
        f"{'LC corner':>9s} {'out13':>6s} {'RI':>5s} {'win um':>6s}")
    for lens in (lenses or available_lenses(folder)):
        fs = f_numbers(lens, folder)
        chosen = fs if not fnums else sorted({fs[0] if g <= 0 else min(fs, key=lambda f: abs(math.log(f / g)))
                                              for g in fnums if g <= 0 or any(abs(math.log(f / g)) < 0.03 for f in fs)})
        for F in chosen:
            d = load_table(str(_table_path(lens, F, folder)))
            g = psf_grid(lens, F, H, W_, pitch_um, size=13, folder=folder)
            corner = g[0, 0]
            centre = node_kernel(lens, F, 0.0, pitch_um, 13, folder=folder)
            big_c = node_kernel(lens, F, 0.0, pitch_um, 41, folder=folder)
            full = psf_grid(lens, F, H, W_, pitch_um, size=None, folder=folder)[0, 0]
            big_e = _inner(full, 41) if full.shape[-1] > 41 else full
            big_e = big_e / big_e.sum((-2, -1), keepdims=True)
            out13 = 1 - float(_inner(full[1], 13).sum())
            cen = d["centroid_um"][-1]
            lc = (cen[0, 0] - cen[2, 0]) / pitch_um
            row = dict(lens=lens, f_number=F, f_work=float(d["f_number_working"]),
                       m2_centre=float(second_moment(centre[1])), m2_centre41=float(second_moment(big_c[1])),
                       m2_corner=float(second_moment(corner[1])), m2_corner41=float(second_moment(big_e[1])),
                       fwhm_centre=_half_max_width(d, 0.0) / pitch_um,
                       fwhm_corner=_half_max_width(d, 1.0) / pitch_um,
                       lc_corner_px=float(lc), out13_corner=out13,
                       rel_illum=float(d["rel_illum"][-1]), half_width_um=float(d["half_width_um"]))
            rows.append(row)
            log(f"{lens:18s} {F:6.2f} {row['f_work']:5.2f} {row['m2_centre']:5.2f} [{row['m2_centre41']:5.2f}] "
                f"{row['m2_corner']:5.2f} [{row['m2_corner41']:6.2f}] {row['fwhm_centre']:4.2f}/{row['fwhm_corner']:4.2f} "
                f"{row['lc_corner_px']:+9.2f} {row['out13_corner']:6.3f} {row['rel_illum']:5.2f} {row['half_width_um']:6.1f}")
    return rows


def _png(path: Path, rgb8: np.ndarray) -> None:
    import struct
    import zlib
    h, w, _ = rgb8.shape
    raw = b"".join(b"\x00" + rgb8[i].tobytes() for i in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def picture(lens: str, f_number: float, out: Path, pitch_um: float = 4.0, size: int = 13,
            frame=(4000, 6000), folder=PSF_FOLDER) -> Path:
    grid = psf_grid(lens, f_number, frame[0], frame[1], pitch_um, size=size, folder=folder)
    try:
        sys.path.insert(0, str(ROOT))
        from lenscal.report import save_psf_grid
        save_psf_grid(grid, Path(out))
    except Exception:  # no lenscal here (e.g. the optiland venv): same mosaic, plain PNG
        rows, cols, _, k, _ = grid.shape
        zoom, gap = 8, 4
        cell = k * zoom
        canvas = np.full((rows * (cell + gap) + gap, cols * (cell + gap) + gap, 3), 40, np.uint8)
        for r in range(rows):
            for c in range(cols):
                kern = np.transpose(grid[r, c], (1, 2, 0)).astype(np.float64)
                kern = np.clip(kern / max(kern.max(), 1e-12), 0, 1) ** 0.5
                tile = np.kron(kern, np.ones((zoom, zoom, 1)))
                y, x = gap + r * (cell + gap), gap + c * (cell + gap)
                canvas[y:y + cell, x:x + cell] = np.round(tile * 255).astype(np.uint8)
        _png(Path(out), canvas)
    return Path(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compute", help="trace lenses and write tables (needs optiland)")
    c.add_argument("--lenses", nargs="*", default=list(DEFAULT_LENSES))
    c.add_argument("--lens-folder", type=Path, default=LENS_FOLDER)
    c.add_argument("--out", type=Path, default=PSF_FOLDER)
    c.add_argument("--rays", type=int, default=301, help="rays across the pupil box")
    c.add_argument("--f-numbers", type=float, nargs="*", default=None)
    c.add_argument("--meta-only", action="store_true",
                   help="only recompute the cheap metadata of existing tables")
    s = sub.add_parser("summary", help="figures per lens and f-number (no optiland)")
    s.add_argument("--folder", type=Path, default=PSF_FOLDER)
    s.add_argument("--pitch", type=float, default=4.0)
    s.add_argument("--frame", default="4000x6000")
    s.add_argument("--lenses", nargs="*", default=None)
    s.add_argument("--f-numbers", type=float, nargs="*", default=None, help="0 = the design aperture")
    s.add_argument("--json", type=Path, default=None)
    v = sub.add_parser("validate", help="cross-checks against optiland (needs optiland)")
    v.add_argument("--lenses", nargs="*", default=["ef85mm_f1.8"])
    v.add_argument("--lens-folder", type=Path, default=LENS_FOLDER)
    k = sub.add_parser("check", help="sanity checks from the tables (no optiland)")
    k.add_argument("--folder", type=Path, default=PSF_FOLDER)
    p = sub.add_parser("picture", help="8x8 contact sheet of a lens's PSF grid")
    p.add_argument("--lens", required=True)
    p.add_argument("--f-number", type=float, required=True)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--pitch", type=float, default=4.0)
    p.add_argument("--size", type=int, default=13)
    p.add_argument("--folder", type=Path, default=PSF_FOLDER)
    a = ap.parse_args(argv)
    if a.cmd == "compute":
        for name in a.lenses:
            if a.meta_only:
                repack(a.out)
                refresh_meta(name, a.lens_folder, a.out)
                continue
            compute_lens(name, a.lens_folder, a.out, n_rays=a.rays, fnums=a.f_numbers,
                         log=lambda m: print(m, flush=True))
    elif a.cmd == "summary":
        fr = tuple(int(v) for v in a.frame.lower().split("x"))
        rows = summary(a.folder, a.pitch, fr, a.lenses, a.f_numbers)
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1))
    elif a.cmd == "validate":
        for name in a.lenses:
            validate(name, lens_folder=a.lens_folder)
    elif a.cmd == "check":
        return 0 if check(a.folder) else 1
    elif a.cmd == "picture":
        print(picture(a.lens, a.f_number, a.out, a.pitch, a.size, folder=a.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
