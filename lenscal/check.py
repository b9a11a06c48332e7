"""Before a long run: are these two sets usable, and what should be reshot?

Cheap image statistics on the developed photos, each tied to what the learning needs: detail
(flat patches carry no blur information), sharpness (the blurry set must be blurrier than the
sharp set somewhere in the frame: the same test ``learn`` refuses with, learn.widths.compare_sets;
within a set, a photo much softer than the rest is out of focus or shaken), consistent exposure,
and few clipped highlights (clipping breaks the linear blur model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lenscal.develop import DevelopSettings
from lenscal.io.images import srgb_encode
from lenscal.io.shoot import check_compatible, scan_shoot
from lenscal.learn.widths import PlaneNoise, camera_noise, compare_sets, edge_width, set_widths

TILE = 64
TEXTURE_MIN = 0.02  # RMS gradient (sRGB-encoded luminance) of a tile with usable detail
RECOMMENDED = 6


@dataclass
class PhotoStats:
    file: str
    set: str
    textured: float  # fraction of tiles with detail
    edge_width: float | None  # px, the photo's sharpest edges (lower = sharper; None: too few edges)
    exposure_ev: float  # log2 median luminance
    clipped: float  # fraction of pixels with a channel at white


def photo_stats(pixels: np.ndarray, name: str, which: str, noise: PlaneNoise) -> PhotoStats:
    """One photo's figures; its sharpest edges read above ``noise`` (the camera's, G)."""
    luma = srgb_encode(pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32))
    gy, gx = np.gradient(luma)
    grad = np.hypot(gy, gx)
    h, w = luma.shape
    tiles = grad[: h - h % TILE, : w - w % TILE].reshape(h // TILE, TILE, w // TILE, TILE)
    tile_rms = np.sqrt((tiles**2).mean(axis=(1, 3)))
    w2 = float(set_widths([pixels], noise)[-1])
    median = float(np.median(pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32)))
    return PhotoStats(name, which, float((tile_rms > TEXTURE_MIN).mean()), edge_width(w2) if np.isfinite(w2) else None,
                      math.log2(max(median, 1e-6)), float((pixels >= 0.99).any(axis=2).mean()))


def check_sets(sharp_dir: Path, blurry_dir: Path, settings: DevelopSettings = DevelopSettings(),
               progress: Callable[[str, int, int, dict], None] | None = None) -> dict:
    """Scan (refusing unusable sets outright), develop and judge both sets."""
    from lenscal.workflow import MIN_PHOTOS, develop_shoot, with_shared_white_balance

    sharp_set = scan_shoot(sharp_dir, name="sharp set", min_photos=MIN_PHOTOS)
    blurry_set = scan_shoot(blurry_dir, name="blurry set", min_photos=MIN_PHOTOS)
    check_compatible(sharp_set, blurry_set)
    settings = with_shared_white_balance(settings, sharp_set, blurry_set)  # developed as learn develops them
    stats: list[PhotoStats] = []
    developed: dict[str, list[np.ndarray]] = {}
    for which, shoot in (("sharp", sharp_set), ("blurry", blurry_set)):
        developed[which] = [p.pixels for p in develop_shoot(shoot, settings, f"checking {which} set", progress)]
    noise = camera_noise(developed["sharp"], developed["blurry"])
    for which, shoot in (("sharp", sharp_set), ("blurry", blurry_set)):
        stats += [photo_stats(px, path.name, which, noise) for px, path in zip(developed[which], shoot.paths)]
    sharpness = compare_sets(developed["sharp"], developed["blurry"], noise)
    problems, advice = [], list(sharp_set.warnings + blurry_set.warnings)
    for which, shoot in (("sharp", sharp_set), ("blurry", blurry_set)):
        if len(shoot) < RECOMMENDED:
            advice.append(f"the {which} set has {len(shoot)} photos: {RECOMMENDED} or more give steadier PSFs")
    for s in stats:
        if s.textured < 0.3:
            advice.append(f"{s.file}: only {s.textured:.0%} of it has detail; reshoot a detailed scene "
                          "(foliage, brickwork, text) filling the frame")
        if s.clipped > 0.05:
            advice.append(f"{s.file}: {s.clipped:.0%} clipped highlights; expose a little less")
    unseen = sharpness.verdict()
    if sharpness.refusal(sharp_set.meta.f_number, blurry_set.meta.f_number):
        problems.append(f"{unseen}; check focus and that the folders are not swapped")
    elif unseen:
        advice.append(f"{unseen}; learn will go on because the apertures differ, and its "
                      "self-check will judge the profile (check focus and that the folders are not swapped)")
    for which in ("sharp", "blurry"):
        widths = [s.edge_width for s in stats if s.set == which and s.edge_width is not None]
        for s in stats:
            if s.set == which and s.edge_width is not None and len(widths) > 2 and s.edge_width > 1.5 * np.median(widths) + 0.3:
                advice.append(f"{s.file}: softer than the rest of the {which} set; it may be out of focus or shaken")
    for which in ("sharp", "blurry"):
        evs = [s.exposure_ev for s in stats if s.set == which]
        mid = float(np.median(evs))
        for s in stats:
            if s.set == which and abs(s.exposure_ev - mid) > 1.5:
                advice.append(f"{s.file}: exposure {s.exposure_ev - mid:+.1f} EV from the rest of its set")
    ev_gap = abs(np.median([s.exposure_ev for s in stats if s.set == "sharp"])
                 - np.median([s.exposure_ev for s in stats if s.set == "blurry"]))
    if ev_gap > 1.0:
        advice.append(f"the two sets differ by {ev_gap:.1f} EV in exposure: keep them within 1 EV")
    return {"usable": not problems, "problems": problems, "advice": advice,
            "photos": [asdict(s) for s in stats], "sharpness": sharpness.to_dict(),
            "sharp": {"count": len(sharp_set), "f_number": sharp_set.meta.f_number},
            "blurry": {"count": len(blurry_set), "f_number": blurry_set.meta.f_number}}
