"""A synthetic lens and camera: real sharp photos -> DNG shoots with a KNOWN PSF field.

This is what tests, the demo and the benchmarks stand on: no real pair of apertures of one lens
is available, so real photos (the scenes) are imaged through a simulated lens (a spatially varying
RGB PSF grid), vignetted with lensfun's own model of a real lens, sampled by a Bayer sensor with
Poisson-Gaussian noise, and written as real DNG files that rawpy reads back.

The simulated body and lens claim to be a Panasonic DC-GX9 with the Lumix G 25mm f/1.7, a pair
lensfun knows with vignetting data, so devignetting runs for real. Every DNG says in its
ImageDescription that lenscal simulated it.

Lens model (pixel pitch 3.3 um, the GX9's):
- sharp aperture (f/5.6): near-diffraction-limited compact core at the centre, softer and
  astigmatic towards the corners;
- ``stopped`` extreme (f/16): diffraction dominated, an Airy pattern per wavelength (R wider than
  B), nearly uniform, mild growth to the corners;
- ``wide`` extreme (f/1.7): aberrations changing strongly across the frame (astigmatism, coma
  tail pointing outwards, a halo);
- lateral colour (aperture independent): R pushed outwards and B inwards radially, reaching
  about 1.5 px R-B in the corners.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from lenscal.io.dng import mosaic_from_rgb, write_dng
from lenscal.io.formats import IMAGE_EXTENSIONS
from lenscal.io.images import read_image, write_tiff
from lenscal.optics.blur import blur_image
from lenscal.optics.diffraction import WAVELENGTH_UM, airy
from lenscal.optics.psf import gaussian, node_positions
from lenscal.optics.vignetting import vignetting_gain
from lenscal.photo import Metadata
from lenscal.profile import LensProfile

PIXEL_PITCH_UM = 3.3
EXTREMES = {"stopped": 16.0, "wide": 1.7}
SHARP_F = 5.6


@dataclass(frozen=True)
class Sensor:
    """A 12-bit-ish Bayer sensor: levels, noise and the camera's colour response."""

    black: int = 512
    white: int = 16383
    full_well: float = 6000.0  # electrons at white, base ISO
    read_noise: float = 3.0  # electrons
    base_iso: float = 200.0
    response: tuple[float, float, float] = (0.52, 1.0, 0.71)  # raw R,G,B per unit of scene light
    cfa: str = "RGGB"


CAMERA = Metadata(make="Panasonic", model="DC-GX9", lens_make="Panasonic",
                  lens_model="Lumix G 25mm f/1.7 Asph.", focal_length=25.0)


# -- the lens ------------------------------------------------------------------------------------
def _convolve_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    out = np.clip(fftconvolve(a, b, mode="same"), 0, None)
    return out / out.sum()


def _node_kernel(kind: str, rho: float, angle: float, channel: int, size: int, band_um: float = 0.0) -> np.ndarray:
    """One channel's kernel at normalised radius rho (0 centre, 1 corner) and radial angle."""
    # lateral colour: R outwards, B inwards (px), aperture independent
    lc = (0.25 * rho + 0.5 * rho**3) * (1, 0, -1)[channel]
    dy, dx = lc * math.sin(angle), lc * math.cos(angle)
    # astigmatism: radial and tangential widths differ off axis; theta aligns sigma with the radius
    theta = angle - math.pi / 2  # gaussian()'s first axis is y; rotate so it runs along the radius
    if kind == "sharp":
        s_rad, s_tan = 0.3 + 0.5 * rho**2, 0.3 + 0.25 * rho**2
        return gaussian(s_rad, size, dy, dx, sigma_x=s_tan, theta=theta + math.pi / 2).numpy()
    if kind == "stopped":
        # band_um > 0: the channel integrates a band of wavelengths (flat across it), as a real
        # colour filter does, instead of its one effective wavelength: the rings wash out a little
        waves = WAVELENGTH_UM[channel] + np.linspace(-band_um / 2, band_um / 2, 9 if band_um > 0 else 1)
        core = np.mean([airy(size, w * EXTREMES["stopped"] / PIXEL_PITCH_UM) for w in waves], axis=0)
        s_rad, s_tan = 0.35 + 0.35 * rho**2, 0.35 + 0.15 * rho**2
        aberr = gaussian(s_rad, size, dy, dx, sigma_x=s_tan, theta=theta + math.pi / 2).numpy()
        return _convolve_small(core, aberr)
    if kind == "wide":
        s_rad, s_tan = 0.55 + 1.3 * rho**2, 0.55 + 0.45 * rho**2
        s_rad += 0.12 * abs(channel - 1)  # longitudinal colour: R and B a little softer
        s_tan += 0.12 * abs(channel - 1)
        core = gaussian(s_rad, size, dy, dx, sigma_x=s_tan, theta=theta + math.pi / 2).numpy()
        coma_shift = 1.8 * rho**2
        coma = gaussian(0.7 + 0.8 * rho, size, dy + coma_shift * math.sin(angle),
                        dx + coma_shift * math.cos(angle)).numpy()
        halo = gaussian(2.2, size, dy, dx).numpy()
        w_coma, w_halo = 0.35 * rho, 0.12 + 0.08 * rho
        k = (1 - w_coma - w_halo) * core + w_coma * coma + w_halo * halo
        return k / k.sum()
    raise ValueError(f"unknown lens state {kind!r}")


def lens_psf_grid(kind: str, height: int, width: int, rows: int = 8, cols: int = 8,
                  kernel_size: int = 13, band_um: float = 0.0) -> np.ndarray:
    """The PSF grid (rows, cols, 3, K, K) of the simulated lens for an image of this size."""
    pos = node_positions(rows, cols)
    half_diag = 0.5 * math.hypot(height, width)
    grid = np.zeros((rows, cols, 3, kernel_size, kernel_size), np.float64)
    for r in range(rows):
        for c in range(cols):
            y = (pos[r, c, 0] - 0.5) * (height - 1)
            x = (pos[r, c, 1] - 0.5) * (width - 1)
            rho, angle = math.hypot(y, x) / half_diag, math.atan2(y, x)
            for ch in range(3):
                grid[r, c, ch] = _node_kernel(kind, rho, angle, ch, kernel_size, band_um)
    return (grid / grid.sum(axis=(-2, -1), keepdims=True)).astype(np.float32)


# -- the camera ----------------------------------------------------------------------------------
def capture(scene: np.ndarray, grid: np.ndarray, meta: Metadata, sensor: Sensor,
            rng: np.random.Generator, tint: tuple[float, float, float] = (1, 1, 1)) -> tuple[np.ndarray, float]:
    """Image a linear scene through lens and sensor: (uint16 Bayer mosaic, RMS noise in white units).

    Order follows the light: lens blur, vignetting, colour filter response, photon and read
    noise, quantisation and clipping.
    """
    h, w = scene.shape[:2]
    img = blur_image(scene, grid)
    img *= vignetting_gain(meta, w, h, reverse=True)
    img *= np.asarray(tint, np.float32)
    img *= np.asarray(sensor.response, np.float32)
    mosaic = mosaic_from_rgb(np.clip(img, 0, None), sensor.cfa)
    electrons_at_white = sensor.full_well * sensor.base_iso / float(meta.iso or sensor.base_iso)
    electrons = rng.poisson(mosaic.astype(np.float64) * electrons_at_white)
    electrons = electrons + rng.normal(0.0, sensor.read_noise, size=electrons.shape)
    signal = electrons / electrons_at_white
    noise_rms = float(np.sqrt(np.mean((signal - mosaic) ** 2)))
    dn = sensor.black + signal * (sensor.white - sensor.black)
    return np.clip(np.round(dn), 0, sensor.white).astype(np.uint16), noise_rms


def load_scene(path: Path, megapixels: float | None = None, exposure: float = 0.85) -> np.ndarray:
    """A real photo as linear light, optionally resized (area averaging) to about ``megapixels``."""
    pixels, _ = read_image(path)
    if megapixels:
        h, w = pixels.shape[:2]
        f = math.sqrt(megapixels * 1e6 / (h * w))
        if abs(f - 1) > 0.02:
            size = (max(32, int(round(w * f / 2) * 2)), max(32, int(round(h * f / 2) * 2)))
            interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LANCZOS4
            pixels = np.clip(cv2.resize(pixels, size, interpolation=interp), 0, None)
    h, w = pixels.shape[:2]
    pixels = pixels[: h - h % 2, : w - w % 2]  # whole Bayer quads
    if pixels.shape[0] > pixels.shape[1]:  # a camera held in landscape orientation
        pixels = np.ascontiguousarray(np.rot90(pixels))
    return np.ascontiguousarray(pixels * exposure, dtype=np.float32)


def random_crop(scene: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A (height, width) window of ``scene`` at a random offset: a handheld reshoot's framing."""
    r0 = int(rng.integers(0, scene.shape[0] - size[0] + 1))
    c0 = int(rng.integers(0, scene.shape[1] - size[1] + 1))
    return np.ascontiguousarray(scene[r0:r0 + size[0], c0:c0 + size[1]])


@dataclass
class ShootPlan:
    extreme: str = "stopped"  # stopped (f/16) or wide (f/1.7)
    n_sharp: int = 6
    n_blurry: int = 6
    n_test: int = 2
    interleave: bool = False  # alternate the photos between the sharp and blurry sets (see simulate_shoot)
    same_scenes: bool = False  # shoot each sharp set scene again for the blurry set, reframed (see simulate_shoot)
    reframe: float = 0.05  # with same_scenes: each shot is this much tighter, at a random offset
    megapixels: float | None = None
    seed: int = 0
    iso: float = 200.0
    blurry_tint: tuple[float, float, float] = (1.03, 1.0, 0.96)  # the sets differ a little in WB
    blurry_exposure: float = 0.92  # ... and in exposure
    size: tuple[int, int] | None = field(default=None)  # (height, width) forced for every photo


def simulate_shoot(photos: list[Path], out: Path, plan: ShootPlan = ShootPlan(),
                   progress: Callable[[str, int, int, dict], None] | None = None) -> dict:
    """Write ``sharp/``, ``blurry/``, ``test/`` DNGs (+ test references) and ``truth/`` to ``out``.

    Photos are used once each (sets are disjoint) in sorted order. All photos are brought to the
    size of the first so a shoot has one image size, as a real camera would. With
    ``plan.same_scenes`` the blurry set re-shoots the sharp set's scenes, as the shooting guide
    recommends (one shot per aperture of every scene, handheld): each shot is framed a little
    tighter at its own random offset, so no two photos line up and the sets stay unpaired.
    """
    photos = sorted(p for p in photos if p.suffix.lower() in IMAGE_EXTENSIONS)
    n_scenes = max(plan.n_sharp, plan.n_blurry) if plan.same_scenes else plan.n_sharp + plan.n_blurry
    need = n_scenes + plan.n_test
    if len(photos) < need:
        from lenscal.errors import ShootError

        raise ShootError(f"need {need} photos to simulate this shoot, found {len(photos)}",
                         hint="add photos or lower --sharp/--blurry/--test counts")
    if plan.interleave:
        # Sorted collections group similar scenes (Kodak's numbering does): alternating them gives
        # both sets the same mix of scenes, as the shooting guide asks of a photographer; the
        # method compares the sets' patch statistics, so a smoother blurry set reads as more blur.
        pool = photos[:plan.n_sharp + plan.n_blurry]
        photos = pool[0::2] + pool[1::2] + photos[len(pool):]
    if plan.same_scenes:
        photos = photos[:plan.n_sharp] + photos[:plan.n_blurry] + photos[n_scenes:]
    rng = np.random.default_rng(plan.seed)
    sensor = Sensor()
    f_extreme = EXTREMES[plan.extreme]
    first = load_scene(photos[0], plan.megapixels)
    full = plan.size or first.shape[:2]
    margin = plan.reframe if plan.same_scenes else 0.0
    height, width = (int(full[0] * (1 - margin)) // 2 * 2, int(full[1] * (1 - margin)) // 2 * 2)
    grids = {"sharp": lens_psf_grid("sharp", height, width), plan.extreme: lens_psf_grid(plan.extreme, height, width)}
    jobs = ([("sharp", SHARP_F, "sharp")] * plan.n_sharp + [("blurry", f_extreme, plan.extreme)] * plan.n_blurry
            + [("test", f_extreme, plan.extreme)] * plan.n_test)
    noise: dict[str, list[float]] = {"sharp": [], "blurry": [], "test": []}
    when = dt.datetime(2026, 5, 1, 10, 0, 0)
    for i, (photo, (folder, f_number, kind)) in enumerate(zip(photos, jobs)):
        if progress:
            progress("simulating", i, len(jobs), {"file": photo.name})
        scene = load_scene(photo, plan.megapixels)
        if scene.shape[:2] != tuple(full):
            scene = np.clip(cv2.resize(scene, (full[1], full[0]), interpolation=cv2.INTER_AREA), 0, None)
        if margin:
            scene = random_crop(scene, (height, width), rng)
        exposure, tint = (1.0, (1.0, 1.0, 1.0)) if folder == "sharp" else (plan.blurry_exposure, plan.blurry_tint)
        scene = scene * np.float32(exposure)
        shutter = 1 / 250 * (f_number / SHARP_F) ** 2
        meta = Metadata(**{**CAMERA.to_dict(), "f_number": f_number, "iso": plan.iso,
                           "exposure_time": shutter, "width": width, "height": height,
                           "datetime": (when + dt.timedelta(minutes=i)).strftime("%Y:%m:%d %H:%M:%S")})
        mosaic, rms = capture(scene, grids[kind], meta, sensor, rng, tint)
        noise[folder].append(rms)
        name = f"{folder}_{i:03d}_{photo.stem}"
        write_dng(out / folder / f"{name}.dng", mosaic, meta, black=sensor.black, white=sensor.white,
                  as_shot_neutral=sensor.response, cfa=sensor.cfa,
                  note={"scene": photo.name, "set": folder}, overwrite=True)
        if folder == "test":
            reference = np.clip(scene * np.asarray(tint, np.float32), 0, 1)
            write_tiff(out / "test" / f"{name}_reference.tif", reference, meta, linear_output=True,
                       note={"devignetted": True, "reference_for": f"{name}.dng"}, overwrite=True)
    truth_meta = Metadata(**{**CAMERA.to_dict(), "width": width, "height": height})
    summary = {"plan": asdict(plan), "size": [height, width], "sensor": asdict(sensor),
               "noise_rms": {k: float(np.mean(v)) if v else None for k, v in noise.items()}}
    for kind, f_number in (("sharp", SHARP_F), (plan.extreme, f_extreme)):
        sigma = summary["noise_rms"]["sharp" if kind == "sharp" else "blurry"]
        profile = LensProfile.from_grid(
            grids[kind], sigma or 0.0, Metadata(**{**truth_meta.to_dict(), "f_number": f_number}),
            f_number_sharp=SHARP_F, provenance=f"ground truth of lenscal's simulated lens ({kind}, f/{f_number:g})",
            seed=plan.seed, created=when.isoformat())
        profile.save(out / "truth" / ("sharp_psf.json" if kind == "sharp" else "blurry_psf.json"))
    (out / "truth" / "simulation.json").write_text(json.dumps(summary, indent=1))
    if progress:
        progress("simulating", len(jobs), len(jobs), {})
    return summary
